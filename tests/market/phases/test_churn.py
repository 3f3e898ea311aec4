"""Churn: who leaves (against a grid of uniforms), and where leavers go when prices move.

The uniforms are fed as an evenly spaced grid ``(k + 0.5) / N`` instead of random draws, so each
share the rules produce must equal its probability to within 1/N: there is no sampling error.
"""

import numpy as np
import pandas as pd
import pytest

from simulation.market.model import RelationshipMarket
from simulation.market.phases.churn import first_decision, leaves
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides

N = 20_000  # grid points: shares are exact to 1/N
GRID = ((np.arange(N) + 0.5) / N).astype(np.float32)
TOL = 2 / N


def test_leavers_are_the_customers_below_their_churn_probability():
    model = RelationshipMarket(rng=1, customers=N, customer_agents=False)
    customers = model.customers()
    probability = np.where(customers.firm < model.n_firms, 0.1, 0.0)
    step = model.steps + 1
    rows = zip(GRID, probability, customers.acquired_at, strict=True)
    left = np.array([leaves(u, p, t, step) for u, p, t in rows])
    expected = (probability > GRID) & (customers.acquired_at < step)
    np.testing.assert_array_equal(left, expected)
    assert left.sum() > 0


def test_last_periods_newcomers_decide_over_one_and_a_half_periods():
    # They were at no risk for half of the period they joined in, on average.
    assert first_decision(0.1, 4, 1, 5) == pytest.approx(1 - 0.9**1.5)
    assert first_decision(0.1, 3, 1, 5) == 0.1  # earlier newcomers: one period
    assert first_decision(0.1, 4, 0, 5) == 0.1  # the firms' customers at the start
    assert not leaves(0.0, 1.0, 5, 5)  # this period's newcomers stay


def test_rival_price_cut_drives_customers_to_rivals(small_scenario, focal_books):
    scenario = resize_market(small_scenario, 2000)
    cut = apply_overrides(scenario, {"market.firms.1.price": 35.0, "market.firms.2.price": 35.0})

    def rate_to_rivals(books: pd.DataFrame) -> float:
        return books["churned_to_rival"].sum() / books["customers_start"].sum()

    seeds = range(1, 6)
    base = rate_to_rivals(pd.concat([focal_books(scenario, seed) for seed in seeds]))
    war = rate_to_rivals(pd.concat([focal_books(cut, seed) for seed in seeds]))
    # Cheapest rival 48 -> 35 multiplies the churn rate by (48/35)^s: 1.65x on average over 20
    # seeds (tenure lowers s). Five seeds pool about 1,500 switchers without the price cut and
    # 2,500 with it, so the ratio's standard error is about 0.055: 1.4x lies 4.5 se below.
    assert war > 1.4 * base
