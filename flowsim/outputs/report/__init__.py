"""`report.html`: one self-contained page per result folder, for readers who will never install Python.

`write_report(folder)` reads a finished run, sweep, calibration or sensitivity
folder (CSV or Parquet, and its run.json) and the scenario file it names;
`write_comparison(folders, target)` puts several scenarios on one page. The page
holds plotly.js inline and fetches nothing. Files that do not belong to one run
are refused (an `InputError`) before anything is written; the page is written
under a temporary name and renamed, like every result file.

    folder.py   reading a folder back, and the checks that its files are of one run
    figures.py  the plotly figures (fan charts, flow panels, scenario diagram, posterior, Sobol indices)
    page.py     sections and tables, rendered with Jinja2 (templates/report.html.j2)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from flowsim.model.errors import InputError
from flowsim.outputs.report.folder import META_FILES, Folder, read, result_folders

REPORT = "report.html"
COMPARISON = "compare.html"
SIZE_LIMIT = 5_500_000
"""Bytes above which writing a page gives a note: plotly.js alone is about 4.8 MB, a run's data 0.05-0.3 MB."""

__all__ = ["COMPARISON", "META_FILES", "REPORT", "Folder", "InputError", "read", "report", "result_folders",
           "write_comparison", "write_report"]

log = logging.getLogger("flowsim")


def report(*folders: Path | str, to: Path | str | None = None) -> Path:
    """`flowsim.report`: the page of one finished result folder (its report.html), or one page comparing several
    (`to`, default compare.html beside the first folder). Returns the page's path."""
    if not folders:
        raise TypeError("report() needs at least one result folder")
    if len(folders) == 1:
        return write_report(folders[0])
    return write_comparison(list(folders), to if to is not None else Path(folders[0]).parent / COMPARISON)


def write_report(folder: Path | str | Folder) -> Path:
    """Write `folder/report.html` for the finished result in `folder` (or one already read); returns its path."""
    from flowsim.outputs.report import page

    f = folder if isinstance(folder, Folder) else read(Path(folder))
    return _write(f.path / REPORT, page.render(page.single(f)))


def write_comparison(folders: Sequence[Path | str | Folder], target: Path | str) -> Path:
    """Write one page comparing the finished runs in `folders` to `target` (a file path); returns it."""
    from flowsim.outputs.report import page

    read_ = [p if isinstance(p, Folder) else read(Path(p)) for p in folders]
    return _write(Path(target), page.render(page.several(read_)))


def _write(path: Path, text: str) -> Path:
    from flowsim.outputs.staging import Staged

    data = text.encode("utf-8")
    if len(data) > SIZE_LIMIT:
        log.warning("%s is %.1f MB, above the %.0f MB a report should stay under", path, len(data) / 1e6,
                    SIZE_LIMIT / 1e6)
    with Staged(path.parent) as staged:
        staged.bytes(path.name, data)
        staged.commit()
    return path
