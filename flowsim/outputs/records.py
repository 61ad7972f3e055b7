"""Results as typed tables (pyarrow): built from the engines' arrays, read by writers, pandas and xarray.

Every table a command writes is made here, so a column has one definition
whatever the format: `scenario` and `region` are strings, `point`, `day`,
`replicate` and `population` integers, `date` a calendar date, statistics
float64 rounded to 3 decimals (the precision of the files since version 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from flowsim.model.scenario import Scenario

if TYPE_CHECKING:
    import pyarrow as pa

@dataclass
class Simulation:
    """All replicates of one parameter point, in replicate order."""

    scenario: Scenario
    point: int
    days: np.ndarray
    populations: np.ndarray  # (records, regions, replicates)
    moved: np.ndarray  # (records, counters, replicates), cumulative
    in_transit: np.ndarray  # (replicates,)
    drawn: dict[str, np.ndarray]
    counters: tuple[str, ...]
    biases: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-lane values of the `biases.NAME` parameters (how reports relate to counts)."""

    @property
    def replicates(self) -> int:
        return int(self.populations.shape[2])


SUMMARY = ["scenario", "point", "date", "day", "region", "mean", "sd", "p05", "p25", "p50", "p75", "p95"]
FLOWS = ["scenario", "point", "date", "day", "flow", "mean", "p05", "p50", "p95"]
TRAJECTORIES = ["scenario", "point", "replicate", "date", "day", "region", "population"]
QUANTILES = [5, 25, 50, 75, 95]
DECIMALS = 3


SLICE = 1 << 20
"""Values per slice of a statistics computation: a few copies of a slice, not of the whole array."""


def quantiles(x: np.ndarray, percents: Sequence[float]) -> np.ndarray:
    """Percentiles along the last axis, numpy's default (linear) rule, by selection (not a full sort).

    `np.partition` puts the two order statistics each percentile needs in place, O(n);
    the values are the same as after a sort, so results do not depend on the method.
    """
    n = x.shape[-1]
    spots = []
    for q in percents:
        pos = q / 100 * (n - 1)
        lo = int(np.floor(pos))
        spots.append((lo, min(lo + 1, n - 1), pos - lo))
    s = np.partition(x, sorted({i for lo, hi, _ in spots for i in (lo, hi)}), axis=-1)
    out = []
    for lo, hi, t in spots:
        a, b = s[..., lo], s[..., hi]
        out.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))
    return np.stack(out, axis=-1)


def _sliced(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """`fn` over slices of the leading axis, so that its copies are of a slice at a time."""
    step = max(1, SLICE // max(1, int(np.prod(x.shape[1:]))))
    if x.shape[0] <= step:
        return fn(x)
    return np.concatenate([fn(x[i:i + step]) for i in range(0, x.shape[0], step)], axis=0)


def population_stats(pops: np.ndarray) -> np.ndarray:
    """(records, ..., replicates) -> (records, ..., 7): mean, sd, p05, p25, p50, p75, p95."""
    def stats(part: np.ndarray) -> np.ndarray:
        x = part.astype(float)
        n = x.shape[-1]
        sd = x.std(axis=-1, ddof=1) if n > 1 else np.zeros(x.shape[:-1])
        return np.concatenate([x.mean(axis=-1)[..., None], sd[..., None], quantiles(x, QUANTILES)], axis=-1)

    return _sliced(stats, pops)


def moved_stats(moved: np.ndarray) -> np.ndarray:
    """(records, counters, ..., replicates) cumulative -> (records - 1, counters, ..., 4) per period."""
    def stats(part: np.ndarray) -> np.ndarray:
        x = np.diff(part, axis=0).astype(float)
        return np.concatenate([x.mean(axis=-1)[..., None], quantiles(x, [5, 50, 95])], axis=-1)

    if len(moved) < 2:
        return stats(moved)
    step = max(1, SLICE // max(1, int(np.prod(moved.shape[1:]))))
    return np.concatenate([stats(moved[i:i + step + 1]) for i in range(0, len(moved) - 1, step)], axis=0)


def date_strings(start: dt.date, days: np.ndarray) -> list[str]:
    origin = np.datetime64(start)
    return [str(origin + np.timedelta64(int(d), "D")) for d in days]


def dates(start: dt.date, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(start, "D") + days.astype("timedelta64[D]")).astype("datetime64[D]")


def _round(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), DECIMALS) + 0.0  # + 0.0: no "-0"


def _grid(points: Sequence[int], days: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Point, day index and label index of every row, in point, date, label order."""
    p, k, r = np.meshgrid(np.asarray(points, dtype=np.int64), np.arange(len(days)), np.arange(len(labels)),
                          indexing="ij")
    return p.ravel(), k.ravel(), r.ravel()


def summary(name: str, points: Sequence[int], start: dt.date, days: np.ndarray, regions: Sequence[str],
            stats: np.ndarray) -> pa.Table:
    """stats (points, records, regions, 7) -> one row per point, date and region."""
    return _stats_table(SUMMARY, name, points, start, days, regions, stats)


def flows(name: str, points: Sequence[int], start: dt.date, days: np.ndarray, counters: Sequence[str],
          stats: np.ndarray) -> pa.Table:
    """stats (points, records - 1, counters, 4) -> persons moved in each period, dated at its end."""
    return _stats_table(FLOWS, name, points, start, days[1:], counters, stats)


def _stats_table(columns: list[str], name: str, points: Sequence[int], start: dt.date, days: np.ndarray,
                 labels: Sequence[str], stats: np.ndarray) -> pa.Table:
    """One row per point, day and label (region or flow): the head columns, then the statistics."""
    import pyarrow as pa

    p, k, r = _grid(points, days, labels)
    flat = _round(stats.reshape(-1, stats.shape[-1]))
    scenario, point, date, day, label = columns[:5]
    cols = {scenario: pa.array([name] * len(p), pa.string()), point: p, date: dates(start, days)[k],
            day: days[k].astype(np.int64), label: pa.array(np.asarray(list(labels), dtype=object)[r], pa.string())}
    cols.update({c: flat[:, i] for i, c in enumerate(columns[5:])})
    return pa.table(cols)


def trajectories(name: str, point: int, start: dt.date, days: np.ndarray, regions: Sequence[str],
                 pops: np.ndarray) -> pa.Table:
    """pops (records, regions, replicates) -> one row per replicate, date and region."""
    import pyarrow as pa

    k_n, r_n, reps = pops.shape
    grid = np.meshgrid(np.arange(reps), np.arange(k_n), np.arange(r_n), indexing="ij")
    rep, k, r = (g.ravel() for g in grid)
    values = np.moveaxis(pops, 2, 0).reshape(-1)
    # names as dictionaries: millions of rows share a few strings (a category in pandas)
    region = pa.DictionaryArray.from_arrays(pa.array(r.astype(np.int32)), pa.array(list(regions)))
    scenario = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(rep), dtype=np.int32)), pa.array([name]))
    return pa.table({"scenario": scenario, "point": np.full(len(rep), point),
                     "replicate": rep.astype(np.int64), "date": dates(start, days)[k], "day": days[k].astype(np.int64),
                     "region": region,
                     "population": values.astype(np.int64) if values.dtype.kind in "iu" else _round(values)})


def parameters(points: Sequence[int], replicates: int, swept: dict[str, np.ndarray],
               drawn: dict[str, np.ndarray | None]) -> pa.Table:
    """One row per point and replicate: swept values (per point) and drawn values (per lane; None: not drawn)."""
    import pyarrow as pa

    n = len(points) * replicates
    cols: dict[str, object] = {"point": np.repeat(np.asarray(points, dtype=np.int64), replicates),
                               "replicate": np.tile(np.arange(replicates, dtype=np.int64), len(points))}
    for key, values in swept.items():
        cols[key] = np.repeat(np.asarray(values, dtype=float), replicates)
    for key, lanes in drawn.items():
        cols[key] = pa.nulls(n, pa.float64()) if lanes is None else np.asarray(lanes, dtype=float)
    return pa.table(cols)


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
