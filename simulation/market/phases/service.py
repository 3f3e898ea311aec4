"""Service: a period of each customer's relationship with its firm.

A customer makes its period's transactions (:mod:`.purchase`), may meet a service failure,
which complaint handling may put right, and receives the relationship actions its firm's budgets
reach:
a thank-you after a purchase, personalised service, cross-selling offers, loyalty points. Its
satisfaction moves towards its fit with the firm plus the disconfirmation of its expectations,
lifted by recovery and by the actions (weighed by how relational the customer is) and by the
contacts up to its tolerance; trust grows with good experiences and falls after a failure left
unrecovered; expectations adapt to what was experienced. The firm books the revenue, the cost of
the product and the cost to serve, which may fall with tenure and be cut for low-value
customers.

Satisfaction moves by one period's weight towards its target; each event (a thank-you, a
recovered or unrecovered failure, a contact) lifts it with a month's weight, so that a shorter
period has fewer events rather than weaker ones (:mod:`simulation.market.parameters`).

Three compiled passes: one counts whom each budget-funded lever may reach (the budgets' reach is
decided per firm after it, with diminishing returns), one counts the transactions, and one
serves every customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from simulation.market.parameters import FirmTerms, ServiceRules
from simulation.market.phases import in_place, one_if, purchase
from simulation.market.phases.loyalty import earn_points, reward_delight, rewards_due
from simulation.market.population import ORIGIN, Customers

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

    buy: np.ndarray  # transactions; given a purchase, a fresh uniform decides the thank-you
    fail: np.ndarray  # failure; given a failure, u / p decides the recovery
    personal: np.ndarray
    cross: np.ndarray  # offered if u < reach, accepted if u < reach x acceptance
    loyalty: np.ndarray
    noise: np.ndarray  # standard normal, the quality experienced


def serve_cost_by_tenure(market: RelationshipMarket, until: int) -> np.ndarray:
    """Share of the cost to serve still paid, by tenure in periods, up to period ``until``.

    With the tenure effect on, serving a customer gets cheaper over the first years:
    ``1 - size * (1 - exp(-4 * years))``. A table by tenure spares an exponential per
    customer.
    """
    effect = market.config.market.tenure_effects.cost_to_serve
    decline = effect.size if effect.enabled else 0.0
    # Relationships start only from now on: the longest tenure is until - earliest_start.
    years = np.arange(until - market.earliest_start + 1) * (market.dt / 12)
    return 1 - decline * -np.expm1(-years * 4.0)


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
    c: Customers, targeted: np.ndarray, u_fail: np.ndarray, terms: FirmTerms
) -> np.ndarray:
    """Targeted customers per firm, and those among them who met a failure: ``(2, firms + 1)``.

    Personalisation, cross-selling and loyalty may reach every targeted customer, complaint
    handling those who met a failure. (Without targeting by value, the period's first pass
    counts them: every customer is targeted.)
    """
    n_firms = terms.price.shape[0] - 1
    counts = np.zeros((2, n_firms + 1), dtype=np.int64)
    for i in range(c.firm.shape[0]):
        f = c.firm[i]  # the 'no firm' column is counted too, and dropped
        eligible = targeted[i] & (f < n_firms)
        counts[0, f] += eligible
        counts[1, f] += eligible & (u_fail[i] < terms.failure_probability[f])
    counts[:, n_firms] = 0
    return counts


@njit(cache=True, nogil=True, error_model="numpy")
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
    expected: np.ndarray,
    drawn_units: np.ndarray,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Apply a period's service to customers ``lo`` to ``hi - 1`` who have a firm, in place.

    Args:
        c: the population's arrays; satisfaction, expectation, strength, points, uplift,
            purchases, last purchase, monetary value, this period's spend and expected margin
            are updated.
        targeted: customers who get the firms' retention effort.
        low_value: customers whose service is cut.
        d: the period's draws (``buy`` holds the thank-you's fresh uniform of each buyer).
        reach: ``(N_SERVED_LEVERS, firms + 1)``, the share of eligible customers each lever
            reaches.
        terms: per-firm settings.
        rules: the market's parameters.
        step: the current period.
        serve_factor: the share of the cost to serve still paid, by tenure in periods
            (``step - acquired_at``); ones unless the tenure effect is on.
        expected: each customer's expected transactions in a full period.
        drawn_units: the units of each customer's transactions this period under the
            Gamma-Gamma spend model (empty otherwise).
        lo: the first customer's row.
        hi: one past the last customer's row.

    Returns:
        ``(len(SUM_NAMES), firms + 1)`` per-firm sums: revenue, product cost, cost to serve,
        discounts given and rewards redeemed.
    """
    n_firms = terms.price.shape[0] - 1
    sums = np.zeros((len(SUM_NAMES), n_firms + 1))
    # Events weigh a month each: within the target, scaled by month weight / period weight.
    event_scale = rules.event_weight / max(rules.learning_weight, 1e-12)
    for i in range(np.uint64(lo), np.uint64(hi)):
        f = c.firm[i]
        k = c.transactions[i]
        if f >= n_firms:
            c.margin[i] = 0.0
            c.spent[i] = 0.0
            if k > 0:  # last purchases before leaving the market, booked to the old firm
                book_last_purchases(c, i, k, terms, rules, step, drawn_units, sums)
            continue
        relational = c.relational_weight[i]

        # What happens: purchases, failure and its recovery, the relationship actions.
        bought = k > 0
        p_fail = terms.failure_probability[f]
        failed = d.fail[i] < p_fail
        # Flags are combined with & rather than `and`: a branch on a random outcome costs
        # more than evaluating both sides.
        aimed = targeted[i]
        recovered = False
        if failed and aimed:  # rare
            recovered = d.fail[i] / p_fail < reach[COMPLAINT_HANDLING, f] * rules.complaint_success
        thanked = aimed & bought & (d.buy[i] < reach[THANK_YOU, f])
        personal = purchase.is_reached(aimed, d.personal[i], reach[PERSONALISATION, f])
        offered = purchase.is_reached(aimed, d.cross[i], reach[CROSS_SELL, f])
        accepted = aimed & (d.cross[i] < reach[CROSS_SELL, f] * rules.cross_sell_acceptance)
        member = purchase.is_member(aimed, d.loyalty[i], reach[LOYALTY, f], terms.loyalty_on[f])
        unrecovered = failed and not recovered

        # Contacts: personalised service uses the preferred channel, the rest the policy's.
        # Programme membership lasts the period: it counts as a contact a month.
        via_policy = one_if(thanked) + one_if(offered) + one_if(member) * rules.tolerance_periods
        channel = terms.contact_channel[f]
        unwanted = via_policy if channel >= 0 and channel != c.channel[i] else 0.0
        contact = contact_effect(
            via_policy + one_if(personal),
            unwanted,
            c.contact_tolerance[i] * rules.tolerance_periods,
            relational,
            rules.contact_benefit,
            rules.wrong_channel_penalty,
        )

        # Satisfaction: lasting fit with the firm plus the disconfirmation of expectations.
        strength = c.strength[i]
        experienced = terms.quality[f] + rules.quality_noise * d.noise[i]
        low = low_value[i]
        if low:
            experienced -= terms.quality_drop[f]
        failure = 0.0
        if unrecovered:
            failure = rules.failure_penalty * (1.0 - rules.forgiveness * strength)
        boosts = relational * (
            rules.thank_you_satisfaction * one_if(thanked)
            + rules.personalisation_satisfaction * one_if(personal)
            + rules.cross_sell_satisfaction * one_if(offered)
        )
        expectation = c.expectation[i]
        events = rules.recovery_paradox * one_if(recovered) + boosts + contact - failure
        target = rules.satisfaction_at_par + c.match[i, f] + (experienced - expectation)
        target = min(max(target + event_scale * events, 0.0), 1.0)
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
        expectation -= rules.expectation_event_weight * failure
        c.expectation[i] = min(max(expectation + rules.expectation_drift, 0.0), 1.0)

        # Accounts: revenue at the list price less any discount on a first purchase.
        years = (step - c.acquired_at[i]) * rules.years_per_period
        per_transaction = units_per_transaction(c.units[i], c.uplift[i], years, rules)
        drawn = drawn_units[i] if rules.gamma_gamma > 0.0 else 0.0
        units = purchased_units(k, per_transaction, drawn, c.units[i], rules)
        discount = 0.0
        if c.acquired_at[i] == step and bought:
            rate = (
                terms.win_back_discount[f] if c.origin[i] == WIN_BACK else terms.first_discount[f]
            )
            discount = rate * units / k  # on the first purchase only
        price = terms.price[f]
        revenue = (units - discount) * price
        serve = terms.cost_to_serve[f] * serve_factor[step - c.acquired_at[i]]
        if low:
            serve *= 1.0 - terms.serve_cut[f]
        # Expected margin per period at list price, the basis of lifetime value.
        c.margin[i] = expected[i] * per_transaction * (price - terms.unit_cost[f]) - serve

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
        c.purchases[i] += k
        c.last_purchase[i] = step if bought else c.last_purchase[i]
        c.monetary[i] += revenue
        c.spent[i] = revenue

        sums[0, f] += revenue
        sums[1, f] += units * terms.unit_cost[f]
        sums[2, f] += serve
        sums[3, f] += discount * price
        sums[4, f] += rewards
    return sums


@njit(inline="always")
def units_per_transaction(units: float, uplift: float, years: float, rules: ServiceRules) -> float:
    """A customer's mean units per transaction now: its own mean, cross-selling, tenure."""
    return units * uplift * (1.0 + rules.spend_growth * years)


@njit(inline="always")
def purchased_units(
    k: int, per_transaction: float, drawn: float, own_units: float, rules: ServiceRules
) -> float:
    """Units of a customer's ``k`` transactions this period.

    Each is the customer's mean, or, under the Gamma-Gamma model, the ``drawn`` total around
    its own mean ``own_units``, scaled by cross-selling and tenure as the mean is.
    """
    if rules.gamma_gamma > 0.0 and k > 0:
        return drawn * per_transaction / own_units
    return k * per_transaction


@in_place
def book_last_purchases(
    c: Customers,
    i: int,
    k: int,
    terms: FirmTerms,
    rules: ServiceRules,
    step: int,
    drawn_units: np.ndarray,
    sums: np.ndarray,
) -> None:
    """A customer who left the market this period buys ``k`` times from its old firm first."""
    last = c.last_firm[i]
    years = (step - c.acquired_at[i]) * rules.years_per_period
    per_transaction = units_per_transaction(c.units[i], c.uplift[i], years, rules)
    drawn = drawn_units[i] if rules.gamma_gamma > 0.0 else 0.0
    units = purchased_units(k, per_transaction, drawn, c.units[i], rules)
    revenue = units * terms.price[last]
    c.purchases[i] += k
    c.last_purchase[i] = step
    c.monetary[i] += revenue
    c.spent[i] = revenue
    sums[0, last] += revenue
    sums[1, last] += units * terms.unit_cost[last]
