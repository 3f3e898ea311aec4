"""Who comes and goes in a period: the first compiled pass (:mod:`simulation.market.period`).

One pass over the customers: each meets win-back or re-entry if lapsed
(:mod:`.phases.win_back`) and churn if a firm's customer (:mod:`.phases.churn`), and is listed
as a prospect or a promoter. Then one pass over the promoters (their referral weight, once the
programme's reach is known) and one over the prospects (acquisition, :mod:`.phases.acquisition`,
their exposure read from the network's CSR adjacency). Relationships start and end here, with
the cohort tracker's counts. :func:`move` runs the pass as one compiled call;
:func:`.blocks.move_blocks` runs the same steps block by block on threads, for a large market.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from simulation.market import response as bh
from simulation.market.parameters import FirmTerms, MoveRules, Rules
from simulation.market.phases import acquisition, churn, in_place, win_back
from simulation.market.phases.loyalty import progress_to_reward
from simulation.market.phases.purchase import tenure_sensitivity
from simulation.market.population import ORIGIN, STAGE, Customers
from simulation.market.randomness import U_FAIL, U_MOVE, U_REFERRAL
from simulation.scenario.schema import LEVERS

if TYPE_CHECKING:
    from simulation.market.period import Cohorts, Network, State

# What the pass tallies per firm (plus 'no firm') for the books: rows of ``tally``.
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
LAPSED, DISCOVERY, EVALUATION = STAGE["lapsed"], STAGE["discovery"], STAGE["evaluation"]
PURCHASE = STAGE["purchase"]
ADVERTISED, REFERRED = ORIGIN["advertising"], ORIGIN["referral"]
WON_BACK, FROM_RIVAL = ORIGIN["win_back"], ORIGIN["from_rival"]


@in_place
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


@in_place
def end_relationship(c: Customers, s: State, i: int, step: int, cohorts: Cohorts) -> None:
    """Record the cohort exit of customer ``i`` (before its firm changes)."""
    joined = c.acquired_at[i]
    if c.firm[i] == 0 and joined >= 1 and step < cohorts.size.shape[0]:
        cohorts.lost[joined, step - joined] += 1
        cohorts.base_lost[joined, step - joined] += s.base_churn_rate[i]


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

    The market as one block of customers; :func:`.blocks.move_blocks` runs the same steps
    block by block on several threads.

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
    n, moving = c.firm.shape[0], rules.move
    win_back_reach = open_period(c, s, spend, unit_cost, moving.dt, tally, counts)
    promoters = np.zeros(terms.price.shape[0])
    attraction = np.empty(terms.price.shape[0] - 1)
    listed = sort_customers(
        c, s, u, terms, rules, win_back_reach, cohorts, step, 0, n, tally, counts, promoters,
        attraction,
    )  # fmt: skip
    n_prospects, n_promoters = listed
    if n_prospects == 0:
        return
    ad_rate, programme_reach = acquisition_terms(
        terms, moving, spend, unit_cost, n_prospects, promoters, tally
    )
    totals = weigh_promoters(c, s, u[U_REFERRAL], programme_reach, moving, step, 0, n_promoters)
    n_firms = terms.price.shape[0] - 1
    heard_by = np.zeros((0, n_firms + 1))  # no rows: pulled
    if pushes_exposure(moving, links, n_prospects, n_promoters):
        prospects, promoters = s.prospects[:n_prospects], s.promoters[:n_promoters]
        heard_by = pushed_exposure(s.slot, prospects, promoters, links, s.weight, c.firm, n_firms)
    acquire(
        c,
        s,
        u,
        terms,
        moving,
        links,
        cohorts,
        step,
        0,
        n_prospects,
        ad_rate,
        totals,
        heard_by,
        tally,
        counts,
        prospect_scratch(n_firms),
    )
    forget_weights(s, 0, n_promoters)


@in_place(cache=True, nogil=True)
def sort_customers(
    c: Customers,
    s: State,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    win_back_reach: np.ndarray,
    cohorts: Cohorts,
    step: int,
    lo: int,
    hi: int,
    tally: np.ndarray,
    counts: np.ndarray,
    promoters: np.ndarray,
    attraction: np.ndarray,
) -> tuple[int, int]:
    """Win-back or re-entry and churn for customers ``lo`` to ``hi - 1``; who is a prospect.

    The rows of the prospects and promoters are written into ``s.prospects`` and
    ``s.promoters`` from ``lo`` on; ``promoters`` counts the promoters per firm.
    ``attraction`` is scratch space, one per firm (for where leavers go): compiled without
    numba's runtime (:func:`.phases.in_place`), this pass makes no arrays.

    Returns:
        How many prospects and promoters were listed.
    """
    u_move, u_fail = u[U_MOVE], u[U_FAIL]
    churn_rules, moving = rules.churn, rules.move
    n_firms = terms.price.shape[0] - 1
    dt = moving.dt
    n_prospects = n_promoters = 0
    # The arrays the loop reads, out of their tuples once rather than for each customer.
    firm, stage, last_firm, acquired_at = c.firm, s.stage, c.last_firm, c.acquired_at
    satisfaction, churn_probability = c.satisfaction, s.churn_probability
    bgnbd, decline, floor = (
        moving.bgnbd > 0.0,
        churn_rules.sensitivity_decline,
        churn_rules.sensitivity_floor,
    )
    for i in range(np.uint64(lo), np.uint64(hi)):
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
                churn_probability[i] = churn.period_dropout(
                    rate, float(c.dropout_chance[i]), float(c.transaction_rate[i]), dt
                )
                probability = 1.0 if c.dropped[i] else 0.0
            else:
                probability = -math.expm1(-rate * dt)
            probability = churn.first_decision(probability, acquired_at[i], c.origin[i], step)
            if not bgnbd:
                churn_probability[i] = probability  # every customer's current risk, for CLV
            u = float(u_move[i])
            if churn.leaves(u, probability, acquired_at[i], step):
                # Given that it leaves (u < p), u / p is a fresh uniform for where to.
                where, hazard = u / probability, rate * dt
                leave(c, s, i, f, where, hazard, rules, terms, step, cohorts, tally, attraction)
        else:
            churn_probability[i] = 0.0
            s.dropout_multiplier[i] = 0.0
        f = firm[i]
        if stage[i] <= EVALUATION:
            s.prospects[lo + n_prospects] = i
            n_prospects += 1
        elif f < n_firms:
            counts[AIMED, f] += 1
            if u_fail[i] < terms.failure_probability[f]:
                counts[FAILURES, f] += 1
            if satisfaction[i] >= moving.promoter_threshold:
                s.promoters[lo + n_promoters] = i
                n_promoters += 1
                promoters[f] += 1
    return n_prospects, n_promoters


@njit(cache=True, nogil=True)
def open_period(
    c: Customers,
    s: State,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    dt: float,
    tally: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Count each firm's customers and lapsed customers at the start; book win-back's spend.

    Returns:
        The share of each firm's lapsed customers its win-back budget reaches this period.
    """
    n_firms = spend.shape[1]
    lapsed = np.zeros(n_firms + 1)
    for i in range(c.firm.shape[0]):
        counts[CUSTOMERS_START, c.firm[i]] += 1
        if s.stage[i] == LAPSED:
            lapsed[c.last_firm[i]] += 1.0
    reach = np.zeros(n_firms + 1)
    for f in range(n_firms):
        budget = spend[WIN_BACK_LEVER, f]
        reach[f] = bh.reach_of(bh.CONTACT, budget, unit_cost[WIN_BACK_LEVER], lapsed[f], dt)
        tally[COST_WIN_BACK, f] += budget if lapsed[f] > 0 else 0.0
    return reach


@in_place
def leave(
    c: Customers,
    s: State,
    i: int,
    old: int,
    u_where: float,
    hazard_periods: float,
    market_rules: Rules,
    terms: FirmTerms,
    step: int,
    cohorts: Cohorts,
    tally: np.ndarray,
    attraction: np.ndarray,
) -> None:
    """Customer ``i`` leaves firm ``old``: for a rival, or out of the market.

    ``u_where`` is a fresh uniform for where to; ``hazard_periods`` its churn hazard over a
    period, which says how long it still bought before leaving the market. ``attraction``
    is scratch space, one per firm: this helper makes no arrays (:func:`.phases.in_place`).
    """
    n_firms = terms.price.shape[0] - 1
    churn_rules, rules = market_rules.churn, market_rules.move
    end_relationship(c, s, i, step, cohorts)
    c.left_at[i] = step
    years = (step - c.acquired_at[i]) * rules.years_per_period
    sensitivity = tenure_sensitivity(
        float(c.price_sensitivity[i]),
        years,
        churn_rules.sensitivity_decline,
        churn_rules.sensitivity_floor,
    )
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


@njit(cache=True, nogil=True)
def acquisition_terms(
    terms: FirmTerms,
    rules: MoveRules,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    n_prospects: int,
    promoters: np.ndarray,
    tally: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each firm's advertising hazard for its prospects and its programme's reach of promoters.

    Their spend is booked in ``tally`` (the programme's where it had promoters to reach).
    """
    n_firms, dt = terms.price.shape[0] - 1, rules.dt
    ad_rate = np.empty(n_firms)
    programme_reach = np.zeros(n_firms + 1)
    for f in range(n_firms):
        ad_rate[f] = bh.advertising_hazard(
            spend[ADVERTISING, f], n_prospects, dt, rules.ad_ceiling, rules.ad_spend_scale
        )
        tally[COST_ADVERTISING, f] += spend[ADVERTISING, f]
    if rules.referral_rate > 0.0:
        for f in range(n_firms):
            budget = spend[PROGRAMME, f]
            programme_reach[f] = bh.reach_of(
                bh.STANDING, budget, unit_cost[PROGRAMME], promoters[f], dt
            )
            tally[COST_REFERRAL, f] += budget if promoters[f] > 0 else 0.0
    return ad_rate, programme_reach


@njit(cache=True, nogil=True)
def prospect_scratch(n_firms: int) -> tuple:
    """Scratch space for :func:`acquire`, one per thread.

    Exposure, rates and hazards by firm, and the last reach hazard with its chance
    (:func:`.phases.acquisition.outcome`).
    """
    return (
        np.zeros(n_firms + 1),
        np.zeros(n_firms),
        np.empty(2 * n_firms),
        np.empty(n_firms),
        np.empty(2),
    )


@njit(cache=True, nogil=True)
def weigh_promoters(
    c: Customers,
    s: State,
    u_referral: np.ndarray,
    programme_reach: np.ndarray,
    rules: MoveRules,
    step: int,
    start: int,
    count: int,
) -> np.ndarray:
    """The referral weights of the promoters listed in ``s.promoters[start:start + count]``.

    Written into ``s.weight`` (zero for everyone else) where there is word of mouth.

    Returns:
        The weights summed per firm (``firms + 1``).
    """
    totals = np.zeros(programme_reach.shape[0])
    if rules.referral_rate > 0.0:
        for k in range(start, start + count):
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
    return totals


@njit(cache=True, nogil=True)
def forget_weights(s: State, start: int, count: int) -> None:
    """The listed promoters' scratch weights go back to zero."""
    for k in range(start, start + count):
        s.weight[s.promoters[k]] = 0.0


@njit(cache=True)
def pushes_exposure(rules: MoveRules, links: Network, prospects: int, promoters: int) -> bool:
    """Whether exposure is pushed along the promoters' links rather than pulled.

    Exposure is pulled along each prospect's links (:func:`acquire`), or, where there are
    fewer links to visit from the promoters (a young market), pushed along theirs
    (:func:`pushed_exposure`): the same sums in the same order either way. ``promoters`` is
    weighed by how many threads would share the pull.
    """
    return rules.referral_rate > 0.0 and links.indptr.shape[0] > 0 and 2 * prospects >= promoters


@njit(cache=True, nogil=True)
def pushed_exposure(
    slot: np.ndarray,
    prospects: np.ndarray,
    promoters: np.ndarray,
    links: Network,
    weight: np.ndarray,
    firm: np.ndarray,
    n_firms: int,
) -> np.ndarray:
    """Every prospect's exposure, pushed from the promoters along their links.

    ``prospects`` and ``promoters`` are rows in ascending order; ``slot`` is scratch (-1 for
    everyone, and again so on return).

    Returns:
        ``(prospects, firms + 1)``: row ``k`` is the exposure of ``prospects[k]``.
    """
    heard_by = np.zeros((prospects.shape[0], n_firms + 1))
    for k in range(prospects.shape[0]):
        slot[prospects[k]] = k
    acquisition.push_exposure(promoters, links.indptr, links.indices, weight, firm, slot, heard_by)
    for k in range(prospects.shape[0]):
        slot[prospects[k]] = -1
    return heard_by


@in_place(cache=True, nogil=True)
def acquire(
    c: Customers,
    s: State,
    u: np.ndarray,
    terms: FirmTerms,
    rules: MoveRules,
    links: Network,
    cohorts: Cohorts,
    step: int,
    start: int,
    count: int,
    ad_rate: np.ndarray,
    totals: np.ndarray,
    heard_by: np.ndarray,
    tally: np.ndarray,
    counts: np.ndarray,
    scratch: tuple,
) -> None:
    """Prospects are reached by advertising and by referrals from promoters; some buy.

    For the prospects listed in ``s.prospects[start:start + count]``. ``ad_rate`` is each
    firm's advertising hazard, ``totals`` its promoters' summed referral weight (the exposure
    under full mixing); ``heard_by`` each prospect's exposure where it was pushed (no rows:
    pulled here along the prospect's links). Reads the ``U_MOVE`` and ``U_FAIL`` uniforms.
    ``scratch`` is :func:`prospect_scratch`, one per thread.

    Compiled without numba's runtime (:func:`.phases.in_place`): its calls of
    :func:`start_relationship` would otherwise cost two atomic operations per array of the
    population's tuples for every customer won.
    """
    u_move, u_fail = u[U_MOVE], u[U_FAIL]
    n_firms, dt = terms.price.shape[0] - 1, rules.dt
    word_of_mouth = rules.referral_rate > 0.0
    networked = links.indptr.shape[0] > 0
    pushed = heard_by.shape[0] > 0
    exposure, referral_rate, buying, reached, last_reach = scratch
    last_reach[0] = np.nan  # no prospect seen yet
    indptr, indices, weight, firm = links.indptr, links.indices, s.weight, c.firm
    for k in range(start, start + count):
        a = s.prospects[k]
        if word_of_mouth:
            if networked:
                if pushed:
                    for f in range(n_firms + 1):
                        exposure[f] = heard_by[k - start, f]
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
            last_reach,
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
