"""A scenario and a policy turned into the tables the phases read, fixed for a model's life.

This is the one place where the scenario's units become per-period values: rates per month
become per-period probabilities or means (``dt = market.period_months``), budgets and running
costs per month become money per period, and the monthly weights of satisfaction, trust and
expectation become the weight of one period (``1 - (1 - w)^dt``), so that results do not depend
on the period length. Events (a thank-you, a recovered failure, a reward) keep their monthly
weight: a shorter period has fewer of them, not weaker ones.

The phases read per-firm settings as arrays with one entry per firm plus one for 'no firm'
(index ``n_firms``), so that a customer's firm code indexes them directly, and the market's
behaviour and response parameters as plain floats in small named tuples the compiled kernels
take as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from simulation.market import response as bh
from simulation.market.agents import Firm
from simulation.scenario.schema import CHANNELS, LEVERS, Market, Targeting, TenureEffect


@dataclass
class FirmTable:
    """Per-firm settings, one entry per firm plus one for 'no firm' (float32 unless noted)."""

    price: np.ndarray
    quality: np.ndarray
    unit_cost: np.ndarray
    cost_to_serve: np.ndarray  # per customer-period
    failure_probability: np.ndarray  # per period
    first_discount: np.ndarray
    win_back_discount: np.ndarray
    referral_reward: np.ndarray  # float64, firms only
    loyalty_on: np.ndarray  # bool
    switching_cost: np.ndarray
    points_per_money: np.ndarray
    reward_threshold: np.ndarray
    reward_value: np.ndarray
    contact_channel: np.ndarray  # int8, -1: no channel of its own
    spend: np.ndarray  # float64 per period, one row per lever (``LEVERS``), one column per firm
    targeting: list[Targeting]
    cheapest_rival: np.ndarray
    log_price_ratio: np.ndarray  # float64: log of the price over the cheapest rival's
    log_churn_multiplier: np.ndarray  # float64: log of the firm's and its policy's factor
    log_price_index: np.ndarray  # float64: log of the price over the reference price
    covers_rewards: np.ndarray  # bool, firms only: the budget also pays the rewards
    covers_discounts: np.ndarray  # bool, firms only: the budget also pays the discounts
    log_first_offer: np.ndarray  # float64: log of the first-purchase price over the reference
    log_win_back_offer: np.ndarray  # float64: log of the win-back offer over the reference

    def spend_on(self, lever: str) -> np.ndarray:
        """Each firm's planned spend on ``lever`` in a period (the budget's share)."""
        return self.spend[LEVERS.index(lever)]


class FirmTerms(NamedTuple):
    """Per-firm settings as the kernels take them (float64 unless noted)."""

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
    log_churn_multiplier: np.ndarray  # churn: the firm's own factor, as a log
    log_price_index: np.ndarray  # purchases: log of the price over the reference price
    reward_value: np.ndarray
    loyalty_on: np.ndarray  # bool
    contact_channel: np.ndarray  # int8, -1: no channel of its own
    serve_cut: np.ndarray  # share of cost to serve saved on low-value customers
    quality_drop: np.ndarray  # quality they lose
    referral_reward: np.ndarray  # paid per customer won by a referral
    log_first_offer: np.ndarray  # acquisition: log of the first-purchase price over the reference
    log_win_back_offer: np.ndarray  # win-back: log of the offer price over the reference


# The fields of FirmTerms that are FirmTable's float32 vectors, widened to float64.
_WIDENED = (
    "price",
    "unit_cost",
    "cost_to_serve",
    "quality",
    "failure_probability",
    "first_discount",
    "win_back_discount",
    "points_per_money",
    "reward_threshold",
    "switching_cost",
    "log_price_ratio",
    "log_churn_multiplier",
    "log_price_index",
)


class ChurnRules(NamedTuple):
    """The market's parameters for the churn hazard."""

    satisfaction_weight: float
    satisfaction_at_par: float
    strength_weight: float
    price_weight: float
    sensitivity_decline: float  # per year of tenure, 0 unless the tenure effect is on
    sensitivity_floor: float  # share of price sensitivity tenure can never take away
    log_referred_multiplier: float
    years_per_period: float


class PurchaseRules(NamedTuple):
    """The purchase process's parameters, per period."""

    poisson: float  # 1: poisson process, 0: at most one purchase a period (bernoulli)
    purchase_probability: float  # bernoulli: per period
    months: float  # months per period: a monthly rate times this is a period's mean
    satisfaction_at_par: float
    satisfaction_weight: float
    price_demand_weight: float
    reference_price: float
    loyalty_boost: float
    personalisation_boost: float
    sensitivity_decline: float  # per year of tenure, 0 unless the tenure effect is on
    sensitivity_floor: float
    years_per_period: float


class ServiceRules(NamedTuple):
    """The market's behaviour and response parameters used by the service phase (per period)."""

    purchase_probability: float  # bernoulli only: the expected transactions of a period
    satisfaction_at_par: float
    learning_weight: float  # one period's weight of the experience
    event_weight: float  # a month's weight, given to each event's lift
    quality_noise: float  # sd of the quality experienced over one period
    tolerance_periods: float  # contact tolerance is per month: times months per period
    failure_penalty: float
    forgiveness: float
    recovery_paradox: float
    contact_benefit: float
    wrong_channel_penalty: float
    thank_you_satisfaction: float
    personalisation_satisfaction: float
    cross_sell_satisfaction: float
    strength_gain: float  # per period
    strength_loss: float
    thank_you_strength: float
    personalisation_strength: float
    expectation_adaptation: float  # per period
    expectation_event_weight: float  # a month's weight, given to each event (a failure)
    expectation_drift: float  # per period, 0 unless the tenure effect is on
    complaint_success: float
    cross_sell_acceptance: float
    spend_uplift: float
    max_uplift: float
    spend_growth: float  # per year of tenure, 0 unless the tenure effect is on
    gamma_gamma: float  # 1: units of a period's transactions drawn outside (Gamma-Gamma)
    loyalty_reward_satisfaction: float
    reference_price: float
    years_per_period: float


class MoveRules(NamedTuple):
    """Who comes and goes in a period: win-back, re-entry, churn's destination, acquisition."""

    dt: float  # months per period
    years_per_period: float
    customers: float  # everyone in the market: exposure's denominator without a network
    bgnbd: float  # 1: drop-out after transactions (the BG/NBD law), no hazard in time
    poisson: float  # 1: the poisson purchase process
    switch_share: float
    reentry_probability: float  # per period
    win_back_success: float
    satisfaction_at_par: float  # a new relationship's satisfaction
    new_customer_strength: float
    promoter_threshold: float
    ad_ceiling: float
    ad_spend_scale: float
    ad_conversion: float
    referral_rate: float  # the Bass q per unit of exposure, per month; 0 without word of mouth
    referral_conversion: float
    referral_growth: float  # per year of tenure, 0 unless the tenure effect is on
    programme_boost: float


class StageRules(NamedTuple):
    """Thresholds of the lifecycle stages and of the net promoter score."""

    bonding_threshold: float
    promoter_threshold: float
    detractor_threshold: float


class Rules(NamedTuple):
    """Every rule tuple of the market, as the compiled period takes them."""

    churn: ChurnRules
    move: MoveRules
    purchase: PurchaseRules
    service: ServiceRules
    stages: StageRules


def _vector(values: list[float], none: float = 0.0) -> np.ndarray:
    return np.array([*values, none], dtype=np.float32)


def firm_table(firms: list[Firm], market: Market) -> FirmTable:
    """The firms' settings under the policies they follow, as per-firm arrays.

    Args:
        firms: the market's firm agents, in index order (the focal firm first).
        market: the market section of the scenario.
    """
    dt, loyalty_response = market.period_months, market.responses.loyalty
    loyalty = [f.policy.allocation.loyalty > 0 for f in firms]
    programme = [f.policy.loyalty_programme for f in firms]
    channel_code = {c: i for i, c in enumerate(CHANNELS)}
    price = _vector([f.price for f in firms])
    cheapest_rival = _vector(_cheapest_rivals(price[:-1].astype(float)), none=1.0)
    # The churn hazard's price term: log of the price relative to the cheapest rival's.
    log_price_ratio = np.log(bh.price_ratio(price, cheapest_rival)).astype(float)
    if len(firms) == 1:
        log_price_ratio[:] = 0.0
    churn_factor = [f.spec.churn_multiplier * f.policy.churn_multiplier for f in firms]
    with np.errstate(divide="ignore"):  # a factor of 0 never churns: log 0 = -inf
        log_churn_multiplier = np.log(np.array([*churn_factor, 1.0], dtype=float))
    return FirmTable(
        price=price,
        quality=_vector([f.quality for f in firms]),
        unit_cost=_vector([f.spec.unit_cost for f in firms]),
        cost_to_serve=_vector([f.spec.cost_to_serve * dt for f in firms]),
        failure_probability=_vector([float(bh.per_period(f.spec.failure_rate, dt)) for f in firms]),
        first_discount=_vector([f.policy.first_purchase_discount for f in firms]),
        win_back_discount=_vector([f.policy.win_back_discount for f in firms]),
        referral_reward=np.array([f.policy.referral_reward for f in firms]),
        loyalty_on=np.array([*loyalty, False]),
        switching_cost=_vector([loyalty_response.switching_cost if on else 0.0 for on in loyalty]),
        points_per_money=_vector([p.points_per_money for p in programme]),
        reward_threshold=_vector([p.reward_threshold for p in programme], none=1.0),
        reward_value=_vector([p.reward_value for p in programme]),
        contact_channel=np.array(
            [channel_code.get(f.policy.contact_channel, -1) for f in firms] + [-1], dtype=np.int8
        ),
        spend=dt
        * np.array([[f.spend_plan()[lever] for lever in LEVERS] for f in firms], dtype=float).T,
        targeting=[f.policy.targeting for f in firms],
        cheapest_rival=cheapest_rival,
        log_price_ratio=log_price_ratio,
        log_churn_multiplier=log_churn_multiplier,
        log_price_index=np.log(bh.price_ratio(price, market.reference_price)).astype(float),
        covers_rewards=np.array(["rewards" in f.policy.budget_covers for f in firms]),
        covers_discounts=np.array(["discounts" in f.policy.budget_covers for f in firms]),
        log_first_offer=_log_offer(price, firms, "first_purchase_discount", market),
        log_win_back_offer=_log_offer(price, firms, "win_back_discount", market),
    )


def _log_offer(price: np.ndarray, firms: list[Firm], discount: str, market: Market) -> np.ndarray:
    """Log of each firm's price less a policy discount, over the reference price (floored).

    The 'no firm' entry is 0, a neutral price.
    """
    offer = price[:-1] * (1 - np.array([getattr(f.policy, discount) for f in firms], np.float32))
    return np.append(np.log(bh.price_ratio(offer, market.reference_price)), 0.0).astype(float)


def _cheapest_rivals(price: np.ndarray) -> list[float]:
    """Each firm's cheapest rival's price (its own price when it has no rival)."""
    if len(price) == 1:
        return [price[0]]
    return [np.min(np.delete(price, i)) for i in range(len(price))]


def firm_terms(table: FirmTable, firms: list[Firm]) -> FirmTerms:
    """The per-firm table as the kernels take it."""
    return FirmTerms(
        **{name: getattr(table, name).astype(np.float64) for name in _WIDENED},
        reward_value=np.append([f.policy.loyalty_programme.reward_value for f in firms], 0.0),
        loyalty_on=table.loyalty_on,
        contact_channel=table.contact_channel,
        serve_cut=np.array([t.serve_cut for t in table.targeting] + [0.0]),
        quality_drop=np.array([t.quality_drop for t in table.targeting] + [0.0]),
        referral_reward=np.append(table.referral_reward, 0.0),
        log_first_offer=table.log_first_offer,
        log_win_back_offer=table.log_win_back_offer,
    )


def _floats(rules: type, **values: Any) -> Any:
    return rules(**{name: float(value) for name, value in values.items()})


def _effect(switch: TenureEffect) -> float:
    return float(switch.size) if switch.enabled else 0.0


def rules(market: Market) -> Rules:
    """Every rule tuple of the market."""
    return Rules(
        churn=churn_rules(market),
        move=move_rules(market),
        purchase=purchase_rules(market),
        service=service_rules(market),
        stages=stage_rules(market),
    )


def churn_rules(market: Market) -> ChurnRules:
    """The churn hazard's parameters."""
    b, te = market.behaviour, market.tenure_effects
    return _floats(
        ChurnRules,
        satisfaction_weight=b.churn_satisfaction_weight,
        satisfaction_at_par=b.satisfaction_at_par,
        strength_weight=b.churn_strength_weight,
        price_weight=b.price_churn_weight,
        sensitivity_decline=_effect(te.price_sensitivity),
        sensitivity_floor=te.price_sensitivity_floor,
        log_referred_multiplier=np.log(max(b.referred_churn_multiplier, 1e-12)),
        years_per_period=market.period_months / 12,
    )


def per_period_weight(monthly: float, dt: float) -> float:
    """The weight of a period of ``dt`` months, for a monthly weight: ``1 - (1 - w)^dt``."""
    return 1.0 - (1.0 - monthly) ** dt


def purchase_rules(market: Market) -> PurchaseRules:
    """The purchase process's parameters."""
    b, r, te = market.behaviour, market.responses, market.tenure_effects
    purchase = market.customer.purchase
    return _floats(
        PurchaseRules,
        poisson=purchase.process == "poisson",
        purchase_probability=purchase.probability,
        months=market.period_months,
        satisfaction_at_par=b.satisfaction_at_par,
        satisfaction_weight=b.purchase_satisfaction_weight,
        price_demand_weight=b.price_demand_weight,
        reference_price=market.reference_price,
        loyalty_boost=r.loyalty.purchase_boost,
        personalisation_boost=r.personalisation.purchase_boost,
        sensitivity_decline=_effect(te.price_sensitivity),
        sensitivity_floor=te.price_sensitivity_floor,
        years_per_period=market.period_months / 12,
    )


def service_rules(market: Market) -> ServiceRules:
    """The service phase's parameters."""
    b, r, te = market.behaviour, market.responses, market.tenure_effects
    dt, purchase = market.period_months, market.customer.purchase
    return _floats(
        ServiceRules,
        purchase_probability=purchase.probability,
        satisfaction_at_par=b.satisfaction_at_par,
        learning_weight=per_period_weight(b.learning_weight, dt),
        event_weight=b.learning_weight,
        quality_noise=b.quality_noise / np.sqrt(dt),
        tolerance_periods=dt,
        failure_penalty=b.failure_penalty,
        forgiveness=b.forgiveness,
        recovery_paradox=r.complaint_handling.recovery_paradox,
        contact_benefit=b.contact_benefit,
        wrong_channel_penalty=b.wrong_channel_penalty,
        thank_you_satisfaction=r.thank_you.satisfaction,
        personalisation_satisfaction=r.personalisation.satisfaction,
        cross_sell_satisfaction=r.cross_sell.satisfaction,
        strength_gain=per_period_weight(b.strength_gain, dt),
        strength_loss=b.strength_loss,
        thank_you_strength=r.thank_you.strength,
        personalisation_strength=r.personalisation.strength,
        expectation_adaptation=per_period_weight(b.expectation_adaptation, dt),
        expectation_event_weight=b.expectation_adaptation,
        expectation_drift=_effect(te.expectations) * market.period_months / 12,
        complaint_success=r.complaint_handling.success,
        cross_sell_acceptance=r.cross_sell.acceptance,
        spend_uplift=r.cross_sell.spend_uplift,
        max_uplift=r.cross_sell.max_uplift,
        spend_growth=_effect(te.spend),
        gamma_gamma=purchase.spend is not None,
        loyalty_reward_satisfaction=r.loyalty.reward_satisfaction,
        reference_price=market.reference_price,
        years_per_period=market.period_months / 12,
    )


def move_rules(market: Market) -> MoveRules:
    """The parameters of win-back, re-entry, churn's destination and acquisition."""
    b, r, te = market.behaviour, market.responses, market.tenure_effects
    wom = r.word_of_mouth
    return _floats(
        MoveRules,
        dt=market.period_months,
        years_per_period=market.period_months / 12,
        customers=market.customers,
        bgnbd=market.customer.dropout.law == "bgnbd",
        poisson=market.customer.purchase.process == "poisson",
        switch_share=b.switch_share,
        reentry_probability=bh.per_period(b.reentry_rate, market.period_months),
        win_back_success=r.win_back.success,
        satisfaction_at_par=b.satisfaction_at_par,
        new_customer_strength=b.new_customer_strength,
        promoter_threshold=b.promoter_threshold,
        ad_ceiling=r.advertising.ceiling,
        ad_spend_scale=r.advertising.spend_scale,
        ad_conversion=r.advertising.conversion,
        referral_rate=wom.rate if wom.enabled else 0.0,
        referral_conversion=wom.conversion,
        referral_growth=_effect(te.referrals),
        programme_boost=r.referral_programme.boost,
    )


def lever_unit_costs(market: Market) -> np.ndarray:
    """Each lever's cost per treated customer (per contact, member-month ...), by ``LEVERS``."""
    # Advertising buys reach through its spend scale instead (``advertising_hazard``).
    return np.array([_unit_cost(market, lever) for lever in LEVERS])


def _unit_cost(market: Market, lever: str) -> float:
    return float(getattr(getattr(market.responses, lever), "unit_cost", 1.0))


def stage_rules(market: Market) -> StageRules:
    """The lifecycle stages' thresholds."""
    b = market.behaviour
    return _floats(
        StageRules,
        bonding_threshold=b.bonding_threshold,
        promoter_threshold=b.promoter_threshold,
        detractor_threshold=b.detractor_threshold,
    )
