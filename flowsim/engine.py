"""The step engine: SimPy keeps the day clock, numpy moves every lane of a block at once.

Per day, for each region with exit hazards h_1..h_k (H = sum):
- each resident leaves with probability 1 - exp(-H), by exit j with share h_j / H;
- arrivals are Poisson; one arriving at a uniform time in the day is still there
  at midnight with probability (1 - exp(-H)) / H, else it left by exit j with share h_j / H;
- a diversion of fraction f splits a Poisson stream into independent Poisson streams.
With these exact probabilities the end-of-day state has the same distribution as
the continuous-time chain. Persons in transit (delayed flows, transfers) land at
the midnight after `delay` whole days, via a SimPy event, so dated events and
landings happen at midnights, before the day is stepped.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from simpy.events import URGENT

from . import sampling
from .plan import Action, DatedAction, Plan, RemoveCount, RemoveShare, ScaleParam, SetParam


@dataclass
class Outcome:
    """What an engine returns for a block of lanes."""

    populations: np.ndarray
    """(records, regions, lanes): persons in each region at each record day (at its midnight)."""
    moved: np.ndarray
    """(records, counters, lanes): cumulative persons moved by each flow or shock up to that day."""
    in_transit: np.ndarray
    """(lanes,): persons still travelling at the end."""


class Midnight(simpy.Event):
    """An event at a midnight `delay` days ahead that fires before the day is stepped."""

    def __init__(self, env: simpy.Environment, delay: int) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT, delay)


Progress = Callable[[int], None]


class StepEngine:
    def __init__(self, plan: Plan, rng: np.random.Generator, progress: Progress | None = None):
        self.plan = plan
        self.rng = rng
        self.progress = progress
        net = plan.network
        self.regions = net.regions
        self.pop = plan.initial.copy()
        self.moved = np.zeros((len(plan.counters), plan.lanes), dtype=np.int64)
        self.in_transit = np.zeros(plan.lanes, dtype=np.int64)
        self.params = {k: v.copy() for k, v in plan.params.items()}
        self._index = {name: i for i, name in enumerate(plan.counters)}
        self._region = {name: i for i, name in enumerate(self.regions)}
        self._dirty = True

    # ---- rates derived from parameters, recomputed only when an event changes one
    def _derive(self) -> None:
        net, unit = self.plan.network, self.plan.unit_days
        self.streams: list[tuple[int, list[tuple[int, int, int, sampling.Poisson]]]] = []
        for src in net.sources:
            lam = self.params[src.rate] / unit
            parts = []
            rest = np.ones_like(lam)
            for sp in net.splits:
                if sp.of == src.flow:
                    f = self.params[sp.fraction]
                    rest = rest - f
                    stream = sampling.Poisson(lam * f)
                    parts.append((self._index[sp.flow], self._region[sp.to], sp.delay, stream))
            own = (-1, self._region[src.to], src.delay, sampling.Poisson(lam * np.clip(rest, 0.0, 1.0)))
            self.streams.append((self._index[src.flow], [own, *parts]))
        self.exits: list[tuple[np.ndarray, np.ndarray, list[tuple[int, int | None, int, np.ndarray]]]] = []
        for region in self.regions:
            mine = [e for e in net.exits if e.region == region]
            if not mine:
                self.exits.append((np.zeros(0), np.zeros(0), []))
                continue
            hazards = [self.params[e.rate] / unit for e in mine]
            total = np.sum(hazards, axis=0)
            p_leave = -np.expm1(-total)
            with np.errstate(invalid="ignore", divide="ignore"):
                p_die_arriving = np.where(total > 0, 1.0 - p_leave / total, 0.0)
            splits = []
            remaining = total.copy()
            for e, h in zip(mine, hazards, strict=True):
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(remaining > 0, np.minimum(h / remaining, 1.0), 0.0)
                remaining = remaining - h
                to = None if e.to is None else self._region[e.to]
                splits.append((self._index[e.flow], to, e.delay, share))
            self.exits.append((p_leave, p_die_arriving, splits))
        self._dirty = False

    # ---- SimPy processes
    def run(self) -> Outcome:
        env = simpy.Environment()
        for dated in self.plan.actions:
            env.process(self._dated(env, dated))
        records = self.plan.record_days
        pops = np.zeros((len(records), len(self.regions), self.plan.lanes), dtype=np.int64)
        moved = np.zeros((len(records), len(self.plan.counters), self.plan.lanes), dtype=np.int64)
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

    def _land(self, env: simpy.Environment, region: int, cohort: np.ndarray, delay: int) -> Generator[Any]:
        yield Midnight(env, 1 + delay)
        self.pop[region] += cohort
        self.in_transit -= cohort

    def _travel(self, env: simpy.Environment, region: int, cohort: np.ndarray, delay: int) -> None:
        self.in_transit += cohort
        env.process(self._land(env, region, cohort, delay))

    # ---- the day step and dated actions
    def _apply(self, action: Action) -> None:
        if isinstance(action, SetParam):
            self.params[action.path] = action.values.copy()
            self._dirty = True
        elif isinstance(action, ScaleParam):
            self.params[action.path] = self.params[action.path] * action.factor
            self._dirty = True
        elif isinstance(action, RemoveShare):
            gone = self.rng.binomial(self.pop[action.region], action.share)
            self._remove(action.region, gone, action.counter)
        elif isinstance(action, RemoveCount):
            self._remove(action.region, np.minimum(action.count, self.pop[action.region]), action.counter)

    def _remove(self, region: int, gone: np.ndarray, counter: int) -> None:
        self.pop[region] -= gone
        self.moved[counter] += gone

    def _step(self, env: simpy.Environment) -> None:
        if self._dirty:
            self._derive()
        rng = self.rng
        arriving = np.zeros_like(self.pop)
        for flow, parts in self.streams:
            for counter, region, delay, stream in parts:
                n = stream.draw(rng)
                self.moved[flow] += n
                if counter >= 0:
                    self.moved[counter] += n
                if delay:
                    self._travel(env, region, n, delay)
                else:
                    arriving[region] += n
        for r, (p_leave, p_die, splits) in enumerate(self.exits):
            if not splits:
                self.pop[r] += arriving[r]
                continue
            leaving = rng.binomial(self.pop[r], p_leave) + sampling.binomial(rng, arriving[r], p_die)
            self.pop[r] += arriving[r] - leaving
            for i, (counter, to, delay, share) in enumerate(splits):
                n = leaving if i == len(splits) - 1 else rng.binomial(leaving, share)
                leaving = leaving - n
                self.moved[counter] += n
                if to is not None:
                    self._travel(env, to, n, delay)
