"""Set-up shared by every worker process of a process pool (runs and sweeps)."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes, started with spawn and set up by :func:`init_worker`.

    spawn, not fork: forking a process that runs threads (Dask, a dashboard) can deadlock.
    """
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        initializer=init_worker,
        initargs=(os.getpid(),),
    )


def init_worker(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initializer: leave Ctrl-C to the parent, and exit when the parent is gone.

    Ctrl-C reaches every process of the terminal's group; the parent stops the workers
    itself, so they ignore it rather than each print a traceback. A process pool's workers
    also keep waiting for work when their parent is killed (SIGKILL leaves no chance to shut
    the pool down); a watch thread ends them instead of leaving orphans that hold memory and
    CPUs.

    Args:
        parent_pid: the process that owns the pool.
        interval: seconds between checks.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=watch, name="relsim-parent-watch", daemon=True).start()
