"""Where tasks run: in-process, a local process pool, or a Dask cluster.

Every backend is a :class:`concurrent.futures.Executor`, so the sweep engine does not know
which one it drives. Results never depend on the backend or the number of workers: every
run's seed is fixed by the master seed, the design point and the replication.

- ``serial`` (``--jobs 1``): in the calling process; the simplest to debug.
- ``process`` (default): :class:`~concurrent.futures.ProcessPoolExecutor`; workers are forked
  on Linux when the sweep process runs no other thread, spawned otherwise (no forked copies of
  another thread's locks; see :func:`simulation.runs.workers.start_method`).
- ``dask``: a Dask ``LocalCluster`` of ``--jobs`` single-threaded worker processes, or an
  existing scheduler given by address (``--scheduler tcp://host:8786``); needs the optional
  extra ``pip install relsim[dask]``, and relsim installed on every worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from simulation.errors import UserError
from simulation.runs.workers import process_pool, start_method

EXECUTORS = ("process", "dask")
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")
"""Address schemes of Dask's communication layer."""


class SerialExecutor(Executor):
    """Runs each task at once in the calling process and returns a finished future."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` now; its result or exception is in the future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the engine decides what a failure means
            future.set_exception(exc)
        return future


@dataclass
class Backend:
    """An open executor and what the manifest should say about it."""

    executor: Executor
    kind: str
    workers: int
    info: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop at once: cancel queued tasks and end the worker processes we started."""
        with contextlib.suppress(Exception):
            self.executor.shutdown(wait=False, cancel_futures=True)
        if isinstance(self.executor, ProcessPoolExecutor):
            terminate = getattr(self.executor, "terminate_workers", None)  # Python 3.14+
            if terminate is not None:
                terminate()
                return
            # Older Pythons have no public way; the workers are ours, so end them directly
            # rather than wait for a long task to finish after the user asked us to stop.
            processes = getattr(self.executor, "_processes", None) or {}
            for process in list(processes.values()):
                with contextlib.suppress(Exception):
                    process.terminate()


def default_jobs() -> int:
    """Number of CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_backend(
    kind: str = "process", jobs: int | None = None, scheduler: str | None = None
) -> Iterator[Backend]:
    """Open an executor for a sweep and close it afterwards.

    Args:
        kind: ``process`` or ``dask``.
        jobs: worker processes (default: the number of CPUs). With ``process`` and ``jobs=1``
            the tasks run in the calling process. Ignored when ``scheduler`` is given.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``); implies dask.

    Raises:
        UserError: unknown kind, dask missing, or the scheduler cannot be reached.
    """
    if scheduler:
        check_scheduler(scheduler)
        kind = "dask"
    if kind not in EXECUTORS:
        raise UserError(
            f"--executor: {kind!r} is not allowed: choose one of {', '.join(EXECUTORS)}"
        )
    jobs = jobs or default_jobs()
    if jobs < 1:
        raise UserError(f"--jobs: {jobs} is not allowed: give at least 1")
    if kind == "dask":
        with _dask_backend(jobs, scheduler) as backend:
            yield backend
        return
    if jobs == 1:
        yield Backend(SerialExecutor(), "serial", 1)
        return
    method = start_method()  # decided before the pool exists, as process_pool decides it
    executor = process_pool(jobs)
    backend = Backend(executor, "process", jobs, {"start_method": method})
    try:
        yield backend
    except BaseException:
        backend.stop()
        raise
    else:
        executor.shutdown(wait=True)


def check_scheduler(address: str) -> None:
    """Refuse a scheduler address that Dask cannot connect to, before importing Dask.

    Raises:
        UserError: an unknown scheme, or no host.
    """
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address  # Dask reads a bare host:port as tcp://host:port
    if scheme not in SCHEDULER_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in SCHEDULER_SCHEMES)
        raise UserError(
            f"--scheduler {address}: the scheme {scheme}:// is not allowed: use one of "
            f"{schemes} (for example tcp://host:8786)"
        )
    if not rest.strip("/"):
        raise UserError(f"--scheduler {address}: no host given (for example tcp://host:8786)")


@contextlib.contextmanager
def _dask_backend(jobs: int, scheduler: str | None) -> Iterator[Backend]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError(
            "--executor dask: dask is not installed; install it with pip install 'relsim[dask]'"
        ) from None
    cluster = None
    try:
        if scheduler:
            # How long to try is Dask's own setting (distributed.comm.timeouts.connect).
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,  # the simulation is single-threaded numpy
                processes=True,
                dashboard_address=None,  # no web server: nothing to bind, no port clashes
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
    except Exception as exc:  # whatever Dask raises for an address it cannot reach: one line
        if cluster is not None:
            cluster.close()
        where = f"--scheduler {scheduler}" if scheduler else "--executor dask"
        reason = (str(exc).splitlines() or [""])[0][:200]
        raise UserError(f"{where}: cannot connect ({exc.__class__.__name__}: {reason})") from None
    try:
        workers = sum(client.nthreads().values()) or jobs
        info = {
            "scheduler": client.scheduler.address if client.scheduler else scheduler,
            "cluster": "existing" if scheduler else "LocalCluster",
            "dask_workers": len(client.nthreads()),
        }
        # pure=False: a resumed or repeated task must run again, not be served from a cache.
        executor = client.get_executor(pure=False)
        backend = Backend(executor, "dask", workers, info)
        try:
            yield backend
        except BaseException:
            backend.stop()
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
