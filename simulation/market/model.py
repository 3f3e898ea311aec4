"""The market: a Mesa model of customers and competing firms, one period per step.

A step is a sequence of verbs, each a few whole-array operations or compiled passes over all
customers (:mod:`simulation.market.kernels`):

1. ``win_back``: lapsed customers may be won back, or drift back into the market;
2. ``churn``: customers leave for a rival or leave the market;
3. ``acquire``: prospects are won by advertising and by word of mouth;
4. ``serve``: purchases, failures and recovery, contacts, satisfaction, trust, points;
5. ``close_books``: each firm's accounts for the period, collected by Mesa's DataCollector.

Every random number comes from ``self.rng``; the same number of uniforms is drawn each period
whatever the policy, so two policies run with one seed meet the same luck (paired comparisons).
A row of uniforms serves several events only where they cannot both need a fresh draw for one
customer in one period: a customer is lapsed, a customer or a prospect at the start of a period,
and an event that happened with probability ``p`` (``u < p``) leaves ``u / p`` uniform for what
follows from it (where a leaver goes, whether a failure is put right, whether a buyer is thanked).
"""

from __future__ import annotations

import gc
from operator import attrgetter
from typing import Any

import mesa
import numpy as np

from simulation.market import kernels
from simulation.market import response as bh
from simulation.market.agents import BOOK_FIELDS, Books, Customer, Firm
from simulation.market.cohorts import MAX_COHORT_PERIODS, CohortTracker
from simulation.market.network import build_network, degrees
from simulation.market.population import ORIGIN, STAGE, draw_population
from simulation.scenario.controls import configure
from simulation.scenario.schema import CHANNELS, Scenario

# Rows of the per-period block of uniforms. U_MOVE: win-back or re-entry (lapsed people), churn
# and destination (customers), acquisition (prospects). U_BUY: purchase, then thank-you.
# U_FAIL: service failure, then recovery.
U_MOVE, U_BUY, U_FAIL, U_PERSONAL, U_CROSS, U_LOYALTY, U_REFERRAL = range(7)
N_UNIFORMS = 7

# Per-firm vectors the kernels read, as float64.
_FLOAT_TERMS = (
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
)

FIRM_REPORTERS = {name: attrgetter(f"books.{name}") for name in BOOK_FIELDS}


def model_generator(rng: Any) -> np.random.Generator:
    """The model's numpy generator for a seed: PCG64DXSM (a Generator passes through).

    PCG64DXSM is PCG64 with a stronger output function, the one numpy recommends for new
    work. It also draws float32 uniforms about 1.6 times as fast as PCG64 on the project
    machine, and a period at 1M customers draws seven million of them.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.BitGenerator):
        return np.random.Generator(rng)
    return np.random.Generator(np.random.PCG64DXSM(rng))


def active_customers(model: RelationshipMarket) -> int:
    """Customers of any firm."""
    return int((model.population.firm < model.n_firms).sum())


def prospects(model: RelationshipMarket) -> int:
    """People in the market who buy from no firm and have not lapsed."""
    return int((model.population.stage <= STAGE["evaluation"]).sum())


def focal_customers(model: RelationshipMarket) -> int:
    """Customers of the focal firm."""
    return model.focal.books.customers


def focal_profit(model: RelationshipMarket) -> float:
    """The focal firm's profit this period."""
    return model.focal.books.profit


def focal_discounted_profit(model: RelationshipMarket) -> float:
    """The focal firm's cumulative discounted profit."""
    return model.focal.books.cumulative_discounted_profit


class RelationshipMarket(mesa.Model):
    """A market of customers and firms; the first firm follows the policy under test.

    Args:
        scenario: a :class:`Scenario`, a scenario file, or the name of a bundled scenario
            (default: the bundled default scenario).
        policy: name of the focal firm's policy (default: the scenario's first).
        rng: seed (or numpy Generator) for the model's generator, see :func:`model_generator`;
            Mesa seeds its Python ``random`` from it.
        customer_agents: create one Mesa ``Customer`` agent per customer (views onto the
            arrays); sweeps that never look at single customers can skip them.
        **kwargs: plain keyword controls (``customers``, ``retention_share``, ``price`` ...,
            or any dotted scenario path written with ``__``), as ``mesa.batch_run`` passes them;
            see :mod:`simulation.scenario.controls`.
    """

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        policy: str | None = None,
        rng: Any = None,
        customer_agents: bool = True,
        **kwargs: Any,
    ):
        super().__init__(rng=model_generator(rng))
        self.config, self.policy_name = configure(scenario, policy, kwargs)
        market = self.config.market
        self.dt = market.period_months
        self.horizon = market.periods
        self.discount_per_period = (1 + market.discount_rate) ** (self.dt / 12) - 1
        self.n_firms = len(market.firms)
        policies = [self.config.policies[self.policy_name]] + [f.strategy for f in market.firms[1:]]
        self.firm_agents: list[Firm] = list(
            Firm.create_agents(
                self,
                self.n_firms,
                spec=market.firms,
                policy=policies,
                index=list(range(self.n_firms)),
            )
        )
        self.firm_agents.sort(key=attrgetter("index"))
        self.firm_names = [f.name for f in self.firm_agents]
        self.population = draw_population(market, self.n_firms, self.rng)
        self.earliest_start = int(self.population.acquired_at.min(initial=0))
        with np.errstate(divide="ignore"):  # a base rate of 0 never churns: log 0 = -inf
            self.log_base_churn_rate = np.log(self.population.base_churn_rate)
        self.network = build_network(market.network, market.customers, self.rng)
        self.degree = None if self.network is None else np.maximum(degrees(self.network), 1)
        if customer_agents:
            self._create_customers(market.customers)
        self.cohorts = CohortTracker(self.horizon) if self.horizon <= MAX_COHORT_PERIODS else None
        self._firm_vectors()
        self._kernel_inputs()
        self._load_kernels()
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "active_customers": active_customers,
                "prospects": prospects,
                "focal_customers": focal_customers,
                "focal_profit": focal_profit,
                "focal_discounted_profit": focal_discounted_profit,
            },
            agenttype_reporters={Firm: FIRM_REPORTERS},
        )
        self.running = True

    # ------------------------------------------------------------------ set-up
    def _create_customers(self, n: int) -> None:
        """Register one Mesa ``Customer`` agent per row of the population.

        The cyclic garbage collector is paused meanwhile: a million new objects would trigger
        repeated full collections, each scanning every agent made so far (more than half the
        cost of ``create_agents`` at 1M customers); agents being created form no garbage.
        """
        paused = gc.isenabled()
        gc.disable()
        try:
            for row in range(n):
                Customer(self, row)
        finally:
            if paused:
                gc.enable()

    def _kernel_inputs(self) -> None:
        """What the kernels read besides the population, fixed for the model's life.

        The per-firm table and the market's parameters as plain floats.
        """
        m = self.config.market
        b, r, te = m.behaviour, m.responses, m.tenure_effects

        def floats(rules: type, **values: Any):
            return rules(**{name: float(value) for name, value in values.items()})

        def effect(switch) -> float:
            return float(switch.size) if switch.enabled else 0.0

        self.firm_terms = kernels.FirmTerms(
            **{name: getattr(self, name).astype(np.float64) for name in _FLOAT_TERMS},
            reward_value=np.append(
                [f.policy.loyalty_programme.reward_value for f in self.firm_agents], 0.0
            ),
            loyalty_on=self.loyalty_on,
            contact_channel=self.contact_channel,
            serve_cut=np.array([t.serve_cut for t in self.targeting] + [0.0]),
            quality_drop=np.array([t.quality_drop for t in self.targeting] + [0.0]),
        )
        self.churn_rules = floats(
            kernels.ChurnRules,
            satisfaction_weight=b.churn_satisfaction_weight,
            satisfaction_at_par=b.satisfaction_at_par,
            strength_weight=b.churn_strength_weight,
            price_weight=b.price_churn_weight,
            sensitivity_decline=effect(te.price_sensitivity),
            log_referred_multiplier=np.log(max(b.referred_churn_multiplier, 1e-12)),
            years_per_period=self.dt / 12,
        )
        self.service_rules = floats(
            kernels.ServiceRules,
            purchase_probability=b.purchase_probability,
            satisfaction_at_par=b.satisfaction_at_par,
            learning_weight=b.learning_weight,
            quality_noise=b.quality_noise,
            failure_penalty=b.failure_penalty,
            forgiveness=b.forgiveness,
            recovery_paradox=r.complaint_handling.recovery_paradox,
            contact_benefit=b.contact_benefit,
            wrong_channel_penalty=b.wrong_channel_penalty,
            thank_you_satisfaction=r.thank_you.satisfaction,
            personalisation_satisfaction=r.personalisation.satisfaction,
            cross_sell_satisfaction=r.cross_sell.satisfaction,
            strength_gain=b.strength_gain,
            strength_loss=b.strength_loss,
            thank_you_strength=r.thank_you.strength,
            personalisation_strength=r.personalisation.strength,
            expectation_adaptation=b.expectation_adaptation,
            expectation_drift=effect(te.expectations) * self.dt / 12,
            complaint_success=r.complaint_handling.success,
            cross_sell_acceptance=r.cross_sell.acceptance,
            spend_uplift=r.cross_sell.spend_uplift,
            max_uplift=r.cross_sell.max_uplift,
            spend_growth=effect(te.spend),
            loyalty_reward_satisfaction=r.loyalty.reward_satisfaction,
            reference_price=m.reference_price,
            years_per_period=self.dt / 12,
        )
        self.stage_rules = floats(
            kernels.StageRules,
            bonding_threshold=b.bonding_threshold,
            promoter_threshold=b.promoter_threshold,
            detractor_threshold=b.detractor_threshold,
        )

    def _load_kernels(self) -> None:
        """Run each compiled kernel once on no customers, as part of building the market.

        The first call in a process loads the kernels from numba's cache (compiling them the
        first time ever); a run's periods should not be charged for it.
        """
        if RelationshipMarket._kernels_loaded:
            return
        pop, none = self.population, np.empty(0, dtype=np.float32)
        nobody = self.customers(slice(0, 0))
        draws = kernels.Draws(none, none, none, none, none, none)
        flags = np.zeros(0, dtype=bool)
        terms, step = self.firm_terms, 0
        kernels.lever_counts(nobody, flags, draws, terms, 0.5)
        reach = np.zeros((kernels.N_LEVERS, self.n_firms + 1))
        kernels.serve_customers(
            nobody, flags, flags, draws, reach, terms, self.service_rules, step, np.ones(0)
        )
        log_rates = kernels.churn_log_rates(nobody, none, terms, self.churn_rules, step)
        kernels.leavers(nobody, none, log_rates, step)
        empty = pop.stage[:0], pop.last_firm[:0], pop.considering[:0]
        kernels.lifecycle(nobody, *empty, self.stage_rules, step, self.n_firms)
        table = np.zeros((self.n_firms, 0), dtype=np.float32)
        kernels.acquisitions(none, np.zeros(self.n_firms), table, table, 0.5, 0.5, 1.0)
        RelationshipMarket._kernels_loaded = True

    _kernels_loaded = False

    @property
    def focal(self) -> Firm:
        """The firm whose policy is under test."""
        return self.firm_agents[0]

    def _firm_vectors(self) -> None:
        """Per-firm settings as arrays with one extra entry for 'no firm' (index n_firms)."""
        firms, r = self.firm_agents, self.config.market.responses

        def vector(values: list[float], none: float = 0.0) -> np.ndarray:
            return np.array([*values, none], dtype=np.float32)

        self.price = vector([f.price for f in firms])
        self.quality = vector([f.quality for f in firms])
        self.unit_cost = vector([f.spec.unit_cost for f in firms])
        self.cost_to_serve = vector([f.spec.cost_to_serve for f in firms])
        self.failure_probability = vector(
            [float(bh.per_period(f.spec.failure_rate, self.dt)) for f in firms]
        )
        self.first_discount = vector([f.policy.first_purchase_discount for f in firms])
        self.win_back_discount = vector([f.policy.win_back_discount for f in firms])
        self.referral_reward = np.array([f.policy.referral_reward for f in firms])
        loyalty = [f.policy.allocation.loyalty > 0 for f in firms]
        self.loyalty_on = np.array([*loyalty, False])
        programme = [f.policy.loyalty_programme for f in firms]
        self.switching_cost = vector([r.loyalty.switching_cost if on else 0.0 for on in loyalty])
        self.points_per_money = vector([p.points_per_money for p in programme])
        self.reward_threshold = vector([p.reward_threshold for p in programme], none=1.0)
        self.reward_value = vector([p.reward_value for p in programme])
        channel_code = {c: i for i, c in enumerate(CHANNELS)}
        self.contact_channel = np.array(
            [channel_code.get(f.policy.contact_channel, -1) for f in firms] + [-1], dtype=np.int8
        )
        self.spend = np.array(
            [[f.spend_plan()[lever] for lever in self._levers] for f in firms], dtype=float
        ).T  # one row per lever, one column per firm
        self.targeting = [f.policy.targeting for f in firms]
        price = self.price[:-1].astype(float)
        others = np.array(
            [
                np.min(np.delete(price, i)) if self.n_firms > 1 else price[i]
                for i in range(len(price))
            ]
        )
        self.cheapest_rival = vector(list(others), none=1.0)
        # The churn hazard's price term: log of the price relative to the cheapest rival's.
        self.log_price_ratio = np.log(bh.price_ratio(self.price, self.cheapest_rival)).astype(float)
        if self.n_firms == 1:
            self.log_price_ratio[:] = 0.0

    _levers = (
        "advertising",
        "referral_programme",
        "win_back",
        "thank_you",
        "complaint_handling",
        "loyalty",
        "personalisation",
        "cross_sell",
    )

    def _spend(self, lever: str) -> np.ndarray:
        return self.spend[self._levers.index(lever)]

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the market by one period."""
        self.start_period()
        self.win_back()
        self.churn()
        self.acquire()
        self.serve()
        self.close_books()
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def start_period(self) -> None:
        """Draw this period's uniforms in one block and open the tallies."""
        pop, n = self.population, self.population.size
        # The block is refilled in place: a fresh 48 MB array per period (1M customers) costs
        # as much in page faults as drawing the numbers. Same draws, same order.
        if getattr(self, "u", None) is None or self.u.shape != (N_UNIFORMS, n):
            self.u = np.empty((N_UNIFORMS, n), dtype=np.float32)
        self.rng.random(dtype=np.float32, out=self.u)
        self.noise = self.rng.standard_normal(n, dtype=np.float32)
        self.tally = {
            key: np.zeros(self.n_firms + 1)
            for key in (
                "acquired_advertising",
                "acquired_referral",
                "acquired_win_back",
                "acquired_from_rival",
                "churned_to_rival",
                "churned_out_of_market",
                "cost_referral",
                "cost_win_back",
                "cost_advertising",
                "cost_complaint_handling",
            )
        }
        self.lever_cost: dict[str, np.ndarray] = {}
        self.customers_start = bh.count_by(pop.firm, self.n_firms + 1)

    def customers(self, rows: slice = slice(None)) -> kernels.Customers:
        """The population's arrays (``rows`` of them) as the kernels take them: views."""
        pop = self.population
        return kernels.Customers(*(getattr(pop, name)[rows] for name in kernels.Customers._fields))

    def effective_price_sensitivity(self, rows: np.ndarray) -> np.ndarray:
        """Price sensitivity of customers ``rows`` after the tenure effect (floor: 30%).

        The rule of :func:`kernels.churn_log_rates`, for a few rows.
        """
        pop, rules = self.population, self.churn_rules
        sensitivity = pop.price_sensitivity[rows]
        if rules.sensitivity_decline == 0:
            return sensitivity
        years = (self.steps - pop.acquired_at[rows]) * rules.years_per_period
        return sensitivity * np.maximum(1 - rules.sensitivity_decline * years, 0.3)

    def start_relationships(self, rows: np.ndarray, firms: np.ndarray, origin: np.ndarray) -> None:
        """Make ``rows`` new customers of ``firms`` in this period."""
        pop = self.population
        pop.firm[rows] = firms
        pop.stage[rows] = STAGE["purchase"]
        pop.acquired_at[rows] = self.steps
        pop.origin[rows] = origin
        pop.points[rows] = 0
        pop.uplift[rows] = 1
        pop.strength[rows] = 0.1
        pop.considering[rows] = self.n_firms
        pop.satisfaction[rows] = self.config.market.behaviour.satisfaction_at_par
        if self.cohorts is not None:
            focal = firms == 0
            self.cohorts.join(self.steps, pop.base_churn_rate[rows[focal]])

    def end_relationships(self, rows: np.ndarray) -> None:
        """Record the cohort exit of ``rows`` (before their firm changes)."""
        pop = self.population
        if self.cohorts is not None:
            focal = rows[pop.firm[rows] == 0]
            self.cohorts.leave(pop.acquired_at[focal], self.steps, pop.base_churn_rate[focal])

    # ------------------------------------------------------------------ 1. win-back
    def win_back(self) -> None:
        """Lapsed customers: won back by their last firm's offers, or back into the market."""
        pop, behaviour = self.population, self.config.market.behaviour
        lapsed = np.flatnonzero(pop.stage == STAGE["lapsed"])
        if lapsed.size == 0:
            return
        last = pop.last_firm[lapsed]
        eligible = np.bincount(last, minlength=self.n_firms + 1)[: self.n_firms]
        spend = self._spend("win_back")
        response = self.config.market.responses.win_back
        reach = np.append(bh.coverage(spend, response.unit_cost, eligible), 0.0)
        self.tally["cost_win_back"][: self.n_firms] += np.where(eligible > 0, spend, 0.0)
        offer = bh.price_ratio(
            self.price[last] * (1 - self.win_back_discount[last]),
            self.config.market.reference_price,
        )
        won_probability = (
            reach[last] * response.success * bh.conversion(offer, pop.price_sensitivity[lapsed])
        )
        u = self.u[U_MOVE, lapsed]
        won = u < won_probability
        reentry_probability = float(bh.per_period(behaviour.reentry_rate, self.dt))
        reentry = np.flatnonzero(~won & (u < won_probability + reentry_probability))
        rows = lapsed[won]
        self.start_relationships(rows, last[won], ORIGIN["win_back"])
        self.tally["acquired_win_back"] += np.bincount(last[won], minlength=self.n_firms + 1)
        rows = lapsed[reentry]
        pop.stage[rows] = STAGE["discovery"]
        # Back among the prospects, they meet acquisition with the same row: given re-entry,
        # the uniform's position within the re-entry band is a fresh uniform.
        fresh = (u[reentry] - won_probability[reentry]) / reentry_probability
        self.u[U_MOVE, rows] = np.minimum(fresh, np.float32(1.0))

    # ------------------------------------------------------------------ 2. churn
    def churn(self) -> None:
        """Customers leave; a share goes to a rival, the rest leave the market.

        The rate rises with dissatisfaction and with a price above the cheapest rival's, and
        falls with trust and with loyalty points at stake.
        """
        pop, f_none = self.population, self.n_firms
        customers = self.customers()
        log_rate = kernels.churn_log_rates(
            customers, self.log_base_churn_rate, self.firm_terms, self.churn_rules, self.steps
        )
        # Two whole-array passes: numpy's vectorised exponentials beat a compiled loop's.
        probability = bh.per_period(np.exp(log_rate), self.dt)
        pop.churn_probability = probability  # every customer's current risk, for CLV
        u = self.u[U_MOVE]
        leaving = kernels.leavers(customers, u, probability, self.steps)
        if leaving.size == 0:
            return
        firm = pop.firm
        old = firm[leaving].copy()
        self.end_relationships(leaving)
        # Given that a customer leaves (u < p), u / p is a fresh uniform for where to.
        u_where = u[leaving] / probability[leaving]
        sensitivity = self.effective_price_sensitivity(leaving)
        new = self.choose_rivals(leaving, old, sensitivity, u_where)
        to_rival = new < f_none
        self.tally["churned_to_rival"] += np.bincount(old[to_rival], minlength=f_none + 1)
        self.tally["churned_out_of_market"] += np.bincount(old[~to_rival], minlength=f_none + 1)
        self.tally["acquired_from_rival"] += np.bincount(new[to_rival], minlength=f_none + 1)
        gone = leaving[~to_rival]
        pop.firm[gone] = f_none
        pop.last_firm[gone] = old[~to_rival]
        pop.stage[gone] = STAGE["lapsed"]
        pop.points[gone] = 0
        self.start_relationships(leaving[to_rival], new[to_rival], ORIGIN["from_rival"])

    def choose_rivals(
        self, rows: np.ndarray, old: np.ndarray, sensitivity: np.ndarray, u: np.ndarray
    ) -> np.ndarray:
        """Where leavers go: a rival chosen by quality and price, or no firm (``n_firms``).

        ``u`` holds one uniform per leaver.
        """
        f_none = self.n_firms
        destination = np.full(len(rows), f_none, dtype=np.int16)
        if f_none < 2:
            return destination
        share = self.config.market.behaviour.switch_share
        switching = np.flatnonzero(u < share)
        if switching.size == 0:
            return destination
        ratio = bh.price_ratio(self.price[:f_none], self.config.market.reference_price)
        fit = self.quality[:f_none][None, :] + self.population.match[rows[switching]]
        attraction = np.maximum(fit, 0.01) * bh.conversion(
            ratio[None, :], sensitivity[switching][:, None]
        )
        attraction[np.arange(switching.size), old[switching]] = 0.0
        has_option = attraction.sum(axis=1) > 0
        chosen = bh.pick_column(attraction, u[switching] / share)
        destination[switching[has_option]] = chosen[has_option]
        return destination

    # ------------------------------------------------------------------ 3. acquisition
    def acquire(self) -> None:
        """Prospects are reached by advertising and by referrals from promoters; some buy."""
        pop, m = self.population, self.config.market
        f_none = self.n_firms
        prospect = np.flatnonzero(pop.stage <= STAGE["evaluation"])
        if prospect.size == 0:
            return
        ad = m.responses.advertising
        spend = self._spend("advertising")
        ad_reach = bh.advertising_rate(spend, prospect.size, self.dt, ad.ceiling, ad.spend_scale)
        self.tally["cost_advertising"][:f_none] += spend
        referral_rate = self.referral_rates(prospect)  # (firms, prospects)
        offer = bh.price_ratio(
            self.price[:f_none] * (1 - self.first_discount[:f_none]), m.reference_price
        )
        # The response to each firm's offer price, min(1, conversion x offer^-sensitivity)
        # without the cap, as one vectorised exponential.
        sensitivity = pop.price_sensitivity[prospect]
        response = np.exp(-sensitivity[None, :] * np.log(offer)[:, None])
        outcome = kernels.acquisitions(
            self.u[U_MOVE, prospect],
            np.asarray(ad_reach, dtype=np.float64),
            referral_rate,
            response,
            float(ad.conversion),
            float(m.responses.word_of_mouth.conversion),
            float(self.dt),
        )
        evaluating = np.flatnonzero((outcome >= 0) & (outcome < f_none))
        if evaluating.size:
            rows = prospect[evaluating]
            pop.stage[rows] = STAGE["evaluation"]
            pop.considering[rows] = outcome[evaluating]
        buying = np.flatnonzero(outcome >= f_none)
        if not buying.size:
            return
        choice = outcome[buying] - f_none  # advertising rows, then referral rows
        firms = (choice % f_none).astype(np.int16)
        referred = choice >= f_none
        origin = np.where(referred, ORIGIN["referral"], ORIGIN["advertising"]).astype(np.int8)
        self.start_relationships(prospect[buying], firms, origin)
        referrals = np.bincount(firms[referred], minlength=f_none + 1)
        self.tally["acquired_referral"] += referrals
        self.tally["acquired_advertising"] += np.bincount(firms[~referred], minlength=f_none + 1)
        self.tally["cost_referral"][:f_none] += referrals[:f_none] * self.referral_reward

    def referral_rates(self, prospect: np.ndarray) -> np.ndarray:
        """Monthly referral hazard of each prospect towards each firm (the Bass q x exposure).

        A customer's referral weight is its referral tendency if it is a promoter, raised by
        the referral programme and, if switched on, by tenure. Exposure is the weighted share of
        the prospect's contacts (or of the whole market, with no network) who promote a firm.
        """
        pop, m = self.population, self.config.market
        f_none = self.n_firms
        wom = m.responses.word_of_mouth
        if not wom.enabled or wom.rate == 0:
            return np.zeros((f_none, prospect.size), dtype=np.float32)
        # Only promoters carry weight, so the arithmetic runs over their rows alone (about a
        # tenth of the market); every value is the one a whole-array pass would give.
        promoter = (pop.firm < f_none) & (pop.satisfaction >= m.behaviour.promoter_threshold)
        rows = np.flatnonzero(promoter)
        firm = pop.firm[rows]
        weight = pop.referral_tendency[rows]
        growth = m.tenure_effects.referrals
        if growth.enabled and growth.size > 0:
            years = ((self.steps - pop.acquired_at[rows]) * (self.dt / 12)).astype(np.float32)
            weight *= 1 + growth.size * years
        spend = self._spend("referral_programme")
        eligible = np.bincount(firm, minlength=f_none + 1)[:f_none]
        reach = np.append(bh.coverage(spend, m.responses.referral_programme.unit_cost, eligible), 0)
        self.tally["cost_referral"][:f_none] += np.where(eligible > 0, spend, 0.0)
        informed = self.u[U_REFERRAL, rows] < reach[firm]
        weight *= np.where(informed, 1 + m.responses.referral_programme.boost, 1.0).astype(
            np.float32
        )
        weight = np.minimum(weight, 1.0)
        if self.network is None:
            totals = np.bincount(firm, weights=weight, minlength=f_none + 1)[:f_none]
            exposure = np.broadcast_to((totals / pop.size)[:, None], (f_none, prospect.size))
            return (wom.rate * exposure).astype(np.float32)
        degree = self.degree[prospect]
        rates = np.empty((f_none, prospect.size), dtype=np.float32)
        for index, heard in enumerate(self.network_exposure(prospect, rows, firm, weight)):
            rates[index] = wom.rate * (heard / degree)
        return rates

    def network_exposure(
        self, prospect: np.ndarray, rows: np.ndarray, firm: np.ndarray, weight: np.ndarray
    ) -> list[np.ndarray]:
        """Per firm, the sum over each prospect's contacts of the referral weight they give.

        ``network @ weights`` would visit every link of every customer. Only the links between
        prospects and promoters (``rows``, ascending) matter, so this visits the links of
        whichever group is smaller: it pulls along the prospects' rows, or pushes the
        promoters' weight along their columns (the network is symmetric, so its transpose,
        free to make, holds each promoter's contacts as a column). Either way each sum adds
        the same float32 terms in the same order (ascending contact) as ``network @ weights``.
        Pulling visits every link of a prospect once per firm, pushing each promoter's once,
        but slicing columns costs about as much again: pulling pays when prospects are fewer
        than half the promoters (measured at 1M customers), as in a maturing market.

        Returns:
            One float32 array over the prospects per firm.
        """
        n = self.population.size
        keep = weight > 0
        rows, firm, weight = rows[keep], firm[keep], weight[keep]
        exposures = []
        if 2 * prospect.size < rows.size:
            contacts = self.network[prospect]
            given = np.zeros(n, dtype=np.float32)
            for index in range(self.n_firms):
                mine = firm == index
                given[rows[mine]] = weight[mine]
                exposures.append(contacts @ given)
                given[rows[mine]] = 0.0
            return exposures
        contacts = self.network.T
        for index in range(self.n_firms):
            mine = firm == index
            if mine.any():
                exposures.append((contacts[:, rows[mine]] @ weight[mine])[prospect])
            else:
                exposures.append(np.zeros(prospect.size, dtype=np.float32))
        return exposures

    # ------------------------------------------------------------------ 4. service
    def serve(self) -> None:
        """Customers buy, meet failures and receive contacts; their state moves accordingly.

        Updates satisfaction, expectations, trust, spending and loyalty points, and books each
        firm's sales. The rules run per customer in :mod:`simulation.market.kernels`; the budgets'
        reach is decided here, per firm, between the kernels' two passes.
        """
        pop, r = self.population, self.config.market.responses
        active = pop.firm < self.n_firms
        targeted, low_value = self.value_segments(active)
        customers = self.customers()
        u = self.u
        draws = kernels.Draws(
            u[U_BUY], u[U_FAIL], u[U_PERSONAL], u[U_CROSS], u[U_LOYALTY], self.noise
        )
        terms = self.firm_terms
        counts = kernels.lever_counts(
            customers, targeted, draws, terms, self.service_rules.purchase_probability
        )
        reach = np.zeros((kernels.N_LEVERS, self.n_firms + 1))
        for row, lever in enumerate(kernels.LEVERS):
            reach[row, : self.n_firms] = self.lever_reach(
                lever, counts[row, : self.n_firms], getattr(r, lever).unit_cost
            )
        sums = kernels.serve_customers(
            customers,
            targeted,
            low_value,
            draws,
            reach,
            terms,
            self.service_rules,
            self.steps,
            self.serve_cost_by_tenure(),
        )
        self.sales = dict(zip(kernels.SUM_NAMES, sums, strict=True))
        self.sales["reward_cost"] = sums[kernels.SUM_NAMES.index("rewards")] * terms.reward_value

    def serve_cost_by_tenure(self) -> np.ndarray:
        """Share of the cost to serve still paid, by tenure in periods (0 to the longest).

        With the tenure effect on, serving a customer gets cheaper over the first years:
        ``1 - size * (1 - exp(-4 * years))``. A table by tenure spares an exponential per
        customer.
        """
        effect = self.config.market.tenure_effects.cost_to_serve
        decline = effect.size if effect.enabled else 0.0
        # Relationships start only from now on: the longest tenure is steps - earliest_start.
        years = np.arange(self.steps - self.earliest_start + 1) * (self.dt / 12)
        return 1 - decline * -np.expm1(-years * 4.0)

    def lever_reach(self, lever: str, eligible: np.ndarray, unit_cost: float) -> np.ndarray:
        """Share of each firm's ``eligible`` customers a lever reaches; its spend is booked."""
        spend = self._spend(lever)
        self.lever_cost[lever] = np.where(eligible > 0, spend, 0.0)
        return bh.coverage(spend, unit_cost, eligible)

    def value_segments(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Who gets retention effort (top share by value) and whose service is cut (bottom)."""
        targeted = active.copy()
        low_value = np.zeros(active.shape, dtype=bool)
        if all(t.by == "none" for t in self.targeting):
            return targeted, low_value
        pop = self.population
        for index, rule in enumerate(self.targeting):
            if rule.by == "none":
                continue
            mine = pop.firm == index
            score = self.value_scores(mine, rule.by)
            if not mine.any():
                continue
            if rule.top_share < 1:
                cut = np.quantile(score[mine], 1 - rule.top_share)
                targeted[mine] = score[mine] >= cut
            if rule.serve_cut_share > 0 and rule.serve_cut > 0:
                floor = np.quantile(score[mine], rule.serve_cut_share)
                low_value[mine] = score[mine] <= floor
        return targeted, low_value

    def value_scores(self, mine: np.ndarray, by: str) -> np.ndarray:
        """Customer value by RFM (recency x frequency x monetary per period) or expected CLV."""
        pop = self.population
        if by == "clv":
            return self.expected_values()
        tenure = np.maximum(self.steps - pop.acquired_at, 1)
        recency = 1.0 / (1.0 + np.maximum(self.steps - pop.last_purchase, 0))
        return recency * (pop.purchases / tenure) * (pop.monetary / tenure)

    # ------------------------------------------------------------------ 5. books
    def close_books(self) -> None:
        """Update lifecycle stages and write each firm's accounts for the period."""
        pop, f_none = self.population, self.n_firms
        by_stage, sat_sum, promoters, detractors, lapsed_by, evaluating_by = kernels.lifecycle(
            self.customers(),
            pop.stage,
            pop.last_firm,
            pop.considering,
            self.stage_rules,
            self.steps,
            f_none,
        )
        counts = by_stage.sum(axis=1)
        # Net promoter score: share of promoters minus share of detractors, in points.
        net_promoters = (promoters - detractors).astype(np.float64)
        discovery = int(by_stage[:, STAGE["discovery"]].sum())
        total_customers = int(counts[:f_none].sum())
        discount = (1 + self.discount_per_period) ** -self.steps
        for firm in self.firm_agents:
            i = firm.index
            books = self.firm_books(i, counts, total_customers, discount)
            if counts[i]:
                books.mean_satisfaction = float(sat_sum[i] / counts[i])
                books.net_promoter_score = float(100 * net_promoters[i] / counts[i])
            books.stage_discovery = discovery
            books.stage_evaluation = int(evaluating_by[i])
            books.stage_purchase = int(by_stage[i, STAGE["purchase"]])
            books.stage_experience = int(by_stage[i, STAGE["experience"]])
            books.stage_bonding = int(by_stage[i, STAGE["bonding"]])
            books.stage_advocacy = int(by_stage[i, STAGE["advocacy"]])
            books.stage_lapsed = int(lapsed_by[i])
            firm.record(books)

    def firm_books(self, i: int, counts: np.ndarray, total: int, discount: float) -> Books:
        """Accounts of firm ``i`` for this period, from the tallies of the phases."""
        t, sales, lever = self.tally, self.sales, self.lever_cost
        books = Books(customers_start=int(self.customers_start[i]), customers=int(counts[i]))
        for channel in ("advertising", "referral", "win_back", "from_rival"):
            setattr(books, f"acquired_{channel}", int(t[f"acquired_{channel}"][i]))
        books.acquired = (
            books.acquired_advertising
            + books.acquired_referral
            + books.acquired_win_back
            + books.acquired_from_rival
        )
        books.churned_to_rival = int(t["churned_to_rival"][i])
        books.churned_out_of_market = int(t["churned_out_of_market"][i])
        books.churned = books.churned_to_rival + books.churned_out_of_market
        books.churn_rate = books.churned / books.customers_start if books.customers_start else 0.0
        books.retention_rate = 1.0 - books.churn_rate
        books.revenue = float(sales["revenue"][i])
        books.cost_product = float(sales["product"][i])
        books.cost_service = float(sales["service"][i])
        books.cost_advertising = float(t["cost_advertising"][i])
        books.cost_discount = float(sales["discount"][i])
        books.cost_referral = float(t["cost_referral"][i])
        books.cost_win_back = float(t["cost_win_back"][i])
        books.cost_thank_you = float(lever["thank_you"][i])
        books.cost_complaint_handling = float(lever["complaint_handling"][i])
        books.cost_loyalty = float(lever["loyalty"][i] + sales["reward_cost"][i])
        books.cost_personalisation = float(lever["personalisation"][i])
        books.cost_cross_sell = float(lever["cross_sell"][i])
        books.acquisition_cost = (
            books.cost_advertising + books.cost_discount + books.cost_referral + books.cost_win_back
        )
        books.retention_cost = (
            books.cost_thank_you
            + books.cost_complaint_handling
            + books.cost_loyalty
            + books.cost_personalisation
            + books.cost_cross_sell
        )
        books.marketing_cost = books.acquisition_cost + books.retention_cost
        books.cost_total = books.cost_product + books.cost_service + books.marketing_cost
        books.profit = books.revenue - books.cost_total
        books.discounted_profit = books.profit * discount
        books.cost_per_acquired = (
            books.acquisition_cost / books.acquired if books.acquired else float("nan")
        )
        retained = books.customers_start - books.churned
        books.cost_per_retained = books.retention_cost / retained if retained > 0 else float("nan")
        books.market_share = books.customers / total if total else 0.0
        books.referrals = books.acquired_referral
        return books

    # ------------------------------------------------------------------ read-outs
    def expected_values(self) -> np.ndarray:
        """Each customer's expected lifetime value from the next period (0 without a firm)."""
        pop = self.population
        values = bh.expected_lifetime_value(
            pop.margin, pop.churn_probability, self.discount_per_period
        )
        return np.where(pop.firm < self.n_firms, values, 0.0)

    def run(self) -> None:
        """Run to the end of the horizon."""
        while self.running:
            self.step()
