"""Atomic writing of a result folder: every file under a temporary name, renamed together when complete."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowsim.outputs import formats

if TYPE_CHECKING:
    import pyarrow as pa


class Staged:
    """Result files written under temporary names, then renamed together.

    A crash before `commit` leaves only dot-named temporary files, which are
    removed; after `commit` every file is complete. `run.json` is renamed last.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[Path, Path]] = []
        self.stale: list[Path] = []

    def __enter__(self) -> Staged:
        make_folder(self.folder)
        return self

    def csv(self, name: str, header: list[str], rows: Iterable[Sequence[str]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        self.text(name, buf.getvalue())

    def lines(self, name: str, header: list[str], lines: Iterable[str]) -> None:
        """Rows already joined with commas (only for cells that never need quoting)."""
        buf = io.StringIO()
        buf.write(",".join(header) + "\n")
        for line in lines:
            buf.write(line)
            buf.write("\n")
        self.text(name, buf.getvalue())

    def json(self, name: str, data: dict[str, Any]) -> None:
        self.text(name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def text(self, name: str, content: str) -> None:
        self.bytes(name, content.encode("utf-8"))

    def bytes(self, name: str, content: bytes) -> None:
        final = self.folder / name
        tmp = self.folder / f".{name}.tmp-{os.getpid()}"
        self.pending.append((tmp, final))
        with self._writing(final), open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())

    def table(self, stem: str, table: pa.Table, fmt: str = "csv") -> None:
        """A result table in the chosen format (`stem` plus the format's suffix)."""
        final = self.folder / f"{stem}{formats.suffix(fmt)}"
        tmp = self.folder / f".{final.name}.tmp-{os.getpid()}"
        self.pending.append((tmp, final))  # removed on failure, like any pending file
        with self._writing(final):
            formats.write(table, tmp, fmt)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())

    @contextlib.contextmanager
    def _writing(self, final: Path) -> Iterator[None]:
        """A full disk or a read-only folder is the user's to fix: one located error, the old results intact."""
        try:
            yield
        except OSError as exc:
            from flowsim.model.errors import NO_VALUE, InputError, Origin

            raise InputError(Origin(str(final)), "--out", NO_VALUE,
                             f"cannot write the results: {exc.strerror or exc}; earlier results are unchanged"
                             ) from None

    def remove(self, *names: str) -> None:
        """At commit, drop files an earlier run left that this one does not produce."""
        written = {final.name for _, final in self.pending}
        self.stale += [self.folder / n for n in names if n not in written]

    def commit(self) -> list[Path]:
        for path in self.stale:
            if path.name not in {final.name for _, final in self.pending}:
                path.unlink(missing_ok=True)
        done = []
        for tmp, final in sorted(self.pending, key=lambda p: p[1].name == "run.json"):
            os.replace(tmp, final)
            done.append(final)
        self.pending.clear()
        return done

    def __exit__(self, *exc: object) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


RUN_TABLES = ("summary", "flows", "parameters", "comparison", "trajectories", "points", "differences")
RUN_FILES = (*(f"{t}{formats.suffix(f)}" for t in RUN_TABLES for f in formats.FORMATS), "plot.png")
RESULT_FILES = (*RUN_FILES, "run.json", "calibration.json", "calibrated.yaml", "sensitivity.json", "sensitivity.png",
                *(f"{t}{formats.suffix(f)}" for t in ("posterior", "sensitivity") for f in formats.FORMATS))
"""Every file a flowsim command writes into a result folder: each write removes those it does not write,
so a folder always holds one coherent result (an earlier sweep's points.csv does not outlive a calibration)."""
"""Files of a run or sweep: each removes those of them it does not write, so none is left over."""


def make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from flowsim.model.errors import NO_VALUE, InputError, Origin

        raise InputError(Origin(str(folder)), "--out", NO_VALUE,
                         f"cannot create the results folder: {exc.strerror or exc}") from None
