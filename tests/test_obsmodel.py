"""The observation model: its verdicts alarm at the stated rate and its score rewards being right, not wide."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from flowsim.model import obsmodel
from flowsim.model.scenario import Observation
from flowsim.outputs import compare

from .conftest import scenario_dict, write

SIGMA = 0.1
HALF = 1.6448536269514722 * SIGMA


def report(centre: float, **kw: object) -> Observation:
    return Observation.model_validate({"date": "2015-01-01", "region": "a", "source": "s",
                                       "low": centre * math.exp(-HALF), "high": centre * math.exp(HALF), **kw})


def test_verdicts_alarm_at_their_stated_rate_when_the_scenario_is_right() -> None:
    """Reports made by the model itself: 'too high' and 'too low' each about 5% of the time.

    4,000 reports, each against 2,000 replicates of the same predictive; |z| < 4 on each
    binomial count (false failure ~6e-5 each); the finite-replicate predictive shifts the
    rate by O(1/2000), well inside the band.
    """
    rng = np.random.default_rng(11)
    trials, reps = 4000, 2000
    high = low = 0
    for _ in range(trials):
        x = rng.poisson(rng.uniform(800, 1200, reps))[None, :]  # one predictive; the truth is one more draw
        truth = rng.poisson(rng.uniform(800, 1200))
        obs = report(truth * math.exp(SIGMA * rng.standard_normal()))
        rows, _ = compare.assess(x, np.ones_like(x, dtype=float), [obs], compare.Settings())
        high += rows[0].verdict == "too high"
        low += rows[0].verdict == "too low"
    for count in (high, low):
        z = (count - trials * compare.ALARM) / math.sqrt(trials * compare.ALARM * (1 - compare.ALARM))
        assert abs(z) < 4, (high, low)


def test_a_twice_as_wide_fan_chart_scores_worse_on_average() -> None:
    """Proper score: with reports from the true model, the right predictive beats one twice as wide.

    The mean paired difference of log scores over 2,000 reports is positive with z > 4
    (a wide fan chart that is as right in the middle must not win for its width).
    """
    rng = np.random.default_rng(12)
    trials, reps = 2000, 1000
    diffs = np.empty(trials)
    for t in range(trials):
        right = np.exp(rng.normal(math.log(1000), 0.2, reps))
        wide = np.exp(rng.normal(math.log(1000), 0.4, reps))
        truth = math.exp(rng.normal(math.log(1000), 0.2))
        obs = [report(truth * math.exp(SIGMA * rng.standard_normal()))]
        score = [compare.assess(x[None, :], np.ones((1, reps)), obs, compare.Settings())[1].sum()
                 for x in (right, wide)]
        diffs[t] = score[0] - score[1]
    z = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(trials))
    assert z > 4, (diffs.mean(), z)


def test_cli_ranks_the_right_scenario_above_a_wider_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    obs = [{"date": "2015-04-11", "region": "a", "low": 900, "high": 1100, "source": "centred"}]
    paths = []
    for name, sd in (("right", 60), ("wide", 120)):
        data = scenario_dict(100, name=name, regions={"a": {"initial": {"normal": [1000, sd]}}}, replicates=2000,
                             observations=obs)
        paths.append(write(tmp_path, data, f"{name}.yaml"))
    result = cli("compare", *paths, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    scores = {}
    for name in ("right", "wide"):
        with open(tmp_path / name / "comparison.csv", newline="") as fh:
            scores[name] = float(next(csv.DictReader(fh))["log_score"])
    assert scores["right"] > scores["wide"] + 0.3  # analytic gap ~0.49 (densities of N(0, 0.06^2+0.058^2) vs ...)
    ranked = result.stdout.split("ranked by agreement")[1]
    assert ranked.index("right") < ranked.index("wide")


def test_groups_count_once_and_duplicates_get_a_note(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one = [{"date": "2015-04-11", "region": "a", "low": 900, "high": 1100, "source": "outlet 1"}]
    twice = [dict(one[0], group="g"), dict(one[0], source="outlet 2", group="g")]
    scores = []
    for k, obs in enumerate((one, twice)):
        data = scenario_dict(100, name=f"s{k}", regions={"a": {"initial": {"normal": [1000, 60]}}},
                             replicates=500, observations=obs)
        result = cli("compare", write(tmp_path, data, f"s{k}.yaml"), "--out", tmp_path)
        assert result.exit_code == 0, result.output
        meta = (tmp_path / f"s{k}" / "run.json").read_text()
        scores.append(float(meta.split('"log_score": ')[1].split(",")[0]))
    assert scores[0] == pytest.approx(scores[1], abs=0.01)  # a group of two repeats is one measurement
    data = scenario_dict(100, name="dup", regions={"a": {"initial": 1000}}, observations=[
        one[0], dict(one[0], source="outlet 2")])
    result = cli("compare", write(tmp_path, data, "dup.yaml"), "--out", tmp_path)
    assert result.exit_code == 0 and "several ungrouped reports of a on 2015-04-11" in result.stderr


def test_a_bias_reads_a_report_of_part_of_the_force() -> None:
    """'Battle-ready' fighters as 60% of the count: the report's likelihood peaks at count = report / 0.6."""
    obs = report(600.0, bias="core")
    ms = obsmodel.measurements([obs], 0.25)
    x = np.array([[800.0, 1000.0, 1200.0]])
    ll = obsmodel.loglik(x, ms, np.full_like(x, 0.6))
    assert int(np.argmax(ll[0])) == 1


def test_bias_parameter_can_be_calibrated(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = scenario_dict(100, regions={"a": {"initial": 1000}}, biases={"core": 0.5}, observations=[
        {"date": "2015-04-11", "region": "a", "low": 550, "high": 650, "source": "core fighters", "bias": "core"}])
    result = cli("calibrate", write(tmp_path, data), "--param", "biases.core=0.2:1", "--draws", "2000",
                 "--particles", "200", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "test/posterior.csv", newline="") as fh:
        values = np.array([float(r["biases.core"]) for r in csv.DictReader(fh)])
    assert 0.5 < np.median(values) < 0.7  # the report is 600 of 1,000
