"""A large market's first pass block by block, each block's steps on a thread.

The steps of :func:`.moving.move` (win-back, churn, acquisition), with Python between them
where a step needs every block's results: advertising's reach needs the number of prospects,
the referral programme's the number of promoters, and a prospect's exposure the weights of
promoters anywhere in the market. Each block counts into its own tallies, which are added in
block order (:mod:`.threads`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation.market import threads
from simulation.market.moving import (
    acquire,
    acquisition_terms,
    forget_weights,
    open_period,
    prospect_scratch,
    pushed_exposure,
    pushes_exposure,
    sort_customers,
    weigh_promoters,
)
from simulation.market.parameters import FirmTerms, Rules
from simulation.market.population import Customers
from simulation.market.randomness import U_REFERRAL
from simulation.market.threads import serially

if TYPE_CHECKING:
    from simulation.market.period import Cohorts, Network, State
    from simulation.market.threads import Mapper


# A promoter's link pushed on one thread costs about three times a prospect's link pulled on
# each of the threads (23 and 7.5 ns at 1,000,000 customers on 2 threads): exposure is pushed
# only where the prospects outnumber the promoters three times per thread (pushes_exposure
# weighs each prospect twice). Pushing also needs a row per prospect: 16 MB at 1,000,000.
PUSH_COST = 6


def move_blocks(
    c: Customers,
    s: State,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    unit_cost: np.ndarray,
    links: Network,
    cohorts: Cohorts,
    spend: np.ndarray,
    step: int,
    tally: np.ndarray,
    counts: np.ndarray,
    bounds: list[tuple[int, int]],
    each: Mapper,
) -> None:
    """:func:`.moving.move` block by block, each block's steps on a thread (:mod:`.threads`).

    The same steps in the same order, every block's tallies and cohort counts apart and added
    in block order at the end (block 0 counts into the period's own). Exposure is pulled along
    the prospects' links on the blocks' threads, or, in a young market, pushed from every
    promoter on one thread: the same sums either way.
    """
    n_firms, moving = terms.price.shape[0] - 1, rules.move
    blocks = range(len(bounds))
    win_back_reach = open_period(c, s, spend, unit_cost, moving.dt, tally, counts)
    tallies = [tally] + [np.zeros_like(tally) for _ in bounds[1:]]
    counted = [counts] + [np.zeros_like(counts) for _ in bounds[1:]]
    tracked = [cohorts] + [type(cohorts)(*map(np.zeros_like, cohorts)) for _ in bounds[1:]]
    promoters = [np.zeros(n_firms + 1) for _ in bounds]

    def sort(b: int) -> tuple[int, int]:
        lo, hi = bounds[b]
        return sort_customers(
            c, s, u, terms, rules, win_back_reach, tracked[b], step, lo, hi, tallies[b],
            counted[b], promoters[b], np.empty(n_firms),
        )  # fmt: skip

    listed = each(sort, blocks)
    n_prospects = sum(prospects for prospects, _ in listed)
    if n_prospects > 0:
        ad_rate, programme_reach = acquisition_terms(
            terms, moving, spend, unit_cost, n_prospects, in_order(promoters), tally
        )

        def weigh(b: int) -> np.ndarray:
            start, count = bounds[b][0], listed[b][1]
            return weigh_promoters(c, s, u[U_REFERRAL], programme_reach, moving, step, start, count)

        totals = in_order(each(weigh, blocks))
        heard_by = [np.zeros((0, n_firms + 1))] * len(bounds)  # no rows: pulled
        n_promoters = sum(promoting for _, promoting in listed)
        weighed = n_promoters * PUSH_COST * threads.thread_count()
        if pushes_exposure(moving, links, n_prospects, weighed):
            # Pushed on one thread, from every block's promoters to every block's prospects.
            prospects = [s.prospects[bounds[b][0] :][: listed[b][0]] for b in blocks]
            promoting = [s.promoters[bounds[b][0] :][: listed[b][1]] for b in blocks]
            heard = pushed_exposure(
                s.slot, np.concatenate(prospects), np.concatenate(promoting), links, s.weight,
                c.firm, n_firms,
            )  # fmt: skip
            first = np.cumsum([0] + [p for p, _ in listed])
            heard_by = [heard[first[b] : first[b + 1]] for b in blocks]

        def acquire_block(b: int) -> None:
            start, count = bounds[b][0], listed[b][0]
            acquire(
                c, s, u, terms, moving, links, tracked[b], step, start, count, ad_rate, totals,
                heard_by[b], tallies[b], counted[b], prospect_scratch(n_firms),
            )  # fmt: skip

        each(acquire_block, blocks)
        # Only once every block has read them: a prospect's contacts may be anywhere.
        each(lambda b: forget_weights(s, bounds[b][0], listed[b][1]), blocks)
    for b in blocks[1:]:
        tally += tallies[b]
        counts += counted[b]
        for mine, theirs in zip(cohorts, tracked[b], strict=True):
            mine += theirs


def in_order(parts: list[np.ndarray]) -> np.ndarray:
    """The blocks' per-firm arrays added up in block order."""
    total = np.zeros_like(parts[0])
    for part in parts:
        total += part
    return total


def load_block_kernels(
    c: Customers,
    s: State,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    unit_cost: np.ndarray,
    links: Network,
    cohorts: Cohorts,
    spend: np.ndarray,
    tally: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Call each kernel of :func:`move_blocks` once on no customers (``c`` is empty).

    Loads them from numba's cache, or compiles them, for the argument types of a real period
    (whole numbers from Python, not the constants :func:`move` hands them).
    """
    move_blocks(c, s, u, terms, rules, unit_cost, links, cohorts, spend, 1, tally, counts,
                [(0, 0), (0, 0)], serially)  # fmt: skip
    none = np.zeros(terms.price.shape[0])
    ad_rate, reach = acquisition_terms(terms, rules.move, spend, unit_cost, 1, none, tally)
    weigh_promoters(c, s, u[U_REFERRAL], reach, rules.move, 1, 0, 0)
    pulled = np.zeros((0, none.shape[0]))
    acquire(c, s, u, terms, rules.move, links, cohorts, 1, 0, 0, ad_rate, none, pulled, tally,
            counts, prospect_scratch(none.shape[0] - 1))  # fmt: skip
    forget_weights(s, 0, 0)
    rows = np.zeros(0, dtype=s.prospects.dtype)
    pushes_exposure(rules.move, links, 0, 0)
    pushed_exposure(s.slot, rows, rows, links, s.weight, c.firm, none.shape[0] - 1)
