"""Calibration: the posterior of chosen parameters given the reported figures, and model comparison.

The sampler is `experiments/smc.py` (pseudo-marginal SMC with adaptive tempering); this
module feeds it flowsim simulations and turns its particles into files.
Each SMC round is one lanes job on the sweep machinery (chunks of parameter
sets x replicates, in a pool or on Dask, kept on disk for `--resume`), seeded
from the scenario seed and the round number only, so results are identical
whatever the number of workers.

Why not pyabc or ELFI: both call the simulator once per parameter set (or wrap
a batch in their own scheduler and database), while flowsim's cost is
simulation and it simulates thousands of sets at once as numpy lanes in
deterministic, resumable chunks; and both are built around ABC distances,
whereas flowsim has an explicit likelihood (`model/obsmodel.py`) whose unbiased
estimate gives an exact posterior without a tolerance.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from flowsim.experiments import design, executor, seeding, smc
from flowsim.experiments.chunkstore import ChunkStore, drop_all
from flowsim.experiments.job import Job
from flowsim.model import parameters as paths
from flowsim.model.distributions import Distribution
from flowsim.model.errors import InputError, Origin
from flowsim.model.scenario import Scenario
from flowsim.outputs.results import Results

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_LANES = 1024
"""Lanes per chunk of a calibration round: small enough that a round of 1,000 particles is several chunks."""
ISLANDS = 4
MIN_ESS = 200
MIN_PARTICLES = 100
POSTERIOR_FILE = "posterior.csv"


@dataclass
class Calibration:
    """Particles of the posterior with their weights, and the evidence of the scenario."""

    design: design.Design  # the prior box (its points are the box's corners)
    result: smc.Result

    @property
    def names(self) -> list[str]:
        return self.design.names

    def summary(self) -> list[tuple[str, float, float, float, float, float]]:
        """(path, prior low, prior high, median, 5%, 95%) for each parameter, from the weighted particles."""
        w = self.result.weights
        out = []
        for i, axis in enumerate(self.design.axes):
            lo, hi = axis.bounds
            p05, p50, p95 = weighted_quantiles(self.result.points[:, i], w, [0.05, 0.5, 0.95])
            out.append((axis.path, lo, hi, p50, p05, p95))
        return out


    def correlations(self) -> list[tuple[str, str, float]]:
        """Weighted posterior correlation of each pair of parameters (a ridge shows what the data cannot split)."""
        pts, w = self.result.points, self.result.weights
        mean = w @ pts
        cov = (pts - mean).T @ ((pts - mean) * w[:, None])
        sd = np.sqrt(np.diag(cov))
        names = self.names
        return [(names[i], names[j], float(cov[i, j] / (sd[i] * sd[j])) if sd[i] * sd[j] > 0 else 0.0)
                for i in range(len(names)) for j in range(i + 1, len(names))]


    def warnings(self) -> list[str]:
        """What makes this posterior or its evidence unreliable, in words (empty when nothing does)."""
        r = self.result
        out = []
        if r.ess < MIN_ESS:
            out.append(f"the effective sample size ({r.ess:.0f}) is below {MIN_ESS}; the intervals are rough: "
                       "use more particles and draws")
        if r.log_evidence_se > 0.5:
            out.append(f"the independent SMC islands disagree about the marginal likelihood (± "
                       f"{r.log_evidence_se:.2f}, and with one island dominating this error is itself "
                       "underestimated); the evidence and any model probabilities are unreliable: the reports "
                       "may be out of reach of the priors, or more particles are needed")
        if r.forced:
            out.append("the draws budget ran out before the sampler reached the posterior; the last step jumped "
                       "there at once, so the posterior is poorly explored: use more draws")
        return out


def check_budget(draws: int, particles: int, replicates: int) -> None:
    """Sizes the sampler needs: enough particles per island, a budget for more than the first round."""
    if particles < MIN_PARTICLES:
        raise InputError(Origin("particles"), "particles", particles, f"must be at least {MIN_PARTICLES}")
    if replicates < 1:
        raise InputError(Origin("replicates"), "replicates", replicates, "must be at least 1")
    if draws < 2 * particles:
        raise InputError(Origin("draws"), "draws", draws, f"must be at least twice the particles ({particles}): "
                         "the first round alone simulates every particle")


def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: list[float]) -> list[float]:
    """The smallest x whose weighted CDF reaches each q (the inverse CDF of the weighted sample)."""
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    cum /= cum[-1]
    return [float(x[order][min(int(np.searchsorted(cum, q)), len(x) - 1)]) for q in qs]


def prior_design(axes: list[design.Axis]) -> design.Design:
    low = [a.bounds[0] for a in axes]
    high = [a.bounds[1] for a in axes]
    return design.Design("random", tuple(axes), np.array([low, high], dtype=float))




def chunk_root(folder: Path) -> Path:
    return folder / "calibration-chunks"


def run(base: Job, folder: Path, *, particles: int, draws: int, workers: int = 1,
        scheduler: str | None = None, resume: bool = False, islands: int = ISLANDS,
        advance: Callable[[int], None] = lambda n: None) -> Calibration:
    """Calibrate the parameters of `base.design` (a prior box) with `draws` simulated parameter sets in all."""
    if not resume:
        drop_all(chunk_root(folder))  # ours only, never through a link, not while another job runs
    low, high = base.design.points[0], base.design.points[1]

    def simulate(points: np.ndarray, rnd: int) -> np.ndarray:
        job = Job(base.scenario, design.Design("random", base.design.axes, points), base.replicates,
                        seeding.round_seed(base.seed, rnd), base.days, base.observations, base.comparison,
                        mode="scores", chunk_lanes=CHUNK_LANES, engine=base.engine)
        store = ChunkStore(folder, job.fingerprint(), root=chunk_root(folder) / f"round-{rnd:04d}")
        outcome = executor.execute(job, store, workers=workers, scheduler=scheduler, resume=resume, advance=advance)
        if outcome.failures:
            errors = [str(store.error_path(i)) for i in sorted(outcome.failures)]
            raise Failed(errors)
        plan = job.chunks()
        ll = np.empty(job.n_points)
        for i, chunk in outcome.chunks.items():
            ll[plan[i].start:plan[i].stop] = chunk["loglik"]
        return ll

    with executor.shared_pool(workers if scheduler is None else 1):  # workers start once, not every round
        result = smc.run(low, high, particles, draws, min(islands, particles), base.seed, simulate)
    return Calibration(base.design, result)


class Failed(Exception):
    """Some chunks of a calibration round raised; the posterior would be wrong without them."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def finish(folder: Path) -> None:
    """Drop the round chunks once the posterior is written (they only serve --resume)."""
    drop_all(chunk_root(folder))


def model_probabilities(log_evidence: list[float], se: list[float]) -> list[tuple[float, float]]:
    """Posterior probability of each model (equal prior odds) and its Monte Carlo error (delta method)."""
    z = np.asarray(log_evidence, dtype=float)
    s = np.asarray(se, dtype=float)
    p = np.exp(z - np.max(z))
    p /= p.sum()
    out = []
    for j in range(len(p)):
        # dP_j/dlogZ_k = P_j (1[j=k] - P_k)
        grad = -p[j] * p
        grad[j] += p[j]
        out.append((float(p[j]), float(math.sqrt(float(np.sum((grad * s) ** 2))))))
    return out


def calibrated_yaml(source: Path, s: Scenario, overrides: list[str], cal: Calibration, out_dir: Path,
                    observations: Path | None = None) -> str:
    """The scenario file with the calibrated numbers drawn jointly from posterior.csv, comments kept."""
    yaml = YAML(typ="rt")
    yaml.width = 4096  # keep each flow on its line, as written
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(source.read_text(encoding="utf-8"))
    for text in overrides:
        key, _, raw = text.partition("=")
        paths.put(doc, key.strip(), YAML(typ="safe").load(raw))
    _repoint_posteriors(doc, source.parent, out_dir)
    medians = []
    for i, axis in enumerate(cal.design.axes):
        base, index = design.split_path(s, axis.path)
        if index is None:
            ref = CommentedMap({"file": POSTERIOR_FILE, "column": axis.path})
            ref.fa.set_flow_style()
            node = CommentedMap({"posterior": ref})
            node.fa.set_flow_style()
            paths.put(doc, base, node)
        else:
            dist = s.parameters()[base]
            assert isinstance(dist, Distribution)
            args = list(dist.args)
            args[index] = float(f"{weighted_quantiles(cal.result.points[:, i], cal.result.weights, [0.5])[0]:.6g}")
            seq = CommentedSeq(args)
            seq.fa.set_flow_style()
            node = CommentedMap({dist.kind: seq})
            node.fa.set_flow_style()
            paths.put(doc, base, node)
            medians.append(axis.path)
    doc["name"] = f"{s.name}-calibrated"
    doc["seed"] = s.seed
    if observations is not None:
        doc["observations"] = os.path.relpath(observations, out_dir)
    elif isinstance(s.observations, str):
        doc["observations"] = os.path.relpath(source.parent / s.observations, out_dir)
    lines = [f"Calibrated by flowsim from {source.name}: posterior of {len(cal.result.points)} SMC particles "
             f"(ESS {cal.result.ess:.0f})."]
    if len(medians) < len(cal.design.axes):
        lines += ["Each replicate draws one row of posterior.csv (by its weight) and takes every calibrated",
                  "number from that row, so the joint posterior (correlations included) is kept."]
    if medians:
        lines.append(f"Distribution arguments set to their posterior median (not drawn jointly): {', '.join(medians)}.")
    doc.yaml_set_start_comment("\n".join(lines))
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def _repoint_posteriors(node: Any, base: Path, out_dir: Path) -> None:
    """Posterior and table files the source scenario already names, made relative to the new file's folder."""
    if isinstance(node, dict):
        ref = node.get("posterior")
        if isinstance(ref, dict) and isinstance(ref.get("file"), str):
            ref["file"] = os.path.relpath((base / ref["file"]).resolve(), out_dir.resolve())
        if isinstance(node.get("table"), str):
            node["table"] = os.path.relpath((base / node["table"].strip()).resolve(), out_dir.resolve())
        for value in node.values():
            _repoint_posteriors(value, base, out_dir)
    elif isinstance(node, list):
        for value in node:
            _repoint_posteriors(value, base, out_dir)


def posterior_table(cal: Calibration) -> pa.Table:
    """posterior.csv: one row per particle, a column per parameter path, its log-likelihood estimate and weight."""
    import pyarrow as pa

    r = cal.result
    cols: dict[str, Any] = {"sample": np.arange(len(r.points), dtype=np.int64), "island": r.island_of.astype(np.int64)}
    for i, name in enumerate(cal.names):
        cols[name] = r.points[:, i].astype(float)
    cols["loglik"] = np.round(r.loglik, 6) + 0.0
    cols["weight"] = r.weights.astype(float)
    return pa.table(cols)


def to_results(item: Any, opts: Any, cal: Calibration, particles: int, draws: int, replicates: int,
               meta: dict[str, Any]) -> Results:
    """The calibration as Results: the posterior table, calibrated.yaml, and calibration.json."""
    s = item.scenario
    meta = dict(meta)
    meta["calibration"] = metadata(cal, particles, draws, replicates)
    text = calibrated_yaml(item.path, s, opts.overrides, cal, item.folder(opts.out), None)
    return Results(s.name, {"posterior": posterior_table(cal)}, meta, s.start,
                   files={"calibrated.yaml": text.encode("utf-8")},
                   extra={"meta_file": "calibration.json", "always_csv": ("posterior",), "calibration": cal})


def metadata(cal: Calibration, particles: int, draws: int, replicates: int) -> dict[str, Any]:
    r = cal.result
    return {
        "method": "pseudo-marginal SMC, adaptive tempering, random-walk moves",
        "draws_budget": draws, "simulated": r.simulated, "particles": particles, "islands": len(r.islands),
        "replicates_per_draw": replicates, "ess": round(r.ess, 1),
        "log_evidence": round(r.log_evidence, 6), "log_evidence_se": round(r.log_evidence_se, 6),
        "budget_ran_out": r.forced,
        "priors": {a.path: list(a.bounds) for a in cal.design.axes},
        "posterior": [{"parameter": p, "median": m, "p05": a, "p95": b}
                      for p, _, _, m, a, b in cal.summary()],
        "stages": [[{"beta": round(st.beta, 6), "ess": round(st.ess, 1), "acceptance": round(st.acceptance, 3),
                     "moves": st.moves} for st in i.stages] for i in r.islands],
    }
