"""Churn: who leaves each period, and whether for a rival or out of the market.

A customer's monthly churn rate is its base rate (its drop-out hazard: ``dropout.law`` hazard or
sbg), times its firm's own multiplier, raised by dissatisfaction and by a price above the
cheapest rival's (weighed by its price sensitivity, which may fall with tenure), and lowered by
trust and by loyalty points at stake; referred customers churn less. It becomes a per-period
probability ``1 - exp(-rate x dt)``. Under the BG/NBD law there is no hazard in time: the same
multiplier acts on the chance of dropping out after each transaction (:mod:`.purchase`), and a
customer who dropped out last period leaves now.

A leaver goes to a rival with probability ``switch_share``, chosen by quality and price; the rest
leave the market and become lapsed customers of their last firm, after buying from it for the
share of the period they were still there. This period's newcomers stay; their first decision,
next period, covers the half period they were spared.

The compiled period (:mod:`simulation.market.period`) calls these rules for each customer.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.market.parameters import ChurnRules, FirmTerms
from simulation.market.phases import in_place, one_if
from simulation.market.population import ORIGIN

REFERRAL = ORIGIN["referral"]
INITIAL = ORIGIN["initial"]


@njit(inline="always")
def log_churn_rate(
    log_base_rate: float,
    satisfaction: float,
    strength: float,
    relational_weight: float,
    sensitivity: float,
    points_at_stake: float,
    referred: bool,
    log_price_ratio: float,
    switching_cost: float,
    log_firm_multiplier: float,
    rules: ChurnRules,
) -> float:
    """A customer's log monthly churn rate with its firm (minus infinity: never).

    The rate rises with dissatisfaction and with a price above the cheapest rival's (the
    firm's ``log_price_ratio``, weighed by the customer's ``sensitivity`` after tenure), and
    falls with trust and with loyalty points at stake (``points_at_stake``, a share of the
    next reward, times the firm's ``switching_cost``); ``log_firm_multiplier`` is the firm's
    own factor. Scalars in: a compiled helper given the population's tuple of arrays would
    copy it on every call.
    """
    if log_base_rate == -np.inf or log_firm_multiplier == -np.inf:
        return -np.inf
    log_rate = (
        log_base_rate
        + rules.satisfaction_weight * (rules.satisfaction_at_par - satisfaction)
        - rules.strength_weight * strength * relational_weight
        + rules.price_weight * sensitivity * log_price_ratio
        - switching_cost * points_at_stake * relational_weight
        + rules.log_referred_multiplier * one_if(referred)
        + log_firm_multiplier
    )
    # A monthly rate of e^20 is certain churn; the cap keeps extreme inputs finite.
    return min(log_rate, 20.0)


@njit(inline="always")
def first_decision(probability: float, acquired_at: int, origin: int, step: int) -> float:
    """A period's churn probability, for last period's newcomers over one and a half periods.

    This period's newcomers stay. Last period's newcomers (but the firms' customers at the
    start) were at no risk for the part of it they were customers already, half on average:
    their probability covers one and a half periods, ``1 - (1 - p)^1.5``.
    """
    if acquired_at == step - 1 and origin != INITIAL and probability > 0.0:  # rare
        return 1.0 - (1.0 - probability) ** 1.5
    return probability


@njit(inline="always")
def period_dropout(
    multiplier: float, dropout_chance: float, transaction_rate: float, months: float
) -> float:
    """Under the BG/NBD law, a customer's chance of dropping out within a period.

    It drops out after each transaction with ``1 - (1 - dropout_chance)^multiplier`` and
    makes ``transaction_rate x months`` of them on average: kept for lifetime value.
    """
    chance = 1.0 - (1.0 - dropout_chance) ** multiplier
    return -math.expm1(-transaction_rate * months * chance)


@njit(inline="always")
def leaves(u: float, probability: float, acquired_at: int, step: int) -> bool:
    """Whether a customer leaves this period: ``u < probability``, never in its first period."""
    return (u < probability) & (acquired_at < step)


@njit(inline="always")
def share_of_period_stayed(hazard_periods: float) -> float:
    """Expected share of a period a customer stayed, given it left within the period.

    For a hazard of ``x`` per period, ``E[tau | tau < 1] = 1/x - 1/(e^x - 1)``: one half for a
    small hazard, less for a large one.
    """
    x = max(hazard_periods, 1e-6)
    if x < 1e-4:
        return 0.5 - x / 12
    if x > 700.0:  # e^x overflows: the customer left at once
        return 1.0 / x
    return 1.0 / x - 1.0 / math.expm1(x)


@in_place
def destination(
    fit_with: np.ndarray,
    old: int,
    sensitivity: float,
    u: float,
    switch_share: float,
    terms: FirmTerms,
    attraction: np.ndarray,
) -> int:
    """Where a leaver goes: a rival chosen by quality and price, or no firm (``n_firms``).

    Given that it leaves, ``u`` is a fresh uniform: below ``switch_share`` it switches, to a
    rival in proportion to ``max(quality + fit, 0.01) x min(1, price ratio^-sensitivity)``.
    ``fit_with`` is the customer's lasting fit with each firm; ``attraction`` is scratch space.
    """
    n_firms = attraction.shape[0]
    if n_firms < 2 or u >= switch_share:
        return n_firms
    total = 0.0
    for g in range(n_firms):
        weight = 0.0
        if g != old:
            fit = max(terms.quality[g] + float(fit_with[g]), 0.01)
            weight = fit * min(math.exp(-sensitivity * terms.log_price_index[g]), 1.0)
        attraction[g] = weight
        total += weight
    if total <= 0.0:
        return n_firms
    target = u / switch_share * total
    running = 0.0
    for g in range(n_firms - 1):
        running += attraction[g]
        if target < running:
            return g
    return n_firms - 1
