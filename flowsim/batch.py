"""Run scenario files end to end: load, simulate, write the result folder."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, results
from .observations import scenario_observations
from .runner import Simulation, simulate
from .scenario import Observation, Scenario, load_scenario


@dataclass
class RunOptions:
    replicates: int | None = None
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    out: Path = Path("results")
    trajectories: bool = False
    engine: str = "step"
    workers: int = 1


@dataclass
class Loaded:
    """A validated scenario with its file and reported figures."""

    path: Path
    scenario: Scenario
    observations: list[Observation]
    notes: list[str]

    @property
    def replicates(self) -> int:
        return self.scenario.replicates

    def folder(self, out: Path) -> Path:
        return out / self.scenario.name


def load(path: Path, opts: RunOptions, observations: Path | None = None) -> Loaded:
    """Load and check one scenario with the run options applied (no simulation yet)."""
    overrides = list(opts.overrides)
    if opts.replicates is not None:
        overrides.append(f"replicates={opts.replicates}")
    if opts.seed is not None:
        overrides.append(f"seed={opts.seed}")
    scenario, located = load_scenario(path, overrides)
    obs, notes = scenario_observations(scenario, located, path.parent, observations)
    return Loaded(path, scenario, obs, notes)


def run(item: Loaded, opts: RunOptions, progress: Callable[[int], None] | None = None) -> tuple[Simulation, Path]:
    """Simulate one loaded scenario and write its result folder atomically."""
    s = item.scenario
    t0 = time.perf_counter()
    sim = simulate(
        s,
        extra_days=[s.day_of(o.date) for o in item.observations],
        workers=opts.workers,
        progress=progress,
    )
    wall = time.perf_counter() - t0
    folder = item.folder(opts.out)
    with results.Staged(folder) as out:
        out.csv("summary.csv", results.SUMMARY, results.summary_rows(sim))
        out.csv("flows.csv", results.FLOWS, results.flow_rows(sim))
        header = results.parameter_header([sim])
        out.csv("parameters.csv", header, results.parameter_rows([sim], header))
        if opts.trajectories:
            out.csv("trajectories.csv", results.TRAJECTORIES, results.trajectory_rows(sim))
        else:
            out.remove("trajectories.csv")
        out.json("run.json", metadata(item, opts, wall))
        out.commit()
    return sim, folder


def metadata(item: Loaded, opts: RunOptions, wall: float) -> dict[str, object]:
    return {
        "flowsim_version": __version__,
        "scenario": item.scenario.name,
        "scenario_file": str(item.path),
        "scenario_sha256": hashlib.sha256(item.path.read_bytes()).hexdigest(),
        "command_line": " ".join(["flowsim", *sys.argv[1:]]),
        "overrides": opts.overrides,
        "seed": item.scenario.seed,
        "replicates": item.scenario.replicates,
        "engine": opts.engine,
        "workers": opts.workers,
        "wall_time_s": round(wall, 3),
    }
