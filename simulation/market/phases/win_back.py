"""Win-back and re-entry: what becomes of lapsed customers.

A lapsed customer reached by its last firm's win-back offers (the budget's reach, with
diminishing returns) comes back with probability ``success x conversion(offer price)``: the
offer is the firm's price less its win-back discount, weighed by the customer's price sensitivity
as its tenure had made it. Otherwise it may drift back into the market as a prospect at the
monthly ``reentry_rate``, to meet acquisition in the same period.

The compiled period (:mod:`simulation.market.period`) calls :func:`lapsed_outcome` for each
lapsed customer.
"""

from __future__ import annotations

import math

from numba import njit

from simulation.market.phases.purchase import tenure_sensitivity

STAYS, WON_BACK, REENTERS = range(3)


@njit(inline="always")
def lapsed_outcome(
    u: float,
    sensitivity: float,
    tenure_years: float,
    reach: float,
    log_offer: float,
    success: float,
    reentry_probability: float,
    decline: float,
    floor: float,
) -> tuple[int, float]:
    """What becomes of one lapsed customer this period, given its uniform ``u``.

    Args:
        u: the customer's ``U_MOVE`` uniform.
        sensitivity: its price sensitivity; ``tenure_years`` of its last relationship lowered
            it by ``decline`` a year, to ``floor`` (where the tenure effect is on), so a long
            relationship makes a premium acceptable.
        tenure_years: how long the last relationship lasted.
        reach: the share of its last firm's lapsed customers the win-back budget reaches.
        log_offer: log of the offer price (after the win-back discount) over the reference.
        success: the share of reached customers who come back at the reference price.
        reentry_probability: the chance per period of drifting back into the market.
        decline: fall of price sensitivity per year of tenure.
        floor: share of price sensitivity tenure never takes away.

    Returns:
        ``(outcome, fresh)``: ``STAYS``, ``WON_BACK`` or ``REENTERS``, and for a re-entrant a
        fresh uniform for acquisition (given re-entry, ``u``'s position within the re-entry
        band is uniform).
    """
    felt = tenure_sensitivity(sensitivity, tenure_years, decline, floor)
    won = reach * success * min(math.exp(-felt * log_offer), 1.0)
    if u < won:
        return WON_BACK, u
    if u < won + reentry_probability:
        return REENTERS, min((u - won) / reentry_probability, 0.99999994)
    return STAYS, u
