"""``relsim calibrate``: a good log gives the folder, a bad one a line per problem and nothing.

The good log is drawn from the BG/NBD with Gamma-Gamma amounts (``conftest.simulated_log``);
the calibrated scenario it writes is run with ``relsim run`` from another folder, so the
``extends:`` of the written file is checked to load from anywhere.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from simulation.calibration import bgnbd
from simulation.cli import main
from simulation.scenario.loading import load_scenario

PARAMS = (0.5, 6.0, 0.8, 2.5)
SPEND = (6.25, 3.74, 15.44)
FAST = ["--replications", "2", "--until", "1997-09-30"]


@pytest.fixture
def good_log(make_log, tmp_path):
    path = tmp_path / "shop.csv"
    make_log(bgnbd, PARAMS, SPEND, 800, np.random.default_rng(3)).to_csv(path, index=False)
    return path


def test_good_log_writes_the_calibrated_market(good_log, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cal"
    assert main(["calibrate", str(good_log), *FAST, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "customer = 'customer'" in said and "calibration 1997-01-01 to 1997-09-30" in said
    assert "model: " in said
    for name in ("scenario.yaml", "fit.csv", "holdout.csv", "tracking.csv", "report.md"):
        assert (out / name).is_file(), name
    for name in ("tracking", "alive", "conditional_expectations", "spend"):
        assert (out / "plots" / f"{name}.png").is_file(), name
    fit = pd.read_csv(out / "fit.csv")
    assert {"model", "parameter", "estimate", "ci_low", "ci_high", "log_likelihood", "bic"} <= set(
        fit.columns
    )
    assert set(fit["model"]) >= {"bgnbd", "pareto_nbd", "gamma_gamma"}
    holdout = pd.read_csv(out / "holdout.csv")
    assert len(holdout) == 39
    assert {"actual", "expected", "simulated_mean", "simulated_low", "simulated_high"} <= set(
        holdout.columns
    )
    assert {"actual_cumulative", "expected_cumulative", "simulated_cumulative_mean"} <= set(
        holdout.columns
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "calibration" and manifest["until"] == "1997-09-30"
    text = (out / "scenario.yaml").read_text()
    assert yaml.safe_load(text)["extends"] == "acquisition_vs_retention"
    # The written file loads from any folder, and carries the fitted laws.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scenario = load_scenario(out / "scenario.yaml")
    rate = scenario.market.customer.purchase.transaction_rate
    chosen = fit[(fit["model"] == manifest["model"]) & (fit["parameter"] == "r")]
    r = chosen["estimate"].item()
    assert rate.shape == pytest.approx(r)
    assert set(scenario.policies) == {"acquisition_heavy", "balanced", "retention_focused"}
    short = ["--customers", "300", "--periods", "3", "--replications", "1", "--jobs", "1", "-q"]
    assert main(["run", str(out / "scenario.yaml"), *short, "--out", str(tmp_path / "r")]) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer,amount\na,1\n", "no date column"),
        ("customer,date,amount\na,1997-13-45,1\n", "line 2: date '1997-13-45'"),
        ("customer,date,amount\na,1997-01-01,-3\n", "is negative"),
        ("customer,date,amount\na,1997-01-01,lots\n", "is not a number"),
        ("customer,date,amount\n", "has no transactions"),
    ],
)
def test_bad_log_is_one_line_and_nothing_written(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "cal"
    assert main(["calibrate", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_until_outside_the_log_and_bad_base(good_log, tmp_path, capsys):
    out = tmp_path / "cal"
    assert main(["calibrate", str(good_log), "--until", "2001-01-01", "--out", str(out)]) == 2
    assert "outside the log's dates" in capsys.readouterr().err
    assert main(["calibrate", str(good_log), "--base", "no_such_market", "--out", str(out)]) == 2
    assert "no_such_market" in capsys.readouterr().err
    assert not out.exists()


def test_existing_folder_is_not_overwritten_without_asking(good_log, tmp_path, capsys):
    out = tmp_path / "cal"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["calibrate", str(good_log), *FAST, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["calibrate", str(good_log), *FAST, "--out", str(out), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_a_calibration_folder(good_log, tmp_path):
    out = tmp_path / "cal"
    assert main(["calibrate", str(good_log), *FAST, "--out", str(out)]) == 0
    assert main(["calibrate", str(good_log), *FAST, "--out", str(out), "--overwrite"]) == 0


def test_cdnow_end_to_end(cdnow_csv, tmp_path, capsys):
    out = tmp_path / "cdnow"
    args = ["calibrate", str(cdnow_csv), "--until", "1997-09-30", "--out", str(out)]
    assert main([*args, "--model", "bgnbd", "--replications", "3"]) == 0
    fit = pd.read_csv(out / "fit.csv").query("model == 'bgnbd'").set_index("parameter")
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():  # within 1%, as in test_calibration_cdnow.py
        assert fit.loc[name, "estimate"] == pytest.approx(value, rel=0.01)
    holdout = pd.read_csv(out / "holdout.csv")
    assert len(holdout) == 39
    assert holdout["actual_cumulative"].iloc[-1] == 1882  # the sample's holdout transactions
    assert "BG/NBD was asked for" in capsys.readouterr().out
