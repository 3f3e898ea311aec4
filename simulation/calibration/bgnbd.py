"""The BG/NBD model of a non-contractual customer base: likelihood, forecasts, simulation.

While alive, a customer buys at a Poisson rate ``lambda``; after each repeat purchase they
drop out for good with probability ``p``. Across customers ``lambda ~ Gamma(r, alpha)``
(shape ``r``, rate ``alpha``) and ``p ~ Beta(a, b)`` [1]. Time is counted from each
customer's first purchase; ``x`` is the number of repeat purchases in ``(0, T]`` and ``t_x``
the time of the last of them.

Every function takes the parameters as a sequence ``(r, alpha, a, b)`` whose items are
numbers or arrays that broadcast against the data, so that a whole grid of parameter values
can be evaluated in one call (as numerical derivatives need).

Formulas (equation numbers of [1]):

* likelihood of ``(x, t_x, T)``: equation (6);
* expected repeat purchases of a new customer by ``t``, ``E[X(t)]``: equation (9),
  ``(a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))]``;
* probability of being alive at ``T``: equation (A.1)/[2];
* expected purchases in ``(T, T+t]`` given the history: equation (10).

The Gaussian hypergeometric functions are evaluated after Euler's transformation
``2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z)`` [3], which turns
``(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` into ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``:
the same number, without the overflow of the untransformed series for customers with many
purchases.

References:
    1. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    2. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) using the
       BG/NBD model. http://brucehardie.com/notes/021/
    3. Abramowitz, M. & Stegun, I. A. (1964). Handbook of Mathematical Functions, 15.3.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, gammaln, hyp2f1

NAME = "bgnbd"
LABEL = "BG/NBD"
PARAMETERS: tuple[str, ...] = ("r", "alpha", "a", "b")


def log_likelihood(
    params: Sequence[ArrayLike], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Log-likelihood of each customer's history ``(x, t_x, T)``.

    Args:
        params: ``(r, alpha, a, b)``.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase (0 if none).
        T: time from the first purchase to the end of calibration.

    Returns:
        The log-likelihood, broadcast over parameters and data.
    """
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    still_alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    xs = np.maximum(x, 1.0)  # the drop-out term exists for x > 0 only
    dropped = betaln(a + 1, b + xs - 1) - betaln(a, b) - (r + xs) * np.log(alpha + t_x)
    dropped = np.where(x > 0, dropped, -np.inf)
    return common + np.logaddexp(still_alive, dropped)


def expected_transactions(params: Sequence[ArrayLike], t: ArrayLike) -> np.ndarray:
    """``E[X(t)]``: expected repeat purchases of a new customer in ``(0, t]``.

    Args:
        params: ``(r, alpha, a, b)``.
        t: time since the first purchase (0 or more).

    Returns:
        The expectation, broadcast over parameters and ``t``.
    """
    return conditional_expected_transactions(params, t, 0.0, 0.0, 0.0)


def probability_alive(
    params: Sequence[ArrayLike], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability that a customer with history ``(x, t_x, T)`` has not dropped out by ``T``.

    Args:
        params: ``(r, alpha, a, b)``.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase.
        T: time from the first purchase to the end of calibration.

    Returns:
        P(alive), 1 for customers without repeat purchases.
    """
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    xs = np.maximum(x, 1.0)
    log_odds_dead = (
        np.log(a) - np.log(b + xs - 1) + (r + xs) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def conditional_expected_transactions(
    params: Sequence[ArrayLike], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected repeat purchases in ``(T, T+t]`` of a customer with history ``(x, t_x, T)``.

    Args:
        params: ``(r, alpha, a, b)``.
        t: length of the forecast period.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase.
        T: time from the first purchase to the end of calibration.

    Returns:
        The expectation, broadcast over parameters and data.
    """
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in params)
    t, x, t_x, T = (np.asarray(v, dtype=float) for v in (t, x, t_x, T))
    z = t / (alpha + T + t)
    # (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) after Euler's transformation (module docstring).
    tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    forecast = (a + b + x - 1) / (a - 1) * (1 - tail)
    return forecast * probability_alive((r, alpha, a, b), x, t_x, T)


def simulate(
    params: Sequence[float],
    T: ArrayLike,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw customers and their repeat purchases from the BG/NBD model.

    Each customer is observed from their first purchase (time 0) to their own ``T``.

    Args:
        params: ``(r, alpha, a, b)``.
        T: the observation length of each customer (its length is the number of customers).
        rng: the random generator (the only source of randomness).

    Returns:
        ``(customers, purchases)``: ``customers`` has one row per customer with the drawn
        ``purchase_rate`` and ``dropout_probability`` and the time of dropping out
        (``death``; infinite if not within ``T``); ``purchases`` has one row per repeat
        purchase, columns ``customer`` (row number in ``customers``) and ``time``, sorted.
    """
    r, alpha, a, b = (float(v) for v in params)
    horizon = np.asarray(T, dtype=float).ravel()
    n = len(horizon)
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    # After the j-th repeat purchase the customer drops out with probability p: the number of
    # repeat purchases made before dropping out is geometric on 1, 2, ...
    last = rng.geometric(p)
    count = rng.poisson(rate * horizon)
    owner = np.repeat(np.arange(n), count)
    times = rng.uniform(0.0, 1.0, size=owner.size) * horizon[owner]
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count) + 1
    death = np.full(n, np.inf)
    died = rank == last[owner]
    death[owner[died]] = times[died]
    keep = rank <= last[owner]
    customers = pd.DataFrame({"purchase_rate": rate, "dropout_probability": p, "death": death})
    purchases = pd.DataFrame({"customer": owner[keep], "time": times[keep]})
    return customers, purchases
