"""The one executor: any job's chunks, in this process, a pool of workers or a Dask cluster, resumable.

Runs, sweeps, calibration rounds and Sobol samples all go through `execute`;
each chunk's random stream comes from `job.rng` (see seeding.py), so results
are the same whatever ran the chunks and whether or not the job was resumed.
A run is a job of one point whose chunks are blocks of replicates (`simulate`).
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowsim.engines.plan import record_days
from flowsim.experiments.chunks import run_chunk
from flowsim.experiments.chunkstore import ChunkStore
from flowsim.experiments.design import Design
from flowsim.experiments.job import Job
from flowsim.experiments.pools import submit_all, worker_pool
from flowsim.model.errors import InputError, Origin
from flowsim.model.scenario import Scenario
from flowsim.outputs.compare import Settings
from flowsim.outputs.records import Simulation


@dataclass
class Chunks:
    """A job's finished chunks (by index), its failed ones with their tracebacks, and how many were reused."""

    chunks: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    reused: int = 0


def execute(job: Job, store: ChunkStore | None = None, *, workers: int = 1, scheduler: str | None = None,
            resume: bool = False, advance: Callable[[int], None] = lambda n: None) -> Chunks:
    """Run every chunk not already in the store (none: keep results in memory); record failures and go on.

    In one process, a run's chunks report progress day by day; in a pool or on
    Dask, chunk by chunk (`advance` gets `job.work` units).
    """
    client = connect(scheduler) if scheduler else None  # before touching the store: a bad address changes nothing
    if store is None:
        return _execute(job, None, workers, client, resume, advance)
    try:
        with store.locked():  # another job on this folder is refused, not allowed to delete our chunks
            return _execute(job, store, workers, client, resume, advance)
    finally:
        if client is not None:
            client.close()


def _execute(job: Job, store: ChunkStore | None, workers: int, client: Any, resume: bool,
             advance: Callable[[int], None]) -> Chunks:
    if store is not None:
        store.prepare(resume)
    n = len(job.blocks())
    outcome = Chunks()
    finished = store.done() if (resume and store is not None) else set()
    for i in sorted(finished):
        assert store is not None
        outcome.chunks[i] = store.load(i)
        advance(job.work(i))
    outcome.reused = len(finished)
    todo = [i for i in range(n) if i not in finished]
    daily = job.mode == "lanes" and client is None and (workers <= 1 or len(todo) <= 1)

    def record(i: int, result: dict[str, Any] | None, error: str | None) -> None:
        if result is not None:
            if store is not None:
                store.save(i, result)
            outcome.chunks[i] = result
        else:
            if store is not None:
                store.fail(i, error or "")
            outcome.failures[i] = error or ""
        if not daily:
            advance(job.work(i))

    try:
        for i, result, error in _dispatch(job, todo, workers, client, advance if daily else None):
            record(i, result, error)
    except KeyboardInterrupt:
        if store is None:
            raise
        raise Interrupted(f"{len(store.done())} finished chunks kept in {store.dir}; "
                          "rerun with --resume to go on from them") from None
    except ClusterLost as exc:
        kept = f"{len(store.done())} finished chunks kept in {store.dir}; " if store is not None else ""
        raise ClusterLost(f"lost the Dask cluster mid-job ({exc}); no result files written; {kept}"
                          "rerun with --resume when the scheduler and workers are back") from None
    return outcome


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep; says what was kept."""

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept


Result = tuple[int, dict[str, Any] | None, str | None]


_shared: list[tuple[int, ProcessPoolExecutor]] = []


@contextlib.contextmanager
def shared_pool(workers: int) -> Iterator[None]:
    """One pool of `workers` processes for every job run inside the block (a calibration's rounds),
    so workers start once instead of once per job."""
    if workers <= 1:
        yield
        return
    with worker_pool(workers) as pool:
        # start the workers now, before any chunk store is locked: a forked worker started later would
        # inherit the lock of the round it started in and hold it into the next
        for fut in submit_all(pool, _started, ((),) * workers):
            fut.result()
        _shared.append((workers, pool))
        try:
            yield
        finally:
            _shared.pop()


def _started() -> None:
    """A task that only makes a pool start its worker."""


def _dispatch(job: Job, todo: list[int], workers: int, client: Any,
              advance: Callable[[int], None] | None = None) -> Iterator[Result]:
    if client is not None:
        yield from _dask(job, todo, client)
    elif workers <= 1 or len(todo) <= 1:
        for i in todo:
            yield _guarded(job, i, None if advance is None else _per_day(advance, job.blocks()[i].lanes))
    elif _shared and _shared[-1][0] == workers:
        for fut in as_completed(submit_all(_shared[-1][1], _guarded, ((job, i) for i in todo))):
            yield fut.result()
    else:
        with worker_pool(min(workers, len(todo))) as pool:  # work and arguments pickle: any start method
            for fut in as_completed(submit_all(pool, _guarded, ((job, i) for i in todo))):
                yield fut.result()


def _per_day(advance: Callable[[int], None], lanes: int) -> Callable[[int], None]:
    return lambda days: advance(days * lanes)


def _guarded(job: Job, i: int, progress: Callable[[int], None] | None = None) -> Result:
    try:
        return i, run_chunk(job, i, progress), None
    except Exception:  # a failing chunk is recorded, the job goes on
        if job.mode == "lanes":
            raise  # a run has no chunk store to record it in: a bug, shown as such
        return i, None, traceback.format_exc()


CONNECT_TIMEOUT = 10.0
"""Seconds to reach a Dask scheduler and hear it answer as one; anything else at that address is refused."""


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A Dask client for `address`, or an InputError saying why there is none.

    Dask's own timeout covers the connection, not a server that accepts it and then
    never answers (an HTTP server) or answers something else (which Dask may read as
    a frame of exabytes): the client is made in a daemon thread that is given up on
    after `timeout` seconds, and any error of the handshake is a refusal.
    """
    origin = Origin(f"--scheduler {address}")
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError(origin, "scheduler", address, "needs Dask: pip install 'flowsim[distributed]'") from None
    import threading

    made: list[Any] = []
    failed: list[BaseException] = []

    def attempt() -> None:
        try:
            made.append(Client(address, timeout=f"{timeout}s"))
        except BaseException as exc:  # every failure is reported below
            failed.append(exc)

    thread = threading.Thread(target=attempt, name="flowsim-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if made:
        return made[0]
    if failed:
        exc = failed[0]
        why = "not a Dask scheduler (its answer is not Dask's)" if isinstance(exc, MemoryError) else str(exc)
        raise InputError(origin, "scheduler", address, f"cannot connect: {why or type(exc).__name__}")
    raise InputError(origin, "scheduler", address,
                     f"no Dask scheduler answered within {timeout:g} s (is it a Dask scheduler's address?)")


class ClusterLost(Exception):
    """The Dask scheduler or its workers went away mid-job; the finished chunks are kept for --resume."""


EXIT_CLUSTER_LOST = 4


def _dask(job: Job, todo: list[int], client: Any) -> Iterator[Result]:
    from asyncio import CancelledError

    from dask.distributed import as_completed as dask_completed

    try:
        shared = client.scatter(job, broadcast=True)
        futures: dict[Any, int] = {client.submit(_guarded, shared, i, pure=False): i for i in todo}
        for fut in dask_completed(list(futures)):
            yield fut.result()  # a chunk's own errors come back as results (_guarded): this is the cluster
    except (Exception, CancelledError) as exc:
        raise ClusterLost(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None


def failed_points(job: Job, outcome: Chunks) -> list[int]:
    plan = job.chunks()
    return [p for i in sorted(outcome.failures) for p in plan[i]]




def simulate(
    s: Scenario,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    extra_days: list[int] | None = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    engine: str = "step",
) -> Simulation:
    """Simulate every replicate of one point (a job of one point, in blocks); `progress` gets lane-days done."""
    n = s.replicates if replicates is None else replicates
    job = Job(s, Design("grid", (), np.zeros((1, 0))), n, s.seed if seed is None else seed,
              record_days(s, extra_days), [], Settings(), mode="lanes", engine=engine, layout="blocks")
    outcome = execute(job, None, workers=workers, advance=progress or (lambda k: None))
    parts = [outcome.chunks[i] for i in range(len(job.blocks()))]
    first = parts[0]
    return Simulation(
        scenario=s,
        point=0,
        days=job.days,
        populations=np.concatenate([p["populations"] for p in parts], axis=2),
        moved=np.concatenate([p["moved"] for p in parts], axis=2),
        in_transit=np.concatenate([p["in_transit"] for p in parts]),
        drawn={k: np.concatenate([p["drawn"][k] for p in parts]) for k in first["drawn"]},
        counters=first["counters"],
        biases={k: np.concatenate([p["biases"][k] for p in parts]) for k in first["biases"]},
    )
