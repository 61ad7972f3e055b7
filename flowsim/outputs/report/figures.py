"""The report's interactive charts, as plotly figure specifications (plain `{"data", "layout"}` dicts).

Figures are built as dicts rather than `plotly.graph_objects` so that each one
carries only what it draws (no embedded theme): plotly.js itself is most of the
page's weight, and the data should not add much. The page draws them with
`Plotly.newPlot`; styling is set here once (`_layout`).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import textwrap
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from flowsim.model.scenario import Scenario

Figure = dict[str, Any]

BLUE = "#1f5fa8"
REPORTED = "#c0392b"
EVENT = "#6b6b6b"
PALETTE = ("#1f5fa8", "#d9730d", "#2e8540", "#8e44ad", "#b8860b", "#17a2b8", "#c2185b", "#5d4037")
KIND_COLOURS = {"in": "#2e8540", "out": "#7f7f7f", "split": "#d9730d", "move": "#8e44ad"}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
LABEL_PX = 6.6  # width of one character of an event label at 11 px, for laying labels out
PLOT_PX = 1000  # the plotting width assumed when laying event labels out (a laptop screen)


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def num(x: Any) -> str:
    """A number as people read it: thousands separated, no false precision."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    x = float(x)
    if abs(x) >= 100 or (x == int(x) and abs(x) >= 1):
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.1f}"
    return f"{x:.3g}"


def reported_text(low: Any, high: Any, value: Any) -> str:
    """A reported figure as written in the tables: a range, one side ('up to'), or a point ('about')."""
    lo, hi, val = (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
                   for v in (low, high, value))
    if lo is not None and hi is not None:
        return f"{num(lo)}–{num(hi)}"
    if hi is not None:
        return f"≤ {num(hi)}"
    if lo is not None:
        return f"≥ {num(lo)}"
    return f"≈ {num(val)}" if val is not None else ""


def _wrap(text: str, width: int = 70) -> str:
    """Escape text for plotly's hover labels (which read a little HTML) and break long lines."""
    return "<br>".join(html.escape(line) for line in textwrap.wrap(text, width) or [""])


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "margin": {"l": 64, "r": 16, "t": 48, "b": 40},
        "font": {"family": FONT, "size": 12, "color": "#222"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
        "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#888", "font": {"size": 12, "color": "#222"},
                       "align": "left"},
        "legend": {"orientation": "h", "y": -0.1, "x": 0, "yanchor": "top", "traceorder": "normal",
                   "font": {"size": 11}},
        "xaxis": {"showgrid": True, "gridcolor": "#e5e5e5", "linecolor": "#999", "zeroline": False},
        "yaxis": {"showgrid": True, "gridcolor": "#e5e5e5", "linecolor": "#999", "zeroline": False,
                  "separatethousands": True, "rangemode": "tozero", "tickformat": ",.0f"},
    }
    layout.update(extra)
    return layout


# ---- fan charts


def event_rows(events: list[dict[str, Any]], start: str, end: str) -> list[tuple[str, str, int]]:
    """Events as (date, label, row): a label that would overlap one before it on a row goes to the next row."""
    if not events or not start or not end:
        return []
    span = max((dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days, 1)
    px_per_day = PLOT_PX / span
    right_edge: list[float] = []  # per row, the x (in px) where its last label ends
    out = []
    for ev in sorted(events, key=lambda e: e["date"]):
        if not start <= ev["date"] <= end:
            continue
        x = (dt.date.fromisoformat(ev["date"]) - dt.date.fromisoformat(start)).days * px_per_day
        width = len(ev["label"]) * LABEL_PX + 14
        row = next((i for i, edge in enumerate(right_edge) if x - 2 >= edge), len(right_edge))
        if row == len(right_edge):
            right_edge.append(0.0)
        right_edge[row] = x + width
        out.append((ev["date"], ev["label"], row))
    return out


def _events(layout: dict[str, Any], rows: list[tuple[str, str, int]]) -> None:
    """Dashed vertical lines with their labels laid out in rows above the chart (no two overlap)."""
    n_rows = max((r for _, _, r in rows), default=-1) + 1
    layout["margin"]["t"] = 48 + 17 * n_rows
    layout.setdefault("shapes", [])
    layout.setdefault("annotations", [])
    for date, label, row in rows:
        layout["shapes"].append({"type": "line", "xref": "x", "yref": "paper", "x0": date, "x1": date, "y0": 0,
                                 "y1": 1, "line": {"color": EVENT, "width": 1, "dash": "dash"}})
        layout["annotations"].append({
            "x": date, "xref": "x", "yref": "paper", "y": 1, "yshift": 4 + 17 * row, "xanchor": "left",
            "yanchor": "bottom", "showarrow": False, "text": html.escape(label), "name": "event",
            "font": {"size": 11, "color": "#444"}, "bgcolor": "rgba(255,255,255,0.85)",
            "hovertext": html.escape(f"{date}: {label}")})
    if n_rows:
        layout["title"]["y"] = 1 - 8 / layout["height"]
        layout["title"]["yanchor"] = "top"


Numbers = list[float | int | None]


def _band(x: list[str], low: Numbers, high: Numbers, colour: str, alpha: float, name: str, group: str,
          legend: bool = True) -> list[dict[str, Any]]:
    return [
        {"type": "scatter", "x": x, "y": low, "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip",
         "showlegend": False, "legendgroup": group},
        {"type": "scatter", "x": x, "y": high, "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": rgba(colour, alpha), "name": name, "hoverinfo": "skip", "showlegend": legend,
         "legendgroup": group},
    ]


def _round(values: Any) -> list[float | int | None]:
    """Numbers as the page needs them: whole above 100 (persons), one decimal below; missing as None."""
    out: list[float | int | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        v = round(float(v), 1)
        out.append(round(v) if abs(v) >= 100 or v == int(v) else v)
    return out


def fan_traces(series: pd.DataFrame, colour: str = BLUE, label: str = "", bands: bool = True) -> list[dict[str, Any]]:
    """Median line with 50% and 90% bands of one region's summary rows (one point), hover on the median."""
    x = list(series["date"])
    prefix = f"{label}: " if label else ""
    traces = []
    if bands:
        traces += _band(x, _round(series["p05"]), _round(series["p95"]), colour, 0.16, f"{prefix}90% of replicates",
                        label or "fan")
        traces += _band(x, _round(series["p25"]), _round(series["p75"]), colour, 0.32, f"{prefix}50% of replicates",
                        label or "fan")
    quantiles = [list(q) for q in zip(*(_round(series[c]) for c in ("p25", "p75", "p05", "p95")), strict=True)]
    traces.append({"type": "scatter", "x": x, "y": _round(series["p50"]), "mode": "lines",
                   "line": {"color": colour, "width": 2}, "name": f"{prefix}median", "legendgroup": label or "fan",
                   "customdata": quantiles,
                   "hovertemplate": "%{x|%Y-%m-%d}<br>" + html.escape(prefix) + "median %{y:,.0f}<br>"
                                    "50%: %{customdata[0]:,.0f}–%{customdata[1]:,.0f}<br>"
                                    "90%: %{customdata[2]:,.0f}–%{customdata[3]:,.0f}<extra></extra>"})
    return traces


def _hover_report(row: dict[str, Any], link: str, sims: list[tuple[str, dict[str, Any]]]) -> str:
    when = f"{row['from']} to {row['to']}" if row.get("flow") else row["date"]
    lines = [f"<b>{html.escape(when)}</b>",
             f"reported: {reported_text(row.get('obs_low'), row.get('obs_high'), row.get('obs_value'))}",
             f"source: {_wrap(str(row.get('source') or 'no source given'))}"]
    if link:
        lines.append(f"link: {_wrap(link, 90)}")
    for name, sim in sims:
        who = f"{html.escape(name)}: " if name else ""
        lines.append(f"{who}simulated {num(sim['sim_p05'])} – {num(sim['sim_p50'])} – {num(sim['sim_p95'])} "
                     f"(5–50–95%), {html.escape(str(sim.get('verdict') or ''))}")
    return "<br>".join(lines)


def _report_marks(rows: list[dict[str, Any]], x: list[str], links: list[str], ids: list[str],
                  sims: list[list[tuple[str, dict[str, Any]]]]) -> dict[str, Any]:
    """Reported figures as one trace: a range as a bar between its ends, one side as an arrow, a point as a dot."""
    y: list[float | None] = []
    up: list[float] = []
    down: list[float] = []
    symbols: list[str] = []
    text: list[str] = []
    for row, link, sim in zip(rows, links, sims, strict=True):
        lo, hi, val = (_float(row.get(k)) for k in ("obs_low", "obs_high", "obs_value"))
        if lo is not None and hi is not None:
            mid = math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
            y.append(mid)
            up.append(hi - mid)
            down.append(mid - lo)
            symbols.append("diamond")
        elif hi is not None:
            y.append(hi)
            up.append(0.0)
            down.append(0.0)
            symbols.append("triangle-down")
        elif lo is not None:
            y.append(lo)
            up.append(0.0)
            down.append(0.0)
            symbols.append("triangle-up")
        else:
            y.append(val)
            up.append(0.0)
            down.append(0.0)
            symbols.append("circle")
        text.append(_hover_report(row, link, sim))
    return {"type": "scatter", "mode": "markers", "x": x, "y": y, "name": "reported figure (hover for source)",
            "marker": {"color": REPORTED, "size": 10, "symbol": symbols, "line": {"color": "#ffffff", "width": 1}},
            "error_y": {"type": "data", "symmetric": False, "array": up, "arrayminus": down, "color": REPORTED,
                        "thickness": 3, "width": 7},
            "text": text, "hovertemplate": "%{text}<extra></extra>", "customdata": [[i, lk] for i, lk in
                                                                                      zip(ids, links, strict=True)],
            "meta": "reported", "zorder": 10}


def _float(v: Any) -> float | None:
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def region_fan(region: str, runs: list[tuple[str, pd.DataFrame]], reported: list[dict[str, Any]],
               events: list[tuple[str, str, int]], subtitle: str = "") -> Figure:
    """One region's fan chart: for each (label, summary rows) its bands and median; the reported figures on top.

    `reported` rows carry `link`, `row_id` and `sims` (the simulated percentiles of each run, for the hover).
    """
    data: list[dict[str, Any]] = []
    several = len(runs) > 1
    for i, (label, series) in enumerate(runs):
        data += fan_traces(series, PALETTE[i % len(PALETTE)], label if several else "", bands=True)
    if reported:  # first, so that it wins hover ties with the median on its date; drawn on top by zorder
        data.insert(0, _report_marks(reported, [r["date"] for r in reported], [r["link"] for r in reported],
                                     [r["row_id"] for r in reported], [r["sims"] for r in reported]))
    title = region.replace("_", " ") + (f" — {subtitle}" if subtitle else "")
    first = min(s["date"].min() for _, s in runs)
    last = max(s["date"].max() for _, s in runs)
    layout = _layout(title, 400 + (40 if several else 0))
    layout["yaxis"]["title"] = {"text": "fighters"}
    layout["xaxis"]["range"] = padded(first, last)
    layout["xaxis"]["type"] = "date"
    _events(layout, events)
    return {"data": data, "layout": layout}


def flow_panel(flow: str, rows: list[dict[str, Any]], events: list[tuple[str, str, int]], start: str,
               end: str) -> Figure:
    """Reported flow figures (persons moved in a period): the simulated 90% and median as a box over the period,
    the report at the period's middle. `rows` are comparison rows of one flow, with `link`, `row_id`, `sims`."""
    data: list[dict[str, Any]] = []
    for i, (name, _) in enumerate(rows[0]["sims"] if rows else []):
        colour = PALETTE[i % len(PALETTE)]
        bx: list[str | None] = []
        by: list[float | None] = []
        mx: list[str | None] = []
        my: list[float | None] = []
        for r in rows:
            sim = dict(r["sims"]).get(name)
            if sim is None:
                continue
            a, b = r["from"], _day_after(r["to"])
            p05, p50, p95 = (round(float(sim[k]), 1) for k in ("sim_p05", "sim_p50", "sim_p95"))
            bx += [a, b, b, a, a, None]
            by += [p05, p05, p95, p95, p05, None]
            mx += [a, b, None]
            my += [p50, p50, None]
        label = f"{name}: " if name else ""
        data.append({"type": "scatter", "x": bx, "y": by, "mode": "lines", "fill": "toself",
                     "fillcolor": rgba(colour, 0.25), "line": {"width": 0}, "hoverinfo": "skip",
                     "name": f"{label}simulated 90% in the period"})
        data.append({"type": "scatter", "x": mx, "y": my, "mode": "lines", "line": {"color": colour, "width": 2},
                     "hoverinfo": "skip", "name": f"{label}simulated median"})
    mids = [_middle(r["from"], r["to"]) for r in rows]
    data.insert(0, _report_marks(rows, mids, [r["link"] for r in rows], [r["row_id"] for r in rows],
                              [r["sims"] for r in rows]))
    layout = _layout(f"flow {flow.replace('_', ' ')}: persons moved in each reported period", 340)
    layout["yaxis"]["title"] = {"text": "persons in period"}
    layout["xaxis"]["type"] = "date"
    layout["xaxis"]["range"] = padded(start, end)
    _events(layout, events)
    return {"data": data, "layout": layout}


def padded(first: str, last: str) -> list[str]:
    """A date range with 1.5% room on each side, so a figure on the first or last day is not cut in half."""
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    pad = dt.timedelta(days=max(1, round((b - a).days * 0.015)))
    return [(a - pad).isoformat(), (b + pad).isoformat()]


def _day_after(date: str) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


def _middle(a: str, b: str) -> str:
    start, stop = dt.date.fromisoformat(a), dt.date.fromisoformat(b) + dt.timedelta(days=1)
    return (start + (stop - start) / 2).isoformat()


def differences_fan(region: str, rows: pd.DataFrame, a: str, b: str) -> Figure:
    """Paired differences B minus A in one region: median and 90% band over time."""
    x = list(rows["date"])
    data = _band(x, _round(rows["p05"]), _round(rows["p95"]), PALETTE[1], 0.25, "90% of paired replicates", "d")
    quantiles = [list(q) for q in zip(_round(rows["p05"]), _round(rows["p95"]), strict=True)]
    data.append({"type": "scatter", "x": x, "y": _round(rows["p50"]), "mode": "lines", "name": "median difference",
                 "line": {"color": PALETTE[1], "width": 2}, "customdata": quantiles,
                 "hovertemplate": "%{x|%Y-%m-%d}<br>median %{y:+,.0f}<br>90%: %{customdata[0]:+,.0f} to "
                                  "%{customdata[1]:+,.0f}<extra></extra>"})
    layout = _layout(f"{region.replace('_', ' ')}: {b} minus {a} (paired replicates)", 320)
    layout["yaxis"].update({"rangemode": "normal", "zeroline": True, "zerolinecolor": "#999",
                            "title": {"text": "difference in fighters"}})
    layout["xaxis"]["type"] = "date"
    return {"data": data, "layout": layout}


# ---- the scenario diagram


def value_text(value: Any, per: str, share: bool = False) -> str:
    """A flow's number as a label: '1,500/month', '8%/month', 'uniform 1,000–2,000/month', 'schedule'."""
    from flowsim.model.distributions import Distribution
    from flowsim.model.timeline import Timeline

    def one(x: float) -> str:
        return f"{x * 100:.3g}%" if share else num(x)

    if isinstance(value, Timeline):
        return f"{value.shape} ({len(value.knots)} values)"
    if isinstance(value, Distribution):
        if value.kind == "posterior":
            return "posterior"
        if value.kind in ("uniform", "triangular", "choice") and value.args:
            return f"{value.kind} {one(min(value.args))}–{one(max(value.args))}{per}"
        return f"{value.kind}({', '.join(one(a) for a in value.args)}){per}"
    return f"{one(float(value))}{per}"


def _mean(value: Any) -> float:
    from flowsim.model.distributions import Distribution

    if isinstance(value, Distribution):
        try:
            return float(value.mean())
        except (ValueError, ZeroDivisionError, OverflowError):
            return float("nan")
    return float(value)


def diagram(s: Scenario) -> Figure:
    """Regions as nodes, flows as arrows labelled with their rates; values that change over time as sparklines.

    Regions sit on a circle; arrows from outside (recruitment) and out of the system
    (attrition) fan out on each region's outer side; links between regions are
    offset sideways so that two between the same regions do not overlap.
    """
    from flowsim.model.network import Exit, Source, Split
    from flowsim.model.timeline import Timeline

    regions = list(s.regions)
    n = len(regions)
    if n == 1:
        pos = {regions[0]: (0.0, 0.0)}
    elif n == 2:
        pos = {regions[0]: (-1.0, 0.0), regions[1]: (1.0, 0.0)}
    else:
        pos = {r: (math.cos(math.pi / 2 - 2 * math.pi * i / n), math.sin(math.pi / 2 - 2 * math.pi * i / n))
               for i, r in enumerate(regions)}
    values = s.flow_values()
    per = f"/{s.time_unit}"
    prims = s.primitives()
    sources = {p.flow: p for p in prims if isinstance(p, Source)}
    external: dict[str, list[tuple[str, str, Any, bool]]] = defaultdict(list)  # region -> (in|out, flow, value, %)
    links: list[tuple[str, str, str, str, Any, bool]] = []  # (from, to, kind, flow, value, share)
    for p in prims:
        if isinstance(p, Source):
            external[p.to].append(("in", p.flow, values.get(p.rate), False))
        elif isinstance(p, Split) and p.of in sources:
            links.append((sources[p.of].to, p.to, "split", p.flow, values.get(p.fraction), True))
        elif isinstance(p, Exit) and p.to is None:
            external[p.region].append(("out", p.flow, values.get(p.rate), True))
        elif isinstance(p, Exit):
            links.append((p.region, str(p.to), "move", p.flow, values.get(p.rate), True))

    annotations: list[dict[str, Any]] = []
    labels: list[tuple[float, float, str, str, Any]] = []  # x, y, text, colour, value (for sparklines)
    ends: list[tuple[float, float]] = list(pos.values())
    node_r = 0.17
    for region, items in external.items():
        cx, cy = pos[region]
        out_angle = math.atan2(cy, cx) if (cx, cy) != (0.0, 0.0) else math.pi / 2
        spread = math.radians(150 if n > 1 else 300)
        for k, (way, flow, value, share) in enumerate(items):
            angle = out_angle + (spread * ((k + 0.5) / len(items) - 0.5) if len(items) > 1 else 0)
            ux, uy = math.cos(angle), math.sin(angle)
            near = (cx + ux * node_r, cy + uy * node_r)
            far = (cx + ux * 0.95, cy + uy * 0.95)
            head, tail = (near, far) if way == "in" else (far, near)
            colour = KIND_COLOURS[way]
            annotations.append(_arrow(head, tail, colour))
            ends.append(far)
            lx, ly = cx + ux * 1.12, cy + uy * 1.12
            labels.append((lx, ly, _flow_label(flow, value, per, share, way), colour, value))
            ends.append((lx, ly))
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for a, b, kind, flow, value, share in links:
        (ax, ay), (bx, by) = pos[a], pos[b]
        length = math.hypot(bx - ax, by - ay) or 1.0
        dx, dy = (bx - ax) / length, (by - ay) / length
        k = pairs[(a, b)]
        pairs[(a, b)] += 1
        off = 0.07 + 0.16 * k  # to the right of the direction a -> b, so b -> a lies on the other side
        ox, oy = dy * off, -dx * off
        tail = (ax + dx * node_r + ox, ay + dy * node_r + oy)
        head = (bx - dx * node_r + ox, by - dy * node_r + oy)
        colour = KIND_COLOURS[kind]
        annotations.append(_arrow(head, tail, colour))
        mx, my = (ax + bx) / 2 + ox * 1.6, (ay + by) / 2 + oy * 1.6
        text = _flow_label(flow, value, "" if share else per, share, kind)
        if kind == "move":
            text = _flow_label(flow, value, per, share, kind)
        labels.append((mx, my, text, colour, value))
    xs = [x for x, _ in ends] + [x for x, *_ in labels]
    ys = [y for _, y in ends] + [y for _, y, *_ in labels]
    x0, x1 = min(xs) - 0.55, max(xs) + 0.55
    y0, y1 = min(ys) - 0.35, max(ys) + 0.3
    data: list[dict[str, Any]] = []
    layout = _layout(f"{s.name}: regions and flows (rates per {s.time_unit})", 480 if n <= 2 else 620,
                     showlegend=False, hovermode="closest")
    layout["margin"] = {"l": 10, "r": 10, "t": 44, "b": 10}
    layout["xaxis"] = {"range": [x0, x1], "visible": False, "fixedrange": True}
    layout["yaxis"] = {"range": [y0, y1], "visible": False, "fixedrange": True}
    spark = 0
    for lx, ly, text, colour, value in labels:
        annotations.append({"x": lx, "y": ly, "xref": "x", "yref": "y", "text": text, "showarrow": False,
                            "font": {"size": 11, "color": colour}, "bgcolor": "rgba(255,255,255,0.88)"})
        if isinstance(value, Timeline) and value.knots:
            spark += 1
            px, py = (lx - x0) / (x1 - x0), (ly - y0) / (y1 - y0)
            xa, ya = f"xaxis{spark + 1}", f"yaxis{spark + 1}"
            layout[xa] = {"domain": [max(px - 0.07, 0), min(px + 0.07, 1)], "visible": False, "anchor": f"y{spark + 1}",
                          "type": "date"}
            top = max((_mean(v) for _, v in value.knots), default=1.0)
            layout[ya] = {"domain": [max(py - 0.16, 0), max(py - 0.05, 0.01)], "visible": False,
                          "anchor": f"x{spark + 1}", "range": [0, (top or 1) * 1.1], "fixedrange": True}
            dates = [d.isoformat() for d, _ in value.knots]
            ys_ = [_mean(v) for _, v in value.knots]
            if value.shape != "linear":  # each value holds until the next: extend the last to the end
                dates.append(s.end.isoformat())
                ys_.append(ys_[-1])
            data.append({"type": "scatter", "x": dates, "y": ys_, "xaxis": f"x{spark + 1}",
                         "yaxis": f"y{spark + 1}", "mode": "lines", "fill": "tozeroy",
                         "line": {"color": colour, "width": 1.5, "shape": "linear" if value.linear else "hv"},
                         "fillcolor": rgba(colour, 0.12),
                         "hovertemplate": "%{x|%Y-%m-%d}: %{y:,.4g}<extra>" + html.escape(text.split("<br>")[0])
                                          + "</extra>"})
    layout["annotations"] = annotations
    initial = [value_text(region.initial, "") for region in s.regions.values()]
    data.insert(0, {"type": "scatter", "x": [pos[r][0] for r in regions], "y": [pos[r][1] for r in regions],
                    "mode": "markers+text", "text": [f"<b>{html.escape(r)}</b>" for r in regions],
                    "customdata": initial, "textposition": "middle center", "textfont": {"size": 11},
                    "marker": {"size": 84, "color": "#eef3fa", "line": {"color": BLUE, "width": 2}},
                    "hovertemplate": "%{text}<br>initial %{customdata}<extra></extra>"})
    for r, t in zip(regions, initial, strict=True):
        annotations.append({"x": pos[r][0], "y": pos[r][1], "xref": "x", "yref": "y", "yshift": -52,
                            "text": f"initial {html.escape(t)}", "showarrow": False, "font": {"size": 10},
                            "bgcolor": "rgba(255,255,255,0.88)"})
    return {"data": data, "layout": layout}


def _arrow(head: tuple[float, float], tail: tuple[float, float], colour: str) -> dict[str, Any]:
    return {"x": head[0], "y": head[1], "ax": tail[0], "ay": tail[1], "xref": "x", "yref": "y", "axref": "x",
            "ayref": "y", "showarrow": True, "arrowhead": 2, "arrowsize": 1.1, "arrowwidth": 1.8,
            "arrowcolor": colour, "text": ""}


def _flow_label(flow: str, value: Any, per: str, share: bool, kind: str) -> str:
    what = {"in": "", "out": "", "split": "of recruits ", "move": ""}[kind]
    return f"<b>{html.escape(flow)}</b><br>{html.escape(value_text(value, per, share))} {what}".strip()


# ---- sweeps, calibration, sensitivity


def sweep_scatter(points: pd.DataFrame, parameter: str, target: str, best: int | None) -> Figure:
    """One swept parameter against the score (or a final median): each point a dot, the best one ringed."""
    hover = [f"point {int(p)}<br>{html.escape(parameter)} = {v:.4g}<br>{html.escape(target)} {num(t)}"
             for p, v, t in zip(points["point"], points[parameter], points[target], strict=True)]
    data = [{"type": "scatter", "mode": "markers", "x": [float(v) for v in points[parameter]],
             "y": [float(v) for v in points[target]], "text": hover, "hovertemplate": "%{text}<extra></extra>",
             "marker": {"color": BLUE, "size": 8, "opacity": 0.75}, "name": "points"}]
    if best is not None:
        row = points[points["point"] == best]
        data.append({"type": "scatter", "mode": "markers", "x": [float(v) for v in row[parameter]],
                     "y": [float(v) for v in row[target]], "name": f"best point ({best})", "hoverinfo": "skip",
                     "marker": {"color": "rgba(0,0,0,0)", "size": 16, "line": {"color": REPORTED, "width": 2}}})
    layout = _layout(parameter, 320, showlegend=False)
    layout["xaxis"]["title"] = {"text": parameter}
    layout["yaxis"].update({"title": {"text": target}, "rangemode": "normal", "tickformat": ""})
    layout["margin"]["b"] = 52
    return {"data": data, "layout": layout}


def weighted_quantile(values: Any, weights: Any, q: float) -> float:
    import numpy as np

    order = np.argsort(values)
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]
    cdf = np.cumsum(w) / max(w.sum(), 1e-300)
    return float(v[min(int(np.searchsorted(cdf, q)), len(v) - 1)])


def marginal(posterior: pd.DataFrame, parameter: str, prior: list[float] | None) -> Figure:
    """A parameter's weighted posterior histogram (density), its uniform prior, and the 90% interval."""
    import numpy as np

    values = posterior[parameter].to_numpy(dtype=float)
    weights = posterior["weight"].to_numpy(dtype=float)
    lo, hi = (prior if prior else (float(values.min()), float(values.max())))
    if hi <= lo:
        hi = lo + 1.0
    density, edges = np.histogram(values, bins=30, range=(lo, hi), weights=weights, density=True)
    mids = (edges[:-1] + edges[1:]) / 2
    data: list[dict[str, Any]] = [{"type": "bar", "x": [round(float(m), 6) for m in mids],
                                   "y": [round(float(d), 6) for d in density], "width": float(edges[1] - edges[0]),
                                   "marker": {"color": rgba(BLUE, 0.6)}, "name": "posterior",
                                   "hovertemplate": "%{x:.4g}: density %{y:.3g}<extra></extra>"}]
    if prior:
        flat = 1 / (hi - lo)
        data.append({"type": "scatter", "mode": "lines", "x": [lo, lo, hi, hi], "y": [0, flat, flat, 0],
                     "line": {"color": "#444", "dash": "dot", "width": 1.5}, "name": "prior (uniform)",
                     "hoverinfo": "skip"})
    p05, p50, p95 = (weighted_quantile(values, weights, q) for q in (0.05, 0.5, 0.95))
    layout = _layout(f"{parameter}: median {p50:.4g}, 90% {p05:.4g} – {p95:.4g}", 300)
    layout["shapes"] = [{"type": "rect", "xref": "x", "yref": "paper", "x0": p05, "x1": p95, "y0": 0, "y1": 1,
                         "fillcolor": rgba(REPORTED, 0.07), "line": {"width": 0}},
                        {"type": "line", "xref": "x", "yref": "paper", "x0": p50, "x1": p50, "y0": 0, "y1": 1,
                         "line": {"color": REPORTED, "width": 1.5}}]
    layout["yaxis"].update({"title": {"text": "density"}, "tickformat": ".3g"})
    layout["xaxis"]["range"] = [lo, hi]
    layout["bargap"] = 0
    return {"data": data, "layout": layout}


def pair(posterior: pd.DataFrame, a: str, b: str, priors: dict[str, list[float]]) -> Figure:
    """Two parameters' posterior particles (area by weight) inside their prior box."""
    import numpy as np

    w = posterior["weight"].to_numpy(dtype=float)
    size = 3 + 14 * np.sqrt(w / max(w.max(), 1e-300))
    data = [{"type": "scatter", "mode": "markers", "x": [round(float(v), 6) for v in posterior[a]],
             "y": [round(float(v), 6) for v in posterior[b]], "name": "particles",
             "marker": {"color": BLUE, "opacity": 0.45, "size": [round(float(s), 1) for s in size]},
             "hovertemplate": f"{html.escape(a)} %{{x:.4g}}<br>{html.escape(b)} %{{y:.4g}}<extra></extra>"}]
    layout = _layout(f"{a} and {b}", 340, showlegend=False)
    layout["xaxis"]["title"] = {"text": a}
    layout["yaxis"].update({"title": {"text": b}, "rangemode": "normal", "tickformat": ".3g"})
    layout["margin"]["b"] = 52
    if a in priors and b in priors:
        layout["xaxis"]["range"] = priors[a]
        layout["yaxis"]["range"] = priors[b]
    return {"data": data, "layout": layout}


def sobol_bars(rows: pd.DataFrame, output: str, date: str) -> Figure:
    """S1 and ST of each parameter for one output on one date, with their 95% bootstrap intervals."""
    params = list(rows["parameter"])
    data = []
    for index, colour in (("S1", BLUE), ("ST", PALETTE[1])):
        data.append({"type": "bar", "x": params, "y": [round(float(v), 4) for v in rows[index]], "name": index,
                     "marker": {"color": colour},
                     "error_y": {"type": "data", "array": [round(float(v), 4) for v in rows[f"{index}_conf"]],
                                 "color": "#333", "thickness": 1.5, "width": 5},
                     "hovertemplate": f"%{{x}}<br>{index} %{{y:.3f}} ± %{{error_y.array:.3f}}<extra></extra>"})
    noise = float(rows["noise_floor"].iloc[0]) if "noise_floor" in rows.columns and len(rows) else float("nan")
    title = f"{output} on {date}" + ("" if math.isnan(noise) else f" (replicate noise: {noise:.0%} of the variance)")
    layout = _layout(title, 340, barmode="group")
    layout["yaxis"].update({"title": {"text": "Sobol index"}, "rangemode": "normal", "tickformat": ".2f"})
    return {"data": data, "layout": layout}


def sobol_over_time(rows: pd.DataFrame, output: str) -> Figure:
    """Each parameter's ST (and S1, dotted) over the recorded dates, with the ST interval as a band."""
    data: list[dict[str, Any]] = []
    for i, (param, g) in enumerate(rows.groupby("parameter", sort=False)):
        colour = PALETTE[i % len(PALETTE)]
        x = list(g["date"])
        st, conf = g["ST"].astype(float), g["ST_conf"].astype(float)
        data += _band(x, _round(st - conf), _round(st + conf), colour, 0.15, f"{param} ST ± 95%", str(param), False)
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": [round(float(v), 4) for v in st],
                     "name": f"{param} ST", "line": {"color": colour, "width": 2}, "legendgroup": str(param),
                     "hovertemplate": "%{x}: ST %{y:.3f}<extra>" + html.escape(str(param)) + "</extra>"})
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": [round(float(v), 4) for v in g["S1"]],
                     "name": f"{param} S1", "line": {"color": colour, "width": 1.5, "dash": "dot"},
                     "legendgroup": str(param),
                     "hovertemplate": "%{x}: S1 %{y:.3f}<extra>" + html.escape(str(param)) + "</extra>"})
    layout = _layout(f"{output}: Sobol indices over time", 380)
    layout["yaxis"].update({"title": {"text": "Sobol index"}, "rangemode": "normal", "tickformat": ".2f",
                            "range": [-0.25, 1.25]})  # indices lie in [0, 1]; wide intervals would hide them
    layout["xaxis"]["type"] = "date"
    return {"data": data, "layout": layout}
