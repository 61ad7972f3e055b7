"""Runs of scenario files: load and check them, plan jobs, simulate into `Results` (writing is the caller's)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flowsim import __version__, defaults, logs
from flowsim.engines.plan import counter_names, record_days
from flowsim.experiments import design, executor, limits, sweep
from flowsim.experiments import job as job_module
from flowsim.experiments.chunkstore import ChunkStore
from flowsim.experiments.executor import Simulation, simulate
from flowsim.experiments.job import Job
from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.observations import scenario_observations
from flowsim.model.scenario import Event, Observation, Scenario, load_scenario
from flowsim.model.yamlsource import Located
from flowsim.outputs import compare, provenance, records, staging
from flowsim.outputs.results import Results

if TYPE_CHECKING:  # planning a calibration or a sensitivity analysis, or pairing, imports them when asked
    from flowsim.experiments import sensitivity  # here: a run does not need it



@dataclass
class RunOptions:
    replicates: int | None = None
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    out: Path = Path("results")
    trajectories: bool = False
    engine: str = defaults.ENGINE
    workers: int = 1
    comparison: compare.Settings = field(default_factory=compare.Settings)
    format: str = "csv"


@dataclass
class Loaded:
    """A validated scenario with its file and reported figures."""

    path: Path
    scenario: Scenario
    observations: list[Observation]
    notes: list[str]
    located: Located
    observations_file: Path | None = None  # --observations, when it replaces the scenario's own
    overrides: list[str] = field(default_factory=list)  # the `--set PATH=VALUE`s it was loaded with

    @property
    def replicates(self) -> int:
        return self.scenario.replicates

    def folder(self, out: Path) -> Path:
        return out / self.scenario.name


ENGINES = ("leap", "step", "event", "meanfield")


def check_options(opts: RunOptions) -> None:
    """Run options the schema does not see: engine, format, workers (the CLI and the API alike)."""
    from flowsim.outputs import formats

    if opts.engine not in ENGINES:
        raise InputError(Origin("engine"), "engine", opts.engine, f"must be one of: {', '.join(ENGINES)}")
    if opts.format not in formats.FORMATS:
        raise InputError(Origin("format"), "format", opts.format, f"must be one of: {', '.join(formats.FORMATS)}")
    if opts.workers < 1:
        raise InputError(Origin("workers"), "workers", opts.workers, "must be at least 1")


def load(path: Path, opts: RunOptions, observations: Path | None = None, quiet: bool = False) -> Loaded:
    """Load and check one scenario with the run options applied (no simulation yet); its notes are
    logged unless `quiet` (a scenario loaded again, for pairing, has said them already)."""
    check_options(opts)
    overrides = list(opts.overrides)
    if opts.replicates is not None:
        overrides.append(f"replicates={opts.replicates}")
    if opts.seed is not None:
        overrides.append(f"seed={opts.seed}")
    scenario, located = load_scenario(path, overrides)
    obs, notes = scenario_observations(scenario, located, path.parent, observations)
    for text in opts.overrides:
        note = scenario.overridden_by_events(text.partition("=")[0].strip())
        if note:
            notes.append(note)
    if scenario.sweep is not None:  # a scenario file is wrong or not, whichever command reads it
        built = design.build(design.axes_from_scenario(scenario, located), scenario.sweep.method,
                             scenario.sweep.samples, scenario.seed)
        design.check(built, scenario, located)
    for text in notes if not quiet else []:
        logs.note(text)
    return Loaded(path, scenario, obs, notes, located, observations, list(opts.overrides))


@dataclass
class Written:
    """A finished run: its results, where they were written, and its comparison."""

    results: Results
    folder: Path
    comparison: list[compare.Row]
    score: compare.Score | None

    @property
    def sim(self) -> Simulation:
        sim: Simulation = self.results.extra["simulation"]
        return sim


def load_all(paths: list[Path], opts: RunOptions, observations: Path | None = None) -> list[Loaded]:
    """Load several scenarios; two that would write to the same result folder are a mistake."""
    loaded = [load(path, opts, observations) for path in paths]
    check_names(loaded, opts)
    for item in loaded:  # a results folder that cannot be made is refused before anything runs
        staging.check_folder(item.folder(opts.out))
    return loaded


def check_memory(loaded: list[Loaded], opts: RunOptions) -> None:
    """The memory guard of every scenario, before the first is simulated (and its results written)."""
    for item in loaded:
        _check_run_memory(item, opts)


def _check_run_memory(item: Loaded, opts: RunOptions) -> None:
    s = item.scenario
    extra = [s.day_of(d) for o in item.observations for d in o.record_dates()]
    limits.check_run(str(item.path), s.replicates, len(record_days(s, extra)), len(s.regions), len(counter_names(s)),
                     opts.trajectories)


def check_names(loaded: list[Loaded], opts: RunOptions) -> None:
    for i, item in enumerate(loaded):
        twin = next((x for x in loaded[:i] if x.scenario.name == item.scenario.name), None)
        if twin is not None:
            raise InputError(item.located.origin(("name",)), "name", item.scenario.name,
                             f"is also the name of {twin.path}; both would write to {item.folder(opts.out)}")


def load_paired(paths: list[Path], opts: RunOptions, observations: Path | None = None) -> list[Loaded]:
    """Load A (the first) and each B with A's seed, for common random numbers (see paired.py)."""
    from flowsim.experiments import paired  # here: a run does not need it

    loaded = load_all(paths, opts, observations)
    if len(loaded) < 2:
        raise InputError(Origin("command line --paired"), "paired", NO_VALUE,
                         "needs two or more scenarios: the reference A, then each B to difference with it")
    ref = loaded[0]
    same_seed = replace(opts, seed=ref.scenario.seed)
    for item in loaded[1:]:
        paired.check(ref.path, ref.scenario, item.path, item.scenario)
    return [ref, *(load(item.path, same_seed, observations, quiet=True) for item in loaded[1:])]


def simulate_item(item: Loaded, opts: RunOptions, progress: Callable[[int], None] | None = None) -> Results:
    """Simulate one loaded scenario: its tables, comparison and run record (nothing written)."""
    check_options(opts)
    s = item.scenario
    extra = [s.day_of(d) for o in item.observations for d in o.record_dates()]
    _check_run_memory(item, opts)
    t0 = time.perf_counter()
    sim = simulate(s, extra_days=extra, workers=opts.workers, progress=progress, engine=opts.engine)
    wall = time.perf_counter() - t0
    rows, group_scores = compare.compare(sim.populations, sim.days, s, sim.biases, item.observations,
                                         opts.comparison, sim.moved)
    score = compare.score(rows, group_scores) if rows else None
    regions = list(s.regions)
    tables = {
        "summary": records.summary(s.name, [0], s.start, sim.days, regions,
                                   records.population_stats(sim.populations)[None]),
        "flows": records.flows(s.name, [0], s.start, sim.days, list(sim.counters),
                               records.moved_stats(sim.moved)[None]),
        "parameters": records.parameters([0], sim.replicates, {}, dict(sim.drawn)),
    }
    if opts.trajectories:
        tables["trajectories"] = records.trajectories(s.name, 0, s.start, sim.days, regions, sim.populations)
    if rows:
        tables["comparison"] = compare.table(s.name, [0], [rows])
    return Results(s.name, tables, metadata(item, opts, wall, score), s.start, sim.days, tuple(regions),
                   np.moveaxis(sim.populations, 2, 0)[None],
                   extra={"comparison": rows, "score": score, "simulation": sim})


def run(item: Loaded, opts: RunOptions, progress: Callable[[int], None] | None = None) -> Written:
    """Simulate one loaded scenario and write its result folder atomically."""
    res = simulate_item(item, opts, progress)
    folder = res.write(item.folder(opts.out), opts.format)
    return Written(res, folder, res.extra["comparison"], res.extra["score"])


def metadata(item: Loaded, opts: RunOptions, wall: float, score: compare.Score | None) -> dict[str, Any]:
    """run.json: what was run, with what, from which files (hashes, versions, git), and the comparison's score."""
    s = item.scenario
    settings = {"seed": s.seed, "replicates": s.replicates, "engine": opts.engine, "workers": opts.workers,
                "overrides": item.overrides, "trajectories": opts.trajectories,
                "tolerance": opts.comparison.tolerance, "format": opts.format}
    prov = provenance.collect(item.path, provenance.input_files(s, item.path.parent, item.observations_file),
                              settings)
    return {
        "flowsim_version": __version__,
        "scenario": s.name,
        "scenario_file": str(item.path),
        "scenario_sha256": prov["inputs"][0]["sha256"],
        "provenance": prov,
        "overrides": item.overrides,
        "seed": s.seed,
        "replicates": s.replicates,
        "engine": opts.engine,
        "workers": opts.workers,
        "wall_time_s": round(wall, 3),
        "events": [
            {"date": e.date.isoformat(), "label": e.label() if e.shock or e.name else _describe(e)}
            for e in s.events
        ],
        "observations": [o.model_dump(mode="json") for o in item.observations],
        "comparison": None if score is None else {
            "observations": score.observations,
            "groups": score.groups,
            "consistent": score.consistent,
            "log_score": round(score.log_score, 6),
            "tolerance": opts.comparison.tolerance,
        },
    }


def _describe(e: Event) -> str:
    change = e.set if e.set is not None else e.scale or {}
    verb = "set" if e.set is not None else "scale"
    return f"{verb} " + ", ".join(f"{k.removeprefix('flows.')}" for k in change)


@dataclass
class SweepRequest:
    params: list[str]
    method: str | None = None
    samples: int | None = None
    scheduler: str | None = None
    resume: bool = False


@dataclass
class SweepDone:
    job: Job
    outcome: executor.Chunks
    folder: Path
    results: Results
    failed: list[int]
    errors: list[Path]


def plan_sweep(item: Loaded, opts: RunOptions, req: SweepRequest) -> Job:
    """Build and check the design (user errors surface here, before anything runs)."""
    s = item.scenario
    axes = [design.parse_param(t) for t in req.params] or design.axes_from_scenario(s, item.located)
    method = req.method or (s.sweep.method if s.sweep else "grid")
    if method not in design.METHODS:
        raise InputError(Origin("method"), "method", method, f"must be one of: {', '.join(design.METHODS)}")
    if req.samples is not None and req.samples < 1:
        raise InputError(Origin("samples"), "samples", req.samples, "must be at least 1")
    samples = req.samples or (s.sweep.samples if s.sweep else 64)
    staging.check_folder(item.folder(opts.out))
    count = math.prod(len(a.values or ()) for a in axes) if method == "grid" else samples
    _guard_size(item, count, s.replicates, "full")  # before the design is built: it may not fit either
    built = design.build(axes, method, samples, s.seed)
    design.check(built, s, item.located)
    _event_notes(item, built)
    days = record_days(s, [s.day_of(d) for o in item.observations for d in o.record_dates()])
    job = Job(s, built, s.replicates, s.seed, days, item.observations, opts.comparison, engine=opts.engine)
    _guard(job, item)
    return job


def _event_notes(item: Loaded, built: design.Design) -> None:
    for a in built.axes:
        note = item.scenario.overridden_by_events(design.split_path(item.scenario, a.path)[0])
        if note:
            item.notes.append(note)
            logs.note(note)


def _guard_size(item: Loaded, points: int, replicates: int, mode: str, chunk_lanes: int = job_module.CHUNK_LANES,
                extra_days: list[int] | None = None) -> None:
    """The memory guard from the number of points alone, before a design of that many is built."""
    s = item.scenario
    days = record_days(s, extra_days if extra_days is not None
                       else [s.day_of(d) for o in item.observations for d in o.record_dates()])
    limits.check_sweep(str(item.path), points, replicates, max(1, chunk_lanes // replicates) * replicates, len(days),
                       len(s.regions), len(counter_names(s)) if mode == "full" else 0)


def _guard(job: Job, item: Loaded) -> None:
    s = job.scenario
    limits.check_sweep(str(item.path), job.n_points, job.replicates, job.per_chunk * job.replicates, len(job.days),
                       len(s.regions), len(counter_names(s)) if job.mode == "full" else 0)


def run_sweep(item: Loaded, opts: RunOptions, req: SweepRequest, job: Job,
              advance: Callable[[int], None] = lambda n: None, write: bool = True) -> SweepDone:
    """Run the sweep's chunks (kept on disk for --resume under the result folder); its Results, written if asked."""
    folder = item.folder(opts.out)
    store = ChunkStore(folder, job.fingerprint())
    t0 = time.perf_counter()
    outcome = executor.execute(job, store, workers=opts.workers, scheduler=req.scheduler, resume=req.resume,
                            advance=advance)
    wall = time.perf_counter() - t0
    failed = executor.failed_points(job, outcome)
    meta = metadata(item, opts, wall, None)
    meta.update({
        "sweep": {"method": job.design.method, "parameters": job.design.names, "points": job.n_points,
                  "points_per_chunk": job.per_chunk, "chunks": len(job.chunks()),
                  "chunks_reused": outcome.reused, "scheduler": req.scheduler},
        "failed_points": failed,
    })
    res = sweep.to_results(job, outcome, meta)
    if write:
        res.write(folder, opts.format)
    errors = [store.error_path(i) for i in sorted(outcome.failures)]
    return SweepDone(job, outcome, folder, res, failed, errors)


def drop_chunks(folder: Path, kind: str = "sweep") -> None:
    """Remove a finished job's chunks: flowsim's own only, never through a link, not while another job runs."""
    from flowsim.experiments.chunkstore import drop_all

    drop_all(folder / f"{kind}-chunks")


def execute_job(item: Loaded, opts: RunOptions, job: Job, kind: str, scheduler: str | None,
                resume: bool, advance: Callable[[int], None]) -> tuple[executor.Chunks, list[Path], float]:
    """Run a lanes job (calibration draws, sensitivity samples) on the sweep machinery."""
    store = ChunkStore(item.folder(opts.out), job.fingerprint(), kind)
    t0 = time.perf_counter()
    outcome = executor.execute(job, store, workers=opts.workers, scheduler=scheduler, resume=resume, advance=advance)
    errors = [store.error_path(i) for i in sorted(outcome.failures)]
    return outcome, errors, time.perf_counter() - t0


def check_same_observations(loaded: list[Loaded]) -> None:
    """Marginal likelihoods compare models only on the same data: the same reports, read the same way."""
    first = [o.model_dump(mode="json") for o in loaded[0].observations]
    for item in loaded[1:]:
        if [o.model_dump(mode="json") for o in item.observations] != first:
            raise InputError(Origin(str(item.path)), "observations", NO_VALUE,
                             f"differ from those of {loaded[0].path} (after leaving out rows outside each run); "
                             "models are compared on the same reported figures only: give both the same "
                             "observations and dates, or --observations FILE.csv")


def scope_of(param: str) -> tuple[str | None, str]:
    """`NAME/PATH=lo:hi` -> (NAME, `PATH=lo:hi`); a plain `PATH=lo:hi` is for every scenario."""
    head, sep, rest = param.partition("=")
    name, slash, path = head.partition("/")
    return (name.strip(), path + sep + rest) if slash else (None, param)


def plan_calibration(item: Loaded, opts: RunOptions, params: list[str], replicates: int,
                     only_known: bool = False) -> Job:
    """The base job of a calibration: its design is the prior box (uniform priors from PATH=lo:hi).

    With `only_known`, parameters the scenario does not have are left out (model
    comparison calibrates each scenario's own parameters). `NAME/PATH=lo:hi` is a
    prior for scenario NAME only.
    """
    from flowsim.experiments import calibrate  # here: a run does not need it

    s = item.scenario
    if not item.observations:
        raise InputError(Origin(str(item.path)), "observations", NO_VALUE,
                         "calibration needs reported figures: add `observations:` or pass --observations")
    staging.check_folder(item.folder(opts.out))
    if not params:
        raise InputError(Origin("command line"), "param", NO_VALUE, "give at least one --param PATH=lo:hi")
    mine = [plain for scope, plain in map(scope_of, params) if scope in (None, s.name)]
    if not mine:
        raise InputError(Origin(str(item.path)), "param", ", ".join(params),
                         "none of these priors is for this scenario")
    axes = [design.parse_param(t) for t in mine]
    for a in axes:
        if a.values is not None:
            raise InputError(a.origin, a.path, NO_VALUE, "a prior is a range: write PATH=lo:hi")
    design.check_ranges(axes, "a prior")
    if only_known:
        axes = [a for a in axes if design.split_path(s, a.path)[0]]
        if not axes:
            raise InputError(Origin(str(item.path)), "param", ", ".join(params),
                             "none of these parameters is in this scenario")
    built = calibrate.prior_design(axes)
    design.check(built, s, item.located)
    _event_notes(item, built)
    # the likelihood needs the observations' midnights only: fewer records, longer leaps
    days = np.array(sorted({0, s.days, *(s.day_of(d) for o in item.observations for d in o.record_dates())}),
                    dtype=np.int64)
    days = days[(days >= 0) & (days <= s.days)]
    job = Job(s, built, replicates, s.seed, days, item.observations, opts.comparison, mode="scores",
              chunk_lanes=calibrate.CHUNK_LANES, engine=opts.engine)
    _guard(job, item)
    return job


def plan_sensitivity(item: Loaded, opts: RunOptions, params: list[str], samples: int, replicates: int,
                     outputs: list[str]) -> tuple[Job, list[sensitivity.Output]]:
    from flowsim.experiments import sensitivity
    s = item.scenario
    if not params:
        raise InputError(Origin("command line"), "param", NO_VALUE, "give at least one --param PATH=lo:hi")
    if samples < 2:
        raise InputError(Origin("samples"), "samples", samples, "must be at least 2")
    sensitivity.check_replicates(replicates)
    outs = [sensitivity.parse_output(t, s) for t in outputs] or [
        sensitivity.Output(f"{r}@{s.end.isoformat()}", r, s.end) for r in s.regions]
    staging.check_folder(item.folder(opts.out))
    axes = [design.parse_param(t) for t in params]
    _guard_size(item, samples * (len(axes) + 2), replicates, "means",  # Saltelli: N(D+2) points, not yet built
                extra_days=[s.day_of(o.date) for o in outs if o.date is not None])
    built = sensitivity.saltelli(axes, samples, s.seed)
    design.check(built, s, item.located)
    _event_notes(item, built)
    days = record_days(s, [s.day_of(o.date) for o in outs if o.date is not None])
    job = Job(s, built, replicates, s.seed, days, [], opts.comparison, mode="means", engine=opts.engine)
    _guard(job, item)
    return job, outs
