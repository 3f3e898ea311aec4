"""The engine's core rules written the idiomatic Mesa way: one agent object per customer.

Each ``ReferenceCustomer`` holds its own state as Python attributes and lives its month in
``step()``, drawing its own random numbers from ``self.random``; the model runs the customers
with ``agents_by_type[ReferenceCustomer].shuffle_do("step")``. It reads the same parameters
from the same :class:`~simulation.scenario.schema.Scenario` as
:class:`~simulation.market.model.RelationshipMarket` and applies the same rules in the
same order for each customer (win-back, churn and switching, acquisition by advertising
and referral, purchases, failures and recovery, contacts, satisfaction, expectations,
trust, loyalty points, accounting), so that the speed comparison in ``bench_vs_mesa.py``
is between two implementations of one model.

It is not a copy of the engine's numbers, only of its rules. Where the engine uses quantities
that depend on all customers at once (how many a lever must reach, how many prospects an
advertising budget is spread over, what a prospect's contacts say), the model computes them at
the start of the period from the customers' state, as a Mesa model would, and each customer
reads its contacts' state as it is when its turn comes. ``tests/market/test_reference_model.py``
checks that the two give the same statistics within sampling error.

Value-based targeting (``targeting.by`` other than ``none``) is not part of the core rules and
is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mesa
import numpy as np
import pandas as pd

from simulation.market import response as bh
from simulation.market.network import build_network
from simulation.market.population import draw_population
from simulation.scenario.controls import configure
from simulation.scenario.schema import CHANNELS, LEVERS, Scenario

DISCOVERY, EVALUATION, PURCHASE, EXPERIENCE, BONDING, ADVOCACY, LAPSED = range(7)
INITIAL, ADVERTISING, REFERRAL, WIN_BACK, FROM_RIVAL = range(5)
TALLIES = (
    "customers_start",
    "customers",
    "acquired",
    "churned",
    "churned_to_rival",
    "churned_out_of_market",
    "acquired_referral",
    "revenue",
    "cost_product",
    "cost_service",
    "cost_discount",
    "rewards",
    "referral_rewards",
    "satisfaction_sum",
)


@dataclass
class FirmSettings:
    """One firm's market position and policy, as plain Python numbers."""

    price: float
    quality: float
    unit_cost: float
    cost_to_serve: float
    failure_probability: float
    first_discount: float
    win_back_discount: float
    referral_reward: float
    loyalty_on: bool
    switching_cost: float
    points_per_money: float
    reward_threshold: float
    reward_value: float
    contact_channel: int  # -1: the customer's preferred channel
    cheapest_rival: float
    spend: dict[str, float]
    index: int


class ReferenceCustomer(mesa.Agent):
    """One customer; every attribute is its own, every draw comes from ``self.random``."""

    def __init__(self, model: ReferenceMarket, traits: dict[str, Any]):
        super().__init__(model)
        self.__dict__.update(traits)
        self.contacts: list[ReferenceCustomer] = []
        self.referral_weight = 0.0  # what it tells its contacts, set at the end of its turn

    # ------------------------------------------------------------------ helpers
    def tenure_years(self) -> float:
        """Years with the current firm (0 without one)."""
        if self.firm is None:
            return 0.0
        return (self.model.steps - self.acquired_at) * self.model.dt / 12

    def start_relationship(self, firm: int, origin: int) -> None:
        """Become a new customer of ``firm`` this period."""
        m = self.model
        self.firm = firm
        self.stage = PURCHASE
        self.acquired_at = m.steps
        self.origin = origin
        self.points = 0.0
        self.uplift = 1.0
        self.strength = 0.1
        self.considering = None
        self.satisfaction = m.behaviour.satisfaction_at_par
        m.tally[firm]["acquired"] += 1

    # ------------------------------------------------------------------ a month
    def step(self) -> None:
        """Live one period: come back, leave or stay, be won, then be served."""
        if self.stage == LAPSED:
            self.consider_return()
        elif self.firm is not None and self.acquired_at < self.model.steps:
            self.consider_leaving()
        if self.firm is None and self.stage <= EVALUATION:
            self.consider_firms()
        if self.firm is not None:
            self.experience_period()
        self.update_referral_weight()

    def consider_return(self) -> None:
        """A lapsed customer may take its last firm's win-back offer, or re-enter the market."""
        m, last = self.model, self.last_firm
        firm = m.firms[last]
        offer = max(firm.price * (1 - firm.win_back_discount) / m.reference_price, 1e-3)
        won = (
            m.win_back_reach[last]
            * m.responses.win_back.success
            * conversion(offer, self.price_sensitivity)
        )
        u = self.random.random()
        if u < won:
            self.start_relationship(last, WIN_BACK)
        elif u < won + m.reentry_probability:
            self.stage = DISCOVERY

    def consider_leaving(self) -> None:
        """The churn hazard; a leaver goes to a rival or out of the market."""
        m, b, firm = self.model, self.model.behaviour, self.model.firms[self.firm]
        sensitivity = self.effective_sensitivity()
        log_rate = math.log(max(self.base_churn_rate, 1e-12))
        log_rate += b.churn_satisfaction_weight * (b.satisfaction_at_par - self.satisfaction)
        log_rate -= b.churn_strength_weight * self.strength * self.response
        if len(m.firms) > 1:
            ratio = max(firm.price / max(firm.cheapest_rival, 1e-12), 1e-3)
            log_rate += b.price_churn_weight * sensitivity * math.log(ratio)
        progress = min(self.points / firm.reward_threshold, 1.0)
        log_rate -= firm.switching_cost * progress * self.response
        if b.referred_churn_multiplier != 1.0 and self.origin == REFERRAL:
            log_rate += math.log(max(b.referred_churn_multiplier, 1e-12))
        # A customer won last period was spared the half of it it was a customer already.
        exposure = 1.5 * m.dt if self.acquired_at == m.steps - 1 else m.dt
        probability = (
            -math.expm1(-math.exp(log_rate) * exposure) if self.base_churn_rate > 0 else 0.0
        )
        if self.random.random() >= probability:
            return
        old = self.firm
        m.tally[old]["churned"] += 1
        destination = self.choose_rival(old, sensitivity)
        if destination is None:
            m.tally[old]["churned_out_of_market"] += 1
            self.firm, self.last_firm, self.stage, self.points = None, old, LAPSED, 0.0
        else:
            m.tally[old]["churned_to_rival"] += 1
            self.start_relationship(destination, FROM_RIVAL)

    def effective_sensitivity(self) -> float:
        """Price sensitivity after the tenure effect (floor: 30%)."""
        effect = self.model.tenure_effects.price_sensitivity
        if not effect.enabled or effect.size == 0:
            return self.price_sensitivity
        return self.price_sensitivity * max(1 - effect.size * self.tenure_years(), 0.3)

    def choose_rival(self, old: int, sensitivity: float) -> int | None:
        """A rival chosen by quality, fit and price, or None (out of the market)."""
        m = self.model
        share = m.behaviour.switch_share
        u = self.random.random()
        if len(m.firms) < 2 or u >= share:
            return None
        attraction = []
        for index, firm in enumerate(m.firms):
            if index == old:
                attraction.append(0.0)
                continue
            ratio = max(firm.price / m.reference_price, 1e-3)
            fit = max(firm.quality + self.match[index], 0.01)
            attraction.append(fit * conversion(ratio, sensitivity))
        if sum(attraction) <= 0:
            return None
        return pick(attraction, u / share)

    def consider_firms(self) -> None:
        """A prospect hears of firms by advertising and from promoting contacts; may buy."""
        m = self.model
        n_firms = len(m.firms)
        exposure = [0.0] * n_firms
        if m.network is None:
            exposure = list(m.market_exposure)
        elif self.contacts:
            for contact in self.contacts:
                if contact.referral_weight > 0:
                    exposure[contact.firm] += contact.referral_weight
            exposure = [e / len(self.contacts) for e in exposure]
        reach, hazards, referral_hazards = [], [], []
        for index in range(n_firms):
            referral = m.word_of_mouth.rate * exposure[index]
            response = conversion(m.first_offer[index], self.price_sensitivity)
            reach.append(m.ad_reach[index] + referral)
            hazards.append(m.ad_reach[index] * min(m.advertising.conversion * response, 1.0))
            referral_hazards.append(referral * min(m.word_of_mouth.conversion * response, 1.0))
        hazards += referral_hazards
        p_buy = -math.expm1(-sum(hazards) * m.dt)
        p_reach = -math.expm1(-sum(reach) * m.dt)
        u = self.random.random()
        if u < p_buy:
            choice = pick(hazards, u / p_buy)
            firm, referred = choice % n_firms, choice >= n_firms
            self.start_relationship(firm, REFERRAL if referred else ADVERTISING)
            if referred:
                m.tally[firm]["acquired_referral"] += 1
                m.tally[firm]["referral_rewards"] += m.firms[firm].referral_reward
        elif u < p_reach:
            self.stage = EVALUATION
            self.considering = pick(reach, u / p_reach)

    def experience_period(self) -> None:
        """Purchases, failures and recovery, contacts; satisfaction, trust, points, books."""
        m, b, r = self.model, self.model.behaviour, self.model.responses
        f = self.firm
        firm, reach, tally = m.firms[f], m.lever_reach[f], m.tally[f]
        random = self.random.random
        years = self.tenure_years()

        buys = random() < m.purchase_probability
        failed = random() < firm.failure_probability
        recovered = failed and random() < reach["complaint_handling"] * r.complaint_handling.success
        unrecovered = failed and not recovered
        thanked = buys and random() < reach["thank_you"]
        personal = random() < reach["personalisation"]
        u_cross = random()
        offered = u_cross < reach["cross_sell"]
        accepted = offered and u_cross < reach["cross_sell"] * r.cross_sell.acceptance
        member = random() < reach["loyalty"] and firm.loyalty_on

        via_policy = thanked + offered + member
        wrong = firm.contact_channel >= 0 and firm.contact_channel != self.channel
        unwanted = via_policy if wrong else 0.0
        contacts = via_policy + personal
        shape = contacts - contacts * contacts / (2.0 * self.contact_tolerance)
        contact = b.contact_benefit * self.response * shape - b.wrong_channel_penalty * unwanted
        penalty = b.failure_penalty * (1 - b.forgiveness * self.strength)
        experienced = firm.quality + b.quality_noise * self.random.gauss(0.0, 1.0)
        experienced -= unrecovered * penalty
        boosts = self.response * (
            r.thank_you.satisfaction * thanked
            + r.personalisation.satisfaction * personal
            + r.cross_sell.satisfaction * offered
        )
        target = clip(
            b.satisfaction_at_par
            + self.match[f]
            + (experienced - self.expectation)
            + recovered * r.complaint_handling.recovery_paradox
            + boosts
            + contact
        )
        self.satisfaction += b.learning_weight * (target - self.satisfaction)
        good = target >= b.satisfaction_at_par
        gain = self.response * (
            b.strength_gain * good
            + r.thank_you.strength * thanked
            + r.personalisation.strength * personal
        )
        self.strength = clip(
            self.strength
            + gain * (1 - self.strength)
            - b.strength_loss * self.strength * unrecovered
        )
        rise = m.tenure_effects.expectations
        drift = rise.size * m.dt / 12 if rise.enabled else 0.0
        moved = self.expectation + b.expectation_adaptation * (experienced - self.expectation)
        self.expectation = clip(moved + drift)

        # Accounts: what was bought, at what discount, what it cost to make and to serve.
        te = m.tenure_effects
        demand = self.units * self.uplift
        if te.spend.enabled and te.spend.size > 0:
            demand *= 1 + te.spend.size * years
        units = demand if buys else 0.0
        discount = 0.0
        if self.acquired_at == m.steps:
            discount = firm.win_back_discount if self.origin == WIN_BACK else firm.first_discount
        revenue = units * firm.price * (1 - discount)
        serve = firm.cost_to_serve
        if te.cost_to_serve.enabled and te.cost_to_serve.size > 0:
            serve *= 1 - te.cost_to_serve.size * -math.expm1(-years * 4.0)
        if member:
            self.points += revenue * firm.points_per_money
        rewards = math.floor(self.points / firm.reward_threshold) if firm.loyalty_on else 0
        self.points -= rewards * firm.reward_threshold
        if rewards:
            worth = firm.reward_value / m.reference_price
            lift = r.loyalty.reward_satisfaction * worth * self.response
            self.satisfaction = min(self.satisfaction + lift, 1.0)
        if accepted:
            self.uplift = min(self.uplift + r.cross_sell.spend_uplift, 1 + r.cross_sell.max_uplift)
        self.purchases += buys
        self.monetary += revenue
        tally["revenue"] += revenue
        tally["cost_product"] += units * firm.unit_cost
        tally["cost_service"] += serve
        tally["cost_discount"] += units * firm.price * discount
        tally["rewards"] += rewards

        # Lifecycle stage at the end of the period.
        if self.acquired_at == m.steps:
            self.stage = PURCHASE
        elif self.strength >= b.bonding_threshold:
            self.stage = ADVOCACY if self.satisfaction >= b.promoter_threshold else BONDING
        else:
            self.stage = EXPERIENCE

    def update_referral_weight(self) -> None:
        """How strongly this customer recommends its firm to its contacts next time."""
        m = self.model
        self.referral_weight = 0.0
        if self.firm is None or self.satisfaction < m.behaviour.promoter_threshold:
            return
        weight = self.referral_tendency
        growth = m.tenure_effects.referrals
        if growth.enabled and growth.size > 0:
            weight *= 1 + growth.size * self.tenure_years()
        if self.random.random() < m.programme_reach[self.firm]:
            weight *= 1 + m.responses.referral_programme.boost
        self.referral_weight = min(weight, 1.0)


class ReferenceMarket(mesa.Model):
    """The engine's market, one ``ReferenceCustomer`` agent per customer.

    Args:
        scenario: a :class:`Scenario`, a scenario file or a bundled scenario name.
        policy: the focal firm's policy (default: the scenario's first).
        rng: seed for Mesa's generators.
        **kwargs: the same keyword controls as ``RelationshipMarket`` (``customers`` ...).
    """

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        policy: str | None = None,
        rng: Any = None,
        **kwargs: Any,
    ):
        super().__init__(rng=rng)
        self.config, self.policy_name = configure(scenario, policy, kwargs)
        market = self.config.market
        self.market = market
        self.behaviour, self.responses = market.behaviour, market.responses
        self.tenure_effects = market.tenure_effects
        self.advertising, self.word_of_mouth = (
            market.responses.advertising,
            market.responses.word_of_mouth,
        )
        self.reference_price = market.reference_price
        self.dt = market.period_months
        self.horizon = market.periods
        if market.customer.purchase.process != "bernoulli":
            raise ValueError("the reference model covers the core rules: the bernoulli process")
        self.purchase_probability = market.customer.purchase.probability
        self.reentry_probability = float(bh.per_period(self.behaviour.reentry_rate, self.dt))
        policies = [self.config.policies[self.policy_name]] + [f.strategy for f in market.firms[1:]]
        for policy_spec in policies:
            if policy_spec.targeting.by != "none":
                raise ValueError("the reference model covers the core rules: no value targeting")
        self.firms = self._firm_settings(policies)
        self.first_offer = [
            max(f.price * (1 - f.first_discount) / self.reference_price, 1e-3) for f in self.firms
        ]
        # Initial customers drawn as the engine draws them (a vectorised set-up, not timed).
        n_firms = len(self.firms)
        pop = draw_population(market, n_firms, self.rng)
        self.network = build_network(market.network, market.customers, self.rng)
        customers = []
        for i in range(market.customers):
            firm = int(pop.firm[i])
            customers.append(
                ReferenceCustomer(
                    self,
                    {
                        "price_sensitivity": float(pop.price_sensitivity[i]),
                        "referral_tendency": float(pop.referral_tendency[i]),
                        "response": float(pop.relational_weight[i]),
                        "channel": int(pop.channel[i]),
                        "contact_tolerance": float(pop.contact_tolerance[i]),
                        "match": [float(x) for x in pop.match[i]],
                        "units": float(pop.units[i]),
                        "base_churn_rate": float(pop.base_churn_rate[i]),
                        "satisfaction": float(pop.satisfaction[i]),
                        "expectation": float(pop.expectation[i]),
                        "strength": float(pop.strength[i]),
                        "firm": firm if firm < n_firms else None,
                        "last_firm": None,
                        "considering": None,
                        "stage": int(pop.stage[i]),
                        "acquired_at": int(pop.acquired_at[i]),
                        "origin": INITIAL,
                        "points": 0.0,
                        "uplift": 1.0,
                        "purchases": 0,
                        "monetary": 0.0,
                    },
                )
            )
        if self.network is not None:
            indptr, indices = self.network.indptr, self.network.indices
            for i, customer in enumerate(customers):
                customer.contacts = [customers[j] for j in indices[indptr[i] : indptr[i + 1]]]
        self.customers = self.agents_by_type[ReferenceCustomer]
        self.cumulative_discounted_profit = [0.0] * n_firms
        self.records: list[dict[str, Any]] = []
        self.running = True

    def _firm_settings(self, policies: list) -> list[FirmSettings]:
        market, r = self.market, self.market.responses
        prices = [
            spec.price if policy.price is None else policy.price
            for spec, policy in zip(market.firms, policies, strict=True)
        ]
        settings = []
        for index, (spec, policy) in enumerate(zip(market.firms, policies, strict=True)):
            others = [p for i, p in enumerate(prices) if i != index]
            loyalty = policy.allocation.loyalty > 0
            programme = policy.loyalty_programme
            channel = policy.contact_channel
            settings.append(
                FirmSettings(
                    price=prices[index],
                    quality=spec.quality if policy.quality is None else policy.quality,
                    unit_cost=spec.unit_cost,
                    cost_to_serve=spec.cost_to_serve,
                    failure_probability=float(bh.per_period(spec.failure_rate, self.dt)),
                    first_discount=policy.first_purchase_discount,
                    win_back_discount=policy.win_back_discount,
                    referral_reward=policy.referral_reward,
                    loyalty_on=loyalty,
                    switching_cost=r.loyalty.switching_cost if loyalty else 0.0,
                    points_per_money=programme.points_per_money,
                    reward_threshold=programme.reward_threshold,
                    reward_value=programme.reward_value,
                    contact_channel=CHANNELS.index(channel) if channel in CHANNELS else -1,
                    cheapest_rival=min(others) if others else prices[index],
                    spend={
                        lever: policy.budget * getattr(policy.allocation, lever) for lever in LEVERS
                    },
                    index=index,
                )
            )
        return settings

    # ------------------------------------------------------------------ the period
    def step(self) -> None:
        """Set the firms' reach for the period from the state of the market, then let every
        customer live its month in random order, then close the books."""
        self.open_period()
        self.customers.shuffle_do("step")
        self.close_period()
        if self.steps >= self.horizon:
            self.running = False

    def coverage(self, lever: str, firm: FirmSettings, unit_cost: float, eligible: float) -> float:
        """Share of ``eligible`` customers a lever reaches; its spend is booked if any."""
        if eligible <= 0:
            return 0.0
        self.lever_spend[firm.index] += firm.spend[lever]
        return -math.expm1(-firm.spend[lever] / (unit_cost * eligible))

    def open_period(self) -> None:
        """Count the market and set what each firm's budget buys this period."""
        r, b, n_firms = self.responses, self.behaviour, len(self.firms)
        customers = [0] * n_firms
        lapsed = [0] * n_firms
        promoters = [0] * n_firms
        prospects = 0
        for c in self.customers:
            if c.firm is not None:
                customers[c.firm] += 1
                if c.satisfaction >= b.promoter_threshold:
                    promoters[c.firm] += 1
            elif c.stage == LAPSED:
                lapsed[c.last_firm] += 1
            elif c.stage <= EVALUATION:
                prospects += 1
        self.tally = [dict.fromkeys(TALLIES, 0.0) for _ in range(n_firms)]
        self.lever_spend = [0.0] * n_firms
        for index in range(n_firms):
            self.tally[index]["customers_start"] = customers[index]
        # Reach of each lever: eligible customers as expected from the counts at the start.
        self.win_back_reach = [
            self.coverage("win_back", f, r.win_back.unit_cost, lapsed[i])
            for i, f in enumerate(self.firms)
        ]
        self.programme_reach = [
            self.coverage("referral_programme", f, r.referral_programme.unit_cost, promoters[i])
            for i, f in enumerate(self.firms)
        ]
        self.lever_reach = []
        for i, f in enumerate(self.firms):
            n = customers[i]
            self.lever_reach.append(
                {
                    "complaint_handling": self.coverage(
                        "complaint_handling",
                        f,
                        r.complaint_handling.unit_cost,
                        n * f.failure_probability,
                    ),
                    "thank_you": self.coverage(
                        "thank_you", f, r.thank_you.unit_cost, n * self.purchase_probability
                    ),
                    "personalisation": self.coverage(
                        "personalisation", f, r.personalisation.unit_cost, n
                    ),
                    "cross_sell": self.coverage("cross_sell", f, r.cross_sell.unit_cost, n),
                    "loyalty": self.coverage("loyalty", f, r.loyalty.unit_cost, n),
                }
            )
        ad = self.advertising
        spend = np.array([f.spend["advertising"] for f in self.firms])
        self.ad_reach = [
            float(x)
            for x in bh.advertising_rate(spend, prospects, self.dt, ad.ceiling, ad.spend_scale)
        ]
        if prospects:
            for i, f in enumerate(self.firms):
                self.lever_spend[i] += f.spend["advertising"]
        if self.network is None:
            totals = [0.0] * n_firms
            for c in self.customers:
                if c.referral_weight > 0:
                    totals[c.firm] += c.referral_weight
            self.market_exposure = [t / len(self.customers) for t in totals]

    def close_period(self) -> None:
        """Each firm's accounts for the period."""
        discount = (1 + (1 + self.market.discount_rate) ** (self.dt / 12) - 1) ** -self.steps
        for c in self.customers:
            if c.firm is not None:
                t = self.tally[c.firm]
                t["customers"] += 1
                t["satisfaction_sum"] += c.satisfaction
        for index, (firm, t) in enumerate(zip(self.firms, self.tally, strict=True)):
            cost_total = (
                t["cost_product"]
                + t["cost_service"]
                + t["cost_discount"]
                + t["referral_rewards"]
                + t["rewards"] * firm.reward_value
                + self.lever_spend[index]
            )
            profit = t["revenue"] - cost_total
            self.cumulative_discounted_profit[index] += profit * discount
            self.records.append(
                {
                    "period": self.steps,
                    "firm": index,
                    "customers_start": int(t["customers_start"]),
                    "customers": int(t["customers"]),
                    "acquired": int(t["acquired"]),
                    "churned": int(t["churned"]),
                    "churn_rate": t["churned"] / t["customers_start"]
                    if t["customers_start"]
                    else 0.0,
                    "revenue": t["revenue"],
                    "profit": profit,
                    "mean_satisfaction": t["satisfaction_sum"] / t["customers"]
                    if t["customers"]
                    else float("nan"),
                }
            )

    def run(self) -> None:
        """Run to the end of the horizon."""
        while self.running:
            self.step()

    def books(self) -> pd.DataFrame:
        """One row per period and firm (the columns the engine's books share)."""
        return pd.DataFrame(self.records)


def conversion(ratio: float, sensitivity: float) -> float:
    """Constant-elasticity response to price, capped at 1."""
    return min(math.exp(-sensitivity * math.log(ratio)), 1.0)


def pick(weights: list[float], u: float) -> int:
    """The option chosen by ``u`` in [0, 1) in proportion to ``weights``."""
    total = sum(weights)
    target, running = u * total, 0.0
    for index, weight in enumerate(weights):
        running += weight
        if running > target:
            return index
    return len(weights) - 1


def clip(value: float) -> float:
    """Clip to [0, 1]."""
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value
