"""The `flowsim` command line: parse options, call the library, print. Nothing else."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from . import batch, results, sweep, tables
from . import calibrate as calibration
from . import sensitivity as sens
from .compare import SOFTNESS, TOLERANCE, Settings
from .design import METHODS
from .errors import NO_VALUE, InputError, Origin
from .launch import INTERRUPTED
from .plot import plot_folder, result_folders
from .scenario import Scenario

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Scenario modelling of fighter flows between regions."
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)  # pipes get full tables
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """A user mistake prints one line and exits 2; anything else is a bug (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            err.print(f"error: {exc.message}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except sweep.Interrupted as exc:
            err.print(f"interrupted: no result files written; {exc.kept}", markup=False, highlight=False)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err.print(INTERRUPTED, markup=False, highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


Scenarios = Annotated[list[Path], typer.Argument(help="Scenario YAML files.", show_default=False)]
Replicates = Annotated[int | None, typer.Option("--replicates", "-n", min=1, help="Replicates per scenario.")]
Seed = Annotated[int | None, typer.Option("--seed", min=0, help="Random seed (default: the scenario's).")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="Override a parameter: PATH=VALUE.")]
Out = Annotated[Path, typer.Option("--out", help="Results folder; files go to OUT/<name>/.")]
Workers = Annotated[
    int | None,
    typer.Option("--workers", "-j", min=1, help="Processes for blocks of replicates (default: one per CPU)."),
]
Scheduler = Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT.")]
Resume = Annotated[bool, typer.Option("--resume", help="Reuse the finished chunks of the same job.")]
Engine = Annotated[str, typer.Option(
    "--engine", help="step (fast, exact daily steps), event (exact, event by event, slow), meanfield (mean path).")]


def _options(replicates: int | None, seed: int | None, sets: list[str] | None, out_dir: Path,
             workers: int | None, engine: str, trajectories: bool = False) -> batch.RunOptions:
    if engine not in ENGINES:
        raise InputError(Origin("command line --engine"), "engine", engine, f"must be one of: {', '.join(ENGINES)}")
    return batch.RunOptions(replicates, seed, list(sets or []), out_dir, trajectories, engine,
                            workers or os.cpu_count() or 1)


ENGINES = ("step", "event", "meanfield")


Plot = Annotated[bool, typer.Option("--plot", help="Also draw results/<name>/plot.png.")]
ObsFile = Annotated[Path | None, typer.Option("--observations", help="Reported figures CSV to compare with.")]
Tolerance = Annotated[float, typer.Option("--tolerance", min=0, max=1, help="Point values count within ±this share.")]
Softness = Annotated[float, typer.Option("--softness", min=1e-6, help="Soft edge of a range in the score, as a share.")]


@app.command()
@user_errors
def run(
    scenarios: Scenarios,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    trajectories: Annotated[bool, typer.Option("--trajectories", help="Also write every replicate's path.")] = False,
    engine: Engine = "step",
    workers: Workers = None,
    plot: Plot = False,
) -> None:
    """Simulate scenarios and write results/<name>/*.csv."""
    opts = _options(replicates, seed, sets, out_dir, workers, engine, trajectories)
    loaded = batch.load_all(scenarios, opts)  # every file is checked before any runs
    for item in loaded:
        done = _run(item, opts, plot)
        out.print(tables.summary_table(done.sim))
        if done.score:
            out.print(f"{done.score.consistent} of {done.score.observations} reported figures consistent; "
                      f"score {done.score.log_likelihood:.2f} (details: flowsim compare, comparison.csv)",
                      highlight=False)
        out.print(f"wrote {done.folder}/", highlight=False)


@app.command()
@user_errors
def compare(
    scenarios: Scenarios,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    softness: Softness = SOFTNESS,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    engine: Engine = "step",
    workers: Workers = None,
    plot: Plot = False,
) -> None:
    """Run scenarios and compare them with reported figures; write comparison.csv; rank them."""
    opts = _options(replicates, seed, sets, out_dir, workers, engine)
    opts.comparison = Settings(tolerance, softness)
    loaded = batch.load_all(scenarios, opts, observations)
    for item in loaded:
        if not item.observations:
            skipped = f" ({'; '.join(item.notes)})" if item.notes else ""
            raise InputError(Origin(str(item.path)), "observations", NO_VALUE,
                             f"no reported figures in the run to compare with{skipped}; add `observations:` "
                             "or pass --observations FILE.csv")
    finished = []
    for item in loaded:
        done = _run(item, opts, plot)
        finished.append(done)
        out.print(tables.comparison_table(done))
        out.print(f"wrote {done.folder}/comparison.csv", highlight=False)
    if len(finished) > 1:
        out.print(tables.side_by_side(finished))
        out.print(tables.ranking(finished))


@app.command("sweep")
@user_errors
def sweep_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    params: Annotated[list[str] | None, typer.Option(
        "--param", help="PATH=lo:hi:n (grid values), PATH=v1,v2 (listed) or PATH=lo:hi (range).")] = None,
    method: Annotated[str | None, typer.Option("--method", help="grid | random | lhs | sobol.")] = None,
    samples: Annotated[int | None, typer.Option("--samples", min=1, help="Points for random/lhs/sobol.")] = None,
    scheduler: Scheduler = None,
    resume: Resume = False,
    top: Annotated[int, typer.Option("--top", min=0, help="Best points to print.")] = 10,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    softness: Softness = SOFTNESS,
    replicates: Replicates = None,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    engine: Engine = "step",
    workers: Workers = None,
) -> None:
    """Sweep parameters: every point x replicate is a lane; writes points.csv and the usual files."""
    if method is not None and method not in METHODS:
        raise InputError(Origin("command line --method"), "method", method, f"must be one of: {', '.join(METHODS)}")
    if engine != "step":
        raise InputError(Origin("command line --engine"), "engine", engine, "sweeps run on the step engine only")
    opts = _options(replicates, seed, sets, out_dir, workers, engine)
    opts.comparison = Settings(tolerance, softness)
    item = batch.load(scenario, opts, observations)
    req = batch.SweepRequest(list(params or []), method, samples, scheduler, resume)
    job = batch.plan_sweep(item, opts, req)
    if scheduler:
        _check_scheduler(scheduler)
    with _points_progress(item, "sweep", job.n_points) as advance:
        done = batch.run_sweep(item, opts, req, job, advance)
    out.print(tables.best_points(done, top))
    out.print(f"wrote {done.folder}/ ({job.n_points} points x {job.replicates} replicates"
              f"{f', {done.outcome.reused} chunks reused' if done.outcome.reused else ''})", highlight=False)
    _failures(job, done.failed, done.errors)


@app.command()
@user_errors
def calibrate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with observations.", show_default=False)],
    params: Annotated[list[str] | None, typer.Option("--param", help="PATH=lo:hi: a uniform prior.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=10, help="Parameter sets drawn from the priors.")] = 10_000,
    accept: Annotated[float, typer.Option("--accept", min=1e-6, max=1.0, help="Share of draws kept.")] = 0.01,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=1, help="Replicates per draw.")] = 4,
    observations: ObsFile = None,
    tolerance: Tolerance = TOLERANCE,
    softness: Softness = SOFTNESS,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    workers: Workers = None,
    scheduler: Scheduler = None,
    resume: Resume = False,
) -> None:
    """Approximate Bayesian computation (rejection) against the reported figures."""
    opts = _options(None, seed, sets, out_dir, workers, "step")
    opts.comparison = Settings(tolerance, softness)
    item = batch.load(scenario, opts, observations)
    job = batch.plan_calibration(item, opts, list(params or []), draws, replicates)
    if scheduler:
        _check_scheduler(scheduler)
    outcome, errors, wall = _lanes(item, opts, job, "calibration", scheduler, resume)
    post = calibration.posterior(job, outcome, accept)
    folder = item.folder(opts.out)
    meta = batch.metadata(item, opts, wall, None)
    meta["calibration"] = {"draws": draws, "accepted": len(post.accepted), "replicates_per_draw": replicates,
                           "priors": {a.path: list(a.bounds) for a in job.design.axes},
                           "failed_draws": sweep.failed_points(job, outcome)}
    with results.Staged(folder) as staged:
        calibration.write(staged, item.path, item.scenario, opts.overrides, post, meta, observations)
        staged.commit()
    table = Table(title=f"{item.scenario.name}: posterior of {len(post.accepted)} accepted of {draws} draws")
    for col in ("parameter", "prior", "median", "90% interval"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for path, lo, hi, med, p05, p95 in post.summary():
        table.add_row(path, f"{tables.short(str(lo))} – {tables.short(str(hi))}", tables.short(str(med)),
                      f"{tables.short(str(p05))} – {tables.short(str(p95))}")
    out.print(table)
    if len(post.accepted) < 20:
        err.print(f"note: only {len(post.accepted)} draws accepted; use more --draws or a larger --accept "
                  "for a usable posterior", markup=False, highlight=False)
    out.print(f"wrote {folder}/posterior.csv and {folder}/calibrated.yaml", highlight=False)
    _failures(job, sweep.failed_points(job, outcome), errors)


@app.command("sensitivity")
@user_errors
def sensitivity_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    params: Annotated[list[str] | None, typer.Option("--param", help="PATH=lo:hi.")] = None,
    samples: Annotated[int, typer.Option("--samples", min=2, help="Saltelli base samples N (N(D+2) runs).")] = 256,
    outputs: Annotated[list[str] | None, typer.Option(
        "--output", help="REGION@YYYY-MM-DD, or REGION for every recorded date (default: each region at the end).")
    ] = None,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=1, help="Replicates per sample.")] = 20,
    seed: Seed = None,
    sets: Sets = None,
    out_dir: Out = Path("results"),
    workers: Workers = None,
    scheduler: Scheduler = None,
    resume: Resume = False,
) -> None:
    """Sobol first-order and total indices (SALib) of chosen outputs; writes sensitivity.csv and a plot."""
    opts = _options(None, seed, sets, out_dir, workers, "step")
    item = batch.load(scenario, opts)
    job, outs = batch.plan_sensitivity(item, opts, list(params or []), samples, replicates, list(outputs or []))
    if scheduler:
        _check_scheduler(scheduler)
    outcome, errors, wall = _lanes(item, opts, job, "sensitivity", scheduler, resume)
    if outcome.failures:
        _failures(job, sweep.failed_points(job, outcome), errors)
    rows = sens.analyse(job, outcome, outs, item.scenario.seed)
    folder = item.folder(opts.out)
    meta = batch.metadata(item, opts, wall, None)
    meta["sensitivity"] = {"samples": samples, "runs": job.n_points, "replicates_per_run": replicates,
                           "parameters": {a.path: list(a.bounds) for a in job.design.axes},
                           "outputs": [o.text for o in outs]}
    with results.Staged(folder) as staged:
        staged.csv("sensitivity.csv", sens.COLUMNS, rows)
        staged.bytes("sensitivity.png", sens.plot(rows))
        staged.json("sensitivity.json", meta)
        staged.commit()
    table = Table(title=f"{item.scenario.name}: Sobol indices ({job.n_points} runs x {replicates} replicates)")
    for col in ("output", "date", "parameter", "S1", "ST"):
        table.add_column(col, justify="right" if col in ("S1", "ST") else "left")
    last_dates = {r[0]: r[2] for r in rows}
    for r in rows:
        if r[2] == last_dates[r[0]]:
            table.add_row(r[0], r[2], r[3], f"{float(r[4]):.2f} ± {float(r[5]):.2f}",
                          f"{float(r[6]):.2f} ± {float(r[7]):.2f}")
    out.print(table)
    out.print(f"wrote {folder}/sensitivity.csv and {folder}/sensitivity.png", highlight=False)


def _lanes(item: batch.Loaded, opts: batch.RunOptions, job: sweep.Job, kind: str, scheduler: str | None,
           resume: bool) -> tuple[sweep.Outcome, list[Path], float]:
    with _points_progress(item, kind, job.n_points) as advance:
        return batch.execute_job(item, opts, job, kind, scheduler, resume, advance)


@contextlib.contextmanager
def _points_progress(item: batch.Loaded, kind: str, total: int) -> Iterator[Callable[[int], None]]:
    """Print the scenario's notes, then a progress bar over points with points/s and an ETA."""
    for note in item.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task(f"{item.scenario.name} {kind}", total=total)
        yield lambda n: bar.advance(task, n)


def _failures(job: sweep.Job, failed: list[int], errors: list[Path]) -> None:
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


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.1f} points/s")


@app.command()
@user_errors
def plot(results_dir: Annotated[Path, typer.Argument(help="A results/<name> folder, or results/.")]) -> None:
    """Draw plot.png (fan chart with reported figures) in each result folder."""
    for folder in result_folders(results_dir):
        out.print(f"wrote {plot_folder(folder)}", highlight=False)


def _run(item: batch.Loaded, opts: batch.RunOptions, plot: bool) -> batch.Outcome:
    for note in item.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    with _progress() as bar:
        task = bar.add_task(item.scenario.name, total=item.replicates * item.scenario.days)

        def advance(n: int, bar: Progress = bar, task: TaskID = task) -> None:
            bar.advance(task, n)

        done = batch.run(item, opts, advance)
    if plot:
        out.print(f"wrote {plot_folder(done.folder)}", highlight=False)
    return done


@app.command()
@user_errors
def validate(scenarios: Scenarios, sets: Sets = None) -> None:
    """Check scenario files without simulating: one line per file, exit 2 if any is wrong."""
    opts = batch.RunOptions(overrides=list(sets or []))
    failed = False
    for path in scenarios:
        try:
            item = batch.load(path, opts)
        except InputError as exc:
            err.print(f"error: {exc.message}", markup=False, highlight=False)
            failed = True
            continue
        s = item.scenario
        out.print(f"ok: {path}: {s.name}, {len(s.regions)} regions, {len(s.flows)} flows, "
                  f"{len(s.events)} events, {len(item.observations)} observations, "
                  f"{s.start} to {s.end}", highlight=False)
    if failed:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion and checks)."""
    print(json.dumps(Scenario.model_json_schema(by_alias=True), indent=2))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    )


def main() -> None:
    from .launch import main as launch

    launch()
