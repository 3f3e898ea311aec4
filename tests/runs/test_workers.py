"""Worker processes: how they start, that a pool runs work, and how they handle signals."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing import get_context

import pytest

from simulation.runs import workers

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="forking is used on Linux only")


def test_forks_on_linux_from_a_single_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.sys, "platform", "linux")
    monkeypatch.setattr(workers.threading, "active_count", lambda: 1)
    assert workers.start_method() == "fork"


def test_spawns_when_another_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.sys, "platform", "linux")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert workers.start_method() == "spawn"
    finally:
        stop.set()
        thread.join()


def test_spawns_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.sys, "platform", "darwin")
    monkeypatch.setattr(workers.threading, "active_count", lambda: 1)
    assert workers.start_method() == "spawn"


def test_a_pool_runs_tasks_in_workers_that_leave_ctrl_c_to_the_parent() -> None:
    pool = workers.process_pool(1)
    try:
        assert pool.submit(os.getppid).result(timeout=60) == os.getpid()
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
        assert pool.submit(signal.getsignal, signal.SIGTERM).result(timeout=60) == signal.SIG_DFL
    finally:
        pool.shutdown()


@linux_only
def test_a_worker_whose_parent_is_gone_exits() -> None:
    def orphan() -> None:
        # Told that its parent is another process, the worker finds it gone at the first check.
        workers.init_worker(parent_pid=os.getppid() + 1_000_000, interval=0.05)
        time.sleep(30)
        os._exit(0)

    child = get_context("fork").Process(target=orphan)
    child.start()
    child.join(timeout=10)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the worker outlived its parent")
    assert child.exitcode == 1


@linux_only
def test_a_worker_whose_parent_lives_keeps_working() -> None:
    def loyal() -> None:
        workers.init_worker(parent_pid=os.getppid(), interval=0.05)
        time.sleep(0.5)
        os._exit(0)

    child = get_context("fork").Process(target=loyal)
    child.start()
    child.join(timeout=10)
    assert child.exitcode == 0
