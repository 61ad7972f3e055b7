"""The command line through typer's runner: outputs, overrides, determinism, atomic writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from flowsim.outputs import records
from flowsim.outputs.staging import Staged

from .conftest import ROOT, scenario_dict, write

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def small(tmp_path: Path, **kw: object) -> Path:
    data = scenario_dict(60, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 15]}},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3, "delay": 3},
        {"name": "t", "kind": "transfer", "from": "b", "to": "a", "rate": 0.02, "delay": 2},
    ], events=[{"date": "2015-02-01", "shock": {"region": "a", "remove": 0.1}}], **kw)
    return write(tmp_path, data)


def test_run_writes_every_output(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    result = cli("run", path, "--out", tmp_path / "res", "--trajectories", "-n", "50")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "res" / "test"
    assert sorted(p.name for p in folder.iterdir()) == [
        "flows.csv", "parameters.csv", "run.json", "summary.csv", "trajectories.csv"]
    summary = read_csv(folder / "summary.csv")
    assert list(summary[0]) == records.SUMMARY
    assert {r["region"] for r in summary} == {"a", "b"}
    assert summary[-1]["date"] == "2015-03-02" and summary[-1]["day"] == "60"
    flows = read_csv(folder / "flows.csv")
    assert list(flows[0]) == records.FLOWS
    assert {r["flow"] for r in flows} == {"r", "d", "div", "t", "shock_a_2015-02-01"}
    params = read_csv(folder / "parameters.csv")
    assert list(params[0]) == ["point", "replicate", "flows.r.rate"]
    assert len(params) == 50 and all(5 <= float(r["flows.r.rate"]) <= 15 for r in params)
    traj = read_csv(folder / "trajectories.csv")
    assert len(traj) == 50 * len(summary)
    meta = json.loads((folder / "run.json").read_text())
    assert meta["replicates"] == 50 and meta["seed"] == 1 and meta["engine"] == "leap"
    assert len(meta["scenario_sha256"]) == 64
    assert "a" in result.stdout and "90% interval" in result.stdout
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_summary_matches_trajectories(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    result = cli("run", path, "--out", tmp_path, "--trajectories", "-n", "40")
    assert result.exit_code == 0, result.output
    traj = read_csv(tmp_path / "test" / "trajectories.csv")
    summary = read_csv(tmp_path / "test" / "summary.csv")
    last = summary[-1]
    values = [int(r["population"]) for r in traj if r["day"] == last["day"] and r["region"] == last["region"]]
    assert float(last["mean"]) == pytest.approx(sum(values) / len(values), abs=1e-3)


def test_same_seed_same_bytes_whatever_the_workers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    outs = []
    for workers in ("1", "2", "3"):
        out = tmp_path / f"w{workers}"
        assert cli("run", path, "--out", out, "-n", "5000", "--workers", workers, "--trajectories").exit_code == 0
        outs.append(out / "test")
    for name in ("summary.csv", "flows.csv", "parameters.csv", "trajectories.csv"):
        contents = {(o / name).read_bytes() for o in outs}
        assert len(contents) == 1, name


def test_seed_changes_results(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    for out, seed in (("x", "1"), ("y", "2")):
        result = cli("run", path, "--out", tmp_path / out, "--seed", seed)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "x/test/summary.csv").read_bytes() != (tmp_path / "y/test/summary.csv").read_bytes()


def test_set_overrides_a_parameter(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    result = cli("run", path, "--out", tmp_path, "-n", "20", "--set", "flows.r.rate=0", "--set",
                 "flows.d.rate=0", "--set", "regions.a.initial=7", "--set", "flows.t.rate=0")
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "test" / "summary.csv")
    a = [r for r in rows if r["region"] == "a"]
    assert a[0]["mean"] == "7"
    assert json.loads((tmp_path / "test/run.json").read_text())["overrides"][0] == "flows.r.rate=0"


@pytest.mark.parametrize(("option", "text"), [
    ("flows.r.rat=1", "unknown parameter path 'flows.r.rat'; did you mean 'flows.r.rate'?"),
    ("flows.d.rate=-1", "value -1: must be >= 0"),
    ("flows.div.fraction=abc", "must be a number"),
    ("nothing", "must be written PATH=VALUE"),
    ("flows.r.rate={uniform: [", "not valid YAML"),
])
def test_bad_set_exits_2(cli, tmp_path: Path, option: str, text: str) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    result = cli("run", path, "--out", tmp_path / "out", "--set", option)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --set {option}")
    assert text in result.stderr
    assert not (tmp_path / "out").exists()


def test_stale_trajectories_are_removed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    cli("run", path, "--out", tmp_path, "-n", "5", "--trajectories")
    assert (tmp_path / "test/trajectories.csv").exists()
    cli("run", path, "--out", tmp_path, "-n", "5")
    assert not (tmp_path / "test/trajectories.csv").exists()


def test_failed_write_leaves_no_partial_files(tmp_path: Path) -> None:
    """A crash while staging leaves neither new files nor temporaries."""
    folder = tmp_path / "r"
    with pytest.raises(RuntimeError), Staged(folder) as out:
        out.csv("summary.csv", ["a"], [["1"]])
        raise RuntimeError("interrupted")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_run(cli, tmp_path: Path, path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", path, "--out", tmp_path, "-n", "100")
    assert result.exit_code == 0, result.output
    assert (tmp_path / path.stem / "summary.csv").exists()


def test_validate_reports_every_file(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", *SCENARIOS)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok: ") == len(SCENARIOS)
    bad = ROOT / "tests/bad/negative-rate.yaml"
    result = cli("validate", SCENARIOS[0], bad)
    assert result.exit_code == 2
    assert "ok: " in result.stdout and "negative-rate.yaml:12:64" in result.stderr


def test_missing_and_folder_paths(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = cli("run", tmp_path)
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_schema_is_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert "flows" in schema["properties"] and "regions" in schema["required"]


def test_shock_draws_are_listed_in_parameters(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shock = {"region": "a", "remove": {"uniform": [0.1, 0.9]}}
    data = scenario_dict(30, events=[{"date": "2015-01-10", "shock": shock}])
    assert cli("run", write(tmp_path, data), "--out", tmp_path, "-n", "10").exit_code == 0
    params = read_csv(tmp_path / "test/parameters.csv")
    assert all(0.1 <= float(r["events[0].shock.remove"]) <= 0.9 for r in params)


def test_two_scenarios_with_one_name_exit_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, scenario_dict(), "a.yaml")
    b = write(tmp_path, scenario_dict(), "b.yaml")
    result = cli("run", a, b, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "both would write to" in result.stderr
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "taken").write_text("x")
    result = cli("run", write(tmp_path, scenario_dict()), "--out", tmp_path / "taken", "-n", "2")
    assert result.exit_code == 2 and "cannot create the results folder" in result.stderr


def test_a_run_removes_files_an_earlier_sweep_left(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    assert cli("sweep", path, "--param", "flows.d.rate=0.01,0.02", "--out", tmp_path, "-n", "5").exit_code == 0
    assert (tmp_path / "test/points.csv").exists()
    assert cli("run", path, "--out", tmp_path, "-n", "5").exit_code == 0
    assert not (tmp_path / "test/points.csv").exists()


def test_set_on_a_value_that_events_change_gives_a_note(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", ROOT / "scenarios/diversion.yaml", "--set", "flows.divert.fraction=0.4", "-n", "10",
                 "--out", tmp_path)
    assert result.exit_code == 0
    assert "flows.divert.fraction is also changed by events on 2015-07-01, 2015-10-01" in result.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["run", "S", "--replicates", "0"], "error: root run: --replicates: value '0': must be >= 1; see root run --help"),
    (["run", "S", "-n", "abc"],
     "error: root run: --replicates: value 'abc': must be a whole number; see root run --help"),
    (["run", "S", "--workers=0"], "error: root run: --workers: value '0': must be >= 1; see root run --help"),
    (["run", "-j0", "S"], "error: root run: --workers: value '0': must be >= 1; see root run --help"),
    (["compare", "S", "--tolerance", "2"],
     "error: root compare: --tolerance: value '2': must be <= 0.999; see root compare --help"),
    (["rnu"], "error: root: no such command 'rnu'. Did you mean 'run'? See root --help"),
])
def test_a_bad_option_value_is_named_with_its_rule(cli, tmp_path: Path, args: list[str],  # type: ignore[no-untyped-def]
                                                   expected: str) -> None:
    result = cli(*[str(tmp_path / "s.yaml") if a == "S" else a for a in args], "--out", tmp_path / "o") \
        if args != ["rnu"] else cli(*args)
    assert result.exit_code == 2 and result.stderr.strip() == expected, result.stderr
    assert not (tmp_path / "o").exists()
