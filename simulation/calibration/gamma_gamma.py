"""The Gamma-Gamma model of spend per transaction: likelihood, forecasts, simulation.

The amount of each of a customer's transactions is ``Gamma(p, nu)`` (shape ``p``, rate
``nu``), so a customer's mean transaction value is ``p / nu``; across customers
``nu ~ Gamma(q, v)`` (shape ``q``, rate ``v``), independently of the purchase process
[1, 2]. The data of a customer are the number ``x`` of transactions averaged over and their
mean amount ``m``; by the usual convention [2] these are the repeat transactions of the
calibration period, so customers without repeat purchases carry no spend information.

Every function takes the parameters as a sequence ``(p, q, v)`` whose items are numbers or
arrays that broadcast against the data.

Formulas ([2], equations (1) and (2); [3]):

* density of the mean amount ``m`` of ``x`` transactions::

    f(m | x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * v^q m^(p x - 1) x^(p x)
               / (v + m x)^(p x + q)

* population mean transaction value ``p v / (q - 1)`` (for ``q > 1``);
* conditional expected mean transaction value ``p (v + x m) / (p x + q - 1)``, a weighted
  mean of the population mean and the customer's own mean.

References:
    1. Colombo, R. & Jiang, W. (1999). A stochastic RFM model. Journal of Interactive
       Marketing 13(3), 2-12.
    2. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.
    3. Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
       http://brucehardie.com/notes/025/
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import gammaln

NAME = "gamma_gamma"
LABEL = "Gamma-Gamma"
PARAMETERS: tuple[str, ...] = ("p", "q", "v")


def log_likelihood(params: Sequence[ArrayLike], x: ArrayLike, mean_spend: ArrayLike) -> np.ndarray:
    """Log-density of each customer's mean transaction value, given their number ``x >= 1``.

    Args:
        params: ``(p, q, v)``.
        x: the number of transactions averaged over (1 or more).
        mean_spend: their mean amount (positive).

    Returns:
        The log-likelihood, broadcast over parameters and data.
    """
    p, q, v = (np.asarray(a, dtype=float) for a in params)
    x, m = np.asarray(x, dtype=float), np.asarray(mean_spend, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + m * x)
    )


def expected_spend(params: Sequence[ArrayLike]) -> np.ndarray:
    """Population mean transaction value ``p v / (q - 1)`` (infinite when ``q <= 1``).

    Args:
        params: ``(p, q, v)``.

    Returns:
        The mean, broadcast.
    """
    p, q, v = (np.asarray(a, dtype=float) for a in params)
    return np.where(q > 1, p * v / np.where(q > 1, q - 1, 1.0), np.inf)


def conditional_expected_spend(
    params: Sequence[ArrayLike], x: ArrayLike, mean_spend: ArrayLike
) -> np.ndarray:
    """Expected mean transaction value of a customer with ``x`` transactions of mean ``m``.

    Args:
        params: ``(p, q, v)``.
        x: the number of transactions (0 gives the population mean).
        mean_spend: their mean amount (ignored, and may be missing, where ``x`` is 0).

    Returns:
        ``p (v + x m) / (p x + q - 1)``, broadcast.
    """
    p, q, v = (np.asarray(a, dtype=float) for a in params)
    x, m = np.asarray(x, dtype=float), np.asarray(mean_spend, dtype=float)
    m = np.where(x > 0, m, 0.0)
    return p * (v + x * m) / (p * x + q - 1)


def simulate(
    params: Sequence[float], counts: ArrayLike, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw customers' spending rates and the amounts of their transactions.

    Args:
        params: ``(p, q, v)``.
        counts: the number of transactions of each customer (its length is the number of
            customers).
        rng: the random generator (the only source of randomness).

    Returns:
        ``(customers, transactions)``: ``customers`` has the drawn rate ``nu`` and the
        customer's true mean transaction value ``p / nu`` (columns ``nu`` and ``mean_value``);
        ``transactions`` has one row per transaction, columns ``customer`` (row number) and
        ``amount``, in customer order.
    """
    p, q, v = (float(a) for a in params)
    counts = np.asarray(counts, dtype=int).ravel()
    nu = rng.gamma(q, 1.0 / v, size=len(counts))
    owner = np.repeat(np.arange(len(counts)), counts)
    amounts = rng.gamma(p, 1.0, size=owner.size) / nu[owner]
    customers = pd.DataFrame({"nu": nu, "mean_value": p / nu})
    return customers, pd.DataFrame({"customer": owner, "amount": amounts})
