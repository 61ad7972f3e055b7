"""User-facing input errors: one message naming where, what and which rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a file position or a command-line option."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


class InputError(Exception):
    """A user mistake. The CLI prints it on one line and exits 2 without a traceback."""

    def __init__(self, origin: Origin, field: str, value: object, rule: str) -> None:
        self.origin = origin
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [str(self.origin), self.field, _show(self.value), self.rule]
        return ": ".join(p for p in parts if p).translate(_ONE_LINE)


_ONE_LINE = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
"""Every character str.splitlines breaks at, escaped: a message stays one line whatever a path holds."""


def _show(value: object) -> str:
    """Render the offending value briefly, so long inputs do not flood the message."""
    if value is _NO_VALUE:
        return ""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"value {text}"


_NO_VALUE = object()
NO_VALUE: object = _NO_VALUE
"""Marker for errors where there is no value to show (e.g. a missing field)."""
