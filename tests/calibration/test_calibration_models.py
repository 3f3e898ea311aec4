"""The closed forms of the BG/NBD, Pareto/NBD and Gamma-Gamma models against independent checks.

Numerical identities (quadrature, the untransformed hypergeometric form) are checked to
1e-9 relative, well above double-precision rounding after a few dozen operations. The
simulation checks draw 20,000 customers with the CDNOW parameters and compare sample means
with the closed forms within 4 standard errors of the sample mean (SE = sample standard
deviation / sqrt(n)): for one comparison a correct formula fails with probability 6e-5, for
all the comparisons of this file together below 0.002.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gammaln, hyp2f1

from simulation.calibration import bgnbd, gamma_gamma, pareto_nbd

BG = (0.243, 4.414, 0.793, 2.426)
PNBD = (0.553, 10.578, 0.606, 11.669)
GG = (6.25, 3.74, 15.44)
N_CUSTOMERS = 20_000
Z = 4.0
HISTORIES = [
    (0, 0.0, 38.86),
    (1, 0.14, 30.0),
    (2, 30.43, 38.86),
    (3, 38.86, 38.86),
    (10, 38.0, 38.86),
    (50, 30.0, 78.0),
]


def pareto_log_likelihood_by_quadrature(params, x, t_x, T):
    """Equation (18) of Fader & Hardie's note, with A0 as the integral it stands for."""
    r, alpha, s, beta = params
    integral = quad(
        lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), t_x, T, epsrel=1e-13
    )[0]
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return head + np.log(alive + s * integral)


@pytest.mark.parametrize(
    "params",
    [PNBD, (0.553, 12.0, 0.606, 3.0), (2.0, 1.0, 0.5, 50.0), (0.3, 4.0, 3.0, 4.0)],
    ids=["cdnow", "alpha>beta", "alpha<<beta", "alpha=beta"],
)
def test_pareto_likelihood_equals_its_integral_form(params):
    for x, t_x, T in HISTORIES:
        expected = pareto_log_likelihood_by_quadrature(params, x, t_x, T)
        assert pareto_nbd.log_likelihood(params, x, t_x, T) == pytest.approx(expected, rel=1e-9)


def test_bgnbd_forecasts_equal_the_untransformed_formulas():
    r, alpha, a, b = BG
    for t in (0.5, 10.0, 39.0, 78.0, 500.0):
        # The domain brief's E[X(t)], with the hypergeometric function as published.
        published = (
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )
        assert bgnbd.expected_transactions(BG, t) == pytest.approx(published, rel=1e-9)
    for x, t_x, T in HISTORIES[1:5]:
        t = 39.0
        z = t / (alpha + T + t)
        forecast = (
            (a + b + x - 1)
            / (a - 1)
            * (
                1
                - ((alpha + T) / (alpha + T + t)) ** (r + x)
                * hyp2f1(r + x, b + x, a + b + x - 1, z)
            )
        )
        alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
        result = bgnbd.conditional_expected_transactions(BG, t, x, t_x, T)
        assert result == pytest.approx(forecast * alive, rel=1e-9)


def test_pareto_expectation_at_s_equal_one_is_the_limit():
    near = pareto_nbd.expected_transactions((0.5, 10.0, 1.0 + 1e-7, 12.0), 39.0)
    at = pareto_nbd.expected_transactions((0.5, 10.0, 1.0, 12.0), 39.0)
    assert at == pytest.approx(0.5 * 12.0 / 10.0 * np.log1p(39.0 / 12.0), rel=1e-12)
    assert near == pytest.approx(at, rel=1e-6)


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd], ids=["bgnbd", "pareto_nbd"])
def test_forecasts_are_zero_at_zero_and_alive_is_a_probability(module):
    params = BG if module is bgnbd else PNBD
    assert module.expected_transactions(params, 0.0) == pytest.approx(0.0, abs=1e-15)
    for x, t_x, T in HISTORIES:
        assert module.conditional_expected_transactions(params, 0.0, x, t_x, T) == pytest.approx(
            0.0, abs=1e-15
        )
        assert 0 < module.probability_alive(params, x, t_x, T) <= 1
    # A customer whose last purchase was long ago is less likely alive than a recent one.
    assert module.probability_alive(params, 3, 5.0, 38.0) < module.probability_alive(
        params, 3, 37.0, 38.0
    )


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd], ids=["bgnbd", "pareto_nbd"])
def test_simulated_mean_repeat_purchases_follow_the_closed_form(module):
    params = BG if module is bgnbd else PNBD
    rng = np.random.default_rng(20240612)
    _, purchases = module.simulate(params, np.full(N_CUSTOMERS, 78.0), rng)
    owner, times = purchases["customer"].to_numpy(), purchases["time"].to_numpy()
    for t in (1.0, 5.0, 13.0, 39.0, 78.0):
        counts = np.bincount(owner[times <= t], minlength=N_CUSTOMERS)
        se = counts.std(ddof=1) / np.sqrt(N_CUSTOMERS)
        expected = float(module.expected_transactions(params, t))
        assert abs(counts.mean() - expected) < Z * se, (t, counts.mean(), expected, se)


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd], ids=["bgnbd", "pareto_nbd"])
def test_simulated_holdout_and_alive_follow_the_conditional_forms(module):
    params = BG if module is bgnbd else PNBD
    rng = np.random.default_rng(7)
    T = rng.integers(0, 84, size=N_CUSTOMERS)
    T = (272 - T) / 7  # calibration lengths as in CDNOW (first purchases in 12 weeks)
    customers, purchases = module.simulate(params, T + 39.0, rng)
    owner, times = purchases["customer"].to_numpy(), purchases["time"].to_numpy()
    calibration = times <= T[owner]
    x = np.bincount(owner[calibration], minlength=N_CUSTOMERS)
    t_x = np.zeros(N_CUSTOMERS)
    np.maximum.at(t_x, owner[calibration], times[calibration])
    holdout = np.bincount(owner[~calibration], minlength=N_CUSTOMERS)
    expected = module.conditional_expected_transactions(params, 39.0, x, t_x, T)
    for group in (x == 0, x == 1, x >= 2):
        gap = holdout[group] - expected[group]
        se = gap.std(ddof=1) / np.sqrt(group.sum())
        assert abs(gap.mean()) < Z * se, (gap.mean(), se)
    alive = (customers["death"].to_numpy() > T).astype(float)
    gap = alive - module.probability_alive(params, x, t_x, T)
    assert abs(gap.mean()) < Z * gap.std(ddof=1) / np.sqrt(N_CUSTOMERS)


def test_bgnbd_simulation_drops_out_only_after_a_repeat_purchase():
    rng = np.random.default_rng(3)
    customers, purchases = bgnbd.simulate(BG, np.full(5000, 78.0), rng)
    died = np.isfinite(customers["death"].to_numpy())
    last = purchases.groupby("customer")["time"].max()
    # A customer who dropped out did so at their last purchase.
    assert np.allclose(customers["death"].to_numpy()[died], last.reindex(np.flatnonzero(died)))


def test_gamma_gamma_simulation_follows_the_closed_forms():
    rng = np.random.default_rng(11)
    counts = rng.integers(1, 8, size=N_CUSTOMERS)
    customers, transactions = gamma_gamma.simulate(GG, counts, rng)
    amounts = transactions["amount"].to_numpy()
    mean_spend = np.bincount(transactions["customer"], weights=amounts) / counts
    # The true mean value p / nu has mean p v / (q - 1) (finite variance needs q > 2).
    true_mean = customers["mean_value"].to_numpy()
    se = true_mean.std(ddof=1) / np.sqrt(N_CUSTOMERS)
    assert abs(true_mean.mean() - gamma_gamma.expected_spend(GG)) < Z * se
    # The conditional expectation is the posterior mean of p / nu: unbiased given (x, m).
    gap = true_mean - gamma_gamma.conditional_expected_spend(GG, counts, mean_spend)
    assert abs(gap.mean()) < Z * gap.std(ddof=1) / np.sqrt(N_CUSTOMERS)
    # And the density of the mean of x amounts integrates to 1.
    for x in (1, 4):
        total = quad(lambda m, x=x: np.exp(gamma_gamma.log_likelihood(GG, x, m)), 0, np.inf)[0]
        assert total == pytest.approx(1.0, rel=1e-7)
