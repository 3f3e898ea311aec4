"""``simulation.experiments.run``: relsim as a plain function of keyword parameters."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.errors import UserError
from simulation.experiments import run, simulate
from simulation.scenario.loading import apply_overrides, load_scenario

SMALL = {"market__customers": 200, "market__periods": 6}


def test_run_is_a_deterministic_function_of_its_parameters():
    first = run(seed=3, **SMALL)
    assert set(first) >= {"npv", "final_customers", "mean_churn_rate", "customer_equity"}
    assert run(seed=3, **SMALL) == first
    assert run(seed=4, **SMALL) != first
    # The same as simulating the equivalent scenario with the same seed.
    scenario = apply_overrides(
        load_scenario("acquisition_vs_retention"),
        {"market.customers": 200, "market.periods": 6},
    )
    assert simulate(scenario, "acquisition_heavy", 3) == first


def test_run_accepts_numpy_values_and_pairs_a_baseline():
    # SALib and EMA Workbench hand over numpy scalars.
    result = run(
        policy="retention_focused",
        baseline="acquisition_heavy",
        seed=1,
        market__customer__price_sensitivity__mean=np.float64(2.0),
        **SMALL,
    )
    own = run(
        policy="retention_focused", seed=1, market__customer__price_sensitivity__mean=2.0, **SMALL
    )
    base = run(
        policy="acquisition_heavy", seed=1, market__customer__price_sensitivity__mean=2.0, **SMALL
    )
    assert result["npv"] == own["npv"]
    assert result["npv_difference"] == pytest.approx(own["npv"] - base["npv"])


def test_run_reports_unknown_paths_and_policies():
    with pytest.raises(
        UserError, match="market.customer.price_sensitivty.mean: no field 'price_sensitivty'"
    ):
        run(market__customer__price_sensitivty__mean=2.0, **SMALL)
    with pytest.raises(UserError, match="policy 'loyalty_first' is not allowed"):
        run(policy="loyalty_first", **SMALL)
