"""Stopping cleanly: SIGTERM handled like Ctrl-C, and signals held over a step that must finish.

Python ends at once on SIGTERM (``kill``), skipping every ``finally``; raising
KeyboardInterrupt instead lets a run remove its staging folder, a sweep write its manifest
and a server stop its child process, and each say what happened.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like Ctrl-C (raise KeyboardInterrupt) while the block runs.

    Outside the main thread, where Python allows no signal handler, the block runs unchanged.
    The previous handler is put back when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Delay SIGINT and SIGTERM until the block ends (where the platform allows it)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
