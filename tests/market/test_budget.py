"""A budget that also covers rewards and discounts: the levers get what is left."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries, release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario

BUDGET = 4000.0
PLAN = {
    "budget": BUDGET,
    "allocation": {"advertising": 0.5, "loyalty": 0.5},
    "first_purchase_discount": 0.2,
    "loyalty_programme": {"reward_threshold": 400, "reward_value": 10},
}


def focal_marketing(covers: list[str]) -> tuple[float, float]:
    """Total marketing cost of the focal firm, and what its last period's extras cost."""
    scenario = resize_market(load_scenario("acquisition_vs_retention"), 2000)
    plan = {**PLAN, "budget_covers": covers}
    scenario = apply_overrides(scenario, {"market.periods": 24, "policies.balanced": plan})
    model = RelationshipMarket(scenario, policy="balanced", rng=3, customer_agents=False)
    model.run()
    books = firm_timeseries(model)
    release(model)
    focal = books[books["focal"]]
    rewards = model.sales["reward_cost"][0] + (
        model.tally["acquired_referral"][0] * model.firm_table.referral_reward[0]
    )
    last = rewards * ("rewards" in covers) + model.sales["discount"][0] * ("discounts" in covers)
    return float(focal["marketing_cost"].sum()), float(last)


def test_a_covering_budget_spends_the_budget_in_all():
    # Levers get B - (last period's rewards and discounts), so over T periods the total is
    # T B plus the last period's extras, exactly (up to float rounding), as long as the
    # extras never exceed the budget (they are about a third of it here).
    total, last = focal_marketing(["rewards", "discounts"])
    assert total == pytest.approx(24 * BUDGET + last, rel=1e-9)
    # Without covering, rewards and discounts come on top of the budget.
    uncovered, _ = focal_marketing([])
    assert uncovered > total + 0.05 * 24 * BUDGET


def test_covering_only_discounts_leaves_rewards_on_top():
    discounts_only, _ = focal_marketing(["discounts"])
    both, _ = focal_marketing(["rewards", "discounts"])
    assert discounts_only > both
    assert np.isfinite(discounts_only)
