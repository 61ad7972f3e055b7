"""Sobol indices of the expected output, not of replicate noise: a dummy parameter gets ST ~ 0.

Every check is a bound of 4 standard errors, from a stated formula or the reported
bootstrap interval: about 6e-5 false failures each under a normal approximation,
under 1e-3 for the file. No bound was tuned to the measured values.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np

from flowsim.experiments.sensitivity import indices

from .conftest import scenario_dict, write

Z = 4.0  # two-sided 6e-5 false-failure rate per check
DAYS, ATT, N0, REPS, SAMPLES = 100, 0.02, 100, 10, 256
LO, HI = 9.0, 11.0  # flows.rb.rate: b's recruitment, the parameter that matters


def two_islands(tmp_path: Path) -> Path:
    """Regions a and b, not connected: a's recruitment (the dummy) cannot change b."""
    data = scenario_dict(DAYS, regions={"a": {"initial": N0}, "b": {"initial": N0}}, flows=[
        {"name": "ra", "kind": "recruitment", "to": "a", "rate": 10},
        {"name": "da", "kind": "attrition", "region": "a", "rate": ATT},
        {"name": "rb", "kind": "recruitment", "to": "b", "rate": 10},
        {"name": "db", "kind": "attrition", "region": "b", "rate": ATT}])
    return write(tmp_path, data)


def test_dummy_parameter_has_no_total_index(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """b at the end, with rb.rate ~ U(9, 11) and the dummy ra.rate ~ U(5, 15), 10 replicates.

    Known answer: b_end = binomial survivors of N0 (p = e^{-ATT DAYS}) plus Poisson
    survivors of recruitment, so E = N0 p + rate/ATT (1-p), the model variance
    is ((HI-LO)/ATT (1-p))^2 / 12 and a replicate's variance N0 p(1-p) + rate/ATT (1-p):
    the mean of 10 replicates carries noise = 6.7% of the output variance, which
    the uncorrected total index of the dummy showed as ST ~ 0.07.
    """
    from SALib.analyze import sobol as sobol_analyze

    result = cli("sensitivity", two_islands(tmp_path), "--param", f"flows.rb.rate={LO:g}:{HI:g}",
                 "--param", "flows.ra.rate=5:15", "--samples", str(SAMPLES), "-n", str(REPS),
                 "--output", "b@2015-04-11", "--keep-chunks", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "noise" in result.output
    with open(tmp_path / "test/sensitivity.csv", newline="") as fh:
        rows = {r["parameter"]: r for r in csv.DictReader(fh)}
    real, dummy = rows["flows.rb.rate"], rows["flows.ra.rate"]
    floor = float(dummy["noise_floor"])
    assert floor == float(real["noise_floor"])  # one number per output and date

    # The noise floor against the known answer. Its relative standard error comes from
    # the estimated replicate variances (512 points of 9 degrees of freedom), the
    # model-noise cross term in the sampled V_Y and the noise's own sampled variance.
    p = math.exp(-ATT * DAYS)
    var_model = ((HI - LO) / ATT * (1 - p)) ** 2 / 12
    noise = (N0 * p * (1 - p) + (LO + HI) / 2 / ATT * (1 - p)) / REPS
    phi = noise / (var_model + noise)  # 0.067
    rel_se = math.sqrt((2 / (REPS - 1) + 4 * phi * (1 - phi) + 2 * phi**2) / (2 * SAMPLES))  # 3%
    assert abs(floor / phi - 1) <= Z * rel_se, (floor, phi)

    # The dummy: ST of the expected output is 0. Each of the N rows adds
    # (e_A - e_AB)^2 - (s_A^2 + s_AB^2)/R, of variance (8 + 4/(R-1)) nu^2 for normal
    # noise of variance nu, and ST is half their mean over V_Y: standard error
    # sqrt(8 + 4/9) / 2 x phi / sqrt(N) = 0.006, so 4 of them = 0.024, a third of the
    # uncorrected index. The bootstrap error reported beside it is checked too.
    se_known = math.sqrt(8 + 4 / (REPS - 1)) / 2 * phi / math.sqrt(SAMPLES)
    st, se = float(dummy["ST"]), float(dummy["ST_conf"]) / 1.96
    assert abs(st) <= Z * se_known, (st, se_known)
    assert abs(st) <= Z * se, (st, se)
    s1, s1_se = float(dummy["S1"]), float(dummy["S1_conf"]) / 1.96
    assert abs(s1) <= Z * s1_se, (s1, s1_se)

    # The parameter that matters: b depends on it alone, so S1 = ST = 1.
    for key in ("S1", "ST"):
        value, err = float(real[key]), float(real[f"{key}_conf"]) / 1.96
        assert abs(value - 1) <= Z * err, (key, value, err)

    # The uncorrected way (SALib on the replicate means, as before) on the very same
    # runs: the dummy's ST sits about one noise floor above 0 and fails the check
    # above. The gap differs from the floor by the difference of the noise estimates
    # on the AB and B rows (sqrt(2 x 2/9/256) / 2 = 2% of the floor) and by floor x ST.
    means = np.concatenate([np.load(f)["means"] for f in sorted(tmp_path.glob("test/sensitivity-chunks/*/*.npz"))])
    problem = {"num_vars": 2, "names": ["rb", "ra"], "bounds": [[LO, HI], [5, 15]]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = sobol_analyze.analyze(problem, means[:, -1, 1], calc_second_order=False, seed=1)
    raw_st = float(raw["ST"][1])
    assert raw_st > Z * se_known, (raw_st, se_known)
    gap_se = math.hypot(math.sqrt(4 / (REPS - 1) / SAMPLES) / 2 * floor, floor * se_known)
    assert abs(raw_st - st - floor) <= Z * gap_se, (raw_st, st, floor)


def test_indices_match_salib_without_noise_and_remove_known_noise() -> None:
    """`indices` with zero noise is SALib's analysis; with noise of known variance it takes it out."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": 3, "names": ["x", "y", "dummy"], "bounds": [[0, 1]] * 3}
    x = sobol_sample.sample(problem, 512, calc_second_order=False, seed=2)
    f = x[:, 0] + 0.5 * x[:, 1] ** 2  # dummy unused; S1 = ST (additive)
    ref = sobol_analyze.analyze(problem, f, calc_second_order=False, seed=3)
    mine = indices(f, np.zeros_like(f), 3, 3)
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_allclose(getattr(mine, key), ref[key], rtol=1e-12, atol=1e-14)
    assert mine.noise_floor == 0

    rng = np.random.default_rng(4)
    reps, sigma2 = 10, 0.5 * f.var()  # a replicate's noise; the mean of 10 carries 5%
    draws = f[:, None] + rng.normal(0, math.sqrt(sigma2), size=(len(f), reps))
    y, v = draws.mean(axis=1), draws.var(axis=1, ddof=1) / reps
    got, before = indices(y, v, 3, 3), indices(y, np.zeros_like(y), 3, 3)
    ab_rows = np.r_[f[0::5], f[4::5]]  # the A and B blocks: V_Y is their variance
    phi = sigma2 / reps / (ab_rows.var() + sigma2 / reps)
    rel_se = math.sqrt((2 / (reps - 1) + 4 * phi * (1 - phi) + 2 * phi**2) / len(ab_rows))  # as in the test above
    assert abs(got.noise_floor / phi - 1) <= Z * rel_se, (got.noise_floor, phi)
    se = got.ST_conf[2] / 1.96
    assert abs(got.ST[2]) <= Z * se, (got.ST[2], se)
    assert before.ST[2] > Z * se  # uncorrected: the dummy's ST is the noise floor
    var_x, var_y = 1 / 12, 0.25 * (1 / 5 - 1 / 9)  # Var(x), Var(0.5 y^2) for uniform x, y
    for i, share in enumerate((var_x / (var_x + var_y), var_y / (var_x + var_y))):
        for key in ("S1", "ST"):
            value, err = getattr(got, key)[i], getattr(got, f"{key}_conf")[i] / 1.96
            assert abs(value - share) <= Z * err, (key, i, value, share, err)


def test_sensitivity_needs_two_replicates(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sensitivity", two_islands(tmp_path), "--param", "flows.rb.rate=9:11", "-n", "1",
                 "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--replicates: value '1': must be >= 2" in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()
