"""The leap engine: the step engine's model, sampled from one date that matters to the next at once.

Every flow is linear and persons are independent, so the state at a later midnight
has a known exact law, the law of the daily steps composed (see step.py for one
day; the laws themselves are in laws.py), and a group of persons who share a law is thinned by one binomial draw. A
leap runs from one midnight that matters (start, end, a record, a dated event) to
the next; rates may change from day to day inside it (schedule knots, lines): day d
has exit hazards h_jd (H_d = sum) and stream rates lam_d. With C_d = H_0 + ... + H_(d-1):

- a person present from midnight m (0 for a resident) is still there at the end with
  probability e^-(C_k - C_m), else it left on day d >= m with probability
  e^-(C_d - C_m) (1 - e^-H_d), by exit j with share h_jd / H_d;
- a Poisson stream brings Poisson(sum lam_d) arrivals, one on day i with probability
  lam_i / sum lam; it is still there at that midnight with g_i = (1 - e^-H_i) / H_i,
  else it left that day, and then it goes on as one present from midnight i + 1;
- persons travelling (a delayed stream, a transfer) form a *batch*: a count and, per
  lane, the law of each one's landing midnight and its share lost in transit (the
  share in force the day it set out). Who sets out on day d lands at the midnight
  starting day d + 1 + D. A batch's persons landing at a leap's first midnight land
  there (one binomial); those landing inside a leap join it as one group whose start
  has the batch's law (a mixture; one binomial again); the rest travel on;
- a group's leavers split among the exits (binomials, each exit's probability the sum
  over days of the leaving law times h_jd / H_d); who leaves by a transfer sets out as
  a new batch whose landing law is its leaving-day law on that exit, shifted by 1 + D.

No draw is made per day. A leap is never longer than 2D + 2 days for the shortest
transfer delay D, so whoever transfers and lands inside the leap it left in cannot land
again before its end: the leap runs in two passes, the groups it starts with (and the
arrivals from outside), then the groups that landed from its own transfers, whose
transfers land at its end or later. Every flow count (departures, arrivals, leavers;
the lost at landing) is exact per recorded interval. Dated actions fire at their midnight through
SimPy, as in the step engine, before that midnight's landings; schedule knots fire
there too, and a leap reads the values they will set from the plan beforehand. Every
traveller is a batch, a leap of one day too, so every landing is drawn by a leap or
at its first midnight. Survivors of a loss in transit that changes from day to day
land on each day in proportion to the law times the share kept.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from flowsim.engines import laws
from flowsim.engines.plan import Knot, Plan, factor_key
from flowsim.engines.step import Outcome, Progress, StepEngine
from flowsim.model.network import Network, lost_counter


def longest_leap(network: Network, days: int) -> int:
    """Days a leap may span: 2D + 2 for the shortest transfer delay D (nobody lands twice inside one)."""
    delays = [e.delay for e in network.exits if e.to is not None]
    return 2 * min(delays) + 2 if delays else max(days, 1)


class LeapEngine(StepEngine):
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Progress | None = None):
        super().__init__(plan, rng, progress)
        self.batches: list[laws.Batch] = []
        self.longest = longest_leap(plan.network, plan.days)
        self.knots: dict[str, list[tuple[int, Knot]]] = {}
        for dated in plan.actions:
            if isinstance(dated.action, Knot):
                self.knots.setdefault(dated.action.path, []).append((dated.day, dated.action))

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
        """The midnights that matter (start, end, records, dated events), no further apart than allowed."""
        days = self.plan.days
        marks = sorted({0, days, *(int(d) for d in self.plan.record_days),
                        *(a.day for a in self.plan.actions if 0 < a.day < days and not isinstance(a.action, Knot))})
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
                    self.pop[batch.region] += self._landed(batch, *batch.take(self.rng, slice(i, i + 1)))
            self.batches = [b for b in self.batches if b.first + b.law.shape[1] > now + 1 and b.count.any()]
            if k < len(records) and records[k] == now:
                pops[k] = self.pop
                moved[k] = self.moved
                k += 1
            if then is None:
                break
            self._leap(now, then)  # one day too: the step engine's day would send travellers through
            # SimPy, landing inside the next leap after its end state was drawn
            if self.progress is not None:
                self.progress(then - now)
            yield env.timeout(then - now)

    def _landed(self, batch: laws.Batch, n: np.ndarray, share: np.ndarray) -> np.ndarray:
        """`n` of a batch land: who is not lost in transit (counted on the flow's `_lost` row)."""
        self.in_transit -= n
        if batch.lost < 0:
            return n
        gone = self.rng.binomial(n, share)
        self.moved[batch.lost] += gone
        return n - gone

    # ---- values over a leap

    def _daily(self, path: str, start: int, k: int) -> np.ndarray:
        """Parameter `path` on each day of the leap, its schedule knots inside it applied: (lanes, k),
        or (lanes, 1) when no knot falls inside."""
        now = np.asarray(self.params[path], dtype=float)
        factor = self.params.get(factor_key(path))
        inside = [(day, knot) for day, knot in self.knots.get(path, []) if start < day < start + k]
        if not inside or factor is None:
            return now[:, None]
        out = np.repeat(now[:, None], k, axis=1)
        for day, knot in inside:
            value = (knot.low + knot.w * (knot.high - knot.low)) * factor
            out[:, day - start:] = np.where(np.isnan(value), out[:, day - start:].T, value).T
        return out

    def _regions(self, start: int, k: int) -> dict[str, laws.Region]:
        unit, lanes = self.plan.unit_days, self.plan.lanes
        out = {}
        for region in self.regions:
            mine = [e for e in self.plan.network.exits if e.region == region]
            hazards = [self._daily(e.rate, start, k) / unit for e in mine]
            varying = len(mine) > 1 and any(h.shape[1] > 1 and (h != h[:, :1]).any() for h in hazards)
            dated = any(e.to is not None for e in mine) or varying
            if not dated and all(h.shape[1] == 1 for h in hazards):
                out[region] = laws.Region(mine, hazards, sum(hazards, np.zeros((lanes, 1))), None, False, k)
                continue
            hazards = [laws.over(h, k) for h in hazards]
            total = sum(hazards, np.zeros((lanes, k)))
            cum = np.concatenate([np.zeros((lanes, 1)), np.cumsum(total, axis=1)], axis=1)
            out[region] = laws.Region(mine, hazards, total, cum, dated)
        return out

    # ---- one leap

    def _leap(self, start: int, end: int) -> None:
        """From midnight `start` to midnight `end`, with no dated event in between."""
        net, unit, k, lanes = self.plan.network, self.plan.unit_days, end - start, self.plan.lanes
        regions = self._regions(start, k)
        groups: dict[str, list[laws.Group]] = {r: [] for r in self.regions}
        for r, region in enumerate(self.regions):
            groups[region].append(laws.resident(self.pop[r].copy(), regions[region]))
        for batch in self.batches:  # who lands inside the leap: one group per batch
            self._land_inside(batch, start, end, regions, groups)
        for st in net.streams(lambda path: self._daily(path, start, k)):
            lam, counters = st.rate / unit, [self._index[st.flow]]
            if st.split is not None:
                counters.append(self._index[st.split])
            lost = -1 if st.split is None or st.loss is None else self._index[lost_counter(st.split)]
            share = self._daily(st.loss, start, k) if lost >= 0 and st.loss is not None else np.zeros((lanes, 1))
            if st.delay == 0:
                n = self.rng.poisson(laws.summed(lam, k))
                groups[st.to].append(laws.arriving(n, regions[st.to], lam, k))
            else:
                n = self._depart(self._region[st.to], st.delay, lam, start, k, lost, share, regions[st.to],
                                 groups[st.to])
            for c in counters:
                self.moved[c] += n
        self.pop[...] = 0
        sent = len(self.batches)
        self._settle(groups, regions, start)
        landed: dict[str, list[laws.Group]] = {r: [] for r in self.regions}
        for batch in self.batches[sent:]:  # transfers of this leap landing inside it: the second pass
            self._land_inside(batch, start, end, regions, landed)
        self._settle(landed, regions, start)

    def _land_inside(self, batch: laws.Batch, start: int, end: int, regions: dict[str, laws.Region],
                     groups: dict[str, list[laws.Group]]) -> None:
        """Who of a batch lands after midnight `start` and before `end` joins its region as one group."""
        lo, hi = max(start + 1 - batch.first, 0), min(end - batch.first, batch.law.shape[1])
        if lo >= hi or not batch.count.any():
            return
        weights = batch.survivors(slice(lo, hi))
        mass = weights.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            starts = weights / mass
        starts[~(mass[:, 0] > 0)] = 0.0
        n = self._landed(batch, *batch.take(self.rng, slice(lo, hi)))
        region = self.regions[batch.region]
        groups[region].append(laws.present(n, regions[region], starts, batch.first + lo - start))

    def _settle(self, groups: dict[str, list[laws.Group]], regions: dict[str, laws.Region], start: int) -> None:
        """Draw who of each group is still there at the leap's end (added to the population) and split the rest."""
        for r, region in enumerate(self.regions):
            for group in groups[region]:
                if not regions[region].exits:
                    self.pop[r] += group.count
                    continue
                stay = self.rng.binomial(group.count, np.clip(group.stay, 0.0, 1.0))
                self.pop[r] += stay
                out = group.count - stay
                if out.any():
                    self._leave(group, out, regions[region], start)

    def _leave(self, group: laws.Group, out: np.ndarray, region: laws.Region, start: int) -> None:
        """Split a group's leavers among the exits; who transfers sets out as a batch."""
        lanes = len(out)
        if group.days is None:  # shares that do not change within the leap
            probs = [r[:, 0] for r in region.ratios]
            by_exit: list[np.ndarray | None] = [None] * len(region.exits)
        else:  # P(left on day d by exit j): needed per day for transfers, summed for the others
            by_exit = [group.days * r if e.to is not None else None for e, r in zip(region.exits, region.ratios,
                                                                                     strict=True)]
            left = group.days.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                probs = [np.where(left > 0, (b.sum(axis=1) if b is not None else np.einsum("ij,ij->i", group.days, r))
                                  / left, 0.0) for b, r in zip(by_exit, region.ratios, strict=True)]
        remaining = np.ones(lanes)
        for i, e in enumerate(region.exits):
            if i == len(region.exits) - 1:
                n = out
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(remaining > 0, np.clip(probs[i] / remaining, 0.0, 1.0), 0.0)
                n = self.rng.binomial(out, share)
            remaining = remaining - probs[i]
            out = out - n
            self.moved[self._index[e.flow]] += n
            if e.to is not None and n.any():
                law = by_exit[i]
                assert law is not None
                lost = -1 if e.loss is None else self._index[lost_counter(e.flow)]
                share = self._daily(e.loss, start, region.k).copy() if e.loss is not None else np.zeros((lanes, 1))
                self.in_transit += n
                self.batches.append(laws.Batch(self._region[e.to], n, start + 1 + e.delay, law, lost, share))

    def _depart(self, r: int, delay: int, lam: np.ndarray, start: int, k: int, lost: int, share: np.ndarray,
                region: laws.Region, groups: list[laws.Group]) -> np.ndarray:
        """Departures of a delayed stream over the leap: those landing before its end join `groups` at
        once, the rest set out as a batch. Returns the departures (the stream's count)."""
        lam, share = laws.over(lam, k), laws.over(share, k)
        lanes = lam.shape[0]
        inside = max(0, k - 1 - delay)  # days whose travellers land before the end
        n = np.zeros(lanes, dtype=np.int64)
        if inside:
            kept, gone = lam[:, :inside] * (1 - share[:, :inside]), lam[:, :inside] * share[:, :inside]
            landed = self.rng.poisson(kept.sum(axis=1))  # Poisson split by fate: independent counts
            if lost >= 0:
                lost_n = self.rng.poisson(gone.sum(axis=1))
                self.moved[lost] += lost_n
                n = n + lost_n
            n = n + landed
            mass = kept.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                starts = np.where(mass > 0, kept / mass, 0.0)
            groups.append(laws.present(landed, region, starts, 1 + delay))
        later = lam[:, inside:]
        travelling = self.rng.poisson(later.sum(axis=1))
        self.in_transit += travelling
        share = share[:, :1].copy() if share.strides[1] == 0 else share[:, inside:].copy()
        self.batches.append(laws.Batch(r, travelling, start + inside + 1 + delay, later.copy(), lost, share))
        return n + travelling
