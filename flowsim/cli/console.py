"""The command line's two consoles, made on first use so that `flowsim --help` does not import rich."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich Console built the first time something is printed."""

    def __init__(self, pipe_width: int | None = None, **options: Any) -> None:
        self._options = options
        self._pipe_width = pipe_width
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            width = self._pipe_width if self._pipe_width and not sys.stdout.isatty() else None
            self._console = Console(width=width, **self._options)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


out = LazyConsole(pipe_width=120, soft_wrap=True, emoji=False)  # pipes get full tables
err = LazyConsole(stderr=True, soft_wrap=True, emoji=False)  # ":100:" in a value stays text


@contextlib.contextmanager
def progress_bar(description: str, total: int, rate: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal (see progress.py); elsewhere nothing, and no rich import."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from flowsim.cli import progress

    with progress.bar(description, total, rate) as advance:
        yield advance
