"""The market: a Mesa model of customers and competing firms, one period per step.

A step draws the period's random numbers and runs the phases in order, each a few whole-array
operations or compiled passes over all customers (:mod:`simulation.market.phases`):

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

from simulation.market import parameters
from simulation.market import response as bh
from simulation.market.agents import BOOK_FIELDS, Customer, Firm
from simulation.market.cohorts import MAX_COHORT_PERIODS, CohortTracker
from simulation.market.network import build_network, degrees
from simulation.market.phases import acquisition, books, churn, loyalty, purchase, service, win_back
from simulation.market.population import STAGE, Customers, draw_population
from simulation.market.randomness import draw_uniforms, model_generator, spend_generator
from simulation.scenario.controls import configure
from simulation.scenario.schema import Scenario

# What each phase tallies per firm (plus 'no firm') for the books.
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
    "cost_complaint_handling",
)

FIRM_REPORTERS = {name: attrgetter(f"books.{name}") for name in BOOK_FIELDS}


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
        with np.errstate(divide="ignore"):  # a base rate of 0 never churns: log 0 = -inf
            self.log_base_churn_rate = np.log(self.population.base_churn_rate)
        self.network = build_network(market.network, market.customers, self.rng)
        self.degree = None if self.network is None else np.maximum(degrees(self.network), 1)
        if customer_agents:
            self._create_customers(market.customers)
        self.cohorts = CohortTracker(self.horizon) if self.horizon <= MAX_COHORT_PERIODS else None
        self.firm_table = parameters.firm_table(self.firm_agents, market)
        self.firm_terms = parameters.firm_terms(self.firm_table, self.firm_agents)
        self.churn_rules = parameters.churn_rules(market)
        self.purchase_rules = parameters.purchase_rules(market)
        self.service_rules = parameters.service_rules(market)
        self.spend_rng = spend_generator(self.rng)
        n = market.customers
        self.no_hazard = np.zeros(n, dtype=np.float32)  # log 1: the BG/NBD's multiplier alone
        self.dropout_multiplier = np.ones(n, dtype=np.float32)
        self.expected_transactions = np.zeros(n, dtype=np.float32)
        self.stage_rules = parameters.stage_rules(market)
        self._load_kernels()
        self.u: np.ndarray | None = None
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

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the market by one period."""
        self.start_period()
        win_back.win_back(self)
        churn.churn(self)
        acquisition.acquire(self)
        service.serve(self)
        books.close_books(self)
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def run(self) -> None:
        """Run to the end of the horizon."""
        while self.running:
            self.step()

    def start_period(self) -> None:
        """Draw this period's uniforms in one block and open the tallies."""
        self.u, self.noise = draw_uniforms(self.rng, self.population.size, self.u)
        self.spend_scale = self._levers_share_of_budget()
        self.tally = {key: np.zeros(self.n_firms + 1) for key in TALLIES}
        self.lever_cost: dict[str, np.ndarray] = {}
        self.customers_start = bh.count_by(self.population.firm, self.n_firms + 1)

    def spend_on(self, lever: str) -> np.ndarray:
        """Each firm's spend on ``lever`` this period (what its budget leaves the levers)."""
        return self.firm_table.spend_on(lever) * self.spend_scale

    def _levers_share_of_budget(self) -> np.ndarray:
        """Per firm, the share of the budget left to the levers this period.

        All of it, unless a policy's budget also covers rewards or discounts
        (``budget_covers``): then what they cost last period is taken off first.
        """
        table, n = self.firm_table, self.n_firms
        if self.steps <= 1 or not (table.covers_rewards.any() or table.covers_discounts.any()):
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

    # ------------------------------------------------------------------ relationships
    def start_relationships(self, rows: np.ndarray, firms: np.ndarray, origin: np.ndarray) -> None:
        """Make ``rows`` new customers of ``firms`` in this period."""
        pop, behaviour = self.population, self.config.market.behaviour
        pop.firm[rows] = firms
        pop.stage[rows] = STAGE["purchase"]
        pop.acquired_at[rows] = self.steps
        pop.origin[rows] = origin
        loyalty.forfeit_points(pop, rows)
        pop.uplift[rows] = 1
        pop.strength[rows] = behaviour.new_customer_strength
        pop.dropped[rows] = False
        pop.considering[rows] = self.n_firms
        pop.satisfaction[rows] = behaviour.satisfaction_at_par
        if self.cohorts is not None:
            focal = firms == 0
            self.cohorts.join(self.steps, pop.base_churn_rate[rows[focal]])

    def end_relationships(self, rows: np.ndarray) -> None:
        """Record the cohort exit of ``rows`` (before their firm changes)."""
        pop = self.population
        if self.cohorts is not None:
            focal = rows[pop.firm[rows] == 0]
            self.cohorts.leave(pop.acquired_at[focal], self.steps, pop.base_churn_rate[focal])

    # ------------------------------------------------------------------ read-outs
    @property
    def focal(self) -> Firm:
        """The firm whose policy is under test."""
        return self.firm_agents[0]

    def customers(self, rows: slice = slice(None)) -> Customers:
        """The population's arrays (``rows`` of them) as the kernels take them: views."""
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

    def _load_kernels(self) -> None:
        """Run each phase's compiled kernels once on no customers, as part of the set-up.

        The first call in a process loads the kernels from numba's cache (compiling them the
        first time ever); a run's periods should not be charged for it.
        """
        if RelationshipMarket._kernels_loaded:
            return
        for phase in (churn, acquisition, purchase, service, books):
            phase.load_kernels(self)
        RelationshipMarket._kernels_loaded = True

    _kernels_loaded = False
