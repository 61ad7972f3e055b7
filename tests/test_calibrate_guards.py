"""Calibration and sensitivity refuse what would give a wrong answer (found by a review as a user)."""

from __future__ import annotations

from pathlib import Path

from .test_calibrate import synthetic
from .test_posterior import poisson_scenario


def test_a_prior_given_twice_or_without_width_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = synthetic(tmp_path)
    for args, rule in ((("flows.r.rate=5:50", "flows.r.rate=5:20"), "is given twice"),
                       (("flows.r.rate=5:5",), "needs lo < hi")):
        for command in ("calibrate", "sensitivity"):
            params = [x for a in args for x in ("--param", a)]
            result = cli(command, path, *params, "--out", tmp_path / "o")
            assert result.exit_code == 2, (command, result.output)
            assert rule in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_models_are_compared_on_the_same_reports_only(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = poisson_scenario(tmp_path, 400, 560, None, "a")
    b = poisson_scenario(tmp_path, 300, 500, 0.05, "b")
    result = cli("calibrate", a, b, "--param", "flows.r.rate=5:30", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "models are compared on the same reported figures" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_calibrated_scenario_can_be_calibrated_again(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = synthetic(tmp_path)
    args = ("--draws", "2000", "--particles", "200")
    result = cli("calibrate", path, "--param", "flows.r.rate=5:50", *args, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    first = tmp_path / "o/test/calibrated.yaml"
    result = cli("calibrate", first, "--param", "flows.d.rate=0.005:0.05", *args, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    second = tmp_path / "o/test-calibrated/calibrated.yaml"
    assert "../test/posterior.csv" in second.read_text()  # the earlier posterior is still found
    assert cli("validate", second).exit_code == 0
