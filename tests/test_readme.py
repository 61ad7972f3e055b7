"""The README's examples run as tests: every `$ command` in a console block, with its output."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()


def examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$` line of the console blocks, in order."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out and line.strip():
                out[-1][1].append(line.strip())
    return out


def test_readme_has_examples() -> None:
    assert len(examples()) >= 4


def first_missing(shown: list[str], output: list[str]) -> str | None:
    """The first shown line not found, in order, among the output lines; None if all are.

    The shown lines must be a subsequence of the output: each found after the previous one.
    """
    rest = iter(output)
    for line in shown:
        if not any(line == out for out in rest):  # consumes `rest` up to the match
            return line
    return None


def test_first_missing_wants_the_shown_order() -> None:
    assert first_missing(["a", "c"], ["a", "b", "c"]) is None
    assert first_missing(["c", "a"], ["a", "b", "c"]) == "a"
    assert first_missing(["a", "a"], ["a", "b"]) == "a"


def snapshot(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Every file and folder under `folder`: a file's (size, modification time); None for a folder."""
    out: dict[str, tuple[int, int] | None] = {}
    for path in folder.rglob("*"):
        st = path.stat()
        out[str(path.relative_to(folder))] = None if path.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def test_readme_examples_run(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Each command exits as shown (2 after an `error:`, else 0) and prints the shown lines in the shown order.

    Lines are compared stripped; the output may have more lines than the README shows.
    A command whose shown output starts with `error:` must write nothing: no file or
    folder appears, disappears or changes in the working folder.
    """
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")  # results/ is written under tmp_path
    shutil.copytree(ROOT / "tests" / "bad", tmp_path / "tests" / "bad")
    monkeypatch.chdir(tmp_path)
    for command, expected in examples():
        args = shlex.split(command)
        before = snapshot(tmp_path)
        if args[0] == "flowsim":
            result = cli(*args[1:])
            output, code = result.output, result.exit_code  # stdout and stderr interleaved, as on a terminal
        else:
            proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
            output, code = proc.stdout, proc.returncode
        wanted_code = 2 if any(line.startswith("error:") for line in expected) else 0
        assert code == wanted_code, f"{command}\n{output}"
        missing = first_missing(expected, [line.strip() for line in output.splitlines()])
        assert missing is None, (f"{command}: README shows {missing!r}, which the output lacks "
                                 f"(or has only before the line the README shows above it); output was:\n{output}")
        if expected and expected[0].startswith("error:"):
            after = snapshot(tmp_path)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k, 0) != after.get(k, 0))
            assert not changed, f"{command}: a mistake should write nothing, but it changed {changed}"


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run installs as the README says and runs the README's test command."""
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2
    assert commands[1] in ci


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ```python block of the README runs as written, from a copy of the repository's scenarios."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README shows the Python API"
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "results/diversion-notebook/summary.parquet").is_file()
