"""Statistics: paired comparisons against known answers, intervals, pooled cohort survival."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation.runs import stats as analysis

# The comparison.csv columns exactly as docs/outputs.md lists them.
DOCUMENTED_COMPARISON_COLUMNS = [
    "policy",
    "baseline",
    "outcome",
    "baseline_mean",
    "policy_mean",
    "difference",
    "ci_low",
    "ci_high",
    "relative_difference",
    "p_value",
    "share_better",
    "n",
]


def paired_summary(
    baseline: np.ndarray, others: dict[str, np.ndarray], outcome: str = "npv"
) -> pd.DataFrame:
    """A summary table: the baseline policy first, then the others, one row per replication."""
    rows = [
        {"policy": "base", "replication": r, "seed": 100 + r, outcome: v}
        for r, v in enumerate(baseline)
    ]
    for policy, values in others.items():
        rows += [
            {"policy": policy, "replication": r, "seed": 100 + r, outcome: v}
            for r, v in enumerate(values)
        ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- mean_ci
def test_mean_ci_matches_the_t_interval() -> None:
    values = np.array([1.0, 2.0, 4.0, 7.0])
    mean, low, high = analysis.mean_ci(values)
    expected = stats.t.interval(0.95, 3, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(3.5)
    assert (low, high) == pytest.approx(expected)
    _, low90, high90 = analysis.mean_ci(values, confidence=0.9)
    assert low < low90 < high90 < high


@pytest.mark.filterwarnings("error")
def test_mean_ci_degenerate_cases() -> None:
    assert analysis.mean_ci([3.0]) == (3.0, 3.0, 3.0)
    assert analysis.mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert all(math.isnan(x) for x in analysis.mean_ci([]))
    # NaN (a cost per customer with no customers) is ignored, not propagated.
    assert analysis.mean_ci([1.0, np.nan, 3.0])[0] == pytest.approx(2.0)
    assert analysis.mean_ci(pd.Series([1.0, 3.0]))[0] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        analysis.mean_ci([1.0, 2.0], confidence=1.0)


# --------------------------------------------------------------------------- compare_policies
def test_constant_difference_gives_that_difference_and_a_zero_width_interval() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(1000.0, 50.0, size=12)
    table = analysis.compare_policies(paired_summary(base, {"plus5": base + 5.0}))
    assert list(table.columns) == DOCUMENTED_COMPARISON_COLUMNS
    row = table.iloc[0]
    assert (row["policy"], row["baseline"], row["outcome"]) == ("plus5", "base", "npv")
    assert row["difference"] == pytest.approx(5.0)
    assert row["ci_low"] == row["ci_high"] == pytest.approx(5.0)
    assert row["baseline_mean"] == pytest.approx(base.mean())
    assert row["policy_mean"] == pytest.approx(base.mean() + 5.0)
    assert row["relative_difference"] == pytest.approx(5.0 / base.mean())
    assert row["share_better"] == 1.0
    assert row["n"] == 12
    # The t statistic is undefined without spread: no p-value rather than a crash or a warning.
    assert math.isnan(row["p_value"])


def test_known_answer_matches_scipy() -> None:
    base = np.array([10.0, 12.0, 9.0, 14.0, 11.0])
    policy = base + np.array([1.0, 3.0, -1.0, 4.0, 2.0])
    row = analysis.compare_policies(paired_summary(base, {"p": policy})).iloc[0]
    diffs = policy - base
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    assert row["difference"] == pytest.approx(1.8)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["p_value"] == pytest.approx(stats.ttest_rel(policy, base).pvalue)
    assert row["share_better"] == pytest.approx(0.8)


@pytest.mark.filterwarnings("error")
def test_single_replication_and_identical_policies_raise_no_warning() -> None:
    one = analysis.compare_policies(paired_summary(np.array([7.0]), {"p": np.array([9.5])}))
    row = one.iloc[0]
    assert row["difference"] == row["ci_low"] == row["ci_high"] == pytest.approx(2.5)
    assert math.isnan(row["p_value"])
    assert row["n"] == 1

    base = np.array([1.0, 2.0, 3.0])
    same = analysis.compare_policies(paired_summary(base, {"same": base.copy()})).iloc[0]
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0
    assert math.isnan(same["p_value"])
    assert same["share_better"] == 0.0


def test_pairs_by_replication_not_by_row_order() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0.0, 100.0, size=8)
    summary = paired_summary(base, {"p": base + 2.0})
    # Each policy's rows in a different random order (the baseline's rows still come first,
    # since order of appearance decides the baseline).
    shuffled = pd.concat(
        [
            summary[summary["policy"] == "base"].sample(frac=1.0, random_state=4),
            summary[summary["policy"] == "p"].sample(frac=1.0, random_state=5),
        ]
    )
    row = analysis.compare_policies(shuffled).iloc[0]
    assert row["difference"] == pytest.approx(2.0)
    assert row["ci_high"] - row["ci_low"] == pytest.approx(0.0, abs=1e-9)


def test_missing_replications_and_nan_values_are_left_unpaired() -> None:
    base = np.array([1.0, 2.0, 3.0, 4.0])
    summary = paired_summary(base, {"p": base + np.array([1.0, 2.0, np.nan, 1.0])})
    summary = summary.drop(
        summary.index[(summary["policy"] == "p") & (summary["replication"] == 0)]
    )
    row = analysis.compare_policies(summary).iloc[0]
    assert row["n"] == 2  # replication 0 has no partner, replication 2 is NaN
    assert row["difference"] == pytest.approx(1.5)


def test_lower_is_better_outcomes_count_decreases_as_better() -> None:
    assert {"cost_per_acquired", "cost_per_retained", "mean_churn_rate", "churned_total"} <= set(
        analysis.LOWER_IS_BETTER
    )
    base = np.array([0.05, 0.04, 0.06, 0.05])
    policy = base + np.array([-0.01, -0.01, 0.005, -0.002])
    row = analysis.compare_policies(
        paired_summary(base, {"p": policy}, outcome="mean_churn_rate")
    ).iloc[0]
    assert row["share_better"] == pytest.approx(0.75)
    npv = analysis.compare_policies(paired_summary(base, {"p": policy}, outcome="npv")).iloc[0]
    assert npv["share_better"] == pytest.approx(0.25)


def test_default_outcomes_baseline_and_order() -> None:
    rng = np.random.default_rng(8)
    rows = []
    for policy in ("acq", "ret", "mix"):
        for r in range(4):
            rows.append(
                {
                    "policy": policy,
                    "replication": r,
                    "seed": 10 + r,
                    "npv": rng.normal(),
                    "final_customers": rng.integers(100, 200),
                    "note": "text",
                }
            )
    summary = pd.DataFrame(rows)
    table = analysis.compare_policies(summary)
    assert list(table["policy"].unique()) == ["ret", "mix"]
    assert set(table["baseline"]) == {"acq"}
    # Keys (including seed) and text columns are not outcomes.
    assert list(table["outcome"].unique()) == ["npv", "final_customers"]
    assert len(table) == 4

    chosen = analysis.compare_policies(summary, outcomes=["npv"], baseline="mix")
    assert list(chosen["policy"]) == ["acq", "ret"]
    assert set(chosen["baseline"]) == {"mix"}

    with pytest.raises(ValueError, match="baseline"):
        analysis.compare_policies(summary, baseline="nope")
    with pytest.raises(ValueError, match="lacks"):
        analysis.compare_policies(summary, outcomes=["nothing"])


def test_single_policy_gives_an_empty_table_with_the_columns() -> None:
    table = analysis.compare_policies(paired_summary(np.array([1.0, 2.0]), {}))
    assert table.empty
    assert list(table.columns) == DOCUMENTED_COMPARISON_COLUMNS


def test_duplicate_replication_is_an_error() -> None:
    summary = paired_summary(np.array([1.0, 2.0]), {"p": np.array([1.0, 2.0])})
    summary = pd.concat([summary, summary.iloc[[0]]])
    with pytest.raises(ValueError, match="more than once"):
        analysis.compare_policies(summary)


def test_relative_difference_uses_the_absolute_baseline_mean() -> None:
    base = np.array([-100.0, -100.0, -100.0])
    row = analysis.compare_policies(paired_summary(base, {"p": base + 20.0})).iloc[0]
    assert row["relative_difference"] == pytest.approx(0.2)
    zero = analysis.compare_policies(paired_summary(np.zeros(3), {"p": np.ones(3)})).iloc[0]
    assert math.isnan(zero["relative_difference"])


def test_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    # 2,000 independent experiments, each with 10 paired replications. Every experiment is one
    # outcome column, so a single compare_policies call runs them all. Policies share a large
    # replication effect (the common random numbers) and differ by a true 3.0 plus noise.
    experiments, replications, true_difference = 2000, 10, 3.0
    rng = np.random.default_rng(20240601)
    shared = rng.normal(0.0, 50.0, size=(replications, experiments))
    base = 1000.0 + shared + rng.normal(0.0, 4.0, size=(replications, experiments))
    policy = 1000.0 + true_difference + shared + rng.normal(0.0, 4.0, (replications, experiments))
    columns = {f"x{k}": np.r_[base[:, k], policy[:, k]] for k in range(experiments)}
    summary = pd.DataFrame(
        {"policy": ["base"] * replications + ["p"] * replications, "replication": [*range(10)] * 2}
        | columns
    )
    table = analysis.compare_policies(summary)
    covered = ((table["ci_low"] <= true_difference) & (table["ci_high"] >= true_difference)).mean()
    # With normal noise the t interval is exact, so the coverage estimate differs from 0.95 only
    # by Monte Carlo error: its standard error is sqrt(0.95 * 0.05 / 2000) = 0.0049. A band of
    # +-3 standard errors (+-0.015) fails by chance 0.3% of the time for a correct interval, yet
    # catches a z instead of t critical value (coverage about 0.92 at n = 10).
    se = math.sqrt(0.95 * 0.05 / experiments)
    assert abs(covered - 0.95) <= 3 * se
    # The paired interval must be far narrower than the shared noise would allow unpaired.
    assert (table["ci_high"] - table["ci_low"]).mean() < 10.0


# --------------------------------------------------------------------------- over time
def timeseries_table() -> pd.DataFrame:
    rows = []
    for policy in ("a", "b"):
        for r in range(3):
            for period in (1, 2):
                for firm, focal in (("us", True), ("them", False)):
                    value = (
                        10.0 * period + r + (100 if not focal else 0) + (5 if policy == "b" else 0)
                    )
                    rows.append(
                        {
                            "policy": policy,
                            "replication": r,
                            "period": period,
                            "firm": firm,
                            "focal": focal,
                            "customers": value,
                        }
                    )
    return pd.DataFrame(rows)


def test_summarise_over_time_focal_firm() -> None:
    table = analysis.summarise_over_time(timeseries_table(), "customers")
    assert list(table.columns[:5]) == ["policy", "period", "mean", "low", "high"]
    assert list(table["policy"]) == ["a", "a", "b", "b"]
    assert list(table["period"]) == [1, 2, 1, 2]
    np.testing.assert_allclose(table["mean"], [11.0, 21.0, 16.0, 26.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # values r = 0, 1, 2 have sd 1
    np.testing.assert_allclose(table["high"] - table["mean"], half)
    rival = analysis.summarise_over_time(timeseries_table(), "customers", firm="them")
    np.testing.assert_allclose(rival["mean"], [111.0, 121.0, 116.0, 126.0])


def test_summarise_over_time_one_replication_has_a_zero_width_band() -> None:
    one = timeseries_table().query("replication == 0")
    table = analysis.summarise_over_time(one, "customers")
    np.testing.assert_allclose(table["low"], table["mean"])
    np.testing.assert_allclose(table["high"], table["mean"])
    with pytest.raises(ValueError, match="nobody"):
        analysis.summarise_over_time(one, "customers", firm="nobody")


# --------------------------------------------------------------------------- cohorts
def test_cohort_survival_is_pooled_by_cohort_size() -> None:
    cohorts = pd.DataFrame(
        {
            "policy": ["a"] * 4,
            "cohort": [1, 1, 2, 2],
            "age": [0, 1, 0, 1],
            "cohort_size": [10, 10, 30, 30],
            "active": [10, 5, 30, 27],
            "mean_base_churn_rate": [0.1, 0.04, 0.1, 0.08],
        }
    )
    curve = analysis.cohort_survival_curve(cohorts)
    assert list(curve.columns) == ["policy", "age", "survival", "mean_base_churn_rate"]
    assert curve["survival"].tolist() == pytest.approx([1.0, 32 / 40])
    # Mean over the survivors: weighted by the number still active, not by cohort.
    assert curve["mean_base_churn_rate"].tolist() == pytest.approx(
        [0.1, (5 * 0.04 + 27 * 0.08) / 32]
    )


def test_cohort_survival_reproduces_geometric_survival() -> None:
    # Constant churn p: the share still active after t periods is (1 - p)^t.
    p, size = 0.2, 10_000
    rows = [
        {"policy": "x", "cohort": c, "age": t, "cohort_size": size, "active": size * (1 - p) ** t}
        for c in range(1, 4)
        for t in range(0, 6)
    ]
    curve = analysis.cohort_survival_curve(pd.DataFrame(rows))
    np.testing.assert_allclose(curve["survival"], (1 - p) ** curve["age"])
    assert curve["mean_base_churn_rate"].isna().all()
