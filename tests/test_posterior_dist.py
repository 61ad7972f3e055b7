"""`{posterior: {file, column}}`: one weighted row of a posterior file per replicate, shared by its columns."""

from __future__ import annotations

import csv
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowsim.engines.plan import make_plan
from flowsim.model.distributions import Distribution
from flowsim.model.errors import InputError
from flowsim.model.scenario import load_scenario

from .conftest import scenario_dict, write


def posterior(column: str, file: str = "posterior.csv") -> dict[str, Any]:
    return {"posterior": {"file": file, "column": column}}


def two_flows(x: Any, y: Any, **overrides: Any) -> dict[str, Any]:
    """A recruitment and an attrition rate, e.g. two columns of one posterior file."""
    return scenario_dict(days=20, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": x},
        {"name": "t", "kind": "attrition", "region": "a", "rate": y},
    ], **overrides)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def parameters(folder: Path) -> list[dict[str, str]]:
    with open(folder / "test" / "parameters.csv", newline="") as fh:
        return list(csv.DictReader(fh))


CORRELATED = "sample,x,y,weight\n" + "".join(
    f"{i},{x!r},{1 - x!r},{w}\n" for i, (x, w) in enumerate([(0.1, 1), (0.25, 2), (0.5, 1), (0.75, 3), (0.9, 1)]))


def test_each_replicate_gets_one_whole_row(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_csv(tmp_path / "posterior.csv", CORRELATED)
    path = write(tmp_path, two_flows(posterior("x"), posterior("y"), replicates=500))
    result = cli("run", path, "--out", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = {(float(r["x"]), float(r["y"])) for r in csv.DictReader(CORRELATED.splitlines())}
    drawn = [(float(r["flows.r.rate"]), float(r["flows.t.rate"])) for r in parameters(tmp_path / "out")]
    assert len(drawn) == 500
    assert set(drawn) <= rows  # exactly: every pair is a row of the file, never a mix of two
    assert set(drawn) == rows  # and with 500 draws every row (weights >= 1/8) turns up


def test_weights_are_respected(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_csv(tmp_path / "posterior.csv", "x,weight\n1,0.9\n2,0.1\n")
    n = 4000
    path = write(tmp_path, two_flows(posterior("x"), 0.01, replicates=n))
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    second = sum(float(r["flows.r.rate"]) == 2.0 for r in parameters(tmp_path / "out"))
    # share of row 2 ~ Binomial(n, 0.1)/n; |z| < 4 fails by chance with probability 6.3e-5
    z = (second - n * 0.1) / math.sqrt(n * 0.1 * 0.9)
    assert abs(z) < 4, (second, z)


def test_same_seed_same_draws_whatever_the_workers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_csv(tmp_path / "posterior.csv", CORRELATED)
    path = write(tmp_path, two_flows(posterior("x"), posterior("y"), replicates=2 * 2048 + 300))
    texts = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        result = cli("run", path, "--out", out, "--workers", workers)
        assert result.exit_code == 0, result.output
        texts.append((out / "test" / "parameters.csv").read_text())
    assert texts[0] == texts[1]
    assert len(texts[0].splitlines()) == 1 + 2 * 2048 + 300


def test_rows_drawn_once_per_file_at_its_first_parameter(tmp_path: Path) -> None:
    """Rows come from the plan's rng in file order; other files draw their own rows."""
    write_csv(tmp_path / "posterior.csv", CORRELATED)
    write_csv(tmp_path / "other.csv", "z\n1\n2\n3\n")
    data = two_flows(posterior("x"), posterior("y"))
    data["regions"]["b"]["initial"] = posterior("z", "other.csv")
    data["events"] = [{"date": "2015-01-05", "set": {"flows.t.rate": posterior("y")}}]
    s, _ = load_scenario(write(tmp_path, data))
    plan = make_plan(s, np.random.default_rng(5), 300)
    x, y = plan.params["flows.r.rate"], plan.params["flows.t.rate"]
    assert np.allclose(x + y, 1.0)
    assert np.array_equal(plan.drawn["events[0].set.flows.t.rate"], y)  # same file, same row
    rng = np.random.default_rng(5)
    dist = s.regions["b"].initial
    assert isinstance(dist, Distribution)
    z = dist.sample(rng, 300)  # regions come first in file order: other.csv is drawn first
    assert np.array_equal(plan.params["regions.b.initial"], z)
    flow = s.flows[0].rate  # type: ignore[union-attr]
    assert isinstance(flow, Distribution)
    assert np.array_equal(x, flow.sample(rng, 300))


def test_distribution_fields_support_mean_pickle_and_dump(tmp_path: Path) -> None:
    write_csv(tmp_path / "posterior.csv", "x,weight,note\n1,3,a\n5,1,b\n")
    s, _ = load_scenario(write(tmp_path, two_flows(posterior("x"), 0.1)))
    d = s.flows[0].rate  # type: ignore[union-attr]
    assert isinstance(d, Distribution)
    assert (d.kind, d.args, d.file, d.column) == ("posterior", (), "posterior.csv", "x")
    assert d.resolved == str((tmp_path / "posterior.csv").resolve())
    assert d.values == (1.0, 5.0) and d.weights == (0.75, 0.25)
    assert d.support() == (1.0, 5.0) and d.mean() == 2.0
    assert d.to_yaml() == {"posterior": {"file": "posterior.csv", "column": "x"}}
    assert pickle.loads(pickle.dumps(s)) == s
    dumped = s.model_dump_json()
    assert dumped == load_scenario(tmp_path / "s.yaml")[0].model_dump_json()
    write_csv(tmp_path / "posterior.csv", "x,weight,note\n1,3,a\n6,1,b\n")
    assert load_scenario(tmp_path / "s.yaml")[0].model_dump_json() != dumped  # a changed file, a new fingerprint


def test_missing_weight_column_means_equal_weights(tmp_path: Path) -> None:
    write_csv(tmp_path / "posterior.csv", "x\n1\n2\n3\n4\n")
    s, _ = load_scenario(write(tmp_path, two_flows(posterior("x"), 0.1)))
    d = s.flows[0].rate  # type: ignore[union-attr]
    assert isinstance(d, Distribution)
    assert d.weights == (0.25,) * 4 and d.mean() == 2.5


def test_zero_weight_rows_are_never_drawn(tmp_path: Path) -> None:
    write_csv(tmp_path / "posterior.csv", "x,weight\n1,0\n2,1\n3,0\n")
    s, _ = load_scenario(write(tmp_path, two_flows(posterior("x"), 0.1)))
    d = s.flows[0].rate  # type: ignore[union-attr]
    assert isinstance(d, Distribution)
    assert set(d.sample(np.random.default_rng(1), 10_000).tolist()) == {2.0}


def test_path_is_relative_to_the_scenario_folder(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "posterior.csv", CORRELATED)
    path = write(tmp_path / "sub", two_flows(posterior("x"), posterior("y")))
    monkeypatch.chdir(tmp_path)
    assert cli("validate", path).exit_code == 0


def test_set_and_sweep_replace_a_posterior(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_csv(tmp_path / "posterior.csv", CORRELATED)
    path = write(tmp_path, two_flows(posterior("x"), posterior("y"), replicates=20))
    result = cli("run", path, "--out", tmp_path / "a", "--set", "flows.r.rate=7")
    assert result.exit_code == 0, result.output
    rows = parameters(tmp_path / "a")
    ys = {float(r["y"]) for r in csv.DictReader(CORRELATED.splitlines())}
    assert "flows.r.rate" not in rows[0] and {float(r["flows.t.rate"]) for r in rows} <= ys
    result = cli("sweep", path, "--param", "flows.r.rate=1,2", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    rows = parameters(tmp_path / "b")
    assert {float(r["flows.r.rate"]) for r in rows} == {1.0, 2.0} and len(rows) == 40
    result = cli("sweep", path, "--param", "flows.r.rate.posterior.0=1,2", "--out", tmp_path / "c")
    assert result.exit_code == 2 and "unknown parameter path" in result.stderr
    assert not (tmp_path / "c").exists()


def test_a_fraction_posterior_must_stay_in_range(tmp_path: Path) -> None:
    write_csv(tmp_path / "posterior.csv", "x\n0.5\n1.5\n")
    data = scenario_dict(flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 1},
                                {"name": "d", "kind": "diversion", "of": "r", "to": "b",
                                 "fraction": posterior("x")}])
    with pytest.raises(InputError) as info:
        load_scenario(write(tmp_path, data))
    assert "must be between 0 and 1" in info.value.message and info.value.field == "flows.d.fraction"


CSV_ERRORS = [
    # (file content or None for a folder, column, expected location, expected texts)
    ("", "x", "yaml", ["posterior.file", "an empty posterior file"]),
    ("x,weight\n", "x", "yaml", ["posterior.file", "an empty posterior file"]),
    ("x,y,weight\n1,2,1\n", "xx", "yaml",
     ["posterior.column", "value 'xx'", "its columns are x, y, weight", "did you mean 'x'?"]),
    ("x,weight\n1,1\n2,lots\n", "x", "csv:3:3", ["weight: value 'lots': must be a number"]),
    ("s,x\n0,1\n1,2 persons\n", "x", "csv:3:3", ["x: value '2 persons': must be a number"]),
    ("x,weight\n1,1\n2,-0.5\n", "x", "csv:3:3", ["weight: value '-0.5': must be >= 0"]),
    ("x,weight\n1,0\n2,0\n", "x", "csv:1:3", ["weight: weights are all zero"]),
    ("x,weight\n1,1\n2\n", "x", "csv:3:1", ["has 1 fields; the header has 2"]),
    ("x,weight\n1,1\ninf,1\n", "x", "csv:3:1", ["must be a finite number"]),
    (None, "x", "yaml", ["posterior.file", "posterior file is a folder"]),
]


@pytest.mark.parametrize(("content", "column", "where", "texts"), CSV_ERRORS)
def test_posterior_file_errors(cli, tmp_path: Path, content: str | None, column: str, where: str,  # type: ignore[no-untyped-def]
                               texts: list[str]) -> None:
    csv_path = tmp_path / "posterior.csv"
    if content is None:
        csv_path.mkdir()
    else:
        csv_path.write_text(content)
    path = write(tmp_path, two_flows(posterior(column), 0.1))
    out = tmp_path / "out"
    for command in (["run", path, "--out", out], ["validate", path]):
        result = cli(*command)
        message = result.stderr.strip()
        assert result.exit_code == 2, message
        assert len(message.splitlines()) == 1 and "Traceback" not in result.output + message, message
        if where == "yaml":
            assert message.startswith(f"error: {path}:"), message
        else:
            assert message.startswith(f"error: {csv_path.resolve()}:{where.removeprefix('csv:')}:"), message
        for text in texts:
            assert text in message, message
    assert not out.exists()


def test_missing_file_and_bad_forms(tmp_path: Path) -> None:
    path = write(tmp_path, two_flows(posterior("x", "nope.csv"), 0.1))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.field == "flows.r.rate.posterior.file" and "does not exist" in info.value.rule
    assert info.value.origin.file == str(path) and info.value.origin.line is not None
    for bad in ({"posterior": "posterior.csv"}, {"posterior": {"file": "posterior.csv"}},
                {"posterior": {"file": "posterior.csv", "column": "x", "weights": "w"}}):
        with pytest.raises(InputError) as info:
            load_scenario(write(tmp_path, two_flows(bad, 0.1)))
        assert "posterior needs {file: FILE.csv, column: NAME}" in info.value.rule
