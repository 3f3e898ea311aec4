"""The report answers which policy wins, by how much and how sure we are, in plain words."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from simulation.runs.report import render_report, summary_rows_for_console
from simulation.runs.stats import compare_policies

BASELINE = "acquisition-heavy"


def make_summary(
    effects: dict[str, float], replications: int = 20, noise: float = 2000.0, seed: int = 3
) -> pd.DataFrame:
    """A summary table; `effects` adds to every replication's NPV (the baseline first)."""
    rng = np.random.default_rng(seed)
    # A large replication effect shared by all policies, as with common random numbers.
    shared = rng.normal(0.0, 5000.0, replications)
    rows = []
    for policy, effect in effects.items():
        for r in range(replications):
            rows.append(
                {
                    "policy": policy,
                    "replication": r,
                    "seed": 1000 + r,
                    "npv": 100_000 + effect + shared[r] + rng.normal(0.0, noise),
                    "final_customers": 1200 + effect / 100 + rng.normal(0.0, 30.0),
                    "final_market_share": 0.31 + rng.normal(0.0, 0.01),
                    "mean_churn_rate": 0.021 + rng.normal(0.0, 0.002),
                    "cost_per_acquired": 85.3 + rng.normal(0.0, 3.0),
                    "cost_per_retained": 9.87 + rng.normal(0.0, 0.5),
                    "clv_mean": 412.5 + rng.normal(0.0, 10.0),
                    "customer_equity": 495_000 + rng.normal(0.0, 10_000.0),
                    "referrals": 140 + rng.poisson(10),
                }
            )
    return pd.DataFrame(rows)


def report_for(summary: pd.DataFrame, replications: int = 20, **kwargs) -> str:
    extra = {k: kwargs.pop(k) for k in ("equivalence_margin", "timeseries") if k in kwargs}
    return render_report(
        "acquisition_vs_retention",
        "Same budget, two ways to spend it.",
        summary,
        compare_policies(summary),
        kwargs.pop("plot_files", ["customers.png", "cumulative_profit.png"]),
        baseline=kwargs.pop("baseline", BASELINE),
        wall_seconds=kwargs.pop("wall_seconds", 83.2),
        replications=replications,
        **extra,
    )


def top_of(report: str) -> str:
    """The part of the report above the explanations: what fits on one screen."""
    return report.split("**How to read this.**")[0]


def test_clear_winner_is_named_with_its_margin_and_certainty() -> None:
    # +15,000 on an NPV of 100,000 with paired noise sd 2,000 x sqrt(2) over 20 replications:
    # the interval's half-width is about 1,300, far beyond the 1% margin (1,000).
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0})
    report = report_for(summary)
    top = top_of(report)
    assert report.startswith("# acquisition_vs_retention")
    assert "**`retention-focused` wins on NPV**" in top
    assert "`acquisition-heavy` (baseline, runner-up)" in top
    assert "not yet distinguishable" not in report
    assert "clears the margin" in top
    assert "every verdict is settled" in top
    assert "20 of 20 (100%)" in top
    # Human numbers: thousands separators and a signed difference.
    diff = compare_policies(summary).set_index("outcome").loc["npv", "difference"]
    assert f"+{diff:,.0f}" in top
    assert len(top.splitlines()) <= 20


def test_a_difference_inside_the_margin_is_a_tie_not_a_win() -> None:
    # +300 on 100,000 with paired noise sd 200 x sqrt(2): the interval (half-width about 130
    # at 20 replications) lies inside the 1% margin of about 1,000.
    summary = make_summary({BASELINE: 0.0, "retention-focused": 300.0}, noise=200.0)
    top = top_of(report_for(summary))
    assert "practically equivalent on NPV" in top
    assert "wins on NPV" not in top


def test_an_interval_across_the_margin_is_not_yet_distinguishable() -> None:
    # +1,000 (the margin itself) with paired noise sd 4,000 x sqrt(2): the interval
    # (half-width about 2,600) crosses the margin's edge.
    summary = make_summary({BASELINE: 0.0, "retention-focused": 1_000.0}, noise=4000.0)
    top = top_of(report_for(summary))
    assert "No winner yet" in top
    assert "not yet distinguishable" in top
    assert "--until-decided" in top
    assert "wins on NPV" not in top


def test_the_margin_is_a_setting() -> None:
    # +15,000 clears a 1% margin but lies inside a 20% one (20,000).
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0})
    wide = top_of(report_for(summary, equivalence_margin=0.2))
    assert "wins on NPV" not in wide
    assert "20% of NPV" in wide


def test_winner_against_baseline_and_runner_up() -> None:
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0, "balanced": 5_000.0})
    top = top_of(report_for(summary))
    winner_line = next(line for line in top.splitlines() if "wins on NPV" in line)
    assert "retention-focused" in winner_line
    assert "`acquisition-heavy` (baseline)" in top
    assert "`balanced` (runner-up)" in top
    # Both rows carry a relative difference in percent.
    rows = [line for line in top.splitlines() if line.startswith("| `") and "against" not in line]
    assert len(rows) == 2
    assert all("%" in row for row in rows)


def test_baseline_that_stays_best() -> None:
    summary = make_summary({BASELINE: 10_000.0, "retention-focused": 0.0})
    top = top_of(report_for(summary))
    assert f"**`{BASELINE}` wins on NPV** (the baseline stays best)" in top


def test_single_replication_has_no_interval_and_no_verdict() -> None:
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0}, replications=1)
    report = report_for(summary, replications=1)
    top = top_of(report)
    assert "one replication has no interval" in top
    assert "wins on NPV" not in top
    assert "1 paired replication each" in top
    assert "95% CI" not in top.split("## The answer")[1].split("|")[0]
    assert "One replication: values without intervals" in report


def test_single_policy_has_nothing_to_compare() -> None:
    summary = make_summary({BASELINE: 0.0})
    report = report_for(summary)
    assert "nothing to compare" in report
    assert "Only one policy: there is no comparison." in report


def test_tables_how_to_read_and_images() -> None:
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0})
    report = report_for(
        summary, plot_files={"Customers over time": "/abs/results/x/plots/customers.png"}
    )
    assert "## Outcomes per policy" in report
    for label in ("NPV (discounted profit)", "final market share", "customer equity", "referrals"):
        assert re.search(rf"^\| {re.escape(label)} +\|", report, re.MULTILINE), label
    assert "±" in report
    assert "`retention-focused` (highest NPV)" in report
    assert "## Each policy against the baseline `acquisition-heavy`" in report
    assert "mean_churn_rate (lower is better)" in report
    assert "paired" in report and "next period" in report
    assert "![Customers over time](plots/customers.png)" in report
    named = report_for(summary, plot_files={"cumulative_profit": "plots/cumulative_profit.png"})
    assert "![Cumulative profit](plots/cumulative_profit.png)" in named
    plain = report_for(summary, plot_files=["plots/cohort_survival.png"])
    assert "![Cohort survival](plots/cohort_survival.png)" in plain
    assert "wall time 1 min 23 s" in plain


def test_unknown_baseline_is_an_error() -> None:
    summary = make_summary({BASELINE: 0.0, "b": 1.0})
    with pytest.raises(ValueError, match="baseline"):
        report_for(summary, baseline="nope")


def test_console_rows() -> None:
    summary = make_summary({BASELINE: 0.0, "retention-focused": 15_000.0, "balanced": 100.0})
    comparison = compare_policies(summary)
    rows = summary_rows_for_console(summary, comparison)
    assert [r["policy"] for r in rows] == [BASELINE, "retention-focused", "balanced"]
    assert [r["winner"] for r in rows] == [False, True, False]
    assert [r["baseline"] for r in rows] == [True, False, False]
    base, winner = rows[0], rows[1]
    assert math.isnan(base["npv_difference"])
    npv = comparison[
        (comparison["policy"] == "retention-focused") & (comparison["outcome"] == "npv")
    ]
    assert winner["npv_difference"] == pytest.approx(npv["difference"].iloc[0])
    assert winner["npv_ci_low"] < winner["npv_mean"] < winner["npv_ci_high"]
    expected_churn = 100 * summary.loc[summary["policy"] == BASELINE, "mean_churn_rate"].mean()
    assert base["churn_pct"] == pytest.approx(expected_churn)
    assert set(rows[0]) >= {"policy", "npv_mean", "final_customers", "churn_pct", "winner"}
