"""Parameter sweeps: sweep points x replicates as lanes of the step engine, in chunks.

A chunk is a fixed run of consecutive points (about CHUNK_LANES lanes); its
random stream is spawned from the scenario seed and the chunk index only, so
results are the same whether chunks run in one process, a local pool or a Dask
cluster, and whether or not the sweep was interrupted and resumed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from flowsim import __version__
from flowsim.engines.plan import counter_names, make_plan
from flowsim.engines.step import StepEngine
from flowsim.experiments.chunkstore import ChunkStore
from flowsim.experiments.design import Design
from flowsim.experiments.executor import BLOCK, quiet_worker, stopping
from flowsim.model import obsmodel
from flowsim.model.errors import InputError, Origin
from flowsim.model.scenario import Observation, Scenario
from flowsim.outputs import compare, results

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


def run_chunk(job: Job, index: int) -> dict[str, np.ndarray]:
    """Simulate one chunk; return per-point numbers and its rows of every CSV, already formatted.

    Formatting here, in the worker, keeps the final assembly a concatenation.
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
    summary = np.moveaxis(results.population_stats(pops), 2, 0)  # (n, K, R, 7)
    flows = np.moveaxis(results.moved_stats(moved), 2, 0)  # (n, K-1, F, 4)
    final = pops[-1].astype(float)  # (R, n, reps)
    final_stats = np.concatenate([final.mean(-1)[..., None], results.quantiles(final, [5, 50, 95])], axis=-1)
    x, bias = x.reshape(-1, n, reps), bias.reshape(-1, n, reps)
    assessed = [compare.assess(x[:, p], bias[:, p], job.observations, job.comparison) for p in range(n)]
    rows = [r for r, _ in assessed]
    point_scores = np.array([float(g.sum()) for _, g in assessed])
    verdicts = np.array([[VERDICTS.index(r.verdict) for r in pr] for pr in rows], dtype=np.int64)
    s = job.scenario
    dates = results.date_strings(s.start, job.days)
    regions, counters = list(s.regions), list(counter_names(s))
    text = {
        "summary": (line for j, p in enumerate(points)
                    for line in results.stats_summary_rows(s.name, p, dates, job.days, regions, summary[j])),
        "flows": (line for j, p in enumerate(points)
                  for line in results.stats_flow_rows(s.name, p, dates, job.days, counters, flows[j])),
        "parameters": _parameter_lines(job, points, plan.drawn),
    }
    blocks = {f"text_{k}": _encode("".join(line + "\n" for line in lines)) for k, lines in text.items()}
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        row for j, p in enumerate(points) for row in compare.point_csv_rows(s.name, p, rows[j]))
    blocks["text_comparison"] = _encode(buf.getvalue())
    return {"score": point_scores, "verdicts": verdicts, "final": np.moveaxis(final_stats, 1, 0),
            "drawn_names": np.array(list(plan.drawn), dtype=str), **blocks}


def _encode(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _parameter_lines(job: Job, points: range, drawn: dict[str, np.ndarray]) -> Iterator[str]:
    columns = [v.tolist() for v in drawn.values()]
    reps = job.replicates
    for j, p in enumerate(points):
        swept = [repr(float(v)) for v in job.design.points[p]]
        for r in range(reps):
            lane = j * reps + r
            yield ",".join([str(p), str(r), *swept, *(repr(c[lane]) for c in columns)])


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
        ctx = multiprocessing.get_context("fork")
        with (ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=quiet_worker) as pool,
              stopping(pool)):
            futures: dict[Future[Result], int] = {pool.submit(_guarded, job, i): i for i in todo}
            for fut in as_completed(futures):
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


def write(job: Job, outcome: Outcome, staged: results.Staged, meta: dict[str, Any]) -> list[tuple[float, list[str]]]:
    """Write every output of the finished chunks, in point order; return (score, points row) pairs."""
    order = sorted(outcome.chunks)

    def joined(kind: str, header: list[str]) -> bytes:
        return (",".join(header) + "\n").encode() + b"".join(outcome.chunks[i][f"text_{kind}"].tobytes()
                                                             for i in order)

    drawn = [str(k) for k in outcome.chunks[order[0]]["drawn_names"]] if order else []
    staged.bytes("summary.csv", joined("summary", results.SUMMARY))
    staged.bytes("flows.csv", joined("flows", results.FLOWS))
    staged.bytes("parameters.csv", joined("parameters", ["point", "replicate", *job.design.names, *drawn]))
    if job.observations:
        staged.bytes("comparison.csv", joined("comparison", compare.COLUMNS))
    scored = []
    for i in order:
        chunk = outcome.chunks[i]
        for j, p in enumerate(job.chunks()[i]):
            row = [str(p), *(repr(float(v)) for v in job.design.points[p])]
            row += [results.fmt(v) for r in range(len(job.scenario.regions)) for v in chunk["final"][j, r]]
            score = float("-inf")
            if job.observations:
                score = float(chunk["score"][j])
                row += [str(int((chunk["verdicts"][j] == 0).sum())), f"{score:.4f}"]
            scored.append((score, row))
    staged.csv("points.csv", points_header(job), (row for _, row in scored))
    staged.remove(*results.RUN_FILES)
    staged.json("run.json", meta)
    return scored
