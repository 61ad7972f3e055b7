"""Time 10,000 replicates of scenarios/world.yaml (8 regions, 28 flows, mid-2014 to 2019) through the API.

The issue's bar: "10,000 replicates in seconds, not minutes". Times `flowsim.run` (loading,
planning, simulating, summarising and comparing with reported-world.csv; nothing written),
and in the same run the two-region benchmark (benchmarks/two_region.yaml: 2 regions, 4 flows,
365 days), so the ratio of the costs per replicate-day is measured on the same machine.

Usage: python benchmarks/world.py [--replicates 10000] [--workers 2] [--repeats 1] [--engine leap] [--scenario PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import flowsim

ROOT = Path(__file__).resolve().parent.parent


def timed(path: Path, replicates: int, workers: int, repeats: int, engine: str) -> tuple[float, object]:
    """Best wall time of `repeats` runs, and the last result."""
    best, res = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = flowsim.run(path, replicates=replicates, workers=workers, engine=engine)
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="report the best of this many runs")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios/world.yaml")
    parser.add_argument("--engine", default="leap", help="leap (flowsim's default) or step")
    args = parser.parse_args()

    world = flowsim.load(args.scenario).scenario
    two = flowsim.load(ROOT / "benchmarks/two_region.yaml").scenario
    w_days, t_days = world.days + 1, two.days + 1  # the run covers start..end inclusive

    wall, res = timed(args.scenario, args.replicates, args.workers, args.repeats, args.engine)
    wall2, _ = timed(ROOT / "benchmarks/two_region.yaml", args.replicates, args.workers, args.repeats, args.engine)

    per_rd = wall / (args.replicates * w_days)
    per_rd2 = wall2 / (args.replicates * t_days)
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"flowsim {flowsim.__version__}; {args.engine} engine, {args.workers} workers, best of {args.repeats}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"world      : {len(world.regions)} regions, {len(world.flows)} flows, {len(world.events)} events, "
          f"{w_days:,} days ({world.start} to {world.end})")
    print(f"wall time  : {wall:.2f} s for {args.replicates:,} replicates "
          f"({wall / args.replicates * 1e3:.3f} ms per replicate)")
    print(f"per rep-day: {per_rd * 1e9:.0f} ns ({args.replicates * w_days / wall / 1e6:.1f} M replicate-days/s)")
    print(f"two-region : {wall2:.2f} s for {args.replicates:,} replicates x {t_days} days, "
          f"{per_rd2 * 1e9:.0f} ns per replicate-day")
    print(f"ratio      : world costs {per_rd / per_rd2:.1f}x the two-region benchmark per replicate-day "
          f"({len(world.flows) / len(two.flows):.1f}x its flows, {len(world.regions) / len(two.regions):.1f}x "
          "its regions)")
    meta = getattr(res, "meta", {}) or {}
    score = meta.get("comparison")
    if score is not None:
        print(f"comparison : {score}")


if __name__ == "__main__":
    main()
