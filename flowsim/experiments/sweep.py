"""Parameter sweeps: sweep points x replicates as lanes of the step engine, in chunks.

A chunk is a fixed run of consecutive points (about CHUNK_LANES lanes); its
random stream is spawned from the scenario seed and the chunk index only, so
results are the same whether chunks run in one process, a local pool or a Dask
cluster, and whether or not the sweep was interrupted and resumed.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from flowsim import __version__
from flowsim.engines.plan import counter_names, make_plan
from flowsim.engines.step import StepEngine
from flowsim.experiments.chunkstore import ChunkStore
from flowsim.experiments.design import Design
from flowsim.experiments.executor import BLOCK, submit_all, worker_pool
from flowsim.model import obsmodel
from flowsim.model.errors import InputError, Origin
from flowsim.model.scenario import Observation, Scenario
from flowsim.outputs import compare, records
from flowsim.outputs.results import Results

CHUNK_LANES = 8192
SWEEP_STREAM = 7_000_002
VERDICTS = ("consistent", "too high", "too low")


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to simulate any chunk of a sweep (picklable)."""

    scenario: Scenario
    design: Design
    replicates: int
    seed: int
    days: np.ndarray
    observations: list[Observation]
    comparison: compare.Settings
    mode: Literal["full", "scores", "means"] = "full"
    """full: every output file; scores: each point's likelihood estimate (calibration);
    means: each point's mean population per record day and region (sensitivity)."""
    chunk_lanes: int = CHUNK_LANES

    @property
    def per_chunk(self) -> int:
        return max(1, self.chunk_lanes // self.replicates)

    @property
    def n_points(self) -> int:
        return len(self.design.points)

    def chunks(self) -> list[range]:
        n, k = self.n_points, self.per_chunk
        return [range(i, min(i + k, n)) for i in range(0, n, k)]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (__version__, self.mode, self.scenario.model_dump_json(by_alias=True), self.design.method,
                     json.dumps(self.design.names), self.replicates, self.seed, self.chunk_lanes, BLOCK,
                     json.dumps([o.model_dump(mode="json") for o in self.observations]),
                     repr(self.comparison)):
            h.update(str(part).encode())
        h.update(self.design.points.tobytes())
        h.update(self.days.tobytes())
        return h.hexdigest()[:16]


def run_chunk(job: Job, index: int) -> dict[str, Any]:
    """Simulate one chunk; return per-point arrays and its part of every result table.

    Tables are built here, in the worker, so the final assembly is a concatenation
    and finished chunks on disk are Parquet files that DuckDB or pandas read.
    """
    points = job.chunks()[index]
    reps = job.replicates
    lanes = len(points) * reps
    fixed = {name: np.repeat(job.design.points[points.start:points.stop, a], reps)
             for a, name in enumerate(job.design.names)}
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(job.seed, spawn_key=(SWEEP_STREAM, index))))
    plan = make_plan(job.scenario, rng, lanes, fixed=fixed, days=job.days)
    out = StepEngine(plan, rng).run()
    n = len(points)
    pops = out.populations.reshape(*out.populations.shape[:2], n, reps)  # (K, R, n, reps)
    if job.mode == "means":  # and the within-point variance over replicates (ddof=1; NaN for 1 replicate)
        var = pops.var(axis=-1, ddof=1) if reps > 1 else np.full(pops.shape[:-1], np.nan)
        return {"means": np.moveaxis(pops.mean(axis=-1), 2, 0), "variances": np.moveaxis(var, 2, 0)}  # (n, K, R)
    x = compare.observed(out.populations, job.days, job.scenario, job.observations)
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


@dataclass
class Outcome:
    chunks: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    reused: int = 0


def execute(job: Job, store: ChunkStore, *, workers: int = 1, scheduler: str | None = None,
            resume: bool = False, advance: Callable[[int], None] = lambda n: None) -> Outcome:
    """Run every chunk not already in the store; record failures and go on."""
    client = connect(scheduler) if scheduler else None  # before touching the store: a bad address changes nothing
    store.prepare(resume)
    plan = job.chunks()
    outcome = Outcome()
    finished = store.done() if resume else set()
    for i in sorted(finished):
        outcome.chunks[i] = store.load(i)
        advance(len(plan[i]))
    outcome.reused = len(finished)
    todo = [i for i in range(len(plan)) if i not in finished]

    def record(i: int, result: dict[str, np.ndarray] | None, error: str | None) -> None:
        if result is not None:
            store.save(i, result)
            outcome.chunks[i] = result
        else:
            store.fail(i, error or "")
            outcome.failures[i] = error or ""
        advance(len(plan[i]))

    try:
        for i, result, error in _dispatch(job, todo, workers, client):
            record(i, result, error)
    except KeyboardInterrupt:
        raise Interrupted(f"{len(store.done())} finished chunks kept in {store.dir}; "
                          "rerun with --resume to go on from them") from None
    return outcome


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep; says what was kept."""

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept


Result = tuple[int, dict[str, np.ndarray] | None, str | None]


def _dispatch(job: Job, todo: list[int], workers: int, client: Any) -> Iterator[Result]:
    if client is not None:
        yield from _dask(job, todo, client)
    elif workers <= 1 or len(todo) <= 1:
        for i in todo:
            yield _guarded(job, i)
    else:
        with worker_pool(min(workers, len(todo))) as pool:  # work and arguments pickle: any start method
            for fut in as_completed(submit_all(pool, _guarded, ((job, i) for i in todo))):
                yield fut.result()


def _guarded(job: Job, i: int) -> Result:
    try:
        return i, run_chunk(job, i), None
    except Exception:  # a failing chunk is recorded, the sweep goes on
        return i, None, traceback.format_exc()


def connect(address: str) -> Any:
    """A Dask client for `address`, or an InputError saying why there is none."""
    origin = Origin(f"--scheduler {address}")
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError(origin, "scheduler", address, "needs Dask: pip install 'flowsim[distributed]'") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(origin, "scheduler", address, f"cannot connect: {exc}") from None


def _dask(job: Job, todo: list[int], client: Any) -> Iterator[Result]:
    from dask.distributed import as_completed as dask_completed

    try:
        shared = client.scatter(job, broadcast=True)
        futures: dict[Any, int] = {client.submit(_guarded, shared, i, pure=False): i for i in todo}
        for fut in dask_completed(list(futures)):
            yield fut.result()
    finally:
        client.close()


def failed_points(job: Job, outcome: Outcome) -> list[int]:
    plan = job.chunks()
    return [p for i in sorted(outcome.failures) for p in plan[i]]


def points_header(job: Job) -> list[str]:
    cols = ["point", *job.design.names]
    for region in job.scenario.regions:
        cols += [f"{region}_mean", f"{region}_p05", f"{region}_p50", f"{region}_p95"]
    if job.observations:
        cols += ["consistent", "score"]
    return cols


def to_results(job: Job, outcome: Outcome, meta: dict[str, Any]) -> Results:
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
