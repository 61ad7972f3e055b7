"""Output rows (summary, flows, trajectories, parameters) and atomic writing of result files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flowsim.experiments.executor import Simulation

SUMMARY = ["scenario", "point", "date", "day", "region", "mean", "sd", "p05", "p25", "p50", "p75", "p95"]
FLOWS = ["scenario", "point", "date", "day", "flow", "mean", "p05", "p50", "p95"]
TRAJECTORIES = ["scenario", "point", "replicate", "date", "day", "region", "population"]
QUANTILES = [5, 25, 50, 75, 95]


def fmt(x: float) -> str:
    """Numbers as short text: to 3 decimals, without trailing zeros (whole numbers bare)."""
    return f"{x:.3f}".rstrip("0").rstrip(".")


def fmt_array(a: np.ndarray) -> list[Any]:
    """`fmt` over a whole array, as nested lists of the same shape (one pass, no per-row numpy)."""
    flat = [fmt(v) for v in a.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(a.shape).tolist()


def dates(sim: Simulation) -> list[str]:
    return date_strings(sim.scenario.start, sim.days)


def date_strings(start: dt.date, days: np.ndarray) -> list[str]:
    origin = np.datetime64(start)
    return [str(origin + np.timedelta64(int(d), "D")) for d in days]


def quantiles(x: np.ndarray, percents: Sequence[float]) -> np.ndarray:
    """Percentiles along the last axis, numpy's default (linear) rule, with one sort for all of them."""
    s = np.sort(x, axis=-1)
    n = s.shape[-1]
    out = []
    for q in percents:
        pos = q / 100 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        t = pos - lo
        a, b = s[..., lo], s[..., hi]
        out.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))
    return np.stack(out, axis=-1)


def population_stats(pops: np.ndarray) -> np.ndarray:
    """(..., replicates) -> (..., 7): mean, sd, p05, p25, p50, p75, p95."""
    x = pops.astype(float)
    n = x.shape[-1]
    sd = x.std(axis=-1, ddof=1) if n > 1 else np.zeros(x.shape[:-1])
    return np.concatenate([x.mean(axis=-1)[..., None], sd[..., None], quantiles(x, QUANTILES)], axis=-1)


def moved_stats(moved: np.ndarray) -> np.ndarray:
    """(records, counters, ..., replicates) cumulative -> (records - 1, counters, ..., 4) per period."""
    x = np.diff(moved, axis=0).astype(float)
    return np.concatenate([x.mean(axis=-1)[..., None], quantiles(x, [5, 50, 95])], axis=-1)


def summary_rows(sim: Simulation) -> Iterator[str]:
    return stats_summary_rows(sim.scenario.name, sim.point, dates(sim), sim.days, list(sim.scenario.regions),
                              population_stats(sim.populations))


def stats_summary_rows(name: str, point: int, dates: list[str], days: np.ndarray, regions: list[str],
                       stats: np.ndarray) -> Iterator[str]:
    cells = fmt_array(stats)
    for k, date in enumerate(dates):
        head = f"{name},{point},{date},{days[k]},"
        for r, region in enumerate(regions):
            yield head + region + "," + ",".join(cells[k][r])


def flow_rows(sim: Simulation) -> Iterator[str]:
    """Persons moved by each flow (and shock) between consecutive report dates."""
    return stats_flow_rows(sim.scenario.name, sim.point, dates(sim), sim.days, list(sim.counters),
                           moved_stats(sim.moved))


def stats_flow_rows(name: str, point: int, dates: list[str], days: np.ndarray, counters: list[str],
                    stats: np.ndarray) -> Iterator[str]:
    cells = fmt_array(stats)
    for k, date in enumerate(dates[1:]):
        head = f"{name},{point},{date},{days[k + 1]},"
        for f, flow in enumerate(counters):
            yield head + flow + "," + ",".join(cells[k][f])


def trajectory_rows(sim: Simulation) -> Iterator[str]:
    days = dates(sim)
    regions = list(sim.scenario.regions)
    pops = sim.populations
    cells = pops.tolist() if pops.dtype.kind in "iu" else fmt_array(pops)
    for rep in range(sim.replicates):
        for k, date in enumerate(days):
            head = f"{sim.scenario.name},{sim.point},{rep},{date},{sim.days[k]},"
            for r, region in enumerate(regions):
                yield f"{head}{region},{cells[k][r][rep]}"


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
        self.stale: list[Path] = []

    def __enter__(self) -> Staged:
        make_folder(self.folder)
        return self

    def csv(self, name: str, header: list[str], rows: Iterable[Sequence[str]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        self.text(name, buf.getvalue())

    def lines(self, name: str, header: list[str], lines: Iterable[str]) -> None:
        """Rows already joined with commas (only for cells that never need quoting)."""
        buf = io.StringIO()
        buf.write(",".join(header) + "\n")
        for line in lines:
            buf.write(line)
            buf.write("\n")
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

    def remove(self, *names: str) -> None:
        """At commit, drop files an earlier run left that this one does not produce."""
        written = {final.name for _, final in self.pending}
        self.stale += [self.folder / n for n in names if n not in written]

    def commit(self) -> list[Path]:
        for path in self.stale:
            if path.name not in {final.name for _, final in self.pending}:
                path.unlink(missing_ok=True)
        done = []
        for tmp, final in sorted(self.pending, key=lambda p: p[1].name == "run.json"):
            os.replace(tmp, final)
            done.append(final)
        self.pending.clear()
        return done

    def __exit__(self, *exc: object) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


RUN_FILES = ("summary.csv", "flows.csv", "parameters.csv", "comparison.csv", "trajectories.csv", "points.csv",
             "plot.png")
"""Files of a run or sweep: each removes those of them it does not write, so none is left over."""


def make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from flowsim.model.errors import NO_VALUE, InputError, Origin

        raise InputError(Origin(str(folder)), "--out", NO_VALUE,
                         f"cannot create the results folder: {exc.strerror or exc}") from None
