"""Calibration (SMC posterior) and Sobol sensitivity on cases with known answers."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from .conftest import scenario_dict, write

TRUE_RATE, TRUE_ATTRITION, N0, DAYS = 20.0, 0.02, 200, 120


def mean_at(day: int, rate: float = TRUE_RATE, attrition: float = TRUE_ATTRITION) -> float:
    p = math.exp(-attrition * day)
    return N0 * p + rate / attrition * (1 - p)


def synthetic(tmp_path: Path) -> Path:
    """Observations made from the known rates: the expected population +-4% on four dates."""
    start = dt.date(2015, 1, 1)
    obs = [{"date": (start + dt.timedelta(days=d)).isoformat(), "region": "a",
            "low": round(mean_at(d) * 0.96), "high": round(mean_at(d) * 1.04), "source": f"synthetic day {d}"}
           for d in (30, 60, 90, 120)]
    data = scenario_dict(DAYS, regions={"a": {"initial": N0}}, observations=obs, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 30},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}])
    return write(tmp_path, data)


def test_calibrate_cli_writes_a_weighted_posterior_and_a_joint_calibrated_scenario(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = synthetic(tmp_path)
    result = cli("calibrate", path, "--param", "flows.r.rate=5:50", "--param", "flows.d.rate=0.005:0.05",
                 "--draws", "4000", "--particles", "400", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "log marginal likelihood" in result.stdout and "ESS" in result.stdout
    with open(tmp_path / "o/test/posterior.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 400
    assert list(rows[0]) == ["sample", "island", "flows.r.rate", "flows.d.rate", "loglik", "weight"]
    assert sum(float(r["weight"]) for r in rows) == pytest.approx(1.0)
    for name, truth in (("flows.r.rate", TRUE_RATE), ("flows.d.rate", TRUE_ATTRITION)):
        values = np.array([float(r[name]) for r in rows])
        p05, p95 = np.percentile(values, [5, 95])
        assert p05 <= truth <= p95, (name, p05, truth, p95)
    # the two rates are strongly correlated in the posterior; calibrated.yaml keeps whole rows
    calibrated = tmp_path / "o/test/calibrated.yaml"
    text = calibrated.read_text()
    assert "{posterior: {file: posterior.csv, column: flows.r.rate}}" in text
    assert not (tmp_path / "o/test/calibration-chunks").exists()
    result = cli("run", calibrated, "-n", "300", "--out", tmp_path / "pp")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "pp/test-calibrated/parameters.csv", newline="") as fh:
        drawn = {(float(r["flows.r.rate"]), float(r["flows.d.rate"])) for r in csv.DictReader(fh)}
    pairs = {(float(r["flows.r.rate"]), float(r["flows.d.rate"])) for r in rows}
    assert drawn <= pairs, "each replicate takes one whole posterior row"
    # posterior predictive check
    result = cli("compare", calibrated, "-n", "400", "--out", tmp_path / "pp")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "pp/test-calibrated/comparison.csv", newline="") as fh:
        verdicts = [r["verdict"] for r in csv.DictReader(fh)]
    assert verdicts == ["consistent"] * 4


def test_calibrate_needs_observations_and_params(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain = write(tmp_path, scenario_dict(), "plain.yaml")
    result = cli("calibrate", plain, "--param", "flows.x.rate=0:1", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "needs reported figures" in result.stderr
    result = cli("calibrate", synthetic(tmp_path), "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--param" in result.stderr
    assert not (tmp_path / "o").exists()


def test_sobol_indices_of_a_one_parameter_output(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """a's population depends on a's recruitment only: ST(rate_a) ~ 1, ST(attrition_b) ~ 0.

    The indices are of the expected output (replicate noise, about var_noise / var(Y),
    is taken out), so each is within 4 bootstrap standard errors of its target.
    """
    days, att = 100, 0.02
    data = scenario_dict(days, regions={"a": {"initial": 500}, "b": {"initial": 500}}, flows=[
        {"name": "ra", "kind": "recruitment", "to": "a", "rate": 30},
        {"name": "da", "kind": "attrition", "region": "a", "rate": att},
        {"name": "rb", "kind": "recruitment", "to": "b", "rate": 10},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.03}])
    reps = 100
    result = cli("sensitivity", write(tmp_path, data), "--param", "flows.ra.rate=10:50", "--param",
                 "flows.db.rate=0.01:0.05", "--samples", "256", "-n", str(reps), "--output", "a@2015-04-11",
                 "--output", "b", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "test/sensitivity.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    a = {r["parameter"]: r for r in rows if r["output"] == "a@2015-04-11"}
    p = math.exp(-att * days)
    var_y = ((50 - 10) / att * (1 - p)) ** 2 / 12
    # binomial survivors + Poisson recruits at the mean rate
    var_noise = (500 * p * (1 - p) + 30 / att * (1 - p)) / reps
    noise = var_noise / var_y
    # pooled over ~1,000 runs of 100 replicates, the noise estimate's relative sd is well under 1%
    assert float(a["flows.ra.rate"]["noise_floor"]) == pytest.approx(noise, rel=0.05)
    for name, target in (("flows.ra.rate", 1.0), ("flows.db.rate", 0.0)):
        st, se = float(a[name]["ST"]), float(a[name]["ST_conf"]) / 1.96
        assert abs(st - target) <= 4 * se + 1e-3, (name, st, se, noise)
    assert float(a["flows.ra.rate"]["S1"]) > 0.9
    b_dates = {r["date"] for r in rows if r["output"] == "b"}
    assert len(b_dates) == 11  # every recorded date
    image = mpimg.imread(tmp_path / "test/sensitivity.png")
    assert image.shape[0] > 300 and image[..., :3].std() > 0.05


def test_sensitivity_rejects_listed_values(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sensitivity", synthetic(tmp_path), "--param", "flows.r.rate=1,2", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "needs a range" in result.stderr
    result = cli("sensitivity", synthetic(tmp_path), "--param", "flows.r.rate=1:2", "--output", "zz",
                 "--out", tmp_path / "o")
    assert result.exit_code == 2 and "unknown region" in result.stderr


def test_calibrate_wants_ranges_for_priors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("calibrate", synthetic(tmp_path), "--param", "flows.r.rate=5:50:4", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "a prior is a range" in result.stderr
