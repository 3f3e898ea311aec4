"""Cohort survival counts, against a small case worked by hand."""

import numpy as np
import pandas as pd
import pytest

from simulation.market.cohorts import CohortTracker, finish_cohort_table


def test_a_small_case_counted_by_hand():
    # Horizon 3. Period 1: four customers join (base rates 0.1, 0.2, 0.3, 0.4); one leaves at
    # age 1 (rate 0.4) and one at age 2 (rate 0.1). Period 2: two join (0.5, 0.5), one leaves
    # at age 1. Initial customers (cohort 0) leaving are no cohort's concern.
    tracker = CohortTracker(3)
    tracker.join(1, np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32))
    tracker.leave(np.array([1, 0]), 2, np.array([0.4, 0.9], dtype=np.float32))
    tracker.join(2, np.array([0.5, 0.5], dtype=np.float32))
    tracker.leave(np.array([1, 2]), 3, np.array([0.1, 0.5], dtype=np.float32))
    table = tracker.table()
    assert table[["cohort", "age", "cohort_size", "active"]].values.tolist() == [
        [1, 0, 4, 4],
        [1, 1, 4, 3],
        [1, 2, 4, 2],
        [2, 0, 2, 2],
        [2, 1, 2, 1],
    ]
    np.testing.assert_allclose(table["base_churn_sum"], [1.0, 0.6, 0.5, 1.0, 0.5], rtol=1e-6)

    finished = finish_cohort_table(table)
    np.testing.assert_allclose(finished["survival"], [1, 0.75, 0.5, 1, 0.5])
    np.testing.assert_allclose(finished["mean_base_churn_rate"], [0.25, 0.2, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(finished["hazard"], [np.nan, 0.25, 1 / 3, np.nan, 0.5])


def test_no_cohort_gives_an_empty_table_with_the_columns():
    table = CohortTracker(5).table()
    assert table.empty
    assert list(table.columns) == ["cohort", "age", "cohort_size", "active", "base_churn_sum"]


def test_the_hazard_is_per_policy_when_policies_are_pooled():
    counts = pd.DataFrame(
        {
            "policy": ["a", "a", "b", "b"],
            "cohort": [1, 1, 1, 1],
            "age": [0, 1, 0, 1],
            "cohort_size": [10, 10, 10, 10],
            "active": [10, 5, 10, 8],
            "base_churn_sum": [1.0, 0.5, 1.0, 0.8],
        }
    )
    hazard = finish_cohort_table(counts)["hazard"]
    assert np.isnan(hazard[0]) and np.isnan(hazard[2])
    assert hazard[1] == pytest.approx(0.5) and hazard[3] == pytest.approx(0.2)
