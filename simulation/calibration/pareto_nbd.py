"""The Pareto/NBD model of a non-contractual customer base: likelihood, forecasts, simulation.

While alive, a customer buys at a Poisson rate ``lambda``; their lifetime is exponential with
rate ``mu``. Across customers ``lambda ~ Gamma(r, alpha)`` and ``mu ~ Gamma(s, beta)``
(shape, rate), independently [1]. Time is counted from each customer's first purchase; ``x``
is the number of repeat purchases in ``(0, T]`` and ``t_x`` the time of the last of them.

Every function takes the parameters as a sequence ``(r, alpha, s, beta)`` whose items are
numbers or arrays that broadcast against the data.

The likelihood is the one of [2], equations (18)-(20)::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        * [ 1 / ((alpha+T)^(r+x) (beta+T)^s) + s/(r+s+x) * A0 ]

where ``s/(r+s+x) * A0 = s * integral from t_x to T of (alpha+y)^-(r+x) (beta+y)^-(s+1) dy``,
the probability of dying at ``y`` after the last purchase. With ``m = max(alpha, beta)``,
``n = r+s+x`` and ``c = s+1`` if ``alpha >= beta``, else ``c = r+x``::

    A0 = F(t_x) - F(T),   F(y) = 2F1(n, c; n+1; |alpha-beta| / (m+y)) / (m+y)^n.

The two branches keep the argument of ``2F1`` in ``[0, 1)``. ``F`` is evaluated in logs and
after Euler's transformation ``2F1(n, c; n+1; z) = (1-z)^(1-c) 2F1(1, n+1-c; n+1; z)`` [3],
whose series has positive terms and grows far more slowly than the original's when ``c`` is
large (a customer with many purchases), so it neither cancels nor overflows; the difference
``F(t_x) - F(T)`` is taken as ``F(t_x) (1 - exp(log F(T) - log F(t_x)))``. Where ``t_x`` is
close to ``T`` this difference loses relative precision, but there it is negligible beside the
first term of ``L``.

``E[X(t)]`` for a new customer is equation (27) of [2],
``r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]``, P(alive) equation (37) and the
conditional expectation equation (41); the limit ``s -> 1`` is taken where needed.

References:
    1. Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers:
       who are they and what will they do next? Management Science 33(1), 1-24.
    2. Fader, P. S. & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and
       related expressions. http://brucehardie.com/notes/009/
    3. Abramowitz, M. & Stegun, I. A. (1964). Handbook of Mathematical Functions, 15.3.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit, gammaln, hyp2f1

NAME = "pareto_nbd"
LABEL = "Pareto/NBD"
PARAMETERS: tuple[str, ...] = ("r", "alpha", "s", "beta")


def _arrays(params, *data):
    values = tuple(np.asarray(v, dtype=float) for v in params)
    return values + tuple(np.asarray(v, dtype=float) for v in data)


def _log_a0(r, alpha, s, beta, x, t_x, T):
    """``log A0`` of the module docstring (``-inf`` when ``t_x == T``)."""
    n = r + s + x
    alpha_larger = alpha >= beta
    m = np.maximum(alpha, beta)
    gap = np.abs(alpha - beta)
    c = np.where(alpha_larger, s + 1, r + x)

    def log_f(y):
        z = gap / (m + y)
        return np.log(hyp2f1(1.0, n + 1 - c, n + 1, z)) + (1 - c) * np.log1p(-z) - n * np.log(m + y)

    upper, lower = log_f(t_x), log_f(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = -np.expm1(np.minimum(lower - upper, 0.0))
        return upper + np.log(ratio)


def _log_alive_term(r, alpha, s, beta, x, T):
    """Log of ``1 / ((alpha+T)^(r+x) (beta+T)^s)``, the likelihood of still being alive."""
    return -(r + x) * np.log(alpha + T) - s * np.log(beta + T)


def log_likelihood(
    params: Sequence[ArrayLike], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Log-likelihood of each customer's history ``(x, t_x, T)``.

    Args:
        params: ``(r, alpha, s, beta)``.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase (0 if none).
        T: time from the first purchase to the end of calibration.

    Returns:
        The log-likelihood, broadcast over parameters and data.
    """
    r, alpha, s, beta, x, t_x, T = _arrays(params, x, t_x, T)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    dead = np.log(s) - np.log(r + s + x) + _log_a0(r, alpha, s, beta, x, t_x, T)
    return head + np.logaddexp(_log_alive_term(r, alpha, s, beta, x, T), dead)


def _power_difference(e, log_ratio):
    """``(1 - exp(-e * log_ratio)) / e``, with its limit ``log_ratio`` at ``e = 0``."""
    safe = np.where(np.abs(e) < 1e-10, 1.0, e)
    return np.where(np.abs(e) < 1e-10, log_ratio, -np.expm1(-safe * log_ratio) / safe)


def expected_transactions(params: Sequence[ArrayLike], t: ArrayLike) -> np.ndarray:
    """``E[X(t)]``: expected repeat purchases of a new customer in ``(0, t]``.

    Args:
        params: ``(r, alpha, s, beta)``.
        t: time since the first purchase (0 or more).

    Returns:
        ``r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]``, broadcast.
    """
    r, alpha, s, beta, t = _arrays(params, t)
    return r * beta / alpha * _power_difference(s - 1, np.log1p(t / beta))


def probability_alive(
    params: Sequence[ArrayLike], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability that a customer with history ``(x, t_x, T)`` is still alive at ``T``.

    Args:
        params: ``(r, alpha, s, beta)``.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase.
        T: time from the first purchase to the end of calibration.

    Returns:
        P(alive), broadcast.
    """
    r, alpha, s, beta, x, t_x, T = _arrays(params, x, t_x, T)
    log_dead_over_alive = (
        np.log(s)
        - np.log(r + s + x)
        + _log_a0(r, alpha, s, beta, x, t_x, T)
        - _log_alive_term(r, alpha, s, beta, x, T)
    )
    return expit(-log_dead_over_alive)


def conditional_expected_transactions(
    params: Sequence[ArrayLike], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected repeat purchases in ``(T, T+t]`` of a customer with history ``(x, t_x, T)``.

    Args:
        params: ``(r, alpha, s, beta)``.
        t: length of the forecast period.
        x: repeat purchases in ``(0, T]``.
        t_x: time of the last repeat purchase.
        T: time from the first purchase to the end of calibration.

    Returns:
        ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``.
    """
    r, alpha, s, beta, t, x, t_x, T = _arrays(params, t, x, t_x, T)
    rate = (r + x) * (beta + T) / (alpha + T)
    forecast = rate * _power_difference(s - 1, np.log1p(t / (beta + T)))
    return forecast * probability_alive((r, alpha, s, beta), x, t_x, T)


def simulate(
    params: Sequence[float],
    T: ArrayLike,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw customers and their repeat purchases from the Pareto/NBD model.

    Each customer is observed from their first purchase (time 0) to their own ``T``.

    Args:
        params: ``(r, alpha, s, beta)``.
        T: the observation length of each customer (its length is the number of customers).
        rng: the random generator (the only source of randomness).

    Returns:
        ``(customers, purchases)``: ``customers`` has one row per customer with the drawn
        ``purchase_rate``, ``dropout_rate`` and time of death (``death``, which may lie
        beyond ``T``); ``purchases`` has one row per repeat purchase, columns ``customer``
        (row number in ``customers``) and ``time``, sorted.
    """
    r, alpha, s, beta = (float(v) for v in params)
    horizon = np.asarray(T, dtype=float).ravel()
    n = len(horizon)
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    death = rng.exponential(1.0, size=n) / mu
    active = np.minimum(death, horizon)
    count = rng.poisson(rate * active)
    owner = np.repeat(np.arange(n), count)
    times = rng.uniform(0.0, 1.0, size=owner.size) * active[owner]
    order = np.lexsort((times, owner))
    customers = pd.DataFrame({"purchase_rate": rate, "dropout_rate": mu, "death": death})
    purchases = pd.DataFrame({"customer": owner[order], "time": times[order]})
    return customers, purchases
