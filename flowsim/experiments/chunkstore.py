"""Finished sweep chunks on disk, so a killed sweep resumes where it stopped.

Each chunk is one `.npz` file, written under a temporary name and renamed, so a
file that exists is complete. A chunk that raised leaves an `.error.txt` instead,
which `--resume` retries. The folder name is a fingerprint of everything that
determines the results, so chunks of a different sweep are never reused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from flowsim.outputs.results import make_folder


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

    def save(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        tmp = self.dir / f".chunk-{index:06d}.tmp-{os.getpid()}.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, self.path(index))
        self.error_path(index).unlink(missing_ok=True)

    def load(self, index: int) -> dict[str, np.ndarray]:
        with np.load(self.path(index), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def fail(self, index: int, text: str) -> Path:
        path = self.error_path(index)
        tmp = self.dir / f".{path.name}.tmp-{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, path)
        return path
