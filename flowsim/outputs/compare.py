"""Simulated populations against reported figures: rows of comparison.csv and a score.

Everything here reads reports through the observation model (`model/obsmodel.py`).
A report is of a stock (persons in a region at the start of a date) or of a flow
(persons moved by a flow over the whole days `from`..`to`: the cumulative count at
the midnight after `to` minus the one at the midnight starting `from`); the model
reads both counts alike. In comparison.csv a stock row fills `date, region`, a flow
row `flow, from, to`.

- `sim_p05`..`sim_p95` and `p_in_range` describe the simulated count; `bias`
  is the mean bias of the report (it counts bias x the count), which the
  log score, tails and verdict apply.
- `p_in_range` is the share of replicates whose population on that date is in
  the reported range (a point value v stands for v(1 +- tolerance)); it is
  descriptive only.
- `log_score` is the log predictive density of the report: the log of the mean
  over replicates of the report's likelihood. The scenario's score sums the log
  scores of observation groups (rows that repeat one estimate count once). It is
  a proper scoring rule, so a wider fan chart cannot buy a better score.
- `p_below` is the predictive probability that a simulated report (the count
  with measurement noise) falls at or below the reported figure; `p_above` is
  1 - p_below. The verdict is a test at a stated false-alarm rate: `too high`
  when p_below < 0.05, `too low` when p_above < 0.05 (one-sided reports test
  only their own side), so a scenario that is right is called wrong 5% of the
  time on each side of a two-sided report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from flowsim.engines.plan import counter_names
from flowsim.model import obsmodel
from flowsim.model.obsmodel import Measurement
from flowsim.model.scenario import Observation, Scenario

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNS = ["scenario", "point", "date", "region", "flow", "from", "to", "source", "group", "obs_low", "obs_high",
           "obs_value", "sigma", "bias", "sim_p05", "sim_p50", "sim_p95", "p_in_range", "log_score", "p_below",
           "p_above", "verdict"]
TOLERANCE = obsmodel.TOLERANCE
ALARM = 0.05
"""False-alarm rate of each side of the verdict's test, under the model."""


@dataclass(frozen=True)
class Settings:
    tolerance: float = TOLERANCE


@dataclass(frozen=True)
class Row:
    obs: Observation
    measurement: Measurement
    p05: float
    p50: float
    p95: float
    p_in_range: float
    log_score: float
    p_below: float
    verdict: str
    bias: float = 1.0  # mean over replicates of the report's bias (the report counts bias x the population)

    @property
    def p_above(self) -> float:
        return 1.0 - self.p_below


@dataclass(frozen=True)
class Score:
    observations: int
    groups: int
    consistent: int
    log_score: float


def reported_range(obs: Observation, tolerance: float) -> tuple[float, float]:
    if obs.low is None and obs.high is None:
        assert obs.value is not None
        return obs.value * (1 - tolerance), obs.value * (1 + tolerance)
    return (-math.inf if obs.low is None else obs.low), (math.inf if obs.high is None else obs.high)


def verdict(m: Measurement, p_below: float) -> str:
    if m.kind != "lower" and p_below < ALARM:
        return "too high"
    if m.kind != "upper" and 1.0 - p_below < ALARM:
        return "too low"
    return "consistent"


def assess(x: np.ndarray, bias: np.ndarray, observations: list[Observation],
           s: Settings) -> tuple[list[Row], np.ndarray]:
    """Rows for observations against replicates `x` (observations, replicates), and each group's log score."""
    ms = obsmodel.measurements(observations, s.tolerance)
    ll = obsmodel.loglik(x, ms, bias)
    scores = obsmodel.logmeanexp(ll, axis=-1)
    quant = np.percentile(x.astype(float), [5, 50, 95], axis=-1) if len(observations) else np.zeros((3, 0))
    rows = []
    for i, (obs, m) in enumerate(zip(observations, ms, strict=True)):
        lo, hi = reported_range(obs, s.tolerance)
        below = obsmodel.p_below(x[i], m, bias[i])
        rows.append(Row(obs, m, float(quant[0, i]), float(quant[1, i]), float(quant[2, i]),
                        float(np.mean((x[i] >= lo) & (x[i] <= hi))), float(scores[i]), below, verdict(m, below),
                        float(np.mean(bias[i]))))
    return rows, obsmodel.log_scores(ll, ms)


def score(rows: list[Row], group_scores: np.ndarray) -> Score:
    return Score(len(rows), len(group_scores), sum(r.verdict == "consistent" for r in rows),
                 float(np.sum(group_scores)))


def observed(populations: np.ndarray, days: np.ndarray, scenario: Scenario,
             observations: list[Observation], moved: np.ndarray | None = None) -> np.ndarray:
    """(observations, lanes): each observation's simulated count in every lane.

    A stock: the population of its region at the midnight starting its date. A flow:
    `moved` (records, counters, lanes, cumulative) at the midnight after `to` minus at
    the midnight starting `from`; both are record days (`plan.record_days`).
    """
    if not observations:
        return np.zeros((0, populations.shape[-1]))
    index = {int(d): k for k, d in enumerate(days)}
    regions = list(scenario.regions)
    counters = list(counter_names(scenario)) if any(o.is_flow for o in observations) else []
    out = []
    for o in observations:
        if o.flow is None:
            assert o.date is not None
            out.append(populations[index[scenario.day_of(o.date)], regions.index(str(o.region))])
            continue
        if moved is None:
            raise ValueError("flow observations are compared with the persons moved; pass `moved`")
        first, after = (index[scenario.day_of(d)] for d in o.record_dates())
        c = counters.index(o.flow)
        out.append(moved[after, c] - moved[first, c])
    return np.stack(out)


def compare(populations: np.ndarray, days: np.ndarray, scenario: Scenario, params: dict[str, np.ndarray],
            observations: list[Observation], s: Settings,
            moved: np.ndarray | None = None) -> tuple[list[Row], np.ndarray]:
    """Observations against all replicates of one point: populations (records, regions, replicates) and
    the cumulative persons moved (records, counters, replicates), which flow observations need."""
    x = observed(populations, days, scenario, observations, moved)
    ms = obsmodel.measurements(observations, s.tolerance)
    return assess(x, obsmodel.biases(ms, params, populations.shape[-1]), observations, s)


def table(name: str, points: list[int], rows: list[list[Row]]) -> pa.Table:
    """comparison.csv: one row per point and observation."""
    import pyarrow as pa

    flat = [(p, r) for p, pr in zip(points, rows, strict=True) for r in pr]

    def num(values: list[float | None], digits: int) -> pa.Array:
        return pa.array([None if v is None else round(v, digits) + 0.0 for v in values], pa.float64())

    return pa.table({
        "scenario": pa.array([name] * len(flat), pa.string()),
        "point": pa.array([p for p, _ in flat], pa.int64()),
        "date": pa.array([r.obs.date for _, r in flat], pa.date32()),
        "region": pa.array([r.obs.region for _, r in flat], pa.string()),
        "flow": pa.array([r.obs.flow for _, r in flat], pa.string()),
        "from": pa.array([r.obs.from_ for _, r in flat], pa.date32()),
        "to": pa.array([r.obs.to for _, r in flat], pa.date32()),
        "source": pa.array([r.obs.source for _, r in flat], pa.string()),
        "group": pa.array([r.obs.group for _, r in flat], pa.string()),
        "obs_low": num([r.obs.low for _, r in flat], 3),
        "obs_high": num([r.obs.high for _, r in flat], 3),
        "obs_value": num([r.obs.value for _, r in flat], 3),
        "sigma": num([r.measurement.sigma for _, r in flat], 4),
        "bias": num([r.bias for _, r in flat], 4),
        "sim_p05": num([r.p05 for _, r in flat], 3),
        "sim_p50": num([r.p50 for _, r in flat], 3),
        "sim_p95": num([r.p95 for _, r in flat], 3),
        "p_in_range": num([r.p_in_range for _, r in flat], 4),
        "log_score": num([r.log_score for _, r in flat], 4),
        "p_below": num([r.p_below for _, r in flat], 4),
        "p_above": num([r.p_above for _, r in flat], 4),
        "verdict": pa.array([r.verdict for _, r in flat], pa.string()),
    })
