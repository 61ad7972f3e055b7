"""Start-up of the command line as whole processes: `flowsim --help` and a 1-replicate, 10-day run.

flowsim's modules are byte-compiled first (as `pip install` does for an installed package;
an editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile them at every
start). Each is the best (and the median) of --repeats runs, wall clock, on this machine;
the run writes its CSVs to a temporary folder. Also prints `python -c pass` for scale.

Usage: python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent / "two_region.yaml"


def times(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def compile_flowsim() -> None:
    """Byte-compile the flowsim package being timed (where `python -m flowsim` finds it)."""
    import importlib.util

    spec = importlib.util.find_spec("flowsim")
    assert spec is not None and spec.origin is not None
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(spec.origin).parent)], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    compile_flowsim()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "flowsim --help": [sys.executable, "-m", "flowsim", "--help"],
            "flowsim run, 1 replicate, 10 days": [
                sys.executable, "-m", "flowsim", "run", str(SCENARIO), "--replicates", "1", "--set", "end=2015-01-11",
                "--workers", "1", "--out", tmp],
        }
        for name, cmd in cases.items():
            t = times(cmd, args.repeats)
            print(f"{name:36s} best {min(t):.2f} s, median {statistics.median(t):.2f} s")


if __name__ == "__main__":
    main()
