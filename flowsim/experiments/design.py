"""Sweep designs: which parameter values each sweep point gets.

Axes come from `--param PATH=a:b:n | PATH=v1,v2 | PATH=lo:hi` or the scenario's
`sweep:` section. A path is any parameter path, or a distribution argument of
one: `regions.libya.initial.uniform.1` is the upper bound of that uniform.
Points are numbered in design order; the same scenario, seed and design give
the same points, so point ids are stable.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from flowsim.experiments import seeding
from flowsim.model import parameters as paths
from flowsim.model import timeline
from flowsim.model.distributions import Distribution, check_args
from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.scenario import Scenario, validate
from flowsim.model.yamlsource import Located

Method = Literal["grid", "random", "lhs", "sobol"]
METHODS: tuple[Method, ...] = ("grid", "random", "lhs", "sobol")


@dataclass(frozen=True)
class Axis:
    path: str
    origin: Origin
    values: tuple[float, ...] | None = None
    low: float | None = None
    high: float | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        if self.values is not None:
            return min(self.values), max(self.values)
        assert self.low is not None and self.high is not None
        return self.low, self.high

    def at(self, u: np.ndarray) -> np.ndarray:
        """Map uniform numbers in [0, 1) onto this axis (a range, or one of the listed values)."""
        if self.values is not None:
            idx = np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)
            return np.asarray(self.values)[idx]
        lo, hi = self.bounds
        return lo + u * (hi - lo)


@dataclass(frozen=True)
class Design:
    method: Method
    axes: tuple[Axis, ...]
    points: np.ndarray  # (points, axes)

    @property
    def names(self) -> list[str]:
        return [a.path for a in self.axes]


def _number(text: str, origin: Origin, path: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise InputError(origin, path, text, "must be a number") from None
    if not math.isfinite(x):
        raise InputError(origin, path, text, "must be a finite number")
    return x


def parse_param(text: str) -> Axis:
    """`PATH=lo:hi` (a range), `PATH=lo:hi:n` (n grid values) or `PATH=v1,v2,...` (listed)."""
    origin = Origin(f"--param {text}")
    path, sep, spec = text.partition("=")
    path = path.strip()
    if not sep or not path or not spec.strip():
        raise InputError(origin, "", NO_VALUE, "must be PATH=lo:hi, PATH=lo:hi:n or PATH=v1,v2,...")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise InputError(origin, path, spec, "a range is lo:hi or lo:hi:n")
        lo, hi = (_number(p, origin, path) for p in parts[:2])
        if lo > hi:
            raise InputError(origin, path, spec, "range must have lo <= hi")
        if len(parts) == 2:
            return Axis(path, origin, low=lo, high=hi)
        try:
            n = int(parts[2])
        except ValueError:
            raise InputError(origin, path, parts[2], "the number of grid values must be a whole number") from None
        if not 1 <= n <= 100_000:
            raise InputError(origin, path, n, "the number of grid values must be between 1 and 100000")
        return Axis(path, origin, values=tuple(float(v) for v in np.linspace(lo, hi, n)))
    return Axis(path, origin, values=tuple(_number(v, origin, path) for v in spec.split(",")))


def axes_from_scenario(s: Scenario, located: Located) -> list[Axis]:
    if s.sweep is None:
        return []
    out = []
    for key, value in s.sweep.parameters.items():
        origin = located.origin(("sweep", "parameters", key))
        if isinstance(value, list):
            if any(isinstance(v, Distribution) for v in value):
                raise InputError(origin, key, NO_VALUE, "listed sweep values must be plain numbers")
            out.append(Axis(key, origin, values=tuple(float(v) for v in value)))  # type: ignore[arg-type]
        elif isinstance(value, Distribution) and value.kind == "uniform":
            out.append(Axis(key, origin, low=value.args[0], high=value.args[1]))
        elif isinstance(value, float):
            out.append(Axis(key, origin, values=(value,)))
        else:
            raise InputError(origin, key, NO_VALUE, "a sweep parameter is a list of values or {uniform: [lo, hi]}")
    return out


def check_ranges(axes: list[Axis], what: str) -> None:
    """Ranges for priors and Sobol samples: each path once, each with lo < hi."""
    names = [a.path for a in axes]
    for i, a in enumerate(axes):
        if a.path in names[:i]:
            raise InputError(a.origin, a.path, NO_VALUE, "is given twice")
        if a.values is not None:
            raise InputError(a.origin, a.path, NO_VALUE, f"{what} needs a range, PATH=lo:hi")
        lo, hi = a.bounds
        if not lo < hi:
            raise InputError(a.origin, a.path, f"{lo:g}:{hi:g}", f"{what} needs lo < hi (to fix a number, use --set)")


def build(axes: list[Axis], method: Method, samples: int, seed: int) -> Design:
    if not axes:
        raise InputError(Origin("command line"), "sweep", NO_VALUE,
                         "no parameters to sweep: give --param PATH=... or a `sweep:` section")
    names = [a.path for a in axes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InputError(axes[i].origin, name, NO_VALUE, "is swept twice")
    if method == "grid":
        for a in axes:
            if a.values is None:
                raise InputError(a.origin, a.path, NO_VALUE,
                                 "a grid needs values: write lo:hi:n or v1,v2,... (or use --method random|lhs|sobol)")
        size = math.prod(len(a.values or ()) for a in axes)
        if size > 10_000_000:
            raise InputError(axes[0].origin, "sweep", size, "grid points: at most 10,000,000")
        points = np.array(list(itertools.product(*(a.values or () for a in axes))), dtype=float)
        return Design(method, tuple(axes), points.reshape(-1, len(axes)))
    from scipy.stats import qmc  # slow to import; only sampled designs need it

    rng = seeding.generator(seed, seeding.DESIGN_STREAM)
    d = len(axes)
    if method == "random":
        u = rng.random((samples, d))
    elif method == "lhs":
        u = qmc.LatinHypercube(d=d, rng=rng).random(samples)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance wants 2^m points; any n is still valid
            u = qmc.Sobol(d=d, scramble=True, rng=rng).random(samples)
    points = np.column_stack([a.at(u[:, i]) for i, a in enumerate(axes)])
    return Design(method, tuple(axes), points)


def split_path(s: Scenario, path: str) -> tuple[str, int | None]:
    """(parameter path, distribution argument index or None) of `path` in scenario `s` (see parameters.resolve)."""
    return paths.resolve(s.parameters(), path)


def check(design: Design, s: Scenario, located: Located) -> None:
    """Every axis names a number of the scenario and every value keeps the scenario valid."""
    bases = [split_path(s, a.path) for a in design.axes]
    for a, (base, index) in zip(design.axes, bases, strict=True):
        if index is not None and (base, None) in bases:
            raise InputError(a.origin, a.path, NO_VALUE, f"{base} itself is swept too, which overrides its arguments")
    for a in design.axes:
        if not split_path(s, a.path)[0]:
            dated = sorted((k, shape) for k in s.parameters() for shape in timeline.SHAPES
                           if k.startswith(f"{a.path}.{shape}."))
            if dated:  # a value that changes over time: its knots are the numbers
                first, shape = dated[0]
                raise InputError(a.origin, a.path, NO_VALUE,
                                 f"changes over time ({shape}): sweep its dated values ({a.path}.{shape}.DATE, "
                                 f"such as {first}), or make it one number first with --set {a.path}=VALUE")
            raise InputError(a.origin, a.path, NO_VALUE,
                             paths.unknown_path_rule(a.path, s.parameters())
                             + " (a distribution argument is PATH.<kind>.<index>)")
    extremes = [design.points.min(axis=0), design.points.max(axis=0)]
    for i, a in enumerate(design.axes):
        for values in extremes:
            _validate_with(located, s, [(a, float(values[i]))])
    _validate_with(located, s, [(a, float(extremes[1][i])) for i, a in enumerate(design.axes)])
    _check_distribution_args(design, s)


def _validate_with(located: Located, s: Scenario, settings: list[tuple[Axis, float]]) -> None:
    trial = Located(copy.deepcopy(located.data), located.file, dict(located.origins), dict(located.key_origins))
    for axis, value in settings:
        base, index = split_path(s, axis.path)
        if index is not None:
            where = paths.locate(trial.data, base)
            assert where is not None
            (kind, args), = paths.parent_of(trial.data, where)[where[-1]].items()
            value = {kind: [value if i == index else a for i, a in enumerate(args)]}  # type: ignore[assignment]
        trial.origins[paths.put(trial.data, base, value)] = axis.origin
    try:
        validate(trial)
    except InputError as exc:
        origin = settings[0][0].origin if len(settings) == 1 else exc.origin
        raise InputError(origin, exc.field, exc.value, exc.rule) from None


def _check_distribution_args(design: Design, s: Scenario) -> None:
    params = s.parameters()
    by_base: dict[str, list[tuple[int, int]]] = {}
    for col, a in enumerate(design.axes):
        base, index = split_path(s, a.path)
        if index is not None:
            by_base.setdefault(base, []).append((index, col))
    for base, cols in by_base.items():
        dist = params[base]
        assert isinstance(dist, Distribution)
        args = np.tile(np.asarray(dist.args, dtype=float), (len(design.points), 1))
        for index, col in cols:
            args[:, index] = design.points[:, col]
        for p, row in enumerate(args):
            rule = check_args(dist.kind, list(row))
            if rule:
                axis = design.axes[cols[0][1]]
                raise InputError(axis.origin, base, f"{dist.kind} {list(row)} at point {p}", rule)
