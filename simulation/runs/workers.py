"""Set-up shared by every worker process of a process pool (runs and sweeps)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from simulation.market import threads


def start_method() -> str:
    """How worker processes start: ``fork`` where it is safe, else ``spawn``.

    A spawned worker imports relsim, Mesa and pandas and loads the compiled kernels afresh
    (about 1.4 s on the project machine), which costs a sweep of short runs a noticeable share
    of its time; a forked worker starts with all of it in place. Forking is safe only from a
    process that runs no other thread (a thread holding a lock at the fork, as Dask, a
    dashboard or a progress bar may, would leave it locked forever in the child) and on
    Linux (macOS's system libraries do not survive a fork).
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "spawn"


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes, set up by :func:`init_worker`.

    They start as :func:`start_method` says, and share the cores: a large market in a worker
    runs its periods on its share of them (:mod:`simulation.market.threads`).
    """
    threads_each = max(1, threads.thread_count() // max(jobs, 1))
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context(start_method()),
        initializer=init_worker,
        initargs=(os.getpid(), 1.0, threads_each),
    )


def init_worker(parent_pid: int, interval: float = 1.0, threads_each: int = 1) -> None:
    """Worker initializer: leave Ctrl-C to the parent, and exit when the parent is gone.

    Ctrl-C reaches every process of the terminal's group; the parent stops the workers
    itself, so they ignore it rather than each print a traceback. A process pool's workers
    also keep waiting for work when their parent is killed (SIGKILL leaves no chance to shut
    the pool down); a watch thread ends them instead of leaving orphans that hold memory and
    CPUs.

    Args:
        parent_pid: the process that owns the pool.
        interval: seconds between checks.
        threads_each: threads a large market's period may use in this worker.
    """
    threads.set_threads(threads_each)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the parent's handlers; SIGTERM should just end it, as it ends
    # a spawned one.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=watch, name="relsim-parent-watch", daemon=True).start()
