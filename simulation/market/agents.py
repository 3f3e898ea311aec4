"""Mesa agents: customers (views onto the model's arrays) and firms (strategy and books).

A ``Customer`` holds no state of its own: its properties read and write one row of the
model's :class:`~simulation.market.population.Population`, so Mesa's tools (AgentSet, DataCollector,
the dashboard) see real agents while the dynamics update whole arrays at once.
"""

from __future__ import annotations

from typing import NamedTuple

import mesa

from simulation.market.population import ORIGINS
from simulation.scenario.schema import CHANNELS, LEVERS, STAGES, FirmSpec, Policy


class Customer(mesa.Agent):
    """One customer: a view onto row ``row`` of the model's population arrays."""

    def __init__(self, model: mesa.Model, row: int):
        super().__init__(model)
        self.row = int(row)

    @property
    def firm(self) -> str | None:
        """Name of the current firm, or None for prospects and lapsed customers."""
        code = int(self.model.population.firm[self.row])
        return self.model.firm_names[code] if code < self.model.n_firms else None

    @property
    def stage(self) -> str:
        """Lifecycle stage: discovery, evaluation, purchase, experience, bonding, ..."""
        return STAGES[int(self.model.population.stage[self.row])]

    @property
    def satisfaction(self) -> float:
        """Satisfaction on a 0-1 scale."""
        return float(self.model.population.satisfaction[self.row])

    @satisfaction.setter
    def satisfaction(self, value: float) -> None:
        self.model.population.satisfaction[self.row] = min(max(value, 0.0), 1.0)

    @property
    def strength(self) -> float:
        """Relationship strength (trust and commitment), 0-1."""
        return float(self.model.population.strength[self.row])

    @property
    def expectation(self) -> float:
        """Expected quality, 0-1."""
        return float(self.model.population.expectation[self.row])

    @property
    def price_sensitivity(self) -> float:
        """Price elasticity magnitude (before tenure effects)."""
        return float(self.model.population.price_sensitivity[self.row])

    @property
    def referral_tendency(self) -> float:
        """Monthly probability of recommending when a promoter."""
        return float(self.model.population.referral_tendency[self.row])

    @property
    def transactional(self) -> bool:
        """True for customers who want a distant, price-and-quality relationship."""
        return bool(self.model.population.transactional[self.row])

    @property
    def channel(self) -> str:
        """Preferred contact channel."""
        return CHANNELS[int(self.model.population.channel[self.row])]

    @property
    def tenure(self) -> int:
        """Periods with the current firm."""
        pop = self.model.population
        if pop.firm[self.row] >= self.model.n_firms:
            return 0
        return int(self.model.steps - pop.acquired_at[self.row])

    @property
    def origin(self) -> str:
        """How the customer came to the current firm."""
        return ORIGINS[int(self.model.population.origin[self.row])]


class Books(NamedTuple):
    """A firm's accounts for one period (see docs/outputs.md for each field).

    A tuple, made once per firm and period by :func:`~.phases.books.close_books`: Mesa's
    DataCollector records it as it is.
    """

    customers_start: int = 0
    customers: int = 0
    acquired: int = 0
    acquired_advertising: int = 0
    acquired_referral: int = 0
    acquired_win_back: int = 0
    acquired_from_rival: int = 0
    churned: int = 0
    churned_to_rival: int = 0
    churned_out_of_market: int = 0
    retention_rate: float = 1.0
    churn_rate: float = 0.0
    revenue: float = 0.0
    cost_product: float = 0.0
    cost_service: float = 0.0
    cost_advertising: float = 0.0
    cost_discount: float = 0.0
    cost_referral: float = 0.0
    cost_win_back: float = 0.0
    cost_thank_you: float = 0.0
    cost_complaint_handling: float = 0.0
    cost_loyalty: float = 0.0
    cost_personalisation: float = 0.0
    cost_cross_sell: float = 0.0
    acquisition_cost: float = 0.0
    retention_cost: float = 0.0
    marketing_cost: float = 0.0
    cost_total: float = 0.0
    profit: float = 0.0
    discounted_profit: float = 0.0
    cumulative_discounted_profit: float = 0.0
    cost_per_acquired: float = float("nan")
    cost_per_retained: float = float("nan")
    mean_satisfaction: float = float("nan")
    net_promoter_score: float = float("nan")
    stage_discovery: int = 0
    stage_evaluation: int = 0
    stage_purchase: int = 0
    stage_experience: int = 0
    stage_bonding: int = 0
    stage_advocacy: int = 0
    stage_lapsed: int = 0
    market_share: float = 0.0
    referrals: int = 0


BOOK_FIELDS = Books._fields


class Firm(mesa.Agent):
    """A firm: its market position (price, quality, costs) and the strategy it follows.

    Args:
        model: the market.
        spec: the firm's settings from the scenario.
        policy: the strategy it follows this run.
        index: its position in the market's firm list (0 is the focal firm).
    """

    def __init__(self, model: mesa.Model, spec: FirmSpec, policy: Policy, index: int):
        super().__init__(model)
        self.spec = spec
        self.policy = policy
        self.index = int(index)
        self.name = spec.name
        self.books = Books()

    @property
    def price(self) -> float:
        """Price per unit (the policy may override the firm's list price)."""
        return self.spec.price if self.policy.price is None else self.policy.price

    @property
    def quality(self) -> float:
        """Service quality, 0-1 (the policy may override it)."""
        return self.spec.quality if self.policy.quality is None else self.policy.quality

    def spend_plan(self) -> dict[str, float]:
        """This period's spend per lever: the budget times the allocation."""
        allocation = self.policy.allocation
        return {lever: self.policy.budget * getattr(allocation, lever) for lever in LEVERS}

    def record(self, books: Books) -> None:
        """Keep the period's books (their cumulative discounted profit includes this period)."""
        self.books = books
