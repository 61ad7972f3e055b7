"""Progress bars on stderr: lane-days of a run, points of a sweep (with points/s and an ETA)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from flowsim.cli.console import err


@contextlib.contextmanager
def bar(description: str, total: int, rate: bool = False) -> Iterator[Callable[[int], None]]:
    """A transient bar; yields the function that advances it by n (lane-days, or points with `rate`)."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               *([RateColumn()] if rate else []), TimeRemainingColumn()]
    with Progress(*columns, console=err.console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.1f} points/s")
