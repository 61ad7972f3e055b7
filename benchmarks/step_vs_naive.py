"""Step engine vs a naive one-SimPy-process-per-person model, on the two-region benchmark.

Both are timed in this one run, so the ratio is meaningful on a shared machine.
Usage: python benchmarks/step_vs_naive.py [--replicates 10000] [--naive 3]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import simpy

from flowsim.experiments.executor import simulate
from flowsim.model.scenario import load_scenario

HERE = Path(__file__).parent
DAYS = 365
A0, B0, LAM_A, LAM_B, FRACTION, ATTRITION = 31000, 2500, 80.0, 10.0, 0.25, 0.004


def analytic() -> tuple[float, float]:
    p = math.exp(-ATTRITION * DAYS)
    inflow_a, inflow_b = LAM_A * (1 - FRACTION), LAM_B + LAM_A * FRACTION
    return A0 * p + inflow_a / ATTRITION * (1 - p), B0 * p + inflow_b / ATTRITION * (1 - p)


def naive_replicate(seed: int) -> tuple[int, int]:
    """Every fighter is a SimPy process that lives an exponential time, then leaves."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    count = {"A": 0, "B": 0}

    def person(region: str):  # type: ignore[no-untyped-def]
        count[region] += 1
        yield env.timeout(rng.exponential(1 / ATTRITION))
        count[region] -= 1

    def recruitment(rate: float, region: str, divert: float):  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(rng.exponential(1 / rate))
            to = "B" if divert and rng.random() < divert else region
            env.process(person(to))

    for _ in range(A0):
        env.process(person("A"))
    for _ in range(B0):
        env.process(person("B"))
    env.process(recruitment(LAM_A, "A", FRACTION))
    env.process(recruitment(LAM_B, "B", 0.0))
    env.run(until=DAYS)
    return count["A"], count["B"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=3, help="replicates of the naive model (>= 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    s, _ = load_scenario(HERE / "two_region.yaml")
    simulate(s, replicates=200, workers=1)  # warm imports and caches
    t0 = time.perf_counter()
    sim = simulate(s, replicates=args.replicates, workers=args.workers)
    step = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulate(s, replicates=args.replicates, workers=1)
    step_one = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive = [naive_replicate(seed) for seed in range(args.naive)]
    slow = time.perf_counter() - t0

    ea, eb = analytic()
    final = sim.populations[-1].astype(float)
    per_step = step / args.replicates
    per_naive = slow / args.naive
    print(f"two-region benchmark, {DAYS} days, machine: {os.cpu_count()} CPUs")
    print(f"step engine : {args.replicates} replicates in {step:.3f} s with {args.workers} workers "
          f"({step_one:.3f} s with 1) -> {per_step * 1e6:.1f} us per replicate")
    print(f"naive SimPy : {args.naive} replicates in {slow:.2f} s -> {per_naive * 1e3:.0f} ms per replicate")
    print(f"ratio       : naive / step = {per_naive / per_step:,.0f}x per replicate")
    print(f"analytic    : A = {ea:,.1f}  B = {eb:,.1f}")
    print(f"step mean   : A = {final[0].mean():,.1f} (sd {final[0].std():.1f})  "
          f"B = {final[1].mean():,.1f} (sd {final[1].std():.1f})")
    print(f"naive       : A = {np.mean([a for a, _ in naive]):,.1f}  B = {np.mean([b for _, b in naive]):,.1f}")


if __name__ == "__main__":
    main()
