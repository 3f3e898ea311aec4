"""Loyalty points: earned on what members spend, redeemed for rewards, lost on leaving.

A member of a firm's loyalty programme earns ``points_per_money`` points per unit of money
spent; every full ``reward_threshold`` is a reward the firm pays for (``reward_value``) and a
lift in satisfaction. Points still short of the next reward are at stake when a customer thinks
of leaving (a switching cost, :mod:`.churn`), and are lost when the relationship ends.

The compiled helpers here are inlined into the service and churn kernels, which call them per
customer.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.market.parameters import ServiceRules
from simulation.market.phases import one_if
from simulation.market.population import Population


@njit(inline="always")
def earn_points(points: float, revenue: float, points_per_money: float, member: bool) -> float:
    """A customer's points after this period's purchases (members only earn)."""
    return points + revenue * points_per_money * one_if(member)


@njit(inline="always")
def rewards_due(points: float, threshold: float, programme_on: bool) -> float:
    """Rewards a customer's points pay for: one per full ``threshold``."""
    return math.floor(points / threshold) * one_if(programme_on)


@njit(inline="always")
def reward_delight(
    rewards: float, reward_value: float, rules: ServiceRules, relational_weight: float
) -> float:
    """Satisfaction lift of receiving a reward, in proportion to its worth."""
    delight = rules.loyalty_reward_satisfaction * reward_value / rules.reference_price
    return delight * relational_weight * one_if(rewards > 0)


@njit(inline="always")
def progress_to_reward(points: float, threshold: float) -> float:
    """Share of the next reward already earned: what leaving would forfeit (0 to 1)."""
    return min(points / threshold, 1.0)


def reward_cost(rewards: np.ndarray, reward_value: np.ndarray) -> np.ndarray:
    """What the rewards redeemed this period cost each firm."""
    return rewards * reward_value


def forfeit_points(population: Population, rows: np.ndarray) -> None:
    """Points of ``rows`` are lost: their relationship ended, or a new one starts from zero."""
    population.points[rows] = 0
