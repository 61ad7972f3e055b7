"""The report page: sections, tables and figures of one or several result folders, rendered with Jinja2.

Tables go to the template as rows of cells (text, a sort key, an optional link),
never as HTML strings, so every text from a scenario or an observation file is
escaped by the template engine. Figures go as one JSON block that plotly.js,
inlined once, draws; nothing is fetched when the page opens.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowsim import __version__
from flowsim.outputs.report import figures as figs
from flowsim.outputs.report.folder import Folder, observation_key

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Cell:
    text: str
    sort: str | float | None = None
    href: str = ""
    cls: str = ""


@dataclass
class Table:
    id: str
    columns: list[tuple[str, bool]]  # (label, numeric)
    rows: list[list[Cell]]
    row_ids: list[str] = field(default_factory=list)
    caption: str = ""
    sortable: bool = True


@dataclass
class Section:
    id: str
    title: str
    intro: list[str] = field(default_factory=list)  # paragraphs (plain text)
    figures: list[str] = field(default_factory=list)  # figure ids, each full width
    grid: list[str] = field(default_factory=list)  # figure ids as small multiples
    tables: list[Table] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)  # (title, text) shown as preformatted text
    subsections: list[Section] = field(default_factory=list)


class Page:
    """What the template renders: a title, sections, and the figures by id."""

    def __init__(self, title: str, subtitle: str) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []
        self.figures: dict[str, figs.Figure] = {}
        self.warnings: list[str] = []

    def figure(self, spec: figs.Figure) -> str:
        fid = f"fig-{len(self.figures) + 1}"
        self.figures[fid] = spec
        return fid


# ---- one result folder


def single(f: Folder) -> Page:
    """The page of one finished run, sweep, calibration or sensitivity analysis."""
    kinds = {"run": "run", "sweep": "parameter sweep", "calibration": "calibration",
             "sensitivity": "sensitivity analysis"}
    description = f.scenario.description if f.scenario is not None else ""
    page = Page(f"{f.name}: {kinds[f.kind]}", description)
    if f.scenario_note:
        page.warnings.append(f.scenario_note)
    point = _shown_point(f)
    if f.table("summary") is not None:
        page.sections.append(_fans(page, [f], point))
    comparison = _comparison_rows(f, point)
    if comparison:
        page.sections.append(_comparison_section([f], {f.name: comparison}))
    if f.kind == "sweep":
        page.sections.append(_sweep(page, f))
    if f.kind == "calibration":
        page.sections.append(_calibration(page, f))
    if f.kind == "sensitivity":
        page.sections.append(_sensitivity(page, f))
    page.sections.append(_scenario_section(page, f))
    page.sections.append(_provenance(f))
    return page


def _shown_point(f: Folder) -> int:
    """The point whose fan chart is shown: 0 for a run, the best-scoring point of a sweep."""
    points = f.table("points")
    if f.kind == "sweep" and points is not None and "score" in points.columns and points["score"].notna().any():
        return int(points.loc[points["score"].idxmax(), "point"])
    return 0


def _comparison_rows(f: Folder, point: int) -> list[dict[str, Any]]:
    comp = f.table("comparison")
    if comp is None or not len(comp):
        return []
    rows = comp[comp["point"] == point].to_dict("records")
    return [{k: _clean(v) for k, v in r.items()} for r in rows]


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def _events(folders: list[Folder], start: str, end: str) -> list[tuple[str, str, int]]:
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)  # (date, label) -> scenarios that have it
    for f in folders:
        for ev in f.meta.get("events") or []:
            owners[(ev["date"], ev["label"])].append(f.name)
    events = [{"date": date, "label": label if len(names) == len(folders) else f"{label} ({', '.join(names)})"}
              for (date, label), names in owners.items()]
    return figs.event_rows(events, start, end)


def _fans(page: Page, folders: list[Folder], point: int, predictive: bool = False) -> Section:
    """Fan charts per region (all folders overlaid) with the reported figures, then a panel per reported flow."""
    several = len(folders) > 1
    summaries = {f.name: _point_rows(f.tables["summary"], point) for f in folders if f.table("summary") is not None}
    starts = [s["date"].min() for s in summaries.values()]
    ends = [s["date"].max() for s in summaries.values()]
    start, end = min(starts), max(ends)
    events = _events(folders, start, end)
    reported = _reported(folders, point)
    sec_id = "predictive" if predictive else "fan-charts"
    title = "Posterior predictive fan charts" if predictive else "Fan charts"
    sec = Section(sec_id, title)
    f0 = folders[0]
    if f0.kind == "sweep" and not predictive:
        sec.intro.append(f"Point {point} of the sweep: "
                         + ("the point with the best score." if point != 0 or _has_score(f0) else "the first point."))
    reps = f0.meta.get("replicates")
    sec.intro.append(
        "Median (line), 50% and 90% of replicates (bands)"
        + (f" of {reps:,} replicates" if isinstance(reps, int) and not several else "")
        + "; reported figures in red: a range as a bar, a one-sided figure as an arrow head (▲ at least, ▼ at most), "
          "a point value as a dot. Hover over a figure for its date, source and link; click it to find its row in "
          "the comparison table. Dashed lines are dated events. Drag to zoom, double-click to reset.")
    regions = list(dict.fromkeys(r for s in summaries.values() for r in s["region"]))
    for region in regions:
        runs = [(name, s[s["region"] == region]) for name, s in summaries.items()]
        runs = [(name, s) for name, s in runs if len(s)]
        rows = [r for r in reported if r.get("region") == region and not r.get("flow")]
        sec.figures.append(page.figure(figs.region_fan(region, runs, rows, events)))
    by_flow: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reported:
        if r.get("flow"):
            by_flow[r["flow"]].append(r)
    for flow, rows in by_flow.items():
        sec.figures.append(page.figure(figs.flow_panel(flow, rows, events, start, end)))
    return sec


def _has_score(f: Folder) -> bool:
    points = f.table("points")
    return points is not None and "score" in points.columns and bool(points["score"].notna().any())


def _point_rows(df: pd.DataFrame, point: int) -> pd.DataFrame:
    return df[df["point"] == point].sort_values(["region", "date"], kind="stable")


def _reported(folders: list[Folder], point: int) -> list[dict[str, Any]]:
    """Reported figures (union over folders) with their link, table row id and each folder's simulated values."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    several = len(folders) > 1
    for f in folders:
        for row in _comparison_rows(f, point):
            key = observation_key(row)
            if key not in out:
                out[key] = {**row, "link": f.link(row), "row_id": f"obs-{len(out) + 1}", "sims": []}
            out[key]["sims"].append((f.name if several else "", row))
    return list(out.values())


def _comparison_section(folders: list[Folder], rows_by: dict[str, list[dict[str, Any]]]) -> Section:
    """Every reported figure against the simulation, one row per figure (and scenario), sortable."""
    several = len(folders) > 1
    sec = Section("comparison", "Reported figures against the simulation")
    sec.intro.append("Each reported figure with its source, the simulated 5–50–95% on that date (or over that "
                     "period), the share of replicates inside the reported range, the log score (higher is better) "
                     "and the verdict. Click a column header to sort.")
    cols = [("date or period", False), ("region or flow", False), ("source", False), ("reported", True),
            ("simulated 5–50–95%", True), ("share inside", True), ("log score", True), ("verdict", False)]
    if several:
        cols.insert(0, ("scenario", False))
    table = Table("comparison-table", cols, [])
    keys: dict[tuple[str, ...], str] = {}
    for f in folders:
        for row in rows_by.get(f.name, []):
            key = observation_key(row)
            keys.setdefault(key, f"obs-{len(keys) + 1}")
            flow = row.get("flow")
            when = f"{row['from']} to {row['to']}" if flow else row["date"]
            cells = [
                Cell(when, when),
                Cell(f"flow {flow}" if flow else str(row.get("region")), f"flow {flow}" if flow else row.get("region")),
                Cell(str(row.get("source") or ""), str(row.get("source") or ""), href=f.link(row)),
                Cell(figs.reported_text(row.get("obs_low"), row.get("obs_high"), row.get("obs_value")),
                     _centre(row)),
                Cell(f"{figs.num(row['sim_p05'])} – {figs.num(row['sim_p50'])} – {figs.num(row['sim_p95'])}",
                     row["sim_p50"]),
                Cell("" if row.get("p_in_range") is None else f"{float(row['p_in_range']):.0%}", row.get("p_in_range")),
                Cell("" if row.get("log_score") is None else f"{float(row['log_score']):.2f}", row.get("log_score")),
                Cell(str(row.get("verdict") or ""), str(row.get("verdict") or ""),
                     cls="ok" if row.get("verdict") == "consistent" else "bad"),
            ]
            if several:
                cells.insert(0, Cell(f.name, f.name))
            table.rows.append(cells)
            first = keys[key] not in table.row_ids
            table.row_ids.append(keys[key] if first else "")
    sec.tables.append(table)
    return sec


def _centre(row: dict[str, Any]) -> float | None:
    lo, hi, val = (figs._float(row.get(k)) for k in ("obs_low", "obs_high", "obs_value"))
    if lo is not None and hi is not None:
        return math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
    return hi if hi is not None else lo if lo is not None else val


def _sweep(page: Page, f: Folder) -> Section:
    points = f.tables["points"]
    swept = list((f.meta.get("sweep") or {}).get("parameters") or [])
    sec = Section("sweep", "Sweep points")
    info = f.meta.get("sweep") or {}
    sec.intro.append(f"{len(points):,} points ({info.get('method', '')} design) × {f.meta.get('replicates')} "
                     "replicates. The table is sorted by score (best first) when the run had reported figures; "
                     "click a header to sort by another column.")
    target = "score" if _has_score(f) else next((c for c in points.columns if c.endswith("_p50")), swept[0])
    best = _shown_point(f) if target == "score" else None
    for param in swept:
        sec.grid.append(page.figure(figs.sweep_scatter(points, param, target, best)))
    ordered = points.sort_values("score", ascending=False) if target == "score" else points
    cols: list[tuple[str, bool]] = [(str(c), True) for c in ordered.columns]
    rows = []
    for r in ordered.head(2000).to_dict("records"):
        rows.append([Cell(_short(v), _clean(v)) for v in r.values()])
    if len(ordered) > 2000:
        sec.intro.append(f"The table shows the 2,000 best of {len(ordered):,} points; points.csv has them all.")
    sec.tables.append(Table("points-table", cols, rows))
    return sec


def _short(v: Any) -> str:
    v = _clean(v)
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    return str(v)


def _calibration(page: Page, f: Folder) -> Section:
    cal = f.meta.get("calibration") or {}
    posterior = f.tables["posterior"]
    priors: dict[str, list[float]] = {k: [float(a), float(b)] for k, (a, b) in (cal.get("priors") or {}).items()}
    params = [p for p in priors if p in posterior.columns]
    sec = Section("calibration", "Posterior")
    sec.intro.append(
        "Posterior of the calibrated parameters given the reported figures (sequential Monte Carlo with importance "
        "weights). Histograms are weighted by the particles' weights; the dotted line is the uniform prior; the red "
        "line and shading mark the median and the 90% interval.")
    sec.facts = [
        ("particles", f"{cal.get('particles', len(posterior)):,}"),
        ("effective sample size (ESS)", f"{cal.get('ess', float('nan')):,.0f}"),
        ("log marginal likelihood", f"{cal.get('log_evidence', float('nan')):.2f} ± "
                                    f"{cal.get('log_evidence_se', float('nan')):.2f} (Monte Carlo se)"),
        ("simulated parameter sets", f"{cal.get('simulated', 0):,} of a budget of {cal.get('draws_budget', 0):,}"),
        ("replicates per parameter set", str(cal.get("replicates_per_draw", ""))),
        ("method", str(cal.get("method", ""))),
    ]
    if "model_probability" in f.meta:
        mp = f.meta["model_probability"]
        sec.facts.append(("posterior model probability", f"{mp.get('probability', 0):.3f} ± {mp.get('se', 0):.3f}"))
    ess = cal.get("ess")
    if isinstance(ess, int | float) and ess < 200:
        page.warnings.append(f"The effective sample size ({ess:,.0f}) is below 200: the posterior is rough; use more "
                             "particles and draws.")
    if cal.get("budget_ran_out"):
        page.warnings.append("The draws budget ran out before the sampler reached the posterior: it is poorly "
                             "explored; use more draws.")
    rows = []
    import numpy as np

    w = posterior["weight"].to_numpy(dtype=float)
    for p in params:
        v = posterior[p].to_numpy(dtype=float)
        q = [figs.weighted_quantile(v, w, x) for x in (0.05, 0.5, 0.95)]
        mean = float(np.average(v, weights=w)) if w.sum() > 0 else float("nan")
        lo, hi = priors[p]
        rows.append([Cell(p, p), Cell(f"{lo:.4g} – {hi:.4g}", lo), Cell(f"{mean:.4g}", mean),
                     Cell(f"{q[1]:.4g}", q[1]), Cell(f"{q[0]:.4g} – {q[2]:.4g}", q[0])])
    sec.tables.append(Table("posterior-table", [("parameter", False), ("prior (uniform)", True), ("mean", True),
                                                ("median", True), ("90% interval", True)], rows))
    for p in params:
        sec.grid.append(page.figure(figs.marginal(posterior, p, priors.get(p))))
    shown = params[:6]
    pairs = [(a, b) for i, a in enumerate(shown) for b in shown[i + 1:]]
    if pairs:
        sub = Section("pairs", "Pairs of parameters")
        sub.intro.append("Each particle as a dot, its area by its weight, within the prior ranges: a ridge or a "
                         "slope shows parameters the figures cannot tell apart.")
        for a, b in pairs:
            sub.grid.append(page.figure(figs.pair(posterior, a, b, priors)))
        sec.subsections.append(sub)
    stages = cal.get("stages") or []
    if stages:
        st_rows = [[Cell(str(i), i), Cell(str(j + 1), j + 1), Cell(f"{s['beta']:.3g}", s["beta"]),
                    Cell(f"{s['ess']:,.1f}", s["ess"]), Cell(f"{s['acceptance']:.0%}", s["acceptance"]),
                    Cell(str(s["moves"]), s["moves"])]
                   for i, island in enumerate(stages) for j, s in enumerate(island)]
        sec.tables.append(Table("stages-table", [("island", True), ("stage", True), ("tempering β", True),
                                                 ("ESS", True), ("acceptance", True), ("moves", True)], st_rows,
                                caption="Sampler stages per independent island"))
    if f.predictive is not None:
        pred = _fans(page, [f.predictive], 0, predictive=True)
        pred.intro.insert(0, f"From {f.predictive.path}: the calibrated scenario run with every calibrated number "
                             "drawn from the posterior.")
        sec.subsections.append(pred)
    else:
        sec.intro.append(f"No posterior predictive run was found beside this folder; `flowsim compare "
                         f"{f.path / 'calibrated.yaml'}` makes one ({f.name}-calibrated), which the next report of "
                         "this folder shows.")
    return sec


def _sensitivity(page: Page, f: Folder) -> Section:
    df = f.tables["sensitivity"]
    info = f.meta.get("sensitivity") or {}
    sec = Section("sensitivity", "Sensitivity (Sobol indices)")
    sec.intro.append(
        f"First-order (S1) and total (ST) Sobol indices of the expected output, with 95% bootstrap intervals, from "
        f"{info.get('runs', '?')} runs of {info.get('replicates_per_run', '?')} replicates; replicate noise is taken "
        "out. ST near 0: the parameter does not matter within its range.")
    for output, g in df.groupby("output", sort=False):
        dates = sorted(set(g["date"]))
        last = dates[-1]
        sec.grid.append(page.figure(figs.sobol_bars(g[g["date"] == last], str(output), last)))
        if len(dates) > 1:
            sec.figures.append(page.figure(figs.sobol_over_time(g, str(output))))
    cols = [(c, c not in ("output", "region", "date", "parameter")) for c in df.columns]
    last_rows = df[df["date"] == df.groupby("output")["date"].transform("max")]
    sec.tables.append(Table("sensitivity-table", cols, [[Cell(_short(v), _clean(v)) for v in r.values()]
                                                        for r in last_rows.to_dict("records")],
                            caption="Indices on each output's last date (sensitivity.csv has every date)"))
    return sec


def _scenario_section(page: Page, f: Folder) -> Section:
    sec = Section("scenario", "The scenario")
    s = f.scenario
    if s is not None:
        sec.intro.append(f"{s.start} to {s.end}, rates per {s.time_unit}; arrows: green from outside "
                         "(recruitment), grey out of the system (losses), orange diverted recruits, purple transfers. "
                         "Small curves are values that change over time (hover for dates and values).")
        sec.figures.append(page.figure(figs.diagram(s)))
        sec.tables.append(_flows_table(s))
        if s.events:
            sec.tables.append(Table("events-table", [("date", False), ("event", False)],
                                    [[Cell(str(e.date), str(e.date)), Cell(_event_text(e))] for e in s.events]))
    elif f.scenario_note:
        sec.intro.append(f.scenario_note[0].upper() + f.scenario_note[1:] + ".")
    if f.scenario_text is not None:
        sec.code.append((f"{f.meta.get('scenario_file')}", f.scenario_text))
    if "calibrated.yaml" in f.files:
        sec.code.append(("calibrated.yaml (in this folder)", f.files["calibrated.yaml"]))
    return sec


def _event_text(e: Any) -> str:
    if e.shock is not None:
        what = (f"a share {figs.value_text(e.shock.remove, '')} removed" if e.shock.remove is not None
                else f"{figs.value_text(e.shock.count, '')} persons removed")
        return f"{e.label()}: shock in {e.shock.region}, {what}"
    change = e.set if e.set is not None else e.scale or {}
    verb = "set" if e.set is not None else "scale by"
    return (f"{e.name + ': ' if e.name else ''}" + "; ".join(f"{verb} {k} {_plain(v)}" for k, v in change.items()))


def _plain(v: Any) -> str:
    from flowsim.model.distributions import Distribution

    if isinstance(v, Distribution):
        return figs.value_text(v, "")
    return f"{v:g}" if isinstance(v, float) else str(v)


def _flows_table(s: Any) -> Table:
    from flowsim.model.timeline import Timeline

    rows = []
    for flow in s.flows:
        fields = flow.model_dump(by_alias=True)
        where = ", ".join(f"{k} {fields[k]}" for k in ("of", "from", "region", "to") if fields.get(k))
        numbers = []
        for name in flow.numeric:
            value = getattr(flow, name)
            if value is None:
                continue
            if isinstance(value, Timeline):
                knots = "; ".join(f"{d}: {figs.value_text(v, '')}" for d, v in value.knots)
                numbers.append(f"{name} {value.shape}{' ' + value.file if value.file else ''} ({knots})")
            else:
                numbers.append(f"{name} {figs.value_text(value, '')}")
        delay = getattr(flow, "delay", None)
        if delay:
            numbers.append(f"delay {delay} days")
        rows.append([Cell(flow.name), Cell(flow.kind), Cell(where), Cell("; ".join(numbers))])
    return Table("flows-table", [("flow", False), ("kind", False), ("between", False), ("values", False)], rows,
                 caption=f"Rates per {s.time_unit}; per-capita rates and fractions as shares")


def _provenance(f: Folder) -> Section:
    m = f.meta
    prov = m.get("provenance") or {}
    versions = prov.get("versions") or {}
    settings = prov.get("settings") or {}
    git = prov.get("git") or {}
    sec = Section("provenance", "Provenance")
    meta_file = "run.json" if f.kind in ("run", "sweep") else f"{f.kind}.json"
    sec.intro.append(f"From {f.path / meta_file}.")
    facts = [
        ("scenario", f"{m.get('scenario')} ({m.get('scenario_file')})"),
        ("command line", str(prov.get("command_line") or "not recorded (run from Python)")),
        ("seed", str(m.get("seed"))),
        ("replicates", f"{m['replicates']:,}" if isinstance(m.get("replicates"), int) else str(m.get("replicates"))),
        ("engine", str(m.get("engine"))),
        ("workers", str(m.get("workers"))),
        ("wall time", f"{m.get('wall_time_s')} s"),
        ("overrides (--set)", ", ".join(m.get("overrides") or []) or "none"),
        ("settings", ", ".join(f"{k} {v}" for k, v in sorted(settings.items()))),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)),
        ("platform", str(prov.get("platform", ""))),
        ("git", f"commit {git.get('commit')}" + (" (the input files differ from it)" if git.get("dirty") else "")
         if git else "not in a git work tree"),
        ("report", f"written {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')} by flowsim {__version__}"),
    ]
    sec.facts = facts
    rows = []
    for item, state in zip(prov.get("inputs") or [], f.input_states, strict=False):
        rows.append([Cell(str(item.get("path"))), Cell(f"{item.get('bytes') or 0:,}", item.get("bytes")),
                     Cell(str(item.get("sha256"))), Cell(state, state, cls="ok" if state == "unchanged" else "bad")])
    sec.tables.append(Table("inputs-table", [("input file", False), ("bytes", True), ("SHA-256", False),
                                             ("now", False)], rows, caption="Every input file as read by the run"))
    return sec


# ---- several scenarios


def several(folders: list[Folder]) -> Page:
    """One page comparing scenarios: ranking, fan charts overlaid, every reported figure, paired differences."""
    names = [f.name for f in folders]
    page = Page(f"Comparing {', '.join(names)}", f"{len(folders)} scenarios against the reported figures")
    for f in folders:
        if f.scenario_note:
            page.warnings.append(f"{f.name}: {f.scenario_note}")
    scored = [f for f in folders if f.meta.get("comparison")]
    if scored:
        page.sections.append(_ranking(scored))
    page.sections.append(_fans(page, folders, 0))
    rows_by = {f.name: _comparison_rows(f, 0) for f in folders}
    if any(rows_by.values()):
        page.sections.append(_medians(folders, rows_by))
        page.sections.append(_comparison_section(folders, rows_by))
    diffs = [f for f in folders if f.table("differences") is not None]
    if diffs:
        sec = Section("differences", "Paired differences")
        sec.intro.append("Each later scenario minus the first, replicate by replicate with common random numbers: "
                         "far narrower than the difference of two independent runs.")
        for f in diffs:
            d = f.tables["differences"]
            for region, g in d.groupby("region", sort=False):
                a = str(g["scenario_a"].iloc[0]) if "scenario_a" in g.columns else folders[0].name
                sec.figures.append(page.figure(figs.differences_fan(str(region), g.sort_values("date"), a, f.name)))
        page.sections.append(sec)
    for f in folders:
        scen = _scenario_section(page, f)
        scen.id, scen.title = f"scenario-{f.name}", f"Scenario {f.name}"
        page.sections.append(scen)
    for f in folders:
        prov = _provenance(f)
        prov.id, prov.title = f"provenance-{f.name}", f"Provenance of {f.name}"
        page.sections.append(prov)
    return page


def _ranking(folders: list[Folder]) -> Section:
    sec = Section("ranking", "Ranking")
    sec.intro.append("Scenarios ranked by their score (the sum of the log scores of the observation groups; higher "
                     "is better). The score is a proper scoring rule: a wider fan does not score better for being "
                     "wide.")
    ranked = sorted(folders, key=lambda f: -float(f.meta["comparison"]["log_score"]))
    rows = []
    for i, f in enumerate(ranked, 1):
        c = f.meta["comparison"]
        rows.append([Cell(str(i), i), Cell(f.name, f.name),
                     Cell(f"{c['consistent']}/{c['observations']}", c["consistent"] / max(c["observations"], 1)),
                     Cell(f"{float(c['log_score']):.2f}", float(c["log_score"]))])
    sec.tables.append(Table("ranking-table", [("rank", True), ("scenario", False), ("consistent", True),
                                              ("score", True)], rows))
    return sec


def _medians(folders: list[Folder], rows_by: dict[str, list[dict[str, Any]]]) -> Section:
    """The simulated median of each scenario on each reported date, side by side (↑ too high, ↓ too low)."""
    sec = Section("medians", "Medians on the reported dates")
    sec.intro.append("The simulated median of each scenario for each reported figure; ↑ marks a scenario too high "
                     "for the figure, ↓ too low.")
    keyed: dict[tuple[str, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    first: dict[tuple[str, ...], dict[str, Any]] = {}
    for f in folders:
        for row in rows_by.get(f.name, []):
            key = observation_key(row)
            keyed[key][f.name] = row
            first.setdefault(key, row)
    rows = []
    for key, row in first.items():
        flow = row.get("flow")
        when = f"{row['from']} to {row['to']}" if flow else row["date"]
        cells = [Cell(when, when), Cell(f"flow {flow}" if flow else str(row.get("region"))),
                 Cell(figs.reported_text(row.get("obs_low"), row.get("obs_high"), row.get("obs_value")),
                      _centre(row))]
        for f in folders:
            r = keyed[key].get(f.name)
            if r is None:
                cells.append(Cell("", None))
                continue
            arrow = {"too high": " ↑", "too low": " ↓"}.get(str(r.get("verdict")), "")
            cells.append(Cell(figs.num(r["sim_p50"]) + arrow, r["sim_p50"], cls="bad" if arrow else ""))
        rows.append(cells)
    cols = [("date or period", False), ("region or flow", False), ("reported", True)]
    cols += [(f.name, True) for f in folders]
    sec.tables.append(Table("medians-table", cols, rows))
    return sec


# ---- rendering


def render(page: Page) -> str:
    """The whole HTML document: template, figures as JSON, plotly.js inlined once."""
    import jinja2
    from plotly.offline import get_plotlyjs

    env = jinja2.Environment(loader=jinja2.PackageLoader("flowsim.outputs.report", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    template = env.get_template("report.html.j2")
    figures, arrays = shared_arrays(page.figures)
    return template.render(page=page, figures_json=script_json({"figures": figures, "arrays": arrays}),
                           plotly_js=get_plotlyjs(), version=__version__)


SHARED = ("x", "y", "customdata")
"""Trace keys whose long arrays are stored once and referenced (every region's chart has the same dates)."""


def shared_arrays(figures: dict[str, figs.Figure]) -> tuple[dict[str, figs.Figure], dict[str, Any]]:
    """Figures with each long array replaced by `{"$ref": id}` into one table of arrays, each stored once."""
    arrays: dict[str, Any] = {}
    ids: dict[str, str] = {}
    out: dict[str, figs.Figure] = {}
    for fid, fig in figures.items():
        traces = []
        for trace in fig["data"]:
            trace = dict(trace)
            for key in SHARED:
                value = trace.get(key)
                if isinstance(value, list) and len(value) > 20:
                    text = json.dumps(_finite(value), separators=(",", ":"))
                    ref = ids.setdefault(text, f"a{len(ids)}")
                    arrays[ref] = _finite(value)
                    trace[key] = {"$ref": ref}
            traces.append(trace)
        out[fid] = {**fig, "data": traces}
    return out, arrays


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, no HTML comment, no NaN."""
    text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if hasattr(x, "item"):
        return _finite(x.item())
    return x
