"""What a worker does with one chunk of a job: simulate its lanes, then reduce them as the job's mode says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from flowsim.engines.plan import counter_names, make_plan
from flowsim.engines.registry import ENGINES
from flowsim.experiments.job import Job
from flowsim.model import obsmodel
from flowsim.outputs import compare, records

VERDICTS = ("consistent", "too high", "too low")


def run_chunk(job: Job, index: int, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Simulate chunk `index` of a job and reduce it as its mode says; `progress` gets days done.

    Reductions happen here, in the worker, so what travels back is small and the
    final assembly is a concatenation (finished chunks on disk are Parquet tables).
    """
    chunk = job.blocks()[index]
    points, reps = chunk.points, len(chunk.replicates)
    lanes = chunk.lanes
    fixed = {name: np.repeat(job.design.points[points.start:points.stop, a], reps)
             for a, name in enumerate(job.design.names)}
    rng = job.rng(index)
    plan = make_plan(job.scenario, rng, lanes, fixed=fixed, days=job.days)
    out = ENGINES[job.engine](plan, rng, progress).run()
    if job.mode == "lanes":  # a run: every lane's path, gathered by the caller
        return {"populations": out.populations, "moved": out.moved, "in_transit": out.in_transit,
                "drawn": dict(plan.drawn), "counters": plan.counters,
                "biases": {k: v for k, v in plan.params.items() if k.startswith("biases.")}}
    n = len(points)
    pops = out.populations.reshape(*out.populations.shape[:2], n, reps)  # (K, R, n, reps)
    if job.mode == "means":  # and the within-point variance over replicates (ddof=1; NaN for 1 replicate)
        var = pops.var(axis=-1, ddof=1) if reps > 1 else np.full(pops.shape[:-1], np.nan)
        return {"means": np.moveaxis(pops.mean(axis=-1), 2, 0), "variances": np.moveaxis(var, 2, 0)}  # (n, K, R)
    x = compare.observed(out.populations, job.days, job.scenario, job.observations, out.moved)
    ms = obsmodel.measurements(job.observations, job.comparison.tolerance)
    bias = obsmodel.biases(ms, plan.params, lanes)
    if job.mode == "scores":  # the likelihood estimate of each draw
        ll = obsmodel.loglik(x, ms, bias).reshape(-1, n, reps)
        return {"loglik": obsmodel.draw_loglik(ll, ms)}
    moved = out.moved.reshape(*out.moved.shape[:2], n, reps)
    final = pops[-1].astype(float)  # (R, n, reps)
    final_stats = np.concatenate([final.mean(-1)[..., None], records.quantiles(final, [5, 50, 95])], axis=-1)
    x, bias = x.reshape(-1, n, reps), bias.reshape(-1, n, reps)
    assessed = [compare.assess(x[:, p], bias[:, p], job.observations, job.comparison) for p in range(n)]
    rows = [r for r, _ in assessed]
    s = job.scenario
    ids = list(points)
    tables = {
        "summary": records.summary(s.name, ids, s.start, job.days, list(s.regions),
                                   np.moveaxis(records.population_stats(pops), 2, 0)),
        "flows": records.flows(s.name, ids, s.start, job.days, list(counter_names(s)),
                               np.moveaxis(records.moved_stats(moved), 2, 0)),
        "parameters": records.parameters(ids, reps, dict(zip(job.design.names, job.design.points[
            points.start:points.stop].T, strict=True)), dict(plan.drawn)),
    }
    if job.observations:
        tables["comparison"] = compare.table(s.name, ids, rows)
    return {"score": np.array([float(g.sum()) for _, g in assessed]),
            "verdicts": np.array([[VERDICTS.index(r.verdict) for r in pr] for pr in rows], dtype=np.int64),
            "final": np.moveaxis(final_stats, 1, 0), "tables": tables}
