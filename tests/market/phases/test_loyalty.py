"""Loyalty points: earned, redeemed and lost; a programme lowers churn."""

import numpy as np

from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides


def test_loyalty_programme_lowers_churn(small_scenario, focal_books):
    scenario = resize_market(small_scenario, 2000)
    with_programme = {"advertising": 0.5, "loyalty": 0.5}
    without = {"advertising": 0.5, "complaint_handling": 0.5}
    rates = {}
    for label, allocation in (("with", with_programme), ("without", without)):
        s = apply_overrides(scenario, {"policies.balanced.allocation": allocation})
        rates[label] = np.mean(
            [focal_books(s, seed, "balanced")["churn_rate"].mean() for seed in range(3)]
        )
    assert rates["with"] < rates["without"]


def test_members_earn_points_and_a_full_card_is_a_reward():
    from simulation.market.phases.loyalty import earn_points, progress_to_reward, rewards_due

    assert earn_points(100.0, 50.0, 2.0, True) == 200.0
    assert earn_points(100.0, 50.0, 2.0, False) == 100.0  # non-members earn nothing
    assert rewards_due(1250.0, 600.0, True) == 2.0
    assert rewards_due(1250.0, 600.0, False) == 0.0  # no programme, no rewards
    assert progress_to_reward(300.0, 600.0) == 0.5
    assert progress_to_reward(900.0, 600.0) == 1.0


def test_a_reward_delights_in_proportion_to_its_worth(small_scenario):
    from simulation.market.parameters import service_rules
    from simulation.market.phases.loyalty import reward_delight

    rules = service_rules(small_scenario.market)
    worth = rules.loyalty_reward_satisfaction * 25.0 / rules.reference_price
    assert reward_delight(1.0, 25.0, rules, 1.0) == worth
    assert reward_delight(1.0, 25.0, rules, 0.15) == worth * 0.15
    assert reward_delight(0.0, 25.0, rules, 1.0) == 0.0


def test_points_are_lost_when_a_relationship_ends(small_scenario):
    from simulation.market.model import RelationshipMarket

    model = RelationshipMarket(small_scenario, policy="retention_focused", rng=4)
    pop = model.population
    for _ in range(12):
        before = pop.points.copy(), pop.firm.copy()
        model.step()
        lapsed = (before[1] < model.n_firms) & (pop.firm == model.n_firms)
        assert (pop.points[lapsed] == 0).all()
    assert pop.points.max() > 0
