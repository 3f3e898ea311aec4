"""Model choice, the tidy parameter table, and the acquisition curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.calibration import (
    choose_model,
    fit_acquisition,
    fit_bgnbd,
    fit_table,
    read_log,
    summarise_customers,
)
from simulation.calibration.fit import bass_cdf


def test_without_holdout_the_lower_bic_wins(cdnow_result):
    summary = summarise_customers(cdnow_result.log)  # until the last date: no holdout
    assert not summary.has_holdout and summary.holdout_length == 0
    fits = [fit_bgnbd(summary), cdnow_result.fits["pareto_nbd"]]
    choice = choose_model(fits)
    assert choice.model is min(fits, key=lambda fit: fit.bic)
    assert choice.scores == {fit.name: fit.bic for fit in fits}
    assert "lowest BIC" in choice.reason and "no holdout" in choice.reason
    assert choose_model(fits, summary).reason == choice.reason  # a summary without holdout
    only = choose_model(fits[:1])
    assert only.model is fits[0] and "only model" in only.reason


def test_with_holdout_the_better_forecast_wins(cdnow_result):
    fits = list(cdnow_result.fits.values())
    choice = choose_model(fits, cdnow_result.summary)
    assert choice.model.name == min(choice.scores, key=choice.scores.get)
    assert "holdout" in choice.reason
    assert all(score > 0 for score in choice.scores.values())


def test_fit_table_is_tidy(cdnow_result):
    table = fit_table([cdnow_result.fits["bgnbd"], cdnow_result.spend])
    assert table["model"].tolist() == ["bgnbd"] * 4 + ["gamma_gamma"] * 3
    assert table["parameter"].tolist() == ["r", "alpha", "a", "b", "p", "q", "v"]
    assert (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()
    assert table.loc[0, "unit"] == "week"


def acquisition_summary(tmp_path, births: np.ndarray):
    """A summary of a log with customers born on the given days (one repeat purchase each).

    Customer 0 also buys on the last day, so that the log spans the 52 weeks.
    """
    start = pd.Timestamp("2020-01-01")
    days = np.concatenate([births, births + 3, [52 * 7 - 1]])
    log = pd.DataFrame(
        {
            "customer": np.concatenate([np.tile(np.arange(len(births)), 2), [0]]),
            "date": start + pd.to_timedelta(days, unit="D"),
            "amount": 1.0,
        }
    )
    path = tmp_path / "acquisition.csv"
    log.to_csv(path, index=False)
    return summarise_customers(read_log(path), until=start + pd.Timedelta(days=52 * 7 - 1))


def test_constant_acquisition_is_recognised(tmp_path):
    rng = np.random.default_rng(5)
    weekly = rng.poisson(30, size=52)
    births = np.concatenate([7 * k + rng.integers(0, 7, size=n) for k, n in enumerate(weekly)])
    fit = fit_acquisition(acquisition_summary(tmp_path, births))
    assert fit.model == "constant", fit.reason
    # The rate is the mean weekly count: SE = sqrt(30 / 52) = 0.76; 4 SE allowed.
    assert fit.parameters["rate"] == pytest.approx(30, abs=4 * np.sqrt(30 / 52))
    assert "constant rate" in fit.reason


def test_bass_acquisition_is_recognised(tmp_path):
    m, p, q = 5000, 0.01, 0.3
    rng = np.random.default_rng(6)
    weeks = np.arange(53)
    weekly = rng.poisson(m * np.diff(bass_cdf(weeks, p, q)))
    births = np.concatenate([7 * k + rng.integers(0, 7, size=n) for k, n in enumerate(weekly)])
    fit = fit_acquisition(acquisition_summary(tmp_path, births))
    assert fit.model == "bass", fit.reason
    # Standard errors measured over 30 simulated data sets like this one: 1.2% for m (close
    # to the Poisson sqrt(5000) / 5000 = 1.4%, since F(52) = 0.9999), 4.8% for p, 2.1% for
    # q. The tolerances are about 4 SE: 5%, 20% and 8%.
    assert fit.parameters["m"] == pytest.approx(m, rel=0.05)
    assert fit.parameters["p"] == pytest.approx(p, rel=0.20)
    assert fit.parameters["q"] == pytest.approx(q, rel=0.08)
    assert fit.table["bass"].sum() == pytest.approx(weekly.sum(), rel=0.05)
