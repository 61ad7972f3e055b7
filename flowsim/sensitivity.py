"""Global sensitivity: Sobol first-order and total indices via SALib (Saltelli sampling).

Each sample point is a sweep point (its replicates are lanes), and a model
output is a region's mean population on a date over those replicates.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass

import numpy as np

from . import design, sweep
from .errors import NO_VALUE, InputError, Origin
from .scenario import Scenario

COLUMNS = ["output", "region", "date", "parameter", "S1", "S1_conf", "ST", "ST_conf"]


@dataclass(frozen=True)
class Output:
    """`REGION@DATE` (one date) or `REGION` (every recorded date)."""

    text: str
    region: str
    date: dt.date | None


def parse_output(text: str, s: Scenario) -> Output:
    origin = Origin(f"--output {text}")
    region, _, date = text.partition("@")
    if region not in s.regions:
        raise InputError(origin, "output", region, f"unknown region; regions are {', '.join(s.regions)}")
    if not date:
        return Output(text, region, None)
    try:
        when = dt.date.fromisoformat(date)
    except ValueError:
        raise InputError(origin, "output", date, "must be REGION or REGION@YYYY-MM-DD") from None
    if not s.start <= when <= s.end:
        raise InputError(origin, "output", date, f"must be within the run, {s.start} to {s.end}")
    return Output(text, region, when)


def saltelli(axes: list[design.Axis], samples: int, seed: int) -> design.Design:
    from SALib.sample import sobol as sobol_sample

    for a in axes:
        if a.values is not None:
            raise InputError(a.origin, a.path, NO_VALUE, "sensitivity needs a range, PATH=lo:hi")
    problem = problem_of(axes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib prefers a power of 2; any N is valid
        points = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    return design.Design("sobol", tuple(axes), np.asarray(points, dtype=float))


def problem_of(axes: list[design.Axis] | tuple[design.Axis, ...]) -> dict[str, object]:
    return {"num_vars": len(axes), "names": [a.path for a in axes], "bounds": [list(a.bounds) for a in axes]}


def analyse(job: sweep.Job, outcome: sweep.Outcome, outputs: list[Output], seed: int) -> list[list[str]]:
    from SALib.analyze import sobol as sobol_analyze

    plan = job.chunks()
    means = np.concatenate([outcome.chunks[i]["means"] for i in range(len(plan))])  # (points, K, R)
    s = job.scenario
    regions = list(s.regions)
    problem = problem_of(job.design.axes)
    rows = []
    for out in outputs:
        r = regions.index(out.region)
        ks = range(len(job.days)) if out.date is None else [list(job.days).index(s.day_of(out.date))]
        for k in ks:
            y = means[:, k, r]
            date = (s.start + dt.timedelta(days=int(job.days[k]))).isoformat()
            if np.all(y == y[0]):  # nothing varies (e.g. day 0): every index is 0
                si = {key: np.zeros(len(job.design.names)) for key in ("S1", "S1_conf", "ST", "ST_conf")}
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    si = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
            for i, name in enumerate(job.design.names):
                rows.append([out.text, out.region, date, name,
                             *(f"{float(si[key][i]):.6f}" for key in ("S1", "S1_conf", "ST", "ST_conf"))])
    return rows


def plot(rows: list[list[str]]) -> bytes:
    """Bars of S1 and ST (with 95% intervals) per single-date output; lines of ST over time otherwise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = list(dict.fromkeys(r[0] for r in rows))
    fig, axes = plt.subplots(len(outputs), 1, figsize=(9, 3.2 * len(outputs)), squeeze=False)
    for ax, out in zip(axes[:, 0], outputs, strict=True):
        mine = [r for r in rows if r[0] == out]
        params = list(dict.fromkeys(r[3] for r in mine))
        dates = list(dict.fromkeys(r[2] for r in mine))
        if len(dates) == 1:
            x = np.arange(len(params))
            for j, (key, off) in enumerate((("S1", -0.2), ("ST", 0.2))):
                vals = [float(r[4 + 2 * j]) for r in mine]
                conf = [float(r[5 + 2 * j]) for r in mine]
                ax.bar(x + off, vals, width=0.4, yerr=conf, capsize=3, label=key)
            ax.set_xticks(x, params, rotation=15, ha="right", fontsize=8)
            ax.set_title(f"{out} ({dates[0]})", loc="left", fontsize=10)
        else:
            for p in params:
                pts = [r for r in mine if r[3] == p]
                ax.plot([dt.date.fromisoformat(r[2]) for r in pts], [float(r[6]) for r in pts], label=f"ST {p}")
            ax.set_title(f"{out}: total index over time", loc="left", fontsize=10)
        ax.set_ylim(-0.1, 1.1)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
