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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market import response as bh
from simulation.market.parameters import ChurnRules, FirmTerms
from simulation.market.phases import one_if
from simulation.market.phases.loyalty import forfeit_points, progress_to_reward
from simulation.market.population import ORIGIN, STAGE, Customers
from simulation.market.randomness import U_MOVE

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

REFERRAL = ORIGIN["referral"]
INITIAL = ORIGIN["initial"]


def churn(market: RelationshipMarket) -> None:
    """Customers leave; a share goes to a rival, the rest leave the market."""
    pop, f_none = market.population, market.n_firms
    customers = market.customers()
    bgnbd = market.config.market.customer.dropout.law == "bgnbd"
    log_base = market.no_hazard if bgnbd else market.log_base_churn_rate
    log_rate = churn_log_rates(
        customers, log_base, market.firm_terms, market.churn_rules, market.steps
    )
    # Two whole-array passes: numpy's vectorised exponentials beat a compiled loop's.
    rate = np.exp(log_rate)
    if bgnbd:
        # The multiplier acts per transaction; the expected drop-out of a period is kept for CLV.
        market.dropout_multiplier = rate
        chance = 1.0 - (1.0 - pop.dropout_chance) ** rate
        months = market.purchase_rules.months
        pop.churn_probability = -np.expm1(-pop.transaction_rate * months * chance)
        probability = pop.dropped.astype(np.float32)
    else:
        probability = bh.per_period(rate, market.dt)
        pop.churn_probability = probability  # every customer's current risk, for CLV
    u = market.u[U_MOVE]
    leaving = leavers(customers, u, probability, market.steps)
    if leaving.size == 0:
        return
    old = pop.firm[leaving].copy()
    market.end_relationships(leaving)
    # Given that a customer leaves (u < p), u / p is a fresh uniform for where to.
    u_where = u[leaving] / probability[leaving]
    sensitivity = effective_price_sensitivity(market, leaving)
    new = choose_rivals(market, leaving, old, sensitivity, u_where)
    to_rival = new < f_none
    market.tally["churned_to_rival"] += np.bincount(old[to_rival], minlength=f_none + 1)
    market.tally["churned_out_of_market"] += np.bincount(old[~to_rival], minlength=f_none + 1)
    market.tally["acquired_from_rival"] += np.bincount(new[to_rival], minlength=f_none + 1)
    gone = leaving[~to_rival]
    pop.firm[gone] = f_none
    pop.last_firm[gone] = old[~to_rival]
    pop.stage[gone] = STAGE["lapsed"]
    pop.left_at[leaving] = market.steps
    pop.dropped[leaving] = False
    if not bgnbd and market.purchase_rules.poisson:
        pop.leaving_share[gone] = share_of_period_stayed(rate[gone] * market.dt)
    forfeit_points(pop, gone)
    market.start_relationships(leaving[to_rival], new[to_rival], ORIGIN["from_rival"])


def share_of_period_stayed(hazard_periods: np.ndarray) -> np.ndarray:
    """Expected share of a period a customer stayed, given it left within the period.

    For a hazard of ``x`` per period, ``E[tau | tau < 1] = 1/x - 1/(e^x - 1)``: one half for a
    small hazard, less for a large one.
    """
    x = np.maximum(np.asarray(hazard_periods, dtype=np.float64), 1e-6)
    with np.errstate(over="ignore"):
        share = 1.0 / x - 1.0 / np.expm1(x)
    return np.where(x < 1e-4, 0.5 - x / 12, share).astype(np.float32)


@njit(cache=True, nogil=True)
def churn_log_rates(
    c: Customers,
    log_base_rate: np.ndarray,
    terms: FirmTerms,
    rules: ChurnRules,
    step: int,
) -> np.ndarray:
    """Each customer's log monthly churn rate (minus infinity for people without a firm).

    The rate rises with dissatisfaction and with a price above the cheapest rival's (the
    firm's ``log_price_ratio``), and falls with trust and with loyalty points at stake.
    """
    n_firms = terms.price.shape[0] - 1
    out = np.empty(c.firm.shape[0], dtype=np.float32)
    for i in range(c.firm.shape[0]):
        f = c.firm[i]
        if f >= n_firms or log_base_rate[i] == -np.inf or terms.log_churn_multiplier[f] == -np.inf:
            out[i] = -np.inf
            continue
        relational = c.relational_weight[i]
        years = (step - c.acquired_at[i]) * rules.years_per_period
        sensitivity = c.price_sensitivity[i] * max(
            1.0 - rules.sensitivity_decline * years, rules.sensitivity_floor
        )
        at_stake = progress_to_reward(c.points[i], terms.reward_threshold[f])
        log_rate = (
            log_base_rate[i]
            + rules.satisfaction_weight * (rules.satisfaction_at_par - c.satisfaction[i])
            - rules.strength_weight * c.strength[i] * relational
            + rules.price_weight * sensitivity * terms.log_price_ratio[f]
            - terms.switching_cost[f] * at_stake * relational
            + rules.log_referred_multiplier * one_if(c.origin[i] == REFERRAL)
            + terms.log_churn_multiplier[f]
        )
        # A monthly rate of e^20 is certain churn; the cap keeps extreme inputs finite.
        out[i] = min(log_rate, 20.0)
    return out


@njit(cache=True, nogil=True)
def leavers(c: Customers, u: np.ndarray, probability: np.ndarray, step: int) -> np.ndarray:
    """Rows of the customers who leave this period: ``u < probability``.

    This period's newcomers stay. Last period's newcomers (but the firms' customers at the
    start) were at no risk for the part of it they were customers already, half on average:
    their probability, updated in place, covers one and a half periods, ``1 - (1 - p)^1.5``.
    """
    rows = np.empty(c.firm.shape[0], dtype=np.intp)
    count = 0
    for i in range(c.firm.shape[0]):
        rows[count] = i
        p = probability[i]
        if c.acquired_at[i] == step - 1 and c.origin[i] != INITIAL and p > 0.0:  # rare
            p = 1.0 - (1.0 - p) ** 1.5
            probability[i] = p
        count += (u[i] < p) & (c.acquired_at[i] < step)
    return rows[:count].copy()


def effective_price_sensitivity(
    market: RelationshipMarket, rows: np.ndarray, until: np.ndarray | int | None = None
) -> np.ndarray:
    """Price sensitivity of customers ``rows`` after the tenure effect (never below its floor).

    The rule of :func:`churn_log_rates`, for a few rows; tenure counts up to ``until`` (the
    period a lapsed customer left), by default now.
    """
    pop, rules = market.population, market.churn_rules
    sensitivity = pop.price_sensitivity[rows]
    if rules.sensitivity_decline == 0:
        return sensitivity
    end = market.steps if until is None else until
    years = (end - pop.acquired_at[rows]) * rules.years_per_period
    return sensitivity * np.maximum(1 - rules.sensitivity_decline * years, rules.sensitivity_floor)


def choose_rivals(
    market: RelationshipMarket,
    rows: np.ndarray,
    old: np.ndarray,
    sensitivity: np.ndarray,
    u: np.ndarray,
) -> np.ndarray:
    """Where leavers go: a rival chosen by quality and price, or no firm (``n_firms``).

    ``u`` holds one uniform per leaver.
    """
    f_none = market.n_firms
    destination = np.full(len(rows), f_none, dtype=np.int16)
    if f_none < 2:
        return destination
    share = market.config.market.behaviour.switch_share
    switching = np.flatnonzero(u < share)
    if switching.size == 0:
        return destination
    table = market.firm_table
    ratio = bh.price_ratio(table.price[:f_none], market.config.market.reference_price)
    fit = table.quality[:f_none][None, :] + market.population.match[rows[switching]]
    attraction = np.maximum(fit, 0.01) * bh.conversion(
        ratio[None, :], sensitivity[switching][:, None]
    )
    attraction[np.arange(switching.size), old[switching]] = 0.0
    has_option = attraction.sum(axis=1) > 0
    chosen = bh.pick_column(attraction, u[switching] / share)
    destination[switching[has_option]] = chosen[has_option]
    return destination


def load_kernels(market: RelationshipMarket) -> None:
    """Run the churn kernels once on no customers (loading them from numba's cache)."""
    nobody, none = market.customers(slice(0, 0)), np.empty(0, dtype=np.float32)
    log_rates = churn_log_rates(nobody, none, market.firm_terms, market.churn_rules, 0)
    leavers(nobody, none, log_rates, 0)
