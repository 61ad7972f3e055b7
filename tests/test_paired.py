"""`flowsim compare --paired`: common random numbers, differences.csv, and how much pairing narrows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from flowsim.defaults import ENGINE
from flowsim.experiments import paired
from flowsim.experiments.executor import simulate
from flowsim.model.scenario import Scenario

from .conftest import scenario_dict, write

N0_MEAN, N0_SD = 2000.0, 400.0
MU_A, MU_B = 0.002, 0.005  # attrition per day; the only difference between A and B
DAYS = 100
REPLICATES = 2500  # more than one block of 2048, so --workers 2 really splits the run


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def attrition(name: str, mu: float, seed: int, **kw: Any) -> dict[str, Any]:
    """One region, an uncertain start N0 ~ normal(2000, 400), attrition at `mu` per day, nothing else."""
    return scenario_dict(DAYS, name=name, seed=seed, replicates=REPLICATES,
                         regions={"a": {"initial": {"normal": [N0_MEAN, N0_SD]}}},
                         flows=[{"name": "die", "kind": "attrition", "region": "a", "rate": mu}], **kw)


def test_paired_differences_are_right_and_much_narrower(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a_data, b_data = attrition("a_low", MU_A, seed=1), attrition("b_high", MU_B, seed=2)
    a_path, b_path = write(tmp_path, a_data, "a.yaml"), write(tmp_path, b_data, "b.yaml")
    # no observations in either scenario: allowed with --paired
    result = cli("compare", a_path, b_path, "--paired", "--out", tmp_path / "res", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "paired: b_high runs with a_low's seed 1" in result.stderr
    assert "b_high minus a_low" in result.stdout
    assert json.loads((tmp_path / "res/b_high/run.json").read_text())["seed"] == 1
    assert not (tmp_path / "res/a_low/differences.csv").exists()

    got = rows(tmp_path / "res/b_high/differences.csv")
    assert list(got[0]) == paired.COLUMNS
    assert [r["day"] for r in got] == [str(d) for d in range(0, DAYS + 1, 10)]
    assert {(r["scenario_a"], r["scenario_b"], r["region"]) for r in got} == {("a_low", "b_high", "a")}
    # day 0: both drew the same N0 per replicate, so every difference is exactly 0
    assert [got[0][k] for k in ("mean", "p05", "p50", "p95")] == ["0"] * 4
    last = got[-1]
    assert last["date"] == "2015-04-11"

    # the same run through the library, one worker: B with A's seed is what the CLI differenced
    sim_a = simulate(Scenario.model_validate(a_data), engine=ENGINE)  # the engine the CLI used
    sim_b = simulate(Scenario.model_validate(b_data), seed=1, engine=ENGINE)
    diff = paired.differences(sim_a, sim_b)
    d = diff.values[-1, 0]
    assert [float(last[k]) for k in ("mean", "p05", "p50", "p95")] == [round(float(x), 3) for x in diff.stats[-1, 0]]

    # Mean: on day t a person present at the start is still there with probability q = exp(-mu t), so
    # E[B - A] = E[N0] (q_B - q_A) (truncating normal(2000, 400) at 0 moves its mean by < 1e-3).
    q_a, q_b = math.exp(-MU_A * DAYS), math.exp(-MU_B * DAYS)
    expected = N0_MEAN * (q_b - q_a)  # about -424
    z = (float(last["mean"]) - expected) / (d.std(ddof=1) / math.sqrt(d.size))
    assert abs(z) < 4, (float(last["mean"]), expected, z)  # |z| >= 4 by chance: about 6e-5 of runs

    # Widths of the 5-95% interval of B - A: paired (from the file) and independent (B with another seed).
    paired_width = float(last["p95"]) - float(last["p05"])
    sim_b_other = simulate(Scenario.model_validate(b_data), seed=12345)
    independent = sim_b_other.populations[-1, 0] - sim_a.populations[-1, 0]
    p05, p95 = np.percentile(independent, [5, 95])
    independent_width = float(p95 - p05)
    # Why 1/3: given N0, each survivor count is Binomial(N0, q), so
    #   Var(independent) = Var(N0)(q_A^2 + q_B^2) + E[N0](q_A(1-q_A) + q_B(1-q_B)) = 160000*1.038 + 774 ≈ 408^2,
    #   Var(paired) <= Var(N0)(q_B - q_A)^2 + 774 = 160000*0.045 + 774 ≈ 89^2
    # (equality if the two survival draws were independent given N0; the shared uniforms of the binomial
    # draws only couple them positively, which makes it smaller). Both are close to normal, so the width
    # ratio is at most about 89/408 = 0.22; with 2500 replicates each width is known to about 2%, so 1/3 is
    # many standard errors away, and far from the ratio 1 of no pairing at all.
    assert paired_width < independent_width / 3, (paired_width, independent_width)
    # and the independent run is as wide as that formula says (the sd of 2500 draws is known to ~1.4%)
    assert 0.8 < np.std(independent, ddof=1) / math.sqrt(160000 * (q_a**2 + q_b**2) + 774) < 1.2


def test_dates_are_the_common_record_days_and_regions_the_shared_ones(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, scenario_dict(100, name="a", replicates=20), "a.yaml")  # reports every 10 days
    b = write(tmp_path, scenario_dict(100, name="b", replicates=20, report_every=25,
                                      regions={"c": {"initial": 5}, "a": {"initial": 900}}), "b.yaml")
    result = cli("compare", a, b, "--paired", "--out", tmp_path / "res")
    assert result.exit_code == 0, result.output
    got = rows(tmp_path / "res/b/differences.csv")
    assert [(r["day"], r["region"], r["mean"], r["p05"]) for r in got] == [
        (day, "a", "-100", "-100") for day in ("0", "50", "100")]


def test_rerun_without_pairing_removes_stale_differences(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, scenario_dict(20, name="a", replicates=10), "a.yaml")
    b = write(tmp_path, scenario_dict(20, name="b", replicates=10), "b.yaml")
    assert cli("compare", a, b, "--paired", "--out", tmp_path / "res").exit_code == 0
    assert (tmp_path / "res/b/differences.csv").exists()
    assert cli("run", b, "--out", tmp_path / "res").exit_code == 0
    assert not (tmp_path / "res/b/differences.csv").exists()


def test_pairs_that_cannot_be_matched_exit_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, scenario_dict(20, name="a"), "a.yaml")

    def refused(data: dict[str, Any], *extra: str) -> str:
        b = write(tmp_path, data, "b.yaml")
        result = cli("compare", a, b, "--paired", "--out", tmp_path / "res", *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {b}: ") and result.stderr.count("\n") == 1
        return str(result.stderr)

    assert "replicates: value 50: must equal the 200 replicates" in refused(scenario_dict(20, name="b", replicates=50))
    assert "start: value '2015-01-02'" in refused(scenario_dict(20, name="b", start="2015-01-02", end="2015-02-01"))
    assert "shares no region" in refused(scenario_dict(20, name="b", regions={"x": {"initial": 1}}))
    alone = cli("compare", a, "--paired", "--out", tmp_path / "res")
    assert alone.exit_code == 2 and "needs two or more scenarios" in alone.stderr
    assert not (tmp_path / "res").exists()
    # with --replicates both run with the same number, so differing files are fine
    b = write(tmp_path, scenario_dict(20, name="b", replicates=50), "b.yaml")
    assert cli("compare", a, b, "--paired", "-n", "30", "--out", tmp_path / "res").exit_code == 0
