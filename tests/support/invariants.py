"""Invariants that must hold after every period of any market, shared by several suites."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from simulation.market.agents import BOOK_FIELDS
from simulation.market.model import RelationshipMarket
from simulation.market.population import STAGE
from simulation.runs.runner import firm_timeseries, release, summarise_run

# Fields that are NaN by design when their divisor is zero (docs/outputs.md); the per-customer
# means are NaN exactly when the firm has no customers.
PER_CUSTOMER_MEANS = {"mean_satisfaction", "net_promoter_score"}
DOCUMENTED_NAN = {
    "cost_per_acquired",
    "cost_per_retained",
    "cost_per_acquired_by_marketing",
    *PER_CUSTOMER_MEANS,
}
ACQUISITION_PARTS = ("cost_advertising", "cost_discount", "cost_referral", "cost_win_back")
RETENTION_PARTS = (
    "cost_thank_you",
    "cost_complaint_handling",
    "cost_loyalty",
    "cost_personalisation",
    "cost_cross_sell",
)
WITH_FIRM = [STAGE[s] for s in ("purchase", "experience", "bonding", "advocacy")]
WITHOUT_FIRM = [STAGE[s] for s in ("discovery", "evaluation", "lapsed")]


def check_invariants(model: RelationshipMarket) -> None:
    """What must hold after every period."""
    pop, n_firms = model.population, model.n_firms
    assert pop.firm.min() >= 0 and pop.firm.max() <= n_firms  # at most one firm each
    for name in ("satisfaction", "strength", "expectation"):
        values = getattr(pop, name)
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1, name
    counts = np.bincount(pop.firm, minlength=n_firms + 1)
    for firm in model.firm_agents:
        b = firm.books
        assert b.customers == counts[firm.index]
        assert b.customers_start + b.acquired - b.churned == b.customers
        assert b.profit == pytest.approx(b.revenue - b.cost_total, rel=1e-9, abs=1e-6)
        stages = b.stage_purchase + b.stage_experience + b.stage_bonding + b.stage_advocacy
        assert stages == b.customers
        for key, value in b._asdict().items():
            if isinstance(value, float) and key not in DOCUMENTED_NAN:
                assert np.isfinite(value), key
    # Everyone is somewhere: with a firm, a prospect, or lapsed.
    assert counts.sum() == pop.size


def close(a: float, b: float) -> bool:
    """Equal up to float rounding of sums of money."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def check_period(model: RelationshipMarket, cumulative: dict[int, float]) -> None:
    """Assert everything that must hold after a period; ``cumulative`` carries NPV sums.

    Args:
        model: a market that has just stepped.
        cumulative: discounted profit so far per firm index (updated in place).
    """
    pop, n = model.population, model.n_firms
    # Each customer has at most one firm: a single code in 0..n, where n means none.
    for codes in (pop.firm, pop.last_firm, pop.considering):
        assert codes.min() >= 0 and codes.max() <= n
    for name in ("satisfaction", "strength", "expectation", "churn_probability"):
        values = getattr(pop, name)
        assert np.isfinite(values).all(), f"{name} is not finite"
        assert values.min() >= 0 and values.max() <= 1, f"{name} outside [0, 1]"
    assert np.isfinite(pop.margin).all() and np.isfinite(pop.monetary).all()
    assert np.isfinite(pop.points).all() and (pop.points >= 0).all()
    active = pop.firm < n
    assert np.isin(pop.stage[active], WITH_FIRM).all(), "a customer of a firm in a prospect stage"
    assert np.isin(pop.stage[~active], WITHOUT_FIRM).all(), "a non-customer in a customer stage"
    assert (pop.acquired_at[active] <= model.steps).all()

    counts = np.bincount(pop.firm, minlength=n + 1)
    total = int(counts[:n].sum())
    evaluating = lapsed = 0
    shares = 0.0
    for firm in model.firm_agents:
        b, i = firm.books, firm.index
        assert b.customers == counts[i]
        assert b.customers_start + b.acquired - b.churned == b.customers
        assert (
            b.acquired
            == (b.acquired_advertising + b.acquired_referral + b.acquired_win_back)
            + b.acquired_from_rival
        )
        assert b.churned == b.churned_to_rival + b.churned_out_of_market
        assert 0 <= b.churned <= b.customers_start
        assert 0 <= b.churn_rate <= 1 and close(b.retention_rate, 1 - b.churn_rate)
        assert b.revenue >= 0
        for key in ("cost_product", "cost_service", *ACQUISITION_PARTS, *RETENTION_PARTS):
            assert getattr(b, key) >= 0, key
        assert close(b.acquisition_cost, sum(getattr(b, k) for k in ACQUISITION_PARTS))
        assert close(b.retention_cost, sum(getattr(b, k) for k in RETENTION_PARTS))
        assert close(b.cost_total, b.cost_product + b.cost_service + b.marketing_cost)
        assert close(b.profit, b.revenue - b.cost_total)
        cumulative[i] = cumulative.get(i, 0.0) + b.discounted_profit
        assert close(b.cumulative_discounted_profit, cumulative[i])
        stages = b.stage_purchase + b.stage_experience + b.stage_bonding + b.stage_advocacy
        assert stages == b.customers, "lifecycle stages do not add up to the customers"
        for key in BOOK_FIELDS:
            value = getattr(b, key)
            if isinstance(value, float) and key not in DOCUMENTED_NAN:
                assert np.isfinite(value), f"{firm.name}.{key} = {value}"
        # A documented NaN only where its divisor is zero.
        assert math.isnan(b.cost_per_acquired) == (b.acquired == 0)
        assert math.isnan(b.cost_per_retained) == (b.customers_start - b.churned <= 0)
        for key in PER_CUSTOMER_MEANS & set(BOOK_FIELDS):
            assert math.isnan(getattr(b, key)) == (b.customers == 0), key
        shares += b.market_share
        evaluating += b.stage_evaluation
        lapsed += b.stage_lapsed
    assert close(shares, 1.0 if total else 0.0)
    discovery = model.focal.books.stage_discovery
    # Everyone is somewhere: a prospect, a customer of one firm, or lapsed from one.
    assert discovery + evaluating + total + lapsed == pop.size


def run_checked(
    model: RelationshipMarket, after_step: Callable[[RelationshipMarket], None] | None = None
) -> None:
    """Step ``model`` to its horizon, checking the invariants after every period.

    Args:
        model: a freshly made market.
        after_step: called after each period's checks (to record what a test looks at).
    """
    cumulative: dict[int, float] = {}
    try:
        while model.running:
            model.step()
            check_period(model, cumulative)
            if after_step is not None:
                after_step(model)
        assert model.steps == model.horizon
        table = firm_timeseries(model)
        assert len(table) == model.horizon * model.n_firms
        values = model.expected_values()[model.population.firm == 0]
        summary = summarise_run(table[table["focal"]], values, model.dt / 12)
        for key, value in summary.items():
            if key in DOCUMENTED_NAN:
                continue
            if key in ("clv_mean", "customer_equity") and model.discount_per_period == 0:
                # Undiscounted value of a customer who never leaves is unbounded.
                assert not math.isnan(value), key
                continue
            assert np.isfinite(value), f"summary {key} = {value}"
    finally:
        release(model)
