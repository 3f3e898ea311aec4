"""The engine reduced to textbook cases must give the textbook answers (domain brief)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import hyp1f1
from support.textbook import bass_curve, bass_market, constant_rate, reduced_market

from simulation.market.model import RelationshipMarket
from simulation.market.response import expected_lifetime_value
from simulation.runs.runner import firm_timeseries, release


def run(scenario, seed: int):
    model = RelationshipMarket(scenario, rng=seed, customer_agents=False)
    model.run()
    table = firm_timeseries(model)
    release(model)
    return model, table


@pytest.mark.parametrize("months", [1.0, 0.5])
def test_constant_churn_gives_geometric_lifetimes(months):
    # p is the churn probability per month; periods of half a month give the same months.
    p, n, horizon = 0.05, 20_000, 200
    periods = round(horizon / months)
    scenario = reduced_market(n, periods, churn=constant_rate(p), period_months=months)
    _, ts = run(scenario, seed=11)
    per_month = round(1 / months)
    survival = np.r_[n, ts["customers"].to_numpy()][::per_month] / n
    # Share still active after t months is (1-p)^t. A binomial share has sd <= 0.5/sqrt(n)
    # = 0.0035; 4 sd keeps the false-alarm rate below 1e-4 per point.
    t = np.arange(horizon + 1)
    np.testing.assert_allclose(survival[:60], (1 - p) ** t[:60], atol=4 * 0.5 / math.sqrt(n))
    # Mean lifetime in whole months sum_t S(t) = 1/p (the tail beyond 200 months is 3.5e-5).
    # Lifetimes are geometric with sd sqrt(1-p)/p = 19.5, so the mean's se is 0.14.
    se = math.sqrt(1 - p) / p / math.sqrt(n)
    assert abs(survival[:-1].sum() - 1 / p) < 4 * se


@pytest.mark.parametrize("months", [1.0, 0.5])
def test_discounted_lifetime_value_matches_formula(months):
    # One unit a month, bought as a period's one transaction of ``months`` units.
    p_month, n, horizon = 0.05, 20_000, round(240 / months)
    units = {"customer": {"units": {"dist": "constant", "value": months}}}
    scenario = reduced_market(
        n, horizon, churn=constant_rate(p_month), period_months=months, extra_market=units
    )
    model, ts = run(scenario, seed=12)
    p = 1 - (1 - p_month) ** months  # churn per period
    d, r, margin = model.discount_per_period, 1 - p, (50.0 - 20.0) * months
    formula = margin * r / (1 + d - r)  # value counted from the next period
    delta = 1 / (1 + d)
    # Per customer V = m * delta * (1 - delta^K) / (1 - delta) with K ~ geometric survivals;
    # its variance follows from E[delta^K] and E[delta^2K] (both closed form).
    e1 = (1 - r) / (1 - r * delta)
    e2 = (1 - r) / (1 - r * delta**2)
    sd = margin * delta / (1 - delta) * math.sqrt(e2 - e1**2)
    # The books discount a period's profit from the middle of the period (so that NPV does not
    # depend on the period length): half a period less discounting than the formula's.
    per_customer = ts["discounted_profit"].sum() / n / math.sqrt(1 + d)
    truncation = formula * (r * delta) ** horizon  # value beyond the horizon, 1e-6 here
    assert abs(per_customer - (formula - truncation)) < 4 * sd / math.sqrt(n)
    # Each customer's expected value in the model is the same formula.
    values = model.expected_values()[model.population.firm == 0]
    np.testing.assert_allclose(values, formula, rtol=1e-5)
    assert expected_lifetime_value(np.array([margin]), np.array([p]), d)[0] == pytest.approx(
        formula
    )


def test_heterogeneous_churn_raises_cohort_retention_by_selection():
    # Baseline rates ~ Beta(a, b) as monthly rates; survival is E[exp(-r t)] = 1F1(a; a+b; -t).
    mean, sd, n = 0.05, 0.04, 20_000
    common = mean * (1 - mean) / sd**2 - 1
    a, b = mean * common, (1 - mean) * common
    churn = {"dist": "beta", "mean": mean, "sd": sd}
    _, ts = run(reduced_market(n, 48, churn=churn), seed=13)
    survival = np.r_[n, ts["customers"].to_numpy()] / n
    t = np.arange(49)
    np.testing.assert_allclose(survival, hyp1f1(a, a + b, -t), atol=4 * 0.5 / math.sqrt(n))
    retention = survival[1:] / survival[:-1]
    # Nobody's own rate changes, yet the cohort keeps more of its members each period.
    assert retention[36:].mean() > retention[:6].mean() + 0.01


def test_bass_curve_is_the_fully_mixed_limit():
    # Sultan, Farley & Lehmann (1990): p = 0.03 and q = 0.38 per year, here per month.
    p, q, n = 0.03 / 12, 0.38 / 12, 20_000
    months = np.arange(1, 241)
    seeds = range(14, 20)
    curves = np.array(
        [run(bass_market(n, 240, p, q), seed=seed)[1]["customers"].to_numpy() / n for seed in seeds]
    )
    error = np.abs(curves.mean(axis=0) - bass_curve(months, p, q)).max()
    # Monthly steps use last period's adopters, a lag of at most one period: the curve's
    # steepest slope is (p+q)^2/(4q) = 0.0095 per month. A single run's curve is shifted in
    # time by the luck of its first adopters (self-exciting diffusion: up to 0.02 here, far
    # more than binomial noise), so the mean of six runs is compared, with three standard
    # errors of that mean estimated from the runs' own spread.
    spread = curves.std(axis=0, ddof=1).max() / math.sqrt(len(seeds))
    assert error < 0.0095 + 3 * spread
    _, monthly = run(bass_market(n, 240, p, q), seed=14)
    error = np.abs(monthly["customers"].to_numpy() / n - bass_curve(months, p, q)).max()
    # With yearly steps the discrete model is visibly off (domain brief).
    _, yearly = run(bass_market(n, 20, p, q, period_months=12), seed=14)
    years = np.arange(1, 21) * 12
    yearly_error = np.abs(yearly["customers"].to_numpy() / n - bass_curve(years, p, q)).max()
    assert yearly_error > 3 * error
