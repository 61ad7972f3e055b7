"""Parameter sweeps: the finished chunks of a sweep job assembled into its tables (points.csv and the rest).

A sweep is a job of many points (`job.py`) run by `executor.execute`; each chunk
of whole points has its own random stream, so results are the same whether
chunks ran in one process, a pool or a Dask cluster, resumed or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowsim.experiments.executor import Chunks
from flowsim.experiments.job import Job
from flowsim.outputs import records
from flowsim.outputs.results import Results


def points_header(job: Job) -> list[str]:
    cols = ["point", *job.design.names]
    for region in job.scenario.regions:
        cols += [f"{region}_mean", f"{region}_p05", f"{region}_p50", f"{region}_p95"]
    if job.observations:
        cols += ["consistent", "score"]
    return cols


def to_results(job: Job, outcome: Chunks, meta: dict[str, Any]) -> Results:
    """The sweep's tables, from the finished chunks in point order (points.csv: one row per point)."""
    import pyarrow as pa

    order = sorted(outcome.chunks)
    chunks = [outcome.chunks[i] for i in order]
    tables: dict[str, pa.Table] = {}
    if chunks:
        for name in chunks[0]["tables"]:
            tables[name] = records.concat([c["tables"][name] for c in chunks])
    ids = np.array([p for i in order for p in job.chunks()[i]], dtype=np.int64)
    cols: dict[str, Any] = {"point": ids}
    for a, name in enumerate(job.design.names):
        cols[name] = job.design.points[ids, a] if len(ids) else np.zeros(0)
    final = np.concatenate([c["final"] for c in chunks]) if chunks else np.zeros((0, len(job.scenario.regions), 4))
    for r, region in enumerate(job.scenario.regions):
        for k, stat in enumerate(("mean", "p05", "p50", "p95")):
            cols[f"{region}_{stat}"] = np.round(final[:, r, k], records.DECIMALS) + 0.0
    if job.observations:
        verdicts = np.concatenate([c["verdicts"] for c in chunks]) if chunks else np.zeros((0, 0), dtype=np.int64)
        cols["consistent"] = (verdicts == 0).sum(axis=1).astype(np.int64)
        cols["score"] = np.round(np.concatenate([c["score"] for c in chunks]), 4) + 0.0 if chunks else np.zeros(0)
    tables["points"] = pa.table(cols)
    s = job.scenario
    return Results(s.name, tables, meta, s.start, job.days, tuple(s.regions))
