"""Read YAML into plain Python data while remembering where each value sits.

The scenario schema reports errors by field path; this module keeps a map
from every path to its line and column so those errors can point into the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from flowsim.model.errors import NO_VALUE, InputError, Origin

Key = str | int
FieldPath = tuple[Key, ...]

MAX_NODES = 100_000
"""Refuse documents that expand to more nodes than this (YAML alias bombs)."""

MAX_BYTES = 50_000_000
"""The largest scenario, observation, table or posterior file read (50 MB): a device such as /dev/zero,
or a file of that size, is refused before it is read."""


@dataclass
class Located:
    """Plain data plus the origin of each value, keyed by field path."""

    data: Any
    file: str
    origins: dict[FieldPath, Origin] = field(default_factory=dict)
    key_origins: dict[FieldPath, Origin] = field(default_factory=dict)

    def origin(self, path: FieldPath, *, key: bool = False) -> Origin:
        """The closest known origin of `path`, falling back to its parents."""
        table = self.key_origins if key else self.origins
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.origins:
                return self.origins[probe]
            probe = probe[:-1]
        return self.origins.get((), Origin(self.file, 1, 1))


def read_text(path: Path, what: str = "file", limit: int = MAX_BYTES) -> str:
    """Read a UTF-8 text file, turning every OS-level problem into an InputError.

    Only a regular file (or a symbolic link to one) of at most `limit` bytes is read:
    a FIFO would block forever and a device such as /dev/zero never ends.
    """
    name = str(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the name
        raise InputError(Origin(name), "", NO_VALUE, f"{what} does not exist") from None
    except OSError as exc:
        raise InputError(Origin(name), "", NO_VALUE, f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(Origin(name), "", NO_VALUE, f"is a folder, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(Origin(name), "", NO_VALUE, f"is not a regular file (a device, pipe or socket); "
                         f"a {what} must be a file")
    if info.st_size > limit:
        raise InputError(Origin(name), "", info.st_size, f"bytes: a {what} may have at most {limit:,} bytes")
    try:
        # O_NONBLOCK: should the name have become a pipe since the check above, opening does not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InputError(Origin(name), "", NO_VALUE, f"is not a regular file; a {what} must be a file")
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(Origin(name), "", NO_VALUE, f"cannot be read: {exc.strerror}") from None
    if len(raw) > limit:
        raise InputError(Origin(name), "", len(raw), f"bytes: a {what} may have at most {limit:,} bytes")
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write, is not content
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            Origin(name, line, col), "", NO_VALUE, "file is not UTF-8 text"
        ) from None


def load_yaml(path: Path) -> Located:
    """Parse a YAML file safely (no object tags) into plain data with origins."""
    text = read_text(path, "scenario file")
    return parse_yaml(text, str(path))


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that leaves dates as text, so the schema reports bad ones."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)


def parse_yaml(text: str, name: str) -> Located:
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = Origin(name, mark.line + 1, mark.column + 1) if mark else Origin(name)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in problem or "found duplicate key" in str(exc):
            problem = "duplicate key: each key may appear once in a mapping"
        raise InputError(origin, "", NO_VALUE, f"not valid YAML: {problem}") from None
    except (YAMLError, ValueError, TypeError) as exc:
        raise InputError(Origin(name), "", NO_VALUE, f"not valid YAML: {exc}") from None
    located = Located(None, name)
    lc = getattr(node, "lc", None)
    first = (lc.line + 1, lc.col + 1) if lc is not None and lc.line is not None else _first_content(text)
    located.origins[()] = Origin(name, *first)
    counter = [0]
    located.data = _plain(node, (), located, counter)
    return located


def _plain(node: Any, path: FieldPath, located: Located, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise InputError(
            located.origin(path), _dotted(path), NO_VALUE,
            f"document expands to more than {MAX_NODES} values (alias bomb?)",
        )
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, CommentedMap | CommentedSeq) and tag is not None and tag not in _PLAIN_TAGS:
        raise InputError(located.origin(path), _dotted(path), NO_VALUE, _NO_TAGS)
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            if not isinstance(key, str | int | float | bool | dt.date):
                raise InputError(located.origin(path), _dotted(child), NO_VALUE, "keys must be plain text")
            kl, kc = node.lc.key(key) or (0, 0)
            vl, vc = node.lc.value(key) or (kl, kc)
            located.key_origins[child] = Origin(located.file, kl + 1, kc + 1)
            located.origins[child] = Origin(located.file, vl + 1, vc + 1)
            out[str(key)] = _plain(node[key], child, located, counter)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            line, col = node.lc.item(i) or (0, 0)
            located.origins[(*path, i)] = Origin(located.file, line + 1, col + 1)
            items.append(_plain(item, (*path, i), located, counter))
        return items
    if node is None or isinstance(node, bool | int | float | str | dt.date):
        if isinstance(node, str):
            return str(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, int) and not isinstance(node, bool):
            return int(node)
        return node
    raise InputError(
        located.origin(path), _dotted(path), NO_VALUE, _NO_TAGS)


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_NO_TAGS = "YAML tags such as !!python/object are not allowed; use plain numbers, text, lists and mappings"


def _dotted(path: FieldPath) -> str:
    return ".".join(str(p) for p in path)


def _first_content(text: str) -> tuple[int, int]:
    """Line and column of the first thing that is not a comment (where a bare document starts)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return number, len(line) - len(line.lstrip()) + 1
    return 1, 1


def csv_columns(line: str) -> list[int]:
    """1-based character column where each field of a CSV line starts (errors in CSV files point there)."""
    cols, quoted = [1], False
    for pos, ch in enumerate(line, start=1):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            cols.append(pos + 1)
    return cols


def csv_line(line: str, name: str, lineno: int) -> list[str]:
    """The fields of one line of a CSV file. A quoted field must end on its own line: an unterminated quote
    would otherwise swallow the rows after it, so it is an error pointing at the quote."""
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        quote = _open_quote(line)
        raise InputError(Origin(name, lineno, quote), "", NO_VALUE,
                         "unterminated quote: a quoted field must end with a \" on the same line"
                         if "end of data" in str(exc) else f"badly quoted field ({exc}); write \"\" for a quote "
                         "inside a quoted field") from None


def csv_rows(text: str, name: str) -> Iterator[tuple[int, list[str], list[int]]]:
    """(line number, stripped fields, 1-based column of each field) of every non-blank line of a CSV
    text (tables, posterior files); quoting faults are refused as in `csv_line`."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        cells = [c.strip() for c in csv_line(line, name, lineno)]
        if any(cells):
            yield lineno, cells, csv_columns(line)


def _open_quote(line: str) -> int:
    """1-based column of the quote that opens the field left open at the end of `line` (else 1)."""
    quoted, start = False, 1
    for pos, ch in enumerate(line, start=1):
        if ch == '"':
            if not quoted:
                start = pos
            quoted = not quoted
    return start if quoted else 1
