"""Shared test set-up: headless plotting and small, seeded markets."""

from __future__ import annotations

import os

import matplotlib
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")


@pytest.fixture
def small_scenario():
    """The default scenario shrunk to a few hundred customers and two years."""
    from simulation.scenario.controls import resize_market
    from simulation.scenario.loading import apply_overrides, load_scenario

    scenario = resize_market(load_scenario("acquisition_vs_retention"), 400)
    return apply_overrides(scenario, {"market.periods": 24, "replications": 3})
