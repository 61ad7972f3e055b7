"""Sequential Monte Carlo with adaptive likelihood tempering, on a box-shaped uniform prior.

The likelihood of a parameter draw is only estimated (the mean over a few
replicates of the joint likelihood of one trajectory, `obsmodel.draw_loglik`),
but the estimate is unbiased, so tempering the extended target
prior(theta) * p(replicates) * Lhat(theta)^beta and ending at beta = 1 gives the
exact posterior of theta (a pseudo-marginal SMC sampler): each particle keeps
its estimate; moves propose a new theta, simulate it afresh and accept with
the Metropolis-Hastings ratio of the tempered estimates.

- The next temperature is the one at which the conditional effective sample
  size of the incremental weights is half the particles (bisection).
- Resampling is systematic; moves are Gaussian random walks scaled
  2.38 / sqrt(d) by the particles' covariance, repeated until most particles
  would have moved at the last acceptance rate (at most MAX_MOVES).
- The marginal likelihood estimate is the product over stages of the mean
  incremental weight (unbiased for the evidence).
- Several independent islands split the particles and the budget; the
  spread of their evidence estimates gives its Monte Carlo error, and their
  particles, weighted by island evidence, form the posterior.

Each island is a generator that yields parameter sets to simulate and is sent
their log-likelihood estimates, so a driver can batch every island's requests
into one parallel job per round (deterministic whatever the number of workers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from flowsim.experiments import seeding

MAX_MOVES = 12
MIN_MOVES = 2
TARGET_ESS = 0.5
"""Share of particles the conditional ESS keeps at each tempering step."""


@dataclass
class Stage:
    beta: float
    ess: float
    acceptance: float
    moves: int


@dataclass
class Island:
    points: np.ndarray  # (n, d) final particles, equally weighted
    loglik: np.ndarray  # (n,) their likelihood estimates
    log_evidence: float
    stages: list[Stage] = field(default_factory=list)
    simulated: int = 0
    forced: bool = False  # the budget ran out before the tempering reached 1


Request = Generator[np.ndarray, np.ndarray, Island]


def _logmeanexp(a: np.ndarray) -> float:
    top = float(np.max(a))
    if not math.isfinite(top):
        return -math.inf
    return top + math.log(float(np.mean(np.exp(a - top))))


def _ess(logw: np.ndarray) -> float:
    top = np.max(logw)
    if not np.isfinite(top):
        return 0.0
    w = np.exp(logw - top)
    return float(w.sum() ** 2 / (w * w).sum())


def next_beta(ll: np.ndarray, beta: float, target: float) -> float:
    """The largest beta' <= 1 whose incremental weights keep an ESS of `target` (bisection)."""
    if _ess((1.0 - beta) * ll) >= target:
        return 1.0
    lo, hi = beta, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _ess((mid - beta) * ll) >= target:
            lo = mid
        else:
            hi = mid
    return max(lo, beta + 1e-9)


def systematic(logw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = np.exp(logw - np.max(logw))
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    n = len(w)
    return np.searchsorted(cum, (rng.random() + np.arange(n)) / n)


def island(low: np.ndarray, high: np.ndarray, n: int, budget: int, rng: np.random.Generator) -> Request:
    """One SMC run: yields (m, d) parameter sets, is sent their (m,) log-likelihood estimates."""
    d = len(low)
    theta = low + rng.random((n, d)) * (high - low)
    ll = _clean((yield theta.copy()))
    used, beta, logz, moves = n, 0.0, 0.0, MIN_MOVES
    stages: list[Stage] = []
    forced = False
    while True:
        if beta < 1.0:
            nxt = next_beta(ll, beta, TARGET_ESS * n)
            if budget - used < moves * n and nxt < 1.0:
                nxt, forced = 1.0, True
            logw = (nxt - beta) * ll
            ess = _ess(logw)
            logz += _logmeanexp(logw)
            idx = systematic(logw, rng)
            theta, ll, beta = theta[idx], ll[idx], nxt
        elif budget - used < n:
            break
        else:
            ess = float(n)
        steps = moves if budget - used >= moves * n else max(0, (budget - used) // n)
        accepted: list[float] = []
        for _ in range(steps):
            theta, ll, rate, cost = yield from _move(theta, ll, beta, low, high, rng)
            used += cost
            accepted.append(rate)
        rate = float(np.mean(accepted)) if accepted else 0.0
        stages.append(Stage(beta, ess, rate, steps))
        if rate > 0:
            moves = int(np.clip(math.ceil(math.log(0.1) / math.log(max(1e-9, 1 - rate))), MIN_MOVES, MAX_MOVES))
        else:
            moves = MAX_MOVES
        if beta >= 1.0 and (steps == 0 or budget - used < n):
            break
    return Island(theta, ll, logz, stages, used, forced)


def _clean(ll: np.ndarray) -> np.ndarray:
    ll = np.asarray(ll, dtype=float).copy()
    ll[~np.isfinite(ll)] = -np.inf
    return ll


def _move(theta: np.ndarray, ll: np.ndarray, beta: float, low: np.ndarray, high: np.ndarray,
          rng: np.random.Generator) -> Generator[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, float, int]]:
    n, d = theta.shape
    width = high - low
    cov = np.atleast_2d(np.cov(theta.T)) if n > 1 else np.zeros((d, d))
    cov = cov * (2.38**2 / d) + np.diag((1e-6 * width) ** 2)
    chol = np.linalg.cholesky(cov)
    prop = theta + rng.standard_normal((n, d)) @ chol.T
    inside = np.all((prop >= low) & (prop <= high), axis=1)
    u = rng.random(n)
    ll_prop = np.full(n, -np.inf)
    if inside.any():
        ll_prop[inside] = _clean((yield prop[inside].copy()))
    with np.errstate(invalid="ignore"):
        log_ratio = np.where(np.isneginf(ll) & np.isfinite(ll_prop), np.inf, beta * (ll_prop - ll))
    accept = inside & (np.log(u) < np.nan_to_num(log_ratio, nan=-np.inf))
    theta = np.where(accept[:, None], prop, theta)
    ll = np.where(accept, ll_prop, ll)
    return theta, ll, float(accept.mean()), int(inside.sum())


@dataclass
class Result:
    islands: list[Island]

    @property
    def points(self) -> np.ndarray:
        return np.concatenate([i.points for i in self.islands])

    @property
    def loglik(self) -> np.ndarray:
        return np.concatenate([i.loglik for i in self.islands])

    @property
    def island_of(self) -> np.ndarray:
        return np.concatenate([np.full(len(i.points), k) for k, i in enumerate(self.islands)])

    @property
    def weights(self) -> np.ndarray:
        """Normalised weight of each particle: its island's evidence share, split equally within the island."""
        logz = np.array([i.log_evidence for i in self.islands])
        share = np.exp(logz - np.max(logz)) if np.isfinite(np.max(logz)) else np.ones(len(logz))
        share = share / share.sum()
        return np.concatenate([np.full(len(i.points), share[k] / len(i.points)) for k, i in enumerate(self.islands)])

    @property
    def log_evidence(self) -> float:
        return _logmeanexp(np.array([i.log_evidence for i in self.islands]))

    @property
    def log_evidence_se(self) -> float:
        """Monte Carlo standard error of log_evidence from the spread of the islands (delta method)."""
        logz = np.array([i.log_evidence for i in self.islands])
        if len(logz) < 2 or not np.isfinite(np.max(logz)):
            return math.inf
        z = np.exp(logz - np.max(logz))
        return float(np.std(z, ddof=1) / (math.sqrt(len(z)) * np.mean(z)))

    @property
    def ess(self) -> float:
        """Effective sample size with identical particles merged (stuck moves do not count twice)."""
        _, inverse = np.unique(self.points, axis=0, return_inverse=True)
        merged = np.bincount(inverse.ravel(), weights=self.weights)
        return float(merged.sum() ** 2 / (merged * merged).sum())

    @property
    def simulated(self) -> int:
        return sum(i.simulated for i in self.islands)

    @property
    def forced(self) -> bool:
        return any(i.forced for i in self.islands)


def run(low: np.ndarray, high: np.ndarray, particles: int, budget: int, islands: int, seed: int,
        simulate: Callable[[np.ndarray, int], np.ndarray]) -> Result:
    """Drive the islands in lock-step: each round, one call `simulate(points, round)` -> log-likelihoods."""
    sizes = [particles // islands + (k < particles % islands) for k in range(islands)]
    budgets = [budget // islands + (k < budget % islands) for k in range(islands)]
    gens = [island(low, high, n, b, seeding.generator(seed, seeding.SMC_STREAM, k))
            for k, (n, b) in enumerate(zip(sizes, budgets, strict=True))]
    asks: dict[int, np.ndarray] = {k: next(g) for k, g in enumerate(gens)}
    done: dict[int, Island] = {}
    rnd = 0
    while asks:
        keys = sorted(asks)
        ll = simulate(np.concatenate([asks[k] for k in keys]), rnd)
        bounds = np.cumsum([0] + [len(asks[k]) for k in keys])
        for j, k in enumerate(keys):
            try:
                asks[k] = gens[k].send(ll[bounds[j]:bounds[j + 1]])
            except StopIteration as stop:
                done[k] = stop.value
                del asks[k]
        rnd += 1
    return Result([done[k] for k in range(islands)])
