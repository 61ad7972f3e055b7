"""Calibration to reported figures by approximate Bayesian computation (rejection).

Why our own vectorised rejection rather than pyabc: the expensive part is
simulating draws, and the sweep machinery already runs many parameter sets as
numpy lanes in chunks, in parallel, resumably and deterministically; pyabc
would run one simulation per call. The distance of a draw is minus the
comparison score (the soft-interval log-likelihood of `compare.py`): 0 when every
replicate is inside every reported range, so ranges are treated as ranges.
The draws with the smallest distances (a share `accept`) form the posterior.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import design, paths, results, sweep
from .distributions import Distribution
from .errors import InputError, Origin
from .scenario import Scenario

MAX_CHOICES = 200


@dataclass
class Posterior:
    design: design.Design
    distance: np.ndarray  # (draws,) inf where the draw failed
    accepted: np.ndarray  # indices of accepted draws, best first

    @property
    def names(self) -> list[str]:
        return self.design.names

    def values(self) -> np.ndarray:
        return self.design.points[self.accepted]

    def summary(self) -> list[tuple[str, float, float, float, float, float]]:
        """(path, prior low, prior high, median, 5%, 95%) for each parameter."""
        out = []
        vals = self.values()
        for i, axis in enumerate(self.design.axes):
            lo, hi = axis.bounds
            p05, p50, p95 = np.percentile(vals[:, i], [5, 50, 95])
            out.append((axis.path, lo, hi, float(p50), float(p05), float(p95)))
        return out


def posterior(job: sweep.Job, outcome: sweep.Outcome, accept: float) -> Posterior:
    distance = np.full(job.n_points, np.inf)
    plan = job.chunks()
    for i, chunk in outcome.chunks.items():
        distance[plan[i].start:plan[i].stop] = -chunk["loglik"].sum(axis=1)
    ok = int(np.isfinite(distance).sum())
    if ok == 0:
        raise InputError(Origin(job.scenario.name), "draws", job.n_points,
                         "every draw failed, so there is no posterior; see the chunk errors and --resume")
    keep = max(1, math.ceil(accept * ok))
    order = np.argsort(distance, kind="stable")[:keep]
    return Posterior(job.design, distance, order)


def posterior_lines(post: Posterior) -> list[str]:
    head = ["rank", "draw", *post.names, "distance"]
    lines = [",".join(head)]
    for rank, d in enumerate(post.accepted):
        values = ",".join(repr(float(v)) for v in post.design.points[d])
        lines.append(f"{rank},{d},{values},{post.distance[d] + 0.0:.6f}")  # + 0.0: no "-0.000000"
    return lines


def marginal(values: np.ndarray) -> dict[str, list[float]]:
    """The accepted values of one parameter as a `choice` distribution (at most MAX_CHOICES quantiles)."""
    if values.size > MAX_CHOICES:
        values = np.quantile(values, (np.arange(MAX_CHOICES) + 0.5) / MAX_CHOICES)
    return {"choice": [float(f"{v:.6g}") for v in np.sort(values)]}


def calibrated_yaml(source: Path, s: Scenario, overrides: list[str], post: Posterior, out_dir: Path,
                    observations: Path | None = None) -> str:
    """The scenario file with each calibrated number replaced by its posterior, comments kept."""
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(source.read_text(encoding="utf-8"))
    for text in overrides:
        key, _, raw = text.partition("=")
        paths.put(doc, key.strip(), YAML(typ="safe").load(raw))
    vals = post.values()
    for i, axis in enumerate(post.design.axes):
        base, index = design.split_path(s, axis.path)
        if index is None:
            flow = CommentedMap(marginal(vals[:, i]))
            flow.fa.set_flow_style()
            flow["choice"] = CommentedSeq(flow["choice"])
            flow["choice"].fa.set_flow_style()
            paths.put(doc, base, flow)
        else:
            dist = s.parameters()[base]
            assert isinstance(dist, Distribution)
            args = list(dist.args)
            args[index] = float(f"{np.median(vals[:, i]):.6g}")
            seq = CommentedSeq(args)
            seq.fa.set_flow_style()
            node = CommentedMap({dist.kind: seq})
            node.fa.set_flow_style()
            paths.put(doc, base, node)
    doc["name"] = f"{s.name}-calibrated"
    doc["seed"] = s.seed
    if observations is not None:
        doc["observations"] = os.path.relpath(observations, out_dir)
    elif isinstance(s.observations, str):
        doc["observations"] = os.path.relpath(source.parent / s.observations, out_dir)
    doc.yaml_set_start_comment(
        f"Calibrated by flowsim on {dt.date.today().isoformat()} from {source.name}: "
        f"{len(post.accepted)} of {len(post.distance)} draws accepted.\n"
        "Calibrated numbers are `choice` distributions of their posterior quantiles (each drawn\n"
        "independently per replicate: correlations between parameters are not kept); a calibrated\n"
        "distribution argument is set to its posterior median. See posterior.csv for the joint draws.")
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def write(staged: results.Staged, source: Path, s: Scenario, overrides: list[str], post: Posterior,
          meta: dict[str, Any], observations: Path | None = None) -> None:
    staged.text("posterior.csv", "\n".join(posterior_lines(post)) + "\n")
    staged.text("calibrated.yaml", calibrated_yaml(source, s, overrides, post, staged.folder, observations))
    staged.json("calibration.json", meta)
