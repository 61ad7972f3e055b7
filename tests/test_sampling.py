"""The engine's fast Poisson sampler against exact pmfs (chi-square tests).

Each test pools the expected counts into cells of at least 20 and compares with
a chi-square distribution; it fails below p = 1e-5, its false-failure rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from flowsim.engines import poisson as sampling

ALPHA = 1e-5


def chi_square_p(x: np.ndarray, pmf: np.ndarray) -> float:
    counts = np.bincount(x, minlength=pmf.size)[: pmf.size]
    expected = pmf * x.size
    assert counts.sum() >= x.size - expected.sum() * 1e-6 - 1
    cells, obs, exp = [], 0.0, 0.0
    for o, e in zip(counts, expected, strict=True):
        obs, exp = obs + o, exp + e
        if exp >= 20:
            cells.append((obs, exp))
            obs, exp = 0.0, 0.0
    if cells and exp:
        cells[-1] = (cells[-1][0] + obs, cells[-1][1] + exp)
    o_arr, e_arr = np.array(cells).T
    chi = float(((o_arr - e_arr) ** 2 / e_arr).sum())
    return float(stats.chi2.sf(chi, len(cells) - 1))


@pytest.mark.parametrize("lam", [0.2, 3.0, 17.0, 60.0, 900.0])
def test_poisson_table(lam: float) -> None:
    rng = np.random.default_rng(11)
    x = sampling.Poisson(np.full(200_000, lam)).draw(rng)
    k = np.arange(int(lam + 20 * np.sqrt(lam) + 30))
    assert chi_square_p(x, stats.poisson.pmf(k, lam)) > ALPHA


def test_poisson_varying_rates_fall_back() -> None:
    rng = np.random.default_rng(3)
    lam = np.repeat([2.0, 40.0], 50_000)
    x = sampling.Poisson(lam).draw(rng)
    assert abs(x[:50_000].mean() - 2) < 4 * np.sqrt(2 / 50_000)
    assert abs(x[50_000:].mean() - 40) < 4 * np.sqrt(40 / 50_000)


@pytest.mark.parametrize("lam", [0.01, 0.3, 0.9])
def test_poisson_small_varying_rates(lam: float) -> None:
    """Lane-varying small rates take the inverse-CDF walk; half the lanes at lam, half at lam/2."""
    rng = np.random.default_rng(5)
    rates = np.repeat([lam, lam / 2], 100_000)
    x = sampling.Poisson(rates).draw(rng)
    assert sampling.Poisson(rates).small
    for half, rate in ((x[:100_000], lam), (x[100_000:], lam / 2)):
        k = np.arange(30)
        assert chi_square_p(half, stats.poisson.pmf(k, rate)) > ALPHA
