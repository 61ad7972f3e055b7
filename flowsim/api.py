"""The Python API, for notebooks and scripts: the same runs as the command line, returned as data.

Nothing is written unless you call `Results.write`. Mistakes raise the same
located `InputError` the command line prints (its `.message` is that line).

    >>> import flowsim
    >>> res = flowsim.run("scenarios/diversion.yaml", replicates=200)
    >>> res.summary.query("region == 'libya'").tail(1)      # a pandas DataFrame with real dates
    >>> res.to_xarray()                                      # population (point, replicate, date, region)
    >>> res.write("results/diversion", format="parquet")
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from flowsim import defaults, logs
from flowsim.experiments import calibrate as calibration
from flowsim.experiments import paired as pairing
from flowsim.experiments import runs
from flowsim.experiments import sensitivity as sens
from flowsim.outputs import compare as comparing
from flowsim.outputs.results import Results

Source = "str | os.PathLike[str] | runs.Loaded"


def load(source: str | os.PathLike[str], set: Mapping[str, Any] | None = None,
         *, observations: str | os.PathLike[str] | None = None) -> runs.Loaded:
    """A checked scenario from a YAML file (with `--set`-style overrides), ready to run."""
    return _load(source, _options(set=set), observations)


def _options(*, set: Mapping[str, Any] | None = None, replicates: int | None = None,
             seed: int | None = None, engine: str = defaults.ENGINE, workers: int = 1, trajectories: bool = False,
             tolerance: float = comparing.TOLERANCE) -> runs.RunOptions:
    if set is not None and not isinstance(set, Mapping):
        raise TypeError("set is a mapping of parameter paths to values, e.g. {'flows.divert.fraction': 0.3}")
    overrides = [f"{k}={json.dumps(v, default=str)}" for k, v in (set or {}).items()]
    return runs.RunOptions(replicates, seed, overrides, Path("results"), trajectories, engine, max(1, workers),
                           comparing.Settings(tolerance))


def _load(source: Any, opts: runs.RunOptions, observations: Any = None, quiet: bool = False) -> runs.Loaded:
    """A loaded scenario keeps the overrides it was loaded with; new options apply on top of them."""
    obs = Path(observations) if observations is not None else None
    if isinstance(source, runs.Loaded):
        if not opts.overrides and opts.replicates is None and opts.seed is None and obs is None:
            return source
        opts = replace(opts, overrides=[*source.overrides, *opts.overrides])
        obs = obs if obs is not None else source.observations_file
        source = source.path
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"a scenario is a path or what flowsim.load returned, not {type(source).__name__}")
    return runs.load(Path(os.path.expanduser(source)), opts, obs, quiet=quiet)


def _load_all(scenarios: Sequence[Any], opts: runs.RunOptions, observations: Any = None,
              paired: bool = False) -> list[runs.Loaded]:
    """Several scenarios, each with its own overrides; with `paired`, the later ones run with the first's seed."""
    if not scenarios:
        raise TypeError("give at least one scenario")
    loaded = [_load(s, opts, observations) for s in scenarios]
    if paired:
        if len(loaded) < 2:
            raise TypeError("paired needs two or more scenarios")
        ref = loaded[0]
        for item in loaded[1:]:
            pairing.check(ref.path, ref.scenario, item.path, item.scenario)
        loaded = [ref, *(_load(item, replace(opts, seed=ref.scenario.seed), observations, quiet=True)
                         for item in loaded[1:])]
    runs.check_names(loaded, opts)
    return loaded


def _params(params: Sequence[str] | str) -> list[str]:
    return [params] if isinstance(params, str) else list(params)


def run(scenario: Any, *, replicates: int | None = None, seed: int | None = None, engine: str = defaults.ENGINE,
        workers: int = 1, trajectories: bool = False, set: Mapping[str, Any] | None = None,
        observations: str | os.PathLike[str] | None = None, tolerance: float = comparing.TOLERANCE) -> Results:
    """Simulate a scenario (a path or a `load`ed one): summary, flows, parameters, comparison (and trajectories)."""
    opts = _options(set=set, replicates=replicates, seed=seed, engine=engine, workers=workers,
                    trajectories=trajectories, tolerance=tolerance)
    return runs.simulate_item(_load(scenario, opts, observations), opts)


def compare(*scenarios: Any, observations: str | os.PathLike[str] | None = None,
            tolerance: float = comparing.TOLERANCE, paired: bool = False, replicates: int | None = None,
            seed: int | None = None, workers: int = 1, engine: str = defaults.ENGINE) -> list[Results]:
    """Run scenarios against their reported figures; with `paired`, each later one gets `differences` against the first.

    Each Results has `.comparison` (per observation) and `.meta["comparison"]` (the score).
    """
    opts = _options(replicates=replicates, seed=seed, workers=workers, tolerance=tolerance, engine=engine)
    loaded = _load_all(scenarios, opts, observations, paired)
    out = [runs.simulate_item(item, opts) for item in loaded]
    if paired:
        for res in out[1:]:
            diff = pairing.differences(out[0].extra["simulation"], res.extra["simulation"])
            res.tables["differences"] = pairing.to_table(diff)
    return out


def sweep(scenario: Any, params: Sequence[str] = (), *, method: str | None = None, samples: int | None = None,
          replicates: int | None = None, seed: int | None = None, workers: int = 1, scheduler: str | None = None,
          set: Mapping[str, Any] | None = None, tolerance: float = comparing.TOLERANCE,
          chunks: str | os.PathLike[str] | None = None, engine: str = defaults.ENGINE) -> Results:
    """A parameter sweep (`params` as on the command line: "PATH=lo:hi:n", "PATH=v1,v2", "PATH=lo:hi").

    Finished chunks go to `chunks` (a folder; default a temporary one removed afterwards).
    """
    opts = _options(set=set, replicates=replicates, seed=seed, workers=workers, tolerance=tolerance, engine=engine)
    item = _load(scenario, opts)
    req = runs.SweepRequest(_params(params), method, samples, scheduler, resume=False)
    job = runs.plan_sweep(item, opts, req)
    with _scratch(chunks) as folder:
        opts.out = folder
        done = runs.run_sweep(item, opts, req, job, write=False)
    if done.failed:
        raise RuntimeError(f"{len(done.failed)} sweep points failed; see {done.errors[:3]}")
    return done.results


def calibrate(*scenarios: Any, params: Sequence[str], draws: int = 20_000, particles: int = 1000,
              replicates: int = 4, seed: int | None = None, workers: int = 1,
              tolerance: float = comparing.TOLERANCE, observations: str | os.PathLike[str] | None = None,
              chunks: str | os.PathLike[str] | None = None, engine: str = defaults.ENGINE) -> list[Results]:
    """The posterior of `params` ("PATH=lo:hi" uniform priors; "NAME/PATH=lo:hi" for one scenario) per scenario.

    Each Results has `.posterior` (one row per particle, with `weight`), the
    file `calibrated.yaml`, and `.meta["calibration"]` (ESS, log evidence and its
    Monte Carlo error, the stages). With several scenarios, `.meta["model_probability"]`
    is each one's posterior probability (equal prior odds) and its Monte Carlo error.
    """
    opts = _options(seed=seed, workers=workers, tolerance=tolerance, engine=engine)
    calibration.check_budget(draws, particles, replicates)
    loaded = _load_all(scenarios, opts, observations)
    several = len(loaded) > 1
    if several:
        runs.check_same_observations(loaded)
    out = []
    with _scratch(chunks) as folder:
        for item in loaded:
            job = runs.plan_calibration(item, opts, _params(params), replicates, only_known=several)
            t0 = time.perf_counter()
            cal = calibration.run(job, folder / item.scenario.name, particles=particles, draws=draws,
                                  workers=workers)
            meta = runs.metadata(item, opts, time.perf_counter() - t0, None)
            for text in cal.warnings():
                logs.logger.warning("%s: %s", item.scenario.name, text)
            out.append(calibration.to_results(item, opts, cal, particles, draws, replicates, meta))
    if several:
        probs = calibration.model_probabilities([r.meta["calibration"]["log_evidence"] for r in out],
                                                [r.meta["calibration"]["log_evidence_se"] for r in out])
        for res, (p, se) in zip(out, probs, strict=True):
            res.meta["model_probability"] = {"probability": p, "se": se}
    return out


def sensitivity(scenario: Any, params: Sequence[str], *, samples: int = 256, replicates: int = 20,
                outputs: Sequence[str] = (), seed: int | None = None, workers: int = 1,
                chunks: str | os.PathLike[str] | None = None, engine: str = defaults.ENGINE) -> Results:
    """Sobol indices (S1, ST with 95% intervals, noise floor) of the expected output; `.frame("sensitivity")`."""
    opts = _options(seed=seed, workers=workers, engine=engine)
    item = _load(scenario, opts)
    job, outs = runs.plan_sensitivity(item, opts, _params(params), samples, replicates, list(outputs))
    with _scratch(chunks) as folder:
        opts.out = folder
        outcome, _, wall = runs.execute_job(item, opts, job, "sensitivity", None, False, lambda n: None)
        if outcome.failures:
            raise RuntimeError(f"{len(outcome.failures)} sensitivity chunks failed: {outcome.failures}")
    rows = sens.analyse(job, outcome, outs, item.scenario.seed)
    for note in sens.noise_notes(rows):
        logs.note(note)
    return sens.to_results(item, runs.metadata(item, opts, wall, None), job, rows, samples, replicates, outs)


class _scratch:
    """A folder for chunk files: the given one, or a temporary one removed afterwards."""

    def __init__(self, given: str | os.PathLike[str] | None) -> None:
        self.given = Path(given) if given is not None else None
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self.given is not None:
            return self.given
        self.tmp = tempfile.TemporaryDirectory(prefix="flowsim-")
        return Path(self.tmp.name)

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
