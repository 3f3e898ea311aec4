"""The idiomatic Mesa implementation in bench/ is the same model as the engine.

``bench/bench_vs_mesa.py`` compares the engine's speed with ``bench/reference_mesa.py`` (one
Mesa agent per customer). The comparison is only honest if both implement the same rules, so
here both run the same scenario on the same seeds and must agree, within sampling error, on
the focal firm's churn rate, mean satisfaction and profit per customer: their means across
seeds and their spreads.

A seed gives both implementations the same initial customers and network (both draw them
with the engine's functions from the seeded generator); after that their random draws differ.
The runs are therefore paired, and the means are compared through the per-seed differences,
which removes the part of the spread that comes from the initial market.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries, release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from reference_mesa import ReferenceMarket  # noqa: E402

CUSTOMERS, PERIODS, SEEDS = 500, 36, 30
STATISTICS = ("churn_rate", "mean_satisfaction", "profit_per_customer")

# Means: the mean per-seed difference (engine - reference) over SEEDS pairs, against its
# standard error sd(differences) / sqrt(SEEDS). Allowing 4 standard errors, each comparison
# fails by chance with probability 4e-4 (t with 29 d.f.), the six below together 0.25%, while
# leaving service failures out of the reference moves profit per customer by about 4
# standard errors (measured when this test was written).
MEAN_TOLERANCE_SE = 4.0
# Spreads: with 30 runs each, the ratio of two sample standard deviations of one distribution
# leaves [1/2, 2] with probability 4e-4 (F distribution, 29 and 29 d.f.).
SPREAD_RATIO = 2.0


# The core rules the reference implements: at most one purchase a period, with no effect of
# satisfaction, programmes or price on how much customers buy.
CORE_RULES = {
    "market.customer.purchase.process": "bernoulli",
    "market.behaviour.purchase_satisfaction_weight": 0.0,
    "market.behaviour.price_demand_weight": 0.0,
    "market.responses.loyalty.purchase_boost": 0.0,
    "market.responses.personalisation.purchase_boost": 0.0,
}


@pytest.fixture(scope="module")
def scenario():
    base = resize_market(load_scenario("acquisition_vs_retention"), CUSTOMERS)
    return apply_overrides(base, {"market.periods": PERIODS, **CORE_RULES})


def focal_statistics(books: pd.DataFrame) -> dict[str, float]:
    """Churn rate, mean satisfaction and profit per customer-period of the focal firm."""
    return {
        "churn_rate": books["churned"].sum() / books["customers_start"].sum(),
        "mean_satisfaction": books["mean_satisfaction"].mean(),
        "profit_per_customer": books["profit"].sum() / books["customers"].sum(),
    }


def engine_run(scenario, policy: str, seed: int) -> dict[str, float]:
    model = RelationshipMarket(scenario, policy=policy, rng=seed, customer_agents=False)
    model.run()
    books = firm_timeseries(model)
    release(model)
    return focal_statistics(books[books["focal"]])


def reference_run(scenario, policy: str, seed: int) -> dict[str, float]:
    model = ReferenceMarket(scenario, policy=policy, rng=seed)
    model.run()
    books = model.books()
    release(model)
    return focal_statistics(books[books["firm"] == 0])


@pytest.mark.slow  # about 7 s per policy, most of it in the one-agent-per-customer model
@pytest.mark.parametrize("policy", ["retention_focused", "acquisition_heavy"])
def test_reference_gives_the_engines_statistics(scenario, policy):
    engine = pd.DataFrame([engine_run(scenario, policy, seed) for seed in range(SEEDS)])
    reference = pd.DataFrame([reference_run(scenario, policy, seed) for seed in range(SEEDS)])
    for name in STATISTICS:
        a, b = engine[name], reference[name]
        difference = a - b
        se = difference.std() / np.sqrt(SEEDS)
        assert abs(difference.mean()) <= MEAN_TOLERANCE_SE * se, (name, a.mean(), b.mean(), se)
        assert 1 / SPREAD_RATIO <= a.std() / b.std() <= SPREAD_RATIO, (name, a.std(), b.std())


def test_reference_customers_are_mesa_agents_stepped_by_shuffle_do(scenario):
    model = ReferenceMarket(scenario, rng=3)
    agents = list(model.customers)
    assert len(agents) == CUSTOMERS
    assert all(isinstance(a.unique_id, int) for a in agents)
    model.step()
    assert model.steps == 1
    active = sum(a.firm is not None for a in agents)
    books = model.books()
    assert books["customers"].sum() == active
    release(model)
