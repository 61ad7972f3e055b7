"""The leap engine: the step engine's model, sampled from one date that matters to the next at once.

Every flow is linear, so between two midnights where nothing changes (no dated
event, schedule knot or record in between) the state at the later one has a known
exact law, the law of the daily steps composed (see step.py for one day). Per
region with exit hazards h_1..h_J per day (H = sum), over a leap of k days:

- a resident is still there at the end with probability e^(-Hk); else it left on
  day d (0..k-1) with probability e^(-Hd) (1 - e^(-H)), by exit j with share h_j / H
  (the exit and the day are independent);
- a Poisson stream of lam a day brings Poisson(lam k) arrivals at uniform times; one
  is still there at the end with probability (1 - e^(-Hk)) / (Hk) (the daily
  (1 - e^(-H)) / H, then whole days, averaged over the k days), else it left on day d
  with probability ((1 - g) + g (1 - e^(-Hd))) / k, g = (1 - e^(-H)) / H;
- a delayed stream (delay D) sets out at Poisson(lam) a day; who sets out on day d
  lands at the midnight starting day d + 1 + D. Those landing before the leap's end
  are drawn as one Poisson count (each lost in transit with the stream's `loss`), each
  then present from a landing midnight spread evenly over their landing days; those
  landing later are drawn day by day as cohorts that land at their own midnight;
- a cohort landing at a midnight m inside a leap is present from m on.

Each group of persons is thinned once (a binomial for who stays) and its leavers
split among the exits. Who leaves by an exit to the outside needs no day. Who leaves
by a transfer lands D days after the day it left, so its leavers are spread over the
days by one multinomial draw and travel as cohorts. A leap is never longer than
D + 1 days for the shortest transfer delay D: nobody who transfers lands within the
leap it left in, so nobody moves twice in a leap, and every flow count (departures,
arrivals, leavers; the lost at landing) is exact per recorded interval. Dated actions
fire at their midnight through SimPy, as in the step engine, before that midnight's
landings.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from flowsim.engines.plan import Plan
from flowsim.engines.step import Outcome, Progress, StepEngine
from flowsim.model.network import Exit, Network, lost_counter


def longest_leap(network: Network, days: int) -> int:
    """Days a leap may span: D + 1 for the shortest transfer delay D (a landing never falls inside)."""
    delays = [e.delay for e in network.exits if e.to is not None]
    return min(delays) + 1 if delays else max(days, 1)


@dataclass
class Cohort:
    """Persons who set out on one day on one delayed route, landing together."""

    region: int
    count: np.ndarray
    landing: int
    """The midnight it lands."""
    lost: int
    """Counter of the lost (-1: none lost)."""
    share: np.ndarray | float
    """Share lost in transit, the one in force when they set out."""


@dataclass
class Group:
    """Persons in one region during a leap who share a law: `stay` is P(there at the end); `days`
    (lanes, k) is P(left on day d), or None where no exit needs the day."""

    count: np.ndarray
    stay: np.ndarray
    days: np.ndarray | None


class LeapEngine(StepEngine):
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Progress | None = None):
        super().__init__(plan, rng, progress)
        self.landing: dict[int, list[Cohort]] = {}
        self.longest = longest_leap(plan.network, plan.days)

    def run(self) -> Outcome:
        env = simpy.Environment()
        for dated in self.plan.actions:
            env.process(self._dated(env, dated))
        records = self.plan.record_days
        shape = (len(records), len(self.regions), self.plan.lanes)
        pops: np.ndarray = np.zeros(shape, dtype=np.int64)
        moved: np.ndarray = np.zeros((len(records), len(self.plan.counters), self.plan.lanes), dtype=np.int64)
        clock = env.process(self._leaps(env, pops, moved))
        env.run(until=clock)
        return Outcome(pops, moved, self.in_transit.copy())

    def _stops(self) -> list[int]:
        """The midnights that matter (start, end, records, dated actions), no further apart than allowed."""
        days = self.plan.days
        marks = sorted({0, days, *(int(d) for d in self.plan.record_days),
                        *(a.day for a in self.plan.actions if 0 < a.day < days)})
        stops = [0]
        for mark in marks[1:]:
            while mark - stops[-1] > self.longest:
                stops.append(stops[-1] + self.longest)
            stops.append(mark)
        return stops

    def _leaps(self, env: simpy.Environment, pops: np.ndarray, moved: np.ndarray) -> Generator[Any]:
        yield env.timeout(0)  # dated actions of the first midnight go first
        records = self.plan.record_days
        stops = self._stops()
        k = 0
        for now, then in zip(stops, [*stops[1:], None], strict=True):
            for cohort in self.landing.pop(now, []):  # after the midnight's actions, as in the step engine
                self.pop[cohort.region] += self._landed(cohort)
            if k < len(records) and records[k] == now:
                pops[k] = self.pop
                moved[k] = self.moved
                k += 1
            if then is None:
                break
            self._leap(now, then)
            if self.progress is not None:
                self.progress(then - now)
            yield env.timeout(then - now)

    def _landed(self, cohort: Cohort) -> np.ndarray:
        """A cohort lands: who is not lost in transit (counted on the flow's `_lost` row)."""
        self.in_transit -= cohort.count
        if cohort.lost < 0:
            return cohort.count
        gone = self.rng.binomial(cohort.count, cohort.share)
        self.moved[cohort.lost] += gone
        return cohort.count - gone

    # ---- one leap

    def _leap(self, start: int, end: int) -> None:
        """From midnight `start` to midnight `end`, nothing changing in between."""
        net, unit, k = self.plan.network, self.plan.unit_days, end - start
        exits = {r: [e for e in net.exits if e.region == r] for r in self.regions}
        hazard = {r: sum((self.params[e.rate] / unit for e in mine), np.zeros(self.plan.lanes))
                  for r, mine in exits.items()}
        dated = {r: any(e.to is not None for e in mine) for r, mine in exits.items()}
        groups: dict[str, list[Group]] = {r: [] for r in self.regions}
        for r, region in enumerate(self.regions):
            groups[region].append(_present(self.pop[r].copy(), hazard[region], k, [0], dated[region]))
        for day in range(start + 1, end):  # cohorts landing inside the leap: one group per region and midnight
            landed: dict[int, np.ndarray] = {}
            for cohort in self.landing.pop(day, []):
                landed[cohort.region] = landed.get(cohort.region, 0) + self._landed(cohort)
            for r, n in landed.items():
                region = self.regions[r]
                groups[region].append(_present(n, hazard[region], k, [day - start], dated[region]))
        for st in net.streams(self.params.__getitem__):
            lam, counters = st.rate / unit, [self._index[st.flow]]
            if st.split is not None:
                counters.append(self._index[st.split])
            lost = -1 if st.split is None or st.loss is None else self._index[lost_counter(st.split)]
            share = self.params[st.loss] if lost >= 0 and st.loss is not None else 0.0
            if st.delay == 0:
                n = self.rng.poisson(lam * k)
                groups[st.to].append(_arriving(n, hazard[st.to], k, dated[st.to]))
            else:
                n = self._depart(self._region[st.to], st.delay, lam, start, end, lost, share, hazard[st.to],
                                 dated[st.to], groups[st.to])
            for c in counters:
                self.moved[c] += n
        for r, region in enumerate(self.regions):
            self.pop[r] = 0
            for group in groups[region]:
                if not exits[region]:
                    self.pop[r] += group.count
                    continue
                stay = self.rng.binomial(group.count, group.stay)
                self.pop[r] += stay
                out = group.count - stay
                if out.any():
                    self._leave(group, out, exits[region], hazard[region], start)

    def _leave(self, group: Group, out: np.ndarray, exits: list[Exit], total: np.ndarray, start: int) -> None:
        """Split a group's leavers among the exits (share h_j / H each); transfers travel as cohorts by day."""
        remaining = total.copy()
        for i, e in enumerate(exits):
            h = self.params[e.rate] / self.plan.unit_days
            if i == len(exits) - 1:
                n = out
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(remaining > 0, np.minimum(h / remaining, 1.0), 0.0)
                n = self.rng.binomial(out, share)
            remaining = remaining - h
            out = out - n
            self.moved[self._index[e.flow]] += n
            if e.to is not None and n.any():
                assert group.days is not None
                self._travel_by_day(n, group.days, e, start)

    def _travel_by_day(self, n: np.ndarray, days: np.ndarray, e: Exit, start: int) -> None:
        """`n` transferring persons spread over the leap's days by their law, each day's a cohort."""
        if not n.any():
            return
        weight = days.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(weight > 0, days / weight, 1.0 / days.shape[1])
        by_day = self.rng.multinomial(n, p)
        lost = -1 if e.loss is None else self._index[lost_counter(e.flow)]
        share = self.params[e.loss] if e.loss is not None else 0.0
        to = self._region[e.to] if e.to is not None else -1
        self.in_transit += n
        for d in np.flatnonzero(by_day.any(axis=0)):
            landing = start + int(d) + 1 + e.delay
            self.landing.setdefault(landing, []).append(Cohort(to, by_day[:, d].copy(), landing, lost, share))

    def _depart(self, r: int, delay: int, lam: np.ndarray, start: int, end: int, lost: int,
                share: np.ndarray | float, hazard: np.ndarray, dated: bool, groups: list[Group]) -> np.ndarray:
        """Departures of a delayed stream over [start, end): those landing before `end` join `groups` at
        once, the rest travel as daily cohorts. Returns the departures (the stream's count)."""
        k = end - start
        inside = max(0, k - 1 - delay)  # days whose travellers land before `end`
        n = self.rng.poisson(lam * inside) if inside else np.zeros(self.plan.lanes, dtype=np.int64)
        if inside:
            landed = n
            if lost >= 0:
                gone = self.rng.binomial(n, share)
                self.moved[lost] += gone
                landed = n - gone
            groups.append(_present(landed, hazard, k, list(range(1 + delay, 1 + delay + inside)), dated))
        total = n
        for day in range(start + inside, end):
            cohort = self.rng.poisson(lam)
            total = total + cohort
            self.in_transit += cohort
            landing = day + 1 + delay
            self.landing.setdefault(landing, []).append(Cohort(r, cohort, landing, lost, share))
        return total


def _present(n: np.ndarray, hazard: np.ndarray, k: int, starts: list[int], dated: bool) -> Group:
    """Persons present from a midnight m (relative to the leap's start), m spread evenly over `starts`."""
    if len(starts) == 1:
        first = starts[0]
        stay = np.exp(-hazard * (k - first))
        if not dated:
            return Group(n, stay, None)
        lag = np.arange(k, dtype=float) - first
        days = np.where(lag >= 0, -np.expm1(-hazard)[:, None] * np.exp(-np.outer(hazard, np.maximum(lag, 0))), 0.0)
        return Group(n, stay, days)
    m = np.asarray(starts, dtype=float)
    stay = np.exp(-np.outer(hazard, k - m)).mean(axis=1)
    if not dated:
        return Group(n, stay, None)
    d = np.arange(k, dtype=float)
    lag = d[None, :] - m[:, None]  # (starts, k): days since arriving, negative before
    leave = -np.expm1(-hazard)[:, None, None] * np.exp(-hazard[:, None, None] * np.maximum(lag, 0)[None])
    days = np.where(lag[None] >= 0, leave, 0.0).mean(axis=1)
    return Group(n, stay, days)


def _arriving(n: np.ndarray, hazard: np.ndarray, k: int, dated: bool) -> Group:
    """Poisson arrivals at uniform times over k days."""
    with np.errstate(invalid="ignore", divide="ignore"):
        stay = np.where(hazard > 0, -np.expm1(-hazard * k) / (hazard * k), 1.0)
        g = np.where(hazard > 0, -np.expm1(-hazard) / hazard, 1.0)
    if not dated:
        return Group(n, stay, None)
    d = np.arange(k, dtype=float)
    days = ((1 - g)[:, None] + g[:, None] * -np.expm1(-np.outer(hazard, d))) / k
    return Group(n, stay, days)
