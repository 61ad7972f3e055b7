"""Parquet (zstd): the same columns and types as the CSV, for pandas, polars and DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIX = ".parquet"
BIG = 1_000_000


def _numeric(field: pa.Field) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_date32(field.type))


def write(table: pa.Table, path: Path | IO[bytes]) -> None:
    import pyarrow.parquet as pq

    # Numbers are byte-stream-split before zstd: as small as dictionaries and about twice as fast to
    # encode on a trajectories table (benchmarks/write_speed.py); text keeps its dictionary. Column
    # statistics (min/max per page) cost more than the encoding itself on tables of millions of rows.
    numbers = [f.name for f in table.schema if _numeric(f)]
    pq.write_table(table, path, compression="zstd", write_statistics=table.num_rows < BIG, write_batch_size=65536,
                   use_dictionary=[n for n in table.column_names if n not in numbers] or False,
                   column_encoding=dict.fromkeys(numbers, "BYTE_STREAM_SPLIT") or None)
