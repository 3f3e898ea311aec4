"""The per-customer rules of a period, compiled with numba as passes over the customers.

A phase of the model is a few dozen arithmetic steps per customer. Written as whole-array
numpy operations, the service phase alone took about a hundred passes over million-element
arrays, each streaming megabytes through memory for one or two operations. Here each rule reads
as one customer's story and runs in one pass: the churn hazard, the acquisition of prospects,
the service (purchase, failure and recovery, contacts, satisfaction, trust, expectations,
accounts, loyalty points) and the lifecycle counts of the books.

The kernels draw no random numbers: they read the model's block of uniforms, drawn before. They
take the population's arrays as they are (views, not copies) and update them in place; what is
decided per firm (how far a budget reaches) is decided by the model between passes.

They are plain Python: with ``NUMBA_DISABLE_JIT=1`` in the environment they run uncompiled
(slowly), which lets a debugger step through a customer's period; ``tests/test_kernels.py``
checks that both ways give the same tables.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from simulation.market.population import ORIGIN, STAGE

# The budget-funded levers of the service phase: rows of ``lever_counts`` and of the reach table
# (firms in columns).
LEVERS = ("complaint_handling", "thank_you", "personalisation", "cross_sell", "loyalty")
COMPLAINT_HANDLING, THANK_YOU, PERSONALISATION, CROSS_SELL, LOYALTY = range(len(LEVERS))
N_LEVERS = len(LEVERS)
# Rows of the per-firm sums returned by ``serve_customers``.
SUM_NAMES = ("revenue", "product", "service", "discount", "rewards")
WIN_BACK = ORIGIN["win_back"]
REFERRAL = ORIGIN["referral"]
N_STAGES = len(STAGE)
PURCHASE, EXPERIENCE, BONDING = STAGE["purchase"], STAGE["experience"], STAGE["bonding"]
ADVOCACY, LAPSED, EVALUATION = STAGE["advocacy"], STAGE["lapsed"], STAGE["evaluation"]


class Customers(NamedTuple):
    """The population's arrays the kernels read or update (a view, not a copy)."""

    firm: np.ndarray
    price_sensitivity: np.ndarray
    acquired_at: np.ndarray
    origin: np.ndarray
    channel: np.ndarray
    response: np.ndarray
    contact_tolerance: np.ndarray
    units: np.ndarray
    match: np.ndarray
    satisfaction: np.ndarray
    expectation: np.ndarray
    strength: np.ndarray
    points: np.ndarray
    uplift: np.ndarray
    purchases: np.ndarray
    last_purchase: np.ndarray
    monetary: np.ndarray
    margin: np.ndarray


class FirmTerms(NamedTuple):
    """Per-firm settings, one entry per firm plus one for 'no firm' (float64 unless noted)."""

    price: np.ndarray
    unit_cost: np.ndarray
    cost_to_serve: np.ndarray
    quality: np.ndarray
    failure_probability: np.ndarray
    first_discount: np.ndarray
    win_back_discount: np.ndarray
    points_per_money: np.ndarray
    reward_threshold: np.ndarray
    switching_cost: np.ndarray  # churn: exp(-switching cost x progress to the next reward)
    log_price_ratio: np.ndarray  # churn: log of the price over the cheapest rival's
    reward_value: np.ndarray
    loyalty_on: np.ndarray  # bool
    contact_channel: np.ndarray  # int8, -1: no channel of its own
    serve_cut: np.ndarray  # share of cost to serve saved on low-value customers
    quality_drop: np.ndarray  # quality they lose


@njit(inline="always")
def one_if(flag: bool) -> float:
    """1.0 where ``flag`` holds, else 0.0."""
    return 1.0 if flag else 0.0


@njit(inline="always")
def pick(weights: np.ndarray, target: float) -> int:
    """The option whose share of the running total holds ``target`` (the last if none)."""
    running = 0.0
    for k in range(weights.shape[0] - 1):
        running += weights[k]
        if target < running:
            return k
    return weights.shape[0] - 1


# --------------------------------------------------------------------------- churn


class ChurnRules(NamedTuple):
    """The market's parameters for the churn hazard."""

    satisfaction_weight: float
    satisfaction_at_par: float
    strength_weight: float
    price_weight: float
    sensitivity_decline: float  # per year of tenure, 0 unless the tenure effect is on
    log_referred_multiplier: float
    years_per_period: float


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
        if f >= n_firms or log_base_rate[i] == -np.inf:
            out[i] = -np.inf
            continue
        response = c.response[i]
        years = (step - c.acquired_at[i]) * rules.years_per_period
        sensitivity = c.price_sensitivity[i] * max(1.0 - rules.sensitivity_decline * years, 0.3)
        progress = min(c.points[i] / terms.reward_threshold[f], 1.0)
        log_rate = (
            log_base_rate[i]
            + rules.satisfaction_weight * (rules.satisfaction_at_par - c.satisfaction[i])
            - rules.strength_weight * c.strength[i] * response
            + rules.price_weight * sensitivity * terms.log_price_ratio[f]
            - terms.switching_cost[f] * progress * response
            + rules.log_referred_multiplier * one_if(c.origin[i] == REFERRAL)
        )
        # A monthly rate of e^20 is certain churn; the cap keeps extreme inputs finite.
        out[i] = min(log_rate, 20.0)
    return out


@njit(cache=True, nogil=True)
def leavers(c: Customers, u: np.ndarray, probability: np.ndarray, step: int) -> np.ndarray:
    """Rows of the customers who leave this period: ``u < probability``.

    This period's newcomers stay.
    """
    rows = np.empty(c.firm.shape[0], dtype=np.intp)
    count = 0
    for i in range(c.firm.shape[0]):
        rows[count] = i
        count += (u[i] < probability[i]) & (c.acquired_at[i] < step)
    return rows[:count].copy()


# --------------------------------------------------------------------------- acquisition


@njit(cache=True, nogil=True)
def acquisitions(
    u: np.ndarray,
    ad_rate: np.ndarray,
    referral_rate: np.ndarray,
    response: np.ndarray,
    ad_conversion: float,
    referral_conversion: float,
    dt: float,
) -> np.ndarray:
    """What happens to each prospect this period, given its uniform ``u``.

    A prospect meets each firm's advertising (monthly hazard ``ad_rate[f]``) and its
    referrals (``referral_rate[f, a]``); ``response[f, a]`` is its response to the firm's
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
            buying[f] = ad_rate[f] * min(ad_conversion * response[f, a], 1.0)
            buying[n_firms + f] = heard * min(referral_conversion * response[f, a], 1.0)
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


# --------------------------------------------------------------------------- service


class ServiceRules(NamedTuple):
    """The market's behaviour and response parameters used by the service phase."""

    purchase_probability: float
    satisfaction_at_par: float
    learning_weight: float
    quality_noise: float
    failure_penalty: float
    forgiveness: float
    recovery_paradox: float
    contact_benefit: float
    wrong_channel_penalty: float
    thank_you_satisfaction: float
    personalisation_satisfaction: float
    cross_sell_satisfaction: float
    strength_gain: float
    strength_loss: float
    thank_you_strength: float
    personalisation_strength: float
    expectation_adaptation: float
    expectation_drift: float  # per period, 0 unless the tenure effect is on
    complaint_success: float
    cross_sell_acceptance: float
    spend_uplift: float
    max_uplift: float
    spend_growth: float  # per year of tenure, 0 unless the tenure effect is on
    loyalty_reward_satisfaction: float
    reference_price: float
    years_per_period: float


class Draws(NamedTuple):
    """This period's uniforms for the service phase (one entry per customer) and the noise."""

    buy: np.ndarray  # purchase; given a purchase, u / p decides the thank-you
    fail: np.ndarray  # failure; given a failure, u / p decides the recovery
    personal: np.ndarray
    cross: np.ndarray  # offered if u < reach, accepted if u < reach x acceptance
    loyalty: np.ndarray
    noise: np.ndarray  # standard normal, the quality experienced


@njit(cache=True)
def contact_effect(
    contacts: float,
    unwanted: float,
    tolerance: float,
    response: float,
    benefit: float,
    penalty: float,
) -> float:
    """Satisfaction change from a period's contacts: an inverted U peaking at ``tolerance``.

    Wanted contacts help up to the ideal number and hurt beyond it (Godfrey, Seiders & Voss
    2011); each contact in an unwanted channel irritates on top.
    """
    shape = contacts - contacts * contacts / (2.0 * tolerance)
    return benefit * response * shape - penalty * unwanted


@njit(cache=True, nogil=True)
def lever_counts(
    c: Customers, targeted: np.ndarray, d: Draws, terms: FirmTerms, purchase_probability: float
) -> np.ndarray:
    """Customers each budget-funded lever may reach, per firm: ``(N_LEVERS, firms + 1)``.

    Complaint handling reaches targeted customers who met a failure, the thank-you targeted
    buyers, personalisation, cross-selling and loyalty every targeted customer.
    """
    n_firms = terms.price.shape[0] - 1
    failures = np.zeros(n_firms + 1, dtype=np.int64)
    buyers = np.zeros(n_firms + 1, dtype=np.int64)
    aimed = np.zeros(n_firms + 1, dtype=np.int64)
    for i in range(c.firm.shape[0]):
        f = c.firm[i]  # the 'no firm' column is counted too, and dropped
        eligible = targeted[i] & (f < n_firms)
        failures[f] += eligible & (d.fail[i] < terms.failure_probability[f])
        buyers[f] += eligible & (d.buy[i] < purchase_probability)
        aimed[f] += eligible
    counts = np.empty((N_LEVERS, n_firms + 1), dtype=np.int64)
    counts[COMPLAINT_HANDLING] = failures
    counts[THANK_YOU] = buyers
    counts[PERSONALISATION] = counts[CROSS_SELL] = counts[LOYALTY] = aimed
    return counts


@njit(cache=True, nogil=True)
def serve_customers(
    c: Customers,
    targeted: np.ndarray,
    low_value: np.ndarray,
    d: Draws,
    reach: np.ndarray,
    terms: FirmTerms,
    rules: ServiceRules,
    step: int,
    serve_factor: np.ndarray,
) -> np.ndarray:
    """Apply a period's service to every customer of a firm, in place.

    Args:
        c: the population's arrays; satisfaction, expectation, strength, points, uplift,
            purchases, last purchase, monetary value and expected margin are updated.
        targeted: customers who get the firms' retention effort.
        low_value: customers whose service is cut.
        d: the period's draws.
        reach: ``(N_LEVERS, firms + 1)``, the share of eligible customers each lever reaches.
        terms: per-firm settings.
        rules: the market's parameters.
        step: the current period.
        serve_factor: the share of the cost to serve still paid, by tenure in periods
            (``step - acquired_at``); ones unless the tenure effect is on.

    Returns:
        ``(len(SUM_NAMES), firms + 1)`` per-firm sums: revenue, product cost, cost to serve,
        discounts given and rewards redeemed.
    """
    n_firms = terms.price.shape[0] - 1
    sums = np.zeros((len(SUM_NAMES), n_firms + 1))
    p_buy = rules.purchase_probability
    for i in range(c.firm.shape[0]):
        f = c.firm[i]
        if f >= n_firms:
            c.margin[i] = 0.0
            continue
        response = c.response[i]

        # What happens: purchase, failure and its recovery, the relationship actions.
        bought = d.buy[i] < p_buy
        p_fail = terms.failure_probability[f]
        failed = d.fail[i] < p_fail
        # Flags are combined with & rather than `and`: a branch on a random outcome costs
        # more than evaluating both sides.
        aimed = targeted[i]
        recovered = False
        if failed and aimed:  # rare
            recovered = d.fail[i] / p_fail < reach[COMPLAINT_HANDLING, f] * rules.complaint_success
        thanked = aimed & bought & (d.buy[i] < p_buy * reach[THANK_YOU, f])
        personal = aimed & (d.personal[i] < reach[PERSONALISATION, f])
        offered = aimed & (d.cross[i] < reach[CROSS_SELL, f])
        accepted = aimed & (d.cross[i] < reach[CROSS_SELL, f] * rules.cross_sell_acceptance)
        member = aimed & (d.loyalty[i] < reach[LOYALTY, f]) & terms.loyalty_on[f]
        unrecovered = failed and not recovered

        # Contacts: personalised service uses the preferred channel, the rest the policy's.
        via_policy = one_if(thanked) + one_if(offered) + one_if(member)
        channel = terms.contact_channel[f]
        unwanted = via_policy if channel >= 0 and channel != c.channel[i] else 0.0
        contact = contact_effect(
            via_policy + one_if(personal),
            unwanted,
            c.contact_tolerance[i],
            response,
            rules.contact_benefit,
            rules.wrong_channel_penalty,
        )

        # Satisfaction: lasting fit with the firm plus the disconfirmation of expectations.
        strength = c.strength[i]
        experienced = terms.quality[f] + rules.quality_noise * d.noise[i]
        if unrecovered:
            experienced -= rules.failure_penalty * (1.0 - rules.forgiveness * strength)
        if low_value[i]:
            experienced -= terms.quality_drop[f]
        boosts = response * (
            rules.thank_you_satisfaction * one_if(thanked)
            + rules.personalisation_satisfaction * one_if(personal)
            + rules.cross_sell_satisfaction * one_if(offered)
        )
        expectation = c.expectation[i]
        target = (
            rules.satisfaction_at_par
            + c.match[i, f]
            + (experienced - expectation)
            + rules.recovery_paradox * one_if(recovered)
            + boosts
            + contact
        )
        target = min(max(target, 0.0), 1.0)
        satisfaction = c.satisfaction[i]
        satisfaction += rules.learning_weight * (target - satisfaction)

        # Trust grows with good experiences and relationship actions, falls after a failure
        # that was not put right.
        gain = response * (
            rules.strength_gain * one_if(target >= rules.satisfaction_at_par)
            + rules.thank_you_strength * one_if(thanked)
            + rules.personalisation_strength * one_if(personal)
        )
        loss = rules.strength_loss * strength if unrecovered else 0.0
        strength = strength + gain * (1.0 - strength) - loss
        c.strength[i] = min(max(strength, 0.0), 1.0)

        # Expectations adapt to what was experienced and may rise with tenure.
        expectation += rules.expectation_adaptation * (experienced - expectation)
        c.expectation[i] = min(max(expectation + rules.expectation_drift, 0.0), 1.0)

        # Accounts: revenue at the list price less any discount on a first purchase.
        years = (step - c.acquired_at[i]) * rules.years_per_period
        demand = c.units[i] * c.uplift[i] * (1.0 + rules.spend_growth * years)
        units = demand if bought else 0.0
        discount = 0.0
        if c.acquired_at[i] == step:
            discount = (
                terms.win_back_discount[f] if c.origin[i] == WIN_BACK else terms.first_discount[f]
            )
        price = terms.price[f]
        revenue = units * price * (1.0 - discount)
        serve = terms.cost_to_serve[f] * serve_factor[step - c.acquired_at[i]]
        if low_value[i]:
            serve *= 1.0 - terms.serve_cut[f]
        # Expected margin per period at list price, the basis of lifetime value.
        c.margin[i] = p_buy * demand * (price - terms.unit_cost[f]) - serve

        # Loyalty: members earn points on what they spend; a full card is a reward and a smile.
        points = c.points[i] + revenue * terms.points_per_money[f] * one_if(member)
        threshold = terms.reward_threshold[f]
        rewards = math.floor(points / threshold) * one_if(terms.loyalty_on[f])
        points -= rewards * threshold
        delight = rules.loyalty_reward_satisfaction * terms.reward_value[f] / rules.reference_price
        satisfaction += delight * response * one_if(rewards > 0)
        c.points[i] = points
        c.satisfaction[i] = min(satisfaction, 1.0)
        uplift = c.uplift[i]
        c.uplift[i] = (
            min(uplift + rules.spend_uplift, 1.0 + rules.max_uplift) if accepted else uplift
        )
        c.purchases[i] += bought
        c.last_purchase[i] = step if bought else c.last_purchase[i]
        c.monetary[i] += revenue

        sums[0, f] += revenue
        sums[1, f] += units * terms.unit_cost[f]
        sums[2, f] += serve
        sums[3, f] += units * price * discount
        sums[4, f] += rewards
    return sums


# --------------------------------------------------------------------------- books


class StageRules(NamedTuple):
    """Thresholds of the lifecycle stages and of the net promoter score."""

    bonding_threshold: float
    promoter_threshold: float
    detractor_threshold: float


@njit(cache=True, nogil=True)
def lifecycle(
    c: Customers,
    stage: np.ndarray,
    last_firm: np.ndarray,
    considering: np.ndarray,
    rules: StageRules,
    step: int,
    n_firms: int,
):
    """Move customers to their lifecycle stage and count what the books report, per firm.

    A customer is in the purchase stage in the period it was won, then in experience, bonding
    (trust above the threshold) or advocacy (bonded and a promoter). Stages of people without
    a firm are left as they are.

    Returns:
        ``(by_stage, satisfaction, promoters, detractors, lapsed, evaluating)``: people by firm
        (``n_firms`` for none) and stage, their summed satisfaction, promoters and detractors
        by firm; lapsed people by their last firm and evaluating prospects by the firm they
        consider.
    """
    by_stage = np.zeros((n_firms + 1, N_STAGES), dtype=np.int64)
    satisfaction = np.zeros(n_firms + 1)
    promoters = np.zeros(n_firms + 1, dtype=np.int64)
    detractors = np.zeros(n_firms + 1, dtype=np.int64)
    lapsed = np.zeros(n_firms + 1, dtype=np.int64)
    evaluating = np.zeros(n_firms + 1, dtype=np.int64)
    for i in range(c.firm.shape[0]):
        f = c.firm[i]
        sat = c.satisfaction[i]
        promoter = sat >= rules.promoter_threshold
        s = stage[i]
        if f < n_firms:
            bonded = c.strength[i] >= rules.bonding_threshold
            s = ADVOCACY if bonded & promoter else (BONDING if bonded else EXPERIENCE)
            s = PURCHASE if c.acquired_at[i] == step else s
            stage[i] = s
        by_stage[f, s] += 1
        satisfaction[f] += sat
        promoters[f] += promoter
        detractors[f] += sat < rules.detractor_threshold
        lapsed[last_firm[i]] += s == LAPSED
        evaluating[considering[i]] += s == EVALUATION
    return by_stage, satisfaction, promoters, detractors, lapsed, evaluating
