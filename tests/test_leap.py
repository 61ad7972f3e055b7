"""The leap engine against the daily step and the exact means, with long leaps and transfers.

The leap engine samples the same model as the step engine (one day's law composed
over the days between dates that matter), so on every case here the two must
agree in distribution at every recorded date, in every region and flow count:

- a two-sample Kolmogorov-Smirnov test per region and flow count at the end date,
  failing below p = 1e-4 (conservative for discrete laws: false-failure rate at most
  1e-4 per test);
- z-tests (|z| < 4, false-failure rate 6.3e-5 each) of the difference of means at every
  recorded date (regions and flow counts), and of the difference of the means of the
  products of the two regions and of a region and a flow count at the end (with equal
  means, equal covariances);
- z-tests of the leap's mean against the mean-field engine's exact expectation, lane by
  lane (the same seed draws the same per-lane parameters in both): the mean over lanes of
  x - E[x | the lane's parameters], divided by its sample standard error.

The cases leap over 100-day intervals with delays shorter (3) and longer (120) than
a leap, losses in transit, several exits from one region, per-lane rates
(distributions), events (set, scale, shock) and schedule knots between records, and
transfers (delayed, undelayed, in a cycle a -> b -> a), where a leap is at most twice
the shortest transfer delay + 2 days, so some transfers land inside the leap they left in;
and a loss in transit that changes inside a leap, with a one-day leap (an event the day
after a record) whose travellers land inside the next one.

The 9 cases have 2 to 3 regions, 1 to 8 counters and 5 record days (0, 100, 200, 300,
365): the distribution test makes 370 checks (counted by `test_checks_are_counted`),
the exact-mean test 295 (one per region or counter and record day; those fixed by
construction, such as day 0, cannot fail). By the union bound a correct engine fails
this file with probability at most 57 x 1e-4 + (313 + 295) x 6.3e-5 = 4.4% (57 of the
370 are KS tests, at most 1e-4 each; the rest are z-tests, 6.3e-5 each), in practice
less: checks of one run are positively correlated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from flowsim.experiments.executor import simulate
from flowsim.model.scenario import Scenario

from .conftest import make

Z = 4.0
KS_ALPHA = 1e-4
DAYS = 365
N = 3000

CASES: dict[str, dict[str, Any]] = {
    "immigration-death": dict(regions={"a": {"initial": 500}, "b": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 12},
        {"name": "killed", "kind": "attrition", "region": "a", "rate": 0.004},
        {"name": "deserted", "kind": "attrition", "region": "a", "rate": 0.006}]),
    "short-and-long-delays": dict(regions={"a": {"initial": 400}, "b": {"initial": 50}, "c": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 20, "delay": 3},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3, "delay": 120, "loss": 0.2},
        {"name": "div2", "kind": "diversion", "of": "r", "to": "c", "fraction": 0.1},
        {"name": "da", "kind": "attrition", "region": "a", "rate": 0.01},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.02}]),
    "per-lane-rates": dict(regions={"a": {"initial": {"uniform": [200, 600]}}, "b": {"initial": 10}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 25]}},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": {"uniform": [0, 0.5]}, "delay": 10},
        {"name": "da", "kind": "attrition", "region": "a", "rate": {"lognormal": [-5, 0.5]}},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.01}]),
    "events-inside": dict(regions={"a": {"initial": 300}, "b": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 15},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.2, "delay": 30, "loss": 0.1},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}], events=[
        {"date": "2015-02-20", "scale": {"flows.r.rate": 2}},
        {"date": "2015-04-15", "shock": {"region": "a", "remove": 0.25}},
        {"date": "2015-06-07", "set": {"flows.div.loss": 0.6}},
        {"date": "2015-09-01", "shock": {"region": "b", "count": 50}},
        {"date": "2015-10-11", "set": {"flows.d.rate": 0.03}}]),
    "schedules": dict(regions={"a": {"initial": 300}, "b": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a",
         "rate": {"schedule": {"2015-01-01": 30, "2015-03-15": {"uniform": [5, 10]}, "2015-08-01": 20}}},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b",
         "fraction": {"linear": {"2015-02-01": 0.1, "2015-05-01": 0.5}}, "delay": 7},
        {"name": "d", "kind": "attrition", "region": "a", "rate": {"schedule": {"2015-01-01": 0.01,
                                                                               "2015-07-01": 0.03}}}]),
    "transfers": dict(regions={"a": {"initial": 800}, "b": {"initial": 100}, "c": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 15]}},
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 3, "loss": 0.2},
        {"name": "ba", "kind": "transfer", "from": "b", "to": "a", "rate": 0.02, "delay": 5},
        {"name": "bc", "kind": "transfer", "from": "b", "to": "c", "rate": {"uniform": [0.005, 0.02]}, "delay": 30},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.2, "delay": 2},
        {"name": "da", "kind": "attrition", "region": "a", "rate": 0.003},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.004}], events=[
        {"date": "2015-05-01", "scale": {"flows.ab.rate": 3}}]),
    "transfer-no-delay": dict(regions={"a": {"initial": 500}, "b": {"initial": 0}}, flows=[
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01},
        {"name": "ba", "kind": "transfer", "from": "b", "to": "a", "rate": 0.03},
        {"name": "r", "kind": "recruitment", "to": "b", "rate": 2}]),
    "loss-knot-and-one-day-leap": dict(regions={"a": {"initial": 3000}, "b": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 20},
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.02, "delay": 1,
         "loss": {"schedule": {"2015-01-01": 0.0, "2015-04-08": 0.95, "2015-04-10": 0.0}}},
        {"name": "db", "kind": "attrition", "region": "b", "rate": 0.3}], events=[
        {"date": "2015-12-28", "scale": {"flows.ab.rate": 1}}]),
    "no-exits": dict(regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 3},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.5, "delay": 200}]),
}


def scenario(name: str) -> Scenario:
    return make(DAYS, report_every=100, **CASES[name])


def z_two(a: np.ndarray, b: np.ndarray) -> float:
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = float(a.mean() - b.mean())
    return 0.0 if se == 0 and diff == 0 else diff / se


def series(sim: Any) -> dict[str, np.ndarray]:
    """Every region and flow count, (records, lanes)."""
    out = {f"pop {r}": sim.populations[:, i].astype(float) for i, r in enumerate(sim.scenario.regions)}
    out |= {f"moved {c}": sim.moved[:, i].astype(float) for i, c in enumerate(sim.counters)}
    return out


CHECKS: list[int] = []
KS: list[str] = []


@pytest.mark.parametrize("name", list(CASES))
def test_leap_and_step_agree_in_distribution(name: str) -> None:
    s = scenario(name)

    leap, step = simulate(s, replicates=N, engine="leap", seed=1), simulate(s, replicates=N, engine="step", seed=2)
    assert list(leap.days) == list(step.days) and leap.days[-1] == DAYS
    checks = 0
    a_all, b_all = series(leap), series(step)
    for key in a_all:
        a, b = a_all[key], b_all[key]
        for k in range(len(leap.days)):
            assert abs(z_two(a[k], b[k])) < Z, (key, int(leap.days[k]), z_two(a[k], b[k]))
            checks += 1
        if a[-1].std() > 0 or b[-1].std() > 0:
            assert stats.ks_2samp(a[-1], b[-1]).pvalue > KS_ALPHA, key
            checks += 1
            KS.append(key)
    first, second = (f"pop {r}" for r in list(s.regions)[:2])
    flow = f"moved {leap.counters[-1]}"
    for x, y in ((first, second), (first, flow)):
        assert abs(z_two(a_all[x][-1] * a_all[y][-1], b_all[x][-1] * b_all[y][-1])) < Z, (x, y)
        checks += 1
    np.testing.assert_array_equal(leap.in_transit >= 0, True)
    CHECKS.append(checks)


@pytest.mark.parametrize("name", list(CASES))
def test_leap_mean_is_the_exact_mean_lane_by_lane(name: str) -> None:
    s = scenario(name)
    leap = simulate(s, replicates=N, engine="leap", seed=3)
    exact = simulate(s, replicates=N, engine="meanfield", seed=3)
    for key, x in series(leap).items():
        mu = series(exact)[key]
        for k in range(len(leap.days)):
            d = x[k] - mu[k]
            sd = float(d.std(ddof=1))
            z = 0.0 if sd == 0 and abs(float(d.mean())) < 1e-9 else float(d.mean()) / (sd / math.sqrt(d.size))
            assert abs(z) < Z, (key, int(leap.days[k]), z)


def test_persons_are_conserved_over_leaps() -> None:
    s = scenario("events-inside")
    sim = simulate(s, replicates=200, engine="leap", seed=4)
    idx = {c: i for i, c in enumerate(sim.counters)}
    m = sim.moved[-1]
    recruited, gone = m[idx["r"]], m[idx["d"]] + m[idx["div_lost"]] + m[idx["shock_a_2015-04-15"]] \
        + m[idx["shock_b_2015-09-01"]]
    np.testing.assert_array_equal(sim.populations[0].sum(axis=0) + recruited,
                                  sim.populations[-1].sum(axis=0) + sim.in_transit + gone)


def test_a_leap_is_never_longer_than_twice_the_shortest_transfer_delay_plus_two() -> None:
    from flowsim.engines.leap import LeapEngine
    from flowsim.engines.plan import make_plan

    s = scenario("transfers")
    engine = LeapEngine(make_plan(s, np.random.default_rng(0), 4), np.random.default_rng(1))
    stops = engine._stops()
    assert max(np.diff(stops)) == 8 and {0, 100, 200, 300, 365} <= set(stops)


def test_checks_are_counted() -> None:
    """The docstring's count of checks of the distribution test (when it ran in this session)."""
    if len(CHECKS) == len(CASES):
        assert (sum(CHECKS), len(KS)) == (370, 57), (sum(CHECKS), len(KS))


def test_day_laws_by_cumulative_sums_match_the_day_by_day_recursion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised day laws (e^C sums) equal the day-by-day ones used where e^C could overflow."""
    from flowsim.engines import laws

    rng = np.random.default_rng(0)
    lanes, k = 50, 12
    total = rng.uniform(0, 0.3, (lanes, k))
    cum = np.concatenate([np.zeros((lanes, 1)), np.cumsum(total, axis=1)], axis=1)
    region = laws.Region([], [total], total, cum, True)
    starts = rng.dirichlet(np.ones(k), lanes)
    lam = rng.uniform(0, 5, (lanes, k))
    n = np.zeros(lanes, dtype=np.int64)
    fast = laws.present(n, region, starts), laws.arriving(n, region, lam, k)
    monkeypatch.setattr(laws, "SAFE_EXPONENT", -1.0)
    slow = laws.present(n, region, starts), laws.arriving(n, region, lam, k)
    for a, b in zip(fast, slow, strict=True):
        assert a.days is not None and b.days is not None
        np.testing.assert_allclose(a.days, b.days, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(a.stay + a.days.sum(axis=1), 1.0, rtol=1e-12)  # stay or leave on one day
