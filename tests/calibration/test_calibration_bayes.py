"""``relsim calibrate --bayes``: pymc-marketing's posteriors agree with relsim's likelihood fits.

The first tests run everywhere: without pymc-marketing (Python 3.11, or its import blocked)
``--bayes`` is one line and exit status 2 with nothing written, and the priors and seeds are
checked without sampling. The rest need the ``bayes`` extra (Python 3.12 or newer) and are
skipped, with the reason, without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from simulation.calibration import bgnbd, summarise_customers
from simulation.calibration.bayes import (
    EXTRA_MISSING,
    SAMPLERS,
    _sample,
    fit_posteriors,
    model_data,
    model_seed,
    prior_scales,
)
from simulation.cli import main

PARAMS = (0.5, 6.0, 0.8, 2.5)
SPEND = (6.25, 3.74, 15.44)
SEED = 20_240_601


@pytest.fixture
def small_log(make_log, tmp_path):
    path = tmp_path / "shop.csv"
    make_log(bgnbd, PARAMS, SPEND, 400, np.random.default_rng(5)).to_csv(path, index=False)
    return path


def test_without_the_extra_bayes_is_one_line_and_nothing_is_written(
    small_log, tmp_path, capsys, monkeypatch
):
    # A None entry in sys.modules makes ``import pymc_marketing`` fail as if it were absent.
    monkeypatch.setitem(sys.modules, "pymc_marketing", None)
    out = tmp_path / "cal"
    assert main(["calibrate", str(small_log), "--bayes", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert EXTRA_MISSING in err and "Traceback" not in err
    assert "pip install 'relsim[bayes]' (Python 3.12 or newer)" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_relsim_without_bayes_never_imports_pymc_marketing():
    code = (
        "import sys\n"
        "import simulation.cli, simulation.calibration.command\n"
        "import simulation.calibration.bayes, simulation.calibration.pipeline\n"
        "import simulation.calibration.folder, simulation.calibration.report\n"
        "assert 'pymc_marketing' not in sys.modules and 'pymc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_priors_follow_the_time_unit_and_the_currency(cdnow_result):
    # The scale priors are the data's own scales, so weeks -> months rescales alpha and beta
    # exactly as it rescales the likelihood's estimates, and the shapes' priors stay at 1.
    weekly = cdnow_result.summary.customers
    monthly = summarise_customers(cdnow_result.log, "1997-09-30", unit="month").customers
    scale = 7 / (365.25 / 12)
    for name, time_parameters in (("bgnbd", {"alpha"}), ("pareto_nbd", {"alpha", "beta"})):
        week, month = prior_scales(name, weekly), prior_scales(name, monthly)
        assert set(week) == set(bgnbd.PARAMETERS if name == "bgnbd" else week)
        for parameter, value in week.items():
            expected = value * scale if parameter in time_parameters else value
            assert month[parameter] == pytest.approx(expected, rel=1e-12), (name, parameter)
    spend = prior_scales("gamma_gamma", weekly)
    assert spend["p"] == spend["q"] == 1.0
    dollars = weekly.assign(mean_spend=weekly["mean_spend"] * 100)  # the same log in cents
    assert prior_scales("gamma_gamma", dollars)["v"] == pytest.approx(spend["v"] * 100)


def test_model_data_uses_pymc_marketings_names(cdnow_result):
    customers = cdnow_result.summary.customers
    purchases = model_data("bgnbd", customers)
    assert list(purchases.columns) == ["customer_id", "frequency", "recency", "T"]
    assert len(purchases) == 2357 and purchases["customer_id"].is_unique
    assert purchases["frequency"].sum() == 2457
    spend = model_data("gamma_gamma", customers)
    assert list(spend.columns) == ["customer_id", "frequency", "monetary_value"]
    assert len(spend) == 946 and (spend["monetary_value"] > 0).all()


def test_each_model_has_its_own_reproducible_seed():
    seeds = {name: model_seed(SEED, name) for name in ("bgnbd", "pareto_nbd", "gamma_gamma")}
    assert len(set(seeds.values())) == 3
    assert seeds == {name: model_seed(SEED, name) for name in seeds}
    assert model_seed(SEED + 1, "bgnbd") != seeds["bgnbd"]


class SwallowingModel:
    """Stands for a pymc-marketing model: its sampler swallows Ctrl-C, as pymc's does."""

    def fit(self, data, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs here and raises
        except KeyboardInterrupt:
            pass  # pymc returns the draws it has


def test_an_interrupt_the_sampler_swallows_still_stops_the_run():
    pytest.importorskip("pymc_marketing")
    with pytest.raises(KeyboardInterrupt):
        _sample(SwallowingModel(), pd.DataFrame(), SAMPLERS["bgnbd"], 1, [], "log: BG/NBD")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
def test_cdnow_bayes_and_maximum_likelihood_agree_within_their_intervals(cdnow_result):
    """Both fits of all three models on the CDNOW sample, calibrated to week 39.

    Criterion, both ways: every maximum-likelihood estimate lies inside the 95% credible
    interval of its parameter, and every posterior median inside the 95% confidence
    interval. With 2,357 customers the weak log-normal priors are swamped by the likelihood,
    so the posterior is the normalised likelihood to within a fraction of a standard error:
    the two point estimates should differ by far less than either interval's half-width,
    and a posterior median outside the confidence interval (or the reverse) would mean the
    two implementations of the likelihood, relsim's closed forms and pymc-marketing's, or
    the data handed to them (frequency, recency, T, mean spend, in weeks), disagree. The
    check does not ask the intervals to be equal: the Wald intervals are symmetric in the
    log-parameters, the credible ones follow the posterior's skew (Pareto/NBD ``beta``: ML
    4.1 to 33, posterior 5.1 to 48), so interval-in-interval would be the wrong test.

    The medians must also be nearly as likely as the maximum (within 1 of the maximised
    log-likelihood, what moving one parameter 1.4 standard errors costs) and never more
    likely, which would mean relsim's optimiser stopped short.

    Runtime 40 to 42 s on the development machine (BG/NBD 14 s, Pareto/NBD by DEMetropolisZ 18 s,
    Gamma-Gamma 9 s), hence slow.
    """
    pytest.importorskip("pymc_marketing")
    fits = fit_posteriors(["bgnbd", "pareto_nbd", "gamma_gamma"], cdnow_result.summary, SEED)
    ml = {**cdnow_result.fits, "gamma_gamma": cdnow_result.spend}
    assert list(fits) == ["bgnbd", "pareto_nbd", "gamma_gamma"]
    for name, posterior in fits.items():
        bayes, likelihood = posterior.model, ml[name]
        assert posterior.converged, (name, posterior.r_hat, posterior.ess)
        assert bayes.n_customers == likelihood.n_customers
        for parameter, estimate in likelihood.parameters.items():
            median = bayes.parameters[parameter]
            where = (name, parameter, estimate, median)
            assert bayes.ci_low[parameter] <= estimate <= bayes.ci_high[parameter], where
            assert likelihood.ci_low[parameter] <= median <= likelihood.ci_high[parameter], where
        assert likelihood.log_likelihood - 1.0 <= bayes.log_likelihood, name
        assert bayes.log_likelihood <= likelihood.log_likelihood + 1e-6, name


@pytest.mark.slow
def test_bayes_end_to_end_is_reproducible_and_written(small_log, tmp_path, capsys):
    """``--bayes`` on a 400-customer log: the columns, the report, the manifest, the seed.

    Runtime 20 to 33 s on the development machine (two runs, each sampling the BG/NBD and the
    Gamma-Gamma), hence slow.
    """
    pytest.importorskip("pymc_marketing")
    args = ["calibrate", str(small_log), "--until", "1997-09-30", "--model", "bgnbd"]
    args += ["--replications", "2", "--bayes", "--seed", "11"]
    first, second = tmp_path / "one", tmp_path / "two"
    assert main([*args, "--out", str(first)]) == 0
    said = capsys.readouterr().out
    assert "bayes: pymc-marketing" in said and "BG/NBD (NUTS" in said
    assert main([*args, "--out", str(second)]) == 0
    fit = pd.read_csv(first / "fit.csv")
    assert list(fit.columns[:10]) == [
        "model",
        "parameter",
        "estimate",
        "ci_low",
        "ci_high",
        "log_likelihood",
        "bic",
        "n_customers",
        "unit",
        "chosen",
    ]
    posterior_columns = ["posterior_median", "credible_low", "credible_high", "r_hat", "ess"]
    assert list(fit.columns[10:]) == posterior_columns
    fitted = fit[fit["model"].isin(["bgnbd", "gamma_gamma"])]
    assert len(fitted) == 7 and fitted[posterior_columns].notna().all().all()
    assert (fitted["credible_low"] < fitted["posterior_median"]).all()
    assert (fitted["posterior_median"] < fitted["credible_high"]).all()
    assert fit.loc[fit["model"].str.startswith("acquisition"), "posterior_median"].isna().all()
    # The same seed, the same draws: the tables are identical.
    pd.testing.assert_frame_equal(fit, pd.read_csv(second / "fit.csv"))
    report = (first / "report.md").read_text()
    assert "### Bayesian fits (pymc-marketing)" in report and "posterior median" in report
    manifest = json.loads((first / "manifest.json").read_text())
    assert set(manifest["bayes"]) == {"bgnbd", "gamma_gamma"}
    assert manifest["bayes"]["bgnbd"]["sampler"] == "NUTS"
    assert manifest["versions"]["pymc-marketing"] != "not installed"
