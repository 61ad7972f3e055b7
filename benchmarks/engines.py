"""Engines compared on the two-region benchmark (benchmarks/two_region.yaml), all in one run.

(a) the step engine, 10,000 replicates; (a') the leap engine, the same (one leap:
the benchmark records day 0 and day 365 only); (b) the event engine; (c) a naive
one-SimPy-process-per-person model; (d) GillesPy2's SSA C solver, where the
optional `bench` extra is installed and its C++ build works. Prints seconds per
replicate, ratios to the step engine, and mean and sd at day 365 against the
analytic values.

Usage: python benchmarks/engines.py [--replicates 10000] [--event 5] [--naive 2] [--gillespy 200]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from flowsim.experiments.executor import simulate
from flowsim.model.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).parent))
from step_vs_naive import A0, ATTRITION, B0, DAYS, FRACTION, LAM_A, LAM_B, naive_replicate


def analytic() -> dict[str, tuple[float, float]]:
    """Mean and sd at DAYS: Binomial(n0, p) survivors plus Poisson(m (1 - p)) recruits still there."""
    p = math.exp(-ATTRITION * DAYS)
    out = {}
    for name, n0, inflow in (("A", A0, LAM_A * (1 - FRACTION)), ("B", B0, LAM_B + LAM_A * FRACTION)):
        m = inflow / ATTRITION
        out[name] = (n0 * p + m * (1 - p), math.sqrt(n0 * p * (1 - p) + m * (1 - p)))
    return out


def gillespy(n: int) -> tuple[float, np.ndarray, float] | str:
    """(seconds per trajectory, final (A, B) per trajectory, build seconds) or why it could not run."""
    try:
        import gillespy2
    except ImportError:
        return "GillesPy2 is not installed (pip install -e '.[bench]')"
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")  # its build looks for `scons` on PATH
    if shutil.which("scons") is None:
        return "SCons is not installed, so GillesPy2 cannot build its C++ solver"
    model = gillespy2.Model(name="two_region")
    a = gillespy2.Species(name="A", initial_value=A0)
    b = gillespy2.Species(name="B", initial_value=B0)
    model.add_species([a, b])
    la = gillespy2.Parameter(name="la", expression=LAM_A * (1 - FRACTION))
    lb = gillespy2.Parameter(name="lb", expression=LAM_B + LAM_A * FRACTION)
    mu = gillespy2.Parameter(name="mu", expression=ATTRITION)
    model.add_parameter([la, lb, mu])
    model.add_reaction([
        gillespy2.Reaction(name="ra", reactants={}, products={a: 1}, rate=la),
        gillespy2.Reaction(name="rb", reactants={}, products={b: 1}, rate=lb),
        gillespy2.Reaction(name="da", reactants={a: 1}, products={}, rate=mu),
        gillespy2.Reaction(name="db", reactants={b: 1}, products={}, rate=mu),
    ])
    model.timespan(np.array([0.0, float(DAYS)]))
    try:
        t0 = time.perf_counter()
        solver = gillespy2.SSACSolver(model=model)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = model.run(solver=solver, number_of_trajectories=n, seed=1)
        per = (time.perf_counter() - t0) / n
    except Exception as exc:  # the C++ build depends on the machine
        return f"GillesPy2's C++ solver could not be built or run here: {type(exc).__name__}"
    finals = np.array([[tr["A"][-1], tr["B"][-1]] for tr in result], dtype=float)
    return per, finals, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=10_000)
    parser.add_argument("--event", type=int, default=5)
    parser.add_argument("--naive", type=int, default=2)
    parser.add_argument("--gillespy", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    s, _ = load_scenario(Path(__file__).parent / "two_region.yaml")
    simulate(s, replicates=100)  # warm up imports
    rows: list[tuple[str, float, np.ndarray | None]] = []
    t0 = time.perf_counter()
    step = simulate(s, replicates=args.replicates, workers=args.workers)
    rows.append((f"step engine ({args.replicates} replicates, {args.workers} workers)",
                 (time.perf_counter() - t0) / args.replicates, step.populations[-1].T.astype(float)))
    t0 = time.perf_counter()
    leaped = simulate(s, replicates=args.replicates, workers=args.workers, engine="leap")
    rows.append((f"leap engine ({args.replicates} replicates, {args.workers} workers)",
                 (time.perf_counter() - t0) / args.replicates, leaped.populations[-1].T.astype(float)))
    t0 = time.perf_counter()
    event = simulate(s, replicates=args.event, engine="event")
    rows.append((f"event engine ({args.event} replicates)", (time.perf_counter() - t0) / args.event,
                 event.populations[-1].T.astype(float)))
    t0 = time.perf_counter()
    naive = np.array([naive_replicate(seed) for seed in range(args.naive)], dtype=float)
    rows.append((f"naive SimPy, a process per person ({args.naive} replicates)",
                 (time.perf_counter() - t0) / args.naive, naive))
    g = gillespy(args.gillespy)
    note = ""
    if isinstance(g, str):
        note = g
    else:
        per, finals, build = g
        rows.append((f"GillesPy2 SSACSolver ({args.gillespy} trajectories; build {build:.1f} s not counted)",
                     per, finals))

    print(f"two-region benchmark, {DAYS} days; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    exact = analytic()
    print(f"{'':62} {'s/replicate':>12} {'vs step':>9}   A mean (sd)          B mean (sd)")
    print(f"{'analytic':62} {'':>12} {'':>9}   " + "   ".join(
        f"{m:9,.1f} ({sd:6.1f})" for m, sd in exact.values()))
    base = rows[0][1]
    for name, per, finals in rows:
        stats = "   ".join(f"{finals[:, i].mean():9,.1f} ({finals[:, i].std(ddof=1) if len(finals) > 1 else 0:6.1f})"
                           for i in range(2)) if finals is not None else ""
        ratio = per / base
        shown = f"{ratio:8.3f}" if ratio < 10 else f"{ratio:8,.0f}"
        print(f"{name:62} {per:12.6f} {shown}x   {stats}")
    if note:
        print(f"GillesPy2: skipped: {note}")


if __name__ == "__main__":
    main()
