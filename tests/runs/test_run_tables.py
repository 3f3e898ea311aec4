"""A run's tables, built from whole arrays, are the very tables pandas builds step by step.

Each table is compared, exactly (values, types, row order), with the same table built the
straightforward way: a frame per cohort, Mesa's own DataCollector frame, pandas' reductions
and grouped sums. The CSV files written from them are therefore the same bytes.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from simulation.market.agents import BOOK_FIELDS, Firm
from simulation.market.cohorts import COLUMNS, CohortCounts, CohortTracker, finish_cohort_table
from simulation.market.model import RelationshipMarket
from simulation.runs.decomposition import MARKETING_CHANNELS, spend_split
from simulation.runs.pooling import lifetime_values, pooled_cohorts, pooled_timeseries
from simulation.runs.registry import release
from simulation.runs.runner import (
    firm_timeseries,
    run_recording_rewards,
    run_replication,
    summarise_run,
)
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario

SCENARIOS = ("acquisition_vs_retention", "loyalty_program", "transactional_market")


# --------------------------------------------------------------------------- references
def cohort_table_by_cohort(tracker: CohortTracker) -> pd.DataFrame:
    """The cohort table built one frame per cohort, then concatenated."""
    frames = []
    for cohort in np.flatnonzero(tracker.size[1:]) + 1:
        ages = np.arange(tracker.periods - cohort + 1)
        lost = np.cumsum(tracker.lost[cohort, : len(ages)])
        base_lost = np.cumsum(tracker.base_lost[cohort, : len(ages)])
        frames.append(
            pd.DataFrame(
                {
                    "cohort": cohort,
                    "age": ages,
                    "cohort_size": tracker.size[cohort],
                    "active": tracker.size[cohort] - lost,
                    "base_churn_sum": tracker.base_sum[cohort] - base_lost,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def pooled_by_pandas(results: list) -> pd.DataFrame:
    """The runs' cohort tables concatenated, summed by pandas' grouped sum, then finished."""
    frames = [r.cohorts.assign(policy=r.policy) for r in results if not r.cohorts.empty]
    counts = ["cohort_size", "active", "base_churn_sum"]
    keys = ["policy", "cohort", "age"]
    pooled = pd.concat(frames, ignore_index=True).groupby(keys, sort=False, as_index=False)
    return finish_cohort_table(pooled[counts].sum())


def timeseries_from_mesa(model: RelationshipMarket, rewards: np.ndarray) -> pd.DataFrame:
    """The firms' books through Mesa's DataCollector frame and pandas column operations."""
    raw = model.datacollector.get_agenttype_vars_dataframe(Firm).reset_index()
    names = {f.unique_id: f.name for f in model.firm_agents}
    table = pd.DataFrame(
        {
            "period": raw["Step"].astype(int),
            "firm": raw["AgentID"].map(names),
            "focal": raw["AgentID"] == model.focal.unique_id,
        }
    )
    table = pd.concat([table, raw[list(BOOK_FIELDS)].reset_index(drop=True)], axis=1)
    table["discount_factor"] = (1 + model.discount_per_period) ** -table["period"].astype(float)
    index = {f.unique_id: f.index for f in model.firm_agents}
    table["cost_rewards"] = rewards[table["period"] - 1, raw["AgentID"].map(index)]
    return table.sort_values(["period", "firm"], kind="stable").reset_index(drop=True)


def summary_in_pandas(focal: pd.DataFrame, values: np.ndarray, years: float) -> dict:
    """The run's summary computed with pandas' reductions on the focal firm's rows."""
    last = focal.iloc[-1]
    retained = (focal["customers_start"] - focal["churned"]).sum()
    acquired = focal["acquired"].sum()
    by_marketing = focal[list(MARKETING_CHANNELS)].to_numpy().sum()
    spend = spend_split(focal).sum()

    def ratio(numerator: float, denominator: float) -> float:
        return float(numerator / denominator) if denominator > 0 else float("nan")

    return {
        "npv": float(focal["discounted_profit"].sum()),
        "profit_total": float(focal["profit"].sum()),
        "revenue_total": float(focal["revenue"].sum()),
        "final_customers": int(last["customers"]),
        "final_market_share": float(last["market_share"]),
        "mean_retention_rate": float(focal["retention_rate"].mean()),
        "mean_churn_rate": float(focal["churn_rate"].mean()),
        "acquired_total": int(acquired),
        "referrals": int(focal["acquired_referral"].sum()),
        "churned_total": int(focal["churned"].sum()),
        "acquired_by_marketing": int(by_marketing),
        "acquired_from_rival": int(focal["acquired_from_rival"].sum()),
        "cost_per_acquired": ratio(focal["acquisition_cost"].sum(), acquired),
        "cost_per_acquired_by_marketing": ratio(focal["acquisition_cost"].sum(), by_marketing),
        "cost_per_retained": ratio(focal["retention_cost"].sum(), retained * years),
        "acquisition_cost_total": float(focal["acquisition_cost"].sum()),
        "retention_cost_total": float(focal["retention_cost"].sum()),
        "marketing_cost_total": float(focal["marketing_cost"].sum()),
        "lever_spend_total": float(spend["lever_spend"]),
        "rewards_total": float(spend["rewards"]),
        "discounts_total": float(spend["discounts"]),
        "mean_satisfaction": float(last["mean_satisfaction"]),
        "clv_mean": float(values.mean()) if len(values) else 0.0,
        "customer_equity": float(values.sum()),
    }


def assert_same_summary(got: dict, expected: dict) -> None:
    """Same keys in the same order, the same values to the last bit (NaN equal to NaN)."""
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert type(got[key]) is type(value), key
        assert got[key] == value or (math.isnan(got[key]) and math.isnan(value)), key


# --------------------------------------------------------------------------- helpers
def random_tracker(rng: np.random.Generator, periods: int) -> CohortTracker:
    """A tracker fed random joins and departures, base rates spanning many magnitudes."""
    tracker = CohortTracker(periods)
    for period in range(1, periods + 1):
        if rng.random() < 0.6:
            scale = 10.0 ** rng.integers(-6, 6)
            rates = (rng.lognormal(0, 2, int(rng.integers(1, 6))) * scale).astype(np.float32)
            tracker.join(period, rates)
        joined = np.flatnonzero(tracker.size[: period + 1])
        if len(joined):
            cohort = rng.choice(joined, int(rng.integers(0, 4)))
            rates = (rng.random(len(cohort)) * 10.0 ** rng.integers(-6, 6)).astype(np.float32)
            tracker.leave(cohort, period, rates)
    return tracker


@pytest.fixture(scope="module")
def finished_models():
    """Small models of a few scenarios run to the end, with their rewards."""
    models = []
    for name in SCENARIOS:
        scenario = apply_overrides(
            resize_market(load_scenario(name), 300), {"market.periods": 18}, source="test"
        )
        for policy in scenario.policies:
            model = RelationshipMarket(scenario, policy=policy, rng=11, customer_agents=False)
            models.append((model, run_recording_rewards(model)))
            release(model)
    return models


# --------------------------------------------------------------------------- cohorts
@pytest.mark.parametrize("seed", range(20))
def test_the_cohort_table_is_the_one_built_cohort_by_cohort(seed):
    rng = np.random.default_rng(seed)
    tracker = random_tracker(rng, int(rng.integers(1, 40)))
    if not tracker.size[1:].any():
        tracker.join(1, np.ones(1, dtype=np.float32))
    pd.testing.assert_frame_equal(
        tracker.table(), cohort_table_by_cohort(tracker), check_exact=True
    )


def test_cohorts_of_a_run_are_the_ones_built_cohort_by_cohort(finished_models):
    for model, _ in finished_models:
        expected = cohort_table_by_cohort(model.cohorts)
        pd.testing.assert_frame_equal(model.cohorts.table(), expected, check_exact=True)


def test_no_cohorts_pool_to_an_empty_table():
    tracker = CohortTracker(3)
    assert tracker.table().empty and list(tracker.table()) == list(COLUMNS)
    assert tracker.counts() is None
    empty = SimpleNamespace(policy="a", cohort_counts=tracker.counts())
    assert pooled_cohorts([empty, empty]).empty


def test_pooled_cohorts_are_pandas_grouped_sums():
    """Two policies' runs, interleaved, each with cohorts of its own; sums of floats whose
    order and rounding show (pandas compensates its float sums)."""
    rng = np.random.default_rng(11)
    results = []
    for run in range(8):
        cohorts = np.sort([1, *rng.choice(np.arange(2, 7), size=2, replace=False)])
        ages = 7 - cohorts
        base = rng.choice([0.1, 1.0, 3.3], ages.sum())
        base[0] = 1e16 if run < 2 else 1.0  # cohort 1, age 0: each policy's 1e16 + 1 + 1 + 1
        active = rng.integers(0, 100, ages.sum()).astype(np.int32)
        counts = CohortCounts(cohorts, ages, rng.integers(1, 100, len(cohorts)), active, base)
        table = pd.DataFrame(counts.columns())
        results.append(SimpleNamespace(policy="ab"[run % 2], cohorts=table, cohort_counts=counts))
    expected = pooled_by_pandas(results)
    pd.testing.assert_frame_equal(pooled_cohorts(results), expected, check_exact=True)
    # The data tell pandas' compensated sums from plain running sums.
    frames = pd.concat([r.cohorts.assign(policy=r.policy) for r in results], ignore_index=True)
    grouped = frames.groupby(["policy", "cohort", "age"], sort=False)["base_churn_sum"]
    running = grouped.agg(lambda values: np.cumsum(values.to_numpy())[-1])
    assert (running.to_numpy() != grouped.sum().to_numpy()).any()


# --------------------------------------------------------------------------- timeseries
def test_the_timeseries_is_the_datacollector_frame(finished_models):
    for model, rewards in finished_models:
        expected = timeseries_from_mesa(model, rewards)
        pd.testing.assert_frame_equal(firm_timeseries(model, rewards), expected, check_exact=True)
        without = expected.drop(columns="cost_rewards")
        pd.testing.assert_frame_equal(firm_timeseries(model), without, check_exact=True)


def test_firms_are_ordered_by_name_within_a_period(finished_models):
    model, rewards = finished_models[0]
    for firm in model.firm_agents:  # names in the reverse of the firms' order
        firm.name = f"{9 - firm.index} {firm.name}"
    try:
        expected = timeseries_from_mesa(model, rewards)
        table = firm_timeseries(model, rewards)
        pd.testing.assert_frame_equal(table, expected, check_exact=True)
        assert table["focal"].iloc[-1]  # the focal firm is now last in each period
    finally:
        for firm in model.firm_agents:
            firm.name = firm.name.split(" ", 1)[1]


def test_the_summary_is_the_one_pandas_computes(finished_models):
    for model, rewards in finished_models:
        table = firm_timeseries(model, rewards)
        focal = table[table["focal"]]
        values = model.expected_values()[model.population.firm == 0]
        expected = summary_in_pandas(focal, values, model.dt / 12)
        assert_same_summary(summarise_run(focal, values, model.dt / 12), expected)
        # Without the rewards column every non-discount cost counts as lever spend.
        plain = focal.drop(columns="cost_rewards")
        expected = summary_in_pandas(plain, values, model.dt / 12)
        assert_same_summary(summarise_run(plain, values, model.dt / 12), expected)


def test_missing_values_are_skipped_as_pandas_skips_them(finished_models):
    model, rewards = finished_models[0]
    table = firm_timeseries(model, rewards)
    focal = table[table["focal"]].copy()
    focal.loc[focal.index[:3], ["retention_rate", "profit", "marketing_cost"]] = np.nan
    focal["churn_rate"] = np.nan
    values = np.array([1.0, 2.5])
    expected = summary_in_pandas(focal, values, 0.25)
    assert_same_summary(summarise_run(focal, values, 0.25), expected)


def test_a_replication_keeps_its_tables_as_before():
    scenario = apply_overrides(
        resize_market(load_scenario("acquisition_vs_retention"), 300),
        {"market.periods": 12},
        source="test",
    )
    result = run_replication(scenario, "balanced", 5, replication=2)
    model = RelationshipMarket(scenario, policy="balanced", rng=5, customer_agents=False)
    rewards = run_recording_rewards(model)
    expected = timeseries_from_mesa(model, rewards)
    expected.insert(0, "replication", 2)
    expected.insert(0, "policy", "balanced")
    pd.testing.assert_frame_equal(result.timeseries, expected, check_exact=True)
    values = model.expected_values()[model.population.firm == 0]
    focal = expected[expected["focal"]]
    assert_same_summary(result.summary, summary_in_pandas(focal, values, model.dt / 12))
    release(model)

    sweep = run_replication(scenario, "balanced", 5, replication=2, collect_timeseries=False)
    pd.testing.assert_frame_equal(sweep.timeseries, expected.iloc[0:0], check_exact=True)
    assert sweep.summary == result.summary


@pytest.mark.parametrize("keep", [True, False])
def test_pooled_timeseries_is_the_runs_tables_concatenated(keep):
    """Two policies' runs, interleaved, joined column by column: ``pd.concat``'s table."""
    scenario = apply_overrides(
        resize_market(load_scenario("acquisition_vs_retention"), 200),
        {"market.periods": 6},
        source="test",
    )
    results = [
        run_replication(scenario, policy, seed, replication, collect_timeseries=keep)
        for replication, seed in enumerate((3, 4))
        for policy in ("balanced", "retention_focused")
    ]
    expected = pd.concat([r.timeseries for r in results], ignore_index=True)
    assert len(expected) == (4 * 6 * len(scenario.market.firms) if keep else 0)
    pd.testing.assert_frame_equal(pooled_timeseries(results), expected, check_exact=True)


# --------------------------------------------------------------------------- lifetime values
def test_lifetime_values_are_the_runs_samples_one_after_another():
    rng = np.random.default_rng(3)
    results = [
        SimpleNamespace(policy=p, replication=r, lifetime_values=np.sort(rng.random(n)))
        for p, r, n in [("b", 0, 4), ("b", 1, 0), ("a", 0, 3), ("a", 1, 5)]
    ]
    expected = pd.concat(
        [
            pd.DataFrame(
                {
                    "policy": r.policy,
                    "replication": r.replication,
                    "expected_clv": r.lifetime_values,
                }
            )
            for r in results
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(lifetime_values(results), expected, check_exact=True)
