"""A finished result folder read back for the report, with the checks that its files belong to one run.

A report states where every number came from, so it must not quietly mix the
summary of one run with the comparison or the points of another. Each check
that fails is a located `InputError` naming the folder and the rule, raised
before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowsim.model.errors import NO_VALUE, InputError, Origin

if TYPE_CHECKING:
    import pandas as pd

    from flowsim.model.scenario import Scenario

META_FILES = ("run.json", "calibration.json", "sensitivity.json")
"""The file each command writes last: a folder with one of them holds a finished result."""
TABLES = ("summary", "flows", "parameters", "comparison", "points", "differences", "posterior", "sensitivity")
DATE_COLUMNS = ("date", "from", "to")
URL = re.compile(r"https?://[^\s;,'\"<>)\]]+")


@dataclass
class Folder:
    """What a report shows of one result folder."""

    path: Path
    kind: str  # run | sweep | calibration | sensitivity
    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    scenario_text: str | None = None
    scenario: Scenario | None = None
    scenario_note: str = ""  # why the diagram or the text is missing, if it is
    links: dict[tuple[str, ...], str] = field(default_factory=dict)  # observation key -> first URL of note/source
    input_states: list[str] = field(default_factory=list)  # per provenance input: unchanged | changed | missing
    files: dict[str, str] = field(default_factory=dict)  # calibrated.yaml text, ...
    predictive: Folder | None = None  # the posterior predictive run of a calibration, when one was made

    @property
    def name(self) -> str:
        return str(self.meta.get("scenario") or self.path.name)

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    def link(self, row: dict[str, Any]) -> str:
        """The URL given with an observation (in its note or its source), or ''."""
        return self.links.get(observation_key(row), "") or _first_url(str(row.get("source") or ""))


def observation_key(row: dict[str, Any]) -> tuple[str, ...]:
    """A reported figure's identity across comparison rows, run.json and the observation file."""
    flow = _text(row.get("flow"))
    if flow:
        return ("flow", flow, _text(row.get("from")), _text(row.get("to")), _text(row.get("source")))
    return ("stock", _text(row.get("region")), _text(row.get("date")), _text(row.get("source")))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ in ("NAType",
                                                                                                      "NaTType"):
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return str(value)


def _first_url(text: str) -> str:
    found = URL.search(text)
    return found.group(0).rstrip(".") if found else ""


def problem(folder: Path, rule: str) -> InputError:
    return InputError(Origin(str(folder)), "", NO_VALUE, rule)


def read(path: Path) -> Folder:
    """Read and check a finished result folder; an InputError names the folder and the rule broken."""
    folder = Path(path)
    if not folder.is_dir():
        raise problem(folder, "results folder does not exist" if not folder.exists() else "is not a folder")
    present = [m for m in META_FILES if (folder / m).is_file()]
    if not present:
        raise problem(folder, "holds no finished result (no run.json, calibration.json or sensitivity.json): "
                      "run flowsim first, or let it finish")
    if len(present) > 1:
        raise problem(folder, f"holds files from different runs ({' and '.join(present)}); "
                      "a result folder holds one result")
    try:
        meta = json.loads((folder / present[0]).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise problem(folder, f"{present[0]} is not as flowsim writes it ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("scenario"), str):
        raise problem(folder, f"{present[0]} is not as flowsim writes it (no scenario name)")
    kind = {"calibration.json": "calibration", "sensitivity.json": "sensitivity"}.get(
        present[0], "sweep" if meta.get("sweep") else "run")
    tables = _read_tables(folder, meta)
    out = Folder(folder, kind, meta, tables)
    _check(out, present[0])
    if (folder / "calibrated.yaml").is_file():
        out.files["calibrated.yaml"] = (folder / "calibrated.yaml").read_text(encoding="utf-8", errors="replace")
    _scenario(out)
    _links(out)
    if kind == "calibration":
        out.predictive = _predictive(out)
    return out


def _read_tables(folder: Path, meta: dict[str, Any]) -> dict[str, pd.DataFrame]:
    import pandas as pd

    fmt = (meta.get("provenance") or {}).get("settings", {}).get("format")
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        csv_path, pq_path = folder / f"{name}.csv", folder / f"{name}.parquet"
        if csv_path.is_file() and pq_path.is_file() and name != "posterior":  # posterior.csv is always written
            raise problem(folder, f"holds both {name}.csv and {name}.parquet: files from different runs")
        path = pq_path if pq_path.is_file() else csv_path if csv_path.is_file() else None
        if path is None:
            continue
        if fmt in ("csv", "parquet") and path.suffix != f".{fmt}" and name != "posterior":
            raise problem(folder, f"{path.name} is not from the run in {_meta_name(folder)} (that run wrote {fmt})")
        try:
            if path.suffix == ".parquet":
                df = pd.read_parquet(path)
            else:
                df = pd.read_csv(path, dtype={c: "string" for c in (*DATE_COLUMNS, "scenario", "region", "flow",
                                                                     "source", "group", "verdict", "output",
                                                                     "parameter", "scenario_a", "scenario_b")},
                                 keep_default_na=True)
        except Exception as exc:  # a damaged file is the user's to fix, whatever the reader raised
            raise problem(folder, f"cannot read {path.name} ({type(exc).__name__}: {exc})") from None
        for col in DATE_COLUMNS:
            if col in df.columns:
                df[col] = df[col].map(_text)
        for col in ("scenario", "region", "flow", "source", "group", "verdict"):
            if col in df.columns:
                df[col] = df[col].map(_text)
        tables[name] = df
    return tables


def _meta_name(folder: Path) -> str:
    return next((m for m in META_FILES if (folder / m).is_file()), "run.json")


def _check(f: Folder, meta_file: str) -> None:
    """The tables belong to the run that `meta_file` describes; else one clear rule."""
    name = f.name
    where = f"{meta_file} (scenario {name!r})"
    for table in ("summary", "flows", "comparison", "points"):
        df = f.tables.get(table)
        if df is not None and "scenario" in df.columns:
            others = sorted(set(df["scenario"]) - {name})
            if others:
                raise problem(f.path, f"{_file(f, table)} is of scenario {others[0]!r}, not of the run in {where}: "
                              "files from different runs")
    summary = f.tables.get("summary")
    if f.kind in ("run", "sweep") and summary is None:
        raise problem(f.path, f"has {meta_file} but no summary table: the result is incomplete")
    if f.kind == "calibration" and "posterior" not in f.tables:
        raise problem(f.path, "has calibration.json but no posterior table: the result is incomplete")
    if f.kind == "sensitivity" and "sensitivity" not in f.tables:
        raise problem(f.path, "has sensitivity.json but no sensitivity table: the result is incomplete")
    if summary is not None:
        points = set(int(p) for p in summary["point"])
        if f.kind == "run" and points != {0}:
            raise problem(f.path, f"{_file(f, 'summary')} has sweep points but {where} is a plain run: "
                          "files from different runs")
        if f.kind == "sweep":
            expected = int(f.meta["sweep"].get("points", len(points)))
            failed = len(f.meta.get("failed_points") or [])
            if not expected - failed <= len(points) <= expected:
                raise problem(f.path, f"{_file(f, 'summary')} has {len(points)} points but {where} ran {expected}: "
                              "files from different runs")
        for table in ("flows", "comparison", "points"):
            df = f.tables.get(table)
            if df is not None and "point" in df.columns and not set(int(p) for p in df["point"]) <= points:
                raise problem(f.path, f"{_file(f, table)} has points that {_file(f, 'summary')} lacks: "
                              "files from different runs")
        _check_comparison(f, summary, where)
        _check_points(f, summary, where)
    params = f.tables.get("parameters")
    reps = f.meta.get("replicates")
    if (params is not None and "replicate" in params.columns and f.kind in ("run", "sweep") and isinstance(reps, int)
            and len(params) and int(params["replicate"].max()) + 1 != reps):
        raise problem(f.path, f"{_file(f, 'parameters')} has {int(params['replicate'].max()) + 1} replicates but "
                      f"{where} ran {reps}: files from different runs")
    if f.kind == "calibration":
        priors = (f.meta.get("calibration") or {}).get("priors") or {}
        posterior = f.tables["posterior"]
        missing = [p for p in priors if p not in posterior.columns]
        if missing or "weight" not in posterior.columns:
            raise problem(f.path, f"{_file(f, 'posterior')} lacks the calibrated parameter "
                          f"{(missing or ['weight'])[0]!r} of {where}: files from different runs")
    if f.kind == "sensitivity":
        params_meta = set((f.meta.get("sensitivity") or {}).get("parameters") or {})
        found = set(f.tables["sensitivity"].get("parameter", []))
        if params_meta and found and found != params_meta:
            raise problem(f.path, f"{_file(f, 'sensitivity')} has parameters {sorted(found)} but {where} varied "
                          f"{sorted(params_meta)}: files from different runs")


def _file(f: Folder, table: str) -> str:
    return f"{table}.parquet" if (f.path / f"{table}.parquet").is_file() else f"{table}.csv"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 + 1e-6 * abs(b)


def _check_comparison(f: Folder, summary: pd.DataFrame, where: str) -> None:
    """Stock rows of the comparison repeat the summary's percentiles of that date: the same run's, or a mix."""
    comp = f.tables.get("comparison")
    if comp is None or not len(comp):
        return
    expected = (f.meta.get("comparison") or {}).get("observations")
    if isinstance(expected, int):
        first = int(comp["point"].min())
        rows = int((comp["point"] == first).sum())
        if rows != expected:
            raise problem(f.path, f"{_file(f, 'comparison')} has {rows} observations but {where} compared "
                          f"{expected}: files from different runs")
    stock = comp[comp["region"] != ""] if "region" in comp.columns else comp.iloc[0:0]
    if not len(stock):
        return
    index = {(int(r.point), r.date, r.region): float(r.p50) for r in summary.itertuples(index=False)}
    for r in stock.head(50).itertuples(index=False):
        sim = index.get((int(r.point), r.date, r.region))
        if sim is None or not _close(float(r.sim_p50), sim):
            raise problem(f.path, f"{_file(f, 'comparison')} does not match {_file(f, 'summary')} on {r.date} in "
                          f"{r.region} (simulated median {r.sim_p50} against "
                          f"{'no row' if sim is None else sim}): files from different runs")


def _check_points(f: Folder, summary: pd.DataFrame, where: str) -> None:
    """A sweep's points table repeats each point's last-date percentiles of the summary."""
    points = f.tables.get("points")
    if points is None:
        if f.kind == "sweep":
            raise problem(f.path, f"has no points table but {where} is a sweep: the result is incomplete")
        return
    if f.kind != "sweep":
        raise problem(f.path, f"{_file(f, 'points')} is a sweep's but {where} is a plain run: "
                      "files from different runs")
    swept = (f.meta.get("sweep") or {}).get("parameters") or []
    missing = [p for p in swept if p not in points.columns]
    if missing:
        raise problem(f.path, f"{_file(f, 'points')} lacks the swept parameter {missing[0]!r} of {where}: "
                      "files from a different sweep")
    last = summary[summary["date"] == summary["date"].max()]
    index = {(int(r.point), r.region): float(r.p50) for r in last.itertuples(index=False)}
    for r in points.head(50).to_dict("records"):
        for (point, region), p50 in index.items():
            col = f"{region}_p50"
            if point == int(r["point"]) and col in r and not _close(float(r[col]), p50):
                raise problem(f.path, f"{_file(f, 'points')} does not match {_file(f, 'summary')} at point {point} "
                              f"({col} {r[col]} against {p50}): files from a different sweep")


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _scenario(f: Folder) -> None:
    """The scenario file as it was run: its text, and its validated model for the diagram."""
    path_text = f.meta.get("scenario_file")
    inputs = (f.meta.get("provenance") or {}).get("inputs") or []
    f.input_states = []
    for item in inputs:
        digest = sha256(Path(str(item.get("path"))))
        f.input_states.append("missing" if digest is None else "unchanged" if digest == item.get("sha256")
                              else "changed since the run")
    if not path_text:
        f.scenario_note = "run.json does not name the scenario file"
        return
    path = Path(path_text)
    digest = sha256(path)
    if digest is None:
        f.scenario_note = f"the scenario file {path} is not found from here, so its text and diagram are not shown"
        return
    if digest != f.meta.get("scenario_sha256"):
        f.scenario_note = (f"the scenario file {path} has changed since the run (its SHA-256 differs), so its "
                           "text and diagram are not shown")
        return
    f.scenario_text = path.read_text(encoding="utf-8", errors="replace")
    try:
        from flowsim.model.scenario import load_scenario

        f.scenario = load_scenario(path, list(f.meta.get("overrides") or []))[0]
    except InputError as exc:
        f.scenario_note = f"the scenario cannot be drawn: {exc.message}"


def _links(f: Folder) -> None:
    """URLs of the reported figures, from the `note` (or `source`) column of each unchanged observation file."""
    inputs = (f.meta.get("provenance") or {}).get("inputs") or []
    for item, state in zip(inputs, f.input_states, strict=False):
        path = Path(str(item.get("path")))
        if state != "unchanged" or path.suffix.lower() != ".csv":
            continue
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    url = _first_url(row.get("note") or "") or _first_url(row.get("source") or "")
                    if url:
                        f.links.setdefault(observation_key({k: (v or "").strip() for k, v in row.items() if k}), url)
        except (OSError, UnicodeDecodeError, csv.Error):
            continue


def _predictive(f: Folder) -> Folder | None:
    """The run of this calibration's calibrated.yaml (`flowsim compare .../calibrated.yaml`), if one is beside it."""
    calibrated = f.path / "calibrated.yaml"
    if not calibrated.is_file():
        return None
    digest = sha256(calibrated)
    for sibling in sorted(f.path.parent.glob(f"{f.name}-calibrated*")):
        meta_path = sibling / "run.json"
        if not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            same = Path(str(meta.get("scenario_file"))).resolve() == calibrated.resolve()
            if same and meta.get("scenario_sha256") == digest:
                return read(sibling)
        except (OSError, ValueError, InputError):
            continue
    return None


def result_folders(path: Path) -> list[Path]:
    """`path` itself if it holds a finished result, else the finished results directly inside it."""
    if any((path / m).is_file() for m in META_FILES) or not path.is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and any((p / m).is_file() for m in META_FILES))
    return found or [path]
