"""The scenario file: its schema, its cross-field rules, and loading with `--set` overrides."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from flowsim.model import flows as kinds
from flowsim.model import parameters as paths
from flowsim.model.distributions import (
    MAX_VALUE,
    AnyNumber,
    Fraction,
    NonNegative,
    Number,
    Positive,
    PosteriorFiles,
    bounds,
)
from flowsim.model.errors import InputError
from flowsim.model.flows import Flow, Name
from flowsim.model.network import Exit, Network, Primitive, Source, Split, lost_counter
from flowsim.model.problems import all_errors, first_error, in_file_order, problem
from flowsim.model.timeline import Timeline, span
from flowsim.model.yamlsource import Located, load_yaml


def _date(value: Any) -> dt.date:
    """ISO dates only (YAML reads 2016-02-04 as a date; quoted text is accepted too)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a date like 2016-02-04")


Date = Annotated[
    dt.date,
    PlainValidator(_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Int = Annotated[int, Strict()]

MAX_DAYS = 36_525
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.4375, "year": 365.25}


class Strictly(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Region(Strictly):
    initial: NonNegative = Field(description="persons at the start (rounded per replicate)")


class Shock(Strictly):
    region: Name
    remove: Fraction | None = Field(None, description="share of the region removed at once")
    count: NonNegative | None = Field(None, description="persons removed at once")

    @model_validator(mode="after")
    def _one_of(self) -> Shock:
        if (self.remove is None) == (self.count is None):
            raise ValueError("a shock needs exactly one of `remove` (a share) or `count`")
        return self


class Event(Strictly):
    date: Date
    name: Name | None = None
    set: dict[str, AnyNumber] | None = Field(None, description="parameter path -> new value")
    scale: dict[str, NonNegative] | None = Field(None, description="parameter path -> factor")
    shock: Shock | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Event:
        if sum(x is not None for x in (self.set, self.scale, self.shock)) != 1:
            raise ValueError("an event needs exactly one of `set`, `scale` or `shock`")
        return self

    def label(self) -> str:
        if self.name:
            return self.name
        assert self.shock is not None
        return f"shock_{self.shock.region}_{self.date.isoformat()}"


class ObservationFieldError(ValueError):
    """A broken rule of one observation row, located at `subpath` inside the row (when the key is there)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.subpath = (field,)


ROW_SHAPES = ("a row is either a stock figure (`date`, `region`) or a flow figure (`flow`, `from`, `to`), "
              "not a mix of them")


class Observation(Strictly):
    """A reported figure: a stock (persons in `region` at the start of `date`) or a flow (persons moved by
    `flow` over the whole days `from` to `to`, both included)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True, json_schema_extra={
        "oneOf": [{"required": ["date", "region"]}, {"required": ["flow", "from", "to"]}]})

    date: Date | None = Field(None, description="a stock figure's date (the population at the start of that day)")
    region: Name | None = Field(None, description="a stock figure's region")
    flow: Name | None = Field(
        None, description="a flow figure: persons moved by this flow (a row of flows.csv) from `from` to `to`")
    from_: Date | None = Field(None, alias="from", description="a flow figure's first day (from its start)")
    to: Date | None = Field(None, description="a flow figure's last day (to its end; included)")
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    low: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    high: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    source: str = ""
    sigma: Annotated[float, Field(ge=0.001, le=5, allow_inf_nan=False)] | None = Field(
        None, description="sd of the report on the log scale (default: from the range, or --tolerance)")
    group: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="rows repeating one estimate share a group and count as one measurement")
    bias: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | Name | None = Field(
        None, description="the report counts bias x the population: a number, or a name in `biases`")

    @model_validator(mode="after")
    def _has_figure(self) -> Observation:
        self._check_shape()
        if self.value is None and self.low is None and self.high is None:
            raise ValueError("an observation needs `value`, or `low` and/or `high`")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        return self

    def _check_shape(self) -> None:
        """Stock or flow, never a mix; each with all its fields; a flow's period not empty."""
        if self.flow is not None:
            for field in ("date", "region"):
                if getattr(self, field) is not None:
                    raise ObservationFieldError(field, ROW_SHAPES)
            for field in ("from", "to"):
                if getattr(self, "from_" if field == "from" else field) is None:
                    raise ObservationFieldError(field, "a flow observation needs `from` and `to` (its first and "
                                                "last day, both included)")
            assert self.from_ is not None and self.to is not None
            if self.from_ > self.to:
                raise ObservationFieldError("to", f"must not be before `from` ({self.from_.isoformat()}): "
                                            "the period would be empty")
            return
        if self.from_ is not None or self.to is not None:
            if self.date is not None or self.region is not None:
                raise ObservationFieldError("from" if self.from_ is not None else "to", ROW_SHAPES)
            raise ObservationFieldError("flow", "a flow observation needs `flow` (the flow whose persons moved "
                                        "are counted)")
        for field in ("date", "region"):
            if getattr(self, field) is None:
                raise ObservationFieldError(field, "an observation needs `date` and `region` (a stock figure), "
                                            "or `flow`, `from` and `to` (a flow figure)")

    @property
    def is_flow(self) -> bool:
        return self.flow is not None

    @property
    def when(self) -> str:
        """The date, or the period `from..to`, as tables print it."""
        if self.flow is not None:
            assert self.from_ is not None and self.to is not None
            return f"{self.from_.isoformat()}..{self.to.isoformat()}"
        assert self.date is not None
        return self.date.isoformat()

    @property
    def where(self) -> str:
        """The region, or `flow NAME`, as tables print it (and what a group must keep to)."""
        return f"flow {self.flow}" if self.flow is not None else str(self.region)

    def record_dates(self) -> tuple[dt.date, ...]:
        """The midnights the compared count needs: a stock's date; a flow's first midnight and the one after `to`."""
        if self.flow is not None:
            assert self.from_ is not None and self.to is not None
            return self.from_, self.to + dt.timedelta(days=1)
        assert self.date is not None
        return (self.date,)

    def within(self, start: dt.date, end: dt.date) -> bool:
        """Whether a run from `start` to `end` holds every midnight the compared count needs."""
        return all(start <= d <= end for d in self.record_dates())


class Sweep(Strictly):
    method: Literal["grid", "random", "lhs", "sobol"] = "grid"
    samples: Annotated[Int, Field(ge=1, le=10_000_000)] = 64
    parameters: dict[str, list[AnyNumber] | AnyNumber] = Field(default_factory=dict)


class Scenario(Strictly):
    """A whole scenario file. Rates are per `time_unit`; delays and `report_every` in days."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    description: str = ""
    start: Date
    end: Date
    time_unit: Literal["day", "week", "month", "year"] = "day"
    report_every: Annotated[Int, Field(ge=1, le=3650)] = 7
    replicates: Annotated[Int, Field(ge=1, le=10**12)] = 1000
    seed: Annotated[Int, Field(ge=0, le=2**63 - 1)] = 0
    regions: Annotated[dict[Name, Region], Field(min_length=1)]
    flows: list[Flow] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    biases: dict[Name, Positive] = Field(
        default_factory=dict, description="named multiplicative biases of reports (parameters `biases.NAME`)")
    observations: list[Observation] | str = Field(default_factory=list)
    sweep: Sweep | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def unit_days(self) -> float:
        return UNIT_DAYS[self.time_unit]

    def day_of(self, date: dt.date) -> int:
        return (date - self.start).days

    def parameters(self) -> dict[str, Number]:
        """Every number a parameter path can name, in file order (an optional one only when given).

        A value that changes over time is its knots (`flows.X.rate.schedule.DATE`), not `flows.X.rate`.
        """
        out: dict[str, Number] = {}
        for name, region in self.regions.items():
            out[f"regions.{name}.initial"] = region.initial
        for path, value in self.flow_values().items():
            if isinstance(value, Timeline):
                out.update(zip(value.paths(path), (v for _, v in value.knots), strict=True))
            else:
                out[path] = value
        for name, bias in self.biases.items():
            out[f"biases.{name}"] = bias
        return out

    def flow_values(self) -> dict[str, Number | Timeline]:
        """Each flow's numbers by path (`flows.X.rate`), as given: what events set and scale."""
        return {flow.path(field): getattr(flow, field) for flow in self.flows for field in flow.numeric
                if getattr(flow, field) is not None}

    def timelines(self) -> dict[str, Timeline]:
        """The flow numbers that change over time, by path."""
        return {k: v for k, v in self.flow_values().items() if isinstance(v, Timeline)}

    def primitives(self) -> list[Primitive]:
        """What the flows compile to, in file order (a split's delay of -1 is still its source's)."""
        return [p for flow in self.flows for p in flow.compile()]

    def network(self) -> Network:
        prims = self.primitives()
        delays = {p.flow: p.delay for p in prims if isinstance(p, Source)}
        prims = [dataclasses.replace(p, delay=delays[p.of]) if isinstance(p, Split) and p.delay < 0
                 else p for p in prims]
        return Network.build(tuple(self.regions), prims)

    def overridden_by_events(self, path: str) -> str | None:
        """A note if dated events change `path` later, so a value given for it holds only until then."""
        dates = sorted(e.date.isoformat() for e in self.events if path in (e.set or {}) or path in (e.scale or {}))
        if not dates:
            return None
        return (f"{path} is also changed by events on {', '.join(dates)}; the value given applies "
                f"from the start until {dates[0]}")

    def inline_observations(self) -> list[Observation]:
        return self.observations if isinstance(self.observations, list) else []


def _rebuild() -> None:
    """Build the schema again, so that the `flows:` union has the kinds registered now."""
    Scenario.model_rebuild(force=True)


kinds.on_change(_rebuild)
_MODELS: tuple[type[BaseModel], ...] = (Scenario, Region, Shock, Event, Observation, Sweep)


def vocabulary() -> set[str]:
    """Every key a scenario may write somewhere (for "did you mean"), the registered flow kinds' included."""
    return {
        name
        for model in (*_MODELS, *kinds.FLOW_KINDS.values())
        for field, info in model.model_fields.items()
        for name in (field, info.alias or field)
    }


def load_scenario(path: Path, overrides: list[str] | None = None) -> tuple[Scenario, Located]:
    """Parse, override, validate: the only way a Scenario is made from a file."""
    located = _parse(path)
    for text in overrides or []:
        paths.apply_override(located, text)
    return validate(located), located


def scenario_errors(path: Path, overrides: list[str] | None = None) -> list[InputError]:
    """Every mistake of a scenario file with its `--set` overrides, in file order (empty if none).

    A file that cannot be read or parsed, or overrides that cannot be applied, give those
    errors alone. Otherwise, see `collect_errors`.
    """
    try:
        located = _parse(path)
    except InputError as exc:
        return [exc]
    broken = []
    for text in overrides or []:
        try:
            paths.apply_override(located, text)
        except InputError as exc:
            broken.append(exc)
    return broken or collect_errors(located)


def _parse(path: Path) -> Located:
    located = load_yaml(path)
    if located.data is None:
        raise problem(located, (), "scenario file is empty", show_value=False)
    if not isinstance(located.data, dict):
        raise problem(located, (), "a scenario must be a mapping of keys (name, start, ...)",
                      show_value=False)
    return located


def validate(located: Located) -> Scenario:
    """The scenario, or the first mistake raised: what `run` and every other command report."""
    try:
        scenario = _schema(located)
    except ValidationError as exc:
        raise first_error(exc, located, vocabulary()) from None
    check_references(scenario, located)
    return scenario


def collect_errors(located: Located) -> list[InputError]:
    """Every mistake of parsed scenario data, in file order (what `flowsim validate` lists).

    First the schema: types, ranges, required and unknown keys, all of them. The
    cross-field rules (names, references, dates within the run, diversion totals) need
    schema-valid data, so they run only once the schema passes: a file with schema
    errors shows those alone, and its cross-field mistakes show after they are fixed.
    """
    try:
        scenario = _schema(located)
    except ValidationError as exc:
        return all_errors(exc, located, vocabulary())
    return in_file_order(list(reference_problems(scenario, located)), located)


def _schema(located: Located) -> Scenario:
    # posterior files are read once each, relative to the scenario's folder
    context = {"posteriors": PosteriorFiles(Path(located.file).parent)}
    return Scenario.model_validate(located.data, context=context)


def check_references(s: Scenario, located: Located) -> None:
    """Raise the first broken cross-field rule (in the order `reference_problems` checks them)."""
    first = next(reference_problems(s, located), None)
    if first is not None:
        raise first


def reference_problems(s: Scenario, located: Located) -> Iterator[InputError]:
    """Cross-field rules that need the whole file (names, dates, diversion totals), each broken one.

    Lazily, in the order checked: the first is what `validate` raises. A rule whose
    inputs are already wrong is skipped rather than reported again as its consequence
    (dates within a run that ends before it starts; a diversion total once per source).
    """
    span_ok = True
    if s.end <= s.start:
        span_ok = False
        yield problem(located, ("end",), f"must be after start ({s.start.isoformat()})")
    if s.days > MAX_DAYS:
        yield problem(located, ("end",), f"the run may last at most {MAX_DAYS} days (100 years); it has {s.days}")
    names = [f.name for f in s.flows]
    sources = [f.name for f in s.flows if any(isinstance(p, Source) for p in f.compile())]
    for i, flow in enumerate(s.flows):
        if names.index(flow.name) != i:
            yield problem(located, ("flows", i, "name"), "flow names must be unique")
        for ref in flow.references():
            if ref.target == "region" and ref.name not in s.regions:
                yield problem(located, ("flows", i, ref.field),
                              f"unknown region; regions are {', '.join(s.regions)}")
            if ref.target == "source" and ref.name not in sources:
                yield problem(located, ("flows", i, ref.field),
                              f"must name a recruitment flow ({', '.join(sources) or 'none defined'})")
    yield from _loss_problems(s, located, sources)
    if span_ok:
        yield from _timeline_problems(s, located)
    params = s.parameters()
    yield from _event_problems(s, located, span_ok)
    for key in (s.sweep.parameters if s.sweep else {}):
        if not paths.resolve(params, key)[0]:
            yield problem(located, ("sweep", "parameters", key),
                          paths.unknown_path_rule(key, params), show_value=False)
    labels = set(names) | {lost_counter(f.name) for f in s.flows if _loses(f)}
    for i, ev in enumerate(s.events):
        if ev.shock:
            if ev.label() in labels:
                where = ("events", i, "name") if ev.name else ("events", i, "shock")
                yield problem(located, where, f"the label {ev.label()!r} of this shock is already a flow or "
                              "shock name; give the event a unique `name`", show_value=False)
            labels.add(ev.label())
    counted = observable_counters(s)
    for i, obs in enumerate(s.inline_observations()):
        if obs.flow is not None:
            if obs.flow not in counted:
                yield problem(located, ("observations", i, "flow"), unknown_counter_rule(obs.flow, counted))
            if span_ok and not obs.within(s.start, s.end):
                field, rule = period_outside(s, obs)
                yield problem(located, ("observations", i, field), rule)
            continue
        if obs.region not in s.regions:
            yield problem(located, ("observations", i, "region"),
                          f"unknown region; regions are {', '.join(s.regions)}")
        if span_ok and not obs.within(s.start, s.end):
            yield problem(located, ("observations", i, "date"), _outside(s))
    for i, field, text in observation_problems(s, s.inline_observations()):
        yield problem(located, ("observations", i, field), text)


LOSS_NEEDS_DELAY = "needs a delay: travellers are lost in transit only"


def _loses(flow: kinds.FlowBase) -> bool:
    """Whether the flow has a loss in transit (and so a row `NAME_lost`)."""
    return any(isinstance(p, (Split, Exit)) and p.loss is not None for p in flow.compile())


def _effective_delays(s: Scenario, sources: list[str]) -> dict[str, int]:
    """Each delayed flow's days in transit, a diversion's taken from its source if it has none."""
    delays = {p.flow: p.delay for f in s.flows for p in f.compile() if isinstance(p, Source)}
    out: dict[str, int] = {}
    for flow in s.flows:
        for p in flow.compile():
            if isinstance(p, Split):
                if p.of in sources:
                    out[p.flow] = delays[p.of] if p.delay < 0 else p.delay
            elif isinstance(p, Exit):
                out[p.flow] = p.delay if p.to is not None else 0
    return out


def _loss_problems(s: Scenario, located: Located, sources: list[str]) -> Iterator[InputError]:
    """A loss that could be > 0 on a flow with no days in transit; a loss row named like a flow."""
    delays = _effective_delays(s, sources)
    names = {f.name for f in s.flows}
    for i, flow in enumerate(s.flows):
        for p in flow.compile():
            if not isinstance(p, (Split, Exit)) or p.loss is None:
                continue
            field = p.loss.rpartition(".")[2]
            if span(getattr(flow, field))[1] > 0 and delays.get(p.flow, 1) == 0:
                yield problem(located, ("flows", i, field), LOSS_NEEDS_DELAY)
            if lost_counter(p.flow) in names:
                yield problem(located, ("flows", i, field), f"its losses are counted as {lost_counter(p.flow)!r}, "
                              "already a flow name; rename one of the flows", show_value=False)


def observation_rules(s: Scenario, observations: list[Observation]) -> tuple[int, str, str] | None:
    """The first broken cross-row rule of these observations: (row index, field, rule), or None.

    Shared by inline observations and observation files, which locate the row differently.
    """
    return next(observation_problems(s, observations), None)


def observation_problems(s: Scenario, observations: list[Observation]) -> Iterator[tuple[int, str, str]]:
    """Each broken cross-row rule of these observations, row by row: (row index, field, rule)."""
    subjects: dict[str, Observation] = {}
    for i, obs in enumerate(observations):
        if isinstance(obs.bias, str) and obs.bias not in s.biases:
            known = ", ".join(s.biases) or "none defined; add a top-level `biases:` section"
            yield i, "bias", f"unknown bias parameter; biases are {known}"
        if obs.group is not None:
            first = subjects.setdefault(obs.group, obs)
            if first.where != obs.where:
                what = "one region" if not (first.is_flow or obs.is_flow) else "one region or one flow"
                yield i, "group", (f"rows of group {obs.group!r} must name {what}; "
                                   f"an earlier row names {first.where}")


def observable_counters(s: Scenario) -> list[str]:
    """What a flow observation may name: the rows of flows.csv (flows, `NAME_lost` rows, shock labels).

    The same names and order as `engines.plan.counter_names`, without building the network
    (which needs the flows' references to be right first).
    """
    lost = [lost_counter(f.name) for f in s.flows if _loses(f)]
    return [*(f.name for f in s.flows), *lost, *(e.label() for e in s.events if e.shock)]


def unknown_counter_rule(name: str, counted: list[str]) -> str:
    """`unknown flow`, with a did-you-mean and the names a flow observation may use."""
    import difflib

    close = difflib.get_close_matches(name, counted, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown flow{hint} (flows.csv rows are {', '.join(counted) or 'none: the scenario has no flows'})"


def period_outside(s: Scenario, obs: Observation) -> tuple[str, str]:
    """(field, rule) for a flow observation whose period is not within the run."""
    assert obs.from_ is not None
    if obs.from_ < s.start or obs.from_ >= s.end:
        return "from", f"must be within the run, {s.start.isoformat()} to {(s.end - dt.timedelta(days=1)).isoformat()}"
    return "to", (f"must be before the end of the run ({s.end.isoformat()}): the period counts whole days, "
                  "up to the midnight after `to`")


def _outside(s: Scenario) -> str:
    return f"must be within the run, {s.start.isoformat()} to {s.end.isoformat()}"


def _timeline_problems(s: Scenario, located: Located) -> Iterator[InputError]:
    """Every date of a value that changes over time lies within the run."""
    for i, flow in enumerate(s.flows):
        for field in flow.numeric:
            value = getattr(flow, field)
            if not isinstance(value, Timeline):
                continue
            written = _written(flow, field)
            for date, _ in value.knots:
                if s.start <= date <= s.end:
                    continue
                if value.shape == "table":
                    yield problem(located, ("flows", i, written, "table"),
                                  f"its row dated {date.isoformat()} is outside the run, "
                                  f"{s.start.isoformat()} to {s.end.isoformat()}")
                else:
                    yield problem(located, ("flows", i, written, value.shape, _raw_key(located, i, written,
                                                                                        value.shape, date)),
                                  _outside(s), show_value=False)


def _written(flow: kinds.FlowBase, field: str) -> str:
    info = type(flow).model_fields[field]
    return info.alias or field


def _raw_key(located: Located, i: int, field: str, shape: str, date: dt.date) -> Any:
    """The key a date is written as in the file (a date keeps its own position for the message)."""
    try:
        knots = located.data["flows"][i][field][shape]
        return next(k for k in knots if str(k).strip() == date.isoformat())
    except (KeyError, IndexError, TypeError, StopIteration):
        return date.isoformat()


def _event_problems(s: Scenario, located: Located, span_ok: bool) -> Iterator[InputError]:
    """Event dates in the run, paths that exist, and fractions that stay within 1 over time.

    A change found wrong is left out of the values later events build on.
    """
    params = s.flow_values()  # events change a flow's number as a whole, a timeline's too
    highs = {k: span(v)[1] for k, v in params.items()}
    sources = [f.name for f in s.flows if any(isinstance(p, Source) for p in f.compile())]
    no_delay = {name: delay == 0 for name, delay in _effective_delays(s, sources).items()}
    reported: set[str] = set()
    yield from _diversion_problems(s, located, highs, ("flows",), reported)
    order = sorted(range(len(s.events)), key=lambda i: s.events[i].date)
    for i in order:
        ev = s.events[i]
        if span_ok and not s.start <= ev.date <= s.end:
            yield problem(located, ("events", i, "date"), _outside(s))
        if ev.shock and ev.shock.region not in s.regions:
            yield problem(located, ("events", i, "shock", "region"),
                          f"unknown region; regions are {', '.join(s.regions)}")
        changes = ev.set if ev.set is not None else (ev.scale or {})
        action = "set" if ev.set is not None else "scale"
        for key, value in changes.items():
            where = ("events", i, action, key)
            if key not in params:
                yield problem(located, where, paths.unknown_path_rule(key, params, flows_only=True),
                              show_value=False)
                continue
            lo, hi = bounds(value)
            new = hi if action == "set" else highs[key] * hi
            if lo < 0:
                yield problem(located, where, "must be >= 0")
                continue
            if key.endswith((".fraction", ".loss")) and new > 1:
                yield problem(located, where, f"would make {key} exceed 1 (fractions are shares)")
                continue
            if key.endswith(".loss") and new > 0 and no_delay.get(key.split(".")[1], False):
                yield problem(located, where, f"{key} {LOSS_NEEDS_DELAY}")
                continue
            if new > MAX_VALUE:  # scales multiply: 1e9 then 1e9 would overflow the samplers
                yield problem(located, where, f"would make {key} reach {new:.3g} after the events before it; "
                              f"numbers are at most {MAX_VALUE:.0e}")
                continue
            highs[key] = new
        yield from _diversion_problems(s, located, highs, ("events", i), reported)


def _diversion_problems(s: Scenario, located: Located, highs: dict[str, float],
                        where: tuple[str | int, ...], reported: set[str]) -> Iterator[InputError]:
    """Sources whose diversions (splits) could take more than all of them; each source reported once."""
    totals: dict[str, float] = {}
    last: dict[str, tuple[str | int, ...]] = {}  # where the last split of each source takes its share
    for i, flow in enumerate(s.flows):
        for p in flow.compile():
            if isinstance(p, Split):
                totals[p.of] = totals.get(p.of, 0.0) + highs[p.fraction]
                last[p.of] = ("flows", i, p.fraction.rpartition(".")[2])
    for source, total in totals.items():
        if total > 1 + 1e-12 and source not in reported:
            reported.add(source)
            at = last[source] if where == ("flows",) else where
            yield problem(located, at,
                          f"diversions of {source} could sum to {total:g}; they must sum to at most 1",
                          show_value=False)
