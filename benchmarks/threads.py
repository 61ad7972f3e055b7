"""Threads or processes for blocks of lanes: the same job run three ways, in one run.

numpy's generators release the GIL while they draw, so a thread per block could
overlap blocks without a process pool's start-up. This times one job (the
two-region benchmark, 10,000 replicates, weekly records, blocks of 2,048 lanes)
run (a) block after block in this process, (b) on a thread pool, (c) on flowsim's
process pool (what `--workers` uses), each with 2 workers, for the step and the
leap engine, and checks the three give identical arrays (each block has its own
seeded generator).

Usage: python benchmarks/threads.py [--replicates 10000] [--workers 2] [--repeats 3] [--every 7]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from flowsim.engines.plan import record_days
from flowsim.experiments.chunks import run_chunk
from flowsim.experiments.design import Design
from flowsim.experiments.executor import execute
from flowsim.experiments.job import Job
from flowsim.model.scenario import load_scenario
from flowsim.outputs.compare import Settings

SCENARIO = Path(__file__).resolve().parent / "two_region.yaml"


def best(fn: Callable[[], list[dict[str, Any]]], repeats: int) -> tuple[float, list[dict[str, Any]]]:
    seconds, out = math.inf, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - t0)
    return seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=7, help="days between records")
    args = parser.parse_args()
    s, _ = load_scenario(SCENARIO, [f"report_every={args.every}"])
    print(f"{args.replicates:,} replicates x {s.days} days, records every {args.every} days, "
          f"{args.workers} workers, best of {args.repeats}")
    for engine in ("step", "leap"):
        job = Job(s, Design("grid", (), np.zeros((1, 0))), args.replicates, 1, record_days(s), [], Settings(),
                  mode="lanes", engine=engine, layout="blocks")
        times, same = three_ways(job, args.workers, args.repeats)
        line = ", ".join(f"{name} {t:.2f} s" for name, t in times.items())
        print(f"{engine}: {line}; threads / processes = {times['threads'] / times['processes']:.2f}; "
              f"identical: {same}")


def three_ways(job: Job, workers: int, repeats: int) -> tuple[dict[str, float], bool]:
    """Best times of the job in one process, on threads and on processes; whether all three agree."""
    blocks = range(len(job.blocks()))

    def serial() -> list[dict[str, Any]]:
        return [run_chunk(job, i) for i in blocks]

    def threads() -> list[dict[str, Any]]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda i: run_chunk(job, i), blocks))

    def processes() -> list[dict[str, Any]]:
        outcome = execute(job, None, workers=workers, advance=lambda k: None)
        return [outcome.chunks[i] for i in blocks]

    times, results = {}, {}
    for name, fn in (("one process", serial), ("threads", threads), ("processes", processes)):
        times[name], results[name] = best(fn, repeats)
    same = all(np.array_equal(a["populations"], b["populations"])
               for other in ("threads", "processes")
               for a, b in zip(results["one process"], results[other], strict=True))
    return times, same

if __name__ == "__main__":
    main()
