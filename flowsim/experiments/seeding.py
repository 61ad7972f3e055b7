"""Seeding: every random stream flowsim uses, derived from the scenario seed and fixed keys only.

Streams never depend on how many processes, threads or Dask workers ran the
work, so the same scenario and seed give the same results whatever the
parallelism. Changing any constant here changes results.
"""

from __future__ import annotations

import numpy as np

BLOCK = 2048
"""Replicates per block of a run (one point): block b of point p is keyed (p, b)."""
DESIGN_STREAM = 7_000_001
"""A sweep design's own random numbers (random, lhs and sobol points)."""
SWEEP_STREAM = 7_000_002
"""Chunk c of a sweep, calibration round or sensitivity sample: keyed (SWEEP_STREAM, c)."""
SMC_STREAM = 7_000_003
"""The calibration sampler's own random numbers (resampling, proposals), per island."""
ROUND_STREAM = 7_000_004
"""The seed of each calibration round's simulations."""


def generator(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def block_rng(seed: int, point: int, block: int) -> np.random.Generator:
    return generator(seed, point, block)


def chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    return generator(seed, SWEEP_STREAM, chunk)


def round_seed(seed: int, rnd: int) -> int:
    state = np.random.SeedSequence(seed, spawn_key=(ROUND_STREAM, rnd)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))
