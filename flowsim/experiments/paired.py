"""Paired differences between two scenarios run with common random numbers: differences.csv.

Why: the difference between two scenarios is usually far smaller than the spread
of either one, most of which comes from what they share (uncertain starting
numbers and rates, the same day-to-day chance). Differencing two independently
seeded runs adds both spreads; running B with A's seed gives replicate i of B
the same random numbers as replicate i of A (`runner.block_rng` seeds each block
from the seed alone, and `plan.make_plan` draws parameters in file order), so
B - A per replicate cancels the shared part and the interval of the difference
shows the effect of what B changes. Pairing holds only as far as the two
scenarios draw the same numbers in the same order (see docs/paired.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from flowsim.experiments.executor import Simulation
from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.scenario import Scenario
from flowsim.outputs import formats, records
from flowsim.outputs.staging import Staged

if TYPE_CHECKING:
    import pyarrow as pa

STEM = "differences"
COLUMNS = ["scenario_a", "scenario_b", "date", "day", "region", "mean", "p05", "p50", "p95"]


@dataclass(frozen=True)
class Differences:
    """B minus A, replicate by replicate, on the record days and regions both have."""

    a: str
    b: str
    start: dt.date
    dates: list[str]
    days: np.ndarray  # (days,)
    regions: list[str]
    values: np.ndarray  # (days, regions, replicates): B - A
    stats: np.ndarray  # (days, regions, 4): mean, p05, p50, p95 over replicates


def check(a_path: Path, a: Scenario, b_path: Path, b: Scenario) -> None:
    """Refuse a pair whose replicates, start dates or regions cannot be matched (before anything runs)."""
    if b.replicates != a.replicates:
        raise InputError(Origin(str(b_path)), "replicates", b.replicates,
                         f"must equal the {a.replicates} replicates of {a_path} to pair replicate by replicate; "
                         "pass --replicates N to run both with N")
    if b.start != a.start:
        raise InputError(Origin(str(b_path)), "start", b.start.isoformat(),
                         f"must equal the start of {a_path} ({a.start.isoformat()}) to pair dates")
    if not set(a.regions) & set(b.regions):
        raise InputError(Origin(str(b_path)), "regions", NO_VALUE,
                         f"shares no region name with {a_path}: nothing to pair")


def differences(a: Simulation, b: Simulation) -> Differences:
    """Per replicate B - A on the record days both share, for the regions both have (in A's order)."""
    if a.replicates != b.replicates or a.scenario.start != b.scenario.start:
        raise ValueError("paired scenarios need the same replicates and start date (see paired.check)")
    days, ia, ib = np.intersect1d(a.days, b.days, assume_unique=True, return_indices=True)
    b_regions = list(b.scenario.regions)
    regions = [r for r in a.scenario.regions if r in b_regions]
    ra = [list(a.scenario.regions).index(r) for r in regions]
    rb = [b_regions.index(r) for r in regions]
    pa = a.populations[ia][:, ra].astype(float)
    pb = b.populations[ib][:, rb].astype(float)
    values = pb - pa
    stats = np.concatenate([values.mean(axis=-1)[..., None], records.quantiles(values, [5, 50, 95])], axis=-1)
    return Differences(a.scenario.name, b.scenario.name, a.scenario.start,
                       records.date_strings(a.scenario.start, days), days, regions, values, stats)


def to_table(d: Differences) -> pa.Table:
    """differences.csv: one row per common date and region."""
    import pyarrow as pa

    k, r = (g.ravel() for g in np.meshgrid(np.arange(len(d.days)), np.arange(len(d.regions)), indexing="ij"))
    flat = np.round(d.stats.reshape(-1, 4), records.DECIMALS) + 0.0
    n = len(k)
    cols: dict[str, object] = {"scenario_a": pa.array([d.a] * n, pa.string()),
                               "scenario_b": pa.array([d.b] * n, pa.string()),
                               "date": records.dates(d.start, d.days)[k], "day": d.days[k].astype(np.int64),
                               "region": np.asarray(d.regions, dtype=object)[r]}
    cols.update({c: flat[:, i] for i, c in enumerate(COLUMNS[5:])})
    return pa.table(cols)


def write(folder: Path, d: Differences, fmt: str = "csv") -> Path:
    """Write the differences into `folder` (B's result folder) atomically."""
    with Staged(folder) as staged:
        staged.table(STEM, to_table(d), fmt)
        staged.commit()
    return folder / f"{STEM}{formats.suffix(fmt)}"


def table(d: Differences) -> Table:
    """The differences at the last common date, one row per region."""
    k = len(d.dates) - 1
    table = Table(title=f"{d.b} minus {d.a}, paired over {d.values.shape[-1]} replicates, {d.dates[k]}")
    for name in ("region", "mean", "median", "90% interval"):
        table.add_column(name, justify="left" if name == "region" else "right")
    for r, region in enumerate(d.regions):
        mean, p05, p50, p95 = d.stats[k, r]
        table.add_row(region, f"{mean:+,.1f}", f"{p50:+,.1f}", f"{p05:+,.1f} – {p95:+,.1f}")
    return table
