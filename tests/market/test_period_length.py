"""Results do not depend on the period length: the same months give the same answers.

Every rate is per month and every budget money per month; the scenario's period length only
changes how finely time is cut. A market run with one period length and again with another
must give the same annual revenue, churn, acquisition and NPV within sampling error.

Tolerance: the two means differ by less than 4 standard errors of their difference, each
standard error from the spread of the runs themselves (independent seeds): a false alarm
below 1e-4 per outcome when the model is right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.textbook import reduced_market

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries, release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario

OUTCOMES = ("revenue", "churned", "acquired", "npv")


def yearly_outcomes(scenario, months: float, years: int, seed: int) -> dict[str, float]:
    """The focal firm's outcomes per year (NPV over the whole run) with periods of ``months``."""
    scenario = apply_overrides(
        scenario, {"market.period_months": months, "market.periods": round(12 * years / months)}
    )
    model = RelationshipMarket(scenario, rng=seed, customer_agents=False)
    model.run()
    table = firm_timeseries(model)
    release(model)
    focal = table[table["focal"]]
    return {
        "revenue": focal["revenue"].sum() / years,
        "churned": focal["churned"].sum() / years,
        "acquired": focal["acquired"].sum() / years,
        "npv": focal["discounted_profit"].sum(),
    }


def assert_same_results(scenario, lengths: tuple[float, float], years: int, runs: int) -> None:
    results = {
        months: {k: np.array(v) for k, v in _collect(scenario, months, years, runs).items()}
        for months in lengths
    }
    first, second = (results[m] for m in lengths)
    for name in OUTCOMES:
        a, b = first[name], second[name]
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) < 4 * se + 1e-9, (name, a.mean(), b.mean(), se)


def _collect(scenario, months: float, years: int, runs: int) -> dict[str, list[float]]:
    rows = [yearly_outcomes(scenario, months, years, seed) for seed in range(runs)]
    return {name: [row[name] for row in rows] for name in OUTCOMES}


@pytest.mark.slow
def test_default_market_is_the_same_with_half_month_periods():
    scenario = resize_market(load_scenario("acquisition_vs_retention"), 2000)
    assert_same_results(scenario, (1.0, 0.5), years=3, runs=12)


def test_stripped_market_is_the_same_with_yearly_periods():
    # Poisson purchases, a drop-out hazard and advertising: monthly against yearly periods.
    extra = {
        "customer": {"purchase": {"process": "poisson"}},
        "responses": {"advertising": {"ceiling": 0.05, "spend_scale": 5.0}},
    }
    churn = {"dist": "gamma", "mean": 0.03, "sd": 0.02}
    scenario = reduced_market(
        2000, 12, churn=churn, penetration=0.5, budget=5000, extra_market=extra
    )
    assert_same_results(scenario, (1.0, 12.0), years=4, runs=12)
