"""The leap engine: the step engine's model, sampled from one date that matters to the next at once.

Every flow is linear, so between two midnights where nothing changes (no dated
event, schedule knot or record in between) the state at the later one has a known
exact law, the law of the daily steps composed (see step.py for one day):

- a resident of a region with exit hazards h_1..h_J per day (H = sum) is still there
  after k days with probability e^(-Hk), else left by exit j with share h_j / H: the
  residents split multinomially;
- arrivals of a Poisson stream of rate lam per day during those k days number
  Poisson(lam k), each arriving at a uniform time; one is still there at the end with
  probability (1 - e^(-Hk)) / (Hk) (the daily (1 - e^(-H)) / H, then whole days,
  averaged over the k days), else left by exit j with share h_j / H;
- a delayed stream (delay D) sets out at Poisson(lam) a day; who sets out on day d lands
  at the midnight starting day d + 1 + D. Those landing before the leap's end are drawn
  as one Poisson count, each lost in transit with the stream's `loss`, and a lander
  survives the whole days from its landing to the end (averaged over the landing days
  when drawn together); those landing later are drawn day by day, as cohorts that
  land at their own midnight (or inside a later leap, surviving from their landing);
- flow counts: each stream's count is its departures (or arrivals), each exit's its
  leavers, the lost are counted at landing: per recorded interval they are exact.

A transfer moves persons between regions, who may move again within the leap, so
its counts are not a function of where persons end: scenarios with transfers step
daily (the step engine), and flowsim says so once. Dated actions fire at their
midnight through SimPy as in the step engine, before that midnight's landings.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from flowsim.engines.plan import Plan
from flowsim.engines.step import Outcome, Progress, StepEngine
from flowsim.model.network import Network, lost_counter


def leaps(network: Network) -> bool:
    """Whether the leap engine can leap this network (no transfers), or steps it day by day."""
    return all(e.to is None for e in network.exits)


def transfers(network: Network) -> list[str]:
    return [e.flow for e in network.exits if e.to is not None]


@dataclass
class Cohort:
    """Persons who set out on one day on one delayed stream, landing together."""

    region: int
    count: np.ndarray
    landing: int
    """The midnight it lands."""
    lost: int
    """Counter of the lost (-1: none lost)."""
    share: np.ndarray | float
    """Share lost in transit, the one in force when they set out."""


class LeapEngine(StepEngine):
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Progress | None = None):
        super().__init__(plan, rng, progress)
        self.landing: dict[int, list[Cohort]] = {}

    def run(self) -> Outcome:
        if not leaps(self.plan.network):
            return super().run()
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

    def _leaps(self, env: simpy.Environment, pops: np.ndarray, moved: np.ndarray) -> Generator[Any]:
        yield env.timeout(0)  # dated actions of the first midnight go first
        days, records = self.plan.days, self.plan.record_days
        stops = sorted({0, days, *(int(d) for d in records), *(a.day for a in self.plan.actions if 0 < a.day < days)})
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

    def _leap(self, start: int, end: int) -> None:
        """From midnight `start` to midnight `end`, nothing changing in between."""
        net, unit, k = self.plan.network, self.plan.unit_days, end - start
        hazards = {r: [(self._index[e.flow], self.params[e.rate] / unit) for e in net.exits if e.region == r]
                   for r in self.regions}
        total = {r: sum((h for _, h in hs), np.zeros(self.plan.lanes)) for r, hs in hazards.items()}
        leaving = np.zeros_like(self.pop)
        staying = np.zeros_like(self.pop)
        for r, region in enumerate(self.regions):  # residents
            stay = self.rng.binomial(self.pop[r], np.exp(-total[region] * k)) if hazards[region] else self.pop[r]
            leaving[r] += self.pop[r] - stay
            staying[r] += stay
        for cohort in [c for day in range(start + 1, end) for c in self.landing.pop(day, [])]:
            landed = self._landed(cohort)
            self._survive(landed, total[self.regions[cohort.region]] * (end - cohort.landing), cohort.region,
                          staying, leaving)
        for st in net.streams(self.params.__getitem__):
            r = self._region[st.to]
            lam = st.rate / unit
            counters = [self._index[st.flow]] + ([] if st.split is None else [self._index[st.split]])
            if st.delay == 0:
                n = self.rng.poisson(lam * k)
                self._arrive(n, total[st.to], k, r, staying, leaving)
            else:
                n = self._depart(st.delay, lam, start, end, r, total[st.to],
                                 None if st.split is None or st.loss is None else lost_counter(st.split), st.loss,
                                 staying, leaving)
            for c in counters:
                self.moved[c] += n
        for r, region in enumerate(self.regions):
            self.pop[r] = staying[r]
            out = leaving[r]
            exits = hazards[region]
            remaining = total[region].copy()
            for i, (counter, h) in enumerate(exits):
                if i == len(exits) - 1:
                    n = out
                else:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        share = np.where(remaining > 0, np.minimum(h / remaining, 1.0), 0.0)
                    n = self.rng.binomial(out, share)
                remaining = remaining - h
                out = out - n
                self.moved[counter] += n

    def _survive(self, n: np.ndarray, exposure: np.ndarray, r: int, staying: np.ndarray, leaving: np.ndarray) -> None:
        """`n` persons each still in region r after `exposure` (hazard x days) with probability e^(-exposure)."""
        stay = self.rng.binomial(n, np.exp(-exposure))
        staying[r] += stay
        leaving[r] += n - stay

    def _arrive(self, n: np.ndarray, hazard: np.ndarray, k: int, r: int, staying: np.ndarray,
                leaving: np.ndarray) -> None:
        """`n` arrivals at uniform times over k days, each still there at the end w.p. (1 - e^(-Hk)) / (Hk)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            keep = np.where(hazard > 0, -np.expm1(-hazard * k) / (hazard * k), 1.0)
        stay = self.rng.binomial(n, keep)
        staying[r] += stay
        leaving[r] += n - stay

    def _depart(self, delay: int, lam: np.ndarray, start: int, end: int, r: int, hazard: np.ndarray,
                lost_row: str | None, loss: str | None, staying: np.ndarray, leaving: np.ndarray) -> np.ndarray:
        """Departures of a delayed stream over [start, end): those landing before `end` at once, the rest
        as daily cohorts. Returns the departures (the stream's count)."""
        lost = -1 if lost_row is None else self._index[lost_row]
        share = self.params[loss] if loss is not None else 0.0
        inside = max(0, end - 1 - delay - start)  # days whose travellers land before `end`
        n = self.rng.poisson(lam * inside) if inside else np.zeros(self.plan.lanes, dtype=np.int64)
        if inside:
            landed = n
            if lost >= 0:
                gone = self.rng.binomial(n, share)
                self.moved[lost] += gone
                landed = n - gone
            # a traveller of day d lands at d + 1 + delay and then stays j = end - landing whole days, j = 1..inside
            e = np.exp(-hazard)
            with np.errstate(invalid="ignore", divide="ignore"):
                keep = np.where(hazard > 0, e * -np.expm1(-hazard * inside) / (inside * -np.expm1(-hazard)), 1.0)
            stay = self.rng.binomial(landed, keep)
            staying[r] += stay
            leaving[r] += landed - stay
        total = n
        for day in range(start + inside, end):
            cohort = self.rng.poisson(lam)
            total = total + cohort
            self.in_transit += cohort
            landing = day + 1 + delay
            self.landing.setdefault(landing, []).append(Cohort(r, cohort, landing, lost, share))
        return total
