"""Customer state as a structure of numpy arrays, one row per customer.

The Mesa ``Customer`` agents are views onto these rows; the dynamics update whole columns at
once. State that enters the per-period arithmetic is float32 (half the memory traffic of
float64); money accumulated over a run is float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulation.scenario.schema import CHANNELS, STAGES, Distribution, Market

STAGE = {name: np.int8(i) for i, name in enumerate(STAGES)}
# How a customer came to its current firm.
ORIGINS = ("initial", "advertising", "referral", "win_back", "from_rival")
ORIGIN = {name: np.int8(i) for i, name in enumerate(ORIGINS)}


def draw(dist: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` values from a scenario distribution (float32).

    Beta, log-normal and gamma are parameterised by the mean and sd of the variable itself.
    """
    kind = dist.dist
    if kind == "constant":
        values = np.full(n, dist.value)
    elif kind == "uniform":
        values = rng.uniform(dist.low, dist.high, n)
    elif kind == "normal":
        values = np.clip(rng.normal(dist.mean, dist.sd, n), dist.low, dist.high)
    elif kind == "beta":
        common = dist.mean * (1 - dist.mean) / dist.sd**2 - 1
        values = rng.beta(dist.mean * common, (1 - dist.mean) * common, n)
    elif kind == "lognormal":
        sigma2 = np.log1p((dist.sd / dist.mean) ** 2)
        values = rng.lognormal(np.log(dist.mean) - sigma2 / 2, np.sqrt(sigma2), n)
    elif kind == "gamma":
        shape = (dist.mean / dist.sd) ** 2
        values = rng.gamma(shape, dist.sd**2 / dist.mean, n)
    else:  # pragma: no cover - the schema admits no other kind
        raise ValueError(f"unknown distribution {kind}")
    return values.astype(np.float32)


@dataclass
class Population:
    """Every customer's traits and state. ``firm == n_firms`` means no firm.

    Tenure is not stored: it is the current period minus ``acquired_at``.
    """

    # traits (fixed for a customer's life)
    price_sensitivity: np.ndarray
    referral_tendency: np.ndarray
    relational_weight: np.ndarray  # weight of relationship actions: 1, less if transactional
    transactional: np.ndarray
    channel: np.ndarray
    contact_tolerance: np.ndarray
    match: np.ndarray  # (customers, firms): lasting fit of each customer with each firm
    units: np.ndarray
    base_churn_rate: np.ndarray
    # state
    satisfaction: np.ndarray
    expectation: np.ndarray
    strength: np.ndarray
    firm: np.ndarray
    last_firm: np.ndarray
    considering: np.ndarray
    stage: np.ndarray
    acquired_at: np.ndarray
    origin: np.ndarray
    points: np.ndarray
    uplift: np.ndarray
    churn_probability: np.ndarray
    margin: np.ndarray
    purchases: np.ndarray
    last_purchase: np.ndarray
    monetary: np.ndarray

    @property
    def size(self) -> int:
        """Number of customers (active, prospective and lapsed)."""
        return len(self.firm)

    def view(self, rows: slice = slice(None)) -> Customers:
        """The arrays the kernels read or update (``rows`` of them), as views."""
        return Customers(*(getattr(self, name)[rows] for name in Customers._fields))


class Customers(NamedTuple):
    """The population's arrays the kernels read or update (a view, not a copy)."""

    firm: np.ndarray
    price_sensitivity: np.ndarray
    acquired_at: np.ndarray
    origin: np.ndarray
    channel: np.ndarray
    relational_weight: np.ndarray
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


def draw_population(market: Market, n_firms: int, rng: np.random.Generator) -> Population:
    """Draw a market's customers and hand the initial customers to the firms.

    Args:
        market: the market section of a scenario.
        n_firms: number of firms; the code ``n_firms`` marks customers without a firm.
        rng: the model's generator.
    """
    n = market.customers
    traits = market.customer
    transactional = rng.random(n) < traits.transactional_share
    relational_weight = np.where(transactional, market.behaviour.transactional_response, 1.0)
    shares = np.array([getattr(traits.channels, c) for c in CHANNELS])
    channel = rng.choice(len(CHANNELS), size=n, p=shares / shares.sum()).astype(np.int8)

    firm, tenure = _initial_customers(market, n_firms, n, rng)
    active = firm < n_firms
    stage = np.where(active, STAGE["experience"], STAGE["discovery"]).astype(np.int8)
    return Population(
        price_sensitivity=draw(traits.price_sensitivity, n, rng),
        referral_tendency=np.clip(draw(traits.referral_tendency, n, rng), 0, 1),
        relational_weight=relational_weight.astype(np.float32),
        transactional=transactional,
        channel=channel,
        contact_tolerance=np.maximum(draw(traits.contact_tolerance, n, rng), 0.1),
        match=(rng.standard_normal((n, n_firms), dtype=np.float32) * market.behaviour.match_sd),
        units=np.maximum(draw(traits.units, n, rng), 0),
        base_churn_rate=np.maximum(draw(traits.base_churn_rate, n, rng), 0),
        satisfaction=np.clip(draw(traits.satisfaction, n, rng), 0, 1),
        expectation=np.clip(draw(traits.expectation, n, rng), 0, 1),
        strength=np.where(active, market.behaviour.initial_strength, 0.0).astype(np.float32),
        firm=firm,
        last_firm=np.full(n, n_firms, dtype=np.int16),
        considering=np.full(n, n_firms, dtype=np.int16),
        stage=stage,
        acquired_at=(-tenure).astype(np.int32),
        origin=np.full(n, ORIGIN["initial"], dtype=np.int8),
        points=np.zeros(n, dtype=np.float32),
        uplift=np.ones(n, dtype=np.float32),
        churn_probability=np.zeros(n, dtype=np.float32),
        margin=np.zeros(n, dtype=np.float32),
        purchases=np.zeros(n, dtype=np.int32),
        last_purchase=np.where(active, 0, -1).astype(np.int32),
        monetary=np.zeros(n, dtype=np.float64),
    )


def _initial_customers(
    market: Market, n_firms: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Who already buys from which firm at the start, and for how many periods."""
    weights = np.array([f.initial_share for f in market.firms], dtype=float)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(n_firms, 1 / n_firms)
    has_firm = rng.random(n) < market.initial_penetration
    choice = np.searchsorted(np.cumsum(weights), rng.random(n) * weights.sum() * 0.999999)
    firm = np.where(has_firm, np.minimum(choice, n_firms - 1), n_firms).astype(np.int16)
    tenure_range = market.customer.initial_tenure_periods
    tenure = rng.integers(tenure_range.low, tenure_range.high + 1, n)
    tenure = np.where(has_firm, tenure, 0).astype(np.int32)
    return firm, tenure
