"""The step engine: SimPy keeps the day clock, numpy moves every lane of a block at once.

Per day, for each region with exit hazards h_1..h_k (H = sum):
- each resident leaves with probability 1 - exp(-H), by exit j with share h_j / H;
- arrivals are Poisson; one arriving at a uniform time in the day is still there
  at midnight with probability (1 - exp(-H)) / H, else it left by exit j with share h_j / H;
- a diversion of fraction f splits a Poisson stream into independent Poisson streams.
With these exact probabilities the end-of-day state has the same distribution as
the continuous-time chain. Persons in transit (delayed flows, transfers) land at
the midnight after `delay` whole days, via a SimPy event, so dated events and
landings happen at midnights, before the day is stepped. A flow with a `loss`
loses each traveller of a cohort independently with the `loss` in force on the day
the cohort left: a binomial draw when it lands, counted on the row `NAME_lost`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import simpy
from simpy.events import URGENT

from flowsim.engines import poisson as sampling
from flowsim.engines.plan import Action, DatedAction, Plan, apply
from flowsim.model.network import lost_counter


@dataclass
class Outcome:
    """What an engine returns for a block of lanes."""

    populations: np.ndarray
    """(records, regions, lanes): persons in each region at each record day (at its midnight)."""
    moved: np.ndarray
    """(records, counters, lanes): cumulative persons moved by each flow or shock up to that day."""
    in_transit: np.ndarray
    """(lanes,): persons still travelling at the end."""


Loss = tuple[int, str]
"""A loss in transit: (counter of the lost, parameter path of the share lost)."""


@dataclass(frozen=True)
class RegionExits:
    p_leave: np.ndarray
    """P(a resident leaves during the day) = 1 - exp(-H)."""
    p_stay_arriving: np.ndarray
    """P(an arrival at a uniform time is still there at midnight) = (1 - exp(-H)) / H."""
    splits: list[tuple[int, int | None, int, np.ndarray, Loss | None]]
    """(counter, destination or None, delay, share of the remaining leavers, loss in transit) per exit."""


@dataclass(frozen=True)
class Part:
    """A Poisson stream of arrivals: a source, or the share of it one diversion takes."""

    flow: int
    split: int
    region: int
    delay: int
    stay: sampling.Poisson
    leave: sampling.Poisson
    loss: Loss | None = None


class Midnight(simpy.Event):
    """An event at a midnight `delay` days ahead that fires before the day is stepped.

    Triggered at once through SimPy's public API: `succeed()` marks it done and hands it
    to its environment's `schedule`. For that one call the event's environment is a
    stand-in that schedules it URGENT and `delay` days ahead, so at that midnight it is
    processed before the day's (NORMAL) clock tick, and midnights in creation order.
    """

    def __init__(self, env: simpy.Environment, delay: int) -> None:
        super().__init__(cast(simpy.Environment, _UrgentAhead(env, delay)))
        self.succeed()
        self.env = env


class _UrgentAhead:
    """Schedules what it is given URGENT, `delay` ahead, in the real environment."""

    def __init__(self, env: simpy.Environment, delay: int) -> None:
        self.env = env
        self.delay = delay

    def schedule(self, event: simpy.Event, *_: Any) -> None:
        self.env.schedule(event, URGENT, self.delay)


Progress = Callable[[int], None]


class StepEngine:
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Progress | None = None):
        self.plan = plan
        self.rng = rng
        self.progress = progress
        net = plan.network
        self.regions = net.regions
        self.pop = plan.initial.astype(self.dtype)
        self.moved = np.zeros((len(plan.counters), plan.lanes), dtype=self.dtype)
        self.in_transit = np.zeros(plan.lanes, dtype=self.dtype)
        self.params = {k: v.copy() for k, v in plan.params.items()}
        self._index = {name: i for i, name in enumerate(plan.counters)}
        self._region = {name: i for i, name in enumerate(self.regions)}
        self._dirty = True
        self._staying = np.zeros_like(self.pop)
        self._leaving = np.zeros_like(self.pop)

    # ---- the two kinds of draw; the mean-field engine replaces them with expectations
    dtype: type[np.int64] | type[np.float64] = np.int64

    def _poisson(self, stream: sampling.Poisson) -> np.ndarray:
        return stream.draw(self.rng)

    def _binomial(self, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self.rng.binomial(n, p)

    # ---- rates derived from parameters, recomputed only when an event changes one
    def _derive(self) -> None:
        net, unit = self.plan.network, self.plan.unit_days
        self.exits: list[RegionExits | None] = []
        for region in self.regions:
            mine = [e for e in net.exits if e.region == region]
            if not mine:
                self.exits.append(None)
                continue
            hazards = [self.params[e.rate] / unit for e in mine]
            total = np.sum(hazards, axis=0)
            p_leave = -np.expm1(-total)
            with np.errstate(invalid="ignore", divide="ignore"):
                p_stay_arriving = np.where(total > 0, p_leave / total, 1.0)
            splits = []
            remaining = total.copy()
            for e, h in zip(mine, hazards, strict=True):
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(remaining > 0, np.minimum(h / remaining, 1.0), 0.0)
                remaining = remaining - h
                to = None if e.to is None else self._region[e.to]
                splits.append((self._index[e.flow], to, e.delay, share, self._loss(e.flow, e.loss)))
            self.exits.append(RegionExits(p_leave, p_stay_arriving, splits))
        self.parts = [self._part(st.flow, st.split, st.to, st.delay, st.rate / unit,
                                 None if st.split is None else self._loss(st.split, st.loss))
                      for st in net.streams(self.params.__getitem__)]
        self._dirty = False

    def _loss(self, flow: str, path: str | None) -> Loss | None:
        return None if path is None else (self._index[lost_counter(flow)], path)

    def _part(self, flow: str, split: str | None, to: str, delay: int, lam: np.ndarray,
              loss: Loss | None = None) -> Part:
        """One Poisson stream; arriving at once, it is thinned into stayers and same-day leavers."""
        region = self._region[to]
        exits = self.exits[region]
        stay = 1.0 if delay or exits is None else exits.p_stay_arriving
        return Part(
            self._index[flow], -1 if split is None else self._index[split], region, delay,
            sampling.Poisson(lam * stay), sampling.Poisson(lam * (1.0 - stay)), loss,
        )

    # ---- SimPy processes
    def run(self) -> Outcome:
        env = simpy.Environment()
        for dated in self.plan.actions:
            env.process(self._dated(env, dated))
        records = self.plan.record_days
        pops: np.ndarray = np.zeros((len(records), len(self.regions), self.plan.lanes), dtype=self.dtype)
        moved: np.ndarray = np.zeros((len(records), len(self.plan.counters), self.plan.lanes), dtype=self.dtype)
        clock = env.process(self._clock(env, pops, moved))
        env.run(until=clock)  # landings after the last day stay in transit
        return Outcome(pops, moved, self.in_transit.copy())

    def _clock(self, env: simpy.Environment, pops: np.ndarray, moved: np.ndarray) -> Generator[Any]:
        yield env.timeout(0)  # let dated events of the first midnight fire first
        k = 0
        records = self.plan.record_days
        for day in range(self.plan.days + 1):
            if k < len(records) and records[k] == day:
                pops[k] = self.pop
                moved[k] = self.moved
                k += 1
            if day == self.plan.days:
                break
            self._step(env)
            if self.progress is not None:
                self.progress(1)
            yield env.timeout(1)

    def _dated(self, env: simpy.Environment, dated: DatedAction) -> Generator[Any]:
        yield Midnight(env, dated.day)
        self._apply(dated.action)

    def _land(self, env: simpy.Environment, region: int, cohort: np.ndarray, delay: int,
              lost: tuple[int, np.ndarray] | None) -> Generator[Any]:
        yield Midnight(env, 1 + delay)
        self.in_transit -= cohort
        if lost is not None:
            counter, share = lost
            gone = self._binomial(cohort, share)
            self.moved[counter] += gone
            cohort = cohort - gone
        self.pop[region] += cohort

    def _travel(self, env: simpy.Environment, region: int, cohort: np.ndarray, delay: int,
                loss: Loss | None = None) -> None:
        self.in_transit += cohort
        # the share lost is the one in force when the cohort leaves (events replace, never mutate, params)
        lost = None if loss is None else (loss[0], self.params[loss[1]])
        env.process(self._land(env, region, cohort, delay, lost))

    # ---- the day step and dated actions
    def _apply(self, action: Action) -> None:
        if apply(action, self.params, self.pop, self.moved, self._binomial):
            self._dirty = True

    def _step(self, env: simpy.Environment) -> None:
        if self._dirty:
            self._derive()
        staying, leaving = self._staying, self._leaving
        staying.fill(0)
        leaving.fill(0)
        for part in self.parts:
            n = self._poisson(part.stay)
            if part.delay:
                self._travel(env, part.region, n, part.delay, part.loss)
            else:
                staying[part.region] += n
                if not part.leave.zero:
                    gone = self._poisson(part.leave)
                    leaving[part.region] += gone
                    n = n + gone
            self.moved[part.flow] += n
            if part.split >= 0:
                self.moved[part.split] += n
        for r, exits in enumerate(self.exits):
            if exits is None:
                self.pop[r] += staying[r]
                continue
            residents = self._binomial(self.pop[r], exits.p_leave)
            self.pop[r] += staying[r] - residents
            out = residents + leaving[r]
            last = len(exits.splits) - 1
            for i, (counter, to, delay, share, loss) in enumerate(exits.splits):
                n = out if i == last else self._binomial(out, share)
                out = out - n
                self.moved[counter] += n
                if to is not None:
                    self._travel(env, to, n, delay, loss)


class MeanFieldEngine(StepEngine):
    """The expected trajectory: each draw replaced by its mean, so every lane follows E[state].

    By linearity this is exactly the mean of the step engine (and of the chain)
    given the lane's parameters; lanes still differ by their drawn parameters.
    Shocks that remove a `count` use min(count, E[population]), an approximation.
    """

    dtype = np.float64

    def _poisson(self, stream: sampling.Poisson) -> np.ndarray:
        return stream.lam.astype(float)

    def _binomial(self, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        return n * p
