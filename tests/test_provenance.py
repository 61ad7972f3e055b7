"""Provenance for run.json, `flowsim --version`, and notes through the standard logging module."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import flowsim
from flowsim import logs
from flowsim.cli import main as cli_main
from flowsim.model.scenario import load_scenario
from flowsim.outputs import provenance

from .conftest import scenario_dict, write

# notes --------------------------------------------------------------------------------------------


def test_a_note_is_a_warning_on_the_flowsim_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flowsim"):
        logs.note("x")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [("flowsim", logging.WARNING, "x")]


def test_a_library_user_silences_notes_with_standard_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="flowsim")
    logs.note("x")
    assert caplog.records == []


def test_the_cli_handler_prints_note_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handler = logs.install_cli_handler(Console(stderr=True, soft_wrap=True))
    try:
        assert logs.install_cli_handler(Console(stderr=True, soft_wrap=True)) is not handler  # replaces it
        logs.note("x [not markup] 12 rows")
    finally:
        for h in [h for h in logs.logger.handlers if isinstance(h, logs.CliHandler)]:
            logs.remove_cli_handler(h)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "note: x [not markup] 12 rows\n")  # printed once


class _NotingSchema:
    """Stands in for Scenario in `flowsim schema`, to produce a note inside a real command."""

    @staticmethod
    def model_json_schema(by_alias: bool = True) -> dict[str, Any]:
        logs.note("x")
        return {}


def test_a_command_shows_notes_as_before_and_removes_its_handler(
        cli, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli_main.scenario_model, "Scenario", _NotingSchema)
    result = cli("schema")
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: x\n"
    assert [r.getMessage() for r in caplog.records if r.name == "flowsim"] == ["x"]  # still propagates
    assert not [h for h in logs.logger.handlers if isinstance(h, logs.CliHandler)]
    assert provenance._invocation is None


# --version ----------------------------------------------------------------------------------------


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"flowsim {flowsim.__version__}\n"


def test_version_is_listed_in_help(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.exit_code == 0 and "--version" in result.stdout


# provenance ---------------------------------------------------------------------------------------


def scenario_with_inputs(folder: Path) -> Path:
    """A scenario naming an observations file, a table, and two columns of one posterior file (and one of another)."""
    (folder / "obs.csv").write_text("date,region,value\n2015-01-10,a,900\n")
    (folder / "share.csv").write_text("date,value\n2015-01-01,0.1\n2015-01-20,0.2\n")
    (folder / "post.csv").write_text("x,y,weight\n5,0.01,1\n10,0.02,3\n")
    (folder / "other.csv").write_text("z\n100\n200\n")
    post = {"posterior": {"file": "post.csv", "column": "x"}}
    data = scenario_dict(30, observations="obs.csv", flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": post},
        {"name": "t", "kind": "attrition", "region": "a", "rate": {"posterior": {"file": "post.csv", "column": "y"}}},
        {"name": "d", "kind": "diversion", "of": "r", "to": "b", "fraction": {"table": "share.csv"}},
    ], events=[{"date": "2015-01-05", "set": {"flows.t.rate": {"posterior": {"file": "other.csv", "column": "z"}}}}])
    return write(folder, data)


def test_input_files_are_the_observations_tables_and_posterior_files(tmp_path: Path) -> None:
    path = scenario_with_inputs(tmp_path)
    scenario, _ = load_scenario(path)
    files = provenance.input_files(scenario, path.parent)
    assert [p.resolve() for p in files] == [(tmp_path / n).resolve()
                                            for n in ("obs.csv", "share.csv", "post.csv", "other.csv")]
    given = tmp_path / "given.csv"
    assert provenance.input_files(scenario, path.parent, observations=given)[0] == given  # --observations wins


def test_collect_hashes_every_input_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path is no repository
    path = scenario_with_inputs(tmp_path)
    scenario, _ = load_scenario(path)
    files = provenance.input_files(scenario, path.parent)
    settings = {"seed": 1, "replicates": 10, "engine": "step", "out": tmp_path / "res", "overrides": ("a=1",)}
    info = provenance.collect(path, [*files, path, files[1]], settings)
    assert [i["path"] for i in info["inputs"]] == [str(path), *map(str, files)]
    for item in info["inputs"]:
        data = Path(item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest() and item["bytes"] == len(data)
    assert info["git"] is None
    assert info["settings"] == {"seed": 1, "replicates": 10, "engine": "step", "out": str(tmp_path / "res"),
                                "overrides": ["a=1"]}
    versions = info["versions"]
    assert versions["flowsim"] == flowsim.__version__ and versions["python"] == platform.python_version()
    assert all(versions[name] for name in ("numpy", "scipy", "simpy"))
    assert info["platform"] == platform.platform()
    assert info["command_line"] is None  # not run from the command line
    assert provenance.collect(path, files, settings) == info  # deterministic
    assert json.loads(json.dumps(info)) == info


def test_command_line_is_quoted_to_be_pasted_again(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(10))
    info = provenance.collect(path, [], {}, command_line=["run", str(path), "--set", "flows.r.rate=1 "])
    assert info["command_line"] == f"flowsim run {path} --set 'flows.r.rate=1 '"


def test_an_unreadable_input_is_recorded_without_digest(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(10))
    info = provenance.collect(path, [tmp_path / "gone.csv"], {})
    assert info["inputs"][1] == {"path": str(tmp_path / "gone.csv"), "sha256": None, "bytes": None}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_and_dirty_state_of_the_scenario_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    repo = tmp_path / "repo"
    (repo / "scenarios").mkdir(parents=True)
    path = write(repo / "scenarios", scenario_dict(10))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "scenario")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert provenance.collect(path, [], {})["git"] == {"commit": head, "dirty": False}
    (repo / "unrelated.txt").write_text("not an input\n")
    assert provenance.collect(path, [], {})["git"] == {"commit": head, "dirty": False}
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n1\n")  # an input outside the repository does not make it dirty
    assert provenance.collect(path, [outside], {})["git"] == {"commit": head, "dirty": False}
    path.write_text(path.read_text() + "# edited\n")
    assert provenance.collect(path, [], {})["git"] == {"commit": head, "dirty": True}
    git(repo, "commit", "-q", "-am", "edit")
    assert provenance.collect(path, [], {})["git"]["dirty"] is False
    (repo / "scenarios" / "new.csv").write_text("x\n1\n")  # an untracked input: the commit lacks it
    assert provenance.collect(path, [repo / "scenarios" / "new.csv"], {})["git"]["dirty"] is True


def test_no_git_binary_or_no_commit_gives_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    path = write(tmp_path, scenario_dict(10))
    if shutil.which("git") is not None:
        git(tmp_path, "init", "-q")  # a repository without a commit
        assert provenance.collect(path, [], {})["git"] is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert provenance.git_state(tmp_path, [path]) is None
