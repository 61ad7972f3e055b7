"""Worker pools under every start method: same bytes with spawned workers, and no worker outlives its parent."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from flowsim.experiments import executor, pools
from flowsim.model.errors import InputError

from .conftest import ROOT, scenario_dict, write

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="signals and process groups of POSIX")


def scenario(tmp_path: Path, days: int = 40, replicates: int = 1500) -> Path:
    return write(tmp_path, scenario_dict(days, replicates=replicates, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": {"uniform": [5, 15]}},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01},
        {"name": "div", "kind": "diversion", "of": "r", "to": "b", "fraction": 0.3, "delay": 3},
    ], observations=[{"date": "2015-01-31", "region": "a", "low": 1000, "high": 1200, "source": "x"}]))


def same_results(a: Path, b: Path) -> None:
    """Every result file byte for byte; run.json differs by design (it records the workers and the time)."""
    names = sorted(p.name for p in a.iterdir() if p.is_file() and p.name != "run.json")
    assert names and names == sorted(p.name for p in b.iterdir() if p.is_file() and p.name != "run.json")
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture
def spawned_pools(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Use spawn for every pool, and list the start method of each pool made, to prove one was."""
    monkeypatch.setenv(pools.START_METHOD, "spawn")
    made: list[str] = []
    real = pools.worker_pool

    @contextlib.contextmanager
    def recording(workers: int) -> Iterator[Any]:
        made.append(pools.mp_context().get_start_method())
        with real(workers) as pool:
            yield pool

    monkeypatch.setattr(executor, "worker_pool", recording)  # the one pool of every job
    return made


def test_start_method_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pools.START_METHOD, raising=False)
    assert pools.mp_context().get_start_method() == ("fork" if sys.platform.startswith("linux") else "spawn")
    monkeypatch.setenv(pools.START_METHOD, " Spawn ")
    assert pools.mp_context().get_start_method() == "spawn"
    monkeypatch.setenv(pools.START_METHOD, "vfork")
    with pytest.raises(InputError, match=r"FLOWSIM_START_METHOD: value 'vfork': must be one of .*spawn"):
        pools.mp_context()


def test_sweep_identical_with_spawned_workers(cli, tmp_path: Path, spawned_pools: list[str]) -> None:  # type: ignore[no-untyped-def]
    """8 points of 1,500 replicates make 2 chunks: 2 spawned workers give the bytes one process gives."""
    path = scenario(tmp_path)
    for w in ("1", "2"):
        result = cli("sweep", path, "--param", "flows.div.fraction=0:0.6:4", "--param", "flows.r.rate.uniform.1=15,25",
                     "--out", tmp_path / f"w{w}", "--workers", w)
        assert result.exit_code == 0, result.output
    assert spawned_pools == ["spawn"], "one pool, for --workers 2 only"
    same_results(tmp_path / "w1/test", tmp_path / "w2/test")


def test_run_identical_with_spawned_workers(cli, tmp_path: Path, spawned_pools: list[str]) -> None:  # type: ignore[no-untyped-def]
    """5,000 replicates are 3 blocks of at most 2,048: 2 spawned workers give the bytes one process gives."""
    path = scenario(tmp_path)
    for w in ("1", "2"):
        result = cli("run", path, "-n", "5000", "--out", tmp_path / f"w{w}", "--workers", w, "--trajectories")
        assert result.exit_code == 0, result.output
    assert spawned_pools == ["spawn"]
    same_results(tmp_path / "w1/test", tmp_path / "w2/test")


def flowsim(tmp_path: Path, method: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, pools.START_METHOD: method, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "flowsim", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def busy_workers(proc: subprocess.Popen[str], cpu: float, n: int = 2, timeout: float = 90) -> list[psutil.Process]:
    """The children of `proc` once `n` of them have used `cpu` seconds."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        children = parent.children(recursive=True)
        busy = 0
        for child in children:
            with contextlib.suppress(psutil.Error):
                busy += child.cpu_times().user >= cpu
        if busy >= n:
            return children
        time.sleep(0.05)
    raise AssertionError("the workers never got busy")


def gone(procs: list[psutil.Process], timeout: float = 10) -> list[psutil.Process]:
    """Wait until every process has exited (a zombie waiting for init to reap it counts as exited); the rest."""
    deadline = time.monotonic() + timeout
    left = procs
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _running(p)]
    return left


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def sweep_args(tmp_path: Path) -> list[str]:
    """About 10 s of work on two workers: 40 points of 1,000 replicates over 400 days, 8 per chunk."""
    path = write(tmp_path, scenario_dict(400, replicates=1000, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 40},
        {"name": "d", "kind": "attrition", "region": "a", "rate": 0.01}]))
    return ["sweep", str(path), "--param", "flows.r.rate=10:50:40", "--out", "out", "--workers", "2",
            "--engine", "step"]  # the daily step: the leap would finish before the kill


@POSIX_ONLY
@pytest.mark.parametrize("method", [m for m in ("fork", "spawn", "forkserver")
                                    if m in multiprocessing.get_all_start_methods()])
def test_workers_die_with_a_killed_parent(tmp_path: Path, method: str) -> None:
    """SIGKILL of the parent mid-sweep: every worker (busy or idle) and helper process exits within seconds.
    Under forkserver the workers are children of the fork server, which lives as long as they do."""
    proc = flowsim(tmp_path, method, *sweep_args(tmp_path))
    children: list[psutil.Process] = []
    try:
        children = busy_workers(proc, cpu=0.3 if method == "fork" else 1.5)  # others import flowsim for ~1 s
        proc.kill()
        proc.communicate(timeout=30)
        left = gone(children)
        assert not left, f"orphans left: {[(p.pid, p.cmdline()) for p in left]}"
    finally:
        proc.kill()
        _kill_all(children)


@POSIX_ONLY
def test_ctrl_c_while_spawned_workers_start(tmp_path: Path) -> None:
    """A spawned worker imports flowsim for about a second before its initializer ignores Ctrl-C; a Ctrl-C then
    (here sent to the workers alone) must not kill it (that gave a worker traceback, BrokenProcessPool and exit 1).
    Ctrl-C to the whole process group then stops the run: exit 130, one line, no worker left."""
    # long enough (about 4x the 3,000 days first used, which a quiet machine finished within the test's 2.3 s)
    path = write(tmp_path, scenario_dict(12000, replicates=20000, report_every=200, flows=[
        {"name": "r", "kind": "recruitment", "to": "a", "rate": 40}]))
    proc = flowsim(tmp_path, "spawn", "run", str(path), "--out", "out", "--workers", "2", "--engine", "step")
    children: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while len(workers := spawned_workers(parent)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        children = parent.children(recursive=True)
        time.sleep(0.3)  # now importing
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        time.sleep(2.0)
        assert proc.poll() is None and all(_running(w) for w in workers), proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert not gone(children)
        assert not (tmp_path / "out").exists()
    finally:
        proc.kill()
        _kill_all(children)


def spawned_workers(parent: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in parent.children():
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
    return found


PARENT = textwrap.dedent("""
    import os, sys, threading, time
    from flowsim.experiments import pools
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        threading.Thread(target=pools.watch_parent, args=(me, 0.1), daemon=True).start()
        time.sleep(60)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_portable_guard_alone_ends_an_orphan() -> None:
    """Where prctl(PR_SET_PDEATHSIG) does not exist (macOS), the watch thread alone ends a worker whose parent died."""
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    child = psutil.Process(int(proc.stdout.readline()))
    try:
        assert _running(child)
        proc.kill()
        proc.wait()
        assert not gone([child], timeout=5)
    finally:
        _kill_all([child])
