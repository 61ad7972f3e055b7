"""Property tests: for any small scenario, populations stay >= 0 and persons are conserved.

Conservation, per replicate: initial + recruited - exits out of the system
- shock removals - persons still in transit = final total.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim.experiments.executor import simulate
from flowsim.model.network import Exit, Source
from flowsim.model.scenario import Scenario

from .conftest import scenario_dict

rates = st.floats(0, 50, allow_nan=False)
hazards = st.floats(0, 0.8, allow_nan=False)
delays = st.integers(0, 6)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(1, 3))
    regions = [f"r{i}" for i in range(n)]
    pick = st.sampled_from(regions)
    flows: list[dict[str, object]] = []
    for i in range(draw(st.integers(0, 3))):
        flows.append({"name": f"rec{i}", "kind": "recruitment", "to": draw(pick), "rate": draw(rates),
                      "delay": draw(delays)})
    for i in range(draw(st.integers(0, 3))):
        flows.append({"name": f"att{i}", "kind": "attrition", "region": draw(pick), "rate": draw(hazards)})
    for i in range(draw(st.integers(0, 3))):
        flows.append({"name": f"tr{i}", "kind": "transfer", "from": draw(pick), "to": draw(pick),
                      "rate": draw(hazards), "delay": draw(delays)})
    recruits = [f["name"] for f in flows if f["kind"] == "recruitment"]
    if recruits and draw(st.booleans()):
        flows.append({"name": "div", "kind": "diversion", "of": draw(st.sampled_from(recruits)),
                      "to": draw(pick), "fraction": draw(st.floats(0, 1))})
    events = []
    if draw(st.booleans()):
        events.append({"date": "2015-01-15", "shock": {"region": draw(pick), "remove": draw(st.floats(0, 1))}})
    if draw(st.booleans()):
        events.append({"date": "2015-01-20", "shock": {"region": draw(pick), "count": draw(st.integers(0, 500))}})
    data = scenario_dict(
        draw(st.integers(20, 40)), report_every=draw(st.integers(1, 9)), replicates=draw(st.integers(1, 30)),
        seed=draw(st.integers(0, 2**32)),
        regions={r: {"initial": draw(st.integers(0, 2000))} for r in regions},
        flows=flows, events=events)
    return Scenario.model_validate(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_never_negative_and_persons_conserved(s: Scenario) -> None:
    sim = simulate(s)
    assert (sim.populations >= 0).all()
    assert (sim.moved >= 0).all()
    assert (sim.in_transit >= 0).all()
    net = s.network()
    idx = {name: i for i, name in enumerate(sim.counters)}
    moved = sim.moved[-1]
    recruited = sum((moved[idx[p.flow]] for p in net.sources if isinstance(p, Source)), np.zeros(1, int))
    left = sum((moved[idx[p.flow]] for p in net.exits if isinstance(p, Exit) and p.to is None), np.zeros(1, int))
    shocked = sum((moved[idx[e.label()]] for e in s.events if e.shock), np.zeros(1, int))
    initial = sim.populations[0].sum(axis=0)  # the events above all fall after day 0
    final = sim.populations[-1].sum(axis=0)
    np.testing.assert_array_equal(initial + recruited - left - shocked - sim.in_transit, final)
