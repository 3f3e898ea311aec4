"""Why a policy wins: the NPV difference split into sources adds up exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.runs.decomposition import (
    SOURCES,
    advertising_returns,
    decompose_npv,
    explain,
    summarise_decomposition,
)
from simulation.scenario.loading import load_scenario

KEYS = [key for key, _ in SOURCES]


@pytest.fixture(scope="module")
def small_run():
    from simulation.runs.runner import run_scenario

    scenario = load_scenario(
        "acquisition_vs_retention", {"market.customers": 400, "market.periods": 24}
    )
    return run_scenario(scenario, replications=3, seed=11)


def test_sources_add_up_to_the_npv_difference_of_each_replication(small_run) -> None:
    parts = decompose_npv(small_run.timeseries)
    npv = small_run.summary.set_index(["policy", "replication"])["npv"]
    expected = [
        npv[(row.policy, row.replication)] - npv[(row.baseline, row.replication)]
        for row in parts.itertuples(index=False)
    ]
    # Exact up to floating-point rounding of sums of about 240 terms near 1e5.
    np.testing.assert_allclose(parts["npv_difference"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(parts[KEYS].sum(axis=1), expected, rtol=0, atol=1e-6)
    # Paired runs start from the same market.
    np.testing.assert_allclose(parts["starting_customers"], 0.0, atol=1e-9)
    assert set(parts["policy"]) == set(small_run.policies[1:])


def test_spend_split_matches_the_books(small_run) -> None:
    summary = small_run.summary
    total = summary["lever_spend_total"] + summary["rewards_total"] + summary["discounts_total"]
    np.testing.assert_allclose(total, summary["marketing_cost_total"], rtol=1e-12)
    # A policy with a loyalty programme pays rewards; lever spend never exceeds the budget.
    by_policy = summary.groupby("policy")["rewards_total"].sum()
    assert by_policy["retention_focused"] > 0
    budget = small_run.scenario.policies["balanced"].budget * small_run.scenario.market.periods
    assert (summary["lever_spend_total"] <= budget * (1 + 1e-12)).all()


def _two_policy_table(customers_b: list[int], margin_a: float, margin_b: float) -> pd.DataFrame:
    """Two policies over three periods, no spend: the same flows except extra customers."""
    rows = []
    for policy, customers, margin in (
        ("a", [10, 10, 10], margin_a),
        ("b", customers_b, margin_b),
    ):
        start = 10
        for period, end in enumerate(customers, start=1):
            won = max(end - start, 0)
            lost = max(start - end, 0)
            revenue = end * margin
            rows.append(
                {
                    "policy": policy,
                    "replication": 0,
                    "period": period,
                    "firm": "focal",
                    "focal": True,
                    "customers_start": start,
                    "customers": end,
                    "acquired_advertising": won,
                    "acquired_referral": 0,
                    "acquired_win_back": 0,
                    "acquired_from_rival": 0,
                    "churned": lost,
                    "revenue": revenue,
                    "cost_product": 0.0,
                    "cost_service": 0.0,
                    "marketing_cost": 0.0,
                    "cost_discount": 0.0,
                    "profit": revenue,
                    "discounted_profit": revenue,
                    "discount_factor": 1.0,
                }
            )
            start = end
    return pd.DataFrame(rows)


def test_extra_customers_are_valued_at_the_mean_margin() -> None:
    # b wins 2 customers in period 1 and keeps them; both earn 5 per customer-period:
    # 2 customers x 3 periods x 5 = 30, all of it from customers won.
    parts = decompose_npv(_two_policy_table([12, 12, 12], 5.0, 5.0)).iloc[0]
    assert parts["won_by_marketing"] == pytest.approx(30.0)
    assert parts["margin_per_customer"] == pytest.approx(0.0)
    assert parts["npv_difference"] == pytest.approx(30.0)


def test_margin_per_customer_is_the_rest() -> None:
    # Same customers, b earns 6 instead of 5: 10 x 3 x 1 = 30 from margin per customer.
    parts = decompose_npv(_two_policy_table([10, 10, 10], 5.0, 6.0)).iloc[0]
    assert parts["margin_per_customer"] == pytest.approx(30.0)
    assert parts[["won_by_marketing", "fewer_lost"]].abs().sum() == pytest.approx(0.0)


def test_explanation_names_the_main_source() -> None:
    table = _two_policy_table([12, 12, 12], 5.0, 5.0)
    summary = summarise_decomposition(decompose_npv(table))
    sentence = explain(summary, "b")
    assert sentence.startswith("`b` earns 30.0 more NPV than `a`")
    assert "wins more customers by marketing" in sentence
    assert summary.loc[summary["source"] == "total", "mean"].iloc[0] == pytest.approx(30.0)


def test_advertising_returns_only_when_the_data_show_saturation() -> None:
    table = _two_policy_table([12, 12, 12], 5.0, 5.0)
    table["cost_advertising"] = np.where(table["policy"] == "a", 100.0, 200.0)
    # a wins none by advertising: no ratio to state.
    assert advertising_returns(table, "b", "a") == ""
    table.loc[table["policy"] == "a", "acquired_advertising"] = [1, 0, 0]
    # b doubles the spend (+100%) for 2 customers instead of 1 (+100%): no saturation.
    assert advertising_returns(table, "b", "a") == ""
    table.loc[table["policy"] == "a", "acquired_advertising"] = [2, 0, 0]
    table.loc[table["policy"] == "b", "acquired_advertising"] = [3, 0, 0]
    sentence = advertising_returns(table, "b", "a")
    assert "the last 50% of `b`'s advertising spend" in sentence
    assert "50% more customers" in sentence
