"""Acquisition: prospects are won by advertising and by word of mouth.

Each firm's advertising reaches prospects at a monthly hazard that rises with spend towards a
ceiling; its promoters refer prospects at a hazard proportional to their exposure (the Bass
``q``: the weighted share of a prospect's contacts, or of the whole market without a network,
who promote the firm). A reached prospect buys with the channel's conversion times its uptake
of the firm's offer price; one reached but not buying starts evaluating the firm.

A promoter's referral weight is its referral tendency, raised by tenure (where that effect is
on) and by its firm's referral programme if the programme's budget informs it, at most 1.

The compiled period (:mod:`simulation.market.period`) calls :func:`promoter_weight` for each
promoter, then :func:`heard` and :func:`outcome` for each prospect.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(inline="always")
def promoter_weight(
    tendency: float, tenure_years: float, growth: float, informed: bool, boost: float
) -> float:
    """A promoter's referral weight: its tendency, raised by tenure and the programme, <= 1."""
    weight = tendency * (1.0 + growth * tenure_years)
    if informed:
        weight *= 1.0 + boost
    return min(weight, 1.0)


@njit(inline="always")
def heard(
    a: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    weight: np.ndarray,
    firm: np.ndarray,
    exposure: np.ndarray,
) -> None:
    """Prospect ``a``'s exposure to each firm: its contacts' referral weights, summed by firm.

    ``indptr`` and ``indices`` are the network's CSR adjacency; ``weight`` is zero but for
    promoters, whose ``firm`` gives the column. Written into ``exposure`` (one per firm).
    """
    exposure[:] = 0.0
    for link in range(indptr[a], indptr[a + 1]):
        j = indices[link]
        w = weight[j]
        if w > 0.0:
            exposure[firm[j]] += w


@njit(inline="always")
def push_exposure(
    promoters: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    weight: np.ndarray,
    firm: np.ndarray,
    slot: np.ndarray,
    heard_by: np.ndarray,
) -> None:
    """Every prospect's exposure, pushed from the promoters along their links.

    :func:`heard` for all prospects at once, visiting the promoters' links instead of the
    prospects'. ``promoters`` ascend, so each prospect's sum adds the same terms in the same
    order as :func:`heard` would. ``slot`` gives each prospect's row of ``heard_by`` (-1 for
    everyone else).
    """
    for k in range(promoters.shape[0]):
        j = promoters[k]
        w = weight[j]
        if w > 0.0:
            f = firm[j]
            for link in range(indptr[j], indptr[j + 1]):
                row = slot[indices[link]]
                if row >= 0:
                    heard_by[row, f] += w


@njit(inline="always")
def pick(weights: np.ndarray, target: float) -> int:
    """The option whose share of the running total holds ``target`` (the last if none)."""
    running = 0.0
    for k in range(weights.shape[0] - 1):
        running += weights[k]
        if target < running:
            return k
    return weights.shape[0] - 1


@njit(inline="always")
def outcome(
    u: float,
    ad_rate: np.ndarray,
    referral_rate: np.ndarray,
    log_offer: np.ndarray,
    sensitivity: float,
    ad_conversion: float,
    referral_conversion: float,
    dt: float,
    buying: np.ndarray,
    reached: np.ndarray,
    last_reach: np.ndarray,
) -> int:
    """What happens to one prospect this period, given its uniform ``u``.

    A prospect meets each firm's advertising (monthly hazard ``ad_rate[f]``) and its
    referrals (``referral_rate[f]``); its uptake of a firm's offer price is
    ``exp(-sensitivity x log_offer[f])`` (the log of the offer over the reference price). It
    buys with probability ``1 - exp(-dt x sum of buying hazards)``; if not, it may be reached
    and start considering a firm. Which firm and channel follows from where ``u`` falls among
    the hazards. ``buying`` (two per firm) and ``reached`` are scratch space; ``last_reach``
    holds the last prospect's total hazard of being reached and the chance it gives (NaN
    before the first): prospects who hear no referral all share one, and the exponential is
    most of what a prospect costs.

    Returns:
        -1 nothing, ``f`` considering firm ``f``, ``n_firms + f`` won by ``f``'s advertising,
        ``2 n_firms + f`` won by a referral to ``f``.
    """
    n_firms = ad_rate.shape[0]
    total_reached = 0.0
    for f in range(n_firms):
        reached[f] = ad_rate[f] + referral_rate[f]
        total_reached += reached[f]
    if total_reached != last_reach[0]:
        last_reach[0], last_reach[1] = total_reached, -math.expm1(-total_reached * dt)
    p_reach = last_reach[1]
    if u >= p_reach:  # most prospects: buying is rarer than being reached, so no purchase
        return -1
    total_buying = 0.0
    for f in range(n_firms):
        uptake = math.exp(-sensitivity * log_offer[f])
        buying[f] = ad_rate[f] * min(ad_conversion * uptake, 1.0)
        buying[n_firms + f] = referral_rate[f] * min(referral_conversion * uptake, 1.0)
    for k in range(2 * n_firms):
        total_buying += buying[k]
    p_buy = -math.expm1(-total_buying * dt)
    if u < p_buy:
        return n_firms + pick(buying, u / p_buy * total_buying)
    # Given reach without a purchase, u's position in [p_buy, p_reach) is uniform.
    fresh = (u - p_buy) / (p_reach - p_buy)
    return pick(reached, fresh * total_reached)


@njit(cache=True, nogil=True)
def acquisitions(
    u: np.ndarray,
    ad_rate: np.ndarray,
    referral_rate: np.ndarray,
    log_offer: np.ndarray,
    sensitivity: np.ndarray,
    ad_conversion: float,
    referral_conversion: float,
    dt: float,
) -> np.ndarray:
    """:func:`outcome` for many prospects, one code each.

    ``referral_rate`` is ``(firms, prospects)``; ``u`` and ``sensitivity`` hold one value per
    prospect.
    """
    n_firms, n = referral_rate.shape
    out = np.empty(n, dtype=np.int16)
    buying = np.empty(2 * n_firms)
    reached = np.empty(n_firms)
    last_reach = np.full(2, np.nan)
    for a in range(n):
        out[a] = outcome(
            float(u[a]),
            ad_rate,
            referral_rate[:, a],
            log_offer,
            float(sensitivity[a]),
            ad_conversion,
            referral_conversion,
            dt,
            buying,
            reached,
            last_reach,
        )
    return out
