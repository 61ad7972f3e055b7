"""`flowsim compare`, comparison.csv, the verdict rule, the score, and plots."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from flowsim.model.scenario import Observation
from flowsim.outputs import compare

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
    reported = rows(ROOT / "scenarios/reported.csv")  # every row falls in the run, 2014-06-01 to 2017-12-31
    key = ("date", "region", "flow", "from", "to", "source")
    assert [tuple(r[k] for k in key) for r in comp] == [tuple(r[k] for k in key) for r in reported]
    assert {r["flow"] for r in comp} == {"", "foreign_is", "attrition_is", "returnees", "attrition_ly"}
    summary = {(r["date"], r["region"]): r for r in rows(tmp_path / "diversion/summary.csv")}
    for r in comp:
        assert r["verdict"] in ("consistent", "too high", "too low")
        if r["flow"]:
            continue  # a flow figure: persons moved over its period, not a row of summary.csv
        s = summary[(r["date"], r["region"])]
        assert (r["sim_p05"], r["sim_p50"], r["sim_p95"]) == (s["p05"], s["p50"], s["p95"])
    assert "sum of log predictive densities" in result.stdout


@pytest.mark.parametrize(("kw", "expected"), [
    ({"low": 10, "high": 20}, (10, 20)),
    ({"high": 20}, (-math.inf, 20)),
    ({"low": 10}, (10, math.inf)),
    ({"value": 100}, (90, 110)),
])
def test_reported_ranges(kw: dict[str, float], expected: tuple[float, float]) -> None:
    assert compare.reported_range(obs(**kw), 0.1) == pytest.approx(expected)


def test_log_score_is_the_log_predictive_density_of_the_observation_model() -> None:
    from scipy.stats import norm

    s = compare.Settings(tolerance=0.25)
    o = obs(low=90, high=110)  # centre sqrt(90*110), sigma ln(110/90)/3.29
    sigma = math.log(110 / 90) / (2 * 1.6448536269514722)
    x = np.array([[95.0, 100.0, 130.0]])
    rows, groups = compare.assess(x, np.ones_like(x), [o], s)
    expect = math.log(np.mean(norm.pdf(math.log(math.sqrt(90 * 110)), np.log(x[0]), sigma)))
    assert rows[0].log_score == pytest.approx(expect)
    assert groups == pytest.approx([expect])
    assert rows[0].p_below == pytest.approx(np.mean(norm.cdf(math.log(math.sqrt(9900)), np.log(x[0]), sigma)))
    one_sided = obs(high=100)  # censored: P(report <= 100), sigma from the tolerance
    sig1 = math.log(1.25 / 0.75) / (2 * 1.6448536269514722)
    rows, _ = compare.assess(np.array([[120.0]]), np.ones((1, 1)), [one_sided], s)
    assert rows[0].log_score == pytest.approx(norm.logcdf(math.log(100), math.log(120), sig1))


def comparison_for(cli, tmp_path: Path, observations: list[dict[str, object]]) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    data = scenario_dict(60, regions={"a": {"initial": 1000}}, replicates=400, observations=observations,
                         flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 10}])
    result = cli("compare", write(tmp_path, data), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    return rows(tmp_path / "test/comparison.csv")


def test_range_point_and_one_sided_observations(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # on day 50 the population is 1000 + Poisson(500): about 1,455 to 1,545 (90%); point and one-sided
    # reports have sigma ln(1.25/0.75)/3.29 = 0.155 (tolerance 0.25), so a bound 2.6 sigma away is in a 0.5% tail
    day50 = (dt.date(2015, 1, 1) + dt.timedelta(days=50)).isoformat()
    got = comparison_for(cli, tmp_path, [
        {"date": day50, "region": "a", "low": 1400, "high": 1600, "source": "range"},
        {"date": day50, "region": "a", "value": 1500, "source": "point"},
        {"date": day50, "region": "a", "high": 1000, "source": "fewer than"},
        {"date": day50, "region": "a", "low": 2250, "source": "more than"},
        {"date": day50, "region": "a", "value": 2250, "source": "far point"},
    ])
    by = {r["source"]: r for r in got}
    assert by["range"]["verdict"] == "consistent" and float(by["range"]["p_in_range"]) == 1.0
    assert by["point"]["verdict"] == "consistent" and by["point"]["obs_value"] == "1500"
    for r in got:
        assert float(r["p_below"]) + float(r["p_above"]) == pytest.approx(1.0, abs=2e-4)
        assert float(r["log_score"]) < 5
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
        scores[p.stem] = float(meta.split('"log_score": ')[1].split(",")[0])
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
