"""Writers of result tables, one module per file format, each with the same `write(table, path)`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING

from flowsim.outputs.formats import csvfile, parquetfile

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS: dict[str, ModuleType] = {"csv": csvfile, "parquet": parquetfile}


def suffix(fmt: str) -> str:
    return str(FORMATS[fmt].SUFFIX)


def write(table: pa.Table, path: Path | IO[bytes], fmt: str) -> None:
    """Into a path, or an open binary file (the staging's exclusive temporary, so no name is opened twice)."""
    FORMATS[fmt].write(table, path)
