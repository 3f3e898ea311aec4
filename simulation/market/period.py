"""One period of the market: a few compiled passes over the customers, in the phases' order.

The phases keep their rules in their own modules (:mod:`simulation.market.phases`) as compiled
functions of one customer; the passes here call them in order for each customer, so that a
small market pays no Python overhead per phase and a large one reads its state few times:

1. :func:`move`: one pass in which each customer meets win-back or re-entry (if lapsed) and
   churn (if a customer), and is listed as a prospect or a promoter; then one pass over the
   promoters (their referral weight, once the programme's reach is known) and one over the
   prospects (acquisition, their exposure read from the network's CSR adjacency);
2. :func:`count`: the budgets' reach, then each customer's transactions
   (:func:`.phases.purchase.count_transactions`);
3. :func:`settle`: each customer's service, satisfaction and accounts
   (:func:`.phases.service.serve_customers`), then the lifecycle stages and counts of the
   books (:func:`.phases.books.lifecycle`).

Between them, Python only decides who is targeted (where a policy targets by value) and draws
the Gamma-Gamma amounts (where spend is drawn), from their own generators.

Per-firm decisions come between the loops inside the passes: a budget's reach depends on how
many customers it may reach, known only once every customer has been seen.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from simulation.market import response as bh
from simulation.market.parameters import ChurnRules, FirmTerms, MoveRules, Rules
from simulation.market.phases import acquisition, books, churn, purchase, service, win_back
from simulation.market.phases.loyalty import progress_to_reward
from simulation.market.phases.purchase import tenure_sensitivity
from simulation.market.population import ORIGIN, STAGE, Customers
from simulation.market.randomness import (
    N_UNIFORMS,
    U_BUY,
    U_CROSS,
    U_DROP,
    U_FAIL,
    U_LOYALTY,
    U_MOVE,
    U_PERSONAL,
    U_REFERRAL,
)
from simulation.scenario.schema import LEVERS

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

# What the passes tally per firm (plus 'no firm') for the books: rows of ``tally``.
TALLIES = (
    "acquired_advertising",
    "acquired_referral",
    "acquired_win_back",
    "acquired_from_rival",
    "churned_to_rival",
    "churned_out_of_market",
    "cost_referral",
    "cost_win_back",
    "cost_advertising",
)
(
    ACQUIRED_ADVERTISING,
    ACQUIRED_REFERRAL,
    ACQUIRED_WIN_BACK,
    ACQUIRED_FROM_RIVAL,
    CHURNED_TO_RIVAL,
    CHURNED_OUT,
    COST_REFERRAL,
    COST_WIN_BACK,
    COST_ADVERTISING,
) = range(len(TALLIES))
# Rows of ``counts``: customers at the start, and whom the service levers may reach.
CUSTOMERS_START, AIMED, FAILURES = range(3)
ADVERTISING, PROGRAMME, WIN_BACK_LEVER = (LEVERS.index(x) for x in LEVERS[:3])
SERVED_LEVER_ROWS = np.array([LEVERS.index(lever) for lever in service.SERVED_LEVERS])
SERVED_KINDS = np.array(
    [bh.KIND_CODES[bh.LEVER_KINDS[lever]] for lever in service.SERVED_LEVERS], dtype=np.int64
)

LAPSED, DISCOVERY, EVALUATION = STAGE["lapsed"], STAGE["discovery"], STAGE["evaluation"]
PURCHASE = STAGE["purchase"]
ADVERTISED, REFERRED = ORIGIN["advertising"], ORIGIN["referral"]
WON_BACK, FROM_RIVAL = ORIGIN["win_back"], ORIGIN["from_rival"]


class State(NamedTuple):
    """The population's arrays the passes need beyond :class:`Customers`, and scratch space."""

    stage: np.ndarray
    considering: np.ndarray
    referral_tendency: np.ndarray
    base_churn_rate: np.ndarray
    log_base_churn_rate: np.ndarray
    churn_probability: np.ndarray
    dropout_multiplier: np.ndarray  # BG/NBD: the marketing multiplier of the drop-out chance
    expected: np.ndarray  # expected transactions in a full period (lifetime value's basis)
    weight: np.ndarray  # scratch: promoters' referral weight this period, else 0
    prospects: np.ndarray  # scratch: rows of this period's prospects
    promoters: np.ndarray  # scratch: rows of this period's promoters
    everyone: np.ndarray  # all True: who is targeted where no policy targets by value
    no_one: np.ndarray  # all False: whose service is cut where no policy cuts it
    slot: np.ndarray  # scratch: a prospect's row while exposure is pushed, else -1


class Cohorts(NamedTuple):
    """The cohort tracker's counts (:class:`..cohorts.CohortTracker`); empty: not tracked."""

    size: np.ndarray
    base_sum: np.ndarray
    lost: np.ndarray
    base_lost: np.ndarray


class Network(NamedTuple):
    """The referral network's CSR adjacency and each customer's contacts (at least 1)."""

    indptr: np.ndarray
    indices: np.ndarray
    degree: np.ndarray


def run(market: RelationshipMarket) -> None:
    """Run the period's passes and leave the books' inputs on ``market``.

    Sets ``market.tally``, ``market.customers_start``, ``market.lever_cost``,
    ``market.sales`` and ``market.lifecycle``. Without targeting by value or drawn spend, the
    three passes run in one compiled call (:func:`whole_period`): each call from Python costs
    about 15 microseconds to unpack the arrays, as much as serving 300 customers.
    """
    f_none, step = market.n_firms, market.steps
    c, s, u, noise = market.customers(), market.state, market.u, market.noise
    terms, rules = market.firm_terms, market.rules
    spend = market.firm_table.spend * market.spend_scale
    tally = np.zeros((len(TALLIES), f_none + 1))
    counts = np.zeros((3, f_none + 1), dtype=np.int64)
    lever_cost = np.zeros((service.N_SERVED_LEVERS, f_none + 1))
    if market.steps - market.earliest_start >= len(market.serve_factor):  # past the horizon
        market.serve_factor = service.serve_cost_by_tenure(market, 2 * market.steps)
    serve_factor = market.serve_factor
    fixed = (terms, rules, market.unit_costs, market.links, market.cohort_counts)
    if not (market.targets_by_value or rules.service.gamma_gamma):
        sums, lifecycle = whole_period(
            c, s, u, noise, *fixed, spend, step, serve_factor, tally, counts, lever_cost
        )
    else:
        move(c, s, u, *fixed, spend, step, tally, counts)
        targeted, low_value = s.everyone, s.no_one
        if market.targets_by_value:
            targeted, low_value = service.value_segments(market, market.population.firm < f_none)
            counts[AIMED:] = service.lever_counts(c, targeted, u[U_FAIL], terms)
        reach = count(
            c, s, targeted, u, terms, rules, spend, market.unit_costs, counts, step, lever_cost
        )
        units = purchase.drawn_units(market) if rules.service.gamma_gamma else market.no_units
        sums, lifecycle = settle(
            c, s, targeted, low_value, u, noise, reach, terms, rules, step, serve_factor, units
        )
    market.tally = dict(zip(TALLIES, tally, strict=True))
    market.customers_start = counts[CUSTOMERS_START]
    market.lever_cost = dict(zip(service.SERVED_LEVERS, lever_cost, strict=True))
    market.sales = dict(zip(service.SUM_NAMES, sums, strict=True))
    market.sales["reward_cost"] = sums[service.SUM_NAMES.index("rewards")] * terms.reward_value
    market.lifecycle = lifecycle


@njit(cache=True, nogil=True, error_model="numpy")
def whole_period(
    c: Customers,
    s: State,
    u: np.ndarray,
    noise: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    unit_cost: np.ndarray,
    links: Network,
    cohorts: Cohorts,
    spend: np.ndarray,
    step: int,
    serve_factor: np.ndarray,
    tally: np.ndarray,
    counts: np.ndarray,
    lever_cost: np.ndarray,
):
    """:func:`move`, :func:`count` and :func:`settle` in one call.

    For markets where everyone is targeted and each transaction is the customer's mean (no
    drawn spend): nothing needs Python between the passes.
    """
    move(c, s, u, terms, rules, unit_cost, links, cohorts, spend, step, tally, counts)
    reach = count(c, s, s.everyone, u, terms, rules, spend, unit_cost, counts, step, lever_cost)
    drawn = np.zeros(0, dtype=np.float32)
    return settle(
        c, s, s.everyone, s.no_one, u, noise, reach, terms, rules, step, serve_factor, drawn
    )


# ---------------------------------------------------------------------------- relationships
@njit(inline="always")
def start_relationship(
    c: Customers,
    s: State,
    i: int,
    firm: int,
    origin: int,
    step: int,
    rules: MoveRules,
    cohorts: Cohorts,
) -> None:
    """Make customer ``i`` a new customer of ``firm`` this period."""
    c.firm[i] = firm
    s.stage[i] = PURCHASE
    c.acquired_at[i] = step
    c.origin[i] = origin
    c.points[i] = 0.0
    c.uplift[i] = 1.0
    c.strength[i] = rules.new_customer_strength
    c.dropped[i] = False
    s.considering[i] = c.match.shape[1]  # no firm
    c.satisfaction[i] = rules.satisfaction_at_par
    if firm == 0 and step < cohorts.size.shape[0]:  # tracked up to the horizon
        cohorts.size[step] += 1
        cohorts.base_sum[step] += s.base_churn_rate[i]


@njit(inline="always")
def end_relationship(c: Customers, s: State, i: int, step: int, cohorts: Cohorts) -> None:
    """Record the cohort exit of customer ``i`` (before its firm changes)."""
    joined = c.acquired_at[i]
    if c.firm[i] == 0 and joined >= 1 and step < cohorts.size.shape[0]:
        cohorts.lost[joined, step - joined] += 1
        cohorts.base_lost[joined, step - joined] += s.base_churn_rate[i]


# ---------------------------------------------------------------------------- 1. move
@njit(cache=True, nogil=True, error_model="numpy")
def move(
    c: Customers,
    s: State,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    unit_cost: np.ndarray,
    links: Network,
    cohorts: Cohorts,
    spend: np.ndarray,
    step: int,
    tally: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Win-back, churn and acquisition for every customer, in place.

    Args:
        c: the population's arrays.
        s: the rest of the state, and scratch space.
        u: the period's uniforms; reads ``U_MOVE`` (a re-entrant's is replaced by a fresh
            one), ``U_REFERRAL`` (is a promoter informed of the programme?) and ``U_FAIL`` (a
            service failure, counted for complaint handling).
        terms: per-firm settings.
        rules: the market's parameters.
        unit_cost: each lever's cost per treated customer.
        links: the referral network (an empty ``indptr`` for full mixing).
        cohorts: the cohort tracker's counts (empty: not tracked).
        spend: this period's spend, one row per lever (``LEVERS``), one column per firm.
        step: the current period.
        tally: written: ``(len(TALLIES), firms + 1)``.
        counts: written: customers at the start, and the service levers' eligible customers
            after acquisition (active customers, and those among them with a failure).
    """
    u_move, u_referral, u_fail = u[U_MOVE], u[U_REFERRAL], u[U_FAIL]
    churn_rules, moving = rules.churn, rules.move
    n, n_firms = c.firm.shape[0], terms.price.shape[0] - 1
    dt = moving.dt
    lapsed = np.zeros(n_firms + 1)
    for i in range(n):
        counts[CUSTOMERS_START, c.firm[i]] += 1
        if s.stage[i] == LAPSED:
            lapsed[c.last_firm[i]] += 1.0
    win_back_reach = np.zeros(n_firms + 1)
    for f in range(n_firms):
        budget = spend[WIN_BACK_LEVER, f]
        win_back_reach[f] = bh.reach_of(
            bh.CONTACT, budget, unit_cost[WIN_BACK_LEVER], lapsed[f], dt
        )
        tally[COST_WIN_BACK, f] += budget if lapsed[f] > 0 else 0.0

    promoters = np.zeros(n_firms + 1)
    n_prospects = n_promoters = 0
    # The arrays the loop reads, taken out of their tuples once: a tuple handed to a helper
    # for each customer would be copied each time.
    firm, stage, last_firm, acquired_at = c.firm, s.stage, c.last_firm, c.acquired_at
    satisfaction, churn_probability = c.satisfaction, s.churn_probability
    bgnbd, decline, floor = (
        moving.bgnbd > 0.0,
        churn_rules.sensitivity_decline,
        churn_rules.sensitivity_floor,
    )
    for i in range(n):
        if stage[i] == LAPSED:
            last = last_firm[i]
            outcome, fresh = win_back.lapsed_outcome(
                float(u_move[i]),
                float(c.price_sensitivity[i]),
                (c.left_at[i] - acquired_at[i]) * moving.years_per_period,
                win_back_reach[last],
                terms.log_win_back_offer[last],
                moving.win_back_success,
                moving.reentry_probability,
                decline,
                floor,
            )
            if outcome == win_back.WON_BACK:
                start_relationship(c, s, i, last, WON_BACK, step, moving, cohorts)
                tally[ACQUIRED_WIN_BACK, last] += 1
            elif outcome == win_back.REENTERS:
                stage[i] = DISCOVERY
                u_move[i] = fresh
        f = firm[i]
        if f < n_firms:
            # Churn: the customer's risk this period, kept for lifetime value.
            years = (step - acquired_at[i]) * moving.years_per_period
            log_base = 0.0 if bgnbd else float(s.log_base_churn_rate[i])
            log_rate = churn.log_churn_rate(
                log_base,
                float(satisfaction[i]),
                float(c.strength[i]),
                float(c.relational_weight[i]),
                tenure_sensitivity(float(c.price_sensitivity[i]), years, decline, floor),
                progress_to_reward(float(c.points[i]), terms.reward_threshold[f]),
                c.origin[i] == REFERRED,
                terms.log_price_ratio[f],
                terms.switching_cost[f],
                terms.log_churn_multiplier[f],
                churn_rules,
            )
            rate = math.exp(log_rate)
            if bgnbd:
                # The multiplier acts per transaction; a period's expected drop-out is kept.
                s.dropout_multiplier[i] = rate
                chance = 1.0 - (1.0 - float(c.dropout_chance[i])) ** rate
                churn_probability[i] = -math.expm1(-float(c.transaction_rate[i]) * dt * chance)
                probability = 1.0 if c.dropped[i] else 0.0
            else:
                probability = -math.expm1(-rate * dt)
            probability = churn.first_decision(probability, acquired_at[i], c.origin[i], step)
            if not bgnbd:
                churn_probability[i] = probability
            u = float(u_move[i])
            if churn.leaves(u, probability, acquired_at[i], step):
                # Given that it leaves (u < p), u / p is a fresh uniform for where to.
                leave(
                    c,
                    s,
                    i,
                    f,
                    u / probability,
                    rate * dt,
                    churn_rules,
                    terms,
                    moving,
                    step,
                    cohorts,
                    tally,
                )
        else:
            churn_probability[i] = 0.0
            s.dropout_multiplier[i] = 0.0
        f = firm[i]
        if stage[i] <= EVALUATION:
            s.prospects[n_prospects] = i
            n_prospects += 1
        elif f < n_firms:
            counts[AIMED, f] += 1
            if u_fail[i] < terms.failure_probability[f]:
                counts[FAILURES, f] += 1
            if satisfaction[i] >= moving.promoter_threshold:
                s.promoters[n_promoters] = i
                n_promoters += 1
                promoters[f] += 1
    if n_prospects > 0:
        acquire(
            c,
            s,
            n_prospects,
            n_promoters,
            promoters,
            u_move,
            u_referral,
            u_fail,
            terms,
            moving,
            spend,
            unit_cost,
            links,
            cohorts,
            step,
            tally,
            counts,
        )


@njit(inline="always")
def leave(
    c: Customers,
    s: State,
    i: int,
    old: int,
    u_where: float,
    hazard_periods: float,
    churn_rules: ChurnRules,
    terms: FirmTerms,
    rules: MoveRules,
    step: int,
    cohorts: Cohorts,
    tally: np.ndarray,
) -> None:
    """Customer ``i`` leaves firm ``old``: for a rival, or out of the market.

    ``u_where`` is a fresh uniform for where to; ``hazard_periods`` its churn hazard over a
    period, which says how long it still bought before leaving the market.
    """
    n_firms = terms.price.shape[0] - 1
    end_relationship(c, s, i, step, cohorts)
    c.left_at[i] = step
    years = (step - c.acquired_at[i]) * rules.years_per_period
    sensitivity = tenure_sensitivity(
        float(c.price_sensitivity[i]),
        years,
        churn_rules.sensitivity_decline,
        churn_rules.sensitivity_floor,
    )
    attraction = np.empty(n_firms)
    new = churn.destination(
        c.match[i], old, sensitivity, u_where, rules.switch_share, terms, attraction
    )
    c.dropped[i] = False
    if new < n_firms:
        tally[CHURNED_TO_RIVAL, old] += 1
        tally[ACQUIRED_FROM_RIVAL, new] += 1
        start_relationship(c, s, i, new, FROM_RIVAL, step, rules, cohorts)
        return
    tally[CHURNED_OUT, old] += 1
    c.firm[i] = n_firms
    c.last_firm[i] = old
    s.stage[i] = LAPSED
    c.points[i] = 0.0
    if rules.bgnbd == 0.0 and rules.poisson > 0.0:
        c.leaving_share[i] = churn.share_of_period_stayed(hazard_periods)


@njit(inline="always")
def acquire(
    c: Customers,
    s: State,
    n_prospects: int,
    n_promoters: int,
    promoters: np.ndarray,
    u_move: np.ndarray,
    u_referral: np.ndarray,
    u_fail: np.ndarray,
    terms: FirmTerms,
    rules: MoveRules,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    links: Network,
    cohorts: Cohorts,
    step: int,
    tally: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Prospects are reached by advertising and by referrals from promoters; some buy."""
    n_firms, dt = terms.price.shape[0] - 1, rules.dt
    ad_rate = np.empty(n_firms)
    programme_reach = np.zeros(n_firms + 1)
    for f in range(n_firms):
        ad_rate[f] = bh.advertising_hazard(
            spend[ADVERTISING, f], n_prospects, dt, rules.ad_ceiling, rules.ad_spend_scale
        )
        tally[COST_ADVERTISING, f] += spend[ADVERTISING, f]
    word_of_mouth = rules.referral_rate > 0.0
    totals = np.zeros(n_firms + 1)
    if word_of_mouth:
        for f in range(n_firms):
            budget = spend[PROGRAMME, f]
            programme_reach[f] = bh.reach_of(
                bh.STANDING, budget, unit_cost[PROGRAMME], promoters[f], dt
            )
            tally[COST_REFERRAL, f] += budget if promoters[f] > 0 else 0.0
        for k in range(n_promoters):
            j = s.promoters[k]
            f = c.firm[j]
            weight = acquisition.promoter_weight(
                float(s.referral_tendency[j]),
                (step - c.acquired_at[j]) * rules.years_per_period,
                rules.referral_growth,
                u_referral[j] < programme_reach[f],
                rules.programme_boost,
            )
            s.weight[j] = weight
            totals[f] += weight
    networked = links.indptr.shape[0] > 0
    exposure = np.zeros(n_firms + 1)
    referral_rate = np.zeros(n_firms)
    buying = np.empty(2 * n_firms)
    reached = np.empty(n_firms)
    indptr, indices, weight, firm = links.indptr, links.indices, s.weight, c.firm
    # Exposure is pulled along each prospect's links, or, where prospects outnumber half the
    # promoters (a young market), pushed along the promoters' links: fewer links either way.
    pushed = word_of_mouth and networked and 2 * n_prospects >= n_promoters
    heard_by = np.zeros((n_prospects if pushed else 0, n_firms + 1))
    if pushed:
        for k in range(n_prospects):
            s.slot[s.prospects[k]] = k
        acquisition.push_exposure(
            s.promoters[:n_promoters], indptr, indices, weight, firm, s.slot, heard_by
        )
        for k in range(n_prospects):
            s.slot[s.prospects[k]] = -1
    for k in range(n_prospects):
        a = s.prospects[k]
        if word_of_mouth:
            if networked:
                if pushed:
                    exposure[:] = heard_by[k]
                else:
                    acquisition.heard(a, indptr, indices, weight, firm, exposure)
                for f in range(n_firms):
                    referral_rate[f] = rules.referral_rate * exposure[f] / links.degree[a]
            else:
                for f in range(n_firms):
                    referral_rate[f] = rules.referral_rate * totals[f] / rules.customers
        code = acquisition.outcome(
            float(u_move[a]),
            ad_rate,
            referral_rate,
            terms.log_first_offer,
            float(c.price_sensitivity[a]),
            rules.ad_conversion,
            rules.referral_conversion,
            dt,
            buying,
            reached,
        )
        if code < 0:
            continue
        if code < n_firms:
            s.stage[a] = EVALUATION
            s.considering[a] = code
            continue
        choice = code - n_firms  # advertising codes, then referral codes
        won_by = choice % n_firms
        if choice >= n_firms:
            start_relationship(c, s, a, won_by, REFERRED, step, rules, cohorts)
            tally[ACQUIRED_REFERRAL, won_by] += 1
            tally[COST_REFERRAL, won_by] += terms.referral_reward[won_by]
        else:
            start_relationship(c, s, a, won_by, ADVERTISED, step, rules, cohorts)
            tally[ACQUIRED_ADVERTISING, won_by] += 1
        counts[AIMED, won_by] += 1
        if u_fail[a] < terms.failure_probability[won_by]:
            counts[FAILURES, won_by] += 1
    for k in range(n_promoters):  # the scratch weights go back to zero
        s.weight[s.promoters[k]] = 0.0


# ---------------------------------------------------------------------------- 2. count
@njit(cache=True, nogil=True, error_model="numpy")
def count(
    c: Customers,
    s: State,
    targeted: np.ndarray,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    counts: np.ndarray,
    step: int,
    lever_cost: np.ndarray,
) -> np.ndarray:
    """The service levers' reach per firm, and each customer's transactions this period.

    The thank-you answers purchases: its reach is decided once they are counted. Each lever's
    spend is booked in ``lever_cost`` where it had someone to reach. ``targeted`` says who
    gets the firms' retention effort (``s.everyone`` where no policy targets by value).

    Returns:
        ``(N_SERVED_LEVERS, firms + 1)``: the share of eligible customers each lever reaches.
    """
    n_firms, dt = terms.price.shape[0] - 1, rules.purchase.months
    reach = np.zeros((service.N_SERVED_LEVERS, n_firms + 1))
    for row in range(service.N_SERVED_LEVERS):
        if row == service.THANK_YOU:
            continue
        eligible = counts[FAILURES] if row == service.COMPLAINT_HANDLING else counts[AIMED]
        book_reach(row, eligible, spend, unit_cost, dt, reach, lever_cost)
    buyers = purchase.count_transactions(
        c,
        targeted,
        u[U_BUY],
        u[U_DROP],
        u[U_LOYALTY],
        u[U_PERSONAL],
        reach[service.LOYALTY],
        reach[service.PERSONALISATION],
        s.dropout_multiplier,
        terms,
        rules.purchase,
        step,
        s.expected,
    )
    book_reach(service.THANK_YOU, buyers, spend, unit_cost, dt, reach, lever_cost)
    return reach


@njit(inline="always")
def book_reach(
    row: int,
    eligible: np.ndarray,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    dt: float,
    reach: np.ndarray,
    lever_cost: np.ndarray,
) -> None:
    """Reach of served lever ``row`` for each firm, from its spend; the spend is booked."""
    lever = SERVED_LEVER_ROWS[row]
    for f in range(eligible.shape[0] - 1):
        budget = spend[lever, f]
        reach[row, f] = bh.reach_of(SERVED_KINDS[row], budget, unit_cost[lever], eligible[f], dt)
        lever_cost[row, f] = budget if eligible[f] > 0 else 0.0


# ---------------------------------------------------------------------------- 3. settle
@njit(cache=True, nogil=True, error_model="numpy")
def settle(
    c: Customers,
    s: State,
    targeted: np.ndarray,
    low_value: np.ndarray,
    u: np.ndarray,
    noise: np.ndarray,
    reach: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    step: int,
    serve_factor: np.ndarray,
    units: np.ndarray,
):
    """Serve every customer, then move them to their lifecycle stage and count the books.

    ``targeted`` and ``low_value`` say who gets the firms' retention effort and whose service
    is cut (``s.everyone`` and ``s.no_one`` without targeting by value); ``units`` is empty
    unless spend is drawn (the Gamma-Gamma model).

    Returns:
        The per-firm sums of :func:`.phases.service.serve_customers` and the counts of
        :func:`.phases.books.lifecycle`.
    """
    draws = service.Draws(u[U_BUY], u[U_FAIL], u[U_PERSONAL], u[U_CROSS], u[U_LOYALTY], noise)
    sums = service.serve_customers(
        c,
        targeted,
        low_value,
        draws,
        reach,
        terms,
        rules.service,
        step,
        serve_factor,
        s.expected,
        units,
    )
    n_firms = terms.price.shape[0] - 1
    lifecycle = books.lifecycle(c, s.stage, c.last_firm, s.considering, rules.stages, step, n_firms)
    return sums, lifecycle


def load_kernels(market: RelationshipMarket) -> None:
    """Run the passes once on no customers, as part of the set-up.

    The first call in a process loads them from numba's cache (compiling them the first time
    ever); a run's periods should not be charged for it.
    """
    nobody, n_firms = market.customers(slice(0, 0)), market.n_firms
    state = market.state._replace(
        **{name: getattr(market.state, name)[:0] for name in State._fields}
    )
    u, noise = np.zeros((N_UNIFORMS, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    fixed = (market.firm_terms, market.rules, market.unit_costs, market.links)
    spend, everyone, no_one = market.firm_table.spend, state.everyone, state.no_one
    tally = np.zeros((len(TALLIES), n_firms + 1))
    counts = np.zeros((3, n_firms + 1), dtype=np.int64)
    lever_cost = np.zeros((service.N_SERVED_LEVERS, n_firms + 1))
    whole_period(
        nobody,
        state,
        u,
        noise,
        *fixed,
        market.cohort_counts,
        spend,
        1,
        np.ones(2),
        tally,
        counts,
        lever_cost,
    )
    move(nobody, state, u, *fixed, market.cohort_counts, spend, 1, tally, counts)
    reach = count(
        nobody,
        state,
        everyone,
        u,
        market.firm_terms,
        market.rules,
        spend,
        market.unit_costs,
        counts,
        1,
        lever_cost,
    )
    settle(
        nobody,
        state,
        everyone,
        no_one,
        u,
        noise,
        reach,
        market.firm_terms,
        market.rules,
        1,
        np.ones(2),
        market.no_units,
    )
