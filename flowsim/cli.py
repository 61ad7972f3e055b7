"""The `flowsim` command line: parse options, call the library, print. Nothing else."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import batch
from .errors import InputError, Origin
from .runner import Simulation
from .scenario import Scenario

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Scenario modelling of fighter flows between regions."
)
out = Console(soft_wrap=True)
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

    return wrapper  # type: ignore[return-value]


Scenarios = Annotated[list[Path], typer.Argument(help="Scenario YAML files.", show_default=False)]
Replicates = Annotated[int | None, typer.Option("--replicates", "-n", min=1, help="Replicates per scenario.")]
Seed = Annotated[int | None, typer.Option("--seed", min=0, help="Random seed (default: the scenario's).")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="Override a parameter: PATH=VALUE.")]
Out = Annotated[Path, typer.Option("--out", help="Results folder; files go to OUT/<name>/.")]
Workers = Annotated[
    int | None, typer.Option("--workers", "-j", min=1, help="Processes for blocks of replicates [default: CPUs].")
]
Engine = Annotated[str, typer.Option("--engine", help="Simulation engine: step.")]


def _options(replicates: int | None, seed: int | None, sets: list[str] | None, out_dir: Path,
             workers: int | None, engine: str, trajectories: bool = False) -> batch.RunOptions:
    if engine not in ENGINES:
        raise InputError(Origin("command line --engine"), "engine", engine, f"must be one of: {', '.join(ENGINES)}")
    return batch.RunOptions(replicates, seed, list(sets or []), out_dir, trajectories, engine,
                            workers or os.cpu_count() or 1)


ENGINES = ("step",)


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
) -> None:
    """Simulate scenarios and write results/<name>/*.csv."""
    opts = _options(replicates, seed, sets, out_dir, workers, engine, trajectories)
    loaded = [batch.load(p, opts) for p in scenarios]  # every file is checked before any runs
    for item in loaded:
        for note in item.notes:
            err.print(f"note: {note}", markup=False, highlight=False)
        with _progress() as bar:
            task = bar.add_task(item.scenario.name, total=item.replicates * item.scenario.days)

            def advance(n: int, bar: Progress = bar, task: TaskID = task) -> None:
                bar.advance(task, n)

            sim, folder = batch.run(item, opts, advance)
        out.print(summary_table(sim))
        out.print(f"wrote {folder}/", highlight=False)


@app.command()
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


def summary_table(sim: Simulation) -> Table:
    s = sim.scenario
    pops = sim.populations[-1].astype(float)
    table = Table(title=f"{s.name}: {sim.replicates} replicates, {s.end.isoformat()}")
    table.add_column("region")
    table.add_column("mean", justify="right")
    table.add_column("median", justify="right")
    table.add_column("90% interval", justify="right")
    for r, region in enumerate(s.regions):
        lo, med, hi = np.percentile(pops[r], [5, 50, 95])
        table.add_row(region, f"{pops[r].mean():,.0f}", f"{med:,.0f}", f"{lo:,.0f} – {hi:,.0f}")
    return table


def main() -> None:
    app()
