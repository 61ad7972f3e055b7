"""A job: a scenario's points x replicates as lanes, cut into chunks with their own random streams.

Every command that simulates is one job run by `executor.execute`: a run is
one point cut into blocks of replicates ("blocks" layout, streams keyed by
(point, block)); a sweep, a calibration round or a Sobol sample is many points
cut into chunks of whole points ("points" layout, streams keyed by the chunk).
What a chunk returns depends on `mode` (see `chunks.run_chunk`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np

from flowsim import __version__
from flowsim.experiments import seeding
from flowsim.experiments.design import Design
from flowsim.model.scenario import Observation, Scenario
from flowsim.outputs.compare import Settings

CHUNK_LANES = 8192
Mode = Literal["full", "scores", "means", "lanes"]


@dataclass(frozen=True)
class Chunk:
    points: range
    replicates: range

    @property
    def lanes(self) -> int:
        return len(self.points) * len(self.replicates)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to simulate any chunk (picklable)."""

    scenario: Scenario
    design: Design
    replicates: int
    seed: int
    days: np.ndarray
    observations: list[Observation]
    comparison: Settings
    mode: Mode = "full"
    """full: every table of a sweep; scores: each point's likelihood estimate (calibration);
    means: each point's mean and variance per record day and region (sensitivity);
    lanes: every lane's path (a run, reduced by the caller)."""
    chunk_lanes: int = CHUNK_LANES
    engine: str = "step"
    layout: Literal["points", "blocks"] = "points"

    @property
    def per_chunk(self) -> int:
        return max(1, self.chunk_lanes // self.replicates)

    @property
    def n_points(self) -> int:
        return len(self.design.points)

    def chunks(self) -> list[range]:
        """The points of each chunk ("points" layout)."""
        n, k = self.n_points, self.per_chunk
        return [range(i, min(i + k, n)) for i in range(0, n, k)]

    def blocks(self) -> list[Chunk]:
        """Every chunk with its points and replicates, in the order of its index."""
        if self.layout == "points":
            return [Chunk(r, range(self.replicates)) for r in self.chunks()]
        return [Chunk(range(p, p + 1), range(start, min(start + seeding.BLOCK, self.replicates)))
                for p in range(self.n_points) for start in range(0, self.replicates, seeding.BLOCK)]

    def rng(self, index: int) -> np.random.Generator:
        """The random stream of chunk `index`: fixed by the seed and the chunk's key alone."""
        if self.layout == "points":
            return seeding.chunk_rng(self.seed, index)
        chunk = self.blocks()[index]
        return seeding.block_rng(self.seed, chunk.points.start, chunk.replicates.start // seeding.BLOCK)

    def work(self, index: int) -> int:
        """Progress units of chunk `index`: points, or lane-days for a run."""
        chunk = self.blocks()[index]
        return chunk.lanes * self.scenario.days if self.mode == "lanes" else len(chunk.points)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (__version__, self.mode, self.scenario.model_dump_json(by_alias=True), self.design.method,
                     json.dumps(self.design.names), self.replicates, self.seed, self.chunk_lanes, seeding.BLOCK,
                     json.dumps([o.model_dump(mode="json") for o in self.observations]),
                     repr(self.comparison), self.engine, self.layout):
            h.update(str(part).encode())
        h.update(self.design.points.tobytes())
        h.update(self.days.tobytes())
        return h.hexdigest()[:16]
