"""Writers of result tables, one module per file format, each with the same `write(table, path)`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from flowsim.outputs.formats import csvfile, parquetfile

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS: dict[str, ModuleType] = {"csv": csvfile, "parquet": parquetfile}


def suffix(fmt: str) -> str:
    return str(FORMATS[fmt].SUFFIX)


def write(table: pa.Table, path: Path, fmt: str) -> None:
    FORMATS[fmt].write(table, path)
