"""Global sensitivity: Sobol first-order and total indices of the expected output.

Each sample point is a sweep point (its replicates are lanes), and a model
output is a region's mean population on a date over those replicates. That mean
is y_p = f(x_p) + e_p: f is the expected output (the model) and e_p replicate
noise, independent between points, of variance v_p = sigma_p^2 / R, estimated
without bias by the replicates' variance (ddof=1) over R. Indices of y would be
indices of the noise too: a parameter with no effect gets ST ~ noise / Var(y).

The estimators are SALib's (1.6, `SALib.analyze.sobol`, calc_second_order=False),
computed here so the noise can be taken out. With A, B, AB_i the N-row blocks of
the Saltelli design, M = N(D+2) outputs and c their mean (SALib centres on it and
scales by the standard deviation, a common factor that cancels):

    V_Y  = var([A; B])                    (ddof=0, 2N values)
    S1_i = mean((B - c) (AB_i - A)) / V_Y  (Saltelli et al. 2010)
    ST_i = mean((A - AB_i)^2) / 2 / V_Y    (Jansen)

Given f, the noise adds in expectation (1 - 1/2N) mean_{A,B}(v) to V_Y,
mean(v_A + v_ABi) / 2 to the ST numerator and mean(v_A - v_ABi) / M to the S1
numerator (the last from e_A's and e_ABi's share in c; zero for equal variances). Each of
these is subtracted with the estimated v, so numerators and denominator are
unbiased for what SALib would compute from f at the same points. For equal
variances v this is ST_model = (ST V_Y - v) / (V_Y - v') and S1_model =
S1 V_Y / (V_Y - v'), with v' = (1 - 1/2N) v. The 95% intervals are SALib's
bootstrap (100 resamples of rows, same seed) of the corrected estimators: to
first order SALib's interval scaled by V_Y / (V_Y - v'), plus the uncertainty of
the noise estimate. `noise_floor` = v' / V_Y is the share of the output variance
that is replicate noise (about where an uncorrected ST of a parameter with no
effect would sit). If V_Y <= v' the output is pure noise: indices are 0.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from flowsim.experiments import design, executor
from flowsim.experiments.job import Job
from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.scenario import Scenario
from flowsim.outputs.results import Results

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNS = ["output", "region", "date", "parameter", "S1", "S1_conf", "ST", "ST_conf", "noise_floor"]


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

    design.check_ranges(axes, "sensitivity")
    problem = problem_of(axes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib prefers a power of 2; any N is valid
        points = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    return design.Design("sobol", tuple(axes), np.asarray(points, dtype=float))


def problem_of(axes: list[design.Axis] | tuple[design.Axis, ...]) -> dict[str, object]:
    return {"num_vars": len(axes), "names": [a.path for a in axes], "bounds": [list(a.bounds) for a in axes]}


def check_replicates(replicates: int) -> None:
    """Replicate noise is measured from the replicates' spread: it needs at least two."""
    if replicates < 2:
        raise InputError(Origin("command line --replicates"), "replicates", replicates,
                         "sensitivity needs at least 2 replicates per sample, to measure and remove replicate noise")


@dataclass(frozen=True)
class Indices:
    """Sobol indices of the expected output (arrays over parameters) and the output's noise floor."""

    S1: np.ndarray
    S1_conf: np.ndarray
    ST: np.ndarray
    ST_conf: np.ndarray
    noise_floor: float


def analyse(job: Job, outcome: executor.Chunks, outputs: list[Output], seed: int) -> list[list[Any]]:
    """Rows of sensitivity.csv: indices of the expected output, and the noise floor (see the module doc)."""
    plan = job.chunks()
    chunks = [outcome.chunks[i] for i in range(len(plan))]
    check_replicates(job.replicates)
    if any("variances" not in c for c in chunks):
        raise InputError(Origin("command line --resume"), "resume", NO_VALUE,
                         "the kept chunks predate replicate variances; rerun without --resume")
    means = np.concatenate([c["means"] for c in chunks])  # (points, K, R)
    noise = np.concatenate([c["variances"] for c in chunks]) / job.replicates  # variance of each mean
    s = job.scenario
    regions = list(s.regions)
    d = len(job.design.names)
    rows = []
    for out in outputs:
        r = regions.index(out.region)
        ks = range(len(job.days)) if out.date is None else [list(job.days).index(s.day_of(out.date))]
        for k in ks:
            si = indices(means[:, k, r], noise[:, k, r], d, seed)
            date = (s.start + dt.timedelta(days=int(job.days[k]))).isoformat()
            for i, name in enumerate(job.design.names):
                rows.append([out.text, out.region, date, name,
                             *(round(float(x[i]), 6) for x in (si.S1, si.S1_conf, si.ST, si.ST_conf)),
                             round(float(si.noise_floor), 6)])
    return rows


def indices(y: np.ndarray, v: np.ndarray, d: int, seed: int, resamples: int = 100,
            conf_level: float = 0.95) -> Indices:
    """S1, ST and their intervals of E[y] from y with noise variances v (SALib's layout and estimators).

    With v = 0 this is `SALib.analyze.sobol.analyze(..., calc_second_order=False, seed=seed)` (seed > 0).
    """
    from scipy.stats import norm

    zeros = np.zeros(d)
    if np.ptp(y) <= 0:  # nothing varies (e.g. day 0): every index is 0
        return Indices(zeros, zeros, zeros, zeros, 0.0)
    step, m = d + 2, y.size
    n = m // step
    scale = y.std()
    z, w = (y - y.mean()) / scale, v / scale**2
    a, b, ab = z[0::step], z[step - 1::step], np.stack([z[j + 1::step] for j in range(d)], axis=1)
    va, vb, vab = w[0::step], w[step - 1::step], np.stack([w[j + 1::step] for j in range(d)], axis=1)

    def estimate(rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """S1 and ST (D, ...) on the given rows of the blocks, and V_Y, V_model (...)."""
        ar, br, abr, var_, vbr, vabr = a[rows], b[rows], ab[rows], va[rows], vb[rows], vab[rows]
        total = np.var(np.r_[ar, br], axis=0)
        model = total - (1 - 1 / (2 * n)) * np.mean(np.r_[var_, vbr], axis=0)
        s1_num = [np.mean(br * (abr[..., j] - ar) + (vabr[..., j] - var_) / m, axis=0) for j in range(d)]
        st_num = [np.mean((ar - abr[..., j]) ** 2 - (var_ + vabr[..., j]), axis=0) / 2 for j in range(d)]
        ok = model > 0

        def ratio(num: list[np.ndarray]) -> np.ndarray:
            return np.array([np.divide(x, model, out=np.zeros_like(model, dtype=float), where=ok) for x in num])

        return ratio(s1_num), ratio(st_num), total, model

    s1, st, total, model = estimate(slice(None))
    floor = float((total - model) / total)
    if model <= 0:  # the output is replicate noise only: no index of the expected output can be told
        return Indices(zeros, zeros, zeros, zeros, floor)
    picks = np.random.default_rng(seed).integers(n, size=(n, resamples))  # as SALib draws them
    s1_boot, st_boot, _, _ = estimate(picks)
    zq = norm.ppf(0.5 + conf_level / 2)
    return Indices(s1, zq * s1_boot.std(axis=1, ddof=1), st, zq * st_boot.std(axis=1, ddof=1), floor)


def noise_notes(rows: list[list[Any]]) -> list[str]:
    """Per output, the dates whose variance is all (indices set to 0) or mostly replicate noise."""
    floors = {(r[0], r[2]): float(r[8]) for r in rows}
    notes = []
    for out in dict.fromkeys(r[0] for r in rows):
        mine = {date: f for (o, date), f in floors.items() if o == out}
        pure = [d for d, f in mine.items() if f >= 1]
        most = [f"{d} ({f:.0%})" for d, f in mine.items() if 0.5 < f < 1]
        if pure:
            notes.append(f"{out}: the variance is all replicate noise on {_some(pure)}; indices set to 0 there: "
                         "no effect of the parameters shows above it (more --replicates may show a small one)")
        if most:
            notes.append(f"{out}: over half the variance is replicate noise on {_some(most)}; "
                         "those indices are uncertain (use more --replicates)")
    return notes


def _some(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more dates" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def plot(rows: list[list[Any]]) -> bytes:
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


def to_table(rows: list[list[Any]]) -> pa.Table:
    """sensitivity.csv as a typed table (dates as dates, indices as numbers)."""
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    data: dict[str, object] = {
        "output": pa.array(cols[0], pa.string()), "region": pa.array(cols[1], pa.string()),
        "date": pa.array([dt.date.fromisoformat(d) for d in cols[2]], pa.date32()),
        "parameter": pa.array(cols[3], pa.string())}
    for i, name in enumerate(COLUMNS[4:], start=4):
        data[name] = pa.array([float(v) for v in cols[i]], pa.float64())
    return pa.table(data)


def to_results(item: Any, meta: dict[str, Any], job: Job, rows: list[list[Any]], samples: int, replicates: int,
               outs: list[Output]) -> Results:
    """The indices as Results: the table, its plot, and sensitivity.json."""
    meta = dict(meta)
    meta["sensitivity"] = {"samples": samples, "runs": job.n_points, "replicates_per_run": replicates,
                           "parameters": {a.path: list(a.bounds) for a in job.design.axes},
                           "outputs": [o.text for o in outs]}
    return Results(item.scenario.name, {"sensitivity": to_table(rows)}, meta,
                   files={"sensitivity.png": plot(rows)}, extra={"meta_file": "sensitivity.json"})
