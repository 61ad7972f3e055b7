"""Leap vs daily step vs a plain-numpy daily reference, as whole processes, in one run.

The two-region benchmark (benchmarks/two_region.yaml: 10,000 replicates x 365 days)
with yearly, monthly and weekly records. Each timing is the best of --repeats runs
of a whole process (Python start-up and imports included):

- reference: the exact daily scheme written directly in numpy (per day and region, a
  binomial for the residents who stay and a Poisson for the recruits still there at
  midnight), with no records, in one process;
- `flowsim run --engine step` and `flowsim run --engine leap` with `--workers 1` and
  `--workers 2`, writing their CSVs to a temporary folder.

Prints seconds and each one's ratio to the reference (below 1: faster than it). flowsim's
modules are byte-compiled first, as in benchmarks/startup.py.

Usage: python benchmarks/leap.py [--replicates 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import compile_flowsim

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "two_region.yaml"
RECORDS = {"yearly": 365, "monthly": 30, "weekly": 7}


def reference(replicates: int, days: int = 365) -> None:
    """The benchmark's model stepped daily in plain numpy (its exact daily law)."""
    rng = np.random.default_rng(1)
    a = np.full(replicates, 31000)
    b = np.full(replicates, 2500)
    h = 0.004
    stay = math.exp(-h)
    keep = -math.expm1(-h) / h
    for _ in range(days):
        a = rng.binomial(a, stay) + rng.poisson(60 * keep, replicates)
        b = rng.binomial(b, stay) + rng.poisson(30 * keep, replicates)
    assert a.mean() > 0 and b.mean() > 0


def timed(cmd: list[str], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        reference(args.replicates)
        return
    compile_flowsim()
    ref = timed([sys.executable, __file__, "--reference", "--replicates", str(args.replicates)], args.repeats)
    print(f"{platform.node()} ({platform.machine()}), Python {platform.python_version()}, numpy {np.__version__}; "
          f"{args.replicates:,} replicates x 365 days; best of {args.repeats} whole processes")
    print(f"plain-numpy daily reference (no records): {ref:.2f} s")
    print(f"{'records':8s} {'engine':5s} {'workers':>7s} {'seconds':>8s} {'x reference':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, every in RECORDS.items():
            for engine in ("step", "leap"):
                for workers in (1, 2):
                    cmd = [sys.executable, "-m", "flowsim", "run", str(SCENARIO), "--engine", engine,
                           "--workers", str(workers), "--replicates", str(args.replicates),
                           "--set", f"report_every={every}", "--out", tmp]
                    t = timed(cmd, args.repeats)
                    print(f"{label:8s} {engine:5s} {workers:7d} {t:8.2f} {t / ref:12.2f}")


if __name__ == "__main__":
    main()
