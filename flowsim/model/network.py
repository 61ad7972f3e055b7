"""The three primitive movements every flow kind compiles to.

The step and event engines only know these; a new flow kind is a class registered
in `flows.py` (see its docstring) whose `compile()` emits some combination of them.

A Split or Exit with a delay may carry `loss`, the parameter path of the share of
its travellers lost in transit: each one independently, with the `loss` in force on
the day it leaves, decided when its cohort lands; the lost are counted on the row
`FLOW_lost` (`Network.lost_names`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def lost_counter(flow: str) -> str:
    """The flows.csv row counting the persons flow `flow` loses in transit."""
    return f"{flow}_lost"


@dataclass(frozen=True)
class Source:
    """Persons arriving from outside into `to` as a Poisson stream at `rate` per time unit."""

    flow: str
    to: str
    rate: str
    delay: int = 0


@dataclass(frozen=True)
class Split:
    """A share `fraction` of the arrivals of source flow `of` goes to `to` instead."""

    flow: str
    of: str
    to: str
    fraction: str
    delay: int
    loss: str | None = None


@dataclass(frozen=True)
class Exit:
    """Per-capita hazard `rate` out of `region`; `to` is None for leaving the system."""

    flow: str
    region: str
    rate: str
    to: str | None = None
    delay: int = 0
    loss: str | None = None


Primitive = Source | Split | Exit


@dataclass(frozen=True)
class Stream:
    """Arrivals of source `flow` (diverted by `split`, if any) into `to`, at `rate` per time unit."""

    flow: str
    split: str | None
    to: str
    delay: int
    rate: Any
    loss: str | None = None
    """The parameter path of the share lost in transit (a diversion's), if any."""


@dataclass(frozen=True)
class Network:
    regions: tuple[str, ...]
    sources: tuple[Source, ...]
    splits: tuple[Split, ...]
    exits: tuple[Exit, ...]

    def streams(self, value: Callable[[str], Any]) -> list[Stream]:
        """Every Poisson stream of arrivals: each source's share kept, and each diversion's share.

        `value(path)` gives a parameter (a float, or an array over lanes); rates are per time unit.
        """
        out = []
        for src in self.sources:
            lam = value(src.rate)
            rest = 1.0
            for sp in self.splits:
                if sp.of == src.flow:
                    f = value(sp.fraction)
                    rest = rest - f
                    out.append(Stream(src.flow, sp.flow, sp.to, sp.delay, lam * f, sp.loss))
            out.append(Stream(src.flow, None, src.to, src.delay, lam * (rest * (rest > 0))))
        return out

    @property
    def flow_names(self) -> tuple[str, ...]:
        prims: tuple[Primitive, ...] = (*self.sources, *self.splits, *self.exits)
        return tuple(p.flow for p in prims)

    @property
    def lost_names(self) -> tuple[str, ...]:
        """The rows counting losses in transit, one per flow that may lose travellers, in flow order."""
        prims: tuple[Primitive, ...] = (*self.sources, *self.splits, *self.exits)
        return tuple(lost_counter(p.flow) for p in prims if not isinstance(p, Source) and p.loss is not None)

    @classmethod
    def build(cls, regions: tuple[str, ...], primitives: list[Primitive]) -> Network:
        return cls(
            regions,
            tuple(p for p in primitives if isinstance(p, Source)),
            tuple(p for p in primitives if isinstance(p, Split)),
            tuple(p for p in primitives if isinstance(p, Exit)),
        )
