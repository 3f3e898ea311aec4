"""Purchases: how many transactions each customer makes in a period, and drop-out after them.

The poisson process (the purchase process of the Pareto/NBD and BG/NBD models, Schmittlein,
Morrison & Colombo 1987; Fader, Hardie & Lee 2005): while with a firm, a customer makes
transactions at its own monthly ``transaction_rate``. A period's count is Poisson with mean

    rate x months per period x exposure x exp(w_s (satisfaction - at_par))
         x (1 + loyalty boost, if a member) x (1 + personalisation boost, if reached)
         x (price / reference price)^(-w_p x price sensitivity)

where the price sensitivity is the one after tenure (the premium long-standing customers pay,
where that tenure effect is on). A customer won this period (by advertising, a referral or a
win-back offer) makes its first purchase on top and is exposed for half the period on average;
a switcher from a rival buys from its new firm for the whole period. A customer who left the
market this period makes its last purchases with its old firm for the share of the period it was
still there (its expected time to drop-out within the period).

Under the BG/NBD law, a customer may drop out after each repeat transaction, with chance
``1 - (1 - p)^m`` for its own ``p`` and the marketing multiplier ``m`` of its hazard; it then
makes no more purchases and leaves at the next period.

The bernoulli process keeps the engine's earlier rule: at most one transaction a period, with a
fixed probability per period.

The count is drawn by inversion of its law from the period's ``U_BUY`` uniform, so every policy
draws the same numbers; given that a customer bought, the uniform's position within the
no-purchase band's complement is a fresh uniform for the thank-you.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market.parameters import FirmTerms, PurchaseRules
from simulation.market.phases import one_if
from simulation.market.population import ORIGIN, Customers

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

FROM_RIVAL = ORIGIN["from_rival"]
# A period's mean above this is capped: beyond it the inversion loop grows long, and no
# customer-base model in use comes near it.
MAX_MEAN = 500.0


@njit(inline="always")
def poisson_quantile(mean: float, u: float, nothing: float) -> int:
    """The Poisson(``mean``) count whose cumulative probability first exceeds ``u``.

    ``nothing`` is ``exp(-mean)``, the chance of no event, which the caller also needs.
    """
    if mean <= 0.0:
        return 0
    # The first cumulative probabilities are compared without branching: most counts are
    # small, and the unpredictable exit of a loop costs more than the arithmetic. The sums
    # are the loop's own, in its order.
    p1 = nothing * (mean / 1)
    c1 = nothing + p1
    p2 = p1 * (mean / 2)
    c2 = c1 + p2
    p3 = p2 * (mean / 3)
    c3 = c2 + p3
    k = int(u >= nothing) + int(u >= c1) + int(u >= c2) + int(u >= c3)
    if k < 4:
        return k
    p, cumulative, k = p3, c3, 3
    # The bound stops float rounding from running the sum forever just below 1.
    limit = mean + 40.0 * math.sqrt(mean) + 40.0
    while u >= cumulative and k < limit:
        k += 1
        p *= mean / k
        cumulative += p
    return k


@njit(inline="always")
def is_reached(targeted: bool, u: float, reach: float) -> bool:
    """Whether a lever with this reach reaches a targeted customer this period."""
    return targeted & (u < reach)


@njit(inline="always")
def is_member(targeted: bool, u: float, reach: float, programme_on: bool) -> bool:
    """Whether a customer is a covered member of its firm's loyalty programme this period."""
    return targeted & (u < reach) & programme_on


@njit(inline="always")
def tenure_sensitivity(sensitivity: float, years: float, decline: float, floor: float) -> float:
    """Price sensitivity after ``years`` of tenure: it falls by ``decline`` a year, to a floor."""
    return sensitivity * max(1.0 - decline * years, floor)


@njit(inline="always")
def rate_multiplier(
    satisfaction: float,
    sensitivity: float,
    years: float,
    log_price_index: float,
    member: bool,
    personal: bool,
    rules: PurchaseRules,
) -> float:
    """What satisfaction, the loyalty programme, personalisation and price do to the rate.

    Scalars in, a scalar out: a compiled helper that took the population's whole tuple of
    arrays would copy it on every call.
    """
    log_factor = rules.satisfaction_weight * (satisfaction - rules.satisfaction_at_par)
    if log_price_index != 0.0 and rules.price_demand_weight > 0.0:
        felt = tenure_sensitivity(
            sensitivity, years, rules.sensitivity_decline, rules.sensitivity_floor
        )
        log_factor -= rules.price_demand_weight * felt * log_price_index
    boosts = (1.0 + rules.loyalty_boost * one_if(member)) * (
        1.0 + rules.personalisation_boost * one_if(personal)
    )
    # Beyond e^20 the mean is capped anyway (MAX_MEAN); the cap keeps extreme inputs finite.
    return math.exp(min(log_factor, 20.0)) * boosts


@njit(inline="always")
def dropout_after(k: int, chance: float, multiplier: float, u: float) -> int:
    """The repeat transaction after which a BG/NBD customer drops out; 0 if it stays.

    After each transaction the customer drops out with ``1 - (1 - chance)^multiplier``; the
    uniform ``u`` decides, by inversion, after which of the ``k`` transactions (if any).
    """
    if k == 0 or chance <= 0.0:
        return 0
    stay = (1.0 - chance) ** multiplier
    if stay >= 1.0:
        return 0
    if stay <= 0.0:
        return 1
    # P(drop out within the first j transactions) = 1 - stay^j: the first j with u below it.
    j = int(math.floor(math.log1p(-u) / math.log(stay))) + 1
    return j if j <= k else 0


@njit(cache=True, nogil=True, error_model="numpy")
def count_transactions(
    c: Customers,
    targeted: np.ndarray,
    u_buy: np.ndarray,
    u_drop: np.ndarray,
    u_loyalty: np.ndarray,
    u_personal: np.ndarray,
    loyalty_reach: np.ndarray,
    personal_reach: np.ndarray,
    dropout_multiplier: np.ndarray,
    terms: FirmTerms,
    rules: PurchaseRules,
    step: int,
    expected: np.ndarray,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Customers ``lo`` to ``hi - 1``: their transactions this period, and buyers per firm.

    Args:
        c: the population's arrays (``transactions`` and ``dropped`` are written).
        targeted: customers who get the firms' retention effort.
        u_buy: the period's purchase uniforms; a buyer's is replaced by a fresh uniform.
        u_drop: the period's drop-out uniforms (BG/NBD).
        u_loyalty: the period's loyalty uniforms.
        u_personal: the period's personalisation uniforms.
        loyalty_reach: per firm, the share of targeted customers the programme covers.
        personal_reach: per firm, the share of targeted customers personalisation reaches.
        dropout_multiplier: each customer's marketing multiplier of its drop-out (BG/NBD).
        terms: per-firm settings.
        rules: the purchase process's parameters.
        step: the current period.
        expected: written: each customer's expected transactions in a full period with its
            firm (the basis of its lifetime value).
        lo: the first customer's row.
        hi: one past the last customer's row.

    Returns:
        Targeted customers with at least one transaction, per firm (``firms + 1``).
    """
    n_firms = terms.price.shape[0] - 1
    buyers = np.zeros(n_firms + 1, dtype=np.int64)
    for i in range(np.uint64(lo), np.uint64(hi)):
        f = c.firm[i]
        k = 0
        if f >= n_firms:
            expected[i] = 0.0
            share = c.leaving_share[i]
            if share > 0.0 and c.left_at[i] == step:  # last purchases before leaving
                last = c.last_firm[i]
                mean = c.transaction_rate[i] * rules.months * share
                years = (step - c.acquired_at[i]) * rules.years_per_period
                mean *= rate_multiplier(
                    c.satisfaction[i],
                    c.price_sensitivity[i],
                    years,
                    terms.log_price_index[last],
                    False,
                    False,
                    rules,
                )
                mean = min(mean, MAX_MEAN)
                k = poisson_quantile(mean, u_buy[i], math.exp(-mean))
            c.transactions[i] = k
            continue
        u = u_buy[i]
        if rules.poisson > 0.0:
            aimed = targeted[i]
            member = is_member(aimed, u_loyalty[i], loyalty_reach[f], terms.loyalty_on[f])
            personal = is_reached(aimed, u_personal[i], personal_reach[f])
            years = (step - c.acquired_at[i]) * rules.years_per_period
            multiplier = rate_multiplier(
                c.satisfaction[i],
                c.price_sensitivity[i],
                years,
                terms.log_price_index[f],
                member,
                personal,
                rules,
            )
            full = min(c.transaction_rate[i] * rules.months * multiplier, MAX_MEAN)
            expected[i] = full
            won = (c.acquired_at[i] == step) & (c.origin[i] != FROM_RIVAL)
            mean = 0.5 * full if won else full
            nothing = math.exp(-mean)
            repeat = poisson_quantile(mean, u, nothing)
            if repeat > 0:
                u_buy[i] = min((u - nothing) / (1.0 - nothing), 0.99999994)
                chance = c.dropout_chance[i]
                if chance > 0.0:  # the BG/NBD law only
                    after = dropout_after(repeat, chance, dropout_multiplier[i], u_drop[i])
                    if after > 0:
                        c.dropped[i] = True
                        repeat = after
            k = repeat + int(won)
        else:
            p = rules.purchase_probability
            expected[i] = p
            if u < p:
                k = 1
                u_buy[i] = u / p
        c.transactions[i] = k
        buyers[f] += targeted[i] & (k > 0)
    return buyers


def drawn_units(market: RelationshipMarket) -> np.ndarray:
    """Units of each customer's transactions this period by the Gamma-Gamma model.

    The total of ``k`` transactions, each ``Gamma(p, nu)``, is ``Gamma(k p, nu)``: one draw per
    buyer, from the market's spend generator (:func:`.randomness.spend_generator`).
    """
    pop = market.population
    spend = market.config.market.customer.purchase.spend
    units = np.zeros(pop.size, dtype=np.float32)
    rows = np.flatnonzero(pop.transactions > 0)
    if rows.size and spend is not None:
        shape = pop.transactions[rows] * spend.p
        units[rows] = market.spend_rng.standard_gamma(shape) / pop.spend_rate[rows]
    return units
