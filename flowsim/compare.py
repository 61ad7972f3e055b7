"""Simulated populations against reported figures: rows of comparison.csv and a score.

Rules (also in the README):
- A reported range is [low, high]; a one-sided report leaves one end open; a
  point value v stands for [v(1 - tolerance), v(1 + tolerance)].
- `p_in_range` is the share of replicates whose population on that date is in
  the reported range.
- The verdict compares the simulated 90% interval [p05, p95] with the range:
  `too high` if p05 > high, `too low` if p95 < low, else `consistent`.
- The score is a log-likelihood: each report is a uniform interval with soft
  edges (a half-normal fall-off of scale softness x the report's size outside
  it); an observation's likelihood is the mean over replicates, and the score
  sums the logs over observations. 0 is best (every replicate in every range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .results import fmt
from .runner import Simulation
from .scenario import Observation, Scenario

COLUMNS = ["scenario", "point", "date", "region", "source", "obs_low", "obs_high", "obs_value",
           "sim_p05", "sim_p50", "sim_p95", "p_in_range", "verdict"]
TOLERANCE = 0.10
SOFTNESS = 0.10


@dataclass(frozen=True)
class Settings:
    tolerance: float = TOLERANCE
    softness: float = SOFTNESS


@dataclass(frozen=True)
class Row:
    obs: Observation
    p05: float
    p50: float
    p95: float
    p_in_range: float
    verdict: str
    log_likelihood: float


@dataclass(frozen=True)
class Score:
    observations: int
    consistent: int
    log_likelihood: float


def reported_range(obs: Observation, tolerance: float) -> tuple[float, float]:
    if obs.low is None and obs.high is None:
        assert obs.value is not None
        return obs.value * (1 - tolerance), obs.value * (1 + tolerance)
    return (-math.inf if obs.low is None else obs.low), (math.inf if obs.high is None else obs.high)


def _scale(obs: Observation) -> float:
    """Size of the report that sets the softness of its edges."""
    parts = [x for x in (obs.low, obs.high) if x is not None] or [obs.value or 0.0]
    return max(sum(parts) / len(parts), 1.0)


def log_likelihood(x: np.ndarray, obs: Observation, s: Settings) -> float:
    return float(log_likelihoods(x[None, None, :], [obs], s)[0, 0])


def log_likelihoods(x: np.ndarray, observations: list[Observation], s: Settings) -> np.ndarray:
    """`log_likelihood` for many points at once: x is (observations, points, replicates) -> (points, obs)."""
    out = np.zeros((x.shape[1], len(observations)))
    for o, obs in enumerate(observations):
        lo, hi = reported_range(obs, s.tolerance)
        sigma = s.softness * _scale(obs)
        v = x[o].astype(float)
        outside = np.where(v < lo, lo - v, np.where(v > hi, v - hi, 0.0))
        logs = -0.5 * (outside / sigma) ** 2
        top = logs.max(axis=-1, keepdims=True)
        out[:, o] = (top[:, 0] + np.log(np.exp(logs - top).sum(axis=-1))) - math.log(v.shape[-1])
    return out


def verdict(p05: float, p95: float, lo: float, hi: float) -> str:
    if p05 > hi:
        return "too high"
    if p95 < lo:
        return "too low"
    return "consistent"


def evaluate(x: np.ndarray, obs: Observation, s: Settings) -> Row:
    """One observation against the replicates' populations `x` on its date and region."""
    x = x.astype(float)
    p05, p50, p95 = (float(v) for v in np.percentile(x, [5, 50, 95]))
    lo, hi = reported_range(obs, s.tolerance)
    inside = float(np.mean((x >= lo) & (x <= hi)))
    return Row(obs, p05, p50, p95, inside, verdict(p05, p95, lo, hi), log_likelihood(x, obs, s))


def observed(populations: np.ndarray, days: np.ndarray, scenario: Scenario,
             observations: list[Observation]) -> np.ndarray:
    """(observations, lanes): each observation's simulated population on its date."""
    index = {int(d): k for k, d in enumerate(days)}
    regions = list(scenario.regions)
    return np.stack([populations[index[scenario.day_of(o.date)], regions.index(o.region)] for o in observations]) \
        if observations else np.zeros((0, populations.shape[-1]))


def compare(sim: Simulation, observations: list[Observation], s: Settings) -> list[Row]:
    x = observed(sim.populations, sim.days, sim.scenario, observations)
    return [evaluate(x[i], obs, s) for i, obs in enumerate(observations)]


def score(rows: list[Row]) -> Score:
    return Score(len(rows), sum(r.verdict == "consistent" for r in rows),
                 float(sum(r.log_likelihood for r in rows)))


def csv_rows(sim: Simulation, rows: list[Row]) -> list[list[str]]:
    return point_csv_rows(sim.scenario.name, sim.point, rows)


def point_csv_rows(name: str, point: int, rows: list[Row]) -> list[list[str]]:
    def opt(x: float | None) -> str:
        return "" if x is None else fmt(x)

    return [
        [name, str(point), r.obs.date.isoformat(), r.obs.region, r.obs.source,
         opt(r.obs.low), opt(r.obs.high), opt(r.obs.value), fmt(r.p05), fmt(r.p50), fmt(r.p95),
         f"{r.p_in_range:.4f}", r.verdict]
        for r in rows
    ]
