"""Win-back and re-entry: what becomes of lapsed customers.

A lapsed customer reached by its last firm's win-back offers (the budget's reach, with
diminishing returns) comes back with probability ``success x conversion(offer price)``: the
offer is the firm's price less its win-back discount, weighed by the customer's price sensitivity
as its tenure had made it. Otherwise it may drift back into the
market as a prospect at the monthly ``reentry_rate``, to meet acquisition in the same period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation.market import response as bh
from simulation.market.phases.churn import effective_price_sensitivity
from simulation.market.population import ORIGIN, STAGE
from simulation.market.randomness import U_MOVE

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket


def win_back(market: RelationshipMarket) -> None:
    """Lapsed customers: won back by their last firm's offers, or back into the market."""
    pop, m, f_none = market.population, market.config.market, market.n_firms
    lapsed = np.flatnonzero(pop.stage == STAGE["lapsed"])
    if lapsed.size == 0:
        return
    last = pop.last_firm[lapsed]
    eligible = np.bincount(last, minlength=f_none + 1)[:f_none]
    spend = market.spend_on("win_back")
    offers = m.responses.win_back
    reach = np.append(bh.period_reach("contact", spend, offers.unit_cost, eligible, market.dt), 0.0)
    market.tally["cost_win_back"][:f_none] += np.where(eligible > 0, spend, 0.0)
    table = market.firm_table
    offer = bh.price_ratio(
        table.price[last] * (1 - table.win_back_discount[last]), m.reference_price
    )
    # Price sensitivity as it was when they left: a long relationship makes a premium
    # acceptable (where the tenure effect is on).
    sensitivity = effective_price_sensitivity(market, lapsed, until=pop.left_at[lapsed])
    won_probability = reach[last] * offers.success * bh.conversion(offer, sensitivity)
    u = market.u[U_MOVE, lapsed]
    won = u < won_probability
    reentry_probability = float(bh.per_period(m.behaviour.reentry_rate, market.dt))
    reentry = np.flatnonzero(~won & (u < won_probability + reentry_probability))
    market.start_relationships(lapsed[won], last[won], ORIGIN["win_back"])
    market.tally["acquired_win_back"] += np.bincount(last[won], minlength=f_none + 1)
    rows = lapsed[reentry]
    pop.stage[rows] = STAGE["discovery"]
    # Back among the prospects, they meet acquisition with the same row: given re-entry,
    # the uniform's position within the re-entry band is a fresh uniform.
    fresh = (u[reentry] - won_probability[reentry]) / reentry_probability
    market.u[U_MOVE, rows] = np.minimum(fresh, np.float32(1.0))
