"""Time `flowsim calibrate` of scenarios/diversion-question.yaml with 100,000 draws x 4 replicates.

The bar of the speed issue: under 15 s on this machine. Runs the command as a whole
process (2 workers), for the leap and the step engine, and prints both times.

Usage: python benchmarks/calibrate_speed.py [--draws 100000] [--workers 2] [--engines leap step]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=["leap", "step"])
    args = parser.parse_args()
    for engine in args.engines:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "flowsim", "calibrate", str(ROOT / "scenarios/diversion-question.yaml"),
                   "--param", "flows.divert.fraction=0:0.6", "--param", "flows.recruit_ly.rate=0:600",
                   "--draws", str(args.draws), "--replicates", "4", "--workers", str(args.workers),
                   "--engine", engine, "--out", tmp]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            seconds = time.perf_counter() - t0
        last = [line for line in done.stdout.splitlines() if "particles" in line][:1]
        print(f"{engine}: {seconds:.1f} s for {args.draws:,} draws x 4 replicates (exit {done.returncode}) "
              f"{last[0].strip() if last else ''}")


if __name__ == "__main__":
    main()
