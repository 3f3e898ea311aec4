"""The calibrated market buys as the fitted model says: the replayed holdout agrees with it.

A BG/NBD log of 3,000 customers (weekly rates, births over the first 12 weeks, 78 weeks of
log) is calibrated on its first 39 weeks, by week and by month, and the calibration cohort is
replayed in relsim's market with the fitted laws, in periods of a week and of a month. This
checks the simulation, not the data: the replay's mean holdout count must agree with the
fitted model's own expectation within sampling error.

Tolerance: over R = 20 independent replications, (mean - expected) / (sd / sqrt(R)) has
Student's t law with 19 degrees of freedom when the replay is right; |t| < 4.5 fails with
probability 2.5e-4 per comparison, 1e-3 for the four here (Bonferroni). A replay whose
weekly purchase rate were off by the conversion of weeks to months (a factor 4.35), or that
missed the drop-out law, would be off by hundreds of standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.calibration import bgnbd, calibrate_log
from simulation.calibration.models import FittedModel
from simulation.calibration.scenario_out import UNIT_MONTHS, customer_laws
from simulation.calibration.simulate import holdout_table, simulate_tracking

R = 20
T_LIMIT = 4.5
PARAMS = (0.5, 6.0, 0.8, 2.5)  # r, alpha (weeks), a, b
SPEND = (6.25, 3.74, 15.44)


@pytest.fixture
def log_path(make_log, tmp_path):
    rng = np.random.default_rng(2024)
    path = tmp_path / "log.csv"
    make_log(bgnbd, PARAMS, SPEND, 3000, rng).to_csv(path, index=False)
    return path


def test_units_convert_to_monthly_rates_and_spend_to_units():
    weekly = FittedModel(
        "bgnbd", dict(zip(("r", "alpha", "a", "b"), PARAMS, strict=True)), {}, {}, 0, 0, 1, "week"
    )
    spend = FittedModel("gamma_gamma", dict(zip("pqv", SPEND, strict=True)), {}, {}, 0, 0, 1)
    laws = customer_laws(weekly, spend, price=40.0)
    rate = laws["purchase"]["transaction_rate"]
    assert rate["shape"] == 0.5
    assert rate["rate"] == pytest.approx(6.0 * 7 / 30.4375)
    # Mean monthly rate = weekly mean x weeks per month.
    assert rate["shape"] / rate["rate"] == pytest.approx(0.5 / 6.0 * 30.4375 / 7)
    assert laws["purchase"]["spend"] == {"p": 6.25, "q": 3.74, "gamma": pytest.approx(15.44 / 40)}
    beta = laws["dropout"]["probability"]
    assert beta["mean"] == pytest.approx(0.8 / 3.3)
    assert UNIT_MONTHS["month"] == pytest.approx(1.0)


@pytest.mark.parametrize("unit", ["week", "month"])
def test_replayed_holdout_agrees_with_the_model(log_path, unit):
    result = calibrate_log(log_path, until="1997-09-30", unit=unit, model="bgnbd")
    laws = customer_laws(result.model, None, price=50.0)
    tracking = simulate_tracking(result.summary, result.tracking, laws, R, seed=11)
    holdout = tracking[tracking["phase"] == "holdout"]
    assert len(holdout) >= 9
    for row in (holdout.iloc[len(holdout) // 2], holdout.iloc[-1]):
        expected = (
            row["expected_cumulative"]
            - tracking[tracking["phase"] == "calibration"]["expected_cumulative"].iloc[-1]
        )
        se = row["simulated_holdout_cumulative_se"]
        t = (row["simulated_holdout_cumulative_mean"] - expected) / se
        assert abs(t) < T_LIMIT, (unit, row["period"], expected, t)
    table = holdout_table(tracking)
    assert list(table["actual_cumulative"]) == list(np.cumsum(table["actual"]))
    assert (table["simulated_cumulative_low"] <= table["simulated_cumulative_mean"]).all()


def test_replay_is_reproducible_and_seeded(log_path):
    result = calibrate_log(log_path, until="1997-09-30", unit="month", model="bgnbd")
    laws = customer_laws(result.model, None, price=50.0)
    runs = [simulate_tracking(result.summary, result.tracking, laws, 2, seed=s) for s in (5, 5, 6)]
    assert runs[0]["simulated_mean"].equals(runs[1]["simulated_mean"])
    assert not runs[0]["simulated_mean"].equals(runs[2]["simulated_mean"])
    assert math.isfinite(runs[0]["simulated_cumulative_mean"].iloc[-1])
