"""The CDNOW sample reproduces the published BG/NBD, Pareto/NBD and Gamma-Gamma estimates.

Published figures: Fader, Hardie & Lee (2005, Marketing Science) for the BG/NBD, Fader &
Hardie's Pareto/NBD notes for the Pareto/NBD, Fader, Hardie & Lee (2005, JMR) for the
Gamma-Gamma. All are maximum-likelihood estimates on the same data with the same conventions
(same-day transactions merged, weeks = days / 7, time from each customer's first purchase,
mean spend over repeat transactions), so the only differences to expect are the rounding of
the published numbers (half a unit of the last digit: at most 0.2% for r = 0.243) and the
optimisers' stopping rules. A 1% tolerance covers both; it is far tighter than the brief's
5%, and far below the sampling error of the estimates (the 95% intervals are +-10% for r,
+-50% for a, b, s and beta), so it tests that the likelihood and the data conventions are
the published ones: reading dollars per transaction instead of per day, or counting the
first purchase in the mean spend, moves the Gamma-Gamma estimates by 2% to 25%.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulation.calibration import summarise_customers

PUBLISHED_TOLERANCE = 0.01

PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "pareto_nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
}


def test_cdnow_calibration_period_matches_the_papers(cdnow_result):
    summary = cdnow_result.summary
    assert cdnow_result.columns == {
        "customer": "customer_id",
        "date": "order_date",
        "amount": "sales",
    }
    assert len(summary.customers) == 2357
    assert int(summary.customers["x"].sum()) == 2457
    assert int(summary.customers["holdout_x"].sum()) == 1882
    assert summary.holdout_length == pytest.approx(39.0)
    assert (summary.periods["phase"] == "calibration").sum() == 39
    assert (summary.periods["phase"] == "holdout").sum() == 39
    # Customer 0001 of the sample: first purchase 1997-01-01, repeats on 1997-01-18 and
    # 1997-08-02 (two in calibration), one more in the holdout (lifetimes' cdnow summary).
    first = summary.customers.loc["0001"]
    assert first["x"] == 2
    assert first["t_x"] == pytest.approx(213 / 7)
    assert first["T"] == pytest.approx(272 / 7)
    assert first["mean_spend"] == pytest.approx((29.73 + 14.96) / 2)
    assert first["holdout_x"] == 1


def test_cdnow_one_day_earlier_or_later_changes_the_count(cdnow_result):
    # 1997-09-30 is the only end date with 2,457 calibration repeat transactions.
    log = cdnow_result.log
    assert int(summarise_customers(log, "1997-09-29").customers["x"].sum()) == 2444
    assert int(summarise_customers(log, "1997-10-01").customers["x"].sum()) == 2462


@pytest.mark.parametrize("model", ["bgnbd", "pareto_nbd"])
def test_cdnow_purchase_models_match_published_estimates(cdnow_result, model):
    fit = cdnow_result.fits[model]
    assert fit.converged
    assert fit.n_customers == 2357
    for name, published in PUBLISHED[model].items():
        assert fit.parameters[name] == pytest.approx(published, rel=PUBLISHED_TOLERANCE), name
        assert fit.ci_low[name] < fit.parameters[name] < fit.ci_high[name]


def test_cdnow_log_likelihoods_match_published(cdnow_result):
    # Published maxima: BG/NBD -9,582.4 (Fader, Hardie & Lee 2005); Pareto/NBD -9,595.0.
    assert cdnow_result.fits["bgnbd"].log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_result.fits["pareto_nbd"].log_likelihood == pytest.approx(-9595.0, abs=0.1)


def test_cdnow_gamma_gamma_matches_published_estimates(cdnow_result):
    fit = cdnow_result.spend
    # 946 customers made at least one repeat purchase in the calibration period.
    assert fit.n_customers == 946
    for name, published in PUBLISHED["gamma_gamma"].items():
        assert fit.parameters[name] == pytest.approx(published, rel=PUBLISHED_TOLERANCE), name


def test_cdnow_choice_tables_and_acquisition(cdnow_result):
    choice = cdnow_result.choice
    assert set(choice.scores) == {"bgnbd", "pareto_nbd"}
    assert choice.model.name == min(choice.scores, key=choice.scores.get)
    assert choice.reason.endswith(".") and "\n" not in choice.reason
    table = cdnow_result.parameters
    assert list(table.columns[:7]) == [
        "model",
        "parameter",
        "estimate",
        "ci_low",
        "ci_high",
        "log_likelihood",
        "bic",
    ]
    assert len(table) == 11
    tracking = cdnow_result.tracking
    assert len(tracking) == 78
    assert tracking["actual"].sum() == 2457 + 1882
    # The expectation at the end of calibration is sum E[X(T_i)] over the cohort.
    summary = cdnow_result.summary
    at_end = tracking.loc[tracking["phase"] == "calibration", "expected_cumulative"].iloc[-1]
    model = cdnow_result.model
    expected = model.module.expected_transactions(model.values, summary.customers["T"]).sum()
    assert at_end == pytest.approx(expected, rel=1e-12)
    conditional = cdnow_result.conditional
    assert conditional["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert conditional["customers"].sum() == 2357
    assert conditional.loc[0, "customers"] == 1411
    alive = cdnow_result.alive
    assert len(alive) == 2357 and alive["p_alive"].between(0, 1).all()
    acquisition = cdnow_result.acquisition
    # All CDNOW customers were acquired in the first 12 weeks: a rise and fall, not a level.
    assert acquisition.model == "bass"
    assert acquisition.table["first_purchases"].sum() == 2357
    assert np.isfinite(acquisition.bic["constant"])


def test_months_rescale_only_the_time_parameters(cdnow_result):
    # The models are invariant to the time unit: with t in months (365.25/12 days) instead of
    # weeks, alpha and beta scale by 7 / 30.4375 and the shape parameters stay. The
    # optimiser's tolerance (about 1e-4 relative here) sets the 0.1% tolerance. The
    # likelihood is a density in the x purchase times, so it gains x log(1 / scale).
    from simulation.calibration import fit_bgnbd, fit_pareto_nbd

    monthly = summarise_customers(cdnow_result.log, "1997-09-30", unit="month")
    scale = 7 / (365.25 / 12)
    for fitter, time_parameters in ((fit_bgnbd, {"alpha"}), (fit_pareto_nbd, {"alpha", "beta"})):
        fit = fitter(monthly)
        weekly = cdnow_result.fits[fit.name]
        assert fit.unit == "month"
        assert fit.log_likelihood == pytest.approx(
            weekly.log_likelihood + monthly.customers["x"].sum() * np.log(1 / scale), abs=1e-3
        )
        for name, value in weekly.parameters.items():
            expected = value * scale if name in time_parameters else value
            assert fit.parameters[name] == pytest.approx(expected, rel=1e-3), name


def test_without_holdout_there_are_no_conditional_expectations(cdnow_csv):
    from simulation.calibration import calibrate_log

    result = calibrate_log(cdnow_csv, model="bgnbd")
    assert result.conditional is None and not result.summary.has_holdout
    assert result.choice.reason == "BG/NBD was asked for."
    assert set(result.fits) == {"bgnbd"}
    assert set(result.figures()) == {"tracking", "alive", "spend"}
    assert (result.tracking["phase"] == "calibration").all()
    assert result.tracking["actual"].sum() == result.summary.customers["x"].sum()
