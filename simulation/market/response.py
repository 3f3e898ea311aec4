"""Response functions shared by the dynamics: no state, no randomness.

The numpy functions take arrays (one entry per customer or per firm) and return arrays; each
has a compiled scalar twin (``coverage_of``, ``reach_of``, ``advertising_hazard``)
that the compiled period (:mod:`simulation.market.period`) calls for one firm or customer.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# A price of zero is allowed; ratios are floored so that powers stay finite.
MIN_PRICE_RATIO = 1e-3


def per_period(rate: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Probability of at least one event in a period of ``dt`` months at a monthly ``rate``."""
    return -np.expm1(-np.asarray(rate) * dt)


def coverage(spend: np.ndarray, unit_cost: float, eligible: np.ndarray) -> np.ndarray:
    """Share of eligible customers a lever reaches: ``1 - exp(-spend / (unit_cost * eligible))``.

    Spending exactly enough to treat everyone once reaches 63% of them: returns diminish,
    as in Blattberg & Deighton's response curves.
    """
    spend = np.asarray(spend, dtype=float)
    eligible = np.asarray(eligible, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = -np.expm1(-spend / (unit_cost * eligible))
    return np.where(eligible > 0, share, 0.0)


# How a lever's budget turns into reach over a period of ``dt`` months (see ``period_reach``).
LEVER_KINDS = {
    "thank_you": "event",
    "complaint_handling": "event",
    "personalisation": "contact",
    "cross_sell": "contact",
    "win_back": "contact",
    "loyalty": "standing",
    "referral_programme": "standing",
}


def period_reach(
    kind: str, spend: np.ndarray, unit_cost: float, eligible: np.ndarray, dt: float
) -> np.ndarray:
    """Share of the eligible a lever reaches in a period of ``dt`` months, from its spend.

    Diminishing returns act on a month's budget, so that a lever buys the same per month
    whatever the period length:

    - ``event`` levers answer events of the period (a purchase, a failure): the period's spend
      over the period's events, ``coverage(spend, unit_cost, eligible)``;
    - ``contact`` levers reach a stock of customers (offers, personalised service): a month
      reaches ``R = coverage(monthly spend, unit_cost, eligible)``, so a period reaches
      ``R x dt`` of them (at most all);
    - ``standing`` levers cover a stock for as long as they are paid (programme membership,
      informed promoters): the share ``R`` is covered throughout the period.
    """
    spend = np.asarray(spend, dtype=float)
    if kind == "event":
        return coverage(spend, unit_cost, eligible)
    monthly = coverage(spend / dt, unit_cost, eligible)
    if kind == "contact":
        return np.minimum(monthly * dt, 1.0)
    return monthly


# The kinds of ``LEVER_KINDS`` as codes, for the compiled period (:mod:`..period`).
EVENT, CONTACT, STANDING = range(3)
KIND_CODES = {"event": EVENT, "contact": CONTACT, "standing": STANDING}


@njit(inline="always")
def coverage_of(spend: float, unit_cost: float, eligible: float) -> float:
    """:func:`coverage` for one firm: the share of ``eligible`` customers a spend reaches."""
    if eligible <= 0.0:
        return 0.0
    return -math.expm1(-spend / (unit_cost * eligible))


@njit(inline="always")
def reach_of(kind: int, spend: float, unit_cost: float, eligible: float, dt: float) -> float:
    """:func:`period_reach` for one firm (``kind`` one of ``EVENT``, ``CONTACT``, ``STANDING``)."""
    if kind == EVENT:
        return coverage_of(spend, unit_cost, eligible)
    monthly = coverage_of(spend / dt, unit_cost, eligible)
    if kind == CONTACT:
        return min(monthly * dt, 1.0)
    return monthly


@njit(inline="always")
def advertising_hazard(
    spend: float, prospects: float, dt: float, ceiling: float, spend_scale: float
) -> float:
    """:func:`advertising_rate` for one firm: the monthly hazard its spend buys per prospect."""
    if prospects <= 0.0:
        return 0.0
    probability = ceiling * -math.expm1(-spend / dt / prospects / spend_scale)
    return -math.log1p(-min(probability, 1.0 - 1e-12))


def advertising_rate(
    spend: np.ndarray, prospects: float, dt: float, ceiling: float, spend_scale: float
) -> np.ndarray:
    """Monthly acquisition hazard bought by advertising spend (per prospect, at neutral price).

    The monthly probability is ``ceiling * (1 - exp(-monthly spend per prospect / scale))``.
    """
    if prospects <= 0:
        return np.zeros_like(np.asarray(spend, dtype=float))
    per_prospect = np.asarray(spend, dtype=float) / dt / prospects
    probability = ceiling * -np.expm1(-per_prospect / spend_scale)
    return -np.log1p(-np.minimum(probability, 1 - 1e-12))


def price_ratio(price: np.ndarray, reference: np.ndarray | float) -> np.ndarray:
    """Price relative to a reference, floored so that zero prices stay finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(price, dtype=np.float32) / np.maximum(reference, 1e-12)
    return np.maximum(ratio, MIN_PRICE_RATIO).astype(np.float32)


def conversion(ratio: np.ndarray, sensitivity: np.ndarray, base: float = 1.0) -> np.ndarray:
    """Constant-elasticity response to price, capped at 1: ``min(1, base * ratio**-sensitivity)``.

    Args:
        ratio: price paid relative to the reference price.
        sensitivity: price elasticity magnitude of each customer.
        base: the share who buy at the reference price.
    """
    return np.minimum(base * np.exp(-sensitivity * np.log(ratio)), 1.0)


def pick_column(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row of non-negative ``weights``, the column chosen by the uniform ``u``.

    Rows whose weights are all zero get column 0.
    """
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1:]
    target = u[:, None] * total
    chosen = (cumulative <= target).sum(axis=1)
    return np.minimum(chosen, weights.shape[1] - 1)


def expected_lifetime_value(
    margin: np.ndarray, churn_probability: np.ndarray, discount: float
) -> np.ndarray:
    """Expected discounted value of a customer, counted from the next period.

    With margin m per period, retention r and discount rate d: ``m * r / (1 + d - r)``.
    """
    retention = 1.0 - np.asarray(churn_probability, dtype=float)
    margin = np.asarray(margin, dtype=float)
    # With no discounting and no churn the value is unbounded: infinite for a positive
    # margin, and 0 (not NaN) for a customer who earns nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = margin * retention / (1.0 + discount - retention)
    return np.where(margin == 0, 0.0, value)


def count_by(codes: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(codes, minlength=length)`` for a few small integer codes (firms).

    One comparison per code is cheaper than ``bincount``'s conversion of int16 codes. Every
    code must lie in ``range(length)``.
    """
    return np.array([np.count_nonzero(codes == code) for code in range(length)], dtype=np.intp)
