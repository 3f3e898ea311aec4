"""Round trip through relsim's own market: simulate with known laws, calibrate the log back.

Each seed runs a market of one firm in which 4,000 prospects are won by advertising (a
hazard of 0.5 a month, so each customer's first purchase comes at its own time) and then buy
and drop out by known customer-base laws alone (behavioural effects and word of mouth off),
in periods of a week for five years. The run's transaction log
(``run_scenario(transactions=...)``) is calibrated by month up to month 30, and each 95%
interval should contain its true parameter in 95% of the seeds.

Tolerance, as in ``test_calibration_roundtrip.py``: the seeds are independent, so for one
parameter the number of seeds whose interval misses is Binomial(10, 0.05) at nominal coverage,
and P(misses >= 4) = 0.0010; allowing at most 3 misses per parameter, a correct pipeline fails
with probability below 4 x 0.0010 per model (Bonferroni), while intervals covering only 60%
fail with probability 0.95 per parameter. What departs from the continuous-time model here is
the market's own discretisation: a customer won in a week buys for half of it on average,
and a week's transactions are dated uniformly within it, to the day.
"""

from __future__ import annotations

import math

import pytest

from simulation.calibration import calibrate_log
from simulation.calibration.scenario_out import beta_law
from simulation.runs.runner import run_scenario
from simulation.scenario.schema import Scenario

WEEK = 7 / 30.4375
SEEDS = range(10)
MAX_MISSES = 3
TRUE = {"bgnbd": (0.8, 12.0, 0.8, 2.5), "pareto_nbd": (0.8, 12.0, 0.6, 12.0)}  # per month
UNTIL = "2026-06-30"  # 30 months after the log's first date, 2024-01-01


def known_market(model: str, seed: int, customers: int = 4000, months: int = 60) -> Scenario:
    """A market of one firm whose customers follow ``model``'s laws with TRUE parameters."""
    r, alpha, third, fourth = TRUE[model]
    customer = {
        "units": {"dist": "constant", "value": 1.0},
        "initial_tenure": {"dist": "constant", "value": 0.0},
        "referral_tendency": {"dist": "constant", "value": 0.0},
        "purchase": {
            "process": "poisson",
            "transaction_rate": {"dist": "gamma", "shape": r, "rate": alpha},
        },
    }
    if model == "bgnbd":
        customer["dropout"] = {"law": "bgnbd", "probability": beta_law(third, fourth)}
        customer["base_churn_rate"] = {"dist": "constant", "value": 0.0}
    else:
        customer["dropout"] = {"law": "hazard"}
        customer["base_churn_rate"] = {"dist": "gamma", "shape": third, "rate": fourth}
    off = ("price_sensitivity", "cost_to_serve", "spend", "referrals", "expectations")
    market = {
        "customers": customers,
        "periods": round(months / WEEK),
        "period_months": WEEK,
        "initial_penetration": 0.0,
        "reference_price": 50.0,
        "customer": customer,
        "behaviour": {
            "churn_satisfaction_weight": 0.0,
            "churn_strength_weight": 0.0,
            "price_churn_weight": 0.0,
            "purchase_satisfaction_weight": 0.0,
            "price_demand_weight": 0.0,
            "reentry_rate": 0.0,
        },
        "tenure_effects": {name: {"enabled": False} for name in off},
        "responses": {
            "word_of_mouth": {"enabled": False},
            "loyalty": {"purchase_boost": 0.0},
            # A monthly acquisition hazard of 0.5 whatever the spend (as in the Bass test).
            "advertising": {"ceiling": -math.expm1(-0.5), "spend_scale": 1e-9, "conversion": 1.0},
        },
        "network": {"kind": "none"},
        "firms": [{"name": "Solo", "price": 50.0, "failure_rate": 0.0, "initial_share": 1.0}],
    }
    policy = {"budget": 1e9, "allocation": {"advertising": 1.0}}
    return Scenario.model_validate(
        {"name": "known", "market": market, "policies": {"ads": policy}, "seed": seed}
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bgnbd", "pareto_nbd"])
def test_market_log_calibrates_back_to_its_laws(model, tmp_path):
    misses = [0] * 4
    for seed in SEEDS:
        folder = tmp_path / f"{model}-{seed}"
        folder.mkdir()
        run_scenario(known_market(model, 1000 + seed), replications=1, transactions=folder)
        (log,) = folder.iterdir()
        fit = calibrate_log(log, until=UNTIL, unit="month", model=model).model
        assert fit.converged
        for i, (name, truth) in enumerate(zip(fit.parameters, TRUE[model], strict=True)):
            misses[i] += not fit.ci_low[name] <= truth <= fit.ci_high[name]
    assert max(misses) <= MAX_MISSES, dict(zip(fit.parameters, misses, strict=True))
