"""Transaction logs: every purchase of a run, as relsim calibrate reads them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simulation.cli import main
from simulation.runs import runner, transactions
from simulation.runs.runner import run_replication
from simulation.runs.transactions import COLUMNS, read_log
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario


@pytest.fixture
def small():
    scenario = resize_market(load_scenario("acquisition_vs_retention"), 600)
    return apply_overrides(scenario, {"market.periods": 18})


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_log_adds_up_to_the_books_and_leaves_the_run_unchanged(small, tmp_path, suffix):
    path = tmp_path / f"log{suffix}"
    logged = run_replication(small, "balanced", seed=5, transactions=path)
    plain = run_replication(small, "balanced", seed=5)
    pd.testing.assert_frame_equal(logged.timeseries, plain.timeseries)
    log = read_log(path)
    assert list(log.columns) == list(COLUMNS)
    # Every unit of revenue booked is a logged amount, per firm (up to the CSV's 4 decimals).
    booked = logged.timeseries.groupby("firm")["revenue"].sum()
    spent = log.groupby("firm", observed=True)["amount"].sum()
    np.testing.assert_allclose(spent.reindex(booked.index), booked, rtol=1e-6)
    assert set(log["source"]) <= {"start", "advertising", "referral", "win-back", "switch"}
    dates = pd.to_datetime(log["date"])
    months = (dates - pd.Timestamp(transactions.START_DATE)).dt.days / transactions.DAYS_PER_MONTH
    assert months.min() >= 0 and months.max() < 18


def test_gamma_gamma_amounts_vary_within_a_customer(tmp_path):
    scenario = resize_market(load_scenario("acquisition_vs_retention"), 400)
    spend = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    scenario = apply_overrides(
        scenario, {"market.periods": 12, "market.customer.purchase.spend": spend}
    )
    path = tmp_path / "log.parquet"
    run_replication(scenario, "balanced", seed=6, transactions=path)
    log = read_log(path)
    # With Gamma(p) splits, a customer's amounts differ within a period; equal splits would not.
    per_customer = log.groupby("customer_id")["amount"].agg(["std", "count"])
    assert (per_customer.loc[per_customer["count"] > 3, "std"] > 0).all()


def test_run_writes_logs_listed_in_its_manifest(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "parquet_available", lambda: False)  # the CSV fallback
    out = tmp_path / "res"
    argv = ["run", "acquisition_vs_retention", "--customers", "300", "--replications", "2"]
    argv += ["--periods", "6", "--jobs", "1", "--out", str(out), "--transactions", "-q"]
    assert main(argv) == 0
    files = sorted(p.name for p in (out / "transactions").iterdir())
    policies = ["acquisition_heavy", "balanced", "retention_focused"]
    assert files == sorted(f"{p}-{r}.csv" for p in policies for r in (0, 1))
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert all(f"transactions/{name}" in listed for name in files)
