"""Sweeps: designs, per-lane parameters, determinism across workers and Dask, resume, failures."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowsim.experiments import chunks, design, executor
from flowsim.experiments.job import Job
from flowsim.model.errors import InputError

from .conftest import ROOT, scenario_dict, write

OUTPUTS = ("summary.csv", "flows.csv", "parameters.csv", "comparison.csv", "points.csv")


def small(tmp_path: Path, days: int = 40, **kw: object) -> Path:
    data = scenario_dict(days, replicates=1500, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 15]}},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3, "delay": 3},
    ], observations=[{"date": "2015-01-31", "region": "a", "low": 1000, "high": 1200, "source": "x"}], **kw)
    return write(tmp_path, data)


def axis(text: str) -> design.Axis:
    return design.parse_param(text)


def test_grid_is_the_cartesian_product_in_order() -> None:
    d = design.build([axis("x=0:1:3"), axis("y=5,7")], "grid", 0, seed=1)
    assert d.points.tolist() == [[0, 5], [0, 7], [0.5, 5], [0.5, 7], [1, 5], [1, 7]]


@pytest.mark.parametrize("method", ["random", "lhs", "sobol"])
def test_sampled_designs_stay_in_range_and_are_reproducible(method: design.Method) -> None:
    axes = [axis("x=2:4"), axis("y=0.1,0.2,0.3")]
    a = design.build(axes, method, 64, seed=9)
    b = design.build(axes, method, 64, seed=9)
    np.testing.assert_array_equal(a.points, b.points)
    assert a.points.shape == (64, 2)
    assert (a.points[:, 0] >= 2).all() and (a.points[:, 0] <= 4).all()
    assert set(a.points[:, 1]) <= {0.1, 0.2, 0.3}
    assert not np.array_equal(a.points, design.build(axes, method, 64, seed=10).points)


def test_latin_hypercube_fills_every_stratum() -> None:
    d = design.build([axis("x=0:1"), axis("y=0:1")], "lhs", 50, seed=3)
    for col in d.points.T:
        assert sorted(np.floor(col * 50).astype(int).tolist()) == list(range(50))


@pytest.mark.parametrize(("text", "rule"), [
    ("x", "must be PATH=lo:hi"), ("x=1:2:3:4", "lo:hi or lo:hi:n"), ("x=3:1", "lo <= hi"),
    ("x=a:b", "must be a number"), ("x=0:1:z", "whole number"), ("x=nan:1", "finite"),
])
def test_bad_param_syntax(text: str, rule: str) -> None:
    with pytest.raises(InputError, match=rule):
        design.parse_param(text)


@pytest.mark.parametrize(("param", "rule"), [
    ("flows.div.fracton=0:1:3", "did you mean 'flows.div.fraction'"),
    ("flows.div.fraction=0:1.5:4", "value 1.5: must be between 0 and 1"),
    ("flows.d.rate=-1,1", "value -1.0: must be >= 0"),
    ("flows.r.rate.uniform.0=1,20", "uniform needs [low, high] with low <= high"),
    ("flows.r.rate.normal.0=1,2", "unknown parameter path"),
])
def test_bad_sweep_values_exit_2(cli, tmp_path: Path, param: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", small(tmp_path), "--param", param, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --param {param}")
    assert rule in result.stderr
    assert not (tmp_path / "o").exists()


def run_sweep(cli, path: Path, out: Path, *extra: str) -> object:  # type: ignore[no-untyped-def]
    result = cli("sweep", path, "--param", "flows.div.fraction=0:0.6:4", "--param",
                 "flows.r.rate.uniform.1=15,25", "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return result


def test_sweep_outputs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_sweep(cli, small(tmp_path), tmp_path / "o", "--workers", "1")
    folder = tmp_path / "o/test"
    points = (folder / "points.csv").read_text().splitlines()
    assert points[0].startswith("point,flows.div.fraction,flows.r.rate.uniform.1,a_mean,a_p05")
    assert points[0].endswith("consistent,score") and len(points) == 1 + 8
    params = (folder / "parameters.csv").read_text().splitlines()
    assert params[0] == "point,replicate,flows.div.fraction,flows.r.rate.uniform.1,flows.r.rate"
    assert len(params) == 1 + 8 * 1500
    summary = (folder / "summary.csv").read_text().splitlines()
    assert {line.split(",")[1] for line in summary[1:]} == {str(p) for p in range(8)}
    rates = np.array([float(line.split(",")[4]) for line in params[1:]])
    highs = np.array([float(line.split(",")[3]) for line in params[1:]])
    assert (rates >= 5).all() and (rates <= highs).all()


def test_swept_rate_reaches_each_point(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Per point, the mean population matches the immigration-death mean for that point's rate (|z| < 4)."""
    data = scenario_dict(50, replicates=1000, regions={"a": {"initial": 500}}, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 10},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.02}])
    result = cli("sweep", write(tmp_path, data), "--param", "flows.r.rate=0,10,40", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in (tmp_path / "test/summary.csv").read_text().splitlines()[1:]]
    p = math.exp(-0.02 * 50)
    for point, lam in enumerate((0, 10, 40)):
        row = next(r for r in rows if r[1] == str(point) and r[3] == "50")
        mean, sd = float(row[5]), math.sqrt(500 * p * (1 - p) + lam / 0.02 * (1 - p))
        assert abs(mean - (500 * p + lam / 0.02 * (1 - p))) / (sd / math.sqrt(1000)) < 4


def test_scenario_sweep_section_is_used(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path, sweep={"method": "lhs", "samples": 5,
                                  "parameters": {"flows.div.fraction": {"uniform": [0, 0.5]}}})
    result = cli("sweep", path, "--out", tmp_path, "-n", "20")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "test/points.csv").read_text().splitlines()) == 6


def same_files(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_identical_for_1_2_4_workers(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Every output file is byte-identical whether 1, 2 or 4 processes ran the chunks.

    8 points of 4,100 replicates: more than CHUNK_LANES / 2 (4,096) lanes per point,
    so each chunk holds one point and the sweep is 8 chunks, more than the 4 workers:
    every pool has several chunks to share out. The chunk and worker counts are read
    where the sweep is executed, so the test fails if that stops being so.
    """
    seen: list[tuple[int, int]] = []
    real = executor.execute

    def spy(job: Job, store: Any, **kw: Any) -> Any:
        seen.append((len(job.chunks()), kw["workers"]))
        return real(job, store, **kw)

    monkeypatch.setattr(executor, "execute", spy)
    path = small(tmp_path)
    for w in (1, 2, 4):
        run_sweep(cli, path, tmp_path / f"w{w}", "--workers", str(w), "--replicates", "4100")
        chunks, workers = seen[-1]
        assert workers == w
        assert chunks > workers, f"{chunks} chunks for {workers} workers: no parallelism to test"
    assert len(seen) == 3
    same_files(tmp_path / "w1/test", tmp_path / "w2/test")
    same_files(tmp_path / "w1/test", tmp_path / "w4/test")


def test_identical_on_dask(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("dask.distributed")
    path = small(tmp_path)
    run_sweep(cli, path, tmp_path / "local", "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        run_sweep(cli, path, tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    same_files(tmp_path / "local/test", tmp_path / "dask/test")


def test_bad_scheduler_address_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", small(tmp_path), "--param", "flows.d.rate=0.1", "--scheduler", "localhost:1",
                 "--out", tmp_path / "o")
    assert result.exit_code == 2 and "tcp://HOST:PORT" in result.stderr


def test_failed_chunk_is_recorded_and_resumed(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    run_sweep(cli, path, tmp_path / "clean", "--workers", "1")
    real = chunks.run_chunk

    def flaky(job: Job, index: int, progress: object = None) -> dict[str, np.ndarray]:
        if index == 1:
            raise FloatingPointError("simulated failure in chunk 1")
        return real(job, index)

    monkeypatch.setattr(executor, "run_chunk", flaky)
    result = cli("sweep", path, "--param", "flows.div.fraction=0:0.6:4", "--param",
                 "flows.r.rate.uniform.1=15,25", "--out", tmp_path / "o", "--workers", "1")
    assert result.exit_code == 3
    assert "3 points failed (points 5-7)" in result.stderr and "--resume" in result.stderr
    folder = tmp_path / "o/test"
    assert len((folder / "points.csv").read_text().splitlines()) == 1 + 5
    errors = list((folder / "sweep-chunks").glob("*/chunk-000001.error.txt"))
    assert errors and "simulated failure" in errors[0].read_text()
    monkeypatch.setattr(executor, "run_chunk", real)
    result = run_sweep(cli, path, tmp_path / "o", "--workers", "1", "--resume")
    assert "1 chunks reused" in result.stdout  # type: ignore[attr-defined]
    same_files(tmp_path / "clean/test", folder)


def test_killed_sweep_resumes_to_the_same_files(tmp_path: Path) -> None:
    """Kill a real sweep process half-way, resume it, and compare with an uninterrupted sweep."""
    path = small(tmp_path, days=300)
    args = [sys.executable, "-m", "flowsim", "sweep", str(path), "--param", "flows.div.fraction=0:0.6:12",
            "-n", "1000", "--workers", "1"]
    subprocess.run([*args, "--out", str(tmp_path / "clean")], check=True, capture_output=True)
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "o")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    chunks = tmp_path / "o/test/sweep-chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("*/chunk-*.npz"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(chunks.glob("*/chunk-*.npz")))
    assert 1 <= done < 12, "the sweep should have been killed half-way"
    assert not (tmp_path / "o/test/summary.csv").exists()
    result = subprocess.run([*args, "--out", str(tmp_path / "o"), "--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{done} chunks reused" in result.stdout
    same_files(tmp_path / "clean/test", tmp_path / "o/test")


def test_shipped_diversion_sweep_section(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", ROOT / "scenarios/diversion.yaml", "--param", "flows.divert.fraction=0,0.2",
                 "-n", "50", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "Best points by score" in result.stdout


def test_sweeping_a_value_and_its_argument_together_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", small(tmp_path), "--param", "flows.r.rate=1,2", "--param", "flows.r.rate.uniform.1=20,30",
                 "--out", tmp_path / "o")
    assert result.exit_code == 2 and "overrides its arguments" in result.stderr


def test_sweeping_a_value_that_changes_over_time_says_how(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A schedule is swept through its dated values, or made one number with --set first (then it sweeps)."""
    path = write(tmp_path, scenario_dict(40, replicates=100, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 10},
        {"name": "d", "kind": "attrition", "region": "a",
         "rate": {"schedule": {"2015-01-01": 0.01, "2015-01-20": 0.02}}}]))
    result = cli("sweep", path, "--param", "flows.d.rate=0:0.02:3", "--out", tmp_path / "o")
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
    assert ("flows.d.rate: changes over time (schedule): sweep its dated values (flows.d.rate.schedule.DATE, such as "
            "flows.d.rate.schedule.2015-01-01), or make it one number first with --set flows.d.rate=VALUE"
            ) in result.stderr, result.stderr
    result = cli("sweep", path, "--set", "flows.d.rate=0.01", "--param", "flows.d.rate=0:0.02:3", "-n", "5",
                 "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
