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


def test_readme_examples_run(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")  # results/ is written under tmp_path
    shutil.copytree(ROOT / "tests" / "bad", tmp_path / "tests" / "bad")
    monkeypatch.chdir(tmp_path)
    for command, expected in examples():
        args = shlex.split(command)
        if args[0] == "flowsim":
            result = cli(*args[1:])
            output, code = result.stdout + result.stderr, result.exit_code
        else:
            proc = subprocess.run(args, capture_output=True, text=True, env=os.environ)
            output, code = proc.stdout + proc.stderr, proc.returncode
        wanted_code = 2 if any(line.startswith("error:") for line in expected) else 0
        assert code == wanted_code, f"{command}\n{output}"
        lines = {line.strip() for line in output.splitlines()}
        for line in expected:
            assert line in lines, f"{command}: README shows {line!r}, output was:\n{output}"


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run installs as the README says and runs the README's test command."""
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2
    assert commands[1] in ci
