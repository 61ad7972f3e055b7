"""Calibrating a distribution's argument, `--param PATH.KIND.I=lo:hi`.

The README once calibrated `flows.attrition_ly.rate.uniform.1=0.03:0.1`, the upper
bound of a uniform rate; no other test runs such a calibration. Here a small
synthetic scenario is calibrated on an argument of its recruitment rate's
distribution: the posterior stays in the prior and lands where the synthetic
truth is, and calibrated.yaml sets the argument to its posterior median.

The reports are made from a known world: the expected population of region a
(200 people at the start, attrition 0.02 a day) under recruitment at 20 a day,
+-4% on four dates. Two distributions give that mean:

- `{uniform: [10, H]}` with H = 30 (the README's kind of argument). Each replicate
  draws its own rate from U(10, H), so the reports pin the drawn rate near 20 and
  tell H only that it is at least about 20; above that the likelihood of H falls
  as 1 / (H - 10), the chance that a draw lands near 20. With the prior H ~ U(12, 60)
  the exact posterior is about proportional to 1 / (H - 10) on [20, 60]: 90%
  interval 20.8-56.2, median 32.4. So the check is that the posterior rules out
  the prior's values below the drawn rate (its 5% quantile is at least 19, where
  the prior's is 14.4), holds the truth H = 30 in its 90% interval, and that this
  interval is narrower than the prior's (43.2).
- `{normal: [M, 0.5]}` with M = 20: a location argument with little spread, which
  the reports do pin down. Prior M ~ U(5, 50); the check is that the 90% interval
  holds M = 20 and is less than a tenth of the prior's width (45).

The budget is small (6,000 draws, 300 particles: a few seconds) but large enough
that the sampler reaches the posterior: with 3,000 draws it warns that the budget
ran out and the posterior is poorly explored, and the checks below would test that
jump rather than the posterior.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from flowsim.cli.main import app

from .conftest import scenario_dict, write

N0, ATTRITION, DAYS, RATE = 200, 0.02, 120, 20.0
DRAWS, PARTICLES = "6000", "300"


@dataclass(frozen=True)
class Case:
    name: str
    rate: dict[str, list[float]]  # the recruitment rate as the scenario file writes it
    path: str  # the calibrated argument
    prior: tuple[float, float]
    truth: float  # the argument's value in the world that made the reports

    @property
    def kind(self) -> str:
        return next(iter(self.rate))

    @property
    def index(self) -> int:
        return int(self.path.rsplit(".", 1)[1])


UNIFORM = Case("uniform", {"uniform": [10, 45]}, "flows.r.rate.uniform.1", (12, 60), 30.0)
NORMAL = Case("normal", {"normal": [35, 0.5]}, "flows.r.rate.normal.0", (5, 50), RATE)


def mean_at(day: int) -> float:
    p = math.exp(-ATTRITION * day)
    return N0 * p + RATE / ATTRITION * (1 - p)


def synthetic(folder: Path, case: Case) -> Path:
    """The scenario with `case.rate` as its recruitment rate; reports +-4% around the known world's mean."""
    start = dt.date(2015, 1, 1)
    obs = [{"date": (start + dt.timedelta(days=d)).isoformat(), "region": "a",
            "low": round(mean_at(d) * 0.96), "high": round(mean_at(d) * 1.04), "source": f"synthetic day {d}"}
           for d in (30, 60, 90, 120)]
    data = scenario_dict(DAYS, regions={"a": {"initial": N0}}, observations=obs, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": case.rate},
        {"name": "d", "kind": "attrition", "region": "a", "rate": ATTRITION}])
    return write(folder, data)


def invoke(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest x whose weighted CDF reaches q."""
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    return float(x[order][min(int(np.searchsorted(cum / cum[-1], q)), len(x) - 1)])


@dataclass(frozen=True)
class Calibrated:
    case: Case
    folder: Path
    output: str
    header: list[str]
    values: np.ndarray
    weights: np.ndarray

    def quantile(self, q: float) -> float:
        return weighted_quantile(self.values, self.weights, q)


_runs: dict[str, Calibrated] = {}


def calibrate(case: Case, factory: pytest.TempPathFactory) -> Calibrated:
    """Calibrate `case.path` on the synthetic scenario (once per test session)."""
    if case.name not in _runs:
        folder = factory.mktemp(f"calibrate-{case.name}")
        lo, hi = case.prior
        result = invoke("calibrate", synthetic(folder, case), "--param", f"{case.path}={lo}:{hi}",
                        "--draws", DRAWS, "--particles", PARTICLES, "--out", folder / "o")
        assert result.exit_code == 0, result.output
        with open(folder / "o/test/posterior.csv", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
        _runs[case.name] = Calibrated(case, folder / "o/test", result.output, header,
                                      np.array([float(r[case.path]) for r in rows]),
                                      np.array([float(r["weight"]) for r in rows]))
    return _runs[case.name]


@pytest.fixture(params=[UNIFORM, NORMAL], ids=lambda c: c.name)
def calibrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Calibrated:
    return calibrate(request.param, tmp_path_factory)


def test_posterior_has_the_argument_inside_its_prior(calibrated: Calibrated) -> None:
    c = calibrated
    assert c.header == ["sample", "island", c.case.path, "loglik", "weight"]
    assert len(c.values) == int(PARTICLES)
    lo, hi = c.case.prior
    assert ((c.values >= lo) & (c.values <= hi)).all(), (c.values.min(), c.values.max())
    assert c.weights.sum() == pytest.approx(1.0)
    assert "budget ran out" not in c.output, "the checks assume the sampler reached the posterior"


def test_posterior_holds_the_truth_in_a_narrower_interval(calibrated: Calibrated) -> None:
    c = calibrated
    p05, p95 = c.quantile(0.05), c.quantile(0.95)
    lo, hi = c.case.prior
    assert p05 <= c.case.truth <= p95, (p05, c.case.truth, p95)
    if c.case is UNIFORM:
        assert p05 >= 19, f"the reports rule out upper bounds below the drawn rate (about 20); 5% quantile {p05}"
        assert p95 - p05 < 0.9 * (hi - lo), (p05, p95)
    else:
        assert p95 - p05 < 0.1 * (hi - lo), (p05, p95)


def header_comment(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def test_calibrated_yaml_sets_the_argument_to_its_posterior_median(calibrated: Calibrated) -> None:
    c = calibrated
    text = (c.folder / "calibrated.yaml").read_text()
    median = c.quantile(0.5)
    rate = yaml.safe_load(text)["flows"][0]["rate"]
    assert list(rate) == [c.case.kind]
    expected = list(c.case.rate[c.case.kind])
    assert rate[c.case.kind][c.case.index] == pytest.approx(median, rel=1e-5)  # written to 6 digits
    expected[c.case.index] = rate[c.case.kind][c.case.index]
    assert rate[c.case.kind] == expected, "the other arguments are kept"
    assert any("posterior median" in line and c.case.path in line for line in header_comment(text)), text
    assert "posterior:" not in text, "an argument is set to a number, not drawn from posterior.csv"
    result = invoke("validate", c.folder / "calibrated.yaml")
    assert result.exit_code == 0, result.output


def test_a_run_of_the_calibrated_scenario_draws_within_the_calibrated_uniform(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    c = calibrate(UNIFORM, tmp_path_factory)
    out = c.folder.parent / "run"
    result = invoke("run", c.folder / "calibrated.yaml", "-n", "200", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out / "test-calibrated/parameters.csv", newline="") as fh:
        drawn = np.array([float(r["flows.r.rate"]) for r in csv.DictReader(fh)])
    high = yaml.safe_load((c.folder / "calibrated.yaml").read_text())["flows"][0]["rate"]["uniform"][1]
    assert len(drawn) == 200 and (drawn >= 10).all() and (drawn <= high).all()
    assert drawn.max() > 10 + 0.9 * (high - 10), "draws span the calibrated uniform"


def test_header_does_not_claim_rows_are_drawn_when_only_medians_are_set(calibrated: Calibrated) -> None:
    text = (calibrated.folder / "calibrated.yaml").read_text()
    assert "posterior:" not in text
    assert "draws one row of posterior.csv" not in " ".join(line.lstrip("# ") for line in header_comment(text))
