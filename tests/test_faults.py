"""Faults: kills and full disks at every write and rename point, hostile files and folders, lost clusters.

Every result folder is either the old complete result or the new one (a folder
with run.json is finished; one without is unfinished and says so), no temporary
outlives the next run, no worker outlives its parent, and each mistake is one
`error:` line with exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from flowsim.experiments import executor
from flowsim.experiments.chunkstore import ChunkStore
from flowsim.model.errors import InputError
from flowsim.outputs import staging

from .conftest import ROOT, scenario_dict, write

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and signals")


def small(tmp_path: Path, file: str = "s.yaml", **over: Any) -> Path:
    data = scenario_dict(20, replicates=20, report_every=10, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [1, 5]}}],
        observations=[{"date": "2015-01-15", "region": "a", "low": 900, "high": 1200, "source": "=1+1"}])
    data.update(over)
    return write(tmp_path, data, file)


def flowsim(*args: str, cwd: Path, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(staging.FAULT, None)
    if fault:
        env[staging.FAULT] = fault
    return subprocess.run([sys.executable, "-m", "flowsim", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".flowsim-*")] if folder.exists() else []


def snapshot(folder: Path) -> dict[str, bytes]:
    """The result files (not the temporaries a kill leaves, which the next write removes)."""
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".")} if folder.exists() else {}


def coherent(folder: Path) -> int | None:
    """The seed of the finished result in `folder` (every table from it), or None if it is unfinished."""
    meta_file = next((folder / m for m in staging.META_FILES if (folder / m).exists()), None)
    if meta_file is None:
        return None
    seed = int(json.loads(meta_file.read_text())["seed"])
    marks = {p.name: p.read_text().count(f"seed{seed}") for p in folder.glob("*.csv")}
    return seed if all(marks.values()) or not marks else -1


# ---- 3, 5, 6: a kill or a full disk at every write and rename point of run, sweep, calibrate, sensitivity

COMMANDS = {
    "run": ["run", "s.yaml", "-j", "1"],
    "sweep": ["sweep", "s.yaml", "--param", "flows.r.rate=1:3:2", "-j", "1"],
    "calibrate": ["calibrate", "s.yaml", "--param", "flows.r.rate=1:9", "--draws", "200", "--particles", "100",
                  "--replicates", "1", "-j", "1"],
    "sensitivity": ["sensitivity", "s.yaml", "--param", "flows.r.rate=1:9", "--samples", "4", "--replicates", "2",
                    "-j", "1"],
}


def forked(args: list[str], cwd: Path, fault: str = "none@0") -> tuple[int, str, int]:
    """Run the command line in a forked copy of this process (flowsim already imported: a fraction of the
    second a new interpreter takes), with the fault hook armed; its exit code, stderr and the write and rename
    points it passed. A kill is os._exit, so no cleanup of the child runs, as under SIGKILL."""
    from typer.testing import CliRunner

    from flowsim.cli.main import app

    report = cwd / f".report-{time.monotonic_ns()}"
    pid = os.fork()
    if pid == 0:  # the child
        code = 99
        try:
            os.chdir(cwd)
            os.environ[staging.FAULT] = fault
            staging._points[0] = 0
            result = CliRunner().invoke(app, args)
            report.write_text(f"{staging._points[0]}\n{result.stderr}")
            code = result.exit_code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    points, _, err = report.read_text().partition("\n") if report.exists() else ("0", "", "")
    report.unlink(missing_ok=True)
    return os.waitstatus_to_exitcode(status), err, int(points)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked copy")
@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_a_kill_or_full_disk_anywhere_leaves_the_old_result_or_the_new(tmp_path: Path, cmd: str) -> None:
    """Kill (os._exit) or ENOSPC at the Nth write/rename point (every point of the final commit, and a spread
    of the earlier ones: chunk files): the folder holds the old seed-1 result, or the new seed-2 one, or (a kill
    mid-commit only) no record; a full disk is one error line, exit 2, the old result intact; the next run
    leaves no temporary."""
    import matplotlib.pyplot  # noqa: F401 - imported once here, not in every forked copy
    import SALib.sample.sobol  # noqa: F401

    source = small(tmp_path).read_text()
    (tmp_path / "s.yaml").write_text(source.replace("=1+1", "seed1"))  # the old result's file
    (tmp_path / "s2.yaml").write_text(source.replace("=1+1", "seed2"))  # the new one's (same name)
    base = [*COMMANDS[cmd], "--out", "out"]
    new_args = [*(a if a != "s.yaml" else "s2.yaml" for a in base), "--seed", "2"]
    code, err, total = forked([*base, "--seed", "1"], tmp_path)
    assert code == 0, err
    folder = tmp_path / "out/test"
    old = snapshot(folder)
    record_name = next(m for m in staging.META_FILES if m in old)
    commit = len(old) + 1  # the old record's removal, then a rename per file
    chosen = sorted({*range(max(1, total - commit - 1), total + 1), *range(1, total, max(1, total // 3))})
    unfinished = new = 0
    for n in chosen:
        code, err, _ = forked(new_args, tmp_path, f"exit@{n}")
        assert code == 137, (n, total, err)
        state = snapshot(folder)
        record = record_name if record_name in state else None
        if record is None:
            unfinished += 1  # killed between removing the old record and renaming the new one
        elif json.loads(state[record])["seed"] == 1:  # the old result, whole
            assert {k: v for k, v in state.items() if k != record} == {k: v for k, v in old.items() if k != record}
        else:  # the new result, whole
            new += 1
            assert json.loads(state[record])["seed"] == 2 and state.keys() == old.keys()
            assert all(b"seed1" not in v for k, v in state.items() if k.endswith(".csv")), sorted(state)
        if n in chosen[::3]:  # a full disk, at a third of the points
            code, err, _ = forked(new_args, tmp_path, f"enospc@{n}")
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and "No space left" in lines[0], err
            assert record is None or snapshot(folder) == state, "a full disk changed a finished result"
        if record is None or json.loads(state[record])["seed"] != 1:
            assert forked([*base, "--seed", "1"], tmp_path)[0] == 0  # back to the old result
            assert snapshot(folder).keys() == old.keys()
            assert not temporaries(folder), temporaries(folder)  # the next run removed the killed one's
    assert 1 <= unfinished <= commit, (new, unfinished)  # a kill after the last rename is a finished run
    assert forked(new_args, tmp_path)[0] == 0
    assert not temporaries(folder) and not [p for p in tmp_path.rglob("*-chunks")]


# ---- 2, 5: temporaries are exclusive, random and cleaned

def test_a_planted_symlink_is_never_followed(tmp_path: Path) -> None:
    """A link planted under a name a temporary could take, and as summary.csv itself, is replaced, not written
    through: the file it points at is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        (folder / f".summary.csv.tmp-{pid}").symlink_to(victim)
    (folder / "summary.csv").symlink_to(victim)
    with staging.Staged(folder) as staged:
        staged.text("summary.csv", "new\n")
        staged.commit()
    assert victim.read_text() == "precious"
    assert not (folder / "summary.csv").is_symlink() and (folder / "summary.csv").read_text() == "new\n"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    ours = [tmp_path / f".flowsim-{pid}-abc.tmp", tmp_path / f".summary.csv.tmp-{pid}"]
    live = tmp_path / f".flowsim-{os.getppid()}-xyz.tmp"  # a running process's: kept
    mine = tmp_path / "notes.txt"
    for p in (*ours, live, mine):
        p.write_text("x")
    with staging.Staged(tmp_path) as staged:
        staged.text("a.csv", "a\n")
        staged.commit()
    assert not any(p.exists() for p in ours) and live.exists() and mine.exists()


# ---- 6: read-only folder (as root, chmod cannot refuse; a failing os.replace stands in)

def test_a_read_only_folder_is_one_line_and_keeps_the_old_results(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = small(tmp_path)
    assert cli("run", path, "--out", tmp_path / "out", "-j", "1", "--seed", "1").exit_code == 0
    folder = tmp_path / "out/test"
    old = snapshot(folder)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(staging.os, "replace", refuse)
    result = cli("run", path, "--out", tmp_path / "out", "-j", "1", "--seed", "2")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("error: ") and "Read-only file system" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    monkeypatch.undo()
    assert not temporaries(folder)
    assert {k for k in snapshot(folder)} <= set(old)  # the record went first: nothing new, nothing half-written


# ---- 1, 7: chunk folders: symbolic links, other sweeps, locks

def sweep_args(path: Path, out: Path) -> list[str]:
    return ["sweep", str(path), "--param", "flows.r.rate=1:3:3", "--out", str(out), "-j", "1"]


@POSIX
@pytest.mark.parametrize("resume", [False, True])
def test_a_symlinked_chunk_folder_is_refused_and_nothing_outside_is_deleted(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                           resume: bool) -> None:
    path = small(tmp_path)
    scratch = tmp_path / "scratch"
    (scratch / "keep-me").mkdir(parents=True)
    (scratch / "0123456789abcdef").mkdir()  # even a name like ours, outside --out
    (scratch / "file.txt").write_text("x")
    folder = tmp_path / "out/test"
    folder.mkdir(parents=True)
    (folder / "sweep-chunks").symlink_to(scratch)
    result = cli(*sweep_args(path, tmp_path / "out"), *(["--resume"] if resume else []))
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in scratch.iterdir()) == ["0123456789abcdef", "file.txt", "keep-me"]


def test_a_second_job_on_a_locked_chunk_folder_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """While one sweep holds its chunk folder, another (other parameters, --resume) is refused and deletes
    nothing; afterwards it runs."""
    path = small(tmp_path)
    out = tmp_path / "out"
    busy = ChunkStore(out / "test", "0123456789abcdef")
    with busy.locked():
        busy.prepare(False)
        (busy.dir / "chunk-000000.npz").write_bytes(b"x")
        result = cli(*sweep_args(path, out), "--resume")
        assert result.exit_code == 2, result.output
        assert "in use by another flowsim job" in result.stderr
        assert (busy.dir / "chunk-000000.npz").exists()
    assert cli(*sweep_args(path, out)).exit_code == 0


def test_dropping_chunks_keeps_other_files(tmp_path: Path) -> None:
    from flowsim.experiments.chunkstore import drop_all

    root = tmp_path / "sweep-chunks"
    (root / "0123456789abcdef").mkdir(parents=True)
    (root / "notes").mkdir()
    drop_all(root)
    assert sorted(p.name for p in root.iterdir() if p.name != ".lock") == ["notes"]


# ---- 4: no worker outlives a SIGKILLed parent (run and sweep; test_spawn covers every start method)

@POSIX
@pytest.mark.parametrize("cmd", ["run", "sweep"])
def test_sigkill_leaves_no_worker(tmp_path: Path, cmd: str) -> None:
    path = write(tmp_path, scenario_dict(3000, replicates=8000, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 40}]))
    args = [cmd, str(path), "--out", "out", "-j", "2", "--engine", "step"]
    if cmd == "sweep":
        args += ["--param", "flows.r.rate=10:50:8"]
    proc = subprocess.Popen([sys.executable, "-m", "flowsim", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    children: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while len(children) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "finished before its workers started"
            children = [c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
            time.sleep(0.05)
        assert len(children) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(c) for c in children):
            time.sleep(0.05)
        assert not [c.pid for c in children if _running(c)], "orphaned workers"
    finally:
        proc.kill()
        for c in children:
            with contextlib.suppress(psutil.Error):
                c.kill()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# ---- 8, 13: --out and every scenario are checked before anything is simulated or written

def test_out_that_is_a_file_is_refused_before_simulating(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, scenario_dict(365, replicates=200000))
    (tmp_path / "out").write_text("a file")
    t0 = time.perf_counter()
    for args in (["run", path], ["sweep", path, "--param", "flows.x=1:2:2"],
                 ["sensitivity", path, "--param", "regions.a.initial=1:2"]):
        result = cli(*args, "--out", tmp_path / "out")
        assert result.exit_code == 2 and "not a folder" in result.stderr, result.output
    assert time.perf_counter() - t0 < 5


def test_every_scenario_and_its_memory_is_checked_before_any_is_written(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok = small(tmp_path, "ok.yaml", name="ok")
    big = write(tmp_path, scenario_dict(3650, report_every=1, replicates=1_000_000_000, name="big"), "big.yaml")
    result = cli("run", ok, big, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "this run needs about" in result.stderr
    assert not (tmp_path / "out").exists()


# ---- 14: the memory guard comes before the design is built, and calibrate is sized by what a round holds

def test_memory_guard_before_building_designs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    t0 = time.perf_counter()
    result = cli("sensitivity", path, "--param", "flows.r.rate=1:9", "--samples", "100000000", "--out",
                 tmp_path / "o")
    assert result.exit_code == 2 and "this run needs about" in result.stderr, result.output
    result = cli("sweep", path, "--param", "flows.r.rate=1:9", "--method", "random", "--samples", "1000000000",
                 "--out", tmp_path / "o")
    assert result.exit_code == 2 and "sweep fewer points" in result.stderr, result.output
    assert time.perf_counter() - t0 < 5


def test_calibrate_with_millions_of_draws_is_not_refused(tmp_path: Path) -> None:
    from flowsim.experiments import runs

    item = runs.load(small(tmp_path), runs.RunOptions(out=tmp_path / "o"))
    job = runs.plan_calibration(item, runs.RunOptions(out=tmp_path / "o"), ["flows.r.rate=1:9"], 4)
    assert job.n_points == 2  # the prior box: the draws are simulated round by round, never held at once


# ---- 10, 11: observation and scenario files

def test_an_unterminated_quote_is_refused_with_its_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "obs.csv").write_text('date,region,low,high,source\n2015-01-15,a,900,1200,"US, 4 Feb\n'
                                      '2015-01-16,a,900,1200,other\n')
    result = cli("compare", small(tmp_path), "--observations", tmp_path / "obs.csv", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "obs.csv:2:23" in result.stderr and "unterminated quote" in result.stderr, result.stderr


@POSIX
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_devices_and_fifos_are_refused_at_once(cli, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    special = Path("/dev/zero") if kind == "device" else tmp_path / "pipe"
    if kind == "fifo":
        os.mkfifo(special)
    t0 = time.perf_counter()
    for args in (["validate", special], ["compare", small(tmp_path), "--observations", special],
                 ["validate", small(tmp_path, "inner.yaml", observations=str(special))]):
        result = cli(*args, *(["--out", tmp_path / "o"] if args[0] == "compare" else []))
        assert result.exit_code == 2, result.output
        assert "not a regular file" in result.stderr, result.stderr
    assert time.perf_counter() - t0 < 10


def test_files_over_the_size_limit_are_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowsim.model import yamlsource

    path = small(tmp_path)
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 10)
    with pytest.raises(InputError, match="at most 10 bytes"):
        yamlsource.read_text(path, "scenario file", limit=yamlsource.MAX_BYTES)


# ---- 12: chained scale events are held to the 1e9 cap when the scenario is loaded

@pytest.mark.parametrize("second", [1e9, 1e6, 1e3])
def test_chained_scales_over_the_cap_are_refused(cli, tmp_path: Path, second: float) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path, flows=[{"name": "r", "kind": "recruitment", "to": "a", "rate": 1}],
                 events=[{"date": "2015-01-05", "scale": {"flows.r.rate": 1e9}},
                         {"date": "2015-01-06", "scale": {"flows.r.rate": second}}])
    result = cli("run", path, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "numbers are at most 1e+09" in result.stderr, result.output
    assert ":" in result.stderr.split()[1]  # located: file:line:column


# ---- 9: CSV injection

def test_formulas_are_neutralised_in_every_csv(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = small(tmp_path)
    assert cli("compare", path, "--out", tmp_path / "o").exit_code == 0
    text = (tmp_path / "o/test/comparison.csv").read_text()
    assert ",'=1+1," in text and ",=1+1" not in text
    for csv_file in (tmp_path / "o/test").glob("*.csv"):
        for line in csv_file.read_text().splitlines()[1:]:
            assert not any(cell.startswith(("=", "+", "@")) for cell in line.split(",")), (csv_file, line)


# ---- 15, 16: Dask

def test_a_server_that_is_not_a_dask_scheduler_is_refused_within_the_timeout(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []

    def serve() -> None:  # accept, then answer like an HTTP server would: never, or not in Dask's words
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                accepted.append(conn)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(InputError) as info:
            executor.connect(f"tcp://127.0.0.1:{port}", timeout=2)
        assert time.perf_counter() - t0 < 10
        assert "scheduler" in info.value.message
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def test_a_lost_cluster_is_one_line_with_its_exit_code(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import CancelledError

    class Lost:
        def scatter(self, *a: Any, **k: Any) -> None:
            raise CancelledError("FutureCancelledError: scheduler lost")

        def close(self) -> None:
            pass

    monkeypatch.setattr(executor, "connect", lambda address, timeout=10: Lost())
    result = cli("sweep", small(tmp_path), "--param", "flows.r.rate=1:3:2", "--out", tmp_path / "o",
                 "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == executor.EXIT_CLUSTER_LOST == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the Dask cluster") and "--resume" in lines[0]
    assert not (tmp_path / "o/test/run.json").exists()


# ---- 17: option mistakes are one error line, exit 2

@pytest.mark.parametrize("args", [["run"], ["run", "-n", "x", "a.yaml"], ["sweep", "--bogus", "a.yaml"],
                                  ["calibrate", "a.yaml", "--draws", "5"]])
def test_option_mistakes_are_one_error_line(cli, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f" {args[0]}: " in lines[0], result.stderr
    assert "{" not in result.stderr and "╭" not in result.stderr


def test_usage_shows_file_not_braces(cli) -> None:  # type: ignore[no-untyped-def]
    for cmd in ("run", "sweep", "calibrate", "sensitivity", "compare", "validate"):
        usage = " ".join(cli(cmd, "--help").stdout.split())
        assert f" {cmd} [OPTIONS] FILE" in usage and "{" not in usage.split("Usage:")[1][:60]


@pytest.mark.parametrize("value", ["plain", "a,b", 'say "x"', "two\nlines", "=1+1", "+3", "-x", "@sum", "\tx",
                                   "in=side"])
def test_few_and_many_strings_are_checked_alike(value: str) -> None:
    """Short columns are checked with Python's re, long ones with pyarrow.compute: the same verdict either way."""
    import pyarrow as pa

    from flowsim.outputs.formats import csvfile

    verdicts = [csvfile._needs_care(pa.chunked_array([pa.array(["ok"] * (n - 1) + [value])]))
                for n in (2, csvfile.FEW + 1)]
    assert verdicts[0] == verdicts[1] == (value not in ("plain", "in=side")), verdicts
