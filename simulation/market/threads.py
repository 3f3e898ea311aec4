"""A large market's period on several threads, in blocks of customers of a fixed size.

The compiled passes release the GIL while they run. A market of more than one block
(:data:`BLOCK` customers) runs each pass block by block on a pool of threads; each block keeps
its own per-firm sums, and they are added in block order, so that results depend on the
market's size but never on the number of threads. A market of one block runs as one compiled
call, without threads.

The number of threads is the number of cores the process may use, ``RELSIM_THREADS`` if set,
or what :func:`set_threads` says (worker processes of a sweep use one each: the sweep already
keeps every core busy).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

# Customers per block: large enough that a block's Python call (about 15 microseconds to
# unpack its arrays) is noise, small enough that two cores share a million customers evenly.
BLOCK = 1 << 16

_chosen: int | None = None


def set_threads(count: int | None) -> None:
    """Use ``count`` threads for large markets from now on (``None``: the default)."""
    global _chosen
    _chosen = count


def thread_count() -> int:
    """How many threads a large market's period uses."""
    if _chosen is not None:
        return max(_chosen, 1)
    setting = os.environ.get("RELSIM_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def block_bounds(n: int) -> list[tuple[int, int]]:
    """The first and one-past-last rows of each block of ``n`` customers.

    As few blocks of at most :data:`BLOCK` customers as hold them, of equal sizes (to one
    customer), so that the threads share the work evenly.
    """
    if n <= 0:
        return []
    blocks = -(-n // BLOCK)
    size, longer = divmod(n, blocks)  # the first ``longer`` blocks hold one more
    ends = [(b + 1) * size + min(b + 1, longer) for b in range(blocks)]
    return list(zip([0, *ends[:-1]], ends, strict=True))


Mapper = Callable[[Callable[[int], Any], Sequence[Any]], list]


def serially(task: Callable[[int], Any], items: Sequence[Any]) -> list:
    """Apply ``task`` to every item in this thread, results in order."""
    return [task(item) for item in items]


@contextmanager
def block_mapper(blocks: int) -> Iterator[Mapper]:
    """A function that applies a task to every block, on threads, results in block order.

    The pool lives for one period: no thread outlasts it (a process with threads may not
    fork its sweep workers safely).
    """
    threads = min(thread_count(), blocks)
    if threads <= 1:
        yield serially
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="relsim-block") as pool:
        yield lambda task, items: list(pool.map(task, items))
