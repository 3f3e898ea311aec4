"""The books: lifecycle stages and each firm's accounts for the period.

A customer is in the purchase stage in the period it was won, then in experience, bonding
(trust at or above ``bonding_threshold``) or advocacy (bonded and a promoter). Each firm's
:class:`~simulation.market.agents.Books` gather what the phases tallied: customers won by
channel and lost by destination, revenue and every cost by lever, profit and its discounted
value, satisfaction, the net promoter score and the lifecycle mix.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market.agents import BOOK_FIELDS, Books
from simulation.market.moving import (
    ACQUIRED_ADVERTISING,
    ACQUIRED_FROM_RIVAL,
    ACQUIRED_REFERRAL,
    ACQUIRED_WIN_BACK,
    CHURNED_OUT,
    CHURNED_TO_RIVAL,
    COST_ADVERTISING,
    COST_REFERRAL,
    COST_WIN_BACK,
)
from simulation.market.parameters import StageRules
from simulation.market.phases.service import (
    COMPLAINT_HANDLING,
    CROSS_SELL,
    LOYALTY,
    PERSONALISATION,
    SUM_NAMES,
    THANK_YOU,
)
from simulation.market.population import STAGE, Customers

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

N_STAGES = len(STAGE)
PURCHASE, EXPERIENCE, BONDING = STAGE["purchase"], STAGE["experience"], STAGE["bonding"]
ADVOCACY, LAPSED, EVALUATION = STAGE["advocacy"], STAGE["lapsed"], STAGE["evaluation"]
DISCOVERY = STAGE["discovery"]


def close_books(market: RelationshipMarket) -> None:
    """Write each firm's accounts for the period (the stages were counted by :func:`lifecycle`).

    Also leaves the market's head counts (``market.headcount``: customers of any firm,
    prospects) for the model's reporters.
    """
    # A period's cash flows fall through the period: discounted from its middle, so that the
    # NPV does not depend on the period length.
    discount = (1 + market.discount_per_period) ** -(market.steps - 0.5)
    whole, real, market.headcount = accounts(
        market.tally.table,
        market.customers_start,
        market.lever_cost.table,
        market.sales.table,
        *market.lifecycle,
        market.n_firms,
        discount,
    )
    wholes, reals = whole.tolist(), real.tolist()
    for firm in market.firm_agents:
        row = reals[firm.index]
        row[CUMULATIVE] = firm.books.cumulative_discounted_profit + row[DISCOUNTED]
        firm.record(Books._make(_IN_FIELD_ORDER(wholes[firm.index] + row)))


# The books' whole numbers and their other numbers, each in the order of the books' fields:
# the columns of the two tables :func:`accounts` makes.
WHOLE_FIELDS = tuple(name for name in BOOK_FIELDS if type(Books._field_defaults[name]) is int)
REAL_FIELDS = tuple(name for name in BOOK_FIELDS if name not in WHOLE_FIELDS)
_IN_FIELD_ORDER = itemgetter(*((WHOLE_FIELDS + REAL_FIELDS).index(name) for name in BOOK_FIELDS))
DISCOUNTED = REAL_FIELDS.index("discounted_profit")
CUMULATIVE = REAL_FIELDS.index("cumulative_discounted_profit")
# Rows of the period's sales table (:mod:`simulation.market.period`): the service sums, then
# the rewards' cost.
REVENUE, PRODUCT, SERVICE, DISCOUNT, _, REWARD_COST = range(len(SUM_NAMES) + 1)


@njit(cache=True, nogil=True)
def accounts(
    tally: np.ndarray,
    customers_start: np.ndarray,
    lever: np.ndarray,
    sales: np.ndarray,
    by_stage: np.ndarray,
    satisfaction: np.ndarray,
    promoters: np.ndarray,
    detractors: np.ndarray,
    lapsed: np.ndarray,
    evaluating: np.ndarray,
    n_firms: int,
    discount: float,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Every firm's accounts for the period, from the tables of the passes.

    ``tally``, ``lever`` and ``sales`` are the period's tables (rows :data:`.moving.TALLIES`,
    :data:`.service.SERVED_LEVERS`, and the service sums then the rewards' cost), one column
    per firm; the rest are the counts of :func:`lifecycle`. The cumulative discounted profit
    is left at zero: it is the firm's own running total (:func:`close_books`).

    Returns:
        The books' whole numbers (:data:`WHOLE_FIELDS`) and other numbers
        (:data:`REAL_FIELDS`), one row per firm, and the market's head counts: customers of
        any firm, and prospects.
    """
    whole = np.zeros((n_firms, len(WHOLE_FIELDS)), dtype=np.int64)
    real = np.zeros((n_firms, len(REAL_FIELDS)))
    counts, total, prospects, discovery = people(by_stage, n_firms)
    for f in range(n_firms):
        customers = counts[f]
        acquired_referral = np.int64(tally[ACQUIRED_REFERRAL, f])
        acquired = (
            np.int64(tally[ACQUIRED_ADVERTISING, f])
            + acquired_referral
            + np.int64(tally[ACQUIRED_WIN_BACK, f])
            + np.int64(tally[ACQUIRED_FROM_RIVAL, f])
        )
        churned = np.int64(tally[CHURNED_TO_RIVAL, f]) + np.int64(tally[CHURNED_OUT, f])
        churn_rate = churned / customers_start[f] if customers_start[f] else 0.0
        acquisition_cost, loyalty, retention_cost = marketing_costs(tally, lever, sales, f)
        marketing_cost = acquisition_cost + retention_cost
        cost_total = sales[PRODUCT, f] + sales[SERVICE, f] + marketing_cost
        profit = sales[REVENUE, f] - cost_total
        retained = customers_start[f] - churned
        mean_satisfaction = net_promoter_score = np.nan
        if customers:
            mean_satisfaction = satisfaction[f] / customers
            # Net promoter score: share of promoters minus share of detractors, in points.
            net_promoter_score = 100 * float(promoters[f] - detractors[f]) / customers
        wholes = (
            customers_start[f],
            customers,
            acquired,
            np.int64(tally[ACQUIRED_ADVERTISING, f]),
            acquired_referral,
            np.int64(tally[ACQUIRED_WIN_BACK, f]),
            np.int64(tally[ACQUIRED_FROM_RIVAL, f]),
            churned,
            np.int64(tally[CHURNED_TO_RIVAL, f]),
            np.int64(tally[CHURNED_OUT, f]),
            np.int64(discovery),
            evaluating[f],
            by_stage[f, PURCHASE],
            by_stage[f, EXPERIENCE],
            by_stage[f, BONDING],
            by_stage[f, ADVOCACY],
            lapsed[f],
            acquired_referral,  # referrals
        )
        reals = (
            1.0 - churn_rate,
            churn_rate,
            sales[REVENUE, f],
            sales[PRODUCT, f],
            sales[SERVICE, f],
            tally[COST_ADVERTISING, f],
            sales[DISCOUNT, f],
            tally[COST_REFERRAL, f],
            tally[COST_WIN_BACK, f],
            lever[THANK_YOU, f],
            lever[COMPLAINT_HANDLING, f],
            loyalty,
            lever[PERSONALISATION, f],
            lever[CROSS_SELL, f],
            acquisition_cost,
            retention_cost,
            marketing_cost,
            cost_total,
            profit,
            profit * discount,
            0.0,  # the cumulative discounted profit: the firm's own running total
            acquisition_cost / acquired if acquired else np.nan,
            retention_cost / retained if retained > 0 else np.nan,
            mean_satisfaction,
            net_promoter_score,
            customers / total if total else 0.0,
        )
        for column, value in enumerate(wholes):
            whole[f, column] = value
        for column, value in enumerate(reals):
            real[f, column] = value
    return whole, real, (total, prospects)


@njit(cache=True, nogil=True)
def people(by_stage: np.ndarray, n_firms: int) -> tuple[np.ndarray, int, int, int]:
    """Head counts from the people by firm and stage.

    Returns:
        People by firm (``n_firms`` for none), customers of any firm, prospects (discovery
        and evaluation), and everyone in discovery.
    """
    counts = np.zeros(by_stage.shape[0], dtype=np.int64)
    prospects = discovery = 0
    for f in range(by_stage.shape[0]):
        for stage in range(by_stage.shape[1]):
            counts[f] += by_stage[f, stage]
            if stage <= EVALUATION:
                prospects += by_stage[f, stage]
        discovery += by_stage[f, DISCOVERY]
    total = 0
    for f in range(n_firms):
        total += counts[f]
    return counts, total, prospects, discovery


@njit(cache=True, nogil=True)
def marketing_costs(
    tally: np.ndarray, lever: np.ndarray, sales: np.ndarray, f: int
) -> tuple[float, float, float]:
    """Firm ``f``'s acquisition cost, loyalty cost and retention cost for the period.

    The loyalty cost is the programme's running cost and the rewards its members redeemed.
    """
    acquisition_cost = (
        tally[COST_ADVERTISING, f]
        + sales[DISCOUNT, f]
        + tally[COST_REFERRAL, f]
        + tally[COST_WIN_BACK, f]
    )
    loyalty = lever[LOYALTY, f] + sales[REWARD_COST, f]
    retention_cost = (
        lever[THANK_YOU, f]
        + lever[COMPLAINT_HANDLING, f]
        + loyalty
        + lever[PERSONALISATION, f]
        + lever[CROSS_SELL, f]
    )
    return acquisition_cost, loyalty, retention_cost


@njit(cache=True, nogil=True)
def lifecycle(
    c: Customers,
    stage: np.ndarray,
    last_firm: np.ndarray,
    considering: np.ndarray,
    rules: StageRules,
    step: int,
    n_firms: int,
    lo: int,
    hi: int,
):
    """Move customers ``lo`` to ``hi - 1`` to their lifecycle stage; count the books' figures.

    Stages of people without a firm are left as they are.

    Returns:
        ``(by_stage, satisfaction, promoters, detractors, lapsed, evaluating)``: people by firm
        (``n_firms`` for none) and stage, their summed satisfaction, promoters and detractors
        by firm; lapsed people by their last firm and evaluating prospects by the firm they
        consider.
    """
    by_stage = np.zeros((n_firms + 1, N_STAGES), dtype=np.int64)
    satisfaction = np.zeros(n_firms + 1)
    promoters = np.zeros(n_firms + 1, dtype=np.int64)
    detractors = np.zeros(n_firms + 1, dtype=np.int64)
    lapsed = np.zeros(n_firms + 1, dtype=np.int64)
    evaluating = np.zeros(n_firms + 1, dtype=np.int64)
    for i in range(np.uint64(lo), np.uint64(hi)):
        f = c.firm[i]
        sat = c.satisfaction[i]
        promoter = sat >= rules.promoter_threshold
        s = stage[i]
        if f < n_firms:
            bonded = c.strength[i] >= rules.bonding_threshold
            s = ADVOCACY if bonded & promoter else (BONDING if bonded else EXPERIENCE)
            s = PURCHASE if c.acquired_at[i] == step else s
            stage[i] = s
        by_stage[f, s] += 1
        satisfaction[f] += sat
        promoters[f] += promoter
        detractors[f] += sat < rules.detractor_threshold
        lapsed[last_firm[i]] += s == LAPSED
        evaluating[considering[i]] += s == EVALUATION
    return by_stage, satisfaction, promoters, detractors, lapsed, evaluating
