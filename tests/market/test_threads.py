"""Blocks of customers and the threads that run them."""

from __future__ import annotations

import threading

import pytest

from simulation.market import threads


@pytest.mark.parametrize("n", [1, 100, threads.BLOCK, threads.BLOCK + 1, 100_000, 1_000_003])
def test_blocks_cover_every_customer_once_in_even_blocks(n):
    bounds = threads.block_bounds(n)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(hi == lo for (_, hi), (lo, _) in zip(bounds, bounds[1:], strict=False))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) <= threads.BLOCK and max(sizes) - min(sizes) <= 1
    assert len(bounds) == -(-n // threads.BLOCK)  # as few blocks as hold them


def test_the_number_of_threads_is_chosen_by_setting_then_environment(monkeypatch):
    monkeypatch.setenv("RELSIM_THREADS", "3")
    assert threads.thread_count() == 3
    monkeypatch.setenv("RELSIM_THREADS", "none")  # not a number: the cores
    assert threads.thread_count() >= 1
    threads.set_threads(1)
    try:
        assert threads.thread_count() == 1
    finally:
        threads.set_threads(None)


def test_blocks_run_on_threads_and_answer_in_block_order(monkeypatch):
    monkeypatch.setenv("RELSIM_THREADS", "3")
    seen, running = set(), threading.active_count()

    def task(b: int) -> int:
        seen.add(threading.current_thread().name)
        return b * b

    with threads.block_mapper(5) as each:
        assert each(task, range(5)) == [0, 1, 4, 9, 16]
    assert all(name.startswith("relsim-block") for name in seen)
    assert threading.active_count() == running  # no thread outlives the period


def test_one_thread_runs_the_blocks_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv("RELSIM_THREADS", "1")
    with threads.block_mapper(4) as each:
        names = each(lambda b: threading.current_thread().name, range(4))
    assert set(names) == {threading.current_thread().name}
