"""Rates and fractions that change over time (`schedule`, `linear`, `table`), in both engines.

Closed forms, from the daily semantics (flowsim/model/timeline.py): on day d (from
midnight d to midnight d + 1) a number has one value, a schedule's in force that day,
or a line's value at noon, d + 0.5 (its mean over the day). With a recruitment
lam_d and an attrition hazard mu_d into one region, no delay (time unit: day):

- each of the N0 first residents survives day d with e^(-mu_d), independently: the
  survivors at day t are Binomial(N0, S_t), S_t = prod_{d<t} e^(-mu_d);
- recruits of day d are Poisson(lam_d), arriving uniformly in the day, each still there at
  midnight with (1 - e^(-mu_d)) / mu_d, then surviving later days: the recruits present at t
  are Poisson(M_t), M_t = sum_{d<t} lam_d (1 - e^(-mu_d)) / mu_d prod_{d<j<t} e^(-mu_j),
  independent of the survivors;
- so a(t) has mean N0 S_t + M_t, variance N0 S_t (1 - S_t) + M_t and fourth central moment
  mu4_B + mu4_P + 6 var_B var_P (a sum of independent variables);
- the recruits counted by day t are Poisson(sum_{d<t} lam_d); for a line this sum is the
  integral of the line itself (a trapezoid area, computed here from the knots, not per day);
- a diversion of fraction f_d with delay D: who set out on day k lands at the midnight
  starting day k + 1 + D, so b(t) ~ Poisson(lam sum_{k <= t-1-D} f_k).

Each check is a z-score, |z| < 4, of a sample mean or variance against the exact value
(see tests/test_transit_loss.py for the sd of a sample variance); false-failure rate
6.3e-5 per random check. Each case has 11 record days (0, 1, 5, 10, 12, 19, 20, 26, 30,
33, 40); in each engine the file makes 22 checks of `a` (mean and variance), 20 of the
recruits of a line (day 0 left out), 22 of the scaled and set schedule, and 44 of the
diverted and the kept (a table): 108, so 324 in all over the leap, step and event
engines, some fixed by construction (day 0; b before its first landing). A correct
engine fails a run of this file with probability at most 324 x 6.3e-5 = 2.0e-2 (the
union bound).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from flowsim.experiments.executor import simulate
from flowsim.model.scenario import load_scenario
from flowsim.model.timeline import changes

from .conftest import make, scenario_dict, write
from .test_transit_loss import poisson_checks, zscore, zvar

Z = 4.0
DAYS = 40
EXTRA = [1, 5, 12, 19, 26, 33]
ENGINES = [("leap", 4000), ("step", 4000), ("event", 400)]


def day_values(knots: dict[int, float], linear: bool, days: int = DAYS) -> np.ndarray:
    """The value of each day 0..days-1 from the definition (not from flowsim's code)."""
    x, y = list(knots), list(knots.values())
    if linear:
        return np.interp(np.arange(days) + 0.5, x, y)
    return np.array([y[max([i for i, k in enumerate(x) if k <= d], default=0)] for d in range(days)])


def dated(day: int) -> str:
    return f"2015-{1 + day // 31:02d}-{1 + day % 31:02d}" if day < 59 else "bad"


REC = {0: 20.0, 10: 5.0, 25: 40.0}  # schedule, days from 2015-01-01
MU = {5: 0.01, 35: 0.05}  # line


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
def test_schedule_recruitment_and_linear_attrition(engine: str, replicates: int) -> None:
    n0 = 500
    s = make(DAYS, regions={"a": {"initial": n0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"schedule": {dated(d): v for d, v in REC.items()}}},
        {"name": "die", "kind": "attrition", "region": "a", "rate": {"linear": {dated(d): v for d, v in MU.items()}}}])
    lam, mu = day_values(REC, False), day_values(MU, True)
    sim = simulate(s, replicates=replicates, engine=engine, seed=21, extra_days=EXTRA)
    zs: list[float] = []
    for k, t in enumerate(int(d) for d in sim.days):
        surv = math.exp(-mu[:t].sum())
        m = sum(lam[d] * -math.expm1(-mu[d]) / mu[d] * math.exp(-mu[d + 1:t].sum()) for d in range(t))
        var_b, var_p = n0 * surv * (1 - surv), m
        mu4 = var_b * (1 + 3 * (n0 - 2) * surv * (1 - surv)) + (m + 3 * m * m) + 6 * var_b * var_p
        a = sim.populations[k, 0].astype(float)
        zs += [zscore(a, n0 * surv + m, math.sqrt(var_b + var_p)), zvar(a, var_b + var_p, mu4)]
    assert max(map(abs, zs)) < Z, np.round(zs, 2)
    assert len(sim.days) == 11


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
def test_a_linear_rate_brings_its_integral(engine: str, replicates: int) -> None:
    """Recruits by day t: Poisson with the area under the line up to t (trapezoids from the knots)."""
    knots = {3: 10.0, 20: 50.0, 30: 0.0}
    s = make(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"linear": {dated(d): v for d, v in knots.items()}}}])
    sim = simulate(s, replicates=replicates, engine=engine, seed=22, extra_days=EXTRA)
    xs = [0.0, *knots, float(DAYS)]
    ys = [10.0, *knots.values(), 0.0]

    def area(t: float) -> float:  # integral of the piecewise-linear function from 0 to t
        total = 0.0
        for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False):
            if t <= x0:
                break
            hi = min(t, x1)
            y_hi = y0 + (y1 - y0) * (hi - x0) / (x1 - x0)
            total += (y0 + y_hi) / 2 * (hi - x0)
        return total

    counter = list(sim.counters).index("rec")
    zs: list[float] = []
    for k, t in enumerate(int(d) for d in sim.days):
        if t > 0:
            zs += poisson_checks(sim.moved[k, counter].astype(float), area(t))
    assert max(map(abs, zs)) < Z, np.round(zs, 2)


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
def test_events_scale_a_schedule_and_set_ends_it(engine: str, replicates: int) -> None:
    """`scale` on day 12 multiplies the schedule from then on (its later knots too); `set` on day 26
    replaces it: the knot of day 30 no longer applies."""
    knots = {0: 10.0, 5: 20.0, 19: 30.0, 30: 100.0}
    s = make(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a",
         "rate": {"schedule": {dated(d): v for d, v in knots.items()}}}],
        events=[{"date": dated(12), "scale": {"flows.rec.rate": 0.5}},
                {"date": dated(26), "set": {"flows.rec.rate": 4}}])
    lam = day_values(knots, False)
    lam[12:] *= 0.5
    lam[26:] = 4.0
    sim = simulate(s, replicates=replicates, engine=engine, seed=23, extra_days=EXTRA)
    zs: list[float] = []
    for k, t in enumerate(int(d) for d in sim.days):
        zs += poisson_checks(sim.populations[k, 0].astype(float), float(lam[:t].sum()))
    assert max(map(abs, zs)) < Z, np.round(zs, 2)


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
def test_a_table_fraction_diverts_with_delay(engine: str, replicates: int, tmp_path: Path) -> None:
    lam, delay = 15.0, 4
    table = {0: 0.1, 9: 0.6, 22: 0.3}
    (tmp_path / "share.csv").write_text("date,value\n" + "".join(f"{dated(d)},{v}\n" for d, v in table.items()))
    data = scenario_dict(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": lam},
        {"name": "div", "kind": "diversion", "of": "rec", "to": "b", "fraction": {"table": "share.csv"},
         "delay": delay}])
    s, _ = load_scenario(write(tmp_path, data))
    f = day_values(table, False)
    sim = simulate(s, replicates=replicates, engine=engine, seed=24, extra_days=EXTRA)
    zs: list[float] = []
    for k, t in enumerate(int(d) for d in sim.days):
        zs += poisson_checks(sim.populations[k, 1].astype(float), lam * float(f[:max(t - delay, 0)].sum()))
        zs += poisson_checks(sim.populations[k, 0].astype(float), lam * float((1 - f[:t]).sum()))
    assert max(map(abs, zs)) < Z, np.round(zs, 2)


def test_knots_are_parameters_drawn_per_replicate() -> None:
    s = make(DAYS, flows=[{"name": "rec", "kind": "recruitment", "to": "a",
                           "rate": {"schedule": {"2015-01-01": 5, "2015-01-21": {"uniform": [10, 20]}}}}])
    assert list(s.parameters())[-2:] == ["flows.rec.rate.schedule.2015-01-01", "flows.rec.rate.schedule.2015-01-21"]
    sim = simulate(s, replicates=50, seed=1)
    drawn = sim.drawn["flows.rec.rate.schedule.2015-01-21"]
    assert drawn.shape == (50,) and drawn.min() >= 10 and drawn.max() <= 20 and drawn.std() > 0


def test_changes_of_a_line_and_a_schedule() -> None:
    """A line changes every day between its first and last knot; a schedule on its knot days only."""
    assert changes([0, 10, 20], False, 30) == [(0, 0, 0.0), (10, 1, 0.0), (20, 2, 0.0)]
    line = changes([2, 6], True, 30)
    assert [d for d, _, _ in line] == [0, 2, 3, 4, 5, 6]
    assert line[0] == (0, 0, 0.0) and line[1] == (2, 0, 0.125) and line[-1] == (6, 1, 0.0)


def test_set_reaches_a_knot_of_a_schedule_and_of_a_table(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "share.csv").write_text("date,value\n2015-01-01,0.1\n2015-01-21,0.5\n")
    data = scenario_dict(DAYS, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"schedule": {"2015-01-01": 5, "2015-01-21": 10}}},
        {"name": "div", "kind": "diversion", "of": "rec", "to": "b", "fraction": {"table": "share.csv"}}])
    path = write(tmp_path, data)
    s, _ = load_scenario(path, ["flows.rec.rate.schedule.2015-01-21=0", "flows.div.fraction.table.2015-01-21=1"])
    assert s.parameters()["flows.rec.rate.schedule.2015-01-21"] == 0
    assert s.parameters()["flows.div.fraction.table.2015-01-21"] == 1
    result = cli("validate", path, "--set", "flows.div.fraction.table.2015-01-11=0.2")
    assert result.exit_code == 2 and "2015-01-11 is not a date of share.csv" in result.stderr, result.stderr
    result = cli("validate", path, "--set", "flows.rec.rate.schedule.2015-01-11=3")
    assert result.exit_code == 2 and "unknown parameter path" in result.stderr, result.stderr


def test_a_sweep_over_a_knot(tmp_path: Path) -> None:
    import flowsim

    data = scenario_dict(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"schedule": {"2015-01-01": 5, "2015-01-21": 10}}}])
    res = flowsim.sweep(write(tmp_path, data), params=["flows.rec.rate.schedule.2015-01-21=0,100"], replicates=200)
    final = res.summary[(res.summary["region"] == "a") & (res.summary["day"] == DAYS)].sort_values("point")
    # mean 20 x 5 + 20 x knot: 100 and 2,100; the sd of a mean of 200 is at most sqrt(2100/200) ~ 3.2
    np.testing.assert_allclose(final["mean"].to_numpy(), [100, 2100], atol=4 * math.sqrt(2100 / 200))


def test_calibrating_knots_of_a_schedule_and_a_table(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Knots are calibrated like any number; calibrated.yaml (in another folder) still finds the table."""
    (tmp_path / "share.csv").write_text("date,value\n2015-01-01,0.1\n2015-01-21,0.5\n")
    data = scenario_dict(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"schedule": {"2015-01-01": 5, "2015-01-21": 10}}},
        {"name": "div", "kind": "diversion", "of": "rec", "to": "b", "fraction": {"table": "share.csv"}}],
        observations=[{"date": "2015-02-10", "region": "a", "low": 150, "high": 250}])
    out = tmp_path / "out"
    result = cli("calibrate", write(tmp_path, data), "--param", "flows.rec.rate.schedule.2015-01-21=0:30",
                 "--param", "flows.div.fraction.table.2015-01-21=0:1", "--draws", "1000", "--particles", "100",
                 "--out", out)
    assert result.exit_code == 0, result.output
    calibrated = out / "test" / "calibrated.yaml"
    assert "table: ../../share.csv" in calibrated.read_text()
    result = cli("run", calibrated, "--replicates", "20", "--out", tmp_path / "again")
    assert result.exit_code == 0, result.output
