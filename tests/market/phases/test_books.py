"""The books: accounts that add up, and lifecycle counts that cover everyone."""

import math

import pytest

from simulation.market.agents import BOOK_FIELDS
from simulation.market.model import RelationshipMarket
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
