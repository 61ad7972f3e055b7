"""Finished sweep chunks on disk, so a killed sweep resumes where it stopped.

Each chunk is its tables as Parquet files (`<table>/chunk-NNNNNN.parquet`, a
dataset DuckDB, polars or pandas read directly) and one `.npz` of per-point
arrays, each written under a temporary name and renamed; the `.npz` comes last,
so a chunk whose `.npz` exists is complete. A chunk that raised leaves an `.error.txt` instead,
which `--resume` retries. The folder name is a fingerprint of everything that
determines the results, so chunks of a different sweep are never reused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from flowsim.outputs.staging import make_folder


class ChunkStore:
    def __init__(self, folder: Path, fingerprint: str, kind: str = "sweep", root: Path | None = None) -> None:
        self.root = root if root is not None else folder / f"{kind}-chunks"
        self.dir = self.root / fingerprint

    def prepare(self, resume: bool) -> None:
        """Start fresh (dropping stale chunk folders) unless resuming this very sweep."""
        if not resume and self.root.exists():
            shutil.rmtree(self.root)
        elif resume and self.root.exists():
            for other in self.root.iterdir():
                if other != self.dir:
                    shutil.rmtree(other, ignore_errors=True)
        make_folder(self.dir)

    def path(self, index: int) -> Path:
        return self.dir / f"chunk-{index:06d}.npz"

    def error_path(self, index: int) -> Path:
        return self.dir / f"chunk-{index:06d}.error.txt"

    def done(self) -> set[int]:
        return {int(p.name[6:12]) for p in self.dir.glob("chunk-*.npz")}

    def table_path(self, table: str, index: int) -> Path:
        return self.dir / table / f"chunk-{index:06d}.parquet"

    def save(self, index: int, result: dict[str, Any]) -> None:
        """Tables first (as Parquet, one folder per table), then the arrays: a chunk is done when its .npz exists."""
        import pyarrow.parquet as pq

        tables: dict[str, Any] = result.get("tables", {})
        tmp = self.dir / f".chunk-{index:06d}.tmp-{os.getpid()}.npz"
        try:
            for name, table in tables.items():
                final = self.table_path(name, index)
                final.parent.mkdir(exist_ok=True)
                tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
                pq.write_table(table, tmp, compression="zstd")
                os.replace(tmp, final)
            arrays = {k: v for k, v in result.items() if k != "tables"}
            arrays["table_names"] = np.array(list(tables), dtype=str)
            tmp = self.dir / f".chunk-{index:06d}.tmp-{os.getpid()}.npz"
            np.savez(tmp, **arrays)
            os.replace(tmp, self.path(index))
        except BaseException:  # interrupted mid-write: leave no temporary file behind
            tmp.unlink(missing_ok=True)
            raise
        self.error_path(index).unlink(missing_ok=True)

    def load(self, index: int) -> dict[str, Any]:
        with np.load(self.path(index), allow_pickle=False) as data:
            out: dict[str, Any] = {k: data[k] for k in data.files if k != "table_names"}
            names = [str(n) for n in data["table_names"]] if "table_names" in data.files else []
        if names:
            import pyarrow.parquet as pq

            out["tables"] = {n: pq.read_table(self.table_path(n, index)) for n in names}
        return out

    def fail(self, index: int, text: str) -> Path:
        path = self.error_path(index)
        tmp = self.dir / f".{path.name}.tmp-{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, path)
        return path
