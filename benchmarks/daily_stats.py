"""Statistics of daily records: time and peak extra memory, selection in slices vs a whole-array sort.

The summary of a run with daily records needs, for every record day and region, the
mean, sd and five percentiles over the replicates. flowsim selects the order
statistics it needs (`np.partition`) slice by slice (`flowsim/outputs/records.py`);
the earlier code converted the whole array to floats and sorted it. Both give the
same numbers (checked here). Peak extra memory is measured with tracemalloc (numpy
reports its buffers to it) and given as a multiple of the record array itself.

Usage: python benchmarks/daily_stats.py [--replicates 10000 100000] [--days 365] [--regions 2]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from flowsim.outputs import records


def whole_sort(pops: np.ndarray) -> np.ndarray:
    """The earlier method: one float copy and one full sort of the whole array."""
    x = pops.astype(float)
    s = np.sort(x, axis=-1)
    n = s.shape[-1]
    out = [x.mean(axis=-1), x.std(axis=-1, ddof=1)]
    for q in records.QUANTILES:
        pos = q / 100 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        t = pos - lo
        a, b = s[..., lo], s[..., hi]
        out.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))
    return np.stack(out, axis=-1)


def measure(fn: Callable[[np.ndarray], np.ndarray], pops: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(seconds, peak extra bytes, result)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn(pops)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, float(peak), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--regions", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'replicates':>10s} {'records MB':>10s} {'method':>12s} {'seconds':>8s} {'peak extra':>11s}")
    for n in args.replicates:
        pops = rng.poisson(20_000, (args.days + 1, args.regions, n)).astype(np.int64)
        size = pops.nbytes
        results = {}
        for name, fn in (("whole sort", whole_sort), ("selection", records.population_stats)):
            seconds, peak, out = measure(fn, pops)
            results[name] = out
            print(f"{n:10,d} {size / 1e6:10.0f} {name:>12s} {seconds:8.2f} {peak / size:10.2f}x")
        assert np.array_equal(results["whole sort"], results["selection"]), "the two methods differ"


if __name__ == "__main__":
    main()
