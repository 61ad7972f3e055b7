"""The leap engine: the step engine's model, sampled from one date that matters to the next at once.

Every flow is linear, so between two midnights where nothing changes (no dated
event, schedule knot or record in between) the state at the later one has a known
exact law, the law of the daily steps composed (see step.py for one day). Persons
are independent, so a group of persons who share a law is thinned by one binomial
draw. Per region with exit hazards h_1..h_J per day (H = sum), over a leap of k days:

- a person present from midnight m (0 for a resident) is still there at the end with
  probability e^(-H(k - m)), else it left on day d >= m with probability
  e^(-H(d - m)) (1 - e^(-H)), by exit j with share h_j / H (exit and day independent);
- a Poisson stream of lam a day brings Poisson(lam k) arrivals at uniform times; one
  is still there at the end with probability (1 - e^(-Hk)) / (Hk), else it left on day d
  with probability ((1 - g) + g (1 - e^(-Hd))) / k, g = (1 - e^(-H)) / H;
- persons travelling (a delayed stream, a transfer) form a *batch*: a count and, per
  lane, the law of each one's landing midnight (each independently). Who sets out on
  day d lands at the midnight starting day d + 1 + D. A batch's persons landing at a
  leap's first midnight land there (one binomial); those landing inside a leap join it
  as one group whose start m has the batch's law (a mixture, one binomial again);
  the rest travel on. Losses in transit thin a batch where it lands.
- a group's leavers split among the exits (binomials, share h_j / H); those leaving by
  a transfer set out as a new batch whose landing law is their leaving-day law shifted
  by 1 + D.

No draw is made per day. A leap is never longer than D + 1 days for the shortest
transfer delay D, so nobody who transfers lands in the leap it left in: nobody moves
twice in a leap, and every flow count (departures, arrivals, leavers; the lost at
landing) is exact per recorded interval. Dated actions fire at their midnight through
SimPy, as in the step engine, before that midnight's landings. A leap of one day
is the step engine's day (its travellers land through SimPy, as there).
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
class Batch:
    """Persons travelling on one route who set out during one leap; each lands at midnight
    `first + i` with probability `law[:, i]` (per lane, independently; rows sum to 1)."""

    region: int
    count: np.ndarray
    first: int
    law: np.ndarray
    lost: int
    """Counter of the lost (-1: none lost)."""
    share: np.ndarray | float
    """Share lost in transit, the one in force when they set out."""

    def take(self, rng: np.random.Generator, columns: slice) -> np.ndarray:
        """Draw who lands at the midnights of `columns`; the rest keep the law conditioned on not landing there.

        Earlier columns are spent already, so the last columns take everyone left (no rounding strands anyone).
        """
        last = columns.stop >= self.law.shape[1]
        mass = np.ones(len(self.count)) if last else np.clip(self.law[:, columns].sum(axis=1), 0.0, 1.0)
        n = rng.binomial(self.count, mass)
        self.count = self.count - n
        self.law[:, columns] = 0.0
        rest = 1.0 - mass
        with np.errstate(invalid="ignore", divide="ignore"):
            self.law = np.where(rest[:, None] > 0, self.law / rest[:, None], 0.0)
        return n


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
        self.batches: list[Batch] = []
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
            for batch in self.batches:  # after the midnight's actions, as in the step engine
                i = now - batch.first
                if 0 <= i < batch.law.shape[1] and batch.count.any():
                    self.pop[batch.region] += self._landed(batch, batch.take(self.rng, slice(i, i + 1)))
            self.batches = [b for b in self.batches if b.first + b.law.shape[1] > now + 1 and b.count.any()]
            if k < len(records) and records[k] == now:
                pops[k] = self.pop
                moved[k] = self.moved
                k += 1
            if then is None:
                break
            if then - now == 1:  # one day: the step engine's day is the same law, and cheaper
                self._step(env)
            else:
                self._leap(now, then)
            if self.progress is not None:
                self.progress(then - now)
            yield env.timeout(then - now)

    def _landed(self, batch: Batch, n: np.ndarray) -> np.ndarray:
        """`n` of a batch land: who is not lost in transit (counted on the flow's `_lost` row)."""
        self.in_transit -= n
        if batch.lost < 0:
            return n
        gone = self.rng.binomial(n, batch.share)
        self.moved[batch.lost] += gone
        return n - gone

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
            groups[region].append(_resident(self.pop[r].copy(), hazard[region], k, dated[region]))
        for batch in self.batches:  # who lands inside the leap: one group per batch
            lo, hi = start + 1 - batch.first, end - batch.first  # law columns landing in (start, end)
            lo, hi = max(lo, 0), min(hi, batch.law.shape[1])
            if lo >= hi or not batch.count.any():
                continue
            weights = batch.law[:, lo:hi]
            mass = weights.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                starts = np.zeros((self.plan.lanes, k))
                starts[:, batch.first + lo - start:batch.first + hi - start] = np.where(
                    mass[:, None] > 0, weights / mass[:, None], 0.0)
            n = self._landed(batch, batch.take(self.rng, slice(lo, hi)))
            region = self.regions[batch.region]
            groups[region].append(_mixture(n, hazard[region], starts, dated[region]))
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
        """Split a group's leavers among the exits (share h_j / H each); who transfers sets out as a batch."""
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
                weight = group.days.sum(axis=1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    law = np.where(weight > 0, group.days / weight, 0.0)
                lost = -1 if e.loss is None else self._index[lost_counter(e.flow)]
                share_lost = self.params[e.loss] if e.loss is not None else 0.0
                self.in_transit += n
                self.batches.append(Batch(self._region[e.to], n, start + 1 + e.delay, law, lost, share_lost))

    def _depart(self, r: int, delay: int, lam: np.ndarray, start: int, end: int, lost: int,
                share: np.ndarray | float, hazard: np.ndarray, dated: bool, groups: list[Group]) -> np.ndarray:
        """Departures of a delayed stream over [start, end): those landing before `end` join `groups` at
        once, the rest set out as a batch. Returns the departures (the stream's count)."""
        k = end - start
        inside = max(0, k - 1 - delay)  # days whose travellers land before `end`
        n = self.rng.poisson(lam * inside) if inside else np.zeros(self.plan.lanes, dtype=np.int64)
        if inside:
            landed = n
            if lost >= 0:
                gone = self.rng.binomial(n, share)
                self.moved[lost] += gone
                landed = n - gone
            starts = np.zeros((self.plan.lanes, k))
            starts[:, 1 + delay:1 + delay + inside] = 1.0 / inside
            groups.append(_mixture(landed, hazard, starts, dated))
        later = k - inside
        travelling = self.rng.poisson(lam * later)
        self.in_transit += travelling
        first = start + inside + 1 + delay
        self.batches.append(Batch(r, travelling, first, np.full((self.plan.lanes, later), 1.0 / later), lost, share))
        return n + travelling


def _resident(n: np.ndarray, hazard: np.ndarray, k: int, dated: bool) -> Group:
    """Persons present from the leap's first midnight."""
    stay = np.exp(-hazard * k)
    if not dated:
        return Group(n, stay, None)
    days = -np.expm1(-hazard)[:, None] * np.exp(-np.outer(hazard, np.arange(k, dtype=float)))
    return Group(n, stay, days)


def _mixture(n: np.ndarray, hazard: np.ndarray, starts: np.ndarray, dated: bool) -> Group:
    """Persons present from midnight m (relative to the leap's start) with probability starts[:, m]."""
    k = starts.shape[1]
    stay = (starts * np.exp(-np.outer(hazard, k - np.arange(k, dtype=float)))).sum(axis=1)
    if not dated:
        return Group(n, stay, None)
    decay, leave = np.exp(-hazard), -np.expm1(-hazard)
    days = np.empty_like(starts)
    present = np.zeros(len(hazard))
    for d in range(k):  # present[d] = sum over m <= d of starts[m] e^(-H (d - m))
        present = present * decay + starts[:, d]
        days[:, d] = leave * present
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
