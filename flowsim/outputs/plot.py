"""Fan charts from a result folder: median, 50% and 90% bands, reported figures, events.

Flow figures (persons moved by a flow in a period) get a panel per flow below the
regions: for each reported period, the simulated count's 90% interval and median
(from comparison.csv, since quantiles of per-record counts do not add up over a
period) as a box spanning the period, and the reported range in red.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.outputs.results import Staged

PNG = "plot.png"


def result_folders(path: Path) -> list[Path]:
    """`path` itself if it holds a run, else the runs directly inside it."""
    if _has_summary(path):
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if _has_summary(p))
        if found:
            return found
    what = "does not exist" if not path.exists() else "holds no results (no summary.csv)"
    raise InputError(Origin(str(path)), "", NO_VALUE, f"results folder {what}")


def _has_summary(folder: Path) -> bool:
    return (folder / "summary.csv").is_file() or (folder / "summary.parquet").is_file()


def _summary_rows(folder: Path) -> list[dict[str, str]]:
    """summary.csv (or .parquet) as rows of text, as the drawing code reads them."""
    if (folder / "summary.csv").is_file():
        with open(folder / "summary.csv", newline="") as fh:
            return list(csv.DictReader(fh))
    import pyarrow.parquet as pq

    return [{k: (v.isoformat() if isinstance(v, dt.date) else str(v)) for k, v in row.items()}
            for row in pq.read_table(folder / "summary.parquet").to_pylist()]


def _comparison_rows(folder: Path) -> list[dict[str, str]]:
    """comparison.csv (or .parquet) as rows of text; none if the run had no reported figures."""
    if (folder / "comparison.csv").is_file():
        with open(folder / "comparison.csv", newline="") as fh:
            return list(csv.DictReader(fh))
    if (folder / "comparison.parquet").is_file():
        import pyarrow.parquet as pq

        return [{k: ("" if v is None else v.isoformat() if isinstance(v, dt.date) else str(v))
                 for k, v in row.items()} for row in pq.read_table(folder / "comparison.parquet").to_pylist()]
    return []


def _flow_figures(folder: Path, observations: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Reported flow figures by flow, each with its simulated 5/50/95% when comparison.csv has them."""
    rows = [r for r in _comparison_rows(folder) if r.get("flow")]
    first = rows[0]["point"] if rows else "0"
    rows = [r for r in rows if r["point"] == ("0" if any(r["point"] == "0" for r in rows) else first)]

    def num(text: str | None) -> float | None:
        return None if text in (None, "") else float(text)

    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        for r in rows:
            out[r["flow"]].append({"from": r["from"], "to": r["to"], "source": r["source"], "low": num(r["obs_low"]),
                                   "high": num(r["obs_high"]), "value": num(r["obs_value"]),
                                   "sim": (float(r["sim_p05"]), float(r["sim_p50"]), float(r["sim_p95"]))})
        return out
    for o in observations:
        if o.get("flow"):
            out[o["flow"]].append({**o, "sim": None})
    return out


def plot_folder(folder: Path) -> Path:
    """Draw `folder/plot.png` from its summary.csv and run.json; returns the PNG path."""

    try:
        rows = _summary_rows(folder)
        meta_path = folder / "run.json"
        meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return _draw(folder, rows, meta)
    except (KeyError, ValueError, TypeError, IndexError, OSError) as exc:
        raise InputError(Origin(str(folder)), "", NO_VALUE,
                         f"cannot plot: summary.csv or run.json is not as flowsim writes it ({exc!r})") from None


def _draw(folder: Path, rows: list[dict[str, str]], meta: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    by_region: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["point"] == "0":
            by_region[row["region"]].append(row)
    points = len({row["point"] for row in rows})
    observations = meta.get("observations") or []
    sources = list(dict.fromkeys(o.get("source") or "unnamed source" for o in observations))
    flows = _flow_figures(folder, observations)
    legend_in = 0.2 + 0.125 * len(sources)  # inches of source notes under the panels
    height = 3.4 * len(by_region) + 2.6 * len(flows) + 0.9 + legend_in
    fig, axes = plt.subplots(len(by_region) + len(flows), 1, figsize=(10, height), sharex=True, squeeze=False)
    for ax, (region, series) in zip(axes[:len(by_region), 0], by_region.items(), strict=True):
        _panel(ax, region, series, [o for o in observations if o.get("region") == region], sources)
    for ax, (flow, figures) in zip(axes[len(by_region):, 0], flows.items(), strict=True):
        _flow_panel(ax, flow, figures, sources)
    for ax in axes[:, 0]:
        for ev in meta.get("events") or []:
            ax.axvline(dt.date.fromisoformat(ev["date"]), color="0.45", ls="--", lw=0.9)
    top = axes[0, 0]
    for ev in meta.get("events") or []:
        top.annotate(ev["label"], (dt.date.fromisoformat(ev["date"]), 1.0), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize=7, color="0.35")
    axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes[-1, 0].xaxis.get_major_locator()))
    title = meta.get("scenario", folder.name)
    reps = meta.get("replicates")
    sweep_note = f", point 0 of a sweep of {points} points" if points > 1 else ""
    fig.suptitle(f"{title}" + (f" ({reps} replicates{sweep_note})" if reps else ""), fontsize=12)
    if sources:
        legend = "\n".join(textwrap.shorten(f"[{i + 1}] {s}", 150) for i, s in enumerate(sources))
        fig.text(0.01, 0.005, legend, fontsize=7, va="bottom", ha="left", color="0.2")
    fig.tight_layout(rect=(0, legend_in / height, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    with Staged(folder) as out:
        out.bytes(PNG, buf.getvalue())
        out.commit()
    return folder / PNG


def _panel(ax: Any, region: str, series: list[dict[str, str]], observations: list[dict[str, Any]],
           sources: list[str]) -> None:
    dates = [dt.date.fromisoformat(r["date"]) for r in series]

    def col(name: str) -> list[float]:
        return [float(r[name]) for r in series]

    ax.fill_between(dates, col("p05"), col("p95"), color="C0", alpha=0.18, lw=0, label="90% of replicates")
    ax.fill_between(dates, col("p25"), col("p75"), color="C0", alpha=0.38, lw=0, label="50% of replicates")
    ax.plot(dates, col("p50"), color="C0", lw=1.8, label="median")
    for obs in observations:
        date = dt.date.fromisoformat(obs["date"])
        tag = str(sources.index(obs.get("source") or "unnamed source") + 1)
        low, high, value = obs.get("low"), obs.get("high"), obs.get("value")
        if low is None and high is None:
            ax.plot([date], [value], "o", color="C3", ms=6, zorder=5)
            y = value
        else:
            y = _range_bar(ax, date, low, high)
        ax.annotate(f"[{tag}]", (date, y), textcoords="offset points", xytext=(3, 3), fontsize=7, color="C3")
    ax.set_title(region.replace("_", " "), loc="left", fontsize=10)
    ax.set_ylabel("fighters")
    ax.set_ylim(bottom=0)
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(alpha=0.3)
    if observations:
        ax.plot([], [], color="C3", lw=3, label="reported range / figure")
    ax.legend(loc="best", fontsize=7, framealpha=0.8)


def _range_bar(ax: Any, x: Any, low: float | None, high: float | None) -> float:
    """A reported range as a red bar at x (an open end as an arrow head); returns its top."""
    lo = low if low is not None else 0.0
    hi = high if high is not None else (low or 0) * 1.5
    ax.vlines(x, lo, hi, color="C3", lw=3, zorder=5)
    for end, present in ((lo, low is not None), (hi, high is not None)):
        ax.plot([x], [end], "_" if present else ("^" if end == hi else "v"), color="C3", ms=10, zorder=5)
    return hi


def _flow_panel(ax: Any, flow: str, figures: list[dict[str, Any]], sources: list[str]) -> None:
    """One flow's reported periods: the simulated 90% interval and median as boxes, the reports in red."""
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FuncFormatter

    simulated = False
    for fig in figures:
        start = dt.date.fromisoformat(fig["from"])
        stop = dt.date.fromisoformat(fig["to"]) + dt.timedelta(days=1)  # the period ends at the midnight after `to`
        mid = start + (stop - start) / 2
        if fig["sim"] is not None:
            p05, p50, p95 = fig["sim"]
            ax.add_patch(Rectangle((mdates_num(start), p05), mdates_num(stop) - mdates_num(start), p95 - p05,
                                   color="C0", alpha=0.3, lw=0, label=None if simulated else "simulated 90%"))
            ax.hlines(p50, start, stop, color="C0", lw=1.8, label=None if simulated else "simulated median")
            simulated = True
        low, high, value = fig.get("low"), fig.get("high"), fig.get("value")
        tag = str(sources.index(fig.get("source") or "unnamed source") + 1) if sources else "?"
        if low is None and high is None:
            ax.hlines(value, start, stop, color="C3", lw=2, zorder=5)
            y = value
        else:
            y = _range_bar(ax, mid, low, high)
        ax.hlines(y, start, stop, color="C3", lw=0.8, ls=":", zorder=4)  # the period the figure covers
        ax.annotate(f"[{tag}]", (mid, y), textcoords="offset points", xytext=(3, 3), fontsize=7, color="C3")
    ax.plot([], [], color="C3", lw=3, label="reported range / figure")
    ax.set_title(f"flow {flow.replace('_', ' ')}: persons moved in each reported period", loc="left", fontsize=10)
    ax.set_ylabel("persons in period")
    ax.set_ylim(bottom=0)
    ax.autoscale_view()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)


def mdates_num(day: dt.date) -> float:
    """A date as matplotlib's number (patches take numbers, not dates)."""
    import matplotlib.dates as mdates

    return float(mdates.date2num(day))
