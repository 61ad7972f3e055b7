"""Ctrl-C during a 2-worker run, many times: how often does flowsim exit cleanly (130, one line, no files)?

Each try starts `flowsim run` of a long daily-step scenario (3,000 days, 20,000 replicates, 2 workers),
sends SIGINT after --after seconds and waits --wait seconds. A try that has not exited by then is a
hang (it is killed). Prints the count of clean exits, other exits and hangs.

Usage: python benchmarks/interrupt.py [--tries 20] [--after 2.0] [--wait 20]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = {  # tests/test_robustness.py's long scenario: records every 10 days, so results take time to send
    "name": "interrupt", "start": "2015-01-01", "end": "2023-03-20", "report_every": 10, "replicates": 20000,
    "seed": 1, "regions": {"a": {"initial": 1000}, "b": {"initial": 100}},
    "flows": [{"name": "r", "kind": "recruitment", "to": "a", "rate": 40},
              {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--after", type=float, default=2.0)
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()
    counts = {"clean": 0, "other": 0, "hung": 0}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(json.dumps(SCENARIO))  # JSON is YAML
        for _ in range(args.tries):
            out = Path(tmp) / "out"
            proc = subprocess.Popen([sys.executable, "-m", "flowsim", "run", str(path), "--out", str(out),
                                     "--workers", "2", "--engine", "step"], cwd=tmp, text=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(args.after)
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=args.wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                counts["hung"] += 1
                continue
            clean = proc.returncode == 130 and "Traceback" not in err and not out.exists()
            counts["clean" if clean else "other"] += 1
    print(f"{args.tries} tries, SIGINT after {args.after} s: {counts['clean']} clean exits (130, no files), "
          f"{counts['other']} other exits, {counts['hung']} hangs (no exit within {args.wait:.0f} s)")


if __name__ == "__main__":
    main()
