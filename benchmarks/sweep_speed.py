"""Time a 1,000-point x 100-replicate sweep of scenarios/diversion.yaml (1,309 days, weekly records).

The speed issue's bar, set when the scenario ran 730 days: under 6 s on this machine (2
workers). The scenario now runs mid-2014 to 2017 (its schedule dates must lie inside the
run, so it cannot be cut), so the bar scales to about 11 s. `--engine step` times the daily step.

With --profile, the parent process runs under cProfile and the script also prints where
its wall time went: waiting for the workers' simulation, saving chunks, writing tables.

Usage: python benchmarks/sweep_speed.py [--points 1000] [--replicates 100] [--workers 2] [--engine leap] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from flowsim.experiments import runs

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engine", default="leap")
    parser.add_argument("--profile", action="store_true", help="profile the parent process")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as tmp:
        opts = runs.RunOptions(replicates=args.replicates, out=Path(tmp), workers=args.workers, engine=args.engine)
        item = runs.load(ROOT / "scenarios/diversion.yaml", opts)
        req = runs.SweepRequest(["flows.divert.fraction=0:0.5",
                                 "flows.local_is.rate.schedule.2015-01-01.uniform.1=1000:2500",
                                 "flows.attrition_ly.rate.schedule.2014-06-01.uniform.0=0.01:0.03"], "lhs", args.points)
        job = runs.plan_sweep(item, opts, req)
        t0 = time.perf_counter()
        if profile is not None:
            profile.enable()
        done = runs.run_sweep(item, opts, req, job)
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - t0
        sizes = {p.name: p.stat().st_size for p in done.folder.iterdir() if p.is_file()}
    lanes = job.n_points * job.replicates
    print(f"sweep of {job.scenario.name} ({args.engine} engine): {job.n_points} points x {job.replicates} replicates "
          f"= {lanes:,} lanes x {job.scenario.days} days, {len(job.chunks())} chunks, {args.workers} workers")
    print(f"wall time   : {wall:.1f} s (simulation and writing every output)")
    rate = lanes * job.scenario.days / wall / 1e6
    print(f"throughput  : {job.n_points / wall:.1f} points/s, {rate:.1f} M lane-days/s")
    print("outputs     : " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))
    print(f"failed      : {len(done.failed)} points")
    if profile is not None:
        print("parent      : " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in _split(profile)))


def _split(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """The parent's wall time by what it did (cumulative times of the functions that do it)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    where = {"waiting for workers": ("~", "_thread.lock' objects>"), "saving chunks": ("chunkstore.py", "save"),
             "writing tables": ("formats/__init__.py", "write")}
    out = []
    for label, (file_part, name_part) in where.items():
        total = sum(v[3] for (file, _, name), v in stats.items() if file_part in file and name.endswith(name_part))
        out.append((label, total))
    return out


if __name__ == "__main__":
    main()
