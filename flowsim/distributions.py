"""Uncertain numbers: a scenario value may be a distribution drawn once per replicate."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

MAX_VALUE = 1e9
"""Largest magnitude accepted anywhere; larger numbers are almost surely typos."""


@dataclass(frozen=True)
class Distribution:
    """`{kind: [args]}` as written in the scenario, e.g. `{uniform: [2000, 3000]}`."""

    kind: str
    args: tuple[float, ...]

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (used for range rules)."""
        a = self.args
        if self.kind in ("uniform", "triangular", "choice"):
            return min(a), max(a)
        if self.kind == "normal":
            return 0.0, math.inf
        return 0.0, math.inf  # lognormal

    def mean(self) -> float:
        a = self.args
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

    def sample(self, rng: np.random.Generator, n: int, args: list[np.ndarray] | None = None) -> np.ndarray:
        """n draws; `args` gives per-draw arguments (a sweep over this distribution's arguments)."""
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

    def to_yaml(self) -> dict[str, list[float]]:
        return {self.kind: list(self.args)}


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


KINDS = ("uniform", "triangular", "normal", "lognormal", "choice")

Number = float | Distribution


def parse_number(value: Any) -> Number:
    """Accept a plain number or a one-key distribution mapping; reject everything else."""
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


_SCHEMA = WithJsonSchema(
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
                for k in KINDS
            ],
        ]
    }
)
_SERIAL = PlainSerializer(
    lambda v: v.to_yaml() if isinstance(v, Distribution) else v, return_type=Any
)

AnyNumber = Annotated[Number, PlainValidator(parse_number), _SCHEMA, _SERIAL]
NonNegative = Annotated[
    Number,
    PlainValidator(parse_number),
    AfterValidator(_ranged(0.0, math.inf, "must be >= 0")),
    _SCHEMA,
    _SERIAL,
]
Fraction = Annotated[
    Number,
    PlainValidator(parse_number),
    AfterValidator(_ranged(0.0, 1.0, "must be between 0 and 1")),
    _SCHEMA,
    _SERIAL,
]
