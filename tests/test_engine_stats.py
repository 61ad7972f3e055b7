"""The step engine against analytic means of the linear model, one flow kind at a time.

Each check is a z-score of the simulated mean over many replicates against the
exact expected value (with the exact standard deviation where it is known in
closed form, else the sample's). The threshold |z| < 4 gives a false-failure
rate of 6.3e-5 per check for a correct engine (two-sided normal tail at 4).

This file makes 100 z-score checks (counted by running it with `zscore` wrapped,
parametrised cases included: 7 records in each of the six one-region 60-day runs,
12 for the diversion, 13 for the events, 14 and 15 for the two transfers, 2 for the
diverted counts, 1 each for time units and distributions). 13 of them are at day 0,
where every replicate holds the fixed initial number (sd 0), so they cannot fail by
chance; 87 are random. A correct engine therefore fails a run of this file with
probability at most 87 x 6.3e-5 = 5.5e-3, about once in 180 runs (the union bound;
checks of the same replicates on successive days are positively correlated, so the
true rate is somewhat lower).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowsim.experiments.executor import simulate

from .conftest import make

Z = 4.0
DAYS = 60
N = 4000


def zscore(sample: np.ndarray, mean: float, sd: float | None = None) -> float:
    sd = float(sample.std(ddof=1)) if sd is None else sd
    if sd == 0:
        return 0.0 if float(sample.mean()) == mean else math.inf
    return (float(sample.mean()) - mean) / (sd / math.sqrt(sample.size))


def final(sim, region: int, k: int = -1) -> np.ndarray:  # type: ignore[no-untyped-def]
    return sim.populations[k, region].astype(float)


def test_recruitment_alone_is_poisson() -> None:
    lam = 37.5
    s = make(DAYS, regions={"a": {"initial": 10}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": lam}])
    sim = simulate(s, replicates=N)
    for k, day in enumerate(sim.days):
        mean, var = 10 + lam * day, lam * day
        assert abs(zscore(final(sim, 0, k), mean, math.sqrt(var))) < Z


def test_attrition_alone_is_binomial() -> None:
    a = 0.03
    s = make(DAYS, regions={"a": {"initial": 5000}}, flows=[
        {"name": "d", "kind": "attrition", "region": "a", "rate": a}])
    sim = simulate(s, replicates=N)
    for k, day in enumerate(sim.days):
        p = math.exp(-a * day)
        assert abs(zscore(final(sim, 0, k), 5000 * p, math.sqrt(5000 * p * (1 - p)))) < Z


@pytest.mark.parametrize(("lam", "a"), [(80.0, 0.004), (100.0, 0.05), (500.0, 0.5)])
def test_recruitment_with_attrition_matches_immigration_death(lam: float, a: float) -> None:
    """Includes high attrition, where a recruit counted only at day end would be biased."""
    n0 = 3000
    s = make(DAYS, regions={"a": {"initial": n0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": lam},
        {"name": "d", "kind": "attrition", "region": "a", "rate": a}])
    sim = simulate(s, replicates=N)
    for k, day in enumerate(sim.days):
        p = math.exp(-a * day)
        mean = n0 * p + lam / a * (1 - p)
        var = n0 * p * (1 - p) + lam / a * (1 - p)
        assert abs(zscore(final(sim, 0, k), mean, math.sqrt(var))) < Z


def test_diversion_splits_the_stream() -> None:
    lam, f, a = 80.0, 0.25, 0.004
    s = make(365, report_every=73, regions={"a": {"initial": 31000}, "b": {"initial": 2500}}, flows=[
        {"name": "ra", "kind": "recruitment", "to": "a", "rate": lam},
        {"name": "rb", "kind": "recruitment", "to": "b", "rate": 10},
        {"name": "div", "kind": "diversion", "of": "ra", "to": "b", "fraction": f},
        {"name": "da", "kind": "attrition", "region": "a", "rate": a},
        {"name": "db", "kind": "attrition", "region": "b", "rate": a}])
    sim = simulate(s, replicates=N)
    for k, day in enumerate(sim.days):
        p = math.exp(-a * day)
        for r, (n0, inflow) in enumerate([(31000, lam * (1 - f)), (2500, 10 + lam * f)]):
            mean = n0 * p + inflow / a * (1 - p)
            var = n0 * p * (1 - p) + inflow / a * (1 - p)
            assert abs(zscore(final(sim, r, k), mean, math.sqrt(var))) < Z
    # the benchmark's analytic values at day 365
    assert round(31000 * math.exp(-1.46) + 15000 * (1 - math.exp(-1.46))) == 18716


def test_diverted_counts_are_the_fraction_of_recruits() -> None:
    s = make(DAYS, flows=[
        {"name": "ra", "kind": "recruitment", "to": "a", "rate": 50},
        {"name": "div", "kind": "diversion", "of": "ra", "to": "b", "fraction": 0.3}])
    sim = simulate(s, replicates=N)
    recruits = sim.moved[-1, sim.counters.index("ra")].astype(float)
    diverted = sim.moved[-1, sim.counters.index("div")].astype(float)
    assert abs(zscore(recruits, 50 * DAYS, math.sqrt(50 * DAYS))) < Z
    assert abs(zscore(diverted, 15 * DAYS, math.sqrt(15 * DAYS))) < Z


@pytest.mark.parametrize("delay", [0, 5])
def test_transfer_with_delay(delay: int) -> None:
    """Transfers leave by competing exits and land at the midnight after `delay` full days."""
    a, c, b = 0.01, 0.02, 0.03
    s = make(DAYS, regions={"a": {"initial": 5000}, "b": {"initial": 200}}, flows=[
        {"name": "da", "kind": "attrition", "region": "a", "rate": a},
        {"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": c, "delay": delay},
        {"name": "db", "kind": "attrition", "region": "b", "rate": b}])
    sim = simulate(s, replicates=N)
    h = a + c
    departures = [5000 * math.exp(-h * k) * c / h * (1 - math.exp(-h)) for k in range(DAYS)]
    for k, day in enumerate(sim.days):
        mean_a = 5000 * math.exp(-h * day)
        mean_b = 200 * math.exp(-b * day) + sum(
            dep * math.exp(-b * (day - (j + 1 + delay)))
            for j, dep in enumerate(departures) if j + 1 + delay <= day)
        in_transit = sum(dep for j, dep in enumerate(departures) if j < day < j + 1 + delay)
        assert abs(zscore(final(sim, 0, k), mean_a)) < Z
        assert abs(zscore(final(sim, 1, k), mean_b)) < Z
        if day == sim.days[-1] and delay:
            assert abs(zscore(sim.in_transit.astype(float), in_transit)) < Z


def test_delayed_recruits_land_after_delay() -> None:
    lam, a, d = 40.0, 0.02, 7
    s = make(DAYS, regions={"a": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": lam, "delay": d},
        {"name": "da", "kind": "attrition", "region": "a", "rate": a}])
    sim = simulate(s, replicates=N)
    for k, day in enumerate(sim.days):
        mean = sum(lam * math.exp(-a * (day - (j + 1 + d))) for j in range(DAYS) if j + 1 + d <= day)
        assert abs(zscore(final(sim, 0, k), mean)) < Z


def test_events_scale_set_and_shock() -> None:
    lam, a = 60.0, 0.01
    s = make(DAYS, report_every=5, regions={"a": {"initial": 2000}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": lam},
        {"name": "da", "kind": "attrition", "region": "a", "rate": a}],
        events=[
            {"date": "2015-01-21", "scale": {"flows.r.rate": 0.5}},
            {"date": "2015-01-31", "shock": {"region": "a", "remove": 0.2}},
            {"date": "2015-02-10", "set": {"flows.da.rate": 0.05}},
        ])
    sim = simulate(s, replicates=N)

    def expected(day: int) -> float:
        """Exact mean: dated events act at their midnight, before the record and the step."""
        m, rate, att = 2000.0, lam, a
        for t in range(day + 1):
            if t == 20:
                rate = lam * 0.5
            if t == 30:
                m *= 0.8
            if t == 40:
                att = 0.05
            if t == day:
                return m
            p = math.exp(-att)
            m = m * p + rate / att * (1 - p)
        raise AssertionError

    for k, day in enumerate(sim.days):
        assert abs(zscore(final(sim, 0, k), expected(int(day)))) < Z


def test_time_unit_month_converts_rates() -> None:
    s = make(DAYS, time_unit="month", regions={"a": {"initial": 0}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 304.375}])
    sim = simulate(s, replicates=N)
    assert abs(zscore(final(sim, 0), 10.0 * DAYS, math.sqrt(10.0 * DAYS))) < Z


def test_distributions_are_drawn_per_replicate() -> None:
    s = make(DAYS, regions={"a": {"initial": {"uniform": [1000, 3000]}}}, flows=[
        {"name": "d", "kind": "attrition", "region": "a", "rate": {"uniform": [0.0, 0.02]}}])
    sim = simulate(s, replicates=N)
    rates = sim.drawn["flows.d.rate"]
    initial = sim.drawn["regions.a.initial"]
    assert len(set(np.round(rates, 12))) == N
    # E[N_T] = E[N0] E[e^{-aT}], with a ~ U(0, 0.02)
    mean = 2000 * (1 - math.exp(-0.02 * DAYS)) / (0.02 * DAYS)
    assert abs(zscore(final(sim, 0), mean)) < Z
    np.testing.assert_array_equal(sim.populations[0, 0], np.rint(initial))
