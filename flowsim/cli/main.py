"""The `flowsim` command line: parse options, call the library, print. Nothing else."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from flowsim import __version__, logs
from flowsim.cli.console import err, out, progress_bar
from flowsim.cli.lazy import lazy, skip_pandas_probe
from flowsim.cli.signals import INTERRUPTED
from flowsim.cli.usage import OneLineErrors
from flowsim.defaults import ENGINE, TOLERANCE
from flowsim.model.errors import NO_VALUE, InputError, Origin

if TYPE_CHECKING:
    from flowsim.cli import tables
    from flowsim.experiments import calibrate as calibration
    from flowsim.experiments import design, executor, runs
    from flowsim.experiments import paired as pairing
    from flowsim.experiments import sensitivity as sens
    from flowsim.experiments.job import Job
    from flowsim.model import scenario as scenario_model
    from flowsim.outputs import compare as comparing
    from flowsim.outputs import formats, provenance, staging
    from flowsim.outputs import plot as plots
    from flowsim.outputs import report as reports
else:  # loaded on first use, so that `flowsim --help` imports neither numpy nor the model
    calibration = lazy("flowsim.experiments.calibrate")
    design = lazy("flowsim.experiments.design")
    executor = lazy("flowsim.experiments.executor")
    runs = lazy("flowsim.experiments.runs")
    pairing = lazy("flowsim.experiments.paired")
    sens = lazy("flowsim.experiments.sensitivity")
    scenario_model = lazy("flowsim.model.scenario")
    comparing = lazy("flowsim.outputs.compare")
    formats = lazy("flowsim.outputs.formats")
    plots = lazy("flowsim.outputs.plot")
    reports = lazy("flowsim.outputs.report")
    provenance = lazy("flowsim.outputs.provenance")
    staging = lazy("flowsim.outputs.staging")
    tables = lazy("flowsim.cli.tables")

app = typer.Typer(
    cls=OneLineErrors,  # option mistakes print one `error:` line, like every other mistake
    add_completion=False, no_args_is_help=True, help="Scenario modelling of fighter flows between regions.",
    rich_markup_mode=None,  # plain help: rich's help formatter alone costs ~0.1 s of start-up
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"flowsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print the version and exit.")] = False,
) -> None:
    """Scenario modelling of fighter flows between regions."""
    handler = logs.install_cli_handler(err)  # notes (logging, "flowsim") print as `note: ...` on stderr
    provenance.set_invocation(sys.argv[1:])  # run.json's command_line

    def finished() -> None:
        logs.remove_cli_handler(handler)
        provenance.set_invocation(None)

    ctx.call_on_close(finished)


F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """A user mistake prints one line and exits 2; anything else is a bug (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        skip_pandas_probe()
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            err.print(f"error: {exc.message}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except executor.Interrupted as exc:
            err.print(f"interrupted: no result files written; {exc.kept}", markup=False, highlight=False)
            raise typer.Exit(130) from None
        except executor.ClusterLost as exc:
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(executor.EXIT_CLUSTER_LOST) from None
        except KeyboardInterrupt:
            err.print(INTERRUPTED, markup=False, highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


Scenarios = Annotated[list[Path], typer.Argument(metavar="FILE", help="Scenario YAML files.", show_default=False)]
Replicates = Annotated[int | None, typer.Option(
    "--replicates", "-n", min=1, metavar="N", help="Replicates per scenario.")]
Seed = Annotated[int | None, typer.Option("--seed", min=0, metavar="N", help="Random seed (default: the scenario's).")]
Sets = Annotated[list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="Override a parameter.")]
Out = Annotated[Path, typer.Option("--out", metavar="DIR", help="Results folder; files go to DIR/<name>/.")]
Workers = Annotated[
    int | None,
    typer.Option("--workers", "-j", min=1, metavar="N",
                 help="Processes for blocks of replicates (default: one per CPU)."),
]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", metavar="ADDRESS", help="Dask scheduler address, tcp://HOST:PORT.")]
Resume = Annotated[bool, typer.Option("--resume", metavar="", help="Reuse the finished chunks of the same job.")]
Engine = Annotated[str, typer.Option(
    "--engine", metavar="leap|step|event|meanfield",
    help="leap (exact jumps between the dates that matter), step (exact daily steps), "
         "event (exact, event by event, slow), meanfield (the mean path).")]


def _options(replicates: int | None, seed: int | None, sets: list[str] | None, out_dir: Path,
             workers: int | None, engine: str, trajectories: bool = False, fmt: str = "csv") -> runs.RunOptions:
    if engine not in runs.ENGINES:
        raise InputError(Origin("command line --engine"), "engine", engine,
                         f"must be one of: {', '.join(runs.ENGINES)}")
    if fmt not in formats.FORMATS:
        raise InputError(Origin("command line --format"), "format", fmt,
                         f"must be one of: {', '.join(formats.FORMATS)}")
    return runs.RunOptions(replicates, seed, list(sets or []), out_dir, trajectories, engine,
                           workers or os.cpu_count() or 1, format=fmt)


Plot = Annotated[bool, typer.Option("--plot", metavar="", help="Also draw results/<name>/plot.png.")]
Report = Annotated[bool, typer.Option(
    "--report", metavar="", help="Also write results/<name>/report.html, one page that opens offline.")]
Format = Annotated[str, typer.Option("--format", metavar="csv|parquet", help="File format of the result tables.")]
ObsFile = Annotated[Path | None, typer.Option(
    "--observations", metavar="FILE", help="Reported figures CSV to compare with.")]
Tolerance = Annotated[float, typer.Option(
    "--tolerance", min=0.001, max=0.999, metavar="SHARE",
    help="90% half-width of a point value (and default for one-sided reports), as a share.")]


@app.command()
@user_errors
def run(
    scenarios: Scenarios,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    trajectories: Annotated[bool, typer.Option("--trajectories", help="Also write every replicate's path.")] = False,
    engine: Engine = ENGINE,
    workers: Workers = None,
    fmt: Format = "csv",
    plot: Plot = False,
    report: Report = False,
) -> None:
    """Simulate scenarios and write their result tables to OUT/<name>/ (summary, flows, parameters)."""
    opts = _options(replicates, seed, sets, out_dir, workers, engine, trajectories, fmt=fmt)
    loaded = runs.load_all(scenarios, opts)  # every file is checked before any runs
    runs.check_memory(loaded, opts)  # and every memory need, before the first writes its results
    for item in loaded:
        done = _run(item, opts, plot)
        out.print(tables.summary_table(done.results))
        if done.score:
            out.print(f"{done.score.consistent} of {done.score.observations} reported figures consistent; "
                      f"score {done.score.log_score:.2f} (details: flowsim compare, comparison.csv)",
                      highlight=False)
        out.print(f"wrote {done.folder}/", highlight=False)
        if report:
            out.print(f"wrote {reports.write_report(done.folder)}", highlight=False)


@app.command()
@user_errors
def compare(
    scenarios: Scenarios,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    engine: Engine = ENGINE,
    workers: Workers = None,
    fmt: Format = "csv",
    plot: Plot = False,
    trajectories: Annotated[bool, typer.Option("--trajectories", help="Also write every replicate's path.")] = False,
    paired: Annotated[bool, typer.Option(
        "--paired", help="Also write results/<B>/differences.csv: B minus the first scenario A, replicate by "
        "replicate; each B runs with A's seed (--seed if given, else A's) so both share random numbers.")] = False,
    report: Annotated[bool, typer.Option(
        "--report", metavar="", help="Also write one page comparing the scenarios, DIR/compare.html (one scenario: "
        "DIR/<name>/report.html).")] = False,
) -> None:
    """Run scenarios and compare them with reported figures; write comparison.csv; rank them."""
    opts = _options(replicates, seed, sets, out_dir, workers, engine, trajectories, fmt=fmt)
    opts.comparison = comparing.Settings(tolerance)
    loaded = (runs.load_paired if paired else runs.load_all)(scenarios, opts, observations)
    runs.check_memory(loaded, opts)
    for item in loaded:
        if not item.observations and not paired:  # paired differences need no reported figures
            skipped = f" ({'; '.join(item.notes)})" if item.notes else ""
            raise InputError(Origin(str(item.path)), "observations", NO_VALUE,
                             f"no reported figures in the run to compare with{skipped}; add `observations:` "
                             "or pass --observations FILE.csv")
    if paired:
        others = [item.scenario.name for item in loaded[1:]]
        logs.note(f"paired: {', '.join(others)} run{'s' if len(others) == 1 else ''} with "
                  f"{loaded[0].scenario.name}'s seed {loaded[0].scenario.seed}")
    finished = []
    for item in loaded:
        done = _run(item, opts, plot)
        finished.append(done)
        if done.comparison:
            out.print(tables.comparison_table(done))
            out.print(f"wrote {done.folder}/ (comparison{formats.suffix(opts.format)} and the run's tables)",
                      highlight=False)
        if paired and len(finished) > 1:
            diff = pairing.differences(finished[0].sim, done.sim)
            written = pairing.write(done.folder, diff, opts.format)
            out.print(pairing.table(diff))
            out.print(f"wrote {written}", highlight=False)
    scored = [done for done in finished if done.score]
    if len(scored) > 1:
        out.print(tables.side_by_side(scored))
        out.print(tables.ranking(scored))
    if report:
        page = (reports.write_comparison([d.folder for d in finished], opts.out / reports.COMPARISON)
                if len(finished) > 1 else reports.write_report(finished[0].folder))
        out.print(f"wrote {page}", highlight=False)


@app.command("sweep")
@user_errors
def sweep_command(
    scenario: Annotated[Path, typer.Argument(metavar="FILE", help="Scenario YAML file.", show_default=False)],
    params: Annotated[list[str] | None, typer.Option(
        "--param", metavar="PATH=SPEC",
        help="PATH=lo:hi:n (grid values), PATH=v1,v2 (listed) or PATH=lo:hi (range).")] = None,
    method: Annotated[str | None, typer.Option("--method", metavar="grid|random|lhs|sobol",
        help="How points are chosen (default: the scenario's sweep: section, else grid).")] = None,
    samples: Annotated[int | None, typer.Option("--samples", min=1, metavar="N",
        help="Points for random/lhs/sobol (default: the scenario's sweep: section).")] = None,
    scheduler: Scheduler = None,
    resume: Resume = False,
    top: Annotated[int, typer.Option("--top", min=0, metavar="K", help="Best points to print.")] = 10,
    keep_chunks: Annotated[bool, typer.Option(
        "--keep-chunks", help="Keep sweep-chunks/ (Parquet per chunk) after a sweep that finished.")] = False,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    engine: Engine = ENGINE,
    workers: Workers = None,
    fmt: Format = "csv",
    report: Report = False,
) -> None:
    """Sweep parameters: every point x replicate is a lane; writes points.csv and the usual files."""
    if method is not None and method not in design.METHODS:
        raise InputError(Origin("command line --method"), "method", method,
                         f"must be one of: {', '.join(design.METHODS)}")
    opts = _options(replicates, seed, sets, out_dir, workers, engine, fmt=fmt)
    opts.comparison = comparing.Settings(tolerance)
    item = runs.load(scenario, opts, observations)
    req = runs.SweepRequest(list(params or []), method, samples, scheduler, resume)
    job = runs.plan_sweep(item, opts, req)
    if scheduler:
        _check_scheduler(scheduler)
    if samples is None and job.design.method != "grid" and not (item.scenario.sweep and item.scenario.sweep.samples):
        logs.note(f"{job.design.method} design of {job.n_points} points (the default); give --samples N for another")
    with progress_bar(f"{item.scenario.name} sweep", job.n_points, rate=True) as advance:
        done = runs.run_sweep(item, opts, req, job, advance)
    if not done.failed and not keep_chunks:  # the chunks serve --resume only; a finished sweep needs none
        runs.drop_chunks(done.folder)
    out.print(tables.best_points(done, top))
    out.print(f"wrote {done.folder}/ ({job.n_points} points x {job.replicates} replicates"
              f"{f', {done.outcome.reused} chunks reused' if done.outcome.reused else ''})", highlight=False)
    if report:
        out.print(f"wrote {reports.write_report(done.folder)}", highlight=False)
    _failures(job, done.failed, done.errors)


@app.command()
@user_errors
def calibrate(
    scenarios: Annotated[list[Path], typer.Argument(
        metavar="FILE", help="Scenario YAML files with observations; several: also compare them as models.",
        show_default=False)],
    params: Annotated[list[str] | None, typer.Option(
        "--param", metavar="[NAME/]PATH=lo:hi",
        help="PATH=lo:hi: a uniform prior; NAME/PATH=lo:hi: for scenario NAME only.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=100, metavar="N",
        help="Simulation budget: parameter sets in all.")] = 20_000,
    particles: Annotated[int, typer.Option("--particles", min=100, metavar="N",
        help="SMC particles (posterior samples).")] = 1000,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=1, metavar="N",
                                            help="Replicates per parameter set (the likelihood estimate).")] = 4,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    workers: Workers = None,
    engine: Engine = ENGINE,
    fmt: Format = "csv",
    scheduler: Scheduler = None,
    resume: Resume = False,
    report: Report = False,
) -> None:
    """Posterior of the parameters given the reported figures (sequential Monte Carlo); model comparison."""
    opts = _options(None, seed, sets, out_dir, workers, engine, fmt=fmt)
    opts.comparison = comparing.Settings(tolerance)
    calibration.check_budget(draws, particles, replicates)
    loaded = runs.load_all(scenarios, opts, observations)
    several = len(loaded) > 1
    names = [item.scenario.name for item in loaded]
    for text in params or []:
        scope = runs.scope_of(text)[0]
        if scope is not None and scope not in names:
            raise InputError(Origin(f"--param {text}"), "param", scope,
                             f"is not the name of a scenario here ({', '.join(names)})")
    if several:
        runs.check_same_observations(loaded)
    jobs = [runs.plan_calibration(item, opts, list(params or []), replicates, only_known=several)
            for item in loaded]
    for text in params or []:
        path = runs.scope_of(text)[1].partition("=")[0].strip()
        if several and not any(a.path == path for job in jobs for a in job.design.axes):
            raise InputError(Origin(f"--param {text}"), path, NO_VALUE, "is a parameter of none of the scenarios")
    if scheduler:
        _check_scheduler(scheduler)
    evidence: list[tuple[str, float, float]] = []
    try:
        for item, job in zip(loaded, jobs, strict=True):
            evidence.append(_calibrate_one(item, opts, job, particles, draws, scheduler, resume))
    except KeyboardInterrupt:
        done = [name for name, _, _ in evidence]
        written = f"results of {', '.join(done)} written; " if done else "no result files written; "
        err.print(f"interrupted: {written}finished rounds kept under {opts.out}/*/calibration-chunks; rerun the "
                  "same command with --resume to go on from them", markup=False, highlight=False)
        raise typer.Exit(130) from None
    for item in loaded:  # the round chunks served only --resume
        calibration.finish(item.folder(opts.out))
        if report:
            out.print(f"wrote {reports.write_report(item.folder(opts.out))}", highlight=False)
    if several:
        _model_table(evidence, opts.out)


def _calibrate_one(item: runs.Loaded, opts: runs.RunOptions, job: Job, particles: int, draws: int,
                   scheduler: str | None, resume: bool) -> tuple[str, float, float]:
    folder = item.folder(opts.out)
    with progress_bar(f"{item.scenario.name} calibration", draws, rate=True) as advance:
        try:
            t0 = time.perf_counter()
            cal = calibration.run(job, folder, particles=particles, draws=draws, workers=opts.workers,
                                  scheduler=scheduler, resume=resume, advance=advance)
            wall = time.perf_counter() - t0
        except calibration.Failed as exc:
            err.print(f"error: some simulations failed; their errors are in {', '.join(exc.errors[:3])}; "
                      "rerun with --resume to retry them", markup=False, highlight=False)
            raise typer.Exit(3) from None
    r = cal.result
    meta = runs.metadata(item, opts, wall, None)
    calibration.to_results(item, opts, cal, particles, draws, job.replicates, meta).write(folder, opts.format)
    table = tables.posterior_table(item.scenario.name, cal, job.replicates)
    out.print(table)
    for a, b, rho in cal.correlations():
        out.print(f"posterior correlation of {a} and {b}: {rho:+.2f}", highlight=False)
    for text in cal.warnings():
        err.print(f"warning: {text}", markup=False, highlight=False)
    out.print(f"wrote {folder}/posterior.csv and {folder}/calibrated.yaml", highlight=False)
    return item.scenario.name, r.log_evidence, r.log_evidence_se


def _model_table(evidence: list[tuple[str, float, float]], out_dir: Path) -> None:
    probs = calibration.model_probabilities([e[1] for e in evidence], [e[2] for e in evidence])
    table = tables.models_table(evidence, probs)
    rows = [[name, f"{logz:.6f}", f"{se:.6f}", f"{p:.6f}", f"{pse:.6f}"]
            for (name, logz, se), (p, pse) in zip(evidence, probs, strict=True)]
    out.print(table)
    with staging.Staged(out_dir) as staged:
        staged.csv("model-comparison.csv", ["scenario", "log_evidence", "log_evidence_se", "probability",
                                            "probability_se"], rows)
        staged.commit()
    out.print(f"wrote {out_dir}/model-comparison.csv", highlight=False)


@app.command("sensitivity")
@user_errors
def sensitivity_command(
    scenario: Annotated[Path, typer.Argument(metavar="FILE", help="Scenario YAML file.", show_default=False)],
    params: Annotated[list[str] | None, typer.Option("--param", metavar="PATH=SPEC", help="PATH=lo:hi.")] = None,
    samples: Annotated[int, typer.Option("--samples", min=2, metavar="N",
        help="Saltelli base samples N (N(D+2) runs).")] = 256,
    outputs: Annotated[list[str] | None, typer.Option(
        "--output", metavar="REGION[@DATE]",
        help="REGION@YYYY-MM-DD, or REGION for every recorded date (default: each region at the end).")
    ] = None,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=2, metavar="N", help=(
        "Replicates per sample: their spread is the noise taken out of the indices."))] = 20,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    workers: Workers = None,
    engine: Engine = ENGINE,
    fmt: Format = "csv",
    scheduler: Scheduler = None,
    resume: Resume = False,
    keep_chunks: Annotated[bool, typer.Option(
        "--keep-chunks", help="Keep sensitivity-chunks/ (each sample's means and variances) afterwards.")] = False,
    report: Report = False,
) -> None:
    """Sobol first-order and total indices (SALib estimators) of the expected value of chosen outputs, with
    replicate noise removed; writes sensitivity.csv (with each output's noise floor) and a plot."""
    opts = _options(None, seed, sets, out_dir, workers, engine, fmt=fmt)
    item = runs.load(scenario, opts)
    job, outs = runs.plan_sensitivity(item, opts, list(params or []), samples, replicates, list(outputs or []))
    sens.check_replicates(replicates)
    if scheduler:
        _check_scheduler(scheduler)
    outcome, errors, wall = _lanes(item, opts, job, "sensitivity", scheduler, resume)
    if outcome.failures:
        _failures(job, executor.failed_points(job, outcome), errors)
    rows = sens.analyse(job, outcome, outs, item.scenario.seed)
    folder = item.folder(opts.out)
    meta = runs.metadata(item, opts, wall, None)
    sens.to_results(item, meta, job, rows, samples, replicates, outs).write(folder, opts.format)
    if not keep_chunks:
        runs.drop_chunks(folder, "sensitivity")  # they serve --resume only
    table = tables.sobol_table(item.scenario.name, job.n_points, replicates, rows)
    out.print(table)
    out.print("noise: share of each output's variance that is replicate noise, taken out of S1 and ST",
              highlight=False)
    for note in sens.noise_notes(rows):
        logs.note(note)
    out.print(f"wrote {folder}/sensitivity{formats.suffix(opts.format)} and {folder}/sensitivity.png",
              highlight=False)
    if report:
        out.print(f"wrote {reports.write_report(folder)}", highlight=False)


def _lanes(item: runs.Loaded, opts: runs.RunOptions, job: Job, kind: str, scheduler: str | None,
           resume: bool) -> tuple[executor.Chunks, list[Path], float]:
    with progress_bar(f"{item.scenario.name} {kind}", job.n_points, rate=True) as advance:
        return runs.execute_job(item, opts, job, kind, scheduler, resume, advance)


def _failures(job: Job, failed: list[int], errors: list[Path]) -> None:
    if failed:
        err.print(f"error: {len(failed)} points failed ({_ranges(failed)}); their errors are in "
                  f"{', '.join(str(p) for p in errors[:3])}{' ...' if len(errors) > 3 else ''}; "
                  "rerun with --resume to retry them", markup=False, highlight=False)
        raise typer.Exit(3)


def _check_scheduler(address: str) -> None:
    if not address.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise InputError(Origin(f"--scheduler {address}"), "scheduler", address, "must look like tcp://HOST:PORT")


def _ranges(points: list[int]) -> str:
    spans: list[str] = []
    start = prev = points[0]
    for cur in points[1:]:
        if cur != prev + 1:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
        prev = cur
    spans.append(f"{start}" if start == prev else f"{start}-{prev}")
    return "points " + ", ".join(spans)


@app.command("report")
@user_errors
def report_command(
    folders: Annotated[list[Path], typer.Argument(
        metavar="FOLDER", help="Finished result folders (results/<name>), or a folder holding them.",
        show_default=False)],
    together: Annotated[bool, typer.Option(
        "--compare", help="One page comparing the runs in FOLDER..., written as compare.html in the folder that "
        "holds the first.")] = False,
) -> None:
    """Write report.html, one self-contained page (charts, tables, scenario, provenance), in each result folder."""
    found = [f for path in folders for f in reports.result_folders(path)]
    checked = [reports.read(f) for f in found]  # every folder is checked before any page is written
    if together:
        if len(checked) < 2:
            raise InputError(Origin("command line --compare"), "compare", NO_VALUE,
                             "needs at least two result folders to compare")
        target = found[0].parent / reports.COMPARISON
        out.print(f"wrote {reports.write_comparison(checked, target)}", highlight=False)
        return
    for folder in checked:
        out.print(f"wrote {reports.write_report(folder)}", highlight=False)


@app.command()
@user_errors
def plot(results_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A results/<name> folder, or results/.")]
         ) -> None:
    """Draw plot.png (fan chart with reported figures) in each result folder."""
    for folder in plots.result_folders(results_dir):
        out.print(f"wrote {plots.plot_folder(folder)}", highlight=False)


def _run(item: runs.Loaded, opts: runs.RunOptions, plot: bool) -> runs.Written:
    with progress_bar(item.scenario.name, item.replicates * item.scenario.days) as advance:
        done = runs.run(item, opts, advance)
    if plot:
        out.print(f"wrote {plots.plot_folder(done.folder)}", highlight=False)
    return done


@app.command()
@user_errors
def validate(scenarios: Scenarios, sets: Sets = None) -> None:
    """Check scenario files without simulating: an ok line per good file, every error of a bad one (up to
    20, in file order), exit 2 if any is wrong. Rules across fields (names, references, dates within the run)
    are checked once the file's schema errors are fixed."""
    opts = runs.RunOptions(overrides=list(sets or []))
    failed = False
    for path in scenarios:
        try:
            item = runs.load(path, opts)
        except InputError as exc:
            # the scenario's own mistakes, all of them; else (observation files, sweep) the one found
            errors = scenario_model.scenario_errors(path, opts.overrides) or [exc]
            for error in errors[:MAX_LISTED]:
                err.print(f"error: {error.message}", markup=False, highlight=False)
            if len(errors) > MAX_LISTED:
                err.print(f"error: {path}: ... and {_count(len(errors) - MAX_LISTED, 'more error')}",
                          markup=False, highlight=False)
            failed = True
            continue
        s = item.scenario
        out.print(f"ok: {path}: {s.name}, {_count(len(s.regions), 'region')}, {_count(len(s.flows), 'flow')}, "
                  f"{_count(len(s.events), 'event')}, {_count(len(item.observations), 'observation')}, "
                  f"{s.start} to {s.end}", highlight=False)
    if failed:
        raise typer.Exit(2)


MAX_LISTED = 20
"""Errors `validate` lists per file; the rest are counted."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion and checks)."""
    print(json.dumps(scenario_model.Scenario.model_json_schema(by_alias=True), indent=2))
