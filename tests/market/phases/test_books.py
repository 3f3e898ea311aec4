"""The books: accounts that add up, and lifecycle counts that cover everyone."""

import math

import numpy as np
import pytest

from simulation.market.agents import BOOK_FIELDS
from simulation.market.model import RelationshipMarket
from simulation.market.population import STAGE
from simulation.runs.runner import release


def test_each_firms_accounts_add_up(small_scenario):
    model = RelationshipMarket(small_scenario, policy="retention_focused", rng=2)
    for _ in range(6):
        model.step()
        for firm in model.firm_agents:
            b = firm.books
            assert b.acquired == (
                b.acquired_advertising
                + b.acquired_referral
                + b.acquired_win_back
                + b.acquired_from_rival
            )
            assert b.churned == b.churned_to_rival + b.churned_out_of_market
            assert b.customers == b.customers_start + b.acquired - b.churned
            assert b.marketing_cost == pytest.approx(b.acquisition_cost + b.retention_cost)
            assert b.profit == pytest.approx(b.revenue - b.cost_total)
            stages = b.stage_purchase + b.stage_experience + b.stage_bonding + b.stage_advocacy
            assert stages == b.customers
    assert math.isclose(sum(f.books.market_share for f in model.firm_agents), 1.0)
    release(model)


def test_the_books_have_no_field_but_the_reported_ones():
    assert "extras" not in BOOK_FIELDS
    assert BOOK_FIELDS[:2] == ("customers_start", "customers")


def books_in_python(market: RelationshipMarket, firm: int, cumulative: float) -> dict:
    """One firm's accounts for the period in plain Python, from the period's tables."""
    t, sales, lever = market.tally, market.sales, market.lever_cost
    by_stage, satisfaction, promoters, detractors, lapsed, evaluating = market.lifecycle
    counts = [int(row.sum()) for row in by_stage]
    total = sum(counts[: market.n_firms])
    customers, start = counts[firm], int(market.customers_start[firm])
    whole = {name: int(t[name][firm]) for name in t if name.startswith(("acquired", "churned"))}
    acquired = sum(whole[name] for name in whole if name.startswith("acquired"))
    churned = whole["churned_to_rival"] + whole["churned_out_of_market"]
    churn_rate = churned / start if start else 0.0
    acquisition = (
        t["cost_advertising"][firm]
        + sales["discount"][firm]
        + t["cost_referral"][firm]
        + t["cost_win_back"][firm]
    )
    loyalty = lever["loyalty"][firm] + sales["reward_cost"][firm]
    retention = (
        lever["thank_you"][firm]
        + lever["complaint_handling"][firm]
        + loyalty
        + lever["personalisation"][firm]
        + lever["cross_sell"][firm]
    )
    cost_total = sales["product"][firm] + sales["service"][firm] + acquisition + retention
    profit = sales["revenue"][firm] - cost_total
    discount = (1 + market.discount_per_period) ** -(market.steps - 0.5)
    retained = start - churned
    net = float(promoters[firm] - detractors[firm])
    return {
        **whole,
        "customers_start": start,
        "customers": customers,
        "acquired": acquired,
        "churned": churned,
        "retention_rate": 1.0 - churn_rate,
        "churn_rate": churn_rate,
        "revenue": sales["revenue"][firm],
        "cost_product": sales["product"][firm],
        "cost_service": sales["service"][firm],
        "cost_advertising": t["cost_advertising"][firm],
        "cost_discount": sales["discount"][firm],
        "cost_referral": t["cost_referral"][firm],
        "cost_win_back": t["cost_win_back"][firm],
        "cost_thank_you": lever["thank_you"][firm],
        "cost_complaint_handling": lever["complaint_handling"][firm],
        "cost_loyalty": loyalty,
        "cost_personalisation": lever["personalisation"][firm],
        "cost_cross_sell": lever["cross_sell"][firm],
        "acquisition_cost": acquisition,
        "retention_cost": retention,
        "marketing_cost": acquisition + retention,
        "cost_total": cost_total,
        "profit": profit,
        "discounted_profit": profit * discount,
        "cumulative_discounted_profit": cumulative + profit * discount,
        "cost_per_acquired": acquisition / acquired if acquired else math.nan,
        "cost_per_retained": retention / retained if retained > 0 else math.nan,
        "mean_satisfaction": satisfaction[firm] / customers if customers else math.nan,
        "net_promoter_score": 100 * net / customers if customers else math.nan,
        "stage_discovery": int(by_stage[:, STAGE["discovery"]].sum()),
        "stage_evaluation": int(evaluating[firm]),
        "stage_purchase": int(by_stage[firm, STAGE["purchase"]]),
        "stage_experience": int(by_stage[firm, STAGE["experience"]]),
        "stage_bonding": int(by_stage[firm, STAGE["bonding"]]),
        "stage_advocacy": int(by_stage[firm, STAGE["advocacy"]]),
        "stage_lapsed": int(lapsed[firm]),
        "market_share": customers / total if total else 0.0,
        "referrals": whole["acquired_referral"],
    }


@pytest.mark.parametrize("policy", ["acquisition_heavy", "retention_focused"])
def test_compiled_accounts_are_the_arithmetic_in_python(small_scenario, policy):
    """Every field, exactly (the same operations in the same order), with its type."""
    model = RelationshipMarket(small_scenario, policy=policy, rng=4, customer_agents=False)
    for _ in range(8):
        before = {f.index: f.books.cumulative_discounted_profit for f in model.firm_agents}
        model.step()
        for firm in model.firm_agents:
            expected = books_in_python(model, firm.index, before[firm.index])
            got = firm.books._asdict()
            assert list(got) == list(BOOK_FIELDS)
            for name, value in got.items():
                whole = isinstance(expected[name], int | np.integer)
                assert type(value) is (int if whole else float), name  # Python's, as recorded
                assert value == expected[name] or (math.isnan(value) and math.isnan(expected[name]))
    release(model)
