"""Writing trajectories: CSV and Parquet time against the simulation's own time, measured in one run.

5,000 replicates x 731 days of scenarios/diversion.yaml, daily records
(report_every 1), every replicate's path written. The bars of the "Results as
data" issue: CSV in no more time than the simulation, Parquet in under a fifth.

Each time is the best of --repeats runs (the simulation's too), so the ratios
compare like with like on a shared, noisy machine.

Usage: python benchmarks/write_speed.py [--replicates 5000] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import flowsim
from flowsim.outputs.formats import write

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    simulation, total = float("inf"), float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = flowsim.run(ROOT / "scenarios/diversion.yaml", replicates=args.replicates, workers=args.workers,
                          trajectories=True, set={"report_every": 1})
        total = min(total, time.perf_counter() - t0)
        simulation = min(simulation, res.meta["wall_time_s"])
    table = res.tables["trajectories"]
    with tempfile.TemporaryDirectory() as tmp:
        sizes, times = {}, {}
        for fmt in ("csv", "parquet"):
            path = Path(tmp) / f"trajectories.{fmt}"
            times[fmt] = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                write(table, path, fmt)
                times[fmt] = min(times[fmt], time.perf_counter() - t0)
            sizes[fmt] = path.stat().st_size / 1e6
    records = 0 if res.days is None else len(res.days)
    print(f"{args.replicates} replicates x {records} records, {table.num_rows:,} rows; "
          f"simulation {simulation:.2f} s (whole run() {total:.2f} s)")
    for fmt in ("csv", "parquet"):
        print(f"{fmt:8s} {times[fmt]:6.2f} s  {sizes[fmt]:7.1f} MB  {times[fmt] / simulation:5.2f} x the simulation, "
              f"{times[fmt] / total:5.2f} x the whole run()")


if __name__ == "__main__":
    main()
