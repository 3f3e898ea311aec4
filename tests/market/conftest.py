"""Shared set-up of the market tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries, release
from simulation.scenario.schema import Scenario


@pytest.fixture
def focal_books() -> Callable[..., pd.DataFrame]:
    """Run a market to its horizon and return the focal firm's books, one row per period."""

    def focal_books(scenario: Scenario, seed: int, policy: str | None = None) -> pd.DataFrame:
        model = RelationshipMarket(scenario, policy=policy, rng=seed, customer_agents=False)
        model.run()
        table = firm_timeseries(model)
        release(model)
        return table[table["focal"]]

    return focal_books
