"""CSV: what a spreadsheet opens. Names-only tables go through pyarrow's writer; free text through `csv`.

Cells that begin with `=`, `+`, `-` or `@` and are text (a report's source, a
group) are prefixed with a single quote, as OWASP advises against CSV
injection, so a spreadsheet shows them as text instead of running them.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIX = ".csv"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def write(table: pa.Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = [name for name, col in zip(table.column_names, table.columns, strict=True)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            or (pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type))]
    if not any(_needs_care(table.column(name)) for name in text):
        with open(path, "wb") as fh:
            fh.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.column_names)
        for batch in table.to_batches(max_chunksize=65536):
            columns = [c.to_pylist() for c in batch.columns]
            writer.writerows([_cell(v) for v in row] for row in zip(*columns, strict=True))


def _needs_care(col: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count == len(col) or len(col) == 0:
        return False
    if pa.types.is_dictionary(col.type):  # the few distinct strings decide
        col = pa.chunked_array([chunk.dictionary for chunk in col.chunks])
    special = pc.match_substring_regex(col, r'[,"\n\r]|^[=+\-@\t]')
    return bool(pc.any(special).as_py())


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
