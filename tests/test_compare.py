"""`flowsim compare`, comparison.csv, the verdict rule, the score, and plots."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from flowsim import compare
from flowsim.scenario import Observation

from .conftest import ROOT, scenario_dict, write


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def obs(**kw: object) -> Observation:
    return Observation.model_validate({"date": "2015-01-01", "region": "a", "source": "s", **kw})


def test_diversion_comparison_matches_observations_and_summary(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("compare", ROOT / "scenarios/diversion.yaml", "--out", tmp_path, "-n", "300")
    assert result.exit_code == 0, result.output
    comp = rows(tmp_path / "diversion/comparison.csv")
    assert list(comp[0]) == compare.COLUMNS
    reported = [r for r in rows(ROOT / "scenarios/reported.csv") if "2015-01-01" <= r["date"] <= "2016-12-31"]
    assert [(r["date"], r["region"], r["source"]) for r in comp] == [
        (r["date"], r["region"], r["source"]) for r in reported]
    summary = {(r["date"], r["region"]): r for r in rows(tmp_path / "diversion/summary.csv")}
    for r in comp:
        s = summary[(r["date"], r["region"])]
        assert (r["sim_p05"], r["sim_p50"], r["sim_p95"]) == (s["p05"], s["p50"], s["p95"])
        assert r["verdict"] in ("consistent", "too high", "too low")
    assert "score (log-likelihood)" in result.stdout


@pytest.mark.parametrize(("kw", "expected"), [
    ({"low": 10, "high": 20}, (10, 20)),
    ({"high": 20}, (-math.inf, 20)),
    ({"low": 10}, (10, math.inf)),
    ({"value": 100}, (90, 110)),
])
def test_reported_ranges(kw: dict[str, float], expected: tuple[float, float]) -> None:
    assert compare.reported_range(obs(**kw), 0.1) == pytest.approx(expected)


@pytest.mark.parametrize(("p05", "p95", "verdict"), [
    (21, 30, "too high"), (1, 9, "too low"), (5, 12, "consistent"), (12, 25, "consistent"), (1, 40, "consistent"),
])
def test_verdict_rule(p05: float, p95: float, verdict: str) -> None:
    assert compare.verdict(p05, p95, 10, 20) == verdict


def test_log_likelihood_is_soft_uniform() -> None:
    s = compare.Settings(tolerance=0.1, softness=0.1)
    o = obs(low=90, high=110)  # sigma = 0.1 * 100 = 10
    assert compare.log_likelihood(np.array([95.0, 100.0, 110.0]), o, s) == pytest.approx(0.0)
    x = np.array([100.0, 130.0])  # inside, and 2 sigma above
    assert compare.log_likelihood(x, o, s) == pytest.approx(math.log((1 + math.exp(-2)) / 2))
    one_sided = obs(high=100)  # sigma = 10 from the bound
    assert compare.log_likelihood(np.array([120.0]), one_sided, s) == pytest.approx(-2.0)


def comparison_for(cli, tmp_path: Path, observations: list[dict[str, object]]) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    data = scenario_dict(60, regions={"a": {"initial": 1000}}, replicates=400, observations=observations,
                         flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 10}])
    result = cli("compare", write(tmp_path, data), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    return rows(tmp_path / "test/comparison.csv")


def test_range_point_and_one_sided_observations(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # on day 50 the population is 1000 + Poisson(500): about 1,455 to 1,545 (90%)
    day50 = (dt.date(2015, 1, 1) + dt.timedelta(days=50)).isoformat()
    got = comparison_for(cli, tmp_path, [
        {"date": day50, "region": "a", "low": 1400, "high": 1600, "source": "range"},
        {"date": day50, "region": "a", "value": 1500, "source": "point"},
        {"date": day50, "region": "a", "high": 1200, "source": "fewer than"},
        {"date": day50, "region": "a", "low": 2000, "source": "more than"},
        {"date": day50, "region": "a", "value": 1800, "source": "far point"},
    ])
    by = {r["source"]: r for r in got}
    assert by["range"]["verdict"] == "consistent" and float(by["range"]["p_in_range"]) == 1.0
    assert by["point"]["verdict"] == "consistent" and by["point"]["obs_value"] == "1500"
    assert by["fewer than"]["verdict"] == "too high" and by["fewer than"]["obs_low"] == ""
    assert by["more than"]["verdict"] == "too low" and by["more than"]["obs_high"] == ""
    assert by["far point"]["verdict"] == "too low" and float(by["far point"]["p_in_range"]) == 0.0


def test_wrong_observation_file_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text("date,region,low,high,value,source\n2016-02-04,libya,5000,abc,,x\n")
    result = cli("compare", ROOT / "scenarios/diversion.yaml", "--observations", bad, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}:2:23: high: value 'abc': must be a number")
    assert not (tmp_path / "o").exists()


def test_compare_without_observations_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("compare", write(tmp_path, scenario_dict()), "--out", tmp_path / "o")
    assert result.exit_code == 2 and "no reported figures" in result.stderr


def test_several_scenarios_are_ranked(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = [ROOT / f"scenarios/{n}.yaml" for n in ("baseline", "diversion", "border-closure")]
    result = cli("compare", *paths, "--out", tmp_path, "-n", "200")
    assert result.exit_code == 0, result.output
    ranked = result.stdout.split("ranked by agreement")[1]
    scores = {}
    for p in paths:
        meta = (tmp_path / p.stem / "run.json").read_text()
        scores[p.stem] = float(meta.split('"log_likelihood": ')[1].split(",")[0])
    best = max(scores, key=lambda k: scores[k])
    assert ranked.index(best) < min(ranked.index(k) for k in scores if k != best)
    assert "Median on the reported dates" in result.stdout


def test_plot_is_a_real_png(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", ROOT / "scenarios/diversion.yaml", "--out", tmp_path, "-n", "100", "--plot")
    assert result.exit_code == 0, result.output
    png = tmp_path / "diversion/plot.png"
    image = mpimg.imread(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.shape[0] > 600 and image.shape[1] > 900
    assert image[..., :3].std() > 0.05  # not a blank canvas
    png.unlink()
    result = cli("plot", tmp_path)
    assert result.exit_code == 0 and png.exists()


def test_plot_of_missing_folder_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("plot", tmp_path / "nothing")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_plot_of_a_malformed_folder_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "summary.csv").write_text("scenario,point\nx,0\n")
    result = cli("plot", folder)
    assert result.exit_code == 2 and "cannot plot" in result.stderr
