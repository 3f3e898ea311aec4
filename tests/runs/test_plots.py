"""Figures: each plot returns a readable Figure, works with one replication, keeps colours."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simulation.experiments import study_plots  # noqa: E402
from simulation.runs import plots  # noqa: E402

POLICIES = ("acquisition-heavy", "retention-focused", "balanced")
STAGES = ("discovery", "evaluation", "purchase", "experience", "bonding", "advocacy", "lapsed")


def make_timeseries(
    policies: tuple[str, ...] = POLICIES, replications: int = 3, periods: int = 12, seed: int = 1
) -> pd.DataFrame:
    """A small timeseries table with every documented column, for a focal firm and a rival."""
    rng = np.random.default_rng(seed)
    rows = []
    for p_index, policy in enumerate(policies):
        for replication in range(replications):
            for firm, focal in (("Focal Co", True), ("Rival", False)):
                customers = 100.0
                cumulative = 0.0
                for period in range(1, periods + 1):
                    channels = rng.poisson([8 + 2 * p_index, 3, 1, 2])
                    lost = rng.poisson([3, 2 - 0.5 * p_index])
                    start = customers
                    customers = max(0.0, start + channels.sum() - lost.sum())
                    revenue = 50.0 * customers
                    acquisition_cost = 400.0 + 10 * rng.random()
                    retention_cost = 150.0 + 100 * p_index
                    cost_total = 20.0 * customers + acquisition_cost + retention_cost
                    profit = revenue - cost_total
                    discounted = profit / 1.01**period
                    cumulative += discounted
                    stage_customers = rng.multinomial(int(customers), [0.3, 0.3, 0.25, 0.15])
                    rows.append(
                        {
                            "policy": policy,
                            "replication": replication,
                            "period": period,
                            "firm": firm,
                            "focal": focal,
                            "customers_start": start,
                            "customers": customers,
                            "acquired": channels.sum(),
                            "acquired_advertising": channels[0],
                            "acquired_referral": channels[1],
                            "acquired_win_back": channels[2],
                            "acquired_from_rival": channels[3],
                            "churned": lost.sum(),
                            "churned_to_rival": lost[0],
                            "churned_out_of_market": lost[1],
                            "retention_rate": 1 - lost.sum() / start if start else 1.0,
                            "churn_rate": lost.sum() / start if start else 0.0,
                            "revenue": revenue,
                            "acquisition_cost": acquisition_cost,
                            "retention_cost": retention_cost,
                            "marketing_cost": acquisition_cost + retention_cost,
                            "cost_total": cost_total,
                            "profit": profit,
                            "discounted_profit": discounted,
                            "cumulative_discounted_profit": cumulative,
                            "cost_per_acquired": acquisition_cost / max(channels.sum(), 1),
                            "cost_per_retained": retention_cost / max(start - lost.sum(), 1),
                            "mean_satisfaction": rng.uniform(0.5, 0.9),
                            "stage_discovery": 5000.0 - 300 * period,
                            "stage_evaluation": 200.0 + rng.integers(0, 50),
                            "stage_purchase": stage_customers[0],
                            "stage_experience": stage_customers[1],
                            "stage_bonding": stage_customers[2],
                            "stage_advocacy": stage_customers[3],
                            "stage_lapsed": 10.0 * period,
                            "market_share": 0.5,
                            "referrals": channels[1],
                        }
                    )
    return pd.DataFrame(rows)


def make_cohorts(policies: tuple[str, ...] = POLICIES, periods: int = 8) -> pd.DataFrame:
    rows = []
    for p_index, policy in enumerate(policies):
        churn = 0.10 - 0.02 * p_index
        for cohort in range(1, periods + 1):
            size = 50 + 5 * cohort
            for age in range(0, periods - cohort + 1):
                active = round(size * (1 - churn) ** age)
                rows.append(
                    {
                        "policy": policy,
                        "cohort": cohort,
                        "age": age,
                        "cohort_size": size,
                        "active": active,
                        "survival": active / size,
                        "mean_base_churn_rate": churn * 0.97**age,
                        "hazard": churn if age else 0.0,
                    }
                )
    return pd.DataFrame(rows)


def make_lifetime_values(policies: tuple[str, ...] = POLICIES, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            {"policy": policy, "replication": r, "expected_clv": rng.lognormal(5 + 0.1 * i, 0.5)}
            for i, policy in enumerate(policies)
            for r in range(3)
            for _ in range(100)
        ]
    )


def make_comparison(policies: tuple[str, ...] = POLICIES) -> pd.DataFrame:
    rows = []
    for i, policy in enumerate(policies[1:], start=1):
        for outcome in ("npv", "mean_churn_rate"):
            diff = 1000.0 * i if outcome == "npv" else -0.01 * i
            rows.append(
                {
                    "policy": policy,
                    "baseline": policies[0],
                    "outcome": outcome,
                    "baseline_mean": 10000.0,
                    "policy_mean": 10000.0 + diff,
                    "difference": diff,
                    "ci_low": diff - 800,
                    "ci_high": diff + 800,
                    "relative_difference": diff / 10000.0,
                    "p_value": 0.03,
                    "share_better": 0.7,
                    "n": 20,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def timeseries() -> pd.DataFrame:
    return make_timeseries()


@pytest.fixture(scope="module")
def single_run() -> pd.DataFrame:
    """One policy, one replication, three periods: the smallest table a dashboard may show."""
    return make_timeseries(policies=("only",), replications=1, periods=3, seed=5)


def _titles(fig: Figure) -> list[str]:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    if fig._suptitle is not None and fig._suptitle.get_text():
        titles.append(fig._suptitle.get_text())
    return titles


def _plot_axes(fig: Figure) -> list:
    """Axes that hold data (colour bars excluded)."""
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]


def check_readable(fig: Figure, *, legend: bool = True) -> None:
    """A title, labelled axes, a legend where there is something to tell apart, and it draws."""
    assert isinstance(fig, Figure)
    assert _titles(fig), "figure has no title"
    axes = _plot_axes(fig)
    assert axes
    assert any(ax.get_xlabel() for ax in axes), "no x label"
    assert any(ax.get_ylabel() for ax in axes), "no y label"
    for ax in axes:
        if ax.get_xlabel() == "" and ax.get_ylabel() == "":
            pytest.fail(f"unlabelled panel {ax.get_title()!r}")
    if legend:
        has_legend = bool(fig.legends) or any(ax.get_legend() is not None for ax in axes)
        assert has_legend, "no legend"
    # Drawing catches errors that only appear at render time (layout, contour labels).
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    plt.close(fig)


def _line_colors(fig: Figure) -> dict[str, str]:
    from matplotlib.colors import to_hex

    return {
        line.get_label(): to_hex(line.get_color())
        for ax in fig.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


# --------------------------------------------------------------------------- colours
def test_policy_colors_follow_order_and_baseline_is_first() -> None:
    colors = plots.policy_colors(["base", "a", "b"])
    assert list(colors) == ["base", "a", "b"]
    assert colors["base"] == plots.PALETTE[0]
    assert colors["a"] == plots.PALETTE[1]
    # Colours depend on position only, so two lists with the same order agree.
    assert plots.policy_colors(["x", "y"]) == {"x": plots.PALETTE[0], "y": plots.PALETTE[1]}
    assert plots.policy_colors(["base", "a", "base"]) == {
        "base": plots.PALETTE[0],
        "a": plots.PALETTE[1],
    }
    many = plots.policy_colors([f"p{i}" for i in range(len(plots.PALETTE) + 2)])
    assert len(many) == len(plots.PALETTE) + 2
    assert len(set(list(many.values())[: len(plots.PALETTE)])) == len(plots.PALETTE)


def test_policy_colour_is_the_same_across_figures(timeseries: pd.DataFrame) -> None:
    first = plots.plot_customers(timeseries)
    second = plots.plot_cumulative_profit(timeseries)
    colors_first, colors_second = _line_colors(first), _line_colors(second)
    expected = plots.policy_colors(POLICIES)
    for policy in POLICIES:
        assert colors_first[policy] == colors_second[policy] == expected[policy]
    survival = _line_colors(plots.plot_cohort_survival(make_cohorts()))
    assert {p: survival[p] for p in POLICIES} == expected
    # The forest plot leaves out the baseline but must not shift the others' colours.
    forest = plots.plot_comparison(make_comparison())
    from matplotlib.colors import to_hex

    forest_colors = {
        to_hex(line.get_color())
        for line in forest.axes[0].get_lines()
        if line.get_marker() == "o" and line.get_label().startswith("_")
    }
    assert forest_colors == {expected[p] for p in POLICIES[1:]}
    for fig in (first, second, forest):
        plt.close(fig)


def test_colors_argument_overrides_palette(timeseries: pd.DataFrame) -> None:
    fig = plots.plot_customers(timeseries, colors={"balanced": "#123456"})
    colors = _line_colors(fig)
    assert colors["balanced"] == "#123456"
    assert colors["acquisition-heavy"] == plots.PALETTE[0]
    plt.close(fig)


# --------------------------------------------------------------------------- over time
def test_plot_over_time_focal_firm_by_default(timeseries: pd.DataFrame) -> None:
    fig = plots.plot_over_time(
        timeseries, "revenue", ylabel="revenue (currency units)", title="Revenue"
    )
    ax = fig.axes[0]
    assert ax.get_title() == "Revenue"
    assert ax.get_xlabel() == "period (month)"
    assert ax.get_ylabel() == "revenue (currency units)"
    line = next(line for line in ax.get_lines() if line.get_label() == POLICIES[0])
    focal = timeseries[timeseries["focal"] & (timeseries["policy"] == POLICIES[0])]
    expected = focal.groupby("period")["revenue"].mean().to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    legend_text = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("95% CI" in t for t in legend_text)
    check_readable(fig)


def test_plot_over_time_named_firm(timeseries: pd.DataFrame) -> None:
    fig = plots.plot_customers(timeseries, firm="Rival")
    line = next(line for line in fig.axes[0].get_lines() if line.get_label() == POLICIES[1])
    rival = timeseries[(timeseries["firm"] == "Rival") & (timeseries["policy"] == POLICIES[1])]
    np.testing.assert_allclose(line.get_ydata(), rival.groupby("period")["customers"].mean())
    assert "Rival" in fig.axes[0].get_title()
    check_readable(fig)


def test_focal_column_read_back_from_csv_as_text(timeseries: pd.DataFrame) -> None:
    as_text = timeseries.assign(focal=timeseries["focal"].map({True: "True", False: "False"}))
    fig = plots.plot_customers(as_text)
    expected = _line_colors(plots.plot_customers(timeseries))
    assert _line_colors(fig) == expected
    check_readable(fig)


@pytest.mark.parametrize(
    "plot",
    [
        plots.plot_customers,
        plots.plot_cumulative_profit,
        plots.plot_churn_by_cause,
        plots.plot_acquisition_channels,
        plots.plot_lifecycle,
    ],
)
def test_timeseries_plots_are_readable(plot, timeseries: pd.DataFrame) -> None:
    check_readable(plot(timeseries))


@pytest.mark.parametrize(
    "plot",
    [
        plots.plot_customers,
        plots.plot_cumulative_profit,
        plots.plot_churn_by_cause,
        plots.plot_acquisition_channels,
        plots.plot_lifecycle,
    ],
)
def test_timeseries_plots_work_with_one_replication(plot, single_run: pd.DataFrame) -> None:
    fig = plot(single_run)
    if plot is not plots.plot_lifecycle and plot is not plots.plot_acquisition_channels:
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
        legend = [t.get_text() for lg in legends for t in lg.texts]
        assert any("1 replication" in t for t in legend)
    check_readable(fig)


def test_acquisition_channels_stack_to_the_mean_total(timeseries: pd.DataFrame) -> None:
    fig = plots.plot_acquisition_channels(timeseries)
    ax = fig.axes[0]
    focal = timeseries[timeseries["focal"]]
    channels = [c for c, _, _ in plots.CHANNELS]
    totals = focal.groupby(["policy", "replication"], sort=False)[channels].sum().sum(axis=1)
    expected = totals.groupby(level="policy", sort=False).mean()
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    np.testing.assert_allclose([tops[i] for i in range(len(POLICIES))], expected[list(POLICIES)])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(POLICIES)
    check_readable(fig)


# --------------------------------------------------------------------------- lifecycle
def test_lifecycle_shows_every_policy_and_stacks_every_stage(
    timeseries: pd.DataFrame,
) -> None:
    fig = plots.plot_lifecycle(timeseries)
    assert [ax.get_title() for ax in fig.axes] == list(POLICIES)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == len(STAGES)
    for stage in STAGES:
        assert any(text.startswith(stage) for text in legend)
    # The figure says what it counts and why it starts with a fall.
    assert any("fall in the first months" in t.get_text() for t in fig.texts)
    # Each panel's stack adds up to the people in the firm's view, mean over replications.
    focal = timeseries[timeseries["focal"]]
    columns = [c for c in focal.columns if c.startswith("stage_")]
    first = focal[focal["policy"] == POLICIES[0]].groupby("period")[columns].mean().sum(axis=1)
    top = fig.axes[0].collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(first.max())
    check_readable(fig)


def test_lifecycle_for_a_named_policy(timeseries: pd.DataFrame) -> None:
    fig = plots.plot_lifecycle(timeseries, policy="balanced")
    assert [ax.get_title() for ax in fig.axes] == ["balanced"]
    check_readable(fig)
    with pytest.raises(ValueError, match="nope"):
        plots.plot_lifecycle(timeseries, policy="nope")


def test_over_time_with_a_single_period() -> None:
    table = make_timeseries(policies=("only",), replications=1, periods=1, seed=9)
    fig = plots.plot_customers(table)
    assert fig.axes[0].get_lines()[0].get_marker() == "o"
    check_readable(fig)


@pytest.mark.parametrize("periods", [1, 2, 3])
def test_lifecycle_with_one_replication_one_policy_few_periods(periods: int) -> None:
    table = make_timeseries(policies=("only",), replications=1, periods=periods, seed=9)
    fig = plots.plot_lifecycle(table)
    assert "only" in fig.axes[0].get_title()
    check_readable(fig)


# --------------------------------------------------------------------------- customers
def test_cohort_survival_two_panels_selection_vs_change() -> None:
    fig = plots.plot_cohort_survival(make_cohorts())
    axes = _plot_axes(fig)
    assert len(axes) == 2
    assert "selection" in fig._suptitle.get_text()
    line = next(line for line in axes[0].get_lines() if line.get_label() == POLICIES[0])
    # Every cohort follows (1 - 0.1)^age up to rounding: the pooled curve does too.
    np.testing.assert_allclose(line.get_ydata(), 0.9 ** np.asarray(line.get_xdata()), atol=0.01)
    check_readable(fig)


def test_cohort_survival_single_panel() -> None:
    fig = plots.plot_cohort_survival(make_cohorts(policies=("only",)), show_selection=False)
    assert len(_plot_axes(fig)) == 1
    check_readable(fig)


def test_lifetime_values_boxes_per_policy() -> None:
    values = make_lifetime_values()
    fig = plots.plot_lifetime_values(values)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "expected lifetime value (currency units)"
    labels = [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]
    assert labels == list(POLICIES)
    check_readable(fig)


def test_lifetime_values_one_replication_and_an_empty_policy() -> None:
    values = make_lifetime_values(policies=("a", "b"))
    values = values[values["replication"] == 0].copy()
    values.loc[values["policy"] == "b", "expected_clv"] = np.nan
    check_readable(plots.plot_lifetime_values(values))


# --------------------------------------------------------------------------- comparisons
def test_comparison_forest_plot() -> None:
    comparison = make_comparison()
    fig = plots.plot_comparison(comparison)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert [t.split("\n")[0] for t in ticks] == list(POLICIES[1:])
    assert all("better in 70% of 20" in t for t in ticks)
    assert POLICIES[0] in ax.get_xlabel()
    assert "currency units" in ax.get_xlabel()
    # The zero line is drawn.
    assert any(
        np.allclose(line.get_xdata(), 0.0)
        for line in ax.get_lines()
        if line.get_linestyle() == "--"
    )
    check_readable(fig)
    churn = plots.plot_comparison(comparison, outcome="mean_churn_rate")
    assert "lower is better" in churn.axes[0].get_xlabel()
    check_readable(churn)
    with pytest.raises(ValueError, match="no outcome"):
        plots.plot_comparison(comparison, outcome="nothing")


def test_sensitivity_sobol_and_morris_detected_by_columns() -> None:
    sobol = pd.DataFrame(
        {
            "factor": ["churn", "price", "budget"],
            "S1": [0.5, 0.2, 0.05],
            "S1_conf": [0.05, 0.04, 0.03],
            "ST": [0.6, 0.3, 0.1],
            "ST_conf": [0.06, 0.05, 0.02],
        }
    )
    fig = study_plots.plot_sensitivity_indices(sobol, output="NPV")
    ax = fig.axes[0]
    assert "Sobol" in ax.get_title()
    # Most important factor at the top.
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "churn"
    check_readable(fig)

    morris = pd.DataFrame(
        {
            "factor": ["a", "b"],
            "mu_star": [3.0, 1.0],
            "mu_star_conf": [0.5, 0.2],
            "sigma": [1.0, 0.3],
        }
    )
    fig = study_plots.plot_sensitivity_indices(morris, title="Morris screening")
    assert fig.axes[0].get_title() == "Morris screening"
    check_readable(fig)

    with pytest.raises(ValueError, match="Sobol"):
        study_plots.plot_sensitivity_indices(pd.DataFrame({"factor": ["a"], "x": [1.0]}))


def test_break_even_heat_map_draws_and_labels_the_zero_line() -> None:
    budgets = np.linspace(0.0, 1.0, 6)
    churns = np.linspace(0.01, 0.1, 5)
    grid = pd.DataFrame(
        [
            {"retention_share": b, "churn": c, "diff": 1000 * (b - 0.5) + 5000 * (c - 0.05)}
            for b in budgets
            for c in churns
        ]
    )
    fig = study_plots.plot_break_even(
        grid,
        "retention_share",
        "churn",
        "diff",
        title="Retention-focused minus acquisition-heavy NPV",
        positive_label="retention-focused wins",
    )
    ax = fig.axes[0]
    assert ax.get_title().startswith("Retention-focused")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("retention-focused wins above/right of this line" in t for t in legend)
    colorbar_axes = [a for a in fig.axes if hasattr(a, "_colorbar")]
    assert colorbar_axes
    # The colour scale is centred on 0.
    mesh = ax.collections[0]
    assert mesh.norm.vcenter == 0.0
    check_readable(fig)


def test_break_even_without_a_crossing_says_so() -> None:
    grid = pd.DataFrame({"x": [1, 2, 1, 2], "y": [1, 1, 2, 2], "v": [1.0, 2.0, 3.0, 4.0]})
    fig = study_plots.plot_break_even(grid, "x", "y", "v", title="Always positive")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("no break-even" in t and "everywhere" in t for t in legend)
    check_readable(fig)


def test_break_even_marks_uncertain_points_the_default_and_the_frontier_band() -> None:
    # Difference x - 2 with a half-width of 0.6: the interval includes 0 at x = 2 only, and
    # its ends cross 0 at x = 1.4 and 2.6 (dashed lines).
    grid = pd.DataFrame(
        [{"x": x, "y": y, "v": x - 2.0} for x in (1.0, 2.0, 3.0) for y in (0.01, 0.02, 0.03)]
    )
    grid["low"], grid["high"] = grid["v"] - 0.6, grid["v"] + 0.6
    fig = study_plots.plot_break_even(
        grid,
        "x",
        "y",
        "v",
        title="t",
        low="low",
        high="high",
        default=(2.0, 0.02),
        xlabel="advertising reach ceiling, share of prospects per month",
        ylabel="base churn, % per month",
        y_percent=True,
    )
    ax = fig.axes[0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("CI includes 0" in t for t in legend)
    assert "default market" in legend
    unsure = next(line for line in ax.get_lines() if line.get_marker() == "o")
    assert sorted(unsure.get_xdata()) == [2.0, 2.0, 2.0]
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (2.0, 0.02)
    assert len(ax.collections) >= 4  # mesh, break-even line, two interval ends
    assert ax.yaxis.get_major_formatter()(0.02, 0) == "2%"
    check_readable(fig)


def test_plots_do_not_write_files(tmp_path, monkeypatch, timeseries: pd.DataFrame) -> None:
    monkeypatch.chdir(tmp_path)
    for fig in (
        plots.plot_customers(timeseries),
        plots.plot_lifecycle(timeseries),
        plots.plot_cohort_survival(make_cohorts()),
    ):
        plt.close(fig)
    assert list(tmp_path.iterdir()) == []
