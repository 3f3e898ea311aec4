"""Customers reduced to the customer-base models must buy and drop out as those models say.

Each market here is one firm's fresh cohort (every customer's first purchase at time 0), with
marketing and every behavioural effect switched off, so that the purchase and drop-out laws act
alone. The simulated mean repeat transactions are compared with the closed forms, written out
here from the papers (not taken from the package), at two period lengths.

Tolerances: 4 standard errors of the simulated mean, the standard error estimated from the
simulated customers themselves (n = 20,000): a false alarm below 1e-4 per comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln, hyp2f1
from support.textbook import reduced_market

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import release

# CDNOW, calibrated on 39 weeks (Fader, Hardie & Lee 2005; Schmittlein et al.'s model as fitted
# by Fader & Hardie): per week.
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_NBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
WEEK = 7 / 30.4375  # months
N = 20_000


def bgnbd_expected(t: np.ndarray, r: float, alpha: float, a: float, b: float) -> np.ndarray:
    """E[X(t)] of the BG/NBD (Fader, Hardie & Lee 2005, eq. 9), t in weeks."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def pareto_nbd_expected(t: np.ndarray, r: float, alpha: float, s: float, beta: float):
    """E[X(t)] of the Pareto/NBD (Schmittlein, Morrison & Colombo 1987), t in weeks."""
    return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))


def beta_from_shapes(a: float, b: float) -> dict:
    """A scenario's beta law (mean and sd) with shapes ``a`` and ``b``."""
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return {"dist": "beta", "mean": mean, "sd": sd}


def weekly_gamma(shape: float, rate_per_week: float) -> dict:
    """A gamma law of a weekly rate, as the scenario's monthly rate: the rate scales by weeks."""
    return {"dist": "gamma", "shape": shape, "rate": rate_per_week * WEEK}


def cohort_market(months: float, periods: int, customer: dict, churn: dict | None = None):
    """One firm's fresh cohort: all bought at time 0; nothing but the laws acts on them."""
    purchase = {"process": "poisson", **customer.pop("purchase", {})}
    extra = {
        "customer": {
            "initial_tenure": {"dist": "constant", "value": 0.0},
            "purchase": purchase,
            **customer,
        },
        "behaviour": {"purchase_satisfaction_weight": 0.0, "price_demand_weight": 0.0},
        "responses": {"loyalty": {"purchase_boost": 0.0}},
    }
    return reduced_market(N, periods, churn=churn, period_months=months, extra_market=extra)


def repeat_transactions(scenario, seed: int) -> np.ndarray:
    """Each customer's cumulative repeat transactions after every period: (periods, N)."""
    model = RelationshipMarket(scenario, rng=seed, customer_agents=False)
    counts = np.zeros(N)
    history = []
    while model.running:
        model.step()
        counts += model.population.transactions
        history.append(counts.copy())
    release(model)
    return np.array(history)


def assert_means_match(history: np.ndarray, periods: list[int], expected: np.ndarray) -> None:
    """Mean cumulative counts at ``periods`` within 4 standard errors of ``expected``."""
    for period, value in zip(periods, expected, strict=True):
        counts = history[period - 1]
        se = counts.std(ddof=1) / math.sqrt(counts.size)
        assert abs(counts.mean() - value) < 4 * se, (period, counts.mean(), value, se)


@pytest.mark.parametrize(("months", "weeks_per_period"), [(WEEK, 1.0), (1.0, 1 / WEEK)])
def test_bgnbd_repeat_transactions_follow_the_closed_form(months, weeks_per_period):
    p = BGNBD
    customer = {
        "purchase": {"transaction_rate": weekly_gamma(p["r"], p["alpha"])},
        "dropout": {"law": "bgnbd", "probability": beta_from_shapes(p["a"], p["b"])},
    }
    horizon_weeks = 78
    periods = math.ceil(horizon_weeks / weeks_per_period)
    history = repeat_transactions(cohort_market(months, periods, customer), seed=31)
    checks = [round(periods * share) for share in (0.2, 0.5, 1.0)]
    weeks = np.array(checks) * weeks_per_period
    assert_means_match(history, checks, bgnbd_expected(weeks, **p))


@pytest.mark.parametrize(("months", "weeks_per_period"), [(WEEK, 1.0), (1.0, 1 / WEEK)])
def test_pareto_nbd_repeat_transactions_follow_the_closed_form(months, weeks_per_period):
    p = PARETO_NBD
    customer = {
        "purchase": {"transaction_rate": weekly_gamma(p["r"], p["alpha"])},
        "dropout": {"law": "hazard"},
    }
    horizon_weeks = 78
    periods = math.ceil(horizon_weeks / weeks_per_period)
    churn = weekly_gamma(p["s"], p["beta"])
    history = repeat_transactions(cohort_market(months, periods, customer, churn), seed=32)
    checks = [round(periods * share) for share in (0.2, 0.5, 1.0)]
    weeks = np.array(checks) * weeks_per_period
    assert_means_match(history, checks, pareto_nbd_expected(weeks, **p))


@pytest.mark.parametrize("months", [1.0, 0.5])
def test_shifted_beta_geometric_survival(months):
    # Per-month drop-out probability theta ~ Beta(a, b): S(t) = B(a, b + t) / B(a, b) at
    # whole months t, whatever the period length (Fader & Hardie 2007).
    a, b, horizon = 0.7, 3.5, 24
    customer = {"dropout": {"law": "sbg", "probability": beta_from_shapes(a, b)}}
    model = RelationshipMarket(
        cohort_market(months, round(horizon / months), customer), rng=33, customer_agents=False
    )
    active = []
    while model.running:
        model.step()
        active.append(int((model.population.firm == 0).sum()))
    release(model)
    per_month = round(1 / months)
    survival = np.array(active)[per_month - 1 :: per_month] / N
    t = np.arange(1, horizon + 1)
    expected = np.exp(betaln(a, b + t) - betaln(a, b))
    # Binomial shares: sd <= 0.5 / sqrt(N) = 0.0035; 4 sd per point.
    np.testing.assert_allclose(survival, expected, atol=4 * 0.5 / math.sqrt(N))


def test_gamma_gamma_mean_spend():
    # Each transaction's units ~ Gamma(p, nu), nu ~ Gamma(q, gamma): the mean over customers of
    # their mean spend is p * gamma / (q - 1) (Fader, Hardie & Lee 2005b; CDNOW values).
    p, q, gamma = 6.25, 3.74, 15.44
    customer = {
        "purchase": {
            "transaction_rate": {"dist": "constant", "value": 2.0},
            "spend": {"p": p, "q": q, "gamma": gamma},
        }
    }
    model = RelationshipMarket(cohort_market(1.0, 12, customer), rng=34, customer_agents=False)
    units, count = np.zeros(N), np.zeros(N)
    price = model.firm_table.price[0]
    while model.running:
        model.step()
        units += model.population.spent / price
        count += model.population.transactions
    release(model)
    buyers = count > 0
    mean_spend = units[buyers] / count[buyers]
    se = mean_spend.std(ddof=1) / math.sqrt(buyers.sum())
    assert abs(mean_spend.mean() - p * gamma / (q - 1)) < 4 * se
    # Within a customer, transactions vary around its own mean p / nu: the mean spend of
    # customers with many transactions is close to it (relative sd 1 / sqrt(p k)).
    many = count >= 20
    own = model.population.units[many]
    assert np.median(np.abs(mean_spend[count[buyers] >= 20] / own - 1)) < 2 / math.sqrt(p * 20)
