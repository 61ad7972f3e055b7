"""Where a result came from: software versions, input file digests, git state, settings.

`collect` gives the `provenance` block of run.json. It is deterministic for the same
files, software and settings (it holds no times), and light: versions come from
installed package metadata, so nothing heavy is imported to read them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowsim import __version__

if TYPE_CHECKING:
    from flowsim.model.scenario import Scenario

PACKAGES = ("numpy", "scipy", "simpy", "pandas", "pyarrow")
"""Distributions whose versions are recorded (null when not installed), besides flowsim and Python."""

GIT_TIMEOUT_S = 5.0

_invocation: list[str] | None = None


def set_invocation(argv: Sequence[str] | None) -> None:
    """Record the arguments of the running `flowsim` command (its callback does), or None when it ends."""
    global _invocation
    _invocation = None if argv is None else list(argv)


def collect(scenario_path: Path, inputs: Iterable[Path], settings: dict[str, Any],
            command_line: Sequence[str] | None = None) -> dict[str, Any]:
    """The provenance of a run of `scenario_path`.

    `inputs` are the other files it read (see `input_files`); the scenario itself comes
    first and a file given twice is listed once. `settings` are the effective settings
    (seed, replicates, engine, workers, overrides, tolerance, ...), recorded as given
    (paths as strings, dataclasses as dicts). `command_line` is the argument list
    (without the program); by default the one the flowsim command line is running
    with (see `set_invocation`), else null: a notebook's arguments say nothing.
    """
    scenario_path = Path(scenario_path)
    files = _unique([scenario_path, *(Path(p) for p in inputs)])
    argv = list(command_line) if command_line is not None else _invocation
    return {
        "versions": versions(),
        "platform": platform.platform(),
        "inputs": [file_digest(p) for p in files],
        "git": git_state(scenario_path.parent, files),
        "settings": _plain(settings),
        "command_line": None if argv is None else shlex.join(["flowsim", *argv]),
    }


def versions() -> dict[str, str | None]:
    """flowsim, Python and the numeric libraries' versions; null for one not installed."""
    out: dict[str, str | None] = {
        "flowsim": __version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def file_digest(path: Path) -> dict[str, Any]:
    """{path, sha256, bytes} of one file, read in blocks; sha256 and bytes are null if it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError:
        return {"path": str(path), "sha256": None, "bytes": None}
    return {"path": str(path), "sha256": digest.hexdigest(), "bytes": size}


def git_state(folder: Path, files: Sequence[Path] = ()) -> dict[str, Any] | None:
    """{commit, dirty} if `folder` is inside a git work tree with a commit, else None.

    `dirty` is whether any of `files` that lie in that work tree differ from the commit
    (modified, staged, untracked or ignored: the commit does not hold them as read);
    with no files, whether anything tracked or untracked in the tree does.
    None also when git is missing, fails or takes longer than GIT_TIMEOUT_S.
    """
    commit = _git(folder, "rev-parse", "HEAD")
    top = _git(folder, "rev-parse", "--show-toplevel")
    if not commit or not top:
        return None
    root = Path(top).resolve()
    inside = [str(p.resolve()) for p in files if p.resolve().is_relative_to(root)]
    if files and not inside:
        return {"commit": commit, "dirty": False}
    ignored = ["--ignored"] if inside else []
    status = _git(folder, "status", "--porcelain", *ignored, "--", *inside)
    if status is None:
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def input_files(scenario: Scenario, folder: Path, observations: Path | None = None) -> list[Path]:
    """The files a validated scenario refers to, besides itself, in a stable order.

    `folder` is the scenario file's folder. The observations file is `observations` when
    given (the command line's --observations), else the scenario's `observations` when it
    is a path (relative to `folder`). Then every table of a value that changes over time,
    and every posterior file named by a parameter, an event's `set` or `scale`, or the
    sweep, once each (absolute, as read at validation).
    """
    from flowsim.model.distributions import Distribution

    out: list[Path] = []
    if observations is not None:
        out.append(Path(observations))
    elif isinstance(scenario.observations, str):
        out.append(Path(folder) / scenario.observations)
    out += [Path(folder) / line.file for line in scenario.timelines().values() if line.shape == "table"]
    values: list[Any] = list(scenario.parameters().values())
    for event in scenario.events:
        values += [*(event.set or {}).values(), *(event.scale or {}).values()]
    if scenario.sweep is not None:
        for value in scenario.sweep.parameters.values():
            values += value if isinstance(value, list) else [value]
    for value in values:
        if isinstance(value, Distribution) and value.kind == "posterior" and value.resolved:
            out.append(Path(value.resolved))
    return _unique(out)


def _unique(paths: Iterable[Path]) -> list[Path]:
    """`paths` in order without repeats (compared by resolved path)."""
    seen: set[Path] = set()
    out = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _git(folder: Path, *args: str) -> str | None:
    """git's stdout (stripped) run in `folder`, or None if git is missing, fails or hangs."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}  # never take the index lock
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT_S, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _plain(value: Any) -> Any:
    """`value` as JSON-ready data: paths as strings, dataclasses and mappings as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
