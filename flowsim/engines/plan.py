"""A scenario turned into arrays: what one engine call simulates for a block of lanes.

A lane is one replicate of one parameter point. Everything an engine needs is
here as numpy arrays over lanes, so engines never look at the scenario file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowsim.model.distributions import Distribution, Number
from flowsim.model.network import Network
from flowsim.model.parameters import argument_path
from flowsim.model.scenario import Scenario
from flowsim.model.timeline import changes


@dataclass(frozen=True)
class SetParam:
    path: str
    values: np.ndarray


@dataclass(frozen=True)
class ScaleParam:
    path: str
    factor: np.ndarray


@dataclass(frozen=True)
class RemoveShare:
    region: int
    share: np.ndarray
    counter: int


@dataclass(frozen=True)
class RemoveCount:
    region: int
    count: np.ndarray
    counter: int


@dataclass(frozen=True)
class Knot:
    """The next value of a number that changes over time: `low + w (high - low)` (see timeline.py).

    It is the timeline's value times the `scale` of events since; after an event `set`s
    the number, the timeline no longer applies (its factor is NaN).
    """

    path: str
    low: np.ndarray
    high: np.ndarray
    w: float


Action = SetParam | ScaleParam | RemoveShare | RemoveCount | Knot


def factor_key(path: str) -> str:
    """Where a timeline's factor from events lives among the parameters of a run."""
    return f"{path}@factor"


def apply(action: Action, params: dict[str, Any], pop: Any, moved: Any,
          binomial: Callable[[Any, Any], Any], lane: int | None = None) -> bool:
    """Carry out a dated action on the state of every lane (`lane` None: numpy arrays over lanes)
    or of one lane (`lane`: plain numbers); True when rates changed and must be derived again.

    Both engines call this, so an action means the same in each.
    """
    def pick(values: np.ndarray) -> Any:
        return values.copy() if lane is None else values[lane].item()

    factor = factor_key(getattr(action, "path", ""))
    if isinstance(action, SetParam):
        params[action.path] = pick(action.values)
        if factor in params:
            params[factor] = params[factor] * np.nan
        return True
    if isinstance(action, ScaleParam):
        params[action.path] = params[action.path] * pick(action.factor)
        if factor in params:
            params[factor] = params[factor] * pick(action.factor)
        return True
    if isinstance(action, Knot):
        low, high = pick(action.low), pick(action.high)
        value = (low + action.w * (high - low)) * params[factor]
        params[action.path] = np.where(np.isnan(value), params[action.path], value) if lane is None else (
            params[action.path] if math.isnan(value) else value)
        return True
    if isinstance(action, RemoveShare):
        gone = binomial(pop[action.region], pick(action.share))
    else:
        gone = np.minimum(pick(action.count), pop[action.region])
    if lane is not None:
        gone = int(gone)
    pop[action.region] -= gone
    moved[action.counter] += gone
    return False


@dataclass(frozen=True)
class DatedAction:
    day: int
    action: Action


@dataclass
class Plan:
    network: Network
    days: int
    unit_days: float
    record_days: np.ndarray
    params: dict[str, np.ndarray]
    initial: np.ndarray
    actions: list[DatedAction]
    counters: tuple[str, ...]
    drawn: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def lanes(self) -> int:
        return int(self.initial.shape[1])


def record_days(s: Scenario, extra: list[int] | None = None) -> np.ndarray:
    """Report every `report_every` days, plus the last day and the midnights observations need
    (a stock's date; a flow's first midnight and the one after its last day)."""
    days = set(range(0, s.days + 1, s.report_every)) | {s.days}
    days |= {d for d in extra or [] if 0 <= d <= s.days}
    days |= {s.day_of(d) for o in s.inline_observations() for d in o.record_dates()}
    return np.array(sorted(days), dtype=np.int64)


def counter_names(s: Scenario) -> tuple[str, ...]:
    """Names of the flows.csv rows: every flow, then the losses in transit of each flow with a
    `loss` (`NAME_lost`, in flow order), then every shock event."""
    net = s.network()
    return (*net.flow_names, *net.lost_names, *(e.label() for e in s.events if e.shock))


def _draw(value: Number, rng: np.random.Generator, lanes: int, rows: dict[str, np.ndarray], key: str = "",
          fixed: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Draw a number for every lane; `fixed` may pin distribution arguments (`KEY.kind.i`) per lane.

    A posterior takes its lanes' rows from `rows` (by resolved file), drawing them for the
    file's first parameter; so every parameter of one file gets the same row in a lane.
    """
    if not isinstance(value, Distribution):
        return np.full(lanes, float(value))
    if value.kind == "posterior":
        if value.resolved not in rows:
            rows[value.resolved] = value.draw_rows(rng, lanes)
        return np.asarray(value.sample(rng, lanes, rows=rows[value.resolved]), dtype=float)
    names = [argument_path(key, value.kind, i) for i in range(len(value.args))]
    if fixed and any(n in fixed for n in names):
        args = [np.broadcast_to(fixed[n], (lanes,)) if n in fixed else np.full(lanes, a)
                for n, a in zip(names, value.args, strict=True)]
        return np.asarray(value.sample(rng, lanes, args), dtype=float)
    return np.asarray(value.sample(rng, lanes), dtype=float)


def _timeline_actions(s: Scenario, params: dict[str, np.ndarray], lanes: int) -> list[DatedAction]:
    """Day-0 values of the numbers that change over time (into `params`), and their changes."""
    actions: list[DatedAction] = []
    for path, line in s.timelines().items():
        knots = [params[k] for k in line.paths(path)]
        days = [s.day_of(date) for date, _ in line.knots]
        (_, k0, w0), *later = changes(days, line.linear, s.days)
        params[path] = knots[k0] + w0 * (knots[min(k0 + 1, len(knots) - 1)] - knots[k0])
        params[factor_key(path)] = np.ones(lanes)
        actions += [DatedAction(day, Knot(path, knots[k], knots[min(k + 1, len(knots) - 1)], w))
                    for day, k, w in later]
    return actions


def make_plan(
    s: Scenario,
    rng: np.random.Generator,
    lanes: int,
    fixed: dict[str, np.ndarray] | None = None,
    days: np.ndarray | None = None,
) -> Plan:
    """Draw every uncertain number once per lane (in file order), unless `fixed` gives it.

    The rows of each posterior file are drawn once, where its first drawn parameter is.
    A number that changes over time starts at its day-0 value and changes by `Knot`
    actions, which come before the events of their day (an event then acts on the new value).
    """
    fixed = fixed or {}
    rows: dict[str, np.ndarray] = {}
    params: dict[str, np.ndarray] = {}
    drawn: dict[str, np.ndarray] = {}
    for key, value in s.parameters().items():
        if key in fixed:
            params[key] = np.broadcast_to(np.asarray(fixed[key], dtype=float), (lanes,)).copy()
        else:
            params[key] = _draw(value, rng, lanes, rows, key, fixed)
            if isinstance(value, Distribution):
                drawn[key] = params[key]
    regions = list(s.regions)
    initial = np.stack([np.rint(params[f"regions.{r}.initial"]) for r in regions]).astype(np.int64)
    actions = _timeline_actions(s, params, lanes)
    counters = counter_names(s)
    for i, ev in enumerate(s.events):
        day = s.day_of(ev.date)
        for key, value in (ev.set or {}).items():
            values = _draw(value, rng, lanes, rows)
            if isinstance(value, Distribution):
                drawn[f"events[{i}].set.{key}"] = values
            actions.append(DatedAction(day, SetParam(key, values)))
        for key, value in (ev.scale or {}).items():
            factor = _draw(value, rng, lanes, rows)
            if isinstance(value, Distribution):
                drawn[f"events[{i}].scale.{key}"] = factor
            actions.append(DatedAction(day, ScaleParam(key, factor)))
        if ev.shock:
            region = regions.index(ev.shock.region)
            counter = counters.index(ev.label())
            if ev.shock.remove is not None:
                share = _draw(ev.shock.remove, rng, lanes, rows)
                if isinstance(ev.shock.remove, Distribution):
                    drawn[f"events[{i}].shock.remove"] = share
                actions.append(DatedAction(day, RemoveShare(region, share, counter)))
            else:
                assert ev.shock.count is not None
                count = _draw(ev.shock.count, rng, lanes, rows)
                if isinstance(ev.shock.count, Distribution):
                    drawn[f"events[{i}].shock.count"] = count
                actions.append(DatedAction(day, RemoveCount(region, np.rint(count).astype(np.int64), counter)))
    return Plan(
        network=s.network(),
        days=s.days,
        unit_days=s.unit_days,
        record_days=record_days(s) if days is None else days,
        params=params,
        initial=initial,
        actions=actions,
        counters=counters,
        drawn=drawn,
    )
