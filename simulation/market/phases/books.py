"""The books: lifecycle stages and each firm's accounts for the period.

A customer is in the purchase stage in the period it was won, then in experience, bonding
(trust at or above ``bonding_threshold``) or advocacy (bonded and a promoter). Each firm's
:class:`~simulation.market.agents.Books` gather what the phases tallied: customers won by
channel and lost by destination, revenue and every cost by lever, profit and its discounted
value, satisfaction, the net promoter score and the lifecycle mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market.agents import Books
from simulation.market.parameters import StageRules
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
    by_stage, sat_sum, promoters, detractors, lapsed_by, evaluating_by = market.lifecycle
    # Python numbers throughout: a firm's accounts are a few dozen scalar operations, and on
    # numpy scalars (or numpy calls on arrays of a few firms) each costs ten times as much.
    stages = by_stage.tolist()
    counts = [sum(row) for row in stages]
    total_customers = sum(counts[: market.n_firms])
    market.headcount = (total_customers, sum(sum(row[: EVALUATION + 1]) for row in stages))
    tables = {
        "tally": _lists(market.tally),
        "sales": _lists(market.sales),
        "lever": _lists(market.lever_cost),
        "customers_start": market.customers_start.tolist(),
        "stages": stages,
        "satisfaction": sat_sum.tolist(),
        "promoters": promoters.tolist(),
        "detractors": detractors.tolist(),
        "lapsed": lapsed_by.tolist(),
        "evaluating": evaluating_by.tolist(),
        "discovery": sum(row[DISCOVERY] for row in stages),
    }
    # A period's cash flows fall through the period: discounted from its middle, so that the
    # NPV does not depend on the period length.
    discount = (1 + market.discount_per_period) ** -(market.steps - 0.5)
    for firm in market.firm_agents:
        firm.record(firm_books(tables, firm.index, counts, total_customers, discount))


def _lists(table: dict[str, np.ndarray]) -> dict[str, list]:
    return {name: values.tolist() for name, values in table.items()}


def firm_books(tables: dict, i: int, counts: list, total: int, discount: float) -> Books:
    """Accounts of firm ``i`` for this period, from the tallies of the phases.

    ``tables`` holds, as lists, the period's ``tally``, ``sales`` and ``lever`` costs (name
    to one value per firm), ``customers_start`` and the counts of :func:`lifecycle` (people by
    firm and stage, summed satisfaction, promoters, detractors, lapsed and evaluating by
    firm, and ``discovery``: everyone in discovery). ``cumulative_discounted_profit`` is left
    to :meth:`~simulation.market.agents.Firm.record`.
    """
    # Set field by field: a call with every field as a keyword costs twice as much.
    t, sales, lever = tables["tally"], tables["sales"], tables["lever"]
    books = Books(customers_start=tables["customers_start"][i], customers=counts[i])
    books.acquired_advertising = int(t["acquired_advertising"][i])
    books.acquired_referral = int(t["acquired_referral"][i])
    books.acquired_win_back = int(t["acquired_win_back"][i])
    books.acquired_from_rival = int(t["acquired_from_rival"][i])
    books.acquired = (
        books.acquired_advertising
        + books.acquired_referral
        + books.acquired_win_back
        + books.acquired_from_rival
    )
    books.churned_to_rival = int(t["churned_to_rival"][i])
    books.churned_out_of_market = int(t["churned_out_of_market"][i])
    books.churned = books.churned_to_rival + books.churned_out_of_market
    books.churn_rate = books.churned / books.customers_start if books.customers_start else 0.0
    books.retention_rate = 1.0 - books.churn_rate
    books.revenue = sales["revenue"][i]
    books.cost_product = sales["product"][i]
    books.cost_service = sales["service"][i]
    books.cost_advertising = t["cost_advertising"][i]
    books.cost_discount = sales["discount"][i]
    books.cost_referral = t["cost_referral"][i]
    books.cost_win_back = t["cost_win_back"][i]
    books.cost_thank_you = lever["thank_you"][i]
    books.cost_complaint_handling = lever["complaint_handling"][i]
    # The programme's running cost and the rewards its members redeemed.
    books.cost_loyalty = lever["loyalty"][i] + sales["reward_cost"][i]
    books.cost_personalisation = lever["personalisation"][i]
    books.cost_cross_sell = lever["cross_sell"][i]
    books.acquisition_cost = (
        books.cost_advertising + books.cost_discount + books.cost_referral + books.cost_win_back
    )
    books.retention_cost = (
        books.cost_thank_you
        + books.cost_complaint_handling
        + books.cost_loyalty
        + books.cost_personalisation
        + books.cost_cross_sell
    )
    books.marketing_cost = books.acquisition_cost + books.retention_cost
    books.cost_total = books.cost_product + books.cost_service + books.marketing_cost
    books.profit = books.revenue - books.cost_total
    books.discounted_profit = books.profit * discount
    books.cost_per_acquired = (
        books.acquisition_cost / books.acquired if books.acquired else float("nan")
    )
    retained = books.customers_start - books.churned
    books.cost_per_retained = books.retention_cost / retained if retained > 0 else float("nan")
    if counts[i]:
        books.mean_satisfaction = tables["satisfaction"][i] / counts[i]
        # Net promoter score: share of promoters minus share of detractors, in points.
        net_promoters = float(tables["promoters"][i] - tables["detractors"][i])
        books.net_promoter_score = 100 * net_promoters / counts[i]
    stages = tables["stages"][i]
    books.stage_discovery = tables["discovery"]
    books.stage_evaluation = tables["evaluating"][i]
    books.stage_purchase = stages[PURCHASE]
    books.stage_experience = stages[EXPERIENCE]
    books.stage_bonding = stages[BONDING]
    books.stage_advocacy = stages[ADVOCACY]
    books.stage_lapsed = tables["lapsed"][i]
    books.market_share = books.customers / total if total else 0.0
    books.referrals = books.acquired_referral
    return books


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
