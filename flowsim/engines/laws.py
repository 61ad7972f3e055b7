"""The laws a leap draws from (see leap.py): who of a group of persons is still in its region at
the leap's end, on which day the others left, and on which midnight travellers land.

A group shares one law, so it is thinned by one binomial draw; these functions give that
law from the region's hazards over the leap's days, in closed form (cumulative sums) where
they stay the same or where e^C cannot overflow, day by day otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from flowsim.model.network import Exit


@dataclass
class Batch:
    """Persons travelling on one route who set out during one leap; each lands at midnight
    `first + i` with probability `law[:, i] / mass` and is then lost with probability `share[:, i]`
    (per lane, independently; `law` need not be normalised, `share` may be (lanes, 1) for all days)."""

    region: int
    count: np.ndarray
    first: int
    law: np.ndarray
    lost: int
    """Counter of the lost (-1: none lost)."""
    share: np.ndarray
    left: np.ndarray = field(init=False)
    """The law's mass in the columns not yet taken."""

    def __post_init__(self) -> None:
        self.left = self.law.sum(axis=1)

    def survivors(self, columns: slice) -> np.ndarray:
        """The landing law over `columns` of those not lost in transit (unnormalised): where the loss
        share changes from day to day, who survives is likelier to have landed on a day of low loss."""
        part = self.law[:, columns]
        return part if self.share.shape[1] == 1 else part * (1.0 - self.share[:, columns])

    def take(self, rng: np.random.Generator, columns: slice) -> tuple[np.ndarray, np.ndarray]:
        """Draw who lands at the midnights of `columns`, and their share lost. Columns are taken in
        order, each once, so the rest keep the law conditioned on not landing there (no rewrite of
        the law: only its mass left), and the last columns take everyone left."""
        part = self.law[:, columns]
        mass = part.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.share.shape[1] == 1:
                lost = self.share[:, 0]
            else:
                lost = np.where(mass > 0, (part * self.share[:, columns]).sum(axis=1) / mass, 0.0)
            p = np.ones(len(mass)) if columns.stop >= self.law.shape[1] else \
                np.where(self.left > 0, mass / self.left, 0.0)
        n = rng.binomial(self.count, np.clip(p, 0.0, 1.0))
        self.count = self.count - n
        self.left = self.left - mass
        return n, np.clip(lost, 0.0, 1.0)


@dataclass
class Group:
    """Persons in one region during a leap who share a law: `stay` is P(there at the end); `days`
    (lanes, k) is P(left on day d), or None where no exit needs the day."""

    count: np.ndarray
    stay: np.ndarray
    days: np.ndarray | None


@dataclass
class Region:
    """A region's exits over one leap: hazards per day, their sum and its running sum, and the
    arrays every group of the region shares (computed once per leap, on first use).

    A (lanes, 1) array is a value that stays the same all leap; `cum` is None when the
    hazards do (and no group needs its leaving day): closed forms then need no day arrays.
    """

    exits: list[Exit]
    hazards: list[np.ndarray]
    """(lanes, k) or (lanes, 1) per exit."""
    total: np.ndarray
    cum: np.ndarray | None
    """(lanes, k + 1): C_d, the hazard summed over days before d."""
    dated: bool
    """Whether groups need their leaving day: a transfer, or exit shares that change within the leap."""
    k: int = 0
    """Days of the leap (read from `cum` when it is given)."""

    def __post_init__(self) -> None:
        if self.cum is not None:
            self.k = self.cum.shape[1] - 1

    @cached_property
    def days(self) -> tuple[np.ndarray, np.ndarray]:
        """(total, cum) as arrays over the leap's days."""
        total = np.broadcast_to(self.total, (self.total.shape[0], self.k))
        cum = self.cum if self.cum is not None else self.total * np.arange(self.k + 1, dtype=float)
        return total, cum

    @cached_property
    def tail(self) -> np.ndarray:
        """(lanes, k): P(still there at the end) for one present from midnight m, e^-(C_k - C_m)."""
        if self.cum is None:
            return np.exp(-np.outer(self.total[:, 0], self.k - np.arange(self.k, dtype=float)))
        return np.exp(-(self.cum[:, self.k:] - self.cum[:, :self.k]))

    @cached_property
    def after(self) -> np.ndarray:
        """(lanes, k): e^-(C_k - C_(d+1)), P(there at the end) for one there at the end of day d."""
        cum = self.days[1]
        return np.exp(-(cum[:, self.k:] - cum[:, 1:]))

    @cached_property
    def leave(self) -> np.ndarray:
        """(lanes, k): 1 - e^-H_d, P(leaving on day d) for one there at its start."""
        return -np.expm1(-self.days[0])

    @cached_property
    def kept(self) -> np.ndarray:
        """(lanes, k): (1 - e^-H_d) / H_d, P(there at day d's end) for one arriving at a uniform time in it."""
        h = self.days[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(h > 0, self.leave / h, 1.0)

    @cached_property
    def fore(self) -> np.ndarray:
        """(lanes, k): e^-C_d (1 - e^-H_d), P(left on day d) for a resident."""
        return self.leave * np.exp(-self.days[1][:, :self.k])

    @cached_property
    def grow(self) -> np.ndarray:
        """(lanes, k): e^C_d (only where `cum` stays below SAFE_EXPONENT)."""
        return np.exp(self.days[1][:, :self.k])

    @cached_property
    def ratios(self) -> list[np.ndarray]:
        """Per exit, h_jd / H_d: its share of who leaves on day d ((lanes, 1) where all stay the same)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return [np.where(self.total > 0, h / self.total, 0.0) for h in self.hazards]


def over(x: np.ndarray, k: int) -> np.ndarray:
    """A (lanes, 1) constant or a (lanes, k) array, as (lanes, k) (a view, not a copy)."""
    return np.broadcast_to(x, (x.shape[0], k))


def summed(x: np.ndarray, k: int) -> np.ndarray:
    """The sum over the leap's days of a (lanes, 1) constant or a (lanes, k) array."""
    return x[:, 0] * k if x.shape[1] == 1 else x.sum(axis=1)


SAFE_EXPONENT = 600.0
"""Beyond a summed hazard of this over one leap, e^C overflows soon: the day laws are built day by day."""


def resident(n: np.ndarray, region: Region) -> Group:
    """Persons present from the leap's first midnight."""
    if region.cum is None:  # hazards that stay the same all leap, and no leaving day needed
        return Group(n, np.exp(-region.total[:, 0] * region.k), None)
    return Group(n, np.exp(-region.cum[:, region.k]), region.fore if region.dated else None)


def present(n: np.ndarray, region: Region, starts: np.ndarray, offset: int = 0) -> Group:
    """Persons present from midnight `offset + m` (relative to the leap's start) with probability
    starts[:, m]; `starts` may cover only some of the leap's midnights."""
    k, w = region.k, starts.shape[1]
    stay = np.einsum("ij,ij->i", starts, region.tail[:, offset:offset + w])
    if region.cum is None or not region.dated:
        return Group(n, stay, None)
    if offset or w < k:
        starts = np.concatenate([np.zeros((len(n), offset)), starts, np.zeros((len(n), k - offset - w))], axis=1)
    if region.cum[:, k].max() < SAFE_EXPONENT:  # present[d] = e^-C_d * sum over m <= d of starts[m] e^C_m
        return Group(n, stay, region.fore * np.cumsum(starts * region.grow, axis=1))
    decay = np.exp(-region.total)
    days = np.empty_like(starts)
    present = np.zeros(len(n))
    for d in range(k):  # present at the start of day d
        present = present + starts[:, d]
        days[:, d] = region.leave[:, d] * present
        present = present * decay[:, d]
    return Group(n, stay, days)


def arriving(n: np.ndarray, region: Region, lam: np.ndarray, k: int) -> Group:
    """Poisson arrivals over the leap at rate lam[:, d] on day d, at uniform times within a day."""
    if region.cum is None and lam.shape[1] == 1:  # all the same all leap: (1 - e^-Hk) / (Hk)
        hk = region.total[:, 0] * k
        with np.errstate(invalid="ignore", divide="ignore"):
            return Group(n, np.where(hk > 0, -np.expm1(-hk) / hk, 1.0), None)
    lam = over(lam, k)
    total = lam.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(total > 0, lam / total, 1.0 / k)
    wg = w * region.kept  # arrived on day d and still there at its midnight
    stay = (wg * region.after).sum(axis=1)
    if not region.dated:
        return Group(n, stay, None)
    cum = region.days[1]
    if cum[:, k].max() < SAFE_EXPONENT:  # carried[d] = e^-C_d * sum over i < d of w_i g_i e^C_(i+1)
        grown = wg * np.exp(cum[:, 1:])
        days = w * (1 - region.kept) + region.fore * (np.cumsum(grown, axis=1) - grown)
        return Group(n, stay, days)
    decay = np.exp(-region.days[0])
    days = np.empty_like(lam)
    carried = np.zeros(len(n))
    for d in range(k):  # carried: arrived on an earlier day and still there at the start of day d
        days[:, d] = w[:, d] * (1 - region.kept[:, d]) + region.leave[:, d] * carried
        carried = carried * decay[:, d] + wg[:, d]
    return Group(n, stay, days)
