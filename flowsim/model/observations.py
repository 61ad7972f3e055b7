"""Reported figures from a CSV file (`date, region, low, high, value, source`).

`low` or `high` may be empty for one-sided reports ("fewer than 3,000").
Optional columns `sigma`, `group` and `bias` feed the observation model
(`model/obsmodel.py`); `note` is for people. Optional columns `flow, from, to`
hold flow figures (persons moved by a flow over the whole days `from` to `to`):
such a row leaves `date` and `region` empty. Malformed rows are InputErrors
pointing at line and column, like scenario errors.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.problems import problem
from flowsim.model.scenario import Observation, Scenario, observable_counters, observation_rules
from flowsim.model.yamlsource import Located, csv_columns, csv_line, read_text

COLUMNS = ("date", "region", "low", "high", "value", "source")
OPTIONAL = ("sigma", "group", "bias", "note", "flow", "from", "to")
DATES = ("date", "from", "to")
FIELDS = {"from": "from_"}  # a column whose Observation attribute is spelled otherwise


@dataclass(frozen=True)
class Sourced:
    """An observation with the line it came from and where each column starts on it."""

    obs: Observation
    row: Origin
    columns: dict[str, int]

    def at(self, column: str) -> Origin:
        return Origin(self.row.file, self.row.line, self.columns.get(column, 1))


def read_rows(path: Path) -> list[Sourced]:
    """Every row of an observation file, with where it stands in the file."""
    text = read_text(path, "observation file")
    name = str(path)
    lines = text.splitlines()
    rows = [csv_line(line, name, n) for n, line in enumerate(lines, start=1)]
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise InputError(Origin(name, 1, 1), "", NO_VALUE, "observation file is empty; expected a header "
                         + ",".join(COLUMNS))
    header = [h.strip() for h in rows[0]]
    for i, col in enumerate(header):
        if col in header[:i]:
            raise InputError(Origin(name, 1, csv_columns(lines[0])[i]), "header", col, "column appears twice")
        if col not in COLUMNS + OPTIONAL:
            close = difflib.get_close_matches(col, COLUMNS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; columns are {', '.join(COLUMNS)}"
            raise InputError(Origin(name, 1, csv_columns(lines[0])[i]), "header", col, f"unknown column{hint}")
    for need in ("from", "to") if "flow" in header else ("date", "region"):
        if need not in header:
            raise InputError(Origin(name, 1, 1), "header", NO_VALUE, f"missing column {need!r}")
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        starts = csv_columns(lines[lineno - 1])
        if len(row) != len(header):
            raise InputError(Origin(name, lineno, 1), "", NO_VALUE,
                             f"has {len(row)} fields; the header has {len(header)}")
        record = dict(zip(header, (c.strip() for c in row), strict=True))
        obs = _observation(record, header, starts, Origin(name, lineno, 1))
        out.append(Sourced(obs, Origin(name, lineno, 1), {c: starts[i] for i, c in enumerate(header)}))
    return out


def load_observations(path: Path) -> list[Observation]:
    return [x.obs for x in read_rows(path)]


def _observation(record: dict[str, str], header: list[str], starts: list[int], row: Origin) -> Observation:
    def where(col: str) -> Origin:
        return Origin(row.file, row.line, starts[header.index(col)] if col in header else 1)

    data: dict[str, object] = {"source": record.get("source", "")}
    for col in ("region", "flow", "group"):
        if record.get(col):
            data[col] = record[col]
    for col in DATES:
        if not record.get(col):
            continue
        try:
            data[col] = dt.date.fromisoformat(record[col])
        except ValueError:
            raise InputError(where(col), col, record[col], "must be a date like 2016-02-04") from None
    for col in ("low", "high", "value", "sigma", "bias"):
        cell = record.get(col, "")
        if cell == "":
            continue
        try:
            number = float(cell.replace(",", "").replace("_", ""))
        except ValueError:
            if col == "bias":  # a bias may name a parameter of the scenario's `biases:` section
                data[col] = cell
                continue
            raise InputError(where(col), col, cell, "must be a number or empty") from None
        data[col] = number
    try:
        return Observation.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        inner = getattr((err.get("ctx") or {}).get("error"), "subpath", ())  # a rule of the row, at a field
        col = str(err["loc"][0]) if err["loc"] else str(inner[0]) if inner else "value"
        msg = err["msg"].removeprefix("Value error, ")
        named = bool(err["loc"] or inner)
        value = record.get(col, NO_VALUE) if err["loc"] else (record.get(col) or NO_VALUE) if inner else NO_VALUE
        return_col = col if col in header else "date"
        raise InputError(where(return_col), col if named else "", value, msg[:1].lower() + msg[1:]) from None


def scenario_observations(
    s: Scenario, located: Located, base: Path, file: Path | None = None
) -> tuple[list[Observation], list[str]]:
    """The observations a scenario is compared with, and notes on rows left out.

    Rows of a shared file for other regions or outside the run are skipped (with a
    note), since one reported-figures file serves many scenarios.
    """
    if file is None and isinstance(s.observations, list):
        return s.observations, duplicate_notes(s.observations, "observations")
    path = file if file is not None else (base / str(s.observations))
    if file is None and not path.is_file():
        what = "is a folder" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
        raise problem(located, ("observations",), f"observation file {what} ({path.absolute()}: a path is read "
                      "from the scenario file's folder)")
    sourced = read_rows(path)
    rows = [x.obs for x in sourced]
    counted = observable_counters(s)
    known = [o.flow in counted if o.is_flow else o.region in s.regions for o in rows]
    kept = [x for x, ok in zip(sourced, known, strict=True) if ok and x.obs.within(s.start, s.end)]
    keep = [x.obs for x in kept]
    broken = observation_rules(s, keep)
    if broken is not None:
        i, field, rule = broken
        raise InputError(kept[i].at(field), field, getattr(keep[i], FIELDS.get(field, field)), rule)
    notes = duplicate_notes(keep, str(path))
    if len(keep) < len(rows):
        regions = sorted({str(o.region) for o, ok in zip(rows, known, strict=True) if not ok and not o.is_flow})
        flows = sorted({str(o.flow) for o, ok in zip(rows, known, strict=True) if not ok and o.is_flow})
        outside = sum(ok and not o.within(s.start, s.end) for o, ok in zip(rows, known, strict=True))
        parts = [f"{outside} dated outside the run"] if outside else []
        if regions:
            parts.append(f"{sum(not ok and not o.is_flow for o, ok in zip(rows, known, strict=True))} for regions "
                         f"not in this scenario ({', '.join(regions)})")
        if flows:
            parts.append(f"{sum(not ok and o.is_flow for o, ok in zip(rows, known, strict=True))} for flows "
                         f"not in this scenario ({', '.join(_maybe(f, counted) for f in flows)})")
        notes.append(f"{len(rows) - len(keep)} of {len(rows)} rows of {path} were skipped: {'; '.join(parts)}")
    return keep, notes


def _maybe(name: str, counted: list[str]) -> str:
    """A skipped flow name, with the scenario's flow it may be a misspelling of."""
    close = difflib.get_close_matches(name, counted, n=1)
    return f"{name}: did you mean {close[0]!r}?" if close else name


def duplicate_notes(observations: list[Observation], where: str) -> list[str]:
    """A note for reports of one region on one date (or one flow and period) that are not grouped: each
    counts as its own measurement."""
    seen: dict[tuple[str, str], int] = {}
    for o in observations:
        if o.group is None:
            key = (o.when, o.where)
            seen[key] = seen.get(key, 0) + 1
    twice = [f"{region} on {date} ({n} rows)" for (date, region), n in sorted(seen.items()) if n > 1]
    if not twice:
        return []
    return [f"{where}: several ungrouped reports of {'; '.join(twice)} count as separate measurements; "
            "give rows that repeat one estimate the same `group`"]
