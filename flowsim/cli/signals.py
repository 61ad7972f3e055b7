"""What Ctrl-C and SIGTERM print and do; shared by the entry point and the commands, which import nothing else."""

from __future__ import annotations

INTERRUPTED = "interrupted: the run in progress left no result files"


def terminate(signum: int, frame: object) -> None:
    """SIGTERM stops as cleanly as Ctrl-C."""
    raise KeyboardInterrupt
