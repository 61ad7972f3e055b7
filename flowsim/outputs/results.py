"""`Results`: what a run, sweep, comparison or calibration produced, as data first and files on request.

Tables travel as pyarrow tables (`records.py`); pandas DataFrames, an xarray
Dataset and files in any format (`formats/`) are views of them, so a notebook
and the command line read the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flowsim.outputs.formats import FORMATS, suffix
from flowsim.outputs.staging import RESULT_FILES, Staged

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import xarray as xr


@dataclass
class Results:
    """One scenario's results. Nothing is written until `write`."""

    name: str
    tables: dict[str, pa.Table]
    meta: dict[str, Any] = field(default_factory=dict)
    start: dt.date | None = None
    days: np.ndarray | None = None  # recorded days since start
    regions: tuple[str, ...] = ()
    populations: np.ndarray | None = None  # (points, replicates, records, regions), when kept
    files: dict[str, bytes] = field(default_factory=dict)  # other files of the folder (calibrated.yaml, ...)
    extra: dict[str, Any] = field(default_factory=dict)  # records for printing (comparison rows, scores)

    def frame(self, name: str) -> pd.DataFrame | None:
        """A table as a DataFrame with real dates (datetime64), or None if this result has no such table."""
        table = self.tables.get(name)
        if table is None:
            return None
        import pandas as pd

        df = table.to_pandas()
        for col in ("date", "from", "to"):
            if col in df.columns:
                df[col] = pd.to_datetime(df[col])
        return df

    @property
    def summary(self) -> pd.DataFrame | None:
        return self.frame("summary")

    @property
    def flows(self) -> pd.DataFrame | None:
        return self.frame("flows")

    @property
    def parameters(self) -> pd.DataFrame | None:
        return self.frame("parameters")

    @property
    def comparison(self) -> pd.DataFrame | None:
        return self.frame("comparison")

    @property
    def trajectories(self) -> pd.DataFrame | None:
        return self.frame("trajectories")

    @property
    def points(self) -> pd.DataFrame | None:
        return self.frame("points")

    @property
    def posterior(self) -> pd.DataFrame | None:
        return self.frame("posterior")

    @property
    def differences(self) -> pd.DataFrame | None:
        return self.frame("differences")

    def to_xarray(self) -> xr.Dataset:
        """Populations with dims (point, replicate, date, region) when kept, and the summary statistics.

        A sweep keeps per-point statistics only; its Dataset has the statistics
        (dims point, date, region) and no `population` variable.
        """
        import pandas as pd
        import xarray as xr

        data: dict[str, Any] = {}
        coords: dict[str, Any] = {"region": list(self.regions)}
        if self.days is not None and self.start is not None:
            coords["date"] = pd.to_datetime(np.datetime64(self.start, "D") + self.days.astype("timedelta64[D]"))
            coords["day"] = ("date", self.days.astype(np.int64))
        if self.populations is not None:
            pops = self.populations
            coords["point"] = np.arange(pops.shape[0])
            coords["replicate"] = np.arange(pops.shape[1])
            data["population"] = (("point", "replicate", "date", "region"), pops)
        summary = self.tables.get("summary")
        if summary is not None and self.days is not None:
            points = np.unique(summary.column("point").to_numpy())
            coords["point"] = points
            shape = (len(points), len(self.days), len(self.regions))
            for stat in ("mean", "sd", "p05", "p25", "p50", "p75", "p95"):
                data[stat] = (("point", "date", "region"), summary.column(stat).to_numpy().reshape(shape))
        return xr.Dataset(data, coords=coords, attrs={"scenario": self.name})

    def write(self, folder: Path | str, format: str = "csv") -> Path:
        """Write every table (and run.json) atomically into `folder`; returns the folder."""
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        from flowsim.outputs.staging import make_folder

        folder = Path(folder).expanduser()
        make_folder(folder)
        settings = self.meta.get("provenance", {}).get("settings")
        if isinstance(settings, dict):
            settings["format"] = format
        with Staged(folder) as staged:
            for name, table in self.tables.items():
                staged.table(name, table, format)
                if format != "csv" and name in self.extra.get("always_csv", ()):
                    staged.table(name, table, "csv")  # read by other files (calibrated.yaml reads posterior.csv)
            for name, content in self.files.items():
                staged.bytes(name, content)
            staged.remove(*RESULT_FILES, *self.stale)
            if self.meta:
                staged.json(self.meta_file, self.meta)
            staged.commit()
        return folder

    @property
    def meta_file(self) -> str:
        return str(self.extra.get("meta_file", "run.json"))

    @property
    def stale(self) -> tuple[str, ...]:
        """Files of other commands that this result replaces (a run replaces a sweep's run.json, ...)."""
        return tuple(self.extra.get("stale", ()))

    def report(self, folder: Path | str | None = None) -> Path:
        """Write report.html (one offline page: fan charts, comparison, scenario, provenance) into `folder`,
        writing the results there first if it holds none (default: a temporary folder); returns the page's path."""
        import tempfile

        from flowsim.outputs.report import META_FILES, write_report

        target = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="flowsim-report-"))
        if not any((target / name).is_file() for name in META_FILES):
            self.write(target)
        return write_report(target)

    def plot(self, folder: Path | str | None = None) -> Path:
        """Draw the fan chart; written to `folder`/plot.png (default: a temporary folder)."""
        import tempfile

        from flowsim.outputs.plot import plot_folder

        if "summary" not in self.tables:
            raise ValueError(f"{self.name}: this result has no summary to plot (a fan chart needs one)")
        target = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="flowsim-plot-"))
        if not any((target / f"summary{suffix(fmt)}").is_file() for fmt in FORMATS):
            self.write(target)
        return plot_folder(target)
