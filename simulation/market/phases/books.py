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
        "tally": market.tally.lists(),
        "sales": market.sales.lists(),
        "lever": market.lever_cost.lists(),
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
        cumulative = firm.books.cumulative_discounted_profit
        firm.record(firm_books(tables, firm.index, counts, total_customers, discount, cumulative))


def firm_books(
    tables: dict, i: int, counts: list, total: int, discount: float, cumulative: float
) -> Books:
    """Accounts of firm ``i`` for this period, from the tallies of the phases.

    ``tables`` holds, as lists, the period's ``tally``, ``sales`` and ``lever`` costs (name
    to one value per firm), ``customers_start`` and the counts of :func:`lifecycle` (people by
    firm and stage, summed satisfaction, promoters, detractors, lapsed and evaluating by
    firm, and ``discovery``: everyone in discovery). ``cumulative`` is the firm's cumulative
    discounted profit before this period.
    """
    t, sales, lever = tables["tally"], tables["sales"], tables["lever"]
    customers_start, customers = tables["customers_start"][i], counts[i]
    acquired_referral = int(t["acquired_referral"][i])
    acquired = (
        int(t["acquired_advertising"][i])
        + acquired_referral
        + int(t["acquired_win_back"][i])
        + int(t["acquired_from_rival"][i])
    )
    churned = int(t["churned_to_rival"][i]) + int(t["churned_out_of_market"][i])
    churn_rate = churned / customers_start if customers_start else 0.0
    acquisition_cost = (
        t["cost_advertising"][i]
        + sales["discount"][i]
        + t["cost_referral"][i]
        + t["cost_win_back"][i]
    )
    # The loyalty programme's running cost and the rewards its members redeemed.
    loyalty = lever["loyalty"][i] + sales["reward_cost"][i]
    retention_cost = (
        lever["thank_you"][i]
        + lever["complaint_handling"][i]
        + loyalty
        + lever["personalisation"][i]
        + lever["cross_sell"][i]
    )
    marketing_cost = acquisition_cost + retention_cost
    cost_total = sales["product"][i] + sales["service"][i] + marketing_cost
    profit = sales["revenue"][i] - cost_total
    retained = customers_start - churned
    mean_satisfaction = net_promoter_score = float("nan")
    if customers:
        mean_satisfaction = tables["satisfaction"][i] / customers
        # Net promoter score: share of promoters minus share of detractors, in points.
        net_promoters = float(tables["promoters"][i] - tables["detractors"][i])
        net_promoter_score = 100 * net_promoters / customers
    stages = tables["stages"][i]
    # Every field in order, made at once: setting 44 fields one by one cost more than the
    # period's arithmetic.
    return Books._make(
        (
            customers_start,
            customers,
            acquired,
            int(t["acquired_advertising"][i]),
            acquired_referral,
            int(t["acquired_win_back"][i]),
            int(t["acquired_from_rival"][i]),
            churned,
            int(t["churned_to_rival"][i]),
            int(t["churned_out_of_market"][i]),
            1.0 - churn_rate,
            churn_rate,
            sales["revenue"][i],
            sales["product"][i],
            sales["service"][i],
            t["cost_advertising"][i],
            sales["discount"][i],
            t["cost_referral"][i],
            t["cost_win_back"][i],
            lever["thank_you"][i],
            lever["complaint_handling"][i],
            loyalty,
            lever["personalisation"][i],
            lever["cross_sell"][i],
            acquisition_cost,
            retention_cost,
            marketing_cost,
            cost_total,
            profit,
            profit * discount,
            cumulative + profit * discount,
            acquisition_cost / acquired if acquired else float("nan"),
            retention_cost / retained if retained > 0 else float("nan"),
            mean_satisfaction,
            net_promoter_score,
            tables["discovery"],
            tables["evaluating"][i],
            stages[PURCHASE],
            stages[EXPERIENCE],
            stages[BONDING],
            stages[ADVOCACY],
            tables["lapsed"][i],
            customers / total if total else 0.0,
            acquired_referral,
        )
    )


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
