"""Uncertain numbers: a scenario value may be a distribution drawn once per replicate."""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.yamlsource import csv_rows, read_text

MAX_VALUE = 1e9
"""Largest magnitude accepted anywhere; larger numbers are almost surely typos."""


@dataclass(frozen=True)
class Distribution:
    """`{kind: [args]}` as written in the scenario, e.g. `{uniform: [2000, 3000]}`.

    `{posterior: {file: F, column: C}}` has no args: it is column C of the posterior
    CSV file F (as written, relative to the scenario's folder), read when the scenario
    is validated. `resolved` is F's absolute path: every posterior of one file shares
    one drawn row per replicate. `values` is the column, `weights` the row weights
    (summing to 1).
    """

    kind: str
    args: tuple[float, ...]
    file: str = ""
    column: str = ""
    resolved: str = ""
    values: tuple[float, ...] = field(default=(), repr=False)
    weights: tuple[float, ...] = field(default=(), repr=False)

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (used for range rules)."""
        a = self.args
        if self.kind == "posterior":
            return min(self.values), max(self.values)
        if self.kind in ("uniform", "triangular", "choice"):
            return min(a), max(a)
        if self.kind == "normal":
            return 0.0, math.inf
        return 0.0, math.inf  # lognormal

    def mean(self) -> float:
        a = self.args
        if self.kind == "posterior":
            return math.fsum(v * w for v, w in zip(self.values, self.weights, strict=True))
        if self.kind == "uniform":
            return (a[0] + a[1]) / 2
        if self.kind == "triangular":
            return sum(a) / 3
        if self.kind == "choice":
            return sum(a) / len(a)
        if self.kind == "lognormal":
            return math.exp(a[0] + a[1] ** 2 / 2)
        mu, sd = a  # normal truncated at 0
        if sd == 0:
            return max(mu, 0.0)
        z = mu / sd
        phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        big_phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        return mu + sd * phi / big_phi if big_phi > 0 else 0.0

    def sample(self, rng: np.random.Generator, n: int, args: list[np.ndarray] | None = None,
               rows: np.ndarray | None = None) -> np.ndarray:
        """n draws; `args` gives per-draw arguments (a sweep over this distribution's arguments).

        A posterior takes the rows `rows` (see `draw_rows`), or draws its own.
        """
        if self.kind == "posterior":
            return np.asarray(self.values)[self.draw_rows(rng, n) if rows is None else rows]
        if self.kind == "choice":
            return np.asarray(self.args)[rng.integers(0, len(self.args), n)]
        a = args if args is not None else [np.full(n, x) for x in self.args]
        if self.kind == "uniform":
            return rng.uniform(a[0], a[1], n)
        if self.kind == "triangular":
            flat = a[0] == a[2]
            return np.where(flat, a[0], rng.triangular(a[0], a[1], np.where(flat, a[0] + 1.0, a[2]), n))
        if self.kind == "lognormal":
            return rng.lognormal(a[0], a[1], n)
        return _truncated_normal(rng, a[0], a[1], n)

    def draw_rows(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n row indices of a posterior file, drawn by weight (one uniform number each)."""
        cdf = np.cumsum(self.weights)
        last = int(np.flatnonzero(np.asarray(self.weights) > 0)[-1])
        return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), last)

    def to_yaml(self) -> dict[str, Any]:
        """The form written in a scenario file."""
        if self.kind == "posterior":
            return {"posterior": {"file": self.file, "column": self.column}}
        return {self.kind: list(self.args)}

    def dump(self) -> dict[str, Any]:
        """`to_yaml`, and for a posterior a digest of the numbers read (so fingerprints see a changed file)."""
        out = self.to_yaml()
        if self.kind == "posterior":
            digest = hashlib.sha256(np.asarray([self.values, self.weights], dtype=float).tobytes())
            out["posterior"]["sha256"] = digest.hexdigest()[:16]
        return out


def _truncated_normal(rng: np.random.Generator, mu: np.ndarray, sd: np.ndarray, n: int) -> np.ndarray:
    """Normal truncated at 0 by inverse-CDF sampling, so one call draws exactly n values."""
    from scipy.special import ndtr, ndtri

    safe = np.where(sd > 0, sd, 1.0)
    lo = ndtr(-mu / safe)
    u = rng.uniform(lo, 1.0, n)
    x = np.maximum(mu + safe * ndtri(np.minimum(u, 1 - 1e-16)), 0.0)
    return np.where(sd > 0, x, np.maximum(mu, 0.0))


def check_args(kind: str, args: list[float]) -> str | None:
    """Return the broken rule for these distribution arguments, if any."""
    n = len(args)
    if kind == "uniform":
        if n != 2 or args[0] > args[1]:
            return "uniform needs [low, high] with low <= high"
    elif kind == "triangular":
        if n != 3 or not args[0] <= args[1] <= args[2]:
            return "triangular needs [low, mode, high] with low <= mode <= high"
    elif kind in ("normal", "lognormal"):
        if n != 2 or args[1] < 0:
            return f"{kind} needs [mean, sd] with sd >= 0"
        if kind == "lognormal" and args[0] + 10 * args[1] > math.log(MAX_VALUE):
            return f"lognormal mean + 10 sd of the log must be <= {math.log(MAX_VALUE):.1f}"
    elif kind == "choice" and n == 0:
        return "choice needs a non-empty list of values"
    return None


ARRAY_KINDS = ("uniform", "triangular", "normal", "lognormal", "choice")
KINDS = (*ARRAY_KINDS, "posterior")

Number = float | Distribution


def parse_number(value: Any, posteriors: PosteriorFiles | None = None) -> Number:
    """Accept a plain number or a one-key distribution mapping; reject everything else.

    `posteriors` reads posterior files (relative to the scenario's folder); without it,
    they are read relative to the current folder.
    """
    if isinstance(value, Distribution):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, int | float):
        return _finite(float(value))
    if isinstance(value, str):
        try:
            float(value.replace(",", ""))
        except ValueError:
            raise ValueError("must be a number, not text (units and words do not belong here)") from None
        raise ValueError("must be a number: write it without quotes or thousands separators")
    if isinstance(value, dict) and len(value) == 1:
        (kind, args), = value.items()
        if kind not in KINDS:
            raise ValueError(f"unknown distribution {kind!r}; use one of {', '.join(KINDS)}")
        if kind == "posterior":
            return _posterior(args, posteriors or PosteriorFiles(Path(".")))
        if not isinstance(args, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in args
        ):
            raise ValueError(f"{kind} needs a list of numbers, e.g. {{{kind}: [1, 2]}}")
        numbers = [_finite(float(x)) for x in args]
        rule = check_args(kind, numbers)
        if rule:
            raise ValueError(rule)
        return Distribution(kind, tuple(numbers))
    raise ValueError(
        "must be a number or a distribution such as {uniform: [low, high]}"
    )


def _validate_number(value: Any, info: ValidationInfo) -> Number:
    context = info.context if isinstance(info.context, dict) else {}
    return parse_number(value, context.get("posteriors"))


class PosteriorError(ValueError):
    """A posterior that cannot be read; `subpath` is where in `{posterior: ...}` the fault lies."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(rule)
        self.subpath = ("posterior", key)


_POSTERIOR_FORM = "posterior needs {file: FILE.csv, column: NAME}"


def _posterior(spec: Any, posteriors: PosteriorFiles) -> Distribution:
    if not isinstance(spec, dict):
        raise ValueError(_POSTERIOR_FORM)
    for key in spec:
        if key not in ("file", "column"):
            raise PosteriorError(key, f"unknown key {key!r}; {_POSTERIOR_FORM}")
    for key in ("file", "column"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise ValueError(_POSTERIOR_FORM)
    return posteriors.distribution(spec["file"].strip(), spec["column"].strip())


@dataclass
class _Table:
    """A posterior CSV file: its header and rows, read once; columns parsed when named."""

    path: Path
    header: list[str]
    header_starts: list[int]  # 1-based column of each header cell
    rows: list[tuple[int, list[str], list[int]]]  # (line, cells, 1-based column of each cell)
    parsed: dict[str, tuple[float, ...]] = field(default_factory=dict)
    weights: tuple[float, ...] | None = None

    def where(self, line: int, starts: list[int], i: int) -> Origin:
        return Origin(str(self.path), line, starts[i] if i < len(starts) else 1)

    def column(self, name: str) -> tuple[float, ...]:
        if name not in self.parsed:
            i = self.header.index(name)
            out = []
            for line, cells, starts in self.rows:
                cell = cells[i]
                try:
                    out.append(_finite(float(cell)))
                except ValueError as exc:
                    rule = "must be a number" if "could not convert" in str(exc) else str(exc)
                    raise InputError(self.where(line, starts, i), name, cell, rule) from None
            self.parsed[name] = tuple(out)
        return self.parsed[name]

    def row_weights(self) -> tuple[float, ...]:
        """The `weight` column normalised to sum 1; equal weights without one."""
        if self.weights is None:
            if "weight" not in self.header:
                self.weights = tuple([1 / len(self.rows)] * len(self.rows))
            else:
                raw = self.column("weight")
                i = self.header.index("weight")
                for (line, cells, starts), w in zip(self.rows, raw, strict=True):
                    if w < 0:
                        raise InputError(self.where(line, starts, i), "weight", cells[i], "must be >= 0")
                total = math.fsum(raw)
                if total <= 0:
                    raise InputError(Origin(str(self.path), 1, self.header_starts[i]), "weight", NO_VALUE,
                                     "weights are all zero; at least one row needs a positive weight")
                self.weights = tuple(w / total for w in raw)
        return self.weights


@dataclass
class PosteriorFiles:
    """The posterior files one scenario names, each read once; `base` is the scenario's folder."""

    base: Path
    tables: dict[Path, _Table] = field(default_factory=dict)

    def distribution(self, file: str, column: str) -> Distribution:
        path = (self.base / file).resolve()
        table = self.tables.get(path)
        if table is None:
            table = self.tables[path] = _read_posterior(path)
        if column not in table.header:
            close = difflib.get_close_matches(column, table.header, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PosteriorError("column", f"not a column of {file}; its columns are "
                                 f"{', '.join(table.header)}{hint}")
        if table.header.count(column) > 1:
            i = [j for j, h in enumerate(table.header) if h == column][1]
            raise InputError(Origin(str(path), 1, table.header_starts[i]), "header", column, "column appears twice")
        weights = table.row_weights()
        return Distribution("posterior", (), file, column, str(path), table.column(column), weights)


def _read_posterior(path: Path) -> _Table:
    if not path.exists():
        raise PosteriorError("file", f"posterior file does not exist ({path})")
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise PosteriorError("file", f"posterior file is {what} ({path})")
    text = read_text(path, "posterior file")
    table: _Table | None = None
    for lineno, cells, starts in csv_rows(text, str(path)):
        if table is None:
            table = _Table(path, cells, starts, [])
        elif len(cells) != len(table.header):
            raise InputError(Origin(str(path), lineno, 1), "", NO_VALUE,
                             f"has {len(cells)} fields; the header has {len(table.header)}")
        else:
            table.rows.append((lineno, cells, starts))
    if table is None or not table.rows:
        raise PosteriorError("file", f"an empty posterior file ({path}): it needs a header row of "
                             "columns and one row per posterior sample")
    return table


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("must be a finite number (not NaN or infinity)")
    if abs(x) > MAX_VALUE:
        raise ValueError(f"must be at most {MAX_VALUE:.0e} in magnitude")
    return x


def bounds(value: Number) -> tuple[float, float]:
    return value.support() if isinstance(value, Distribution) else (value, value)


def _ranged(low: float, high: float, what: str) -> Callable[[Number], Number]:
    def check(value: Number) -> Number:
        lo, hi = bounds(value)
        if lo < low or hi > high:
            if isinstance(value, Distribution):
                raise ValueError(f"{what}: every draw of this distribution must be in range")
            raise ValueError(what)
        return value

    return check


non_negative = _ranged(0.0, math.inf, "must be >= 0")
fraction = _ranged(0.0, 1.0, "must be between 0 and 1")

NUMBER_SCHEMA = _SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "number"},
            *[
                {
                    "type": "object",
                    "properties": {k: {"type": "array", "items": {"type": "number"}}},
                    "required": [k],
                    "additionalProperties": False,
                }
                for k in ARRAY_KINDS
            ],
            {
                "type": "object",
                "properties": {
                    "posterior": {
                        "type": "object",
                        "description": "one column of a posterior CSV file (relative to the scenario's "
                                       "folder); one row per replicate, shared by every column of that file",
                        "properties": {"file": {"type": "string"}, "column": {"type": "string"}},
                        "required": ["file", "column"],
                        "additionalProperties": False,
                    }
                },
                "required": ["posterior"],
                "additionalProperties": False,
            },
        ]
    }
)
_SERIAL = PlainSerializer(
    lambda v: v.dump() if isinstance(v, Distribution) else v, return_type=Any
)

AnyNumber = Annotated[Number, PlainValidator(_validate_number), _SCHEMA, _SERIAL]
NonNegative = Annotated[
    Number,
    PlainValidator(_validate_number),
    AfterValidator(non_negative),
    _SCHEMA,
    _SERIAL,
]
def _positive(value: Number) -> Number:
    lo, _ = bounds(value)
    if lo < 0 or (not isinstance(value, Distribution) and lo == 0):
        raise ValueError("must be > 0" if not isinstance(value, Distribution)
                         else "must be > 0: every draw of this distribution must be in range")
    return value


Positive = Annotated[Number, PlainValidator(_validate_number), AfterValidator(_positive), _SCHEMA, _SERIAL]
Fraction = Annotated[
    Number,
    PlainValidator(_validate_number),
    AfterValidator(fraction),
    _SCHEMA,
    _SERIAL,
]
