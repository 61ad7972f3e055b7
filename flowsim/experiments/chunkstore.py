"""Finished sweep chunks on disk, so a killed sweep resumes where it stopped.

Each chunk is its tables as Parquet files (`<table>/chunk-NNNNNN.parquet`, a
dataset DuckDB, polars or pandas read directly) and one `.npz` of per-point
arrays, each written under a temporary name and renamed; the `.npz` comes last,
so a chunk whose `.npz` exists is complete. A chunk that raised leaves an `.error.txt` instead,
which `--resume` retries. The folder name is a fingerprint of everything that
determines the results, so chunks of a different sweep are never reused.

The chunk folder (`sweep-chunks/`, ...) is locked (an advisory `flock` on its
`.lock` file) while a job uses it: a second job on the same folder is refused
instead of deleting the first one's chunks. flowsim deletes only its own
fingerprint folders inside it, and refuses a chunk folder that is a symbolic
link, so nothing outside `--out` is ever deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.outputs.staging import _writing, clean_stale, fault_point, make_folder, new_temporary

LOCK = ".lock"
FINGERPRINT = re.compile(r"^(?:[0-9a-f]{8,64}|round-\d{4,})$")
"""Names of the folders flowsim makes in a chunk folder; nothing else there is ever deleted."""


class ChunkStore:
    def __init__(self, folder: Path, fingerprint: str, kind: str = "sweep", root: Path | None = None) -> None:
        self.root = root if root is not None else folder / f"{kind}-chunks"
        self.dir = self.root / fingerprint
        self.folder = folder
        parts = self.root.relative_to(folder).parts if self.root.is_relative_to(folder) else ()
        self.top = folder / parts[0] if parts else self.root
        """The chunk folder directly in the result folder (`sweep-chunks`, `calibration-chunks`): it holds the lock."""
        self._lock: IO[bytes] | None = None

    def _refuse_links(self) -> None:
        chain = [self.top, *(p for p in reversed(self.dir.parents) if p.is_relative_to(self.top) and p != self.top),
                 self.dir]
        for path in chain:
            if path.is_symlink():
                raise InputError(Origin(str(path)), "--out", NO_VALUE,
                                 "is a symbolic link; flowsim deletes stale chunks inside its chunk folders, so they "
                                 "must be real folders: remove the link, or give --out a folder on the other disk")
            if path.exists() and not path.is_dir():
                raise InputError(Origin(str(path)), "--out", NO_VALUE, "is not a folder; move it away")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the chunk folder's lock; another job using it is an InputError (exit 2), not a crash."""
        self._refuse_links()
        make_folder(self.top)
        self._refuse_links()
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            yield
            return
        with _writing(self.root):
            fh = open(self.top / LOCK, "ab")  # noqa: SIM115 - held until the job ends
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError(Origin(str(self.top)), "--out", NO_VALUE,
                                 "is in use by another flowsim job (sweep, calibration or sensitivity) writing the "
                                 "same results folder; wait for it to finish, or use another --out") from None
            self._lock = fh
            yield
        finally:
            self._lock = None
            fh.close()

    def prepare(self, resume: bool) -> None:
        """Start fresh (dropping stale chunk folders) unless resuming this very sweep; only our own folders
        (fingerprint names) are deleted, and never through a symbolic link."""
        self._refuse_links()
        if self.root.is_dir():
            for other in self.root.iterdir():
                if (other != self.dir or not resume) and FINGERPRINT.match(other.name) and not other.is_symlink() \
                        and other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
        make_folder(self.dir)
        for folder in (self.dir, *(p for p in self.dir.iterdir() if p.is_dir() and not p.is_symlink())):
            clean_stale(folder)

    def path(self, index: int) -> Path:
        return self.dir / f"chunk-{index:06d}.npz"

    def error_path(self, index: int) -> Path:
        return self.dir / f"chunk-{index:06d}.error.txt"

    def done(self) -> set[int]:
        return {int(p.name[6:12]) for p in self.dir.glob("chunk-*.npz")}

    def table_path(self, table: str, index: int) -> Path:
        return self.dir / table / f"chunk-{index:06d}.parquet"

    def save(self, index: int, result: dict[str, Any]) -> None:
        """Tables first (as Parquet, one folder per table), then the arrays: a chunk is done when its .npz exists.
        A full disk is an InputError; the chunks saved before it are kept for --resume."""
        import pyarrow.parquet as pq

        tables: dict[str, Any] = result.get("tables", {})
        with _writing(self.dir):
            for name, table in tables.items():
                final = self.table_path(name, index)
                final.parent.mkdir(exist_ok=True)
                with self._temporary(final) as fh:
                    pq.write_table(table, fh, compression="zstd")
            arrays = {k: v for k, v in result.items() if k != "tables"}
            arrays["table_names"] = np.array(list(tables), dtype=str)
            with self._temporary(self.path(index), ".npz") as fh:
                np.savez(fh, **arrays)
        self.error_path(index).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _temporary(self, final: Path, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
        """An exclusive temporary beside `final`, renamed to it once written; removed if anything goes wrong,
        even Ctrl-C."""
        fh, tmp = new_temporary(final.parent, suffix)
        try:
            with fh:
                fault_point()
                yield fh
                fh.flush()
            fault_point()
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

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
        with _writing(self.dir), self._temporary(path) as fh:
            fh.write(text.encode())
        return path


def drop_all(root: Path) -> None:
    """Remove a chunk folder's chunks once the job that made them finished: only flowsim's own folders,
    never through a symbolic link, and nothing while another job holds the folder's lock."""
    if root.is_symlink() or not root.is_dir():
        return
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    try:
        fh = open(root / LOCK, "ab")  # noqa: SIM115
    except OSError:
        return
    with fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # another job is using it
        for other in root.iterdir():
            if FINGERPRINT.match(other.name) and other.is_dir() and not other.is_symlink():
                shutil.rmtree(other, ignore_errors=True)
        with contextlib.suppress(OSError):
            if {p.name for p in root.iterdir()} <= {LOCK}:
                (root / LOCK).unlink(missing_ok=True)
                root.rmdir()
