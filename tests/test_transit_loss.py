"""Losses in transit (`loss` on a delayed transfer or diversion), in both engines.

Closed forms, from the daily semantics (docs/scenario-format.md, "Semantics of a
day"): a person who sets out during day k on a flow with `delay: D` lands at the
midnight that starts day k + 1 + D, so by the record of day t exactly those who
set out by time t - D have landed or been lost; each of them is lost independently
with probability p.

- Transfer from `a` (N0 persons, no other flow) at r per day: each person has left
  by time s with probability 1 - e^(-r s), so by day t each person is, independently,
  landed in `b` with probability (1 - p) q, lost with probability p q, where
  q = 1 - e^(-r max(t - D, 0)): b(t) ~ Binomial(N0, (1 - p) q) and
  lost(t) ~ Binomial(N0, p q) (jointly multinomial), a(t) ~ Binomial(N0, e^(-r t)).
- Diversion of a fraction f of a Poisson recruitment of rate lam: the diverted
  persons who set out by time s are Poisson(lam f s), so b(t) ~ Poisson(lam f (1 - p) m)
  and lost(t) ~ Poisson(lam f p m), independent, with m = max(t - D, 0).

Each check is a z-score, |z| < 4: of a sample mean against the exact mean with the
exact sd, or of a sample variance against the exact variance, with the exact sd of
the sample variance, sqrt(mu4 / n - sigma^4 (n - 3) / (n (n - 1))), from the exact
fourth central moment mu4 (binomial: N pi (1 - pi) (1 + 3 (N - 2) pi (1 - pi));
Poisson: mu + 3 mu^2). For a normal statistic the false-failure rate is 6.3e-5 per
check (two-sided tail at 4); a sample variance of n >= 400 replicates is close to
normal, its slight right skew making that a fair estimate.

This file makes 351 z-score checks (counted with `zscore` and `zvar` wrapped,
parametrised cases included). In each of the leap, step and event engines: the transfer case has 9 record days
(0, 5, 6, 8, 9, 10, 20, 30, 40) with 5 checks each (mean of a; mean and variance of
b and of the lost), 45; each of the two diversion cases has the same 9 days with 4
checks each (mean and variance of b and of the lost), 36. Of the 3 x 117, 123 are of
a value fixed by construction (day 0, and b and the lost up to day D, before anyone
can land: sd 0), which cannot fail by chance; 228 are random. A correct engine
therefore fails a run of this file with probability at most 228 x 6.3e-5 = 1.4e-2,
about once in 70 runs (the union bound; checks of the same replicates on successive
days are positively correlated, so the true rate is somewhat lower). With the seeds
fixed here the largest |z| of the step engine is 3.35 (a variance; the same check over
40,000 replicates and other seeds shows no bias), the largest of a mean 3.19.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from flowsim.experiments.executor import simulate
from flowsim.model.network import Exit, Source
from flowsim.model.scenario import Scenario

from .conftest import make, scenario_dict, write

Z = 4.0
DAYS = 40
EXTRA = [5, 6, 8, 9, 10]  # around the first landings (D = 5 and D = 8)
ENGINES = [("leap", 4000), ("step", 4000), ("event", 400)]


def zscore(sample: np.ndarray, mean: float, sd: float) -> float:
    if sd == 0:
        return 0.0 if float(sample.mean()) == mean else math.inf
    return (float(sample.mean()) - mean) / (sd / math.sqrt(sample.size))


def zvar(sample: np.ndarray, var: float, mu4: float) -> float:
    """z-score of the sample variance against `var`, given the fourth central moment `mu4`."""
    n = sample.size
    s2 = float(sample.var(ddof=1))
    if var == 0:
        return 0.0 if s2 == 0 else math.inf
    sd = math.sqrt(mu4 / n - var * var * (n - 3) / (n * (n - 1)))
    return (s2 - var) / sd


def binomial_checks(sample: np.ndarray, n: int, pi: float) -> tuple[float, float]:
    var = n * pi * (1 - pi)
    mu4 = var * (1 + 3 * (n - 2) * pi * (1 - pi))
    return zscore(sample, n * pi, math.sqrt(var)), zvar(sample, var, mu4)


def poisson_checks(sample: np.ndarray, mu: float) -> tuple[float, float]:
    return zscore(sample, mu, math.sqrt(mu)), zvar(sample, mu, mu + 3 * mu * mu)


def row(sim, name: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return sim.moved[:, list(sim.counters).index(name)].astype(float)


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
def test_transfer_loss_matches_the_multinomial(engine: str, replicates: int) -> None:
    n0, r, d, p = 300 if engine == "event" else 2000, 0.03, 5, 0.3
    s = make(DAYS, regions={"a": {"initial": n0}, "b": {"initial": 0}}, flows=[
        {"name": "move", "kind": "transfer", "from": "a", "to": "b", "rate": r, "delay": d, "loss": p}])
    sim = simulate(s, replicates=replicates, engine=engine, seed=11, extra_days=EXTRA)
    assert list(sim.counters) == ["move", "move_lost"]
    lost = row(sim, "move_lost")
    zs = []
    for k, day in enumerate(sim.days):
        q = 1 - math.exp(-r * max(int(day) - d, 0))
        a = sim.populations[k, 0].astype(float)
        b = sim.populations[k, 1].astype(float)
        zs.append(zscore(a, n0 * math.exp(-r * day), math.sqrt(n0 * math.exp(-r * day) * (1 - math.exp(-r * day)))))
        zs += [*binomial_checks(b, n0, (1 - p) * q), *binomial_checks(lost[k], n0, p * q)]
    assert max(map(abs, zs)) < Z, np.round(zs, 2)
    assert len(sim.days) == 9


@pytest.mark.parametrize(("engine", "replicates"), ENGINES)
@pytest.mark.parametrize("own_delay", [True, False], ids=["own-delay", "recruitment-delay"])
def test_diversion_loss_thins_the_poisson_stream(engine: str, replicates: int, own_delay: bool) -> None:
    """The diversion's delay is its own, or else that of the recruitment it diverts."""
    lam, f, d, p = (20.0, 0.4, 8, 0.25) if own_delay else (30.0, 0.5, 8, 0.6)
    divert = {"name": "div", "kind": "diversion", "of": "rec", "to": "b", "fraction": f, "loss": p}
    recruit = {"name": "rec", "kind": "recruitment", "to": "a", "rate": lam}
    if own_delay:
        divert["delay"] = d
    else:
        recruit["delay"] = d
    s = make(DAYS, regions={"a": {"initial": 0}, "b": {"initial": 0}}, flows=[recruit, divert])
    sim = simulate(s, replicates=replicates, engine=engine, seed=12, extra_days=EXTRA)
    assert list(sim.counters) == ["rec", "div", "div_lost"]
    lost = row(sim, "div_lost")
    zs = []
    for k, day in enumerate(sim.days):
        m = max(int(day) - d, 0)
        b = sim.populations[k, 1].astype(float)
        zs += [*poisson_checks(b, lam * f * (1 - p) * m), *poisson_checks(lost[k], lam * f * p * m)]
    assert max(map(abs, zs)) < Z, np.round(zs, 2)
    diverted = row(sim, "div")[-1]
    assert (b + lost[-1] <= diverted).all()  # the diversion's own row counts them at departure, lost or not


def conservation_scenario(days: int = 90) -> Scenario:
    return make(days, regions={"a": {"initial": 800}, "b": {"initial": 50}, "c": {"initial": 0}}, flows=[
        {"name": "rec", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 15]}, "delay": 2},
        {"name": "div", "kind": "diversion", "of": "rec", "to": "b", "fraction": 0.3, "loss": {"uniform": [0, 0.5]}},
        {"name": "div2", "kind": "diversion", "of": "rec", "to": "c", "fraction": 0.2, "delay": 0},
        {"name": "att", "kind": "attrition", "region": "b", "rate": 0.01},
        {"name": "ab", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 6, "loss": 0.2},
        {"name": "ba", "kind": "transfer", "from": "b", "to": "a", "rate": 0.02, "delay": 3, "loss": 0},
        {"name": "bc", "kind": "transfer", "from": "b", "to": "c", "rate": 0.05, "delay": 1}],
        events=[{"date": "2015-02-01", "set": {"flows.ab.loss": 0.9}},
                {"date": "2015-02-15", "scale": {"flows.ba.loss": 0.0}},
                {"date": "2015-03-01", "set": {"flows.ba.loss": {"uniform": [0.1, 0.2]}}},
                {"date": "2015-03-10", "shock": {"region": "b", "remove": 0.1}}])


@pytest.mark.parametrize(("engine", "replicates"), [("step", 300), ("event", 40), ("meanfield", 5)])
def test_persons_conserved_with_losses_counted(engine: str, replicates: int) -> None:
    s = conservation_scenario()
    sim = simulate(s, replicates=replicates, engine=engine, seed=3)
    net = s.network()
    assert list(sim.counters) == ["rec", "div", "div2", "att", "ab", "ba", "bc",
                                  "div_lost", "ab_lost", "ba_lost", "shock_b_2015-03-10"]
    idx = {name: i for i, name in enumerate(sim.counters)}
    moved = sim.moved[-1]
    recruited = sum(moved[idx[p.flow]] for p in net.sources if isinstance(p, Source))
    left = sum(moved[idx[p.flow]] for p in net.exits if isinstance(p, Exit) and p.to is None)
    lost = moved[idx["div_lost"]] + moved[idx["ab_lost"]] + moved[idx["ba_lost"]]
    shocked = moved[idx["shock_b_2015-03-10"]]
    initial = sim.populations[0].sum(axis=0)
    final = sim.populations[-1].sum(axis=0)
    assert (sim.populations >= 0).all() and (sim.moved >= 0).all() and (sim.in_transit >= 0).all()
    np.testing.assert_allclose(initial + recruited, final + sim.in_transit + left + shocked + lost)
    if engine != "meanfield":
        assert lost.min() >= 0 and (moved[idx["ab_lost"]] > 0).any() and (moved[idx["div_lost"]] > 0).any()


@pytest.mark.parametrize("engine", ["step", "event"])
def test_loss_is_the_one_in_force_when_travellers_leave(engine: str) -> None:
    """Per replicate: loss 0, then 1 from day 30; with delay 10, those who set out before day 30 all land."""
    s = make(60, report_every=10, regions={"a": {"initial": 500}, "b": {"initial": 0}}, flows=[
        {"name": "go", "kind": "transfer", "from": "a", "to": "b", "rate": 0.02, "delay": 10, "loss": 0}],
        events=[{"date": "2015-01-31", "set": {"flows.go.loss": 1.0}}])
    sim = simulate(s, replicates=50, engine=engine, seed=4)
    days = list(sim.days)
    go, lost = row(sim, "go"), row(sim, "go_lost")
    b = sim.populations[:, 1]
    # who set out during days 0..29 land by the midnight of day 40; who set out on days 30..49, by day 60
    np.testing.assert_array_equal(b[days.index(60)], go[days.index(30)])
    np.testing.assert_array_equal(b[days.index(40)], go[days.index(30)])
    np.testing.assert_array_equal(lost[days.index(60)], go[days.index(50)] - go[days.index(30)])
    assert (lost[days.index(40)] == 0).all()


def test_no_loss_no_row_and_no_parameter() -> None:
    s = make(30, flows=[{"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 3}])
    assert "flows.t.loss" not in s.parameters()
    assert simulate(s, replicates=3).counters == ("t",)
    lossy = make(30, flows=[{"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 3,
                             "loss": 0}])
    assert lossy.parameters()["flows.t.loss"] == 0
    assert simulate(lossy, replicates=3).counters == ("t", "t_lost")


def test_loss_zero_is_allowed_without_delay(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = scenario_dict(20, flows=[{"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01,
                                     "loss": 0}])
    result = cli("validate", write(tmp_path, data))
    assert result.exit_code == 0, result.output


def test_set_adds_a_loss_and_its_row(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = scenario_dict(20, flows=[{"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.05,
                                     "delay": 2}])
    path = write(tmp_path, data)
    result = cli("run", path, "--out", tmp_path / "out", "-n", "20", "--set", "flows.t.loss=0.5")
    assert result.exit_code == 0, result.output
    flows = (tmp_path / "out" / "test" / "flows.csv").read_text()
    assert ",t_lost," in flows


@pytest.mark.parametrize(("flow", "events", "where", "text"), [
    # an event may not give a loss to a flow with no delay, even one that writes `loss: 0`
    ({"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "loss": 0},
     [{"date": "2015-01-05", "set": {"flows.t.loss": 0.2}}], "events[0].set.flows.t.loss",
     "needs a delay: travellers are lost in transit only"),
    # only a flow that writes `loss` has the parameter
    ({"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 2},
     [{"date": "2015-01-05", "set": {"flows.t.loss": 0.2}}], "events[0].set.flows.t.loss",
     "unknown flow parameter"),
    # the row of the losses must not take a shock's label
    ({"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 2, "loss": 0.1},
     [{"date": "2015-01-05", "name": "t_lost", "shock": {"region": "a", "count": 1}}], "events[0].name",
     "already a flow or shock name"),
    ({"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 2, "loss": {"uniform": [0.5, 2]}},
     [], "flows.t.loss", "must be between 0 and 1"),
])
def test_bad_losses_exit_2_with_one_located_line(cli, tmp_path: Path, flow: dict, events: list,  # type: ignore[no-untyped-def,type-arg]
                                                  where: str, text: str) -> None:
    path = write(tmp_path, scenario_dict(20, flows=[flow], events=events))
    out = tmp_path / "out"
    for command in (["run", path, "--out", out], ["validate", path]):
        result = cli(*command)
        message = result.stderr.strip()
        assert result.exit_code == 2, result.output
        assert len(message.splitlines()) == 1, message
        assert message.startswith(f"error: {path}:") and where in message and text in message, message
    assert not out.exists()
