"""The event engine: the same scenario as an exact continuous-time chain, one replicate at a time.

Gillespie's direct method: the time to the next move is exponential in the
total rate, and the move is chosen in proportion to its rate; SimPy timeouts
carry the clock. Dated events and landings of persons in transit are SimPy
events at midnights, as in the step engine, and a waiting time that would cross
a midnight is cut there and drawn afresh (exact, since waiting is memoryless).
Travellers of a flow with a `loss` are lost each with the `loss` in force when
they left, by one binomial draw per day's cohort when it lands (as in the step engine).
It is for validating the step engine on small runs, not for speed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from flowsim.engines.plan import DatedAction, Plan, apply
from flowsim.engines.step import Midnight, Outcome
from flowsim.model.network import lost_counter


class EventEngine:
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Any = None) -> None:
        self.plan = plan
        self.rng = rng
        self.progress = progress
        net = plan.network
        self.region = {name: i for i, name in enumerate(net.regions)}
        self.counter = {name: i for i, name in enumerate(plan.counters)}

    def run(self) -> Outcome:
        k, r, f = len(self.plan.record_days), len(self.plan.network.regions), len(self.plan.counters)
        lanes = self.plan.lanes
        pops = np.zeros((k, r, lanes), dtype=np.int64)
        moved = np.zeros((k, f, lanes), dtype=np.int64)
        transit = np.zeros(lanes, dtype=np.int64)
        for lane in range(lanes):
            chain = _Chain(self, lane)
            pops[:, :, lane], moved[:, :, lane], transit[lane] = chain.run()
            if self.progress is not None:
                self.progress(self.plan.days)
        return Outcome(pops, moved, transit)


class _Chain:
    """One replicate: integer state, scalar rates, SimPy clock."""

    def __init__(self, engine: EventEngine, lane: int) -> None:
        self.e = engine
        self.plan = engine.plan
        self.rng = engine.rng
        self.lane = lane
        self.pop = [int(x) for x in self.plan.initial[:, lane]]
        self.moved = [0] * len(self.plan.counters)
        self.transit = 0
        self.params = {k: float(v[lane]) for k, v in self.plan.params.items()}
        self.departed: dict[tuple[int, int, int, float], int] = {}
        """Today's travellers by (destination, delay, counter of the lost or -1, share lost)."""
        self._reactions()

    def _lost(self, flow: str | None, path: str | None) -> tuple[int, float]:
        """(counter of the lost, share lost now) of a flow with a loss in transit, else (-1, 0.0)."""
        if flow is None or path is None:
            return -1, 0.0
        return self.e.counter[lost_counter(flow)], self.params[path]

    def _reactions(self) -> None:
        """Every move as (rate, per-capita region or None, counters, destination, delay, loss)."""
        net, unit, c = self.plan.network, self.plan.unit_days, self.e.counter
        moves: list[tuple[float, int | None, tuple[int, ...], int | None, int, tuple[int, float]]] = [
            (st.rate / unit, None, (c[st.flow],) if st.split is None else (c[st.flow], c[st.split]),
             self.e.region[st.to], st.delay, self._lost(st.split, st.loss))
            for st in net.streams(self.params.__getitem__)]
        for ex in net.exits:
            to = None if ex.to is None else self.e.region[ex.to]
            delay = ex.delay if to is not None else 0
            moves.append((self.params[ex.rate] / unit, self.e.region[ex.region], (c[ex.flow],), to, delay,
                          self._lost(ex.flow, ex.loss)))
        self.moves = moves

    def run(self) -> tuple[np.ndarray, np.ndarray, int]:
        env = simpy.Environment()
        for dated in self.plan.actions:
            env.process(self._dated(env, dated))
        records = self.plan.record_days
        self.pops = np.zeros((len(records), len(self.pop)), dtype=np.int64)
        self.rec_moved = np.zeros((len(records), len(self.moved)), dtype=np.int64)
        chain = env.process(self._clock(env))
        env.run(until=chain)
        return self.pops, self.rec_moved, self.transit

    def _dated(self, env: simpy.Environment, dated: DatedAction) -> Generator[Any]:
        yield Midnight(env, dated.day)
        if apply(dated.action, self.params, self.pop, self.moved,
                 lambda n, p: self.rng.binomial(n, p), lane=self.lane):
            self._reactions()

    def _land(self, env: simpy.Environment, region: int, count: int, delay: int, counter: int,
              share: float) -> Generator[Any]:
        yield Midnight(env, delay)
        self._arrive(region, count, counter, share)

    def _arrive(self, region: int, count: int, counter: int, share: float) -> None:
        """A cohort lands: each of its `count` travellers is lost with probability `share`."""
        self.transit -= count
        if counter >= 0 and share > 0:
            gone = int(self.rng.binomial(count, share))
            self.moved[counter] += gone
            count -= gone
        self.pop[region] += count

    def _clock(self, env: simpy.Environment) -> Generator[Any]:
        """Days start at exact integer times: each day's end is one timeout of 1 from its start."""
        yield env.timeout(0)  # dated events of the first midnight go first
        records = list(self.plan.record_days)
        k = 0
        for day in range(self.plan.days + 1):
            for (to, delay, counter, share), count in sorted(self.departed.items()):  # yesterday's travellers
                if delay == 0:
                    self._arrive(to, count, counter, share)
                else:
                    env.process(self._land(env, to, count, delay, counter, share))
            self.departed.clear()
            if k < len(records) and records[k] == day:
                self.pops[k] = self.pop
                self.rec_moved[k] = self.moved
                k += 1
            if day == self.plan.days:
                return
            day_end = env.timeout(1)
            elapsed = 0.0
            while True:
                rates = [rate * (1 if per is None else self.pop[per]) for rate, per, *_ in self.moves]
                total = sum(rates)
                wait = self.rng.exponential(1 / total) if total > 0 else np.inf
                if elapsed + wait >= 1 or env.now + wait >= day + 1:
                    break
                elapsed += wait
                yield env.timeout(wait)
                pick = self.rng.random() * total
                for j, rate in enumerate(rates):
                    pick -= rate
                    if pick < 0 or j == len(rates) - 1:
                        break
                self._fire(j)
            yield day_end

    def _fire(self, j: int) -> None:
        _, per, counters, to, delay, (lost, share) = self.moves[j]
        if per is not None:
            if self.pop[per] == 0:
                return
            self.pop[per] -= 1
        for c in counters:
            self.moved[c] += 1
        if to is None:
            return
        if per is None and delay == 0:
            self.pop[to] += 1  # a recruit arriving at once
        else:  # in transit: lands at the midnight after `delay` more days
            self.transit += 1
            key = (to, delay, lost, share)
            self.departed[key] = self.departed.get(key, 0) + 1
