"""The market: a Mesa model of customers and competing firms, one period per step.

A step draws the period's random numbers and runs the phases in order, as a few compiled passes
over the customers (:mod:`simulation.market.period`; the rules of each phase are in
:mod:`simulation.market.phases`):

1. :func:`~.phases.win_back.win_back`: lapsed customers may be won back, or drift back into
   the market;
2. :func:`~.phases.churn.churn`: customers leave for a rival or leave the market;
3. :func:`~.phases.acquisition.acquire`: prospects are won by advertising and by word of mouth;
4. :func:`~.phases.service.serve`: purchases (:mod:`~.phases.purchase`), failures and
   recovery, contacts, satisfaction, trust, loyalty points;
5. :func:`~.phases.books.close_books`: each firm's accounts for the period, collected by Mesa's
   DataCollector.

The scenario and policy become per-firm tables once, at set-up (:mod:`.parameters`); every
random number comes from ``self.rng`` (:mod:`.randomness`).
"""

from __future__ import annotations

import gc
from operator import attrgetter
from typing import Any

import mesa
import numpy as np

from simulation.market import parameters, period
from simulation.market import response as bh
from simulation.market.agents import BOOK_FIELDS, Customer, Firm
from simulation.market.cohorts import MAX_COHORT_PERIODS, CohortTracker
from simulation.market.network import cached_network, degrees
from simulation.market.phases import books, service
from simulation.market.population import STAGE, Customers, draw_population
from simulation.market.randomness import (
    block_generators,
    draw_blocks,
    draw_uniforms,
    model_generator,
    spend_generator,
)
from simulation.scenario.controls import configure
from simulation.scenario.schema import Scenario

FIRM_REPORTERS = {name: attrgetter(f"books.{name}") for name in BOOK_FIELDS}
# Every row of the population: the default of :meth:`RelationshipMarket.customers`.
ALL_ROWS = slice(None)
_CUSTOMER_ARRAYS = attrgetter(*Customers._fields)


def _all_books(firm: Firm) -> tuple:
    """Every field of the firm's books, in the order of :data:`FIRM_REPORTERS` (a tuple)."""
    return firm.books


class MarketCollector(mesa.DataCollector):
    """Mesa's DataCollector, reading each firm's books in one call.

    Its records are those of :class:`mesa.DataCollector` with the same reporters: where the
    firms' reporters are :data:`FIRM_REPORTERS`, Mesa records the books once as a tuple
    (:func:`_all_books`) and the tuple is spread over the reporters' columns. Calling 45
    reporters per firm cost more than the period's accounts.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        reporters = self.agenttype_reporters.get(Firm, {})
        self._books_at_once = list(reporters.items()) == list(FIRM_REPORTERS.items())

    def _record_agenttype(self, model: mesa.Model, agent_type: type) -> Any:
        """Mesa's records of one agent type: for firms, one reporter's tuple spread out."""
        if agent_type is not Firm or not self._books_at_once:
            return super()._record_agenttype(model, agent_type)
        reporters = self.agenttype_reporters[Firm]
        self.agenttype_reporters[Firm] = {"books": _all_books}
        try:
            records = list(super()._record_agenttype(model, Firm))
        finally:
            self.agenttype_reporters[Firm] = reporters
        # Mesa's own prefix (its clock, the agent's id), then the books' fields.
        return [record[:-1] + record[-1] for record in records]


def active_customers(model: RelationshipMarket) -> int:
    """Customers of any firm."""
    if model.headcount is not None:  # counted when the period's books closed
        return model.headcount[0]
    return int((model.population.firm < model.n_firms).sum())


def prospects(model: RelationshipMarket) -> int:
    """People in the market who buy from no firm and have not lapsed."""
    if model.headcount is not None:
        return model.headcount[1]
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
        rng: seed (or numpy Generator) for the model's generator, see
            :func:`~simulation.market.randomness.model_generator`; Mesa seeds its Python
            ``random`` from it.
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
        self._create_firms()
        self.population = draw_population(market, self.n_firms, self.rng)
        self.earliest_start = int(self.population.acquired_at.min(initial=0))
        # Every policy of a paired comparison meets the same network: built once per seed.
        self.network = cached_network(market.network, market.customers, self.rng)
        if customer_agents:
            self._create_customers(market.customers)
        self.cohorts = CohortTracker(self.horizon) if self.horizon <= MAX_COHORT_PERIODS else None
        self.firm_table = parameters.firm_table(self.firm_agents, market)
        self.firm_terms = parameters.firm_terms(self.firm_table, self.firm_agents)
        self.rules = parameters.rules(market)
        self.churn_rules, self.move_rules = self.rules.churn, self.rules.move
        self.purchase_rules, self.service_rules = self.rules.purchase, self.rules.service
        self.stage_rules = self.rules.stages
        self.unit_costs = parameters.lever_unit_costs(market)
        self.targets_by_value = any(t.by != "none" for t in self.firm_table.targeting)
        table = self.firm_table
        self.budget_covers_costs = bool(table.covers_rewards.any() or table.covers_discounts.any())
        self.spend_rng = spend_generator(self.rng)
        self.block_rngs = block_generators(self.rng, market.customers)
        self._prepare_passes(market.customers)
        self.u: np.ndarray | None = None
        # Customers of any firm and prospects at the end of the last period (books.close_books).
        self.headcount: tuple[int, int] | None = None
        self.datacollector = MarketCollector(
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

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the market by one period."""
        try:
            self.start_period()
            period.run(self)
        except SystemError as exc:
            # A Ctrl-C or SIGTERM handled while numba hands a compiled period's results back
            # to Python surfaces as SystemErrors caused by it: an interruption, not a failure.
            cause = exc.__cause__
            while isinstance(cause, SystemError):
                cause = cause.__cause__
            if isinstance(cause, KeyboardInterrupt):
                raise cause from None
            raise
        books.close_books(self)
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def run(self) -> None:
        """Run to the end of the horizon."""
        while self.running:
            self.step()

    def start_period(self) -> None:
        """Draw this period's uniforms in one block; say what the budgets leave the levers."""
        if self.block_rngs:  # a large market: each block from its own generator, on threads
            self.u, self.noise = draw_blocks(self.block_rngs, self.population.size, self.u)
        else:
            self.u, self.noise = draw_uniforms(self.rng, self.population.size, self.u)
        self.spend_scale = self._levers_share_of_budget()

    def spend_on(self, lever: str) -> np.ndarray:
        """Each firm's spend on ``lever`` this period (what its budget leaves the levers)."""
        return self.firm_table.spend_on(lever) * self.spend_scale

    def _levers_share_of_budget(self) -> np.ndarray:
        """Per firm, the share of the budget left to the levers this period.

        All of it, unless a policy's budget also covers rewards or discounts
        (``budget_covers``): then what they cost last period is taken off first.
        """
        table, n = self.firm_table, self.n_firms
        if self.steps <= 1 or not self.budget_covers_costs:
            return np.ones(n)
        rewards = self.sales["reward_cost"][:n] + (
            self.tally["acquired_referral"][:n] * table.referral_reward
        )
        carried = (
            table.covers_rewards * rewards + table.covers_discounts * self.sales["discount"][:n]
        )
        budget = table.spend.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(budget > 0, 1.0 - carried / budget, 1.0)
        return np.clip(share, 0.0, 1.0)

    # ------------------------------------------------------------------ read-outs
    @property
    def focal(self) -> Firm:
        """The firm whose policy is under test."""
        return self.firm_agents[0]

    def customers(self, rows: slice = ALL_ROWS) -> Customers:
        """The population's arrays (``rows`` of them) as the kernels take them: views.

        All rows (the default, which the passes ask for every period) are the arrays
        themselves, read in one call rather than sliced one by one.
        """
        if rows is ALL_ROWS:
            return Customers._make(_CUSTOMER_ARRAYS(self.population))
        return self.population.view(rows)

    def expected_values(self) -> np.ndarray:
        """Each customer's expected lifetime value from the next period (0 without a firm)."""
        pop = self.population
        values = bh.expected_lifetime_value(
            pop.margin, pop.churn_probability, self.discount_per_period
        )
        return np.where(pop.firm < self.n_firms, values, 0.0)

    # ------------------------------------------------------------------ set-up
    def _create_firms(self) -> None:
        """One ``Firm`` agent per firm: the focal one follows the policy under test."""
        firms = self.config.market.firms
        policies = [self.config.policies[self.policy_name]] + [f.strategy for f in firms[1:]]
        self.firm_agents: list[Firm] = list(
            Firm.create_agents(
                self, self.n_firms, spec=firms, policy=policies, index=list(range(self.n_firms))
            )
        )
        self.firm_agents.sort(key=attrgetter("index"))
        self.firm_names = [f.name for f in self.firm_agents]

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

    def _prepare_passes(self, n: int) -> None:
        """The arrays the compiled passes take (:mod:`.period`), made once for the run."""
        pop = self.population
        with np.errstate(divide="ignore"):  # a base rate of 0 never churns: log 0 = -inf
            log_base_churn_rate = np.log(pop.base_churn_rate)
        self.state = period.State(
            stage=pop.stage,
            considering=pop.considering,
            referral_tendency=pop.referral_tendency,
            base_churn_rate=pop.base_churn_rate,
            log_base_churn_rate=log_base_churn_rate,
            churn_probability=pop.churn_probability,
            dropout_multiplier=np.ones(n, dtype=np.float32),
            expected=np.zeros(n, dtype=np.float32),
            weight=np.zeros(n, dtype=np.float32),
            prospects=np.empty(n, dtype=np.int32),
            promoters=np.empty(n, dtype=np.int32),
            everyone=np.ones(n, dtype=bool),
            no_one=np.zeros(n, dtype=bool),
            slot=np.full(n, -1, dtype=np.int32),
        )
        if self.network is None:
            self.links = period.Network(*(np.zeros(0, dtype=np.int32) for _ in range(3)))
        else:
            degree = np.maximum(degrees(self.network), 1).astype(np.int32)
            self.links = period.Network(self.network.indptr, self.network.indices, degree)
        tracker = self.cohorts
        if tracker is None:
            self.cohort_counts = period.Cohorts(
                np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 0), np.int64), np.zeros((0, 0))
            )
        else:
            self.cohort_counts = period.Cohorts(
                tracker.size, tracker.base_sum, tracker.lost, tracker.base_lost
            )
        self.serve_factor = service.serve_cost_by_tenure(self, self.horizon)
        self.lifecycle: tuple | None = None  # the last period's stage counts (.period)
        self.no_units = np.zeros(0, dtype=np.float32)
        period.load_kernels(self)  # once per process and kind of period
