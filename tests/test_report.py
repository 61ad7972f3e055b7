"""report.html: one offline page per result, checked as a file and in headless Chromium.

The browser tests open each kind of report (run, compare, sweep, calibration,
sensitivity) with Playwright pointed at the system's Chromium. Without Chromium
or Playwright they skip with one line saying how to install them, unless
FLOWSIM_REQUIRE_BROWSER is set (as `.ci/run` does), which makes the skip a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flowsim.cli.main import app

MB = 1_000_000
INSTALL = "browser tests skipped: install Chromium and Playwright (apt-get install chromium; pip install playwright)"

OBSERVATIONS = """date,region,low,high,value,source,note,flow,from,to
2015-03-01,a,900,1400,,"Ministry estimate, 1 Mar 2015",https://example.org/ministry-march ; quoted,,,
2015-05-01,b,,400,,"UN panel, May 2015",see https://example.org/un-panel,,,
2015-06-01,a,,,1100,Newspaper <b>tally</b> & count,,,,
,,300,700,,"Border agency, spring 2015",https://example.org/border,recruit_a,2015-02-01,2015-04-30
"""


def scenario(name: str, fraction: float = 0.2) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Test scenario {name} for the report",
        "start": "2015-01-01", "end": "2015-07-20", "time_unit": "month", "report_every": 7,
        "replicates": 30, "seed": 5,
        "regions": {"a": {"initial": 1000}, "b": {"initial": {"uniform": [150, 250]}}},
        "flows": [
            {"name": "recruit_a", "kind": "recruitment", "to": "a",
             "rate": {"schedule": {"2015-01-01": 200, "2015-04-01": 120}}},
            {"name": "attrition_a", "kind": "attrition", "region": "a", "rate": 0.08},
            {"name": "attrition_b", "kind": "attrition", "region": "b", "rate": {"linear": {"2015-01-01": 0.05,
                                                                                             "2015-06-01": 0.1}}},
            {"name": "divert", "kind": "diversion", "of": "recruit_a", "to": "b", "fraction": fraction},
            {"name": "move", "kind": "transfer", "from": "a", "to": "b", "rate": 0.01, "delay": 7},
        ],
        "events": [
            {"date": "2015-03-15", "name": "border_closes", "scale": {"flows.recruit_a.rate": 0.5}},
            {"date": "2015-03-22", "name": "offensive_in_b", "shock": {"region": "b", "remove": 0.1}},
            {"date": "2015-03-25", "set": {"flows.divert.fraction": 0.3}},
        ],
        "observations": "reported.csv",
    }


def invoke(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small result of each kind, each with its report written by the command that made it."""
    root = tmp_path_factory.mktemp("reports")
    (root / "reported.csv").write_text(OBSERVATIONS)
    for name, fraction in (("alpha", 0.2), ("beta", 0.4)):
        (root / f"{name}.yaml").write_text(yaml.safe_dump(scenario(name, fraction), sort_keys=False))
    out = root / "results"
    invoke("run", root / "alpha.yaml", "--out", out / "run", "-n", "30", "-j", "1", "--report")
    invoke("compare", root / "alpha.yaml", root / "beta.yaml", "--out", out / "compare", "-n", "30", "-j", "1",
           "--paired", "--report")
    invoke("sweep", root / "alpha.yaml", "--param", "flows.divert.fraction=0:0.4:3", "--out", out / "sweep", "-n",
           "10", "-j", "1", "--format", "parquet", "--report")
    invoke("calibrate", root / "alpha.yaml", "--param", "flows.divert.fraction=0:0.6", "--draws", "200",
           "--particles", "100", "-n", "2", "-j", "1", "--out", out / "calibrate", "--report")
    invoke("sensitivity", root / "alpha.yaml", "--param", "flows.divert.fraction=0:0.5", "--param",
           "flows.attrition_a.rate=0.05:0.1", "--output", "b", "--samples", "4", "-n", "2", "-j", "1", "--out",
           out / "sensitivity", "--report")
    return {
        "root": root,
        "run": out / "run/alpha/report.html",
        "compare": out / "compare/compare.html",
        "sweep": out / "sweep/alpha/report.html",
        "calibration": out / "calibrate/alpha/report.html",
        "sensitivity": out / "sensitivity/alpha/report.html",
    }


KINDS = ("run", "compare", "sweep", "calibration", "sensitivity")


# ---- the file


@pytest.mark.parametrize("kind", KINDS)
def test_page_is_one_self_contained_file(made: dict[str, Path], kind: str) -> None:
    html = made[kind].read_text(encoding="utf-8")
    assert made[kind].stat().st_size < 5 * MB
    assert html.count("Plotly.newPlot") == 1 and "plotly.js v" in html  # plotly.js inlined once
    fetched = re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*[\"']?([^\"' >]+)", html)
    assert fetched == [], fetched
    assert not re.search(r"@import|url\(\s*[\"']?https?:", html)
    assert not list(made[kind].parent.glob(".*tmp*")), "a temporary file was left behind"


def test_run_page_holds_every_observation_with_its_link(made: dict[str, Path]) -> None:
    html = made["run"].read_text(encoding="utf-8")
    table = html[html.index('id="comparison-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr id=") + table.count("<tr>") - 1 == 4  # four reported figures, one header row
    for text in ("Ministry estimate, 1 Mar 2015", "UN panel, May 2015", "Border agency, spring 2015",
                 "https://example.org/ministry-march", "https://example.org/un-panel", "≤ 400", "900–1,400",
                 "flow recruit_a", "2015-02-01 to 2015-04-30"):
        assert text in table, text
    assert "Newspaper &lt;b&gt;tally&lt;/b&gt; &amp; count" in table  # escaped, not markup
    assert "offensive_in_b" in html and "border_closes" in html  # events
    assert "regions and flows" in html  # the scenario diagram
    assert "name: alpha" in html  # the scenario text
    assert re.search(r"[0-9a-f]{64}", html)  # input hashes


def test_compare_page_ranks_and_shows_differences(made: dict[str, Path]) -> None:
    html = made["compare"].read_text(encoding="utf-8")
    for text in ('id="ranking"', 'id="medians"', 'id="differences"', "beta minus alpha", "Scenario beta",
                 "Provenance of alpha"):
        assert text in html, text


def test_sweep_calibration_and_sensitivity_pages(made: dict[str, Path]) -> None:
    sweep = made["sweep"].read_text(encoding="utf-8")
    assert 'id="points-table"' in sweep and "flows.divert.fraction" in sweep
    cal = made["calibration"].read_text(encoding="utf-8")
    assert 'id="posterior-table"' in cal and "effective sample size" in cal and "prior (uniform)" in cal
    sens = made["sensitivity"].read_text(encoding="utf-8")
    assert "Sobol indices over time" in sens and "flows.attrition_a.rate" in sens


def test_report_command_rewrites_every_kind(made: dict[str, Path]) -> None:
    results = made["root"] / "results"
    before = made["sweep"].stat().st_mtime_ns
    result = invoke("report", results / "sweep", results / "calibrate/alpha", results / "sensitivity/alpha")
    assert result.output.count("wrote ") == 3
    assert made["sweep"].stat().st_mtime_ns >= before


def test_posterior_predictive_run_joins_the_calibration_page(made: dict[str, Path]) -> None:
    folder = made["root"] / "results/calibrate"
    invoke("compare", folder / "alpha/calibrated.yaml", "--out", folder, "-n", "20", "-j", "1")
    invoke("report", folder / "alpha")
    assert "Posterior predictive fan charts" in (folder / "alpha/report.html").read_text(encoding="utf-8")


def test_python_api_writes_a_report(made: dict[str, Path], tmp_path: Path) -> None:
    import flowsim

    res = flowsim.run(made["root"] / "alpha.yaml", replicates=10)
    page = res.report(tmp_path / "api")
    assert page == tmp_path / "api/report.html" and page.is_file()
    assert flowsim.report(tmp_path / "api") == page
    assert "report" in flowsim.__all__


# ---- bad input


def copy_result(made: dict[str, Path], tmp_path: Path, kind: str = "run") -> Path:
    src = made[kind].parent
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    (dst / "report.html").unlink()
    return dst


def refused(folder: Path, *more: Any) -> str:
    before = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None
    result = CliRunner().invoke(app, ["report", str(folder), *map(str, more)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}"), result.output
    assert "Traceback" not in result.output
    if before is not None:
        assert sorted(p.name for p in folder.iterdir()) == before  # nothing written
    return lines[0]


def test_folder_without_a_finished_result(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half/summary.csv").write_text("scenario,point,date,day,region,mean,sd,p05,p25,p50,p75,p95\n")
    assert "no run.json" in refused(tmp_path / "half")
    assert "does not exist" in refused(tmp_path / "nothing")


def test_summary_of_another_scenario(made: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_result(made, tmp_path)
    text = (folder / "summary.csv").read_text()
    (folder / "summary.csv").write_text(text.replace("\nalpha,", "\nother,"))
    assert "files from different runs" in refused(folder)


def test_comparison_of_another_run(made: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_result(made, tmp_path)
    other = made["compare"].parent / "beta/comparison.csv"
    (folder / "comparison.csv").write_text(other.read_text().replace("beta,", "alpha,"))
    assert "does not match summary.csv" in refused(folder)


def test_run_json_of_another_run(made: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_result(made, tmp_path)
    meta = json.loads((folder / "run.json").read_text())
    meta["replicates"] = 99
    (folder / "run.json").write_text(json.dumps(meta))
    assert "replicates" in refused(folder)
    (folder / "run.json").write_text("{not json")
    assert "run.json is not as flowsim writes it" in refused(folder)


def test_points_of_another_sweep(made: dict[str, Path], tmp_path: Path) -> None:
    import pandas as pd

    folder = copy_result(made, tmp_path, "sweep")
    points = pd.read_parquet(folder / "points.parquet")
    points["b_p50"] = points["b_p50"] + 50
    points.to_parquet(folder / "points.parquet")
    assert "points.parquet does not match" in refused(folder)
    points.rename(columns={"flows.divert.fraction": "flows.move.rate"}).to_parquet(folder / "points.parquet")
    assert "swept parameter" in refused(folder)


def test_points_in_a_plain_run(made: dict[str, Path], tmp_path: Path) -> None:
    import pandas as pd

    folder = copy_result(made, tmp_path)
    pd.read_parquet(made["sweep"].parent / "points.parquet").to_csv(folder / "points.csv", index=False)
    assert "files from different runs" in refused(folder)


def test_tables_in_two_formats(made: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_result(made, tmp_path, "sweep")
    shutil.copy(made["run"].parent / "summary.csv", folder / "summary.csv")
    assert "both summary.csv and summary.parquet" in refused(folder)


def test_compare_needs_two_folders(made: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_result(made, tmp_path)
    result = CliRunner().invoke(app, ["report", str(folder), "--compare"])
    assert result.exit_code == 2 and result.output.startswith("error: command line --compare")


# ---- in the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        if os.environ.get("FLOWSIM_REQUIRE_BROWSER"):
            pytest.fail(f"FLOWSIM_REQUIRE_BROWSER is set but {INSTALL.split(': ', 1)[1]}")
        pytest.skip(INSTALL)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Opened:
    """A report opened in Chromium, with what it logged and requested."""

    def __init__(self, browser: Any, path: Path, width: int = 1366, height: int = 768) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_function("window.flowsimReady !== undefined")
        self.page.evaluate("window.flowsimReady")


@pytest.mark.parametrize("kind", KINDS)
def test_page_draws_offline_without_errors(browser: Any, made: dict[str, Path], kind: str,
                                           tmp_path: Path) -> None:
    opened = Opened(browser, made[kind])
    page = opened.page
    charts = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(el => {
        const svg = el.querySelector('.main-svg'); const r = svg ? svg.getBoundingClientRect() : null;
        return {id: el.id, drawn: el.getAttribute('data-drawn'), w: r ? r.width : 0, h: r ? r.height : 0,
                traces: el.querySelectorAll('.trace, .bars, .point').length};
    })""")
    assert charts, "no charts on the page"
    for chart in charts:
        assert chart["drawn"] == "1" and chart["w"] > 100 and chart["h"] > 100 and chart["traces"] > 0, chart
    page.screenshot(path=str(tmp_path / f"{kind}.png"), full_page=True)
    assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
    assert opened.errors == []
    assert opened.requests == [opened.url]  # nothing but the page itself
    page.close()


def hover_reported(page: Any) -> str:
    """Move the mouse onto the first reported figure of the first fan chart; the hover label's text.

    The mouse goes 3 px right of the marker's centre (still on the marker): exactly at the centre, plotly
    breaks the tie with the median line drawn through the same date in favour of the median.
    """
    box = page.evaluate("""() => {
        const el = document.querySelector('#fan-charts .chart');
        const t = el.data.find(t => t.meta === 'reported');
        const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, r = el.getBoundingClientRect();
        return {x: r.left + xa._offset + xa.d2p(t.x[0]), y: r.top + ya._offset + ya.d2p(t.y[0])};
    }""")
    page.mouse.move(box["x"] + 3, box["y"])
    page.wait_for_selector("#fan-charts .chart .hoverlayer .hovertext", timeout=5000)
    return str(page.evaluate("document.querySelector('#fan-charts .chart .hoverlayer').textContent"))


@pytest.mark.parametrize("kind", ["run", "compare"])
def test_hovering_a_reported_figure_shows_its_source(browser: Any, made: dict[str, Path], kind: str) -> None:
    opened = Opened(browser, made[kind])
    page = opened.page
    page.evaluate("document.querySelector('#fan-charts .chart').scrollIntoView()")
    text = hover_reported(page)
    assert "Ministry estimate, 1 Mar 2015" in text and "https://example.org/ministry-march" in text, text
    assert "2015-03-01" in text and "900–1,400" in text
    page.close()


def column(page: Any, table: str, index: int) -> list[str]:
    return list(page.evaluate(f"""Array.from(document.querySelectorAll('#{table} tbody tr'))
        .map(r => r.cells[{index}].textContent.trim())"""))


def test_tables_sort_when_a_header_is_clicked(browser: Any, made: dict[str, Path]) -> None:
    opened = Opened(browser, made["run"])
    page = opened.page
    headers = page.evaluate("Array.from(document.querySelectorAll('#comparison-table th')).map(h => h.textContent)")
    score = headers.index("log score")
    page.click(f"#comparison-table th:nth-child({score + 1})")
    values = [float(v) for v in column(page, "comparison-table", score)]
    assert values == sorted(values)
    assert page.get_attribute(f"#comparison-table th:nth-child({score + 1})", "aria-sort") == "ascending"
    page.click(f"#comparison-table th:nth-child({score + 1})")
    values = [float(v) for v in column(page, "comparison-table", score)]
    assert values == sorted(values, reverse=True)
    page.click("#comparison-table th:nth-child(3)")  # source, as text
    sources = column(page, "comparison-table", 2)
    assert sources == sorted(sources, key=str.lower)
    page.close()
    opened = Opened(browser, made["sweep"])
    headers = opened.page.evaluate("Array.from(document.querySelectorAll('#points-table th')).map(h => h.textContent)")
    scores = [float(v) for v in column(opened.page, "points-table", headers.index("score"))]
    assert scores == sorted(scores, reverse=True)  # best first
    opened.page.close()


def test_event_labels_do_not_overlap(browser: Any, made: dict[str, Path]) -> None:
    opened = Opened(browser, made["run"])
    boxes = opened.page.evaluate("""() => {
        const el = document.querySelector('#fan-charts .chart');
        return Array.from(el.querySelectorAll('.annotation')).map(a => {
            const r = a.getBoundingClientRect(); return [a.textContent, r.left, r.right, r.top, r.bottom];
        });
    }""")
    labels = [b for b in boxes if b[0] in ("border_closes", "offensive_in_b", "set divert.fraction")]
    assert len(labels) == 3, boxes
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            apart = a[2] <= b[1] or b[2] <= a[1] or a[4] <= b[3] or b[4] <= a[3]
            assert apart, (a, b)
    opened.page.close()


def test_print_layout_fits_the_page(browser: Any, made: dict[str, Path], tmp_path: Path) -> None:
    opened = Opened(browser, made["run"], width=800, height=1100)
    page = opened.page
    page.emulate_media(media="print")
    page.wait_for_timeout(300)
    widths = page.evaluate("""Array.from(document.querySelectorAll('.chart .main-svg:first-child'))
        .map(s => s.getBoundingClientRect().right)""")
    assert widths and max(widths) <= 800, widths
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") in ("rgb(255, 255, 255)",
                                                                              "rgba(0, 0, 0, 0)")
    page.screenshot(path=str(tmp_path / "print.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:4] == b"%PDF" and len(pdf) > 20_000
    page.close()
