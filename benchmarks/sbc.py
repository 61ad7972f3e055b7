"""Simulation-based calibration of `flowsim calibrate`: coverage of the 90% intervals and rank uniformity.

The same procedure as tests/test_posterior.py (tests/sbc.py): truths drawn from
the prior, one flowsim trajectory at each, reports with the observation model's
noise, a calibration per truth. With the defaults it reproduces the default
test exactly (same seeds); `--truths 400 --particles 1000 --draws 10000` is the
slow test.

Usage: python benchmarks/sbc.py [--truths 100] [--particles 400] [--draws 4000] [--processes 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kstest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import sbc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--truths", type=int, default=100)
    parser.add_argument("--particles", type=int, default=400)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trials = sbc.run(args.truths, Path(tmp), args.particles, args.draws, args.replicates, args.processes)
        wall = time.perf_counter() - t0
    covered = np.array([t.covered for t in trials]).sum(axis=0)
    ranks = np.array([t.rank for t in trials])
    print(f"{args.truths} truths, {args.particles} particles, {args.draws} draws x {args.replicates} replicates: "
          f"{wall:.1f} s")
    for i, name in enumerate(sbc.PRIORS):
        hist = np.histogram(ranks[:, i], bins=5, range=(0, 1))[0]
        print(f"{name}: 90% intervals cover {covered[i]} of {args.truths}; "
              f"ranks in fifths {hist.tolist()}, KS p = {kstest(ranks[:, i], 'uniform').pvalue:.3f}")
    print(f"ESS: min {min(t.ess for t in trials):.0f}, median {np.median([t.ess for t in trials]):.0f}")


if __name__ == "__main__":
    main()
