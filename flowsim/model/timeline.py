"""Numbers that change over time: a flow's rate or fraction written as a schedule, a line or a table.

    rate: {schedule: {2015-01-01: 1500, 2016-01-01: 200}}   # each value from its date to the next
    rate: {linear: {2015-01-01: 1500, 2016-07-01: 200}}     # straight line between the dates
    rate: {table: foreign.csv}                               # a schedule read from `date,value` rows

Before the first date a timeline holds its first value; after the last, its last.
Each value (a knot) is a number or a distribution and a parameter of its own,
`flows.NAME.FIELD.SHAPE.DATE` (`flows.foreign_is.rate.schedule.2016-01-01`), so
`--set`, sweeps and calibration reach every knot. A table's knots are parameters for
sweeps and calibration; `--set` reaches them through `{table: F, set: {DATE: v}}`,
which is what `--set` writes.

What the engines see (`changes`): one value per day, constant through the day. A
schedule changes at its dates (midnights), so it is exact. A line gives each day
its mean over that day (the line's value at noon): the expected number of arrivals,
or the integrated hazard, of every day is exactly that of the line, and both engines
simulate that per-day rate exactly. Within a day the line's slope is not followed;
for the record's rates (a change of at most a few per cent a day) that moves no
figure by more than the Monte Carlo noise.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from flowsim.model.distributions import (
    NUMBER_SCHEMA,
    Distribution,
    Number,
    PosteriorFiles,
    bounds,
    fraction,
    non_negative,
    parse_number,
)
from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.yamlsource import csv_rows, read_text

SHAPES = ("schedule", "linear", "table")


@dataclass(frozen=True)
class Timeline:
    """A value over time as written: `shape`, and its knots (date, number) sorted by date."""

    shape: str
    knots: tuple[tuple[dt.date, Number], ...]
    file: str = ""
    """A table's file as written (relative to the scenario's folder)."""
    replaced: tuple[tuple[str, Number], ...] = ()
    """A table's knots replaced by `set:` (what `--set` on a table's knot writes)."""

    @property
    def linear(self) -> bool:
        return self.shape == "linear"

    def paths(self, base: str) -> list[str]:
        """The parameter path of each knot, in date order."""
        return [knot_path(base, self.shape, date) for date, _ in self.knots]

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the timeline can take at any time."""
        ranges = [bounds(v) for _, v in self.knots]
        return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)

    def to_yaml(self) -> dict[str, Any]:
        if self.shape == "table":
            out: dict[str, Any] = {"table": self.file}
            if self.replaced:
                out["set"] = {d: _dump(v) for d, v in self.replaced}
            return out
        return {self.shape: {d.isoformat(): _dump(v) for d, v in self.knots}}

    def dump(self) -> dict[str, Any]:
        """`to_yaml`, and a table's numbers too (so fingerprints see a changed file)."""
        out = self.to_yaml()
        if self.shape == "table":
            out["values"] = {d.isoformat(): _dump(v) for d, v in self.knots}
        return out


def knot_path(base: str, shape: str, date: dt.date) -> str:
    return f"{base}.{shape}.{date.isoformat()}"


def _dump(value: Number) -> Any:
    return value.dump() if isinstance(value, Distribution) else value


Point = tuple[int, int, float]
"""(day, k, w): from that day on the value is knot k + w x (knot k+1 - knot k)."""


def changes(knot_days: Sequence[int], linear: bool, days: int) -> list[Point]:
    """The days a timeline with knots on `knot_days` (sorted) changes value in a run of `days`
    days, day 0 first: a schedule on its knot days; a line every day from its first knot to
    its last, each day taking the line's mean over the day (its value at the day's noon).
    """
    def at(t: float) -> tuple[int, float]:
        if t <= knot_days[0]:
            return 0, 0.0
        if t >= knot_days[-1]:
            return len(knot_days) - 1, 0.0
        k = int(np.searchsorted(knot_days, t, side="right")) - 1
        return k, (t - knot_days[k]) / (knot_days[k + 1] - knot_days[k]) if linear else 0.0

    if not linear:
        return [(0, *at(0)), *[(d, k, 0.0) for k, d in enumerate(knot_days) if 0 < d < days]]
    inside = range(max(1, knot_days[0]), min(days, knot_days[-1] + 1))
    return [(0, *at(0.5)), *[(d, *at(d + 0.5)) for d in inside]]


# ---- reading what a scenario writes

class KnotError(ValueError):
    """A fault inside a timeline; `subpath` says where in `{shape: {...}}` it lies (for the located message)."""

    def __init__(self, subpath: tuple[str, ...], rule: str) -> None:
        super().__init__(rule)
        self.subpath = subpath


Check = Callable[[Number], Number]


def parse_varying(value: Any, check: Check, posteriors: PosteriorFiles | None = None) -> Number | Timeline:
    """A number or distribution (checked by `check`), or a timeline whose every knot passes `check`."""
    if isinstance(value, Timeline):
        return value
    if not (isinstance(value, dict) and len(value) in (1, 2) and next(iter(value)) in SHAPES):
        return check(parse_number(value, posteriors))
    shape = next(iter(value))
    extra = [k for k in value if k != shape and not (shape == "table" and k == "set")]
    if extra:
        raise KnotError((str(extra[0]),), f"unknown key {extra[0]!r} beside {shape!r}")
    if shape == "table":
        return _table(value, check, posteriors or PosteriorFiles(Path(".")))
    spec = value[shape]
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"{shape} needs a mapping of dates to values, e.g. {{{shape}: {{2015-01-01: 1500, "
                         "2016-01-01: 200}}")
    knots = _knots(shape, spec, check, posteriors)
    if shape == "linear" and len(knots) < 2:
        raise KnotError((shape,), "linear needs at least two dates (one date is a constant: write the number)")
    return Timeline(shape, knots)


def _knots(shape: str, spec: dict[Any, Any], check: Check,
           posteriors: PosteriorFiles | None) -> tuple[tuple[dt.date, Number], ...]:
    knots: list[tuple[dt.date, Number]] = []
    for key, raw in spec.items():
        where = (shape, key)
        date = _date(key, where)
        if knots and date <= knots[-1][0]:
            rule = ("the same date twice" if date == knots[-1][0]
                    else f"dates must be in order: {date.isoformat()} comes after {knots[-1][0].isoformat()}")
            raise KnotError(where, rule)
        try:
            knots.append((date, check(parse_number(raw, posteriors))))
        except KnotError:
            raise
        except ValueError as exc:
            raise KnotError(where, f"at {date.isoformat()}: {exc}") from None
    return tuple(knots)


def _date(key: Any, where: tuple[str, ...]) -> dt.date:
    if isinstance(key, dt.date):
        return key
    try:
        return dt.date.fromisoformat(str(key).strip())
    except ValueError:
        raise KnotError(where, "each key must be a date like 2016-02-04") from None


def _table(value: dict[str, Any], check: Check, posteriors: PosteriorFiles) -> Timeline:
    file = value["table"]
    if not isinstance(file, str) or not file.strip():
        raise ValueError("table needs a file name: {table: rates.csv} with columns date,value")
    path = (posteriors.base / file.strip()).resolve()
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a regular file"
        raise KnotError(("table",), f"table file {what} ({path})")
    knots = _read_table(path, check)
    replaced: tuple[tuple[str, Number], ...] = ()
    if "set" in value:
        if not isinstance(value["set"], dict) or not value["set"]:
            raise KnotError(("set",), "must map dates of the table to new values")
        new = dict(knots)
        for key, (date, number) in zip(value["set"], _knots("set", value["set"], check, posteriors), strict=True):
            if date not in new:
                raise KnotError(("set", key), f"{date.isoformat()} is not a date of {file.strip()}")
            new[date] = number
        knots = tuple(sorted(new.items()))
        replaced = tuple((d.isoformat(), v) for d, v in _knots("set", value["set"], check, posteriors))
    return Timeline("table", knots, file.strip(), replaced)


def _read_table(path: Path, check: Check) -> tuple[tuple[dt.date, Number], ...]:
    """`date,value` rows, in date order, each value passing `check`; faults located in the file."""
    text = read_text(path, "table file")
    header: list[str] | None = None
    knots: list[tuple[dt.date, Number]] = []
    for lineno, cells, starts in csv_rows(text, str(path)):
        if header is None:
            if cells != ["date", "value"]:
                raise InputError(Origin(str(path), lineno, 1), "header", ",".join(cells),
                                 "a table's header must be exactly date,value")
            header = cells
            continue
        if len(cells) != 2:
            raise InputError(Origin(str(path), lineno, 1), "", NO_VALUE,
                             f"has {len(cells)} fields; the header has 2 (date,value)")
        where_date, where_value = Origin(str(path), lineno, starts[0]), Origin(str(path), lineno, starts[1])
        try:
            date = dt.date.fromisoformat(cells[0])
        except ValueError:
            raise InputError(where_date, "date", cells[0], "must be a date like 2016-02-04") from None
        if knots and date <= knots[-1][0]:
            rule = ("the same date twice" if date == knots[-1][0]
                    else f"dates must be in order: {date.isoformat()} comes after {knots[-1][0].isoformat()}")
            raise InputError(where_date, "date", cells[0], rule)
        try:
            number = float(cells[1])
            if not math.isfinite(number):
                raise ValueError("must be a finite number (not NaN or infinity)")
            knots.append((date, check(parse_number(number))))
        except ValueError as exc:
            rule = "must be a number" if "could not convert" in str(exc) else str(exc)
            raise InputError(where_value, "value", cells[1], rule) from None
    if not knots:
        raise KnotError(("table",), f"the table file has no rows ({path}): it needs a header date,value "
                        "and one row per date")
    return tuple(knots)


# ---- the field types flows use

def varying(check: Check) -> Any:
    """A pydantic validator reading a number or a timeline whose knots pass `check`."""
    def validate(value: Any, info: ValidationInfo) -> Number | Timeline:
        context = info.context if isinstance(info.context, dict) else {}
        return parse_varying(value, check, context.get("posteriors"))

    return PlainValidator(validate)


_NUMBER: dict[str, Any] = NUMBER_SCHEMA.json_schema or {}
_KNOTS = {"type": "object", "additionalProperties": _NUMBER, "propertyNames": {"format": "date"}, "minProperties": 1}
SCHEMA = WithJsonSchema({"anyOf": [
    *_NUMBER["anyOf"],
    {"type": "object", "properties": {"schedule": _KNOTS}, "required": ["schedule"], "additionalProperties": False,
     "description": "piecewise constant: each value from its date to the next"},
    {"type": "object", "properties": {"linear": _KNOTS}, "required": ["linear"], "additionalProperties": False,
     "description": "linear between the dates, constant outside"},
    {"type": "object", "properties": {"table": {"type": "string"}, "set": _KNOTS}, "required": ["table"],
     "additionalProperties": False, "description": "a schedule read from a CSV file with columns date,value"},
]})
SERIAL = PlainSerializer(lambda v: v.dump() if isinstance(v, Distribution | Timeline) else v, return_type=Any)


Varying = Number | Timeline
Rate = Annotated[Varying, varying(non_negative), SCHEMA, SERIAL]
"""A rate (>= 0) that may change over time."""
Share = Annotated[Varying, varying(fraction), SCHEMA, SERIAL]
"""A fraction (0 to 1) that may change over time."""


def span(value: Number | Timeline) -> tuple[float, float]:
    """Smallest and largest value a number, distribution or timeline can take."""
    return value.bounds() if isinstance(value, Timeline) else bounds(value)
