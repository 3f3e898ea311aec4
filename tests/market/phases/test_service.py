"""Service: purchases, relationship actions, contacts and value-based targeting.

The uniforms are fed as an evenly spaced grid ``(k + 0.5) / N`` instead of random draws, so each
share the rules produce must equal its probability to within 1/N: there is no sampling error.
"""

import numpy as np
import pytest
from support.textbook import constant_rate, reduced_market

from simulation.market.model import RelationshipMarket
from simulation.market.phases.purchase import count_transactions
from simulation.market.phases.service import (
    LOYALTY,
    N_SERVED_LEVERS,
    PERSONALISATION,
    Draws,
    contact_effect,
    serve_customers,
    value_segments,
)
from simulation.runs.runner import release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides

N = 20_000  # grid points: shares are exact to 1/N
GRID = ((np.arange(N) + 0.5) / N).astype(np.float32)
TOL = 2 / N


@pytest.fixture
def one_period_of_service():
    """A market whose service phase runs once on a grid of uniforms for every lever."""

    def run(reach_share: float, purchase_probability: float = 0.9, **rule_changes):
        model = RelationshipMarket(rng=2, customers=N, customer_agents=False)
        pop = model.population
        pop.firm[:] = 0  # everyone is a customer of the focal firm, acquired long ago
        pop.acquired_at[:] = -12
        pop.relational_weight[:] = 1.0  # relational customers respond in full
        customers = model.customers()
        terms = model.firm_terms._replace(failure_probability=np.array([0.2, 0.2, 0.2, 0.0]))
        rules = model.service_rules._replace(**rule_changes)
        # The earlier rule: at most one purchase a period, with a fixed probability.
        buying = model.purchase_rules._replace(
            poisson=0.0, purchase_probability=purchase_probability
        )
        u_buy = GRID.copy()  # replaced by the thank-you's fresh uniform for buyers
        draws = Draws(u_buy, GRID, GRID, GRID, GRID, np.zeros(N, dtype=np.float32))
        reach = np.full((N_SERVED_LEVERS, model.n_firms + 1), reach_share)
        everyone, nobody = np.ones(N, dtype=bool), np.zeros(N, dtype=bool)
        before = pop.purchases.copy()
        expected = np.zeros(N, dtype=np.float32)
        ones = np.ones(N, dtype=np.float32)
        count_transactions(
            customers,
            everyone,
            u_buy,
            GRID,
            GRID,
            GRID,
            reach[LOYALTY],
            reach[PERSONALISATION],
            ones,
            terms,
            buying,
            1,
            expected,
            0,
            N,
        )
        serve_customers(
            customers,
            everyone,
            nobody,
            draws,
            reach,
            terms,
            rules,
            1,
            np.ones(40),
            expected,
            ones[:0],
            0,
            N,
        )
        return model, pop.purchases - before

    return run


def test_purchases_follow_the_purchase_probability(one_period_of_service):
    _, bought = one_period_of_service(0.0, purchase_probability=0.6)
    assert bought.mean() == pytest.approx(0.6, abs=TOL)


def test_a_buyers_thank_you_uses_a_fresh_uniform(one_period_of_service):
    # The thank-you reaches 30% of buyers: given a purchase (u < 0.6), u / 0.6 is uniform,
    # so the thanked are the first 30% of the buyers, 18% of everyone, and no non-buyer.
    rules = {"purchase_probability": 0.6, "thank_you_strength": 1.0, "strength_gain": 0.0}
    rules |= {"personalisation_strength": 0.0, "strength_loss": 0.0}
    model, bought = one_period_of_service(0.3, **rules)
    strength = model.population.strength
    gained = strength > 0.99  # a thank-you with strength weight 1 makes trust complete
    assert gained.mean() == pytest.approx(0.6 * 0.3, abs=TOL)
    assert not (gained & (bought == 0)).any()


def test_complaint_handling_recovers_failures(focal_books):
    base = reduced_market(
        3000,
        12,
        churn=constant_rate(0.0),
        budget=30000,  # enough to handle ~80% of the ~780 failures a month
        extra_market={"firms": [{"name": "Solo", "failure_rate": 0.3, "cost_to_serve": 0.0}]},
    )
    handled = apply_overrides(base, {"policies.only.allocation": {"complaint_handling": 1.0}})
    sat_without = focal_books(base, 1)["mean_satisfaction"].iloc[-1]
    sat_with = focal_books(handled, 1)["mean_satisfaction"].iloc[-1]
    assert sat_with > sat_without + 0.02


def test_transactional_customers_respond_less_to_relationship_actions(small_scenario, focal_books):
    scenario = resize_market(small_scenario, 2000)
    gains = {}
    for share in (0.0, 1.0):
        s = apply_overrides(scenario, {"market.customer.transactional_share": share})
        low = apply_overrides(s, {"policies.retention_focused.budget": 0.0})
        hi = focal_books(s, 2, "retention_focused")["churn_rate"].mean()
        lo = focal_books(low, 2, "retention_focused")["churn_rate"].mean()
        gains[share] = lo - hi
    assert gains[0.0] > 2 * gains[1.0]


def test_spend_grows_with_tenure_only_when_switched_on(focal_books):
    base = reduced_market(2000, 36, churn=constant_rate(0.0))
    grows = apply_overrides(base, {"market.tenure_effects.spend": {"enabled": True, "size": 0.2}})
    flat = focal_books(base, 1)["revenue"].to_numpy()
    rising = focal_books(grows, 1)["revenue"].to_numpy()
    np.testing.assert_allclose(flat, flat[0])  # every customer buys one unit at 50
    # Initial tenures are 1-36 months: after 3 more years revenue is up by ~20% x 3 years.
    assert rising[-1] / rising[0] == pytest.approx(1 + 0.2 * 3 * 1 / (1 + 0.2 * 18.5 / 12), rel=0.1)


def test_contacts_beyond_tolerance_lower_satisfaction():
    contacts = [0.0, 1.0, 2.0, 3.0, 5.0]
    effect = np.array([contact_effect(n, 0.0, 2.0, 1.0, 0.02, 0.03) for n in contacts])
    assert np.argmax(effect) == 2  # the ideal number of contacts (the tolerance)
    assert effect[4] < 0  # far too many contacts irritate
    unwanted = np.array([contact_effect(n, n, 2.0, 1.0, 0.02, 0.03) for n in contacts])
    assert (unwanted[1:] < effect[1:]).all()


def test_value_based_targeting_spends_retention_on_the_best_customers(small_scenario, focal_books):
    scenario = apply_overrides(
        resize_market(small_scenario, 2000),
        {
            "policies.retention_focused.targeting": {
                "by": "clv",
                "top_share": 0.5,
                "serve_cut_share": 0.2,
                "serve_cut": 0.5,
            }
        },
    )
    model = RelationshipMarket(scenario, policy="retention_focused", rng=3, customer_agents=False)
    for _ in range(3):
        model.step()
    active = model.population.firm < model.n_firms
    targeted, low_value = value_segments(model, active)
    mine = model.population.firm == 0
    values = model.expected_values()
    assert targeted[mine].mean() == pytest.approx(0.5, abs=0.02)
    assert low_value[mine].mean() == pytest.approx(0.2, abs=0.02)
    assert values[mine & targeted].min() >= values[mine & ~targeted].max()
    assert not targeted[model.population.firm == 1].sum() < (model.population.firm == 1).sum()
    # Cutting the cheapest fifth's service halves their cost to serve: service costs fall.
    plain = apply_overrides(scenario, {"policies.retention_focused.targeting.serve_cut": 0.0})
    cut = focal_books(scenario, 3, "retention_focused")["cost_service"].sum()
    full = focal_books(plain, 3, "retention_focused")["cost_service"].sum()
    assert cut < 0.97 * full
    release(model)
