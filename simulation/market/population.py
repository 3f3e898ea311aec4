"""Customer state as a structure of numpy arrays, one row per customer.

The Mesa ``Customer`` agents are views onto these rows; the dynamics update whole columns at
once. State that enters the per-period arithmetic is float32 (half the memory traffic of
float64); money accumulated over a run is float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulation.scenario.schema import CHANNELS, STAGES, CustomerTraits, Distribution, Market

STAGE = {name: np.int8(i) for i, name in enumerate(STAGES)}
# How a customer came to its current firm.
ORIGINS = ("initial", "advertising", "referral", "win_back", "from_rival")
ORIGIN = {name: np.int8(i) for i, name in enumerate(ORIGINS)}


def draw(dist: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` values from a scenario distribution (float32).

    Beta and log-normal are parameterised by the mean and sd of the variable itself; gamma by
    those or by its shape and rate.
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
        shape, scale = dist.shape_and_scale()
        values = rng.gamma(shape, scale, n)
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
    units: np.ndarray  # mean units per transaction (the Gamma-Gamma mean p / nu when drawn so)
    spend_rate: np.ndarray  # Gamma-Gamma nu: a transaction's units are Gamma(p, nu); else 0
    transaction_rate: np.ndarray  # transactions per month while with a firm (poisson process)
    base_churn_rate: np.ndarray  # drop-out hazard per month (hazard and sbg laws), else 0
    dropout_chance: np.ndarray  # drop-out chance per repeat transaction (bgnbd law), else 0
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
    left_at: np.ndarray  # period in which the last relationship ended (-1: never)
    leaving_share: np.ndarray  # share of the period a customer who left this period still bought
    dropped: np.ndarray  # bgnbd: dropped out after a transaction, leaves at the next period
    transactions: np.ndarray  # this period's transactions with the current (or last) firm
    spent: np.ndarray  # this period's revenue from the customer

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
    transaction_rate: np.ndarray
    dropout_chance: np.ndarray
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
    last_firm: np.ndarray
    left_at: np.ndarray
    leaving_share: np.ndarray
    dropped: np.ndarray
    transactions: np.ndarray
    spent: np.ndarray


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
    units, spend_rate = _spend_traits(traits, n, rng)
    return Population(
        price_sensitivity=draw(traits.price_sensitivity, n, rng),
        referral_tendency=np.clip(draw(traits.referral_tendency, n, rng), 0, 1),
        relational_weight=relational_weight.astype(np.float32),
        transactional=transactional,
        channel=channel,
        contact_tolerance=np.maximum(draw(traits.contact_tolerance, n, rng), 0.1),
        match=(rng.standard_normal((n, n_firms), dtype=np.float32) * market.behaviour.match_sd),
        units=units,
        spend_rate=spend_rate,
        transaction_rate=np.maximum(draw(traits.purchase.transaction_rate, n, rng), 0),
        base_churn_rate=_dropout_hazard(traits, n, rng),
        dropout_chance=_dropout_chance(traits, n, rng),
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
        left_at=np.full(n, -1, dtype=np.int32),
        leaving_share=np.zeros(n, dtype=np.float32),
        dropped=np.zeros(n, dtype=bool),
        transactions=np.zeros(n, dtype=np.int32),
        spent=np.zeros(n, dtype=np.float32),
    )


def _spend_traits(
    traits: CustomerTraits, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's mean units per transaction, and the Gamma-Gamma ``nu`` (0 if unused)."""
    spend = traits.purchase.spend
    if spend is None:
        return np.maximum(draw(traits.units, n, rng), 0), np.zeros(n, dtype=np.float32)
    nu = rng.gamma(spend.q, 1.0 / spend.gamma, n)
    return (spend.p / nu).astype(np.float32), nu.astype(np.float32)


def _dropout_hazard(traits: CustomerTraits, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each customer's drop-out hazard per month under the hazard and sbg laws (else 0).

    The sbg law draws a probability per month; ``-log(1 - theta)`` is the hazard that gives it,
    so a customer's survival over ``t`` months is ``(1 - theta)^t`` whatever the period length.
    """
    law = traits.dropout.law
    if law == "hazard":
        return np.maximum(draw(traits.base_churn_rate, n, rng), 0)
    if law == "sbg":
        theta = np.clip(draw(traits.dropout.probability, n, rng), 0, 1)
        with np.errstate(divide="ignore"):
            return (-np.log1p(-theta.astype(np.float64))).astype(np.float32)
    return np.zeros(n, dtype=np.float32)


def _dropout_chance(traits: CustomerTraits, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each customer's drop-out chance per repeat transaction under the bgnbd law (else 0)."""
    if traits.dropout.law != "bgnbd":
        return np.zeros(n, dtype=np.float32)
    return np.clip(draw(traits.dropout.probability, n, rng), 0, 1)


def _initial_customers(
    market: Market, n_firms: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Who already buys from which firm at the start, and for how many whole periods."""
    weights = np.array([f.initial_share for f in market.firms], dtype=float)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(n_firms, 1 / n_firms)
    has_firm = rng.random(n) < market.initial_penetration
    choice = np.searchsorted(np.cumsum(weights), rng.random(n) * weights.sum() * 0.999999)
    firm = np.where(has_firm, np.minimum(choice, n_firms - 1), n_firms).astype(np.int16)
    months = np.maximum(draw(market.customer.initial_tenure, n, rng), 0)
    tenure = np.floor(months / market.period_months)
    tenure = np.where(has_firm, tenure, 0).astype(np.int32)
    return firm, tenure
