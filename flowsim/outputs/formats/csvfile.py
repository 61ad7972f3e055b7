"""CSV: what a spreadsheet opens. Names-only tables go through pyarrow's writer; free text through `csv`.

Cells that begin with `=`, `+`, `-` or `@` and are text (a report's source, a
group) are prefixed with a single quote, as OWASP advises against CSV
injection, so a spreadsheet shows them as text instead of running them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIX = ".csv"
SLICE = 500_000
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def write(table: pa.Table, path: Path | IO[bytes]) -> None:
    import pyarrow as pa

    text = [name for name, col in zip(table.column_names, table.columns, strict=True)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            or (pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type))]
    with _binary(path) as fh:
        if not any(_needs_care(table.column(name)) for name in text):
            fh.write((",".join(table.column_names) + "\n").encode())
            for text_of_slice in _formatted(table):
                fh.write(text_of_slice)
            return
        out = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        try:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(table.column_names)
            for batch in table.to_batches(max_chunksize=65536):
                columns = [c.to_pylist() for c in batch.columns]
                writer.writerows([_cell(v) for v in row] for row in zip(*columns, strict=True))
            out.flush()
        finally:
            out.detach()  # the caller's file stays open


@contextlib.contextmanager
def _binary(path: Path | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(path, (str, Path)):
        with open(path, "wb") as fh:
            yield fh
    else:
        yield path


def _formatted(table: pa.Table) -> Iterator[pa.Buffer]:
    """Slices of rows formatted on threads (pyarrow releases the GIL), yielded in order, a few at a time."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def text(rows: pa.Table) -> pa.Buffer:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(rows, sink, options)
        return sink.getvalue()

    starts = range(0, table.num_rows, SLICE)
    threads = min(4, os.cpu_count() or 1)
    if len(starts) < 2 or threads < 2:
        yield text(table)
        return
    with ThreadPoolExecutor(threads) as pool:
        for first in range(0, len(starts), 2 * threads):  # bounded: 2 slices per thread in memory
            yield from pool.map(lambda s: text(table.slice(s, SLICE)), starts[first:first + 2 * threads])


CARE = r'[,"\n\r]|^[=+\-@\t]'
"""Text that needs quoting or the injection guard."""
FEW = 10_000
"""Up to this many strings, Python's `re` checks them (pyarrow.compute costs ~0.05 s to import)."""


def _needs_care(col: Any) -> bool:
    import pyarrow as pa

    if col.null_count == len(col) or len(col) == 0:
        return False
    if pa.types.is_dictionary(col.type):  # the few distinct strings decide
        col = pa.chunked_array([chunk.dictionary for chunk in col.chunks])
    if len(col) <= FEW:
        care = re.compile(CARE)
        return any(v is not None and care.search(v) for v in col.to_pylist())
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(col, CARE)).as_py())


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str) and v.startswith(FORMULA):
        return "'" + v
    return str(v)
