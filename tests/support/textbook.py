"""Scenarios that reduce the market to textbook cases (shared by tests and notebooks)."""

from __future__ import annotations

import math

from simulation.scenario.loading import deep_merge
from simulation.scenario.schema import Scenario


def reduced_market(
    customers: int,
    periods: int,
    *,
    churn: dict | None = None,
    penetration: float = 1.0,
    budget: float = 0.0,
    period_months: float = 1.0,
    extra_market: dict | None = None,
    policy: dict | None = None,
) -> Scenario:
    """One firm, no behavioural effects: every customer's churn rate is its baseline rate.

    Satisfaction, trust, price and loyalty do not move churn; tenure effects are off; failures
    never happen; each customer buys one unit every period; word of mouth is off.
    """
    market = {
        "customers": customers,
        "periods": periods,
        "period_months": period_months,
        "initial_penetration": penetration,
        "customer": {
            "units": {"dist": "constant", "value": 1.0},
            "base_churn_rate": churn or {"dist": "constant", "value": 0.0},
            "purchase": {"process": "bernoulli", "probability": 1.0},
        },
        "behaviour": {
            "churn_satisfaction_weight": 0.0,
            "churn_strength_weight": 0.0,
            "price_churn_weight": 0.0,
            "purchase_satisfaction_weight": 0.0,
            "price_demand_weight": 0.0,
            "reentry_rate": 0.0,
        },
        "tenure_effects": {
            name: {"enabled": False}
            for name in ("price_sensitivity", "cost_to_serve", "spend", "referrals", "expectations")
        },
        "responses": {"word_of_mouth": {"enabled": False}},
        "firms": [
            {
                "name": "Solo",
                "price": 50.0,
                "unit_cost": 20.0,
                "cost_to_serve": 0.0,
                "failure_rate": 0.0,
                "initial_share": 1.0,
            }
        ],
    }
    market = deep_merge(market, extra_market or {})
    plan = {"budget": budget, "allocation": {"advertising": 1.0}, **(policy or {})}
    return Scenario.model_validate(
        {"name": "textbook", "market": market, "policies": {"only": plan}, "replications": 1}
    )


def constant_rate(probability: float) -> dict:
    """The monthly rate whose per-period churn probability is ``probability``."""
    return {"dist": "constant", "value": -math.log1p(-probability)}


def bass_market(customers: int, periods: int, p: float, q: float, period_months: float = 1.0):
    """A fully mixed market with advertising at rate ``p`` and word of mouth at rate ``q``
    (both per month), conversion 1 and no churn: the Bass (1969) model."""
    return reduced_market(
        customers,
        periods,
        penetration=0.0,
        budget=1e9,
        period_months=period_months,
        extra_market={
            "reference_price": 50.0,
            "network": {"kind": "none"},
            "customer": {"referral_tendency": {"dist": "constant", "value": 1.0}},
            "behaviour": {"promoter_threshold": 0.0},
            "responses": {
                # ceiling x (1 - exp(-spend/scale)) -> ceiling: a monthly probability of 1-e^-p.
                "advertising": {"ceiling": -math.expm1(-p), "spend_scale": 1e-9, "conversion": 1},
                "word_of_mouth": {"enabled": True, "rate": q, "conversion": 1.0},
            },
        },
    )


def bass_curve(t, p: float, q: float):
    """Cumulative adoption of the Bass model: (1 - e^-(p+q)t) / (1 + (q/p) e^-(p+q)t)."""
    import numpy as np

    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1 - e) / (1 + (q / p) * e)
