"""Service: a period of each customer's relationship with its firm.

A customer buys (``purchase_probability``), may meet a service failure, which complaint
handling may put right, and receives the relationship actions its firm's budgets reach:
a thank-you after a purchase, personalised service, cross-selling offers, loyalty points. Its
satisfaction moves towards its fit with the firm plus the disconfirmation of its expectations,
lifted by recovery and by the actions (weighed by how relational the customer is) and by the
contacts up to its tolerance; trust grows with good experiences and falls after a failure left
unrecovered; expectations adapt to what was experienced. The firm books the revenue, the cost of
the product and the cost to serve, which may fall with tenure and be cut for low-value
customers.

Two compiled passes: one counts whom each budget-funded lever may reach, the budgets' reach is
decided per firm in between (diminishing returns), and one serves every customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from simulation.market import response as bh
from simulation.market.parameters import FirmTerms, ServiceRules
from simulation.market.phases import one_if
from simulation.market.phases.loyalty import earn_points, reward_cost, reward_delight, rewards_due
from simulation.market.population import ORIGIN, Customers
from simulation.market.randomness import U_BUY, U_CROSS, U_FAIL, U_LOYALTY, U_PERSONAL

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

# The budget-funded levers of the service phase, in kernel order: rows of ``lever_counts`` and
# of the reach table (firms in columns).
SERVED_LEVERS = ("complaint_handling", "thank_you", "personalisation", "cross_sell", "loyalty")
COMPLAINT_HANDLING, THANK_YOU, PERSONALISATION, CROSS_SELL, LOYALTY = range(len(SERVED_LEVERS))
N_SERVED_LEVERS = len(SERVED_LEVERS)
# Rows of the per-firm sums returned by ``serve_customers``.
SUM_NAMES = ("revenue", "product", "service", "discount", "rewards")
WIN_BACK = ORIGIN["win_back"]


class Draws(NamedTuple):
    """This period's uniforms for the service phase (one entry per customer) and the noise."""

    buy: np.ndarray  # purchase; given a purchase, u / p decides the thank-you
    fail: np.ndarray  # failure; given a failure, u / p decides the recovery
    personal: np.ndarray
    cross: np.ndarray  # offered if u < reach, accepted if u < reach x acceptance
    loyalty: np.ndarray
    noise: np.ndarray  # standard normal, the quality experienced


def serve(market: RelationshipMarket) -> None:
    """Customers buy, meet failures and receive contacts; their state moves accordingly.

    Updates satisfaction, expectations, trust, spending and loyalty points, and books each
    firm's sales. The budgets' reach is decided here, per firm, between the kernels' two passes.
    """
    pop, r, f_none = market.population, market.config.market.responses, market.n_firms
    targeted, low_value = value_segments(market, pop.firm < f_none)
    customers, u = market.customers(), market.u
    draws = Draws(u[U_BUY], u[U_FAIL], u[U_PERSONAL], u[U_CROSS], u[U_LOYALTY], market.noise)
    terms = market.firm_terms
    counts = lever_counts(
        customers, targeted, draws, terms, market.service_rules.purchase_probability
    )
    reach = np.zeros((N_SERVED_LEVERS, f_none + 1))
    for row, lever in enumerate(SERVED_LEVERS):
        reach[row, :f_none] = lever_reach(
            market, lever, counts[row, :f_none], getattr(r, lever).unit_cost
        )
    sums = serve_customers(
        customers,
        targeted,
        low_value,
        draws,
        reach,
        terms,
        market.service_rules,
        market.steps,
        serve_cost_by_tenure(market),
    )
    market.sales = dict(zip(SUM_NAMES, sums, strict=True))
    market.sales["reward_cost"] = reward_cost(sums[SUM_NAMES.index("rewards")], terms.reward_value)


def serve_cost_by_tenure(market: RelationshipMarket) -> np.ndarray:
    """Share of the cost to serve still paid, by tenure in periods (0 to the longest).

    With the tenure effect on, serving a customer gets cheaper over the first years:
    ``1 - size * (1 - exp(-4 * years))``. A table by tenure spares an exponential per
    customer.
    """
    effect = market.config.market.tenure_effects.cost_to_serve
    decline = effect.size if effect.enabled else 0.0
    # Relationships start only from now on: the longest tenure is steps - earliest_start.
    years = np.arange(market.steps - market.earliest_start + 1) * (market.dt / 12)
    return 1 - decline * -np.expm1(-years * 4.0)


def lever_reach(
    market: RelationshipMarket, lever: str, eligible: np.ndarray, unit_cost: float
) -> np.ndarray:
    """Share of each firm's ``eligible`` customers a lever reaches; its spend is booked."""
    spend = market.firm_table.spend_on(lever)
    market.lever_cost[lever] = np.where(eligible > 0, spend, 0.0)
    return bh.coverage(spend, unit_cost, eligible)


def value_segments(market: RelationshipMarket, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Who gets retention effort (top share by value) and whose service is cut (bottom)."""
    targeted = active.copy()
    low_value = np.zeros(active.shape, dtype=bool)
    targeting = market.firm_table.targeting
    if all(t.by == "none" for t in targeting):
        return targeted, low_value
    pop = market.population
    for index, rule in enumerate(targeting):
        if rule.by == "none":
            continue
        mine = pop.firm == index
        score = value_scores(market, rule.by)
        if not mine.any():
            continue
        if rule.top_share < 1:
            cut = np.quantile(score[mine], 1 - rule.top_share)
            targeted[mine] = score[mine] >= cut
        if rule.serve_cut_share > 0 and rule.serve_cut > 0:
            floor = np.quantile(score[mine], rule.serve_cut_share)
            low_value[mine] = score[mine] <= floor
    return targeted, low_value


def value_scores(market: RelationshipMarket, by: str) -> np.ndarray:
    """Customer value by RFM (recency x frequency x monetary per period) or expected CLV."""
    pop, step = market.population, market.steps
    if by == "clv":
        return market.expected_values()
    tenure = np.maximum(step - pop.acquired_at, 1)
    recency = 1.0 / (1.0 + np.maximum(step - pop.last_purchase, 0))
    return recency * (pop.purchases / tenure) * (pop.monetary / tenure)


@njit(cache=True)
def contact_effect(
    contacts: float,
    unwanted: float,
    tolerance: float,
    relational_weight: float,
    benefit: float,
    penalty: float,
) -> float:
    """Satisfaction change from a period's contacts: an inverted U peaking at ``tolerance``.

    Wanted contacts help up to the ideal number and hurt beyond it (Godfrey, Seiders & Voss
    2011); each contact in an unwanted channel irritates on top.
    """
    shape = contacts - contacts * contacts / (2.0 * tolerance)
    return benefit * relational_weight * shape - penalty * unwanted


@njit(cache=True, nogil=True)
def lever_counts(
    c: Customers, targeted: np.ndarray, d: Draws, terms: FirmTerms, purchase_probability: float
) -> np.ndarray:
    """Customers each budget-funded lever may reach, per firm: ``(N_SERVED_LEVERS, firms + 1)``.

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
    counts = np.empty((N_SERVED_LEVERS, n_firms + 1), dtype=np.int64)
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
        reach: ``(N_SERVED_LEVERS, firms + 1)``, the share of eligible customers each lever
            reaches.
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
        relational = c.relational_weight[i]

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
            relational,
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
        boosts = relational * (
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
        gain = relational * (
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
        points = earn_points(c.points[i], revenue, terms.points_per_money[f], member)
        threshold = terms.reward_threshold[f]
        rewards = rewards_due(points, threshold, terms.loyalty_on[f])
        points -= rewards * threshold
        satisfaction += reward_delight(rewards, terms.reward_value[f], rules, relational)
        c.points[i] = points
        c.satisfaction[i] = min(satisfaction, 1.0)

        # Cross-selling: an accepted offer lifts what the customer buys, up to a ceiling.
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


def load_kernels(market: RelationshipMarket) -> None:
    """Run the service kernels once on no customers (loading them from numba's cache)."""
    none, flags = np.empty(0, dtype=np.float32), np.zeros(0, dtype=bool)
    nobody, terms = market.customers(slice(0, 0)), market.firm_terms
    draws = Draws(none, none, none, none, none, none)
    lever_counts(nobody, flags, draws, terms, 0.5)
    reach = np.zeros((N_SERVED_LEVERS, market.n_firms + 1))
    serve_customers(nobody, flags, flags, draws, reach, terms, market.service_rules, 0, np.ones(0))
