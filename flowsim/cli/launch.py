"""Console entry point: Ctrl-C and SIGTERM stop cleanly even while the command line is importing."""

from __future__ import annotations

import signal
import sys

from flowsim.cli.signals import INTERRUPTED, terminate


def main() -> None:
    signal.signal(signal.SIGTERM, terminate)
    try:
        from flowsim.cli.main import app
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED + "\n")
        raise SystemExit(130) from None
    app()
