"""Simulation-based calibration of `flowsim calibrate` (Talts et al. 2018), shared by the tests.

For each truth drawn from the prior: simulate one trajectory at the truth with
flowsim, turn its counts into reported ranges with the observation model's
noise, calibrate, and record where the truth falls in the weighted posterior.
If the posterior is right, the truth's posterior rank is uniform and each 90%
interval covers it 90% of the time.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowsim.experiments import calibrate as calibration
from flowsim.experiments import executor as runner
from flowsim.experiments import runs

from .conftest import scenario_dict, write

PRIORS = {"flows.r.rate": (5.0, 30.0), "flows.d.rate": (0.005, 0.05)}
DAYS, REPORT_DAYS, N0 = 60, (20, 40, 60), 500
SIGMA = 0.1
"""sd of each report on the log scale: a reported 90% range spans exp(+-1.645 * 0.1), about +-18%."""
START = dt.date(2015, 1, 1)


@dataclass(frozen=True)
class Trial:
    truth: tuple[float, ...]
    rank: tuple[float, ...]  # posterior mass below the truth, per parameter
    covered: tuple[bool, ...]  # truth inside the 90% interval, per parameter
    ess: float


def scenario(observations: list[dict[str, object]] | None = None, **values: float) -> dict[str, object]:
    flows = [{"name": "r", "kind": "recruitment", "to": "a", "rate": values.get("rate", 10.0)},
             {"name": "d", "kind": "attrition", "region": "a", "rate": values.get("attrition", 0.02)}]
    data = scenario_dict(DAYS, regions={"a": {"initial": N0}}, replicates=1, report_every=20, flows=flows)
    if observations:
        data["observations"] = observations
    return data


def reports(truth: tuple[float, float], rng: np.random.Generator, folder: Path, seed: int) -> list[dict[str, object]]:
    """One flowsim trajectory at the truth, read through the observation model."""
    path = write(folder, scenario(rate=truth[0], attrition=truth[1]), "truth.yaml")
    item = runs.load(path, runs.RunOptions(seed=seed))
    sim = runner.simulate(item.scenario)
    out = []
    for day in REPORT_DAYS:
        n = float(sim.populations[list(sim.days).index(day), 0, 0])
        centre = max(n, 0.5) * math.exp(SIGMA * rng.standard_normal())
        half = 1.6448536269514722 * SIGMA
        out.append({"date": (START + dt.timedelta(days=day)).isoformat(), "region": "a",
                    "low": round(centre * math.exp(-half), 3), "high": round(centre * math.exp(half), 3),
                    "source": f"synthetic day {day}"})
    return out


def trial(args: tuple[int, Path, int, int, int]) -> Trial:
    k, root, particles, draws, replicates = args
    rng = np.random.default_rng([20261127, k])
    truth = tuple(float(rng.uniform(lo, hi)) for lo, hi in PRIORS.values())
    folder = root / f"t{k}"
    folder.mkdir(parents=True, exist_ok=True)
    obs = reports(truth, rng, folder, seed=k)  # type: ignore[arg-type]
    path = write(folder, scenario(obs), "s.yaml")
    opts = runs.RunOptions(seed=k)
    item = runs.load(path, opts)
    job = runs.plan_calibration(item, opts, [f"{p}={lo}:{hi}" for p, (lo, hi) in PRIORS.items()], replicates)
    cal = calibration.run(job, folder / "out", particles=particles, draws=draws)
    w, pts = cal.result.weights, cal.result.points
    ranks, covered = [], []
    for i, (_, _, _, _, p05, p95) in enumerate(cal.summary()):
        ranks.append(float(np.sum(w[pts[:, i] < truth[i]])))
        covered.append(p05 <= truth[i] <= p95)
    return Trial(truth, tuple(ranks), tuple(covered), cal.result.ess)


def run(truths: int, root: Path, particles: int, draws: int, replicates: int = 4, processes: int = 2) -> list[Trial]:
    jobs = [(k, root, particles, draws, replicates) for k in range(truths)]
    if processes <= 1:
        return [trial(j) for j in jobs]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(trial, jobs)
