"""Leap vs daily step where travellers move back and forth: a chain a -> b -> c and a cycle a <-> b.

Each transfer that lands inside a later leap becomes its own group there, and its leavers
new batches, so with short delays and several transfer routes the leap engine handles many
small groups per leap; the daily step handles every route once a day whatever the delays.
Three regions, 365 days, records every 30 days, 4,000 replicates, one process, in-process
timings (no start-up); the same scenario for both engines.

Usage: python benchmarks/transfers.py [--replicates 4000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import flowsim


def scenario(delay: int, cycle: bool, replicates: int) -> dict[str, object]:
    flows = [
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 20},
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": delay, "loss": 0.1},
        {"name": "bc", "kind": "transfer", "from": "b", "to": "c", "rate": 0.01, "delay": delay + 3},
        {"name": "da", "kind": "attrition", "region": "a", "rate": 0.003},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.004},
    ]
    if cycle:
        flows.insert(2, {"name": "ba", "kind": "transfer", "from": "b", "to": "a", "rate": 0.02, "delay": delay + 1})
    return {"name": f"{'cycle' if cycle else 'chain'}-d{delay}", "start": "2015-01-01", "end": "2016-01-01",
            "report_every": 30, "replicates": replicates, "seed": 1,
            "regions": {"a": {"initial": 3000}, "b": {"initial": 500}, "c": {"initial": 0}}, "flows": flows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=4000)
    args = parser.parse_args()
    print(f"{platform.machine()}, Python {platform.python_version()}, flowsim {flowsim.__version__}; "
          f"{args.replicates:,} replicates x 365 days, records every 30 days, 1 worker")
    print(f"{'scenario':10s} {'leap s':>7s} {'step s':>7s} {'leap/step':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for cycle in (False, True):
            for delay in (3, 10):
                path = Path(tmp) / "s.yaml"
                data = scenario(delay, cycle, args.replicates)
                path.write_text(json.dumps(data))  # JSON is YAML
                seconds = {}
                for engine in ("leap", "step"):
                    t0 = time.perf_counter()
                    flowsim.run(path, workers=1, engine=engine)
                    seconds[engine] = time.perf_counter() - t0
                print(f"{data['name']:10s} {seconds['leap']:7.2f} {seconds['step']:7.2f} "
                      f"{seconds['leap'] / seconds['step']:9.2f}x")


if __name__ == "__main__":
    main()
