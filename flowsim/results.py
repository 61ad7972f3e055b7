"""Output rows (summary, flows, trajectories, parameters) and atomic writing of result files."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .runner import Simulation

SUMMARY = ["scenario", "point", "date", "day", "region", "mean", "sd", "p05", "p25", "p50", "p75", "p95"]
FLOWS = ["scenario", "point", "date", "day", "flow", "mean", "p05", "p50", "p95"]
TRAJECTORIES = ["scenario", "point", "replicate", "date", "day", "region", "population"]
QUANTILES = [5, 25, 50, 75, 95]


def fmt(x: float) -> str:
    """Numbers as short text: whole numbers without decimals, others to 3 decimals."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.3f}".rstrip("0").rstrip(".")


def dates(sim: Simulation) -> list[str]:
    start = np.datetime64(sim.scenario.start)
    return [str(start + np.timedelta64(int(d), "D")) for d in sim.days]


def summary_rows(sim: Simulation) -> Iterator[list[str]]:
    pops = sim.populations.astype(float)
    mean = pops.mean(axis=2)
    sd = pops.std(axis=2, ddof=1) if sim.replicates > 1 else np.zeros_like(mean)
    q = np.percentile(pops, QUANTILES, axis=2)
    name = sim.scenario.name
    for k, date in enumerate(dates(sim)):
        for r, region in enumerate(sim.scenario.regions):
            stats = [mean[k, r], sd[k, r], *q[:, k, r]]
            yield [name, str(sim.point), date, str(sim.days[k]), region, *map(fmt, stats)]


def flow_rows(sim: Simulation) -> Iterator[list[str]]:
    """Persons moved by each flow (and shock) between consecutive report dates."""
    per_period = np.diff(sim.moved, axis=0).astype(float)
    if per_period.size == 0:
        return
    mean = per_period.mean(axis=2)
    q = np.percentile(per_period, [5, 50, 95], axis=2)
    name = sim.scenario.name
    for k, date in enumerate(dates(sim)[1:]):
        for f, flow in enumerate(sim.counters):
            stats = [mean[k, f], *q[:, k, f]]
            yield [name, str(sim.point), date, str(sim.days[k + 1]), flow, *map(fmt, stats)]


def trajectory_rows(sim: Simulation) -> Iterator[list[str]]:
    name, point = sim.scenario.name, str(sim.point)
    days = dates(sim)
    regions = list(sim.scenario.regions)
    for rep in range(sim.replicates):
        for k, date in enumerate(days):
            for r, region in enumerate(regions):
                yield [name, point, str(rep), date, str(sim.days[k]), region, str(sim.populations[k, r, rep])]


def parameter_header(sims: Sequence[Simulation]) -> list[str]:
    keys: list[str] = []
    for sim in sims:
        keys += [k for k in sim.drawn if k not in keys]
    return ["point", "replicate", *keys]


def parameter_rows(sims: Sequence[Simulation], header: list[str]) -> Iterator[list[str]]:
    """One row per replicate with each value drawn for it (empty where not drawn)."""
    for sim in sims:
        cols = [sim.drawn.get(k) for k in header[2:]]
        for rep in range(sim.replicates):
            yield [str(sim.point), str(rep), *("" if c is None else repr(float(c[rep])) for c in cols)]


class Staged:
    """Result files written under temporary names, then renamed together.

    A crash before `commit` leaves only dot-named temporary files, which are
    removed; after `commit` every file is complete. `run.json` is renamed last.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[Path, Path]] = []

    def __enter__(self) -> Staged:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def csv(self, name: str, header: list[str], rows: Iterable[Sequence[str]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        self.text(name, buf.getvalue())

    def json(self, name: str, data: dict[str, Any]) -> None:
        self.text(name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def text(self, name: str, content: str) -> None:
        self.bytes(name, content.encode("utf-8"))

    def bytes(self, name: str, content: bytes) -> None:
        final = self.folder / name
        tmp = self.folder / f".{name}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        self.pending.append((tmp, final))

    def remove(self, name: str) -> None:
        """Drop a file left by an earlier run that this run does not produce."""
        (self.folder / name).unlink(missing_ok=True)

    def commit(self) -> list[Path]:
        done = []
        for tmp, final in sorted(self.pending, key=lambda p: p[1].name == "run.json"):
            os.replace(tmp, final)
            done.append(final)
        self.pending.clear()
        return done

    def __exit__(self, *exc: object) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
