"""Smoke test: every bundled scenario and every notebook's model builds and steps.

Each market is shrunk to 200 customers and stepped three periods, with the invariants checked
after each, so that a change which breaks an example is caught in seconds (as Mesa's
``tests/test_examples.py`` does for its examples). The notebooks themselves run in
``test_notebooks.py``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from support.invariants import check_invariants

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import bundled_scenarios, load_scenario

CUSTOMERS = 200
PERIODS = 3

# The markets the notebooks build beyond the bundled scenarios as they are:
# (notebook, scenario, overrides, policy).
NOTEBOOK_MODELS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "01_leaky_bucket",
        "acquisition_vs_retention",
        {"market.customer.base_churn_rate": {"dist": "beta", "mean": 0.05, "sd": 0.04}},
        "acquisition_heavy",
    ),
    (
        "03_word_of_mouth_scale_free",
        "word_of_mouth",
        {"market.network.kind": "scale_free"},
        "referral_programme",
    ),
    (
        "03_word_of_mouth_bass_limit",
        "acquisition_vs_retention",
        {
            "market.firms": [{"name": "Focal", "initial_share": 1.0}],
            "market.initial_penetration": 0.0,
            "market.network.kind": "none",
            "market.customer.base_churn_rate": {"dist": "constant", "value": 0.0},
            "market.customer.referral_tendency": {"dist": "constant", "value": 1.0},
            "market.behaviour.promoter_threshold": 0.0,
            "market.behaviour.churn_satisfaction_weight": 0.0,
            "market.behaviour.churn_strength_weight": 0.0,
            "market.behaviour.reentry_rate": 0.0,
            "market.responses.advertising.ceiling": -math.expm1(-0.01),
            "market.responses.advertising.spend_scale": 1e-9,
            "market.responses.advertising.conversion": 1.0,
            "market.responses.word_of_mouth.rate": 0.3,
            "market.responses.word_of_mouth.conversion": 1.0,
            "policies": {"bass": {"budget": 1e9, "allocation": {"advertising": 1.0}}},
        },
        "bass",
    ),
    (
        "04_transactional_grid",
        "acquisition_vs_retention",
        {
            "market.customer.transactional_share": 0.9,
            "market.customer.price_sensitivity": {"dist": "lognormal", "mean": 4.0, "sd": 1.2},
        },
        "retention_focused",
    ),
    (
        "05_sensitivity_high_end",
        "acquisition_vs_retention",
        {
            "market.customer.transactional_share": 0.7,
            "market.responses.loyalty.switching_cost": 1.0,
            "market.customer.base_churn_rate": {"dist": "beta", "mean": 0.05, "sd": 0.04},
            "market.responses.word_of_mouth.rate": 1.5,
            "market.responses.advertising.ceiling": 0.5,
            "market.tenure_effects.price_sensitivity.size": 0.3,
        },
        "acquisition_heavy",
    ),
]


def bundled_cases() -> list[Any]:
    cases = []
    for path in bundled_scenarios():
        for policy in load_scenario(path).policies:
            cases.append(pytest.param(path.stem, {}, policy, id=f"{path.stem}-{policy}"))
    return cases


NOTEBOOK_CASES = [pytest.param(*case[1:], id=case[0]) for case in NOTEBOOK_MODELS]


@pytest.mark.parametrize(("scenario", "overrides", "policy"), bundled_cases() + NOTEBOOK_CASES)
def test_example_builds_and_steps(scenario, overrides, policy):
    small = resize_market(load_scenario(scenario, overrides), CUSTOMERS)
    model = RelationshipMarket(small, policy=policy, rng=1)
    try:
        for _ in range(PERIODS):
            model.step()
            check_invariants(model)
    finally:
        release(model)
