"""Refuse runs that cannot fit in memory, before they start, with the estimate and what to change."""

from __future__ import annotations

import os

from flowsim.model.errors import InputError, Origin

BYTES_PER_CELL = 8 * 3
"""int64 populations and flow counts per lane, record and region/flow, plus statistics and a copy."""
TRAJECTORY_ROW_BYTES = 48
SWEEP_TEXT_BYTES = 70
"""Formatted CSV bytes per point, record and region/flow held until the sweep's files are written."""


def available_memory() -> int:
    """Bytes the system can give us now, on Linux, macOS and Windows alike, or physical memory if unknown.

    On Linux this is /proc/meminfo's MemAvailable, what psutil reports there, read without
    importing psutil (~0.03 s of every run's start-up); elsewhere psutil's.
    """
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError, RuntimeError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EB"


def check(where: str, field: str, value: int, lanes: int, records: int, cells: int, extra: int,
          suggestion: str, available: int | None = None) -> None:
    """Raise if lanes x records x cells (plus `extra` bytes) would not fit in 80% of free memory."""
    need = lanes * records * cells * BYTES_PER_CELL + extra
    free = available_memory() if available is None else available
    if need > 0.8 * free:
        raise InputError(
            Origin(where), field, value,
            f"this run needs about {_human(need)} ({lanes:,} lanes x {records:,} recorded dates x "
            f"{cells} regions and flows) but about {_human(free)} is free; {suggestion}")


def check_run(where: str, replicates: int, records: int, regions: int, counters: int, trajectories: bool) -> None:
    extra = replicates * records * regions * TRAJECTORY_ROW_BYTES if trajectories else 0
    check(where, "replicates", replicates, replicates, records, regions + counters, extra,
          "use fewer --replicates, a larger report_every" + (", or drop --trajectories" if trajectories else ""))


def check_sweep(where: str, points: int, replicates: int, per_chunk_lanes: int, records: int, regions: int,
                counters: int) -> None:
    lanes = min(per_chunk_lanes, points * replicates)
    extra = points * records * (regions + counters) * SWEEP_TEXT_BYTES
    check(where, "points", points, lanes, records, regions + counters, extra,
          "sweep fewer points (the per-point files grow with them), or use a larger report_every")
