"""Worker processes for every pool: how they start (fork, spawn, forkserver), stop, and die with their parent."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from flowsim.model.errors import InputError, Origin

START_METHOD = "FLOWSIM_START_METHOD"
PARENT_CHECK = 0.5
"""Seconds between a worker's checks that its parent still runs."""
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def mp_context() -> BaseContext:
    """How the worker processes of every pool (run blocks, sweep chunks) are started.

    Default: 'fork' on Linux, 'spawn' elsewhere. A forked worker starts in a few
    milliseconds with flowsim, numpy and scipy already imported, and it is safe on
    Linux here: workers only compute and return arrays, they never touch what the
    parent's threads (a progress bar) may hold. On macOS fork is unsafe once system
    frameworks are loaded (Python's own default there is 'spawn' since 3.8), and
    Windows has no fork. A spawned worker starts a fresh interpreter and imports
    flowsim, numpy and scipy again: about 0.9 s of CPU per worker, so about a second
    per pool on idle cores, paid once per pool, however much work it then does.

    The environment variable FLOWSIM_START_METHOD=spawn|fork|forkserver overrides the
    default, for example 'spawn' on Linux to do what macOS and Windows do, or
    'forkserver' to fork from a clean single-threaded process. Results never depend on
    it: the work is top-level functions with picklable arguments, seeded per block or
    chunk. A method the platform lacks is an InputError.
    """
    methods = multiprocessing.get_all_start_methods()
    name = os.environ.get(START_METHOD, "").strip().lower()
    if not name:
        name = "fork" if sys.platform.startswith("linux") else "spawn"
    if name not in methods:
        raise InputError(Origin(START_METHOD), "", name, f"must be one of {', '.join(methods)} on this platform")
    return multiprocessing.get_context(name)


def quiet_worker(owner: int | None = None) -> None:
    """Start a pool worker: leave Ctrl-C and SIGTERM to the parent, which stops the
    workers, and exit when `owner`, the process that made the pool, dies, even by
    SIGKILL, so that no worker outlives it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held by submit_all while we started
    _kill_me_with_parent()
    if owner is not None:
        threading.Thread(target=watch_parent, args=(owner,), name="flowsim-watch-parent", daemon=True).start()


def _kill_me_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process the moment its parent exits (prctl
    PR_SET_PDEATHSIG). The parent here is the thread that started the worker: the one
    that submitted the pool's first tasks, which outlives the pool. Under forkserver the
    parent is the fork server, which outlives our process; watch_parent covers that."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def watch_parent(owner: int, interval: float = PARENT_CHECK) -> None:
    """Exit this process once the process `owner` is gone; runs in a daemon thread of every worker.

    The portable guard (macOS has no PR_SET_PDEATHSIG). For a child of `owner` on POSIX,
    os.getppid() is enough: an orphan is adopted by another process. Otherwise psutil
    watches `owner` (is_running also detects a reused pid; a zombie counts as gone): on
    Windows, where the parent pid of an orphan does not change, under forkserver, whose
    workers are children of the fork server (which stays alive as long as they do), and
    when `owner` died before this worker got here.
    """
    alive: Callable[[], bool]
    anchor = os.getppid()
    if anchor == owner and sys.platform != "win32":
        def alive() -> bool:
            return os.getppid() == anchor
    else:
        import psutil

        try:
            proc = psutil.Process(owner)
        except psutil.Error:
            os._exit(1)

        def alive() -> bool:
            try:
                return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                return False
    while alive():
        time.sleep(interval)
    os._exit(1)


class _Tracked:
    """A start-method context that keeps the processes it makes, so a pool's workers can be
    stopped through the public Process API (ProcessPoolExecutor offers no way to stop
    running tasks before Python 3.14's terminate_workers). Everything else is the context's."""

    def __init__(self, ctx: BaseContext) -> None:
        self._ctx: Any = ctx  # its Process is not in BaseContext's stubs
        self.processes: list[BaseProcess] = []

    def Process(self, *args: Any, **kwargs: Any) -> BaseProcess:  # the context's name for it
        proc: BaseProcess = self._ctx.Process(*args, **kwargs)
        self.processes.append(proc)
        return proc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def stop(self) -> None:
        """SIGKILL every worker and wait until each is gone (a kill cannot be caught or deferred)."""
        for proc in self.processes:
            with contextlib.suppress(ValueError):  # a process the pool already closed
                if proc.is_alive():
                    proc.kill()
        for proc in self.processes:
            with contextlib.suppress(ValueError, AssertionError):
                proc.join(timeout=5)


def _unblock_results(pool: ProcessPoolExecutor) -> None:
    """Let the pool's manager thread see that its workers are gone.

    A worker killed while sending its result leaves part of a message in the result
    pipe, and the pool's manager thread waits for the rest for ever: the parent holds
    the pipe's write end too, so no end of file comes, and `shutdown` hangs on that
    thread. Once every worker is dead, closing the parent's write end (the parent never
    writes there) turns that wait into an end of file: the pool sees itself broken and
    shuts down. (CPython's own attributes; if they change, nothing is done.)
    """
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` processes started by mp_context(); submit with submit_all.

    Its workers ignore Ctrl-C and exit with the parent (quiet_worker). When the block is
    left by an exception (Ctrl-C, or SIGTERM turned into KeyboardInterrupt by the CLI),
    the workers are killed at once instead of finishing their tasks.
    """
    ctx = _Tracked(mp_context())
    with ProcessPoolExecutor(workers, mp_context=cast(BaseContext, ctx), initializer=quiet_worker,
                             initargs=(os.getpid(),)) as pool:
        try:
            yield pool
        except BaseException:
            ctx.stop()
            _unblock_results(pool)
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def submit_all(pool: ProcessPoolExecutor, fn: Callable[..., T], calls: Iterable[tuple[Any, ...]]) -> list[Future[T]]:
    """Submit fn(*args) for every args, in order.

    The pool starts its workers during these calls. Ctrl-C is held back meanwhile (and
    acted on right after), so a worker starts with it blocked and ignores it from its
    first instruction, not only from its initializer: a spawned worker spends about a
    second importing before that, and a Ctrl-C then would print its traceback.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        return [pool.submit(fn, *args) for args in calls]
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return [pool.submit(fn, *args) for args in calls]
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
