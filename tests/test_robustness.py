"""Interrupted runs, the memory guard, the published schema, and fuzzed scenario files."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flowsim.cli.main import app

from .conftest import ROOT, scenario_dict, write


def flowsim(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "flowsim", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def long_scenario(tmp_path: Path) -> Path:
    return write(tmp_path, scenario_dict(3000, replicates=20000, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 40},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}]))


def test_sigint_during_run_leaves_nothing(tmp_path: Path) -> None:
    proc = flowsim("run", str(long_scenario(tmp_path)), "--out", "out", "--workers", "2", "--engine", "step",
                   cwd=tmp_path)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: the run in progress left no result files" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_sigterm_during_sweep_keeps_only_finished_chunks(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(400, replicates=1000, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 40},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}]))
    args = ["sweep", str(path), "--param", "flows.r.rate=10:50:40", "--out", "out", "--workers", "2",
            "--engine", "step"]  # the daily step: enough work to be interrupted
    proc = flowsim(*args, cwd=tmp_path)
    chunks = tmp_path / "out/test/sweep-chunks"
    deadline = time.time() + 120
    while time.time() < deadline and not list(chunks.glob("*/chunk-*.npz")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "finished chunks kept in" in err and "--resume" in err and "Traceback" not in err
    folder = tmp_path / "out/test"
    assert sorted(p.name for p in folder.iterdir()) == ["sweep-chunks"]
    assert not [p for p in folder.rglob("*") if p.name.startswith(".") and p.name != ".lock"], "no temporary files left"
    resumed = flowsim(*args, "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "chunks reused" in out and (folder / "points.csv").exists()


def test_memory_guard_refuses_a_billion_lanes_at_once(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, scenario_dict(365))
    t0 = time.perf_counter()
    result = cli("run", path, "--replicates", "1000000000", "--out", tmp_path / "o")
    elapsed = time.perf_counter() - t0
    assert result.exit_code == 2
    assert "this run needs about" in result.stderr and "fewer --replicates" in result.stderr
    assert elapsed < 1.0
    assert not (tmp_path / "o").exists()
    result = cli("sweep", path, "--param", "flows.x=0:1:3", "--out", tmp_path / "o")
    assert result.exit_code == 2  # an unknown path, reported before any sizing


def test_sweep_memory_guard(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = scenario_dict(3650, report_every=1, flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 1}])
    result = cli("sweep", write(tmp_path, data), "--param", "flows.r.rate=0:1", "--method", "random",
                 "--samples", "5000000", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "sweep fewer points" in result.stderr


def test_published_schema_is_current(cli) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads(cli("schema").stdout)
    assert schema == json.loads((ROOT / "docs/scenario.schema.json").read_text())
    for path in (ROOT / "scenarios").glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../docs/scenario.schema.json")


# ---- fuzzing: any mutation of a valid scenario either runs or exits 2 with one message

BASE = scenario_dict(30, replicates=3, report_every=10, regions={"a": {"initial": 100}, "b": {"initial": 10}}, flows=[
    {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [1, 5]}, "delay": 2},
    {"name": "d", "kind": "attrition", "region": "a", "rate": 0.02},
    {"name": "v", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3},
    {"name": "t", "kind": "transfer", "from": "b", "to": "a", "rate": 0.01, "delay": 1}],
    events=[{"date": "2015-01-10", "set": {"flows.v.fraction": 0.5}},
            {"date": "2015-01-20", "shock": {"region": "a", "remove": 0.1}}],
    observations=[{"date": "2015-01-25", "region": "a", "low": 50, "high": 150, "source": "s"}])

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["2015-01-05", "2099-01-01", "a", "b", "r", "d", "v", "t", "uniform"]),
    st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.sampled_from(["uniform", "x", "low"]),
                                                              st.lists(st.floats(-1, 2), max_size=3), max_size=2),
)


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths_of(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> str:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(data)
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["drop", "retype", "rename", "duplicate"]))
        key = path[-1]
        if op == "drop":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(VALUES)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["rat", "kind", "to", "regoin", "zz", "name"]))] = parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()):
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["dup", "del", "tab"]))
        if edit == "dup":
            lines.insert(i, lines[i])
        elif edit == "del":
            del lines[i]
        else:
            lines[i] = "\t" + lines[i]
        text = "\n".join(lines) + "\n"
    return text


def _check(result: Any, args: list[str]) -> list[str]:
    """Exit 0 or 2 without a traceback; a 2 prints located error lines: one for `run`, up to 20 (+ a count)
    for `validate`, which lists every mistake."""
    detail = f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert result.exit_code in (0, 2), detail
    assert "Traceback" not in result.output, detail
    lines = [line.rstrip() for line in result.stderr.strip().splitlines()]
    if result.exit_code == 2:
        most = 21 if args[0] == "validate" else 1
        assert 1 <= len(lines) <= most and all(x.startswith("error: ") for x in lines), detail
    return lines


@settings(max_examples=int(os.environ.get("FLOWSIM_FUZZ_EXAMPLES", "500")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated())
def test_fuzzed_scenarios_run_or_exit_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    runner = CliRunner()
    args = ["validate", str(path)]
    result = runner.invoke(app, args)
    listed = _check(result, args)
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--workers", "1"]
    ran = runner.invoke(app, args)
    first = _check(ran, args)
    assert (ran.exit_code == 2) == (result.exit_code == 2), (listed, first)
    if ran.exit_code == 2 and len(listed) <= 20:
        assert first[0] in listed, (first, listed)  # run's one line is one of validate's


def test_a_line_separator_in_a_value_keeps_the_message_on_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzz test: `observations: "\\x1e"` printed a path that splitlines() breaks in two."""
    data = scenario_dict(30, observations="a\x1eb\u2028c.csv")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False))
    result = cli("validate", path)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "does not exist" in result.stderr


def test_available_memory_is_what_psutil_reports() -> None:
    """On Linux flowsim reads MemAvailable itself; psutil reads the same line (memory moves a little between the two
    reads, so they are compared within 256 MB)."""
    import psutil

    from flowsim.experiments import limits

    ours, theirs = limits.available_memory(), int(psutil.virtual_memory().available)
    assert abs(ours - theirs) < 256 * 1024**2, (ours, theirs)
