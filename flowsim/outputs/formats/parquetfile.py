"""Parquet (zstd): the same columns and types as the CSV, for pandas, polars and DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIX = ".parquet"
BIG = 1_000_000


def write(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    # column statistics (min/max per page) cost more than the encoding itself on tables of millions of rows
    pq.write_table(table, path, compression="zstd", write_statistics=table.num_rows < BIG)
