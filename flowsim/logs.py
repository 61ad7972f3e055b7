"""Notes for people go through the standard `logging` module, on the logger named "flowsim".

A note is something a user should know about a run that is not an error: rows of a
reported-figures file skipped, an overridden value that dated events change later,
replicate noise larger than an effect. Notes are logged at WARNING, so with no logging
configured (a notebook, a script) Python still shows them on stderr, as the command line
does; a library user silences or captures them with standard logging:

    logging.getLogger("flowsim").setLevel(logging.ERROR)     # silence
    logging.getLogger("flowsim").addHandler(my_handler)      # capture

The command line installs `CliHandler`, which prints each note as `note: <text>` on stderr.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger("flowsim")

NOTE = logging.WARNING
"""The level of notes (see the module docstring for why WARNING and not INFO)."""


def note(text: str) -> None:
    """Log one note for people (at WARNING on the "flowsim" logger)."""
    logger.log(NOTE, "%s", text)


class Printer(Protocol):
    def print(self, *objects: Any, **options: Any) -> None: ...


class CliHandler(logging.Handler):
    """Prints each record as `note: <text>` on a rich console (the command line's stderr)."""

    def __init__(self, console: Printer) -> None:
        super().__init__(NOTE)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(f"note: {record.getMessage()}", markup=False, highlight=False)
        except Exception:
            self.handleError(record)


def install_cli_handler(console: Printer) -> CliHandler:
    """Show notes on `console`; replaces an earlier CLI handler, so notes never print twice."""
    for old in [h for h in logger.handlers if isinstance(h, CliHandler)]:
        logger.removeHandler(old)
    handler = CliHandler(console)
    logger.addHandler(handler)
    return handler


def remove_cli_handler(handler: CliHandler) -> None:
    logger.removeHandler(handler)
