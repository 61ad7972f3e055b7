"""The observation model: how a reported figure relates to the true count N.

One home for it, used by `compare`, sweep scores and `calibrate` alike. N is a
stock (persons in a region on a date) or a flow count (persons a flow moved over
a period, `outputs/compare.observed`); the model reads both alike.

- A range [low, high] is the reporter's 90% interval: the report's centre
  c = sqrt(low * high) is a noisy measurement, log c ~ Normal(log(b N), sigma^2)
  with sigma = ln(high / low) / (2 * 1.645) and b the report's bias (1 unless
  the row says otherwise: a number, or a parameter in `biases:`).
- A point value v is the same with sigma from the tolerance t (the 90%
  half-width as a share): sigma = ln((1 + t) / (1 - t)) / (2 * 1.645).
- A one-sided report ("up to H", "at least L") is censored: its likelihood is
  P(log report <= log H) = Phi((log H - log(b N)) / sigma) (or the upper tail),
  with the point-value sigma unless the row gives `sigma`.
- A count of zero is taken as half a person so that its log is finite; a
  reported 0 is read as "up to 0.5".
- Rows sharing a `group` repeat one estimate: the group's log-likelihood for a
  trajectory is the mean of its rows' (each row weighs 1/k), so a group counts
  once however many outlets repeated it.

The likelihood of a parameter draw is the mean over its replicates of the
product over groups (`draw_loglik`): an unbiased estimate of the likelihood,
which is what makes the calibration's pseudo-marginal SMC exact. The score of
a scenario is the sum over groups of log predictive densities (`log_scores`),
a proper scoring rule: a wider fan chart lowers the density at the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from flowsim.defaults import TOLERANCE
from flowsim.model.scenario import Observation

__all__ = ["TOLERANCE"]  # re-exported: the model's default, defined where the command line can read it cheaply

Z90 = 1.6448536269514722
"""Standard normal 95% quantile: a 90% interval spans 2 * Z90 standard deviations."""
HALF_PERSON = 0.5

Kind = Literal["interval", "upper", "lower"]


@dataclass(frozen=True)
class Measurement:
    """One report as the model reads it: a log figure, its sd, its kind and bias."""

    kind: Kind
    log_figure: float  # log centre (interval), log bound (upper/lower)
    sigma: float
    bias: float | str  # a number, or the name of a `biases:` parameter
    group: str


def point_sigma(tolerance: float) -> float:
    if not 0 < tolerance < 1:
        raise ValueError("tolerance must be between 0 and 1 (exclusive)")
    return math.log((1 + tolerance) / (1 - tolerance)) / (2 * Z90)


def measurement(obs: Observation, tolerance: float, index: int = 0) -> Measurement:
    """How the model reads one observation row."""
    group = obs.group if obs.group is not None else f"#{index}"
    bias: float | str = 1.0 if obs.bias is None else obs.bias
    default = point_sigma(tolerance)
    low, high = obs.low, obs.high
    if low == 0:
        low = None  # "0 to H" says only "up to H"
    if low is not None and high is not None:
        if high > low:
            sigma = math.log(high / low) / (2 * Z90)
            return Measurement("interval", 0.5 * (math.log(low) + math.log(high)), obs.sigma or sigma, bias, group)
        return Measurement("interval", math.log(low), obs.sigma or default, bias, group)
    if high is not None:
        return Measurement("upper", math.log(max(high, HALF_PERSON)), obs.sigma or default, bias, group)
    if low is not None:
        return Measurement("lower", math.log(low), obs.sigma or default, bias, group)
    assert obs.value is not None
    if obs.value == 0:
        return Measurement("upper", math.log(HALF_PERSON), obs.sigma or default, bias, group)
    return Measurement("interval", math.log(obs.value), obs.sigma or default, bias, group)


def measurements(observations: list[Observation], tolerance: float) -> list[Measurement]:
    return [measurement(o, tolerance, i) for i, o in enumerate(observations)]


def biases(ms: list[Measurement], params: dict[str, np.ndarray], lanes: int) -> np.ndarray:
    """(observations, lanes) multiplicative bias of each report in each lane."""
    out = np.ones((len(ms), lanes))
    for i, m in enumerate(ms):
        out[i] = params[f"biases.{m.bias}"] if isinstance(m.bias, str) else m.bias
    return out


def _log_count(x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(bias * x, HALF_PERSON))


def loglik(x: np.ndarray, ms: list[Measurement], bias: np.ndarray) -> np.ndarray:
    """(observations, lanes) log-likelihood of each report given each trajectory's count x."""
    if any(m.kind != "interval" for m in ms):
        from scipy.special import log_ndtr  # only censored reports need it (and scipy is slow to import)
    out = np.empty(x.shape, dtype=float)
    for i, m in enumerate(ms):
        z = (m.log_figure - _log_count(x[i].astype(float), bias[i])) / m.sigma
        if m.kind == "interval":
            out[i] = -0.5 * z * z - math.log(m.sigma) - 0.5 * math.log(2 * math.pi)
        elif m.kind == "upper":
            out[i] = log_ndtr(z)
        else:
            out[i] = log_ndtr(-z)
    return out


def p_below(x: np.ndarray, m: Measurement, bias: np.ndarray) -> float:
    """P(a simulated report <= the reported figure): the predictive CDF at the report.

    Small means the simulation is too high for the report; 1 - it small, too low.
    """
    from scipy.special import ndtr

    z = (m.log_figure - _log_count(x.astype(float), bias)) / m.sigma
    return float(np.mean(ndtr(z)))


def group_index(ms: list[Measurement]) -> tuple[list[str], np.ndarray]:
    """Group names in order of first appearance, and each row's group number."""
    names = list(dict.fromkeys(m.group for m in ms))
    return names, np.array([names.index(m.group) for m in ms], dtype=np.int64)


def grouped(ll: np.ndarray, ms: list[Measurement]) -> np.ndarray:
    """(observations, ...) -> (groups, ...): the mean log-likelihood of each group's rows."""
    names, idx = group_index(ms)
    out = np.zeros((len(names), *ll.shape[1:]))
    np.add.at(out, idx, ll)
    return out / np.bincount(idx, minlength=len(names)).reshape(-1, *([1] * (ll.ndim - 1)))


def logmeanexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(mean(exp(a))) along an axis, without underflow; -inf where every term is -inf."""
    top = np.max(a, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.mean(np.exp(a - safe), axis=axis, keepdims=True)) + safe
    return np.squeeze(out, axis=axis)


def draw_loglik(ll: np.ndarray, ms: list[Measurement]) -> np.ndarray:
    """(observations, points, replicates) -> (points,): log of the mean over replicates of the product over groups."""
    return logmeanexp(grouped(ll, ms).sum(axis=0), axis=-1)


def log_scores(ll: np.ndarray, ms: list[Measurement]) -> np.ndarray:
    """(observations, ..., replicates) -> (groups, ...): each group's log predictive density."""
    return logmeanexp(grouped(ll, ms), axis=-1)
