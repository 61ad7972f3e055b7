"""The three engines agree: step vs mean-field (means) and step vs event (distributions).

- Step vs mean-field: z-score of the step engine's mean at every recorded date
  against the exact expected value; |z| < 4, false-failure rate 6.3e-5 per check.
- Step vs event: a two-sample Kolmogorov-Smirnov test at the end date, failing
  below p = 1e-4 (for these discrete laws KS is conservative, so the
  false-failure rate is at most 1e-4 per check), and a z-test of the difference
  of means (|z| < 4).
- A naive daily step that adds recruits at day end, without their same-day
  losses, is biased; the mean-field check must reject it (|z| > 4).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from flowsim.experiments.executor import simulate
from flowsim.model.scenario import Scenario, load_scenario

from .conftest import ROOT, make

Z = 4.0
KS_ALPHA = 1e-4

CASES: dict[str, dict[str, Any]] = {
    "recruit-attrition-high": dict(regions={"a": {"initial": 300}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 30},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.05}]),
    "diversion-delay": dict(regions={"a": {"initial": 300}, "b": {"initial": 50}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 20},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3, "delay": 4},
        {"name": "da", "kind": "attrition", "region": "a", "rate": 0.02},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.04}]),
    "transfers": dict(regions={"a": {"initial": 400}, "b": {"initial": 100}}, flows=[
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.03, "delay": 3},
        {"name": "ba", "kind": "transfer", "from": "b", "to": "a", "rate": 0.05},
        {"name": "da", "kind": "attrition", "region": "a", "rate": 0.01},
        {"name": "r", "kind": "recruitment", "to": "b", "rate": 5, "delay": 2}]),
    "events": dict(regions={"a": {"initial": 300}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 15},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.03}], events=[
        {"date": "2015-01-11", "scale": {"flows.r.rate": 2}},
        {"date": "2015-01-21", "shock": {"region": "a", "remove": 0.25}},
        {"date": "2015-01-31", "set": {"flows.d.rate": 0.08}}]),
}


def scenario(name: str, days: int = 40) -> Scenario:
    return make(days, report_every=5, **CASES[name])


def z_of_mean(x: np.ndarray, mean: float) -> float:
    sd = float(x.std(ddof=1))
    return 0.0 if sd == 0 and float(x.mean()) == mean else (float(x.mean()) - mean) / (sd / math.sqrt(x.size))


def check_means(step: Any, mf: Any) -> None:
    for k in range(len(step.days)):
        for r in range(step.populations.shape[1]):
            expected = float(mf.populations[k, r].mean())
            assert abs(z_of_mean(step.populations[k, r].astype(float), expected)) < Z, (k, r)


@pytest.mark.parametrize("name", list(CASES))
def test_step_mean_matches_mean_field(name: str) -> None:
    s = scenario(name)
    check_means(simulate(s, replicates=4000), simulate(s, replicates=1, engine="meanfield"))


@pytest.mark.parametrize("name", list(CASES))
def test_step_and_event_distributions_agree(name: str) -> None:
    s = scenario(name)
    step = simulate(s, replicates=3000)
    event = simulate(s, replicates=400, engine="event", seed=99)
    for r in range(step.populations.shape[1]):
        a, b = step.populations[-1, r].astype(float), event.populations[-1, r].astype(float)
        assert stats.ks_2samp(a, b).pvalue > KS_ALPHA
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) / se < Z
    for f in range(step.moved.shape[1]):
        a, b = step.moved[-1, f].astype(float), event.moved[-1, f].astype(float)
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert se == 0 or abs(a.mean() - b.mean()) / se < Z


def naive_day_end_step(n0: int, lam: float, a: float, days: int, reps: int, seed: int) -> np.ndarray:
    """Residents leave with the exact daily probability, but recruits join at day end untouched."""
    rng = np.random.default_rng(seed)
    n = np.full(reps, n0)
    for _ in range(days):
        n = n - rng.binomial(n, -math.expm1(-a)) + rng.poisson(lam, reps)
    return n.astype(float)


def test_naive_day_end_step_is_rejected_and_the_step_engine_is_not() -> None:
    s = scenario("recruit-attrition-high")
    mf = simulate(s, replicates=1, engine="meanfield")
    exact = float(mf.populations[-1, 0, 0])
    p = math.exp(-0.05 * 40)
    assert exact == pytest.approx(300 * p + 30 / 0.05 * (1 - p))
    naive = naive_day_end_step(300, 30, 0.05, 40, 4000, seed=3)
    assert abs(z_of_mean(naive, exact)) > Z  # the check has the power to see a day-end bias
    step = simulate(s, replicates=4000).populations[-1, 0].astype(float)
    assert abs(z_of_mean(step, exact)) < Z


@pytest.mark.parametrize("name", ["baseline", "diversion", "border-closure"])
def test_shipped_scenarios_step_vs_mean_field(name: str) -> None:
    s, _ = load_scenario(ROOT / f"scenarios/{name}.yaml")
    step = simulate(s, replicates=2000)
    # mean-field per lane with the same parameter draws (same seed, same blocks): E[N | parameters]
    mf = simulate(s, replicates=2000, engine="meanfield")
    np.testing.assert_allclose(mf.populations[0], step.populations[0])  # same draws of the initial values
    for k in range(0, len(step.days), 10):
        for r in range(step.populations.shape[1]):
            diff = step.populations[k, r].astype(float) - mf.populations[k, r]
            assert abs(z_of_mean(diff, 0.0)) < Z, (k, r)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", "diversion", "border-closure"])
def test_shipped_scenarios_step_vs_event(name: str) -> None:
    s, _ = load_scenario(ROOT / f"scenarios/{name}.yaml")
    s = s.model_copy(update={"end": s.start.replace(year=s.start.year + 1)})
    step = simulate(s, replicates=2000)
    event = simulate(s, replicates=150, engine="event", seed=5)
    for r in range(step.populations.shape[1]):
        a, b = step.populations[-1, r].astype(float), event.populations[-1, r].astype(float)
        assert stats.ks_2samp(a, b).pvalue > KS_ALPHA
