"""Scenario loading: valid files, parameter paths, distributions, and error details."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from flowsim.model.distributions import Distribution
from flowsim.model.errors import InputError
from flowsim.model.observations import load_observations
from flowsim.model.scenario import load_scenario

from .conftest import ROOT, scenario_dict, write


def test_shipped_scenarios_load_with_their_parameters() -> None:
    s, _ = load_scenario(ROOT / "scenarios/diversion.yaml")
    params = s.parameters()
    assert params["regions.libya.initial"] == Distribution("uniform", (200.0, 1000.0))
    assert params["flows.divert.fraction"] == 0.0  # events set it from July 2015
    assert params["flows.foreign_is.rate.linear.2016-04-01"] == Distribution("uniform", (200.0, 500.0))
    net = s.network()
    assert net.splits[0].delay == 14 and net.splits[0].of == "foreign_is"
    assert s.unit_days == 30.4375


def test_diversion_inherits_the_delay_of_its_flow(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 1, "delay": 9},
        {"name": "d", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.5}]))
    s, _ = load_scenario(path)
    assert s.network().splits[0].delay == 9


def test_set_accepts_distributions_and_dates(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 1}]))
    s, located = load_scenario(path, ["flows.r.rate={normal: [5, 1]}", "end=2015-02-01", "replicates=7"])
    assert s.flows[0].rate == Distribution("normal", (5.0, 1.0))  # type: ignore[union-attr]
    assert s.days == 31 and s.replicates == 7
    assert str(located.origin(("flows", 0, "rate"))) == "--set flows.r.rate={normal: [5, 1]}"


@pytest.mark.parametrize(("event", "rule"), [
    ({"date": "2015-02-01", "set": {"flows.d.fraction": 1.2}}, "value 1.2: would make flows.d.fraction exceed 1"),
    ({"date": "2015-02-01", "scale": {"flows.d.fraction": 3}}, "would make flows.d.fraction exceed 1"),
    ({"date": "2015-02-01", "set": {"regions.a.initial": 3}}, "unknown flow parameter"),
    ({"date": "2015-02-01"}, "exactly one of `set`, `scale` or `shock`"),
    ({"date": "2015-02-01", "shock": {"region": "a"}}, "exactly one of `remove`"),
    ({"date": "2015-02-01", "shock": {"region": "zz", "count": 3}}, "unknown region"),
])
def test_event_rules(tmp_path: Path, event: dict[str, object], rule: str) -> None:
    path = write(tmp_path, scenario_dict(flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 1},
        {"name": "d", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.5}], events=[event]))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert rule in info.value.message
    assert info.value.origin.line is not None and info.value.origin.line > 1


def test_duplicate_flow_names_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_dict(flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 1},
        {"name": "r", "kind": "attrition", "region": "a", "rate": 1}]))
    with pytest.raises(InputError, match="flow names must be unique"):
        load_scenario(path)


@pytest.mark.parametrize(("value", "rule"), [
    (float("nan"), "finite"), (float("inf"), "finite"), (1e12, "at most"), (True, "not true/false"),
    ({"uniform": [1]}, "uniform needs"), ({"gamma": [1, 2]}, "unknown distribution 'gamma'"),
    ({"normal": [1, -1]}, "sd >= 0"), ([1, 2], "must be a number or a distribution"),
])
def test_bad_numbers(tmp_path: Path, value: object, rule: str) -> None:
    path = write(tmp_path, scenario_dict(regions={"a": {"initial": value}}))
    with pytest.raises(InputError, match=rule.replace("(", r"\(")):
        load_scenario(path)


def test_observation_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("date,region,low,high,value,source\n2015-06-01,a,,3000,,fewer than\n"
                    "2015-07-01,b,,,\"6,500\",about\n\n")
    rows = load_observations(path)
    assert rows[0].low is None and rows[0].high == 3000
    assert rows[1].value == 6500


@pytest.mark.parametrize(("text", "where", "rule"), [
    ("date,region,lo\n", "1:13", "unknown column; did you mean 'low'?"),
    ("date,region,low,high\n2015-13-01,a,1,2\n", "2:1", "must be a date"),
    ("date,region,low,high\n2015-01-01,a,5,2\n", "2:1", "low (5) must not exceed high (2)"),
    ("date,region,low,high\n2015-01-01,a\n", "2:1", "has 2 fields"),
    ("date,region,low,high\n2015-01-01,a,,\n", "2:1", "needs `value`, or `low` and/or `high`"),
    ("", "1:1", "empty"),
])
def test_bad_observation_files(tmp_path: Path, text: str, where: str, rule: str) -> None:
    path = tmp_path / "obs.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_observations(path)
    assert info.value.message.startswith(f"{path}:{where}")
    assert rule in info.value.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: x\nstart: \xff\n")
    with pytest.raises(InputError, match=r"s.yaml:2:8: file is not UTF-8"):
        load_scenario(path)


def test_yaml_object_tags_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="tags"):
        load_scenario(path)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "s.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="alias bomb"):
        load_scenario(path)


@pytest.mark.parametrize("dist", [
    Distribution("uniform", (2, 5)), Distribution("triangular", (1, 2, 6)), Distribution("normal", (1, 2)),
    Distribution("lognormal", (0.5, 0.3)), Distribution("choice", (1, 2, 7)),
])
def test_distribution_means(dist: Distribution) -> None:
    """Sample mean vs the exact mean: |z| < 4, false-failure rate 6.3e-5 per case."""
    x = dist.sample(np.random.default_rng(5), 100_000)
    lo, hi = dist.support()
    assert x.min() >= lo and x.max() <= hi
    z = (x.mean() - dist.mean()) / (x.std(ddof=1) / np.sqrt(x.size))
    assert abs(z) < 4
    if dist.kind == "normal":  # truncated at 0: compare with scipy's truncnorm
        ref = stats.truncnorm(-0.5, np.inf, loc=1, scale=2)
        assert abs((x.mean() - ref.mean()) / (ref.std() / np.sqrt(x.size))) < 4


def test_observation_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_bytes(b"\xef\xbb\xbfdate,region,low,high\n2015-06-01,a,1,2\n")
    assert load_observations(path)[0].high == 2


def test_observation_csv_with_a_column_twice(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("date,region,low,low\n2015-06-01,a,1,2\n")
    with pytest.raises(InputError, match="1:17: header: value 'low': column appears twice"):
        load_observations(path)
