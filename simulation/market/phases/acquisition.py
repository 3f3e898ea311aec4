"""Acquisition: prospects are won by advertising and by word of mouth.

Each firm's advertising reaches prospects at a monthly hazard that rises with spend towards a
ceiling; its promoters refer prospects at a hazard proportional to their exposure (the Bass
``q``: the weighted share of a prospect's contacts, or of the whole market without a network,
who promote the firm). A reached prospect buys with the channel's conversion times its uptake
of the firm's offer price; one reached but not buying starts evaluating the firm.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market import response as bh
from simulation.market.population import ORIGIN, STAGE
from simulation.market.randomness import U_MOVE, U_REFERRAL

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket


def acquire(market: RelationshipMarket) -> None:
    """Prospects are reached by advertising and by referrals from promoters; some buy."""
    pop, m, f_none = market.population, market.config.market, market.n_firms
    prospect = np.flatnonzero(pop.stage <= STAGE["evaluation"])
    if prospect.size == 0:
        return
    ad, table = m.responses.advertising, market.firm_table
    spend = market.spend_on("advertising")
    ad_reach = bh.advertising_rate(spend, prospect.size, market.dt, ad.ceiling, ad.spend_scale)
    market.tally["cost_advertising"][:f_none] += spend
    referral_rate = referral_rates(market, prospect)  # (firms, prospects)
    offer = bh.price_ratio(
        table.price[:f_none] * (1 - table.first_discount[:f_none]), m.reference_price
    )
    # The uptake of each firm's offer price, min(1, conversion x offer^-sensitivity) without
    # the cap, as one vectorised exponential.
    sensitivity = pop.price_sensitivity[prospect]
    offer_uptake = np.exp(-sensitivity[None, :] * np.log(offer)[:, None])
    outcome = acquisitions(
        market.u[U_MOVE, prospect],
        np.asarray(ad_reach, dtype=np.float64),
        referral_rate,
        offer_uptake,
        float(ad.conversion),
        float(m.responses.word_of_mouth.conversion),
        float(market.dt),
    )
    evaluating = np.flatnonzero((outcome >= 0) & (outcome < f_none))
    if evaluating.size:
        rows = prospect[evaluating]
        pop.stage[rows] = STAGE["evaluation"]
        pop.considering[rows] = outcome[evaluating]
    buying = np.flatnonzero(outcome >= f_none)
    if not buying.size:
        return
    choice = outcome[buying] - f_none  # advertising rows, then referral rows
    firms = (choice % f_none).astype(np.int16)
    referred = choice >= f_none
    origin = np.where(referred, ORIGIN["referral"], ORIGIN["advertising"]).astype(np.int8)
    market.start_relationships(prospect[buying], firms, origin)
    referrals = np.bincount(firms[referred], minlength=f_none + 1)
    market.tally["acquired_referral"] += referrals
    market.tally["acquired_advertising"] += np.bincount(firms[~referred], minlength=f_none + 1)
    market.tally["cost_referral"][:f_none] += referrals[:f_none] * table.referral_reward


def referral_rates(market: RelationshipMarket, prospect: np.ndarray) -> np.ndarray:
    """Monthly referral hazard of each prospect towards each firm (the Bass q x exposure).

    A customer's referral weight is its referral tendency if it is a promoter, raised by
    the referral programme and, if switched on, by tenure. Exposure is the weighted share of
    the prospect's contacts (or of the whole market, with no network) who promote a firm.
    """
    pop, m, f_none = market.population, market.config.market, market.n_firms
    wom = m.responses.word_of_mouth
    if not wom.enabled or wom.rate == 0:
        return np.zeros((f_none, prospect.size), dtype=np.float32)
    # Only promoters carry weight, so the arithmetic runs over their rows alone (about a
    # tenth of the market); every value is the one a whole-array pass would give.
    promoter = (pop.firm < f_none) & (pop.satisfaction >= m.behaviour.promoter_threshold)
    rows = np.flatnonzero(promoter)
    firm = pop.firm[rows]
    weight = pop.referral_tendency[rows]
    growth = m.tenure_effects.referrals
    if growth.enabled and growth.size > 0:
        years = ((market.steps - pop.acquired_at[rows]) * (market.dt / 12)).astype(np.float32)
        weight *= 1 + growth.size * years
    spend = market.spend_on("referral_programme")
    eligible = np.bincount(firm, minlength=f_none + 1)[:f_none]
    unit_cost = m.responses.referral_programme.unit_cost
    reach = np.append(bh.period_reach("standing", spend, unit_cost, eligible, market.dt), 0)
    market.tally["cost_referral"][:f_none] += np.where(eligible > 0, spend, 0.0)
    informed = market.u[U_REFERRAL, rows] < reach[firm]
    weight *= np.where(informed, 1 + m.responses.referral_programme.boost, 1.0).astype(np.float32)
    weight = np.minimum(weight, 1.0)
    if market.network is None:
        totals = np.bincount(firm, weights=weight, minlength=f_none + 1)[:f_none]
        exposure = np.broadcast_to((totals / pop.size)[:, None], (f_none, prospect.size))
        return (wom.rate * exposure).astype(np.float32)
    degree = market.degree[prospect]
    rates = np.empty((f_none, prospect.size), dtype=np.float32)
    for index, heard in enumerate(network_exposure(market, prospect, rows, firm, weight)):
        rates[index] = wom.rate * (heard / degree)
    return rates


def network_exposure(
    market: RelationshipMarket,
    prospect: np.ndarray,
    rows: np.ndarray,
    firm: np.ndarray,
    weight: np.ndarray,
) -> list[np.ndarray]:
    """Per firm, the sum over each prospect's contacts of the referral weight they give.

    ``network @ weights`` would visit every link of every customer. Only the links between
    prospects and promoters (``rows``, ascending) matter, so this visits the links of
    whichever group is smaller: it pulls along the prospects' rows, or pushes the
    promoters' weight along their columns (the network is symmetric, so its transpose,
    free to make, holds each promoter's contacts as a column). Either way each sum adds
    the same float32 terms in the same order (ascending contact) as ``network @ weights``.
    Pulling visits every link of a prospect once per firm, pushing each promoter's once,
    but slicing columns costs about as much again: pulling pays when prospects are fewer
    than half the promoters (measured at 1M customers), as in a maturing market.

    Returns:
        One float32 array over the prospects per firm.
    """
    keep = weight > 0
    rows, firm, weight = rows[keep], firm[keep], weight[keep]
    exposures = []
    if 2 * prospect.size < rows.size:
        contacts = market.network[prospect]
        given = np.zeros(market.population.size, dtype=np.float32)
        for index in range(market.n_firms):
            promotes = firm == index
            given[rows[promotes]] = weight[promotes]
            exposures.append(contacts @ given)
            given[rows[promotes]] = 0.0
        return exposures
    contacts = market.network.T
    for index in range(market.n_firms):
        promotes = firm == index
        if promotes.any():
            exposures.append((contacts[:, rows[promotes]] @ weight[promotes])[prospect])
        else:
            exposures.append(np.zeros(prospect.size, dtype=np.float32))
    return exposures


@njit(inline="always")
def pick(weights: np.ndarray, target: float) -> int:
    """The option whose share of the running total holds ``target`` (the last if none)."""
    running = 0.0
    for k in range(weights.shape[0] - 1):
        running += weights[k]
        if target < running:
            return k
    return weights.shape[0] - 1


@njit(cache=True, nogil=True)
def acquisitions(
    u: np.ndarray,
    ad_rate: np.ndarray,
    referral_rate: np.ndarray,
    offer_uptake: np.ndarray,
    ad_conversion: float,
    referral_conversion: float,
    dt: float,
) -> np.ndarray:
    """What happens to each prospect this period, given its uniform ``u``.

    A prospect meets each firm's advertising (monthly hazard ``ad_rate[f]``) and its
    referrals (``referral_rate[f, a]``); ``offer_uptake[f, a]`` is its uptake of the firm's
    offer price. It buys with probability ``1 - exp(-dt x sum of buying hazards)``; if not,
    it may be reached and start considering a firm. Which firm and channel follows from where
    ``u`` falls among the hazards.

    Returns:
        One code per prospect: -1 nothing, ``f`` considering firm ``f``, ``n_firms + f`` won
        by ``f``'s advertising, ``2 n_firms + f`` won by a referral to ``f``.
    """
    n_firms, n = referral_rate.shape
    out = np.empty(n, dtype=np.int16)
    buying = np.empty(2 * n_firms)
    reached = np.empty(n_firms)
    for a in range(n):
        total_buying = 0.0
        total_reached = 0.0
        for f in range(n_firms):
            heard = referral_rate[f, a]
            buying[f] = ad_rate[f] * min(ad_conversion * offer_uptake[f, a], 1.0)
            buying[n_firms + f] = heard * min(referral_conversion * offer_uptake[f, a], 1.0)
            reached[f] = ad_rate[f] + heard
            total_reached += reached[f]
        for k in range(2 * n_firms):
            total_buying += buying[k]
        p_buy = -math.expm1(-total_buying * dt)
        p_reach = -math.expm1(-total_reached * dt)
        code = -1
        if u[a] < p_buy:
            code = n_firms + pick(buying, u[a] / p_buy * total_buying)
        elif u[a] < p_reach:
            # Given reach without a purchase, u's position in [p_buy, p_reach) is uniform.
            fresh = (u[a] - p_buy) / (p_reach - p_buy)
            code = pick(reached, fresh * total_reached)
        out[a] = code
    return out


def load_kernels(market: RelationshipMarket) -> None:
    """Run the acquisition kernel once on no prospects (loading it from numba's cache)."""
    none, table = np.empty(0, dtype=np.float32), np.zeros((market.n_firms, 0), dtype=np.float32)
    acquisitions(none, np.zeros(market.n_firms), table, table, 0.5, 0.5, 1.0)
