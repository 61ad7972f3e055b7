"""Statistics of records: exact percentiles by selection, the same whatever the slicing."""

from __future__ import annotations

import numpy as np
import pytest

from flowsim.outputs import records


def test_quantiles_are_numpys_percentiles() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 20, 1001):
        x = rng.poisson(30, (7, 2, n)).astype(float)
        expected = np.moveaxis(np.percentile(x, records.QUANTILES, axis=-1), 0, -1)
        np.testing.assert_array_equal(records.quantiles(x, records.QUANTILES), expected)


@pytest.mark.parametrize("slice_size", [1, 50, 10**9])
def test_statistics_do_not_depend_on_slicing(monkeypatch: pytest.MonkeyPatch, slice_size: int) -> None:
    rng = np.random.default_rng(1)
    pops = rng.poisson(100, (37, 3, 501))
    moved = np.cumsum(rng.poisson(5, (37, 4, 501)), axis=0)
    whole = records.population_stats(pops), records.moved_stats(moved)
    monkeypatch.setattr(records, "SLICE", slice_size)
    np.testing.assert_array_equal(records.population_stats(pops), whole[0])
    np.testing.assert_array_equal(records.moved_stats(moved), whole[1])
    assert whole[1].shape == (36, 4, 4)
