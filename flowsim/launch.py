"""Console entry point: Ctrl-C and SIGTERM stop cleanly even while the command line is importing."""

from __future__ import annotations

import signal
import sys

INTERRUPTED = "interrupted: the run in progress left no result files"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM stops as cleanly as Ctrl-C
    try:
        from .cli import app
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED + "\n")
        raise SystemExit(130) from None
    app()
