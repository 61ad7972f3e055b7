"""Tables the command line prints: results, comparisons, rankings, sweep points."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
from rich.table import Table

from flowsim.experiments import calibrate, runs, sweep
from flowsim.model.scenario import Observation
from flowsim.outputs.results import Results


def summary_table(res: Results) -> Table:
    """The last recorded day of a run: mean, median and 90% interval per region."""
    assert res.populations is not None and res.days is not None and res.start is not None
    pops = np.moveaxis(res.populations[0, :, -1, :], 0, 1).astype(float)  # (regions, replicates)
    end = res.start + dt.timedelta(days=int(res.days[-1]))
    table = Table(title=f"{res.name}: {pops.shape[1]} replicate{'' if pops.shape[1] == 1 else 's'}, {end.isoformat()}")
    table.add_column("region")
    table.add_column("mean", justify="right")
    table.add_column("median", justify="right")
    table.add_column("90% interval", justify="right")
    for r, region in enumerate(res.regions):
        lo, med, hi = np.percentile(pops[r], [5, 50, 95])
        table.add_row(region, f"{pops[r].mean():,.0f}", f"{med:,.0f}", f"{lo:,.0f} – {hi:,.0f}")
    return table


def comparison_table(done: runs.Written) -> Table:
    table = Table(title=f"{done.results.name}: simulated (5–95%) vs reported")
    for name in ("date", "region", "reported", "simulated", "in range", "log score", "verdict"):
        table.add_column(name, justify="left" if name in ("date", "region", "verdict") else "right", no_wrap=True)
    for r in done.comparison:
        table.add_row(r.obs.when, r.obs.where, reported_text(r.obs),
                      f"{r.p05:,.0f}–{r.p95:,.0f}", f"{r.p_in_range:.0%}", f"{r.log_score:.2f}", r.verdict)
    if done.score:
        table.caption = (f"{done.score.consistent} of {done.score.observations} consistent (5% false-alarm rate "
                         f"per side); score {done.score.log_score:.2f} (sum of log predictive densities over "
                         f"{done.score.groups} observation groups; higher is better)")
    return table


def reported_text(obs: Observation) -> str:
    if obs.low is None and obs.high is None:
        return f"≈{obs.value:,.0f}"
    if obs.low is None:
        return f"≤{obs.high:,.0f}"
    if obs.high is None:
        return f"≥{obs.low:,.0f}"
    return f"{obs.low:,.0f}–{obs.high:,.0f}"


def side_by_side(finished: list[runs.Written]) -> Table:
    table = Table(title="Median on the reported dates, by scenario")
    table.add_column("date", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("reported", justify="right", no_wrap=True)
    for done in finished:
        table.add_column(done.results.name, justify="right", no_wrap=True)
    keys: dict[tuple[str, str, str], list[str]] = {}
    for i, done in enumerate(finished):
        for r in done.comparison:
            key = (r.obs.when, r.obs.where, reported_text(r.obs))
            cells = keys.setdefault(key, [""] * len(finished))
            mark = "" if r.verdict == "consistent" else (" ↑" if r.verdict == "too high" else " ↓")
            cells[i] = f"{r.p50:,.0f}{mark}"
    for key in sorted(keys):
        table.add_row(*key, *keys[key])
    table.caption = "↑ scenario too high, ↓ scenario too low (the report is in a 5% tail of its simulated reports)"
    return table


def ranking(finished: list[runs.Written]) -> Table:
    table = Table(title="Scenarios ranked by agreement with the reported figures")
    for name in ("rank", "scenario", "consistent", "score"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    scored = sorted(finished, key=lambda d: -(d.score.log_score if d.score else -math.inf))
    for i, done in enumerate(scored, start=1):
        sc = done.score
        assert sc is not None
        table.add_row(str(i), done.results.name, f"{sc.consistent}/{sc.observations}",
                      f"{sc.log_score:.2f}")
    return table


def best_points(done: runs.SweepDone, top: int) -> Table:
    job = done.job
    points = done.results.tables["points"].to_pylist()
    if job.observations:
        points.sort(key=lambda row: -row["score"])
    title = "Best points by score" if job.observations else "First points"
    table = Table(title=f"{job.scenario.name}: {title}")
    keep = [h for h in sweep.points_header(job) if h == "point" or h in job.design.names
            or h.endswith("_p50") or h in ("consistent", "score")]
    for name in keep:
        table.add_column(name, justify="right")
    for row in points[:top]:
        table.add_row(*(short(str(row[name])) for name in keep))
    return table


def posterior_table(name: str, cal: calibrate.Calibration, replicates: int) -> Table:
    """A calibration's posterior: per parameter, its prior range, median and 90% interval."""
    r = cal.result
    table = Table(title=f"{name}: posterior ({len(r.points)} particles, ESS {r.ess:,.0f}, "
                        f"{r.simulated:,} simulated draws x {replicates} replicates)")
    for col in ("parameter", "prior", "median", "90% interval"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for path, lo, hi, med, p05, p95 in cal.summary():
        table.add_row(path, f"{short(str(lo))} – {short(str(hi))}", short(str(med)),
                      f"{short(str(p05))} – {short(str(p95))}")
    table.caption = f"log marginal likelihood {r.log_evidence:.2f} ± {r.log_evidence_se:.2f} (Monte Carlo se)"
    return table


def models_table(evidence: list[tuple[str, float, float]], probs: list[tuple[float, float]]) -> Table:
    """Scenarios calibrated together: evidence and posterior probability, each ± its Monte Carlo se."""
    table = Table(title="Models compared (equal prior odds)")
    for col in ("scenario", "log marginal likelihood", "posterior probability"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for (name, logz, se), (p, pse) in zip(evidence, probs, strict=True):
        table.add_row(name, f"{logz:.2f} ± {se:.2f}", f"{p:.3f} ± {pse:.3f}")
    table.caption = "± one Monte Carlo standard error, from the spread of independent SMC islands"
    return table


def sobol_table(name: str, runs_done: int, replicates: int, rows: list[list[Any]]) -> Table:
    """Sobol indices at each output's last date (the CSV has every date)."""
    table = Table(title=f"{name}: Sobol indices ({runs_done} runs x {replicates} replicates)")
    for col in ("output", "date", "parameter", "S1", "ST", "noise"):
        table.add_column(col, justify="right" if col in ("S1", "ST", "noise") else "left")
    last_dates = {r[0]: r[2] for r in rows}
    for r in rows:
        if r[2] == last_dates[r[0]]:
            table.add_row(r[0], r[2], r[3], f"{float(r[4]):.2f} ± {float(r[5]):.2f}",
                          f"{float(r[6]):.2f} ± {float(r[7]):.2f}", f"{float(r[8]):.2f}")
    return table


def short(cell: str) -> str:
    try:
        x = float(cell)
    except ValueError:
        return cell
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
