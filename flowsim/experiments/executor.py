"""Run a scenario: split replicates into fixed blocks, seed each block, gather the lanes.

Seeds depend only on (scenario seed, point, block), never on how many threads or
processes ran the blocks, so results are identical whatever the parallelism.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from flowsim.engines.gillespie import EventEngine
from flowsim.engines.plan import Plan, make_plan, record_days
from flowsim.engines.step import MeanFieldEngine, Outcome, StepEngine
from flowsim.model.scenario import Scenario


class Engine(Protocol):
    def run(self) -> Outcome: ...


ENGINES: dict[str, Callable[[Plan, np.random.Generator, Callable[[int], None] | None], Engine]] = {
    "step": StepEngine, "event": EventEngine, "meanfield": MeanFieldEngine,
}
BLOCK = 2048
"""Replicates per block. Part of the random-stream layout: changing it changes results."""


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


def quiet_worker() -> None:
    """Workers leave Ctrl-C and SIGTERM to the parent, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def stopping(pool: ProcessPoolExecutor) -> Iterator[None]:
    """On Ctrl-C or SIGTERM, stop the workers at once instead of waiting for their tasks."""
    try:
        yield
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):  # no public API to stop running tasks
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def block_rng(seed: int, point: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(point, block))))


def run_block(
    s: Scenario,
    seed: int,
    point: int,
    block: int,
    lanes: int,
    days: np.ndarray,
    fixed: dict[str, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
    engine: str = "step",
) -> tuple[Plan, Outcome]:
    rng = block_rng(seed, point, block)
    plan = make_plan(s, rng, lanes, fixed=fixed, days=days)
    return plan, ENGINES[engine](plan, rng, progress).run()


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
    """Simulate every replicate of one point, in blocks; `progress` gets lane-days done.

    With `workers` > 1 the blocks run in a pool of forked processes; the result
    is the same as with one, since each block has its own random stream.
    """
    n = s.replicates if replicates is None else replicates
    seed = s.seed if seed is None else seed
    days = record_days(s, extra_days)
    sizes = [min(BLOCK, n - start) for start in range(0, n, BLOCK)]
    workers = max(1, min(workers, len(sizes)))
    if workers == 1:
        def per_day(lanes: int) -> Callable[[int], None] | None:
            return None if progress is None else (lambda d: progress(d * lanes))

        results = [
            run_block(s, seed, 0, b, size, days, None, per_day(size), engine)
            for b, size in enumerate(sizes)
        ]
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=quiet_worker) as pool, stopping(pool):
            futures = [
                pool.submit(run_block, s, seed, 0, b, size, days, None, None, engine)
                for b, size in enumerate(sizes)
            ]
            results = []
            for fut, size in zip(futures, sizes, strict=True):
                results.append(fut.result())
                if progress is not None:
                    progress(size * s.days)
    plans = [p for p, _ in results]
    outs = [o for _, o in results]
    return Simulation(
        scenario=s,
        point=0,
        days=days,
        populations=np.concatenate([o.populations for o in outs], axis=2),
        moved=np.concatenate([o.moved for o in outs], axis=2),
        in_transit=np.concatenate([o.in_transit for o in outs]),
        drawn={k: np.concatenate([p.drawn[k] for p in plans]) for k in plans[0].drawn},
        counters=plans[0].counters,
        biases={k: np.concatenate([p.params[k] for p in plans]) for k in plans[0].params if k.startswith("biases.")},
    )
