"""Atomic writing of a result folder: every file under a temporary name, renamed together when complete.

Temporaries are created exclusively (random names, `O_EXCL`, never through a
symlink) in the destination folder as `.flowsim-PID-*`; those of processes that
no longer run are removed at the start of the next write into that folder.
A result's record (`run.json`, `calibration.json`, `sensitivity.json`) is
removed before the first rename and renamed last, so a folder that has one is a
finished, coherent result; a folder without one is unfinished.

`FLOWSIM_FAULT=exit@N` or `FLOWSIM_FAULT=enospc@N` (a test hook) makes the Nth
write or rename point of the process exit at once (as a SIGKILL would) or raise
OSError(ENOSPC), so the fault tests can stop a command anywhere.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from flowsim.outputs import formats

if TYPE_CHECKING:
    import pyarrow as pa

PREFIX = ".flowsim-"
META_FILES = ("run.json", "calibration.json", "sensitivity.json")
"""A result's record: present only when the rest of the folder is complete and of the same result."""
FAULT = "FLOWSIM_FAULT"
BinaryFile = IO[bytes]
_points = [0]
_STALE = re.compile(r"^\.flowsim-(\d+)-|^\..+\.tmp-(\d+)(?:\.npz)?$")  # ours, and those of earlier versions


def fault_point() -> None:
    """A write or rename point: the fault tests stop the process here (see the module's docstring)."""
    spec = os.environ.get(FAULT)
    if not spec:
        return
    _points[0] += 1
    kind, _, nth = spec.partition("@")
    if nth.isdigit() and _points[0] == int(nth):
        if kind == "exit":
            os._exit(137)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_temporary(folder: Path, suffix: str = ".tmp") -> tuple[IO[bytes], Path]:
    """An open, new, empty file with a random name in `folder` (O_EXCL: never an existing file or a symlink),
    readable like any file the user creates once renamed."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{PREFIX}{os.getpid()}-", suffix=suffix)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        return os.fdopen(fd, "wb"), Path(name)
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        import psutil

        return bool(psutil.pid_exists(pid))
    except ImportError:  # pragma: no cover - psutil is a dependency
        return True


def clean_stale(folder: Path) -> None:
    """Remove the temporaries of flowsim processes that no longer run (killed, or stopped by a full disk)
    from `folder` only; never another process's, never anything else."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _STALE.match(entry.name)
        if m is None or _alive(int(m.group(1) or m.group(2))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                os.unlink(entry.path)


def sync_folder(folder: Path) -> None:
    """Make renames in `folder` durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Staged:
    """Result files written under temporary names, then renamed together.

    A crash before `commit` leaves only temporaries, removed then or by the next
    write; `commit` removes the old record first and renames the new one last.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[Path, Path]] = []
        self.stale: list[Path] = []

    def __enter__(self) -> Staged:
        make_folder(self.folder)
        clean_stale(self.folder)
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
        with self._temporary(name) as fh:
            fh.write(content)

    def table(self, stem: str, table: pa.Table, fmt: str = "csv") -> None:
        """A result table in the chosen format (`stem` plus the format's suffix)."""
        with self._temporary(f"{stem}{formats.suffix(fmt)}") as fh:
            formats.write(table, fh, fmt)

    @contextlib.contextmanager
    def _temporary(self, name: str) -> Iterator[BinaryFile]:
        """A new temporary for `name`, written, flushed to disk and queued for the commit."""
        final = self.folder / name
        with _writing(final):
            fh, tmp = new_temporary(self.folder)
            self.pending.append((tmp, final))  # removed on failure, like any pending file
            with fh:
                fault_point()
                yield fh
                fh.flush()
                os.fsync(fh.fileno())

    def remove(self, *names: str) -> None:
        """At commit, drop files an earlier run left that this one does not produce."""
        written = {final.name for _, final in self.pending}
        self.stale += [self.folder / n for n in names if n not in written]

    def commit(self) -> list[Path]:
        written = {final.name for _, final in self.pending}
        done = []
        with _writing(self.folder):
            if written & set(META_FILES):  # the old record goes first: from here the folder says "unfinished"
                for name in META_FILES:
                    if (self.folder / name).exists() or (self.folder / name).is_symlink():
                        fault_point()
                        (self.folder / name).unlink(missing_ok=True)
                sync_folder(self.folder)
            for path in self.stale:
                if path.name not in written and (path.exists() or path.is_symlink()):
                    fault_point()
                    path.unlink(missing_ok=True)
            for tmp, final in sorted(self.pending, key=lambda p: p[1].name in META_FILES):
                fault_point()
                os.replace(tmp, final)
                done.append(final)
            self.pending.clear()
            sync_folder(self.folder)
        return done

    def __exit__(self, *exc: object) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _writing(where: Path) -> Iterator[None]:
    """A full disk or a read-only folder is the user's to fix: one located error, the old results intact."""
    try:
        yield
    except OSError as exc:
        from flowsim.model.errors import NO_VALUE, InputError, Origin

        raise InputError(Origin(str(where)), "--out", NO_VALUE,
                         f"cannot write the results: {exc.strerror or exc}; earlier results are unchanged"
                         ) from None


RUN_TABLES = ("summary", "flows", "parameters", "comparison", "trajectories", "points", "differences")
RUN_FILES = (*(f"{t}{formats.suffix(f)}" for t in RUN_TABLES for f in formats.FORMATS), "plot.png", "report.html")
RESULT_FILES = (*RUN_FILES, "run.json", "calibration.json", "calibrated.yaml", "sensitivity.json", "sensitivity.png",
                *(f"{t}{formats.suffix(f)}" for t in ("posterior", "sensitivity") for f in formats.FORMATS))
"""Every file a flowsim command writes into a result folder: each write removes those it does not write,
so a folder always holds one coherent result (an earlier sweep's points.csv does not outlive a calibration)."""


NOT_A_FOLDER = "cannot create the results folder: it is a file, not a folder"


def make_folder(folder: Path) -> None:
    from flowsim.model.errors import NO_VALUE, InputError, Origin

    if folder.exists() and not folder.is_dir():
        raise InputError(Origin(str(folder)), "--out", NO_VALUE, NOT_A_FOLDER)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(Origin(str(folder)), "--out", NO_VALUE,
                         f"cannot create the results folder: {exc.strerror or exc}") from None


def check_folder(folder: Path) -> None:
    """Refuse, before anything is simulated, a results folder that could not be made: the first existing
    folder on its path must be a folder we may write in. Nothing is created."""
    from flowsim.model.errors import NO_VALUE, InputError, Origin

    probe = folder
    while not probe.exists() and probe != probe.parent and not probe.is_symlink():
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(Origin(str(probe)), "--out", NO_VALUE, NOT_A_FOLDER)
    if probe.is_symlink() and not probe.exists():
        raise InputError(Origin(str(probe)), "--out", NO_VALUE, "is a broken symbolic link")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(Origin(str(probe)), "--out", NO_VALUE, "cannot write the results: permission denied")
