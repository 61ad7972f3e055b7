"""Observations of flows: persons moved by a flow over a period, in compare, calibrate and the plots.

Convention: a row `flow: F, from: A, to: B` counts the persons flowsim counts on the
flows.csv row F over the whole days A..B, both included: the cumulative count at the
midnight after B minus the one at the midnight starting A.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import flowsim
from flowsim.experiments.calibrate import weighted_quantiles
from flowsim.model.observations import read_rows, scenario_observations
from flowsim.model.scenario import Observation, load_scenario

from .conftest import scenario_dict, write

START = dt.date(2015, 1, 1)


def day(n: int) -> str:
    return (START + dt.timedelta(days=n)).isoformat()


def flows_scenario(**overrides: Any) -> dict[str, Any]:
    return scenario_dict(120, regions={"a": {"initial": 1000}, "b": {"initial": 100}}, report_every=50, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 20},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.02},
        {"name": "t", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 3, "loss": 0.1}],
        **overrides)


# ---- parsing


def test_a_flow_row_parses_inline_and_from_a_csv_file(tmp_path: Path) -> None:
    row = {"flow": "r", "from": day(10), "to": day(39), "low": 500, "high": 700, "source": "inline"}
    s, _ = load_scenario(write(tmp_path, flows_scenario(observations=[row])))
    obs = s.inline_observations()[0]
    assert (obs.flow, obs.from_, obs.to, obs.date, obs.region) == ("r", START + dt.timedelta(10),
                                                                  START + dt.timedelta(39), None, None)
    assert obs.when == f"{day(10)}..{day(39)}" and obs.where == "flow r"
    assert obs.record_dates() == (START + dt.timedelta(10), START + dt.timedelta(40))
    assert obs.model_dump(mode="json")["from"] == day(10)  # written back as the user spells it
    (tmp_path / "obs.csv").write_text(
        "date,region,flow,from,to,low,high,value,source\n"
        f"{day(30)},a,,,,900,1100,,stock\n"
        f",,t_lost,{day(0)},{day(99)},,,100,lost in transit\n")
    rows = read_rows(tmp_path / "obs.csv")
    assert [r.obs.where for r in rows] == ["a", "flow t_lost"]
    assert rows[1].obs.value == 100 and rows[1].obs.to == START + dt.timedelta(99)


def test_a_file_without_flow_columns_still_reads(tmp_path: Path) -> None:
    (tmp_path / "obs.csv").write_text(f"date,region,low,high,value,source\n{day(30)},a,900,1100,,x\n")
    assert [o.region for o in (r.obs for r in read_rows(tmp_path / "obs.csv"))] == ["a"]


def test_rows_of_a_shared_file_for_other_flows_or_outside_the_run_are_skipped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "obs.csv").write_text(
        "date,region,flow,from,to,low,high,value,source\n"
        f",,r,{day(0)},{day(29)},,,600,kept\n"
        f",,rr,{day(0)},{day(29)},,,600,misspelt or another scenario's\n"
        f",,r,{day(100)},{day(120)},,,600,ends after the run\n")
    path = write(tmp_path, flows_scenario(observations="obs.csv"))
    s, located = load_scenario(path)
    kept, notes = scenario_observations(s, located, tmp_path)
    assert [o.source for o in kept] == ["kept"]
    assert len(notes) == 1 and "2 of 3 rows" in notes[0] and "1 dated outside the run" in notes[0]
    assert "rr: did you mean 'r'?" in notes[0]


@pytest.mark.parametrize(("row", "text"), [
    ({"flow": "rr", "from": day(0), "to": day(9)}, "observations[0].flow: value 'rr': unknown flow; did you mean 'r'?"),
    ({"flow": "r", "from": day(9), "to": day(0)}, "observations[0].to: value '2015-01-01': must not be before"),
    ({"flow": "r", "from": day(-1), "to": day(0)}, "observations[0].from: value '2014-12-31': must be within the run"),
    ({"flow": "r", "from": day(0), "to": day(120)}, "observations[0].to: value '2015-05-01': must be before the end"),
    ({"flow": "r", "from": day(0), "to": day(9), "date": day(9)}, "observations[0].date: value '2015-01-10': a row "
     "is either a stock figure"),
    ({"flow": "r", "to": day(9)}, "a flow observation needs `from` and `to`"),
    ({"region": "a", "from": day(0)}, "observations[0].from: value '2015-01-01': a row is either"),
    ({"flow": "r", "from": day(0), "to": day(9), "group": "g"}, None),
])
def test_bad_flow_rows_are_one_located_error_and_nothing_is_written(  # type: ignore[no-untyped-def]
        row: dict[str, Any], text: str | None, cli, tmp_path: Path) -> None:
    rows = [{**row, "value": 100, "source": "x"}]
    if text is None:  # a group may not mix a flow and a region
        rows.append({"date": day(9), "region": "a", "value": 1000, "source": "y", "group": "g"})
        text = "observations[1].group: value 'g': rows of group 'g' must name one region or one flow; " \
               "an earlier row names flow r"
    path = write(tmp_path, flows_scenario(observations=rows))
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith(f"error: {path}:"), message
    assert text in message, message
    assert not (tmp_path / "out").exists()


def test_the_schema_says_a_row_is_a_stock_or_a_flow() -> None:
    schema = Observation.model_json_schema(by_alias=True)
    assert {"required": ["flow", "from", "to"]} in schema["oneOf"] and "from" in schema["properties"]


# ---- the compared count


@pytest.mark.parametrize("engine", ["meanfield", "step", "event"])
def test_the_compared_count_is_the_difference_of_cumulative_moved_counts(engine: str, tmp_path: Path) -> None:
    """Exactly, for flows, losses in transit and periods between record days (report_every is 50)."""
    periods = [("r", 10, 39), ("d", 0, 119), ("t", 7, 7), ("t_lost", 33, 71)]
    obs = [{"flow": f, "from": day(a), "to": day(b), "value": 10, "source": f} for f, a, b in periods]
    path = write(tmp_path, flows_scenario(observations=obs, replicates=1 if engine != "step" else 7))
    res = flowsim.run(path, engine=engine)
    sim = res.extra["simulation"]
    days = list(sim.days)
    comparison = res.comparison
    assert comparison is not None
    for (flow, a, b), row, exact in zip(periods, comparison.to_dict("records"), res.extra["comparison"], strict=True):
        assert row["flow"] == flow and pd.isna(row["region"]) and pd.isna(row["date"]), row
        assert (str(row["from"])[:10], str(row["to"])[:10]) == (day(a), day(b))
        c = sim.counters.index(flow)
        counts = sim.moved[days.index(b + 1), c] - sim.moved[days.index(a), c]  # record days include both ends
        assert (exact.p05, exact.p50, exact.p95) == tuple(float(q) for q in np.percentile(counts, [5, 50, 95]))
        assert row["sim_p50"] == pytest.approx(exact.p50, abs=5e-4)  # the table rounds to 3 decimals
    if engine == "meanfield":  # recruits are rate x days; 30 days of 20 a day
        assert res.extra["comparison"][0].p50 == pytest.approx(600.0, rel=1e-12)


def test_compare_prints_and_writes_flow_rows_and_plot_draws_them(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    obs = [{"date": day(30), "region": "a", "low": 900, "high": 1100, "source": "stock"},
           {"flow": "r", "from": day(0), "to": day(29), "low": 500, "high": 700, "source": "recruits"}]
    path = write(tmp_path, flows_scenario(observations=obs, replicates=50))
    result = cli("compare", path, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert f"{day(0)}..{day(29)}" in result.stdout and "flow r" in result.stdout
    with open(tmp_path / "o/test/comparison.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["date"], r["region"], r["flow"], r["from"], r["to"]) for r in rows] == [
        (day(30), "a", "", "", ""), ("", "", "r", day(0), day(29))]
    assert rows[1]["verdict"] == "consistent"
    result = cli("plot", tmp_path / "o/test")
    assert result.exit_code == 0, result.output
    import matplotlib.image as mpimg

    image = mpimg.imread(tmp_path / "o/test/plot.png")
    assert image.shape[0] > 3 * 110 * 3.4  # two region panels and one flow panel


# ---- identification: a flow figure separates what stock figures cannot

N0, RATE, ATTRITION = 1000, 20.0, 0.02


def identification(flow_figure: bool) -> tuple[float, float, float]:
    """Calibrate r and a from stock figures (and a flow figure); the 90% width and median of r, and of a's width.

    One region starts at its equilibrium N0 = r / a. Every (r, a) with r / a = N0 gives the
    same mean path (constant N0) and nearly the same spread (sd ~ sqrt(N0), far below the
    reports' 4%), so stock figures pin the ratio only. The recruits in a period are about
    r x days whatever a is, so a flow figure pins r, and with the ratio, a.
    """
    obs: list[dict[str, Any]] = [{"date": day(d), "region": "a", "low": round(N0 * 0.96), "high": round(N0 * 1.04),
                                  "source": f"stock day {d}"} for d in (30, 60, 90, 120)]
    if flow_figure:  # days 0..59: 60 days of RATE recruits
        obs.append({"flow": "r", "from": day(0), "to": day(59), "low": round(60 * RATE * 0.92),
                    "high": round(60 * RATE * 1.08), "source": "recruits, days 0-59"})
    data = scenario_dict(120, regions={"a": {"initial": N0}}, observations=obs, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": RATE},
        {"name": "d", "kind": "attrition", "region": "a", "rate": ATTRITION}])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), data)
        # budgets at which the sampler reaches the posterior (no "budget ran out" warning); the narrow
        # flow report makes the likelihood sharper, so that case needs more tempering steps
        res = flowsim.calibrate(path, params=["flows.r.rate=5:50", "flows.d.rate=0.005:0.05"],
                                draws=16000 if flow_figure else 8000, particles=400, replicates=8, seed=7)[0]
    post = res.posterior
    assert post is not None
    w = post["weight"].to_numpy()
    r05, r50, r95 = weighted_quantiles(post["flows.r.rate"].to_numpy(), w, [0.05, 0.5, 0.95])
    a05, a95 = weighted_quantiles(post["flows.d.rate"].to_numpy(), w, [0.05, 0.95])
    return r95 - r05, r50, a95 - a05


def test_a_flow_figure_narrows_the_posterior_that_stock_figures_leave_on_a_ridge() -> None:
    """Without the flow figure the posterior lies along the ridge r / a = N0 across the prior box: its
    density in r grows like r (the ridge's thickness in a is proportional to a = r / N0), so the 90%
    interval of r is about 12-49, 36 wide (39 in the run). With it, r is known to the flow report's sd of 4.9% (a 90%
    interval of about 2 x 1.645 x 0.049 x 20 = 3.2 wide, wider by the Poisson and Monte Carlo noise of
    8 replicates; 3.5 in the run). The thresholds (more than 20 without, less than a third of it with, median of r
    within 15% of the truth, 3 sd of the flow report) leave a factor of 2 or more to each side of the
    expected values; with fixed seeds the test is deterministic, and for other seeds a 400-particle
    estimate of a width errs by far less than that, so its false-failure rate is well under 0.1%.
    """
    wide, _, a_wide = identification(flow_figure=False)
    narrow, median, a_narrow = identification(flow_figure=True)
    assert wide > 20, wide
    assert narrow < wide / 3, (narrow, wide)
    assert abs(median - RATE) < 0.15 * RATE, median
    assert a_narrow < a_wide / 3, (a_narrow, a_wide)
