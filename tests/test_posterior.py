"""The calibration posterior is a posterior: simulation-based calibration, an exact grid, model evidence.

Every check here is seeded, so it passes or fails the same way on every run;
the stated rates are how often a correct sampler would fail it over seeds.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from flowsim.experiments import calibrate as calibration
from flowsim.experiments import runs

from . import sbc
from .conftest import scenario_dict, write

T, SIGMA = 40, 0.1
T_CRIT = 5.408  # two-sided 0.1% quantile of Student's t with 7 df (8 islands)


def check_sbc(trials: list[sbc.Trial], low: int, high: int) -> None:
    covered = np.array([t.covered for t in trials]).sum(axis=0)
    ranks = np.array([t.rank for t in trials])
    for i, name in enumerate(sbc.PRIORS):
        assert low <= covered[i] <= high, (name, covered[i], len(trials))
        # ranks of the truth uniform: Kolmogorov-Smirnov at the 0.1% level
        assert stats.kstest(ranks[:, i], "uniform").pvalue > 0.001, (name, np.histogram(ranks[:, i], 5)[0])


def test_simulation_based_calibration_fast(tmp_path: Path) -> None:
    """100 truths, 2 parameters, 3 range reports each: the 90% intervals cover 83-96 times.

    83-96 is the binomial(100, 0.9) band with 0.4% below and 0.8% above it
    (1.2% per parameter); with the KS test, a correct sampler fails about 3% of seeds.
    """
    check_sbc(sbc.run(100, tmp_path, particles=400, draws=4000), 83, 96)


@pytest.mark.slow
def test_simulation_based_calibration_full(tmp_path: Path) -> None:
    """400 truths with more particles: coverage within binomial(400, 0.9)'s 342-377 (0.4% + 0.5% outside)."""
    check_sbc(sbc.run(400, tmp_path, particles=1000, draws=10000), 342, 377)


def poisson_scenario(tmp_path: Path, low: float, high: float, attrition: float | None, name: str) -> Path:
    """From nobody, Poisson recruitment at `rate` (and optional attrition): N(T) is Poisson, exactly."""
    flows: list[dict[str, object]] = [{"name": "r", "kind": "recruitment", "to": "a", "rate": 10}]
    if attrition is not None:
        flows.append({"name": "d", "kind": "attrition", "region": "a", "rate": attrition})
    date = (dt.date(2015, 1, 1) + dt.timedelta(days=T)).isoformat()
    data = scenario_dict(T, name=name, regions={"a": {"initial": 0}}, flows=flows, observations=[
        {"date": date, "region": "a", "low": low, "high": high, "source": "one range"}])
    return write(tmp_path, data, f"{name}.yaml")


def exact_posterior(low: float, high: float, attrition: float | None,
                    grid: np.ndarray) -> tuple[np.ndarray, float]:
    """Posterior density of the rate on a grid (uniform prior on its span) and the log evidence."""
    mean_per_rate = T if attrition is None else (1 - math.exp(-attrition * T)) / attrition
    n = np.arange(0, 4000)
    sigma = math.log(high / low) / (2 * 1.6448536269514722)
    log_lik_n = stats.norm.logpdf(0.5 * math.log(low * high), np.log(np.maximum(n, 0.5)), sigma)
    like = np.array([np.exp(stats.poisson.logpmf(n, lam * mean_per_rate) + log_lik_n).sum() for lam in grid])
    width = grid[-1] - grid[0]
    evidence = np.trapezoid(like, grid) / width
    return like / (evidence * width), math.log(evidence)


def calibrate_file(path: Path, folder: Path, particles: int, draws: int, islands: int) -> calibration.Calibration:
    opts = runs.RunOptions()
    item = runs.load(path, opts)
    job = runs.plan_calibration(item, opts, ["flows.r.rate=5:30"], replicates=4)
    return calibration.run(job, folder, particles=particles, draws=draws, islands=islands)


def test_weighted_quantiles_and_evidence_match_an_exact_grid(tmp_path: Path) -> None:
    """N(40) ~ Poisson(40 rate) exactly; the report 400-560 gives a posterior we can integrate on a grid.

    Quantiles: the exact CDF at flowsim's q-quantile is q within 4 binomial
    standard errors of the ESS (false failure ~6e-5 each). Evidence: within
    T_CRIT standard errors estimated from 8 islands (0.1%).
    """
    low, high = 400.0, 560.0
    cal = calibrate_file(poisson_scenario(tmp_path, low, high, None, "a"), tmp_path / "o", 2000, 24000, 8)
    grid = np.linspace(5, 30, 5001)
    density, log_z = exact_posterior(low, high, None, grid)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    ess = cal.result.ess
    _, _, _, p50, p05, p95 = cal.summary()[0]
    for q, value in ((0.05, p05), (0.5, p50), (0.95, p95)):
        got = float(np.interp(value, grid, cdf))
        assert abs(got - q) <= 4 * math.sqrt(q * (1 - q) / ess), (q, value, got, ess)
    se = cal.result.log_evidence_se
    assert abs(cal.result.log_evidence - log_z) <= T_CRIT * se + 1e-9, (cal.result.log_evidence, log_z, se)


def test_model_probabilities_match_exact_evidence(tmp_path: Path) -> None:
    """Two models explain a report of 330-490 by different rates; exact odds from the grid.

    A: recruitment only (N ~ Poisson(40 r)); B: with attrition 0.05/day (N ~ Poisson(17.3 r)).
    Both fit, but A does so on a narrower span of its prior, so P(A) is about 0.3, not 0 or 1.
    """
    low, high = 330.0, 490.0
    grid = np.linspace(5, 30, 5001)
    cals = [calibrate_file(poisson_scenario(tmp_path, low, high, att, name), tmp_path / name, 1000, 12000, 8)
            for name, att in (("a", None), ("b", 0.05))]
    exact = [exact_posterior(low, high, att, grid)[1] for att in (None, 0.05)]
    p_exact = 1 / (1 + math.exp(exact[1] - exact[0]))
    assert 0.1 < p_exact < 0.9
    (p_a, se_a), _ = calibration.model_probabilities([c.result.log_evidence for c in cals],
                                                      [c.result.log_evidence_se for c in cals])
    assert abs(p_a - p_exact) <= T_CRIT * se_a, (p_a, se_a, p_exact)


def test_model_comparison_recovers_the_generating_scenario(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A report of about 1,000 made by A (rate 25): B's highest mean (30 x 17.3 = 519) cannot reach it."""
    paths = [poisson_scenario(tmp_path, 900, 1100, att, name) for name, att in (("a", None), ("b", 0.05))]
    result = cli("calibrate", *paths, "--param", "flows.r.rate=5:30", "--draws", "3000", "--particles", "400",
                 "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "o/model-comparison.csv", newline="") as fh:
        rows = {r["scenario"]: r for r in csv.DictReader(fh)}
    assert float(rows["a"]["probability"]) > 0.99
    assert "Models compared" in result.stdout


def test_calibration_is_identical_for_any_worker_count_and_after_resume(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = poisson_scenario(tmp_path, 400, 560, None, "a")
    args = ("--param", "flows.r.rate=5:30", "--draws", "3000", "--particles", "300")
    files = []
    for workers in ("1", "2"):
        result = cli("calibrate", path, *args, "--workers", workers, "--out", tmp_path / workers)
        assert result.exit_code == 0, result.output
        files.append((tmp_path / workers / "a/posterior.csv").read_bytes())
    assert files[0] == files[1]
    # interrupted after its third round, then resumed: the finished rounds are reused, the result is the same
    real = calibration.executor.execute
    calls = {"n": 0, "reused": 0}

    def flaky(job, store, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4 and not kw.get("resume"):
            raise KeyboardInterrupt
        outcome = real(job, store, **kw)
        calls["reused"] += outcome.reused
        return outcome

    monkeypatch.setattr(calibration.executor, "execute", flaky)
    result = cli("calibrate", path, *args, "--out", tmp_path / "r")
    assert result.exit_code == 130
    assert not (tmp_path / "r/a/posterior.csv").exists()
    result = cli("calibrate", path, *args, "--resume", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert calls["reused"] >= 3
    assert (tmp_path / "r/a/posterior.csv").read_bytes() == files[0]
