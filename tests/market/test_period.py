"""The compiled period: its routes agree, and it leaves the state the passes promise.

A period runs as one compiled call (``whole_period``) unless a policy targets by value or
spend is drawn; then Python decides who is targeted between the passes. Both routes must give
the same market to the last bit when the targeting they are given is the same. A market of
more than one block runs its passes block by block on threads: the same market whatever the
number of threads (each block draws from a generator of its own), and, given the same draws,
the one-block market but for the order of its per-firm sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.market import blocks, period, threads
from simulation.market import model as model_module
from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries, release

POPULATION_STATE = ("firm", "stage", "satisfaction", "strength", "points", "monetary", "margin")


def run_market(policy: str, split: bool) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Run a small default market, by the one-call route or by the split route."""
    model = RelationshipMarket(policy=policy, rng=7, customers=1500, periods=18)
    # With targeting switched on but every rule 'none', value_segments targets every
    # customer and cuts no one's service: the split route with the one-call route's inputs.
    model.targets_by_value = split
    model.run()
    books = firm_timeseries(model)
    state = {name: getattr(model.population, name).copy() for name in POPULATION_STATE}
    release(model)
    return books, state


@pytest.mark.parametrize("policy", ["acquisition_heavy", "retention_focused"])
def test_one_call_and_split_passes_give_the_same_market(policy):
    whole_books, whole_state = run_market(policy, split=False)
    split_books, split_state = run_market(policy, split=True)
    pd.testing.assert_frame_equal(whole_books, split_books, check_exact=True)
    for name, values in whole_state.items():
        np.testing.assert_array_equal(values, split_state[name], err_msg=name)
    assert whole_books["acquired"].sum() > 0 and whole_books["churned"].sum() > 0


TARGETED = {
    "market__customer__purchase__spend": {"p": 6.0, "q": 4.0, "gamma": 15.0},
    "policies__retention_focused__targeting": {
        "by": "clv",
        "top_share": 0.5,
        "serve_cut_share": 0.2,
        "serve_cut": 0.3,
    },
}


def run_blocks(
    monkeypatch, block: int, count: int, one_stream: bool = False, **controls
) -> tuple[pd.DataFrame, dict]:
    """Run a 2,000-customer market in blocks of ``block`` customers on ``count`` threads.

    ``one_stream``: draw every block's numbers from the model's generator, as one block does.
    """
    monkeypatch.setattr(threads, "BLOCK", block)
    if one_stream:
        monkeypatch.setattr(model_module, "block_generators", lambda rng, n: [])
    threads.set_threads(count)
    try:
        model = RelationshipMarket(
            policy="retention_focused", rng=11, customers=2000, periods=15, **controls
        )
        for _ in range(15):
            model.step()
            assert not model.state.weight.any()  # scratch: zero after every period
    finally:
        threads.set_threads(None)
    books = firm_timeseries(model)
    state = {name: getattr(model.population, name).copy() for name in POPULATION_STATE}
    tracked = model.cohorts.table()
    release(model)
    return books, state | {"cohorts": tracked}


@pytest.mark.parametrize("controls", [{}, TARGETED], ids=["one_call", "targeted_drawn_spend"])
def test_blocks_give_the_same_market_whatever_the_number_of_threads(monkeypatch, controls):
    one_books, one_state = run_blocks(monkeypatch, 384, 1, **controls)  # 6 blocks
    for count in (2, 4):
        books, state = run_blocks(monkeypatch, 384, count, **controls)
        pd.testing.assert_frame_equal(one_books, books, check_exact=True)
        pd.testing.assert_frame_equal(one_state["cohorts"], state["cohorts"], check_exact=True)
        for name in POPULATION_STATE:
            np.testing.assert_array_equal(one_state[name], state[name], err_msg=name)


@pytest.mark.parametrize("controls", [{}, TARGETED], ids=["one_call", "targeted_drawn_spend"])
def test_a_market_in_blocks_is_the_market_in_one_block(monkeypatch, controls):
    # Given the same draws, only the order in which the per-firm sums are added differs:
    # counts are equal, money within a few rounding errors (rtol 1e-12 over sums of a few
    # thousand terms).
    whole_books, whole_state = run_blocks(monkeypatch, 1 << 16, 1, **controls)
    block_books, block_state = run_blocks(monkeypatch, 384, 2, one_stream=True, **controls)
    assert whole_books["acquired_referral"].sum() > 0 and whole_books["churned"].sum() > 0
    counts = whole_books.select_dtypes(exclude="float").columns
    pd.testing.assert_frame_equal(whole_books[counts], block_books[counts], check_exact=True)
    for column in ("acquired", "churned", "customers", "referrals"):
        np.testing.assert_array_equal(whole_books[column], block_books[column], err_msg=column)
    money = whole_books.select_dtypes("float").columns
    pd.testing.assert_frame_equal(whole_books[money], block_books[money], rtol=1e-12)
    pd.testing.assert_frame_equal(whole_state["cohorts"], block_state["cohorts"], rtol=1e-12)
    for name in POPULATION_STATE:
        np.testing.assert_array_equal(whole_state[name], block_state[name], err_msg=name)


def test_blocks_push_or_pull_exposure_to_the_same_market(monkeypatch):
    """Exposure pushed from every promoter, or pulled by every prospect: the same sums."""
    monkeypatch.setattr(blocks, "PUSH_COST", 1e9)  # never pushed
    pulled_books, pulled_state = run_blocks(monkeypatch, 384, 2)
    pushes = []
    choose = blocks.pushes_exposure

    def always(rules, links, prospects, promoters):
        pushes.append(choose(rules, links, prospects, 0))
        return pushes[-1]

    monkeypatch.setattr(blocks, "pushes_exposure", always)
    pushed_books, pushed_state = run_blocks(monkeypatch, 384, 2)
    assert sum(pushes) >= 10  # pushed in most periods
    pd.testing.assert_frame_equal(pulled_books, pushed_books, check_exact=True)
    for name in POPULATION_STATE:
        np.testing.assert_array_equal(pulled_state[name], pushed_state[name], err_msg=name)


def test_scratch_space_is_clean_between_periods():
    # The promoters' weights and the prospects' slots are scratch: zero and -1 after a period.
    model = RelationshipMarket(policy="retention_focused", rng=3, customers=2000, periods=6)
    for _ in range(6):
        model.step()
        assert not model.state.weight.any()
        assert (model.state.slot == -1).all()
    release(model)


def test_the_books_inputs_cover_every_firm():
    model = RelationshipMarket(rng=5, customers=800, periods=3, customer_agents=False)
    model.step()
    firms = model.n_firms + 1
    assert set(model.tally) == set(period.TALLIES)
    assert all(len(values) == firms for values in model.tally.values())
    assert model.customers_start.sum() == model.population.size
    by_stage = model.lifecycle[0]
    assert by_stage.sum() == model.population.size
    release(model)


def test_a_market_can_run_past_its_horizon():
    # The compiled passes do not check bounds: cohorts are tracked up to the horizon only,
    # and the table of the cost to serve by tenure grows as tenure does.
    model = RelationshipMarket(policy="retention_focused", rng=2, customers=1500, periods=6)
    model.run()
    table = model.cohorts.table()
    acquired = 0
    for _ in range(30):
        model.step()
        acquired += model.focal.books.acquired
    assert model.steps == 36 and acquired > 0
    # Those who join after the horizon are no cohort; the horizon's cohorts keep their size.
    after = model.cohorts.table()
    assert int(after["cohort"].max()) <= 6
    np.testing.assert_array_equal(after["cohort_size"], table["cohort_size"])
    assert len(model.serve_factor) > 36 - model.earliest_start
    release(model)


BOUNDS_RUN = """
from simulation.market import threads
from simulation.market.model import RelationshipMarket
threads.set_threads(2)
targeted = {
    "market__customer__purchase__spend": {"p": 6.0, "q": 4.0, "gamma": 15.0},
    "policies__retention_focused__targeting": {"by": "clv", "top_share": 0.5,
                                               "serve_cut_share": 0.2, "serve_cut": 0.3},
}
for block in (1 << 16, 256):  # one block; three blocks on two threads
    threads.BLOCK = block
    for policy, controls in (("acquisition_heavy", {}), ("retention_focused", targeted)):
        model = RelationshipMarket(policy=policy, rng=4, customers=600, periods=8, **controls)
        assert model.targets_by_value == bool(controls)
        for _ in range(20):  # past the horizon too
            model.step()
print("ok")
"""


@pytest.mark.slow
def test_the_compiled_passes_stay_within_their_arrays(tmp_path):
    # numba does not check indices unless asked: compiled afresh with bounds checks on, any
    # read or write outside an array raises IndexError instead of corrupting memory. Both
    # routes of the period (one call; split, with targeting by value and drawn spend), in one
    # block and in blocks on threads. About 40 s, most of it compiling.
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", BOUNDS_RUN], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
