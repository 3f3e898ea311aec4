"""Figures of the results tables: tables in, :class:`matplotlib.figure.Figure` out.

Every function is pure: it reads tables with the columns of ``docs/outputs.md`` and returns a
new figure; saving it is the caller's business (``fig.savefig(path)``). Figures are built with
:class:`~matplotlib.figure.Figure` directly rather than through ``pyplot``, so they work on any
backend (headless included), are not kept alive by pyplot's registry, and can be handed to a
notebook or a dashboard as they are.

A policy has the same colour in every figure: :func:`policy_colors` assigns colours from a
fixed palette by position in the policy order, and the first policy (the baseline) is always
grey. Pass ``colors=`` to any function to impose a mapping computed once for a whole report.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.colors import CenteredNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator, PercentFormatter

from simulation.runs.formatting import format_number
from simulation.runs.stats import (
    LOWER_IS_BETTER,
    cohort_survival_curve,
    mean_ci,
    policy_order,
    select_firm,
    summarise_over_time,
)

PALETTE: tuple[str, ...] = (
    "#4d4d4d",  # baseline: neutral grey, so that alternatives stand out against it
    "#0072b2",  # blue
    "#d55e00",  # vermillion
    "#009e73",  # bluish green
    "#cc79a7",  # reddish purple
    "#e69f00",  # orange
    "#56b4e9",  # sky blue
    "#8c6d31",  # brown
)
"""Policy colours by position (Okabe-Ito, distinguishable with colour-vision deficiency)."""

PERIOD_LABEL = "period (month)"
CURRENCY_LABEL = "currency units"

STAGES: tuple[tuple[str, str, str], ...] = (
    ("stage_discovery", "discovery (not yet reached)", "#d9d9d9"),
    ("stage_evaluation", "evaluation (reached, not bought)", "#c6dbef"),
    ("stage_purchase", "purchase", "#9ecae1"),
    ("stage_experience", "experience", "#6baed6"),
    ("stage_bonding", "bonding", "#3182bd"),
    ("stage_advocacy", "advocacy", "#08519c"),
    ("stage_lapsed", "lapsed (left the market)", "#e6550d"),
)
"""Lifecycle columns, their legend labels and colours (the journey runs light to dark)."""

CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("acquired_advertising", "advertising", "#0072b2"),
    ("acquired_referral", "referral", "#009e73"),
    ("acquired_win_back", "win-back", "#e69f00"),
    ("acquired_from_rival", "from a rival", "#cc79a7"),
)
"""Acquisition columns, their legend labels and colours."""

CHURN_CAUSES: tuple[tuple[str, str], ...] = (
    ("churned_to_rival", "lost to a rival"),
    ("churned_out_of_market", "left the market"),
)

_BAND_ALPHA = 0.2
_FIGSIZE = (8.0, 4.8)
_WIDE_FIGSIZE = (11.0, 4.8)


# --------------------------------------------------------------------------- colours
def policy_colors(policies: Sequence[str]) -> dict[str, str]:
    """Stable colours for policies: by position in the given order, baseline first.

    Args:
        policies: policy names, the baseline first. Repeated names keep their first position.
            Beyond the palette's length colours repeat.

    Returns:
        A mapping from policy name to a hex colour.
    """
    unique = list(dict.fromkeys(str(p) for p in policies))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(unique)}


def _resolve_colors(policies: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    resolved = policy_colors(policies)
    if colors:
        resolved.update({str(k): v for k, v in colors.items()})
    return resolved


def _require(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}")


def _new_figure(figsize: tuple[float, float] = _FIGSIZE) -> Figure:
    return Figure(figsize=figsize, layout="constrained")


def _firm_phrase(firm: str | None) -> str:
    return "focal firm" if firm is None else f"firm {firm}"


def money_axis(axis: Axis) -> None:
    """Whole numbers with thousands separators on an axis (1,200,000, not 1.2 and "1e6").

    At most six ticks: labels with separators are wide, and more would run into each other.
    """
    axis.set_major_locator(MaxNLocator(6))
    axis.set_major_formatter(FuncFormatter(lambda value, _: format_number(value, "count")))


# --------------------------------------------------------------------------- over time
def _draw_over_time(
    ax: Axes,
    summary: pd.DataFrame,
    colors: Mapping[str, str],
) -> int:
    """Draw one line per policy with its band; return the most replications behind a point."""
    most = 0
    for policy in policy_order(summary):
        rows = summary.loc[summary["policy"] == policy]
        color = colors[policy]
        # A single period would draw a line of zero length: mark the point instead.
        marker = "o" if len(rows) == 1 else None
        ax.plot(rows["period"], rows["mean"], color=color, lw=2, marker=marker, label=policy)
        if (rows["high"] > rows["low"]).any():
            ax.fill_between(
                rows["period"],
                rows["low"],
                rows["high"],
                color=color,
                alpha=_BAND_ALPHA,
                lw=0,
            )
        most = max(most, int(rows["n"].max()) if len(rows) else 0)
    # Periods are whole numbers: no ticks at 2.5 months on short horizons.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return most


def _band_handle(replications: int) -> Patch:
    if replications >= 2:
        label = f"95% CI of the mean over {replications} replications"
    else:
        label = "1 replication: no confidence band"
    return Patch(facecolor="#999999", alpha=_BAND_ALPHA if replications >= 2 else 0.0, label=label)


def plot_over_time(
    timeseries: pd.DataFrame,
    column: str,
    *,
    ylabel: str,
    title: str,
    firm: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Plot a timeseries column: mean over replications per policy, with a 95% band.

    Args:
        timeseries: a ``timeseries.csv`` table.
        column: the column to plot.
        ylabel: y-axis label, with its unit (e.g. ``"customers"``).
        title: figure title.
        firm: firm name; by default the focal firm (rows with ``focal == True``).
        colors: policy colours to use instead of :func:`policy_colors` of the table's order.

    Returns:
        The figure.
    """
    summary = summarise_over_time(timeseries, column, firm=firm)
    palette = _resolve_colors(policy_order(summary), colors)
    fig = _new_figure()
    ax = fig.add_subplot()
    replications = _draw_over_time(ax, summary, palette)
    ax.set_title(title)
    ax.set_xlabel(PERIOD_LABEL)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, _band_handle(replications)], title="policy", loc="best")
    return fig


def plot_customers(
    timeseries: pd.DataFrame,
    *,
    firm: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Customers at the end of each period, per policy.

    Args:
        timeseries: a ``timeseries.csv`` table.
        firm: firm name; by default the focal firm.
        colors: policy colours (see :func:`plot_over_time`).

    Returns:
        The figure.
    """
    fig = plot_over_time(
        timeseries,
        "customers",
        ylabel="customers",
        title=f"Customers of the {_firm_phrase(firm)}",
        firm=firm,
        colors=colors,
    )
    money_axis(fig.axes[0].yaxis)
    return fig


def plot_cumulative_profit(
    timeseries: pd.DataFrame,
    *,
    firm: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Cumulative discounted profit per policy: its last point is the NPV.

    Args:
        timeseries: a ``timeseries.csv`` table.
        firm: firm name; by default the focal firm.
        colors: policy colours (see :func:`plot_over_time`).

    Returns:
        The figure.
    """
    fig = plot_over_time(
        timeseries,
        "cumulative_discounted_profit",
        ylabel=f"cumulative discounted profit ({CURRENCY_LABEL})",
        title=f"Cumulative discounted profit of the {_firm_phrase(firm)} (ends at the NPV)",
        firm=firm,
        colors=colors,
    )
    # Where the curve crosses zero is the payback period: mark zero so it can be read off.
    fig.axes[0].axhline(0.0, color="black", lw=0.8)
    money_axis(fig.axes[0].yaxis)
    return fig


def plot_churn_by_cause(
    timeseries: pd.DataFrame,
    *,
    firm: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Churn rates per period by cause (to a rival, out of the market), per policy.

    A rate is the customers lost to that cause in a period over the customers at its start,
    so that policies with more customers are not made to look worse by losing more of them.

    Args:
        timeseries: a ``timeseries.csv`` table.
        firm: firm name; by default the focal firm.
        colors: policy colours (see :func:`plot_over_time`).

    Returns:
        A figure with one panel per cause, sharing the y axis, the legend below them.
    """
    _require(timeseries, ["customers_start", *(c for c, _ in CHURN_CAUSES)], "timeseries")
    start = pd.to_numeric(timeseries["customers_start"], errors="coerce").astype(float)
    rates = timeseries.assign(
        **{
            f"{column}_rate": pd.to_numeric(timeseries[column], errors="coerce")
            / start.where(start > 0)
            for column, _ in CHURN_CAUSES
        }
    )
    fig = _new_figure(_WIDE_FIGSIZE)
    axes = fig.subplots(1, len(CHURN_CAUSES), sharey=True)
    replications = 0
    for ax, (column, label) in zip(axes, CHURN_CAUSES, strict=True):
        summary = summarise_over_time(rates, f"{column}_rate", firm=firm)
        palette = _resolve_colors(policy_order(summary), colors)
        replications = max(replications, _draw_over_time(ax, summary, palette))
        ax.set_title(label)
        ax.set_xlabel(PERIOD_LABEL)
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
    axes[0].set_ylim(bottom=0.0)
    axes[0].set_ylabel("share of the period's starting customers lost")
    handles, _ = axes[0].get_legend_handles_labels()
    fig.legend(
        handles=[*handles, _band_handle(replications)],
        title="policy",
        loc="outside lower center",
        ncols=len(handles) + 1,
        frameon=False,
    )
    fig.suptitle(f"Churn rate per period by cause ({_firm_phrase(firm)})")
    return fig


def plot_acquisition_channels(
    timeseries: pd.DataFrame,
    *,
    firm: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """New customers over the horizon by channel: one stacked bar per policy.

    Bars are means over replications of the totals over the horizon; the error bar is the 95%
    confidence interval of the total of all channels.

    Args:
        timeseries: a ``timeseries.csv`` table.
        firm: firm name; by default the focal firm.
        colors: policy colours, used for the policy names on the x axis.

    Returns:
        The figure.
    """
    columns = [c for c, _, _ in CHANNELS]
    _require(timeseries, ["policy", "replication", *columns], "timeseries")
    rows = select_firm(timeseries, firm)
    order = policy_order(rows)
    palette = _resolve_colors(order, colors)
    totals = rows.groupby([rows["policy"].astype(str), "replication"], sort=False)[columns].sum()
    periods = int(rows["period"].nunique()) if "period" in rows.columns else 0

    fig = _new_figure()
    ax = fig.add_subplot()
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    for column, label, color in CHANNELS:
        heights = np.array([totals.loc[p, column].mean() for p in order], dtype=float)
        ax.bar(x, heights, bottom=bottom, color=color, label=label, width=0.6)
        bottom += heights
    low_high = [mean_ci(totals.loc[p].sum(axis=1)) for p in order]
    if any(high > low for _, low, high in low_high):
        means = np.array([m for m, _, _ in low_high])
        errors = np.array([[m - lo for m, lo, _ in low_high], [hi - m for m, _, hi in low_high]])
        ax.errorbar(
            x, means, yerr=errors, fmt="none", ecolor="black", capsize=4, label="95% CI of total"
        )
    ax.set_xticks(x, order)
    for tick, policy in zip(ax.get_xticklabels(), order, strict=True):
        tick.set_color(palette[policy])
        tick.set_fontweight("bold")
    ax.set_xlabel("policy")
    ax.set_ylabel("customers acquired (mean per replication)")
    horizon = f" over {periods} periods" if periods else ""
    ax.set_title(f"New customers of the {_firm_phrase(firm)} by channel{horizon}")
    ax.grid(axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    # Stacked bars read bottom-up; list the legend top-down to match.
    ax.legend(
        handles[::-1], labels[::-1], title="channel", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return fig


LIFECYCLE_NOTE = (
    "Each panel counts the people in the firm's view: every prospect not yet reached by any "
    "firm (discovery, the same on every panel), the prospects weighing this firm's offer, its "
    "customers by stage and those who left it for good. The fall in the first months is the "
    "unreached pool emptying as firms reach it: prospects won or weighed by a rival leave "
    "this firm's view."
)
"""What the lifecycle figure counts, and why it starts with a fall."""


def plot_lifecycle(
    timeseries: pd.DataFrame,
    policy: str | None = None,
    *,
    firm: str | None = None,
) -> Figure:
    """Lifecycle mix over time: one stacked area of the ``stage_*`` columns per policy.

    Args:
        timeseries: a ``timeseries.csv`` table (one or more replications).
        policy: show this policy alone; by default every policy, side by side.
        firm: firm name; by default the focal firm.

    Returns:
        The figure: mean over replications of the people in each stage, panels sharing
        their axes. With a single period the mix is drawn as one stacked bar.
    """
    columns = [c for c, _, _ in STAGES]
    _require(timeseries, ["policy", "period", *columns], "timeseries")
    rows = select_firm(timeseries, firm)
    order = policy_order(rows)
    if policy is not None and str(policy) not in order:
        raise ValueError(f"policy {policy!r} is not in the timeseries table; it has {order}")
    chosen = order if policy is None else [str(policy)]
    fig = _new_figure((1.0 + 4.2 * len(chosen) + 2.6, 5.4))
    axes = np.atleast_1d(fig.subplots(1, len(chosen), sharey=True, squeeze=False)[0])
    for ax, name in zip(axes, chosen, strict=True):
        _draw_lifecycle(ax, rows.loc[rows["policy"].astype(str) == name][["period", *columns]])
        ax.set_title(name)
        ax.set_xlabel(PERIOD_LABEL)
    axes[0].set_ylabel("people (prospects and customers)")
    money_axis(axes[0].yaxis)
    replications = int(rows["replication"].nunique()) if "replication" in rows.columns else 1
    mean_note = f", mean of {replications} replications" if replications > 1 else ""
    fig.suptitle(f"Lifecycle mix ({_firm_phrase(firm)}{mean_note})")
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], legend_labels[::-1], title="stage", loc="outside right upper")
    fig.text(0.0, 0.0, LIFECYCLE_NOTE, wrap=True, fontsize=8, va="top", ha="left")
    return fig


def _draw_lifecycle(ax: Axes, rows: pd.DataFrame) -> None:
    """One policy's stacked mix of stages, mean over replications."""
    mix = rows.groupby("period").mean().sort_index()
    periods = mix.index.to_numpy()
    if len(periods) == 1:
        bottom = 0.0
        for column, label, color in STAGES:
            height = float(mix[column].iloc[0])
            ax.bar(periods, [height], bottom=bottom, color=color, label=label, width=0.6)
            bottom += height
        ax.set_xticks(periods)
        ax.set_xlim(periods[0] - 1.0, periods[0] + 1.0)
        return
    ax.stackplot(
        periods,
        *[mix[c].to_numpy(float) for c, _, _ in STAGES],
        labels=[label for _, label, _ in STAGES],
        colors=[color for _, _, color in STAGES],
    )
    ax.set_xlim(periods.min(), periods.max())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# --------------------------------------------------------------------------- customers
def plot_cohort_survival(
    cohorts: pd.DataFrame,
    *,
    show_selection: bool = True,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Cohort survival by age per policy, pooled over cohorts (weighted by cohort size).

    Args:
        cohorts: a ``cohorts.csv`` table.
        show_selection: add a second panel with the mean base churn rate of the survivors.
            It falls with age when customers differ, by selection alone: if survival flattens
            while this falls, the cohort is being sorted, not changed.
        colors: policy colours (see :func:`plot_over_time`).

    Returns:
        The figure.
    """
    curve = cohort_survival_curve(cohorts)
    order = policy_order(curve)
    palette = _resolve_colors(order, colors)
    selection = show_selection and bool(curve["mean_base_churn_rate"].notna().any())
    fig = _new_figure(_WIDE_FIGSIZE if selection else _FIGSIZE)
    axes = fig.subplots(1, 2 if selection else 1, squeeze=False)[0]
    for policy in order:
        rows = curve.loc[curve["policy"] == policy]
        marker = "o" if len(rows) <= 24 else None
        axes[0].plot(
            rows["age"], rows["survival"], color=palette[policy], lw=2, marker=marker, label=policy
        )
        if selection:
            axes[1].plot(
                rows["age"],
                rows["mean_base_churn_rate"],
                color=palette[policy],
                lw=2,
                marker=marker,
                label=policy,
            )
    axes[0].set_title("share of each cohort still a customer")
    axes[0].set_xlabel("age (periods since acquisition)")
    axes[0].set_ylabel("survival (share of cohort)")
    axes[0].yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes[0].set_ylim(bottom=0.0)
    axes[0].legend(title="policy", loc="best")
    if selection:
        axes[1].set_title("selection: base churn rate of the survivors")
        axes[1].set_xlabel("age (periods since acquisition)")
        axes[1].set_ylabel("mean base churn rate (per period)")
        axes[1].yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        axes[1].legend(title="policy", loc="best")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Cohort survival, pooled over cohorts (focal firm)"
        + (": selection vs change" if selection else "")
    )
    return fig


def plot_lifetime_values(
    lifetime_values: pd.DataFrame,
    *,
    colors: Mapping[str, str] | None = None,
    summary: pd.DataFrame | None = None,
) -> Figure:
    """Distribution of the expected lifetime value of the final customers, per policy.

    Boxes span the quartiles, whiskers the 5th to 95th percentiles; the diamond is the mean.
    Each policy's label states how many customers the boxes rest on, from how many
    replications, and (given ``summary``) out of how many final customers they were sampled.

    Args:
        lifetime_values: a ``lifetime_values.csv`` table.
        colors: policy colours (see :func:`plot_over_time`).
        summary: the ``summary.csv`` table, for the number of final customers sampled from.

    Returns:
        The figure.
    """
    _require(lifetime_values, ["policy", "expected_clv"], "lifetime_values")
    order = policy_order(lifetime_values)
    palette = _resolve_colors(order, colors)
    values = pd.to_numeric(lifetime_values["expected_clv"], errors="coerce")
    policy = lifetime_values["policy"].astype(str)
    data = []
    for p in order:
        v = values[policy == p].to_numpy(float)
        data.append(v[np.isfinite(v)])

    fig = _new_figure()
    ax = fig.add_subplot()
    positions = np.arange(1, len(order) + 1)
    drawn = [i for i, d in enumerate(data) if d.size]
    if drawn:
        boxes = ax.boxplot(
            [data[i] for i in drawn],
            positions=positions[drawn],
            whis=(5, 95),
            showfliers=False,
            showmeans=True,
            patch_artist=True,
            widths=0.6,
            meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black"},
            medianprops={"color": "black"},
        )
        for patch, i in zip(boxes["boxes"], drawn, strict=True):
            patch.set_facecolor(palette[order[i]])
            patch.set_alpha(0.7)
    runs = (
        int(lifetime_values["replication"].nunique())
        if "replication" in lifetime_values.columns
        else 1
    )
    ax.set_xticks(positions, [f"{p}\nn = {d.size:,}" for p, d in zip(order, data, strict=True)])
    ax.set_xlim(0.4, len(order) + 0.6)
    ax.set_xlabel(_sample_note(sum(d.size for d in data), runs, summary))
    ax.set_ylabel(f"expected lifetime value ({CURRENCY_LABEL})")
    ax.set_title("Expected lifetime value of the final customers (focal firm)")
    money_axis(ax.yaxis)
    ax.grid(axis="y", alpha=0.3)
    handles: list[object] = [
        Patch(facecolor=palette[p], alpha=0.7, label=p) for i, p in enumerate(order) if i in drawn
    ]
    handles.append(
        Line2D([], [], marker="D", ls="", mfc="white", mec="black", label="mean"),
    )
    handles.append(Patch(facecolor="none", edgecolor="black", label="box: quartiles; 5-95%"))
    ax.legend(handles=handles, title="policy", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _sample_note(size: int, runs: int, summary: pd.DataFrame | None) -> str:
    """What the boxes rest on: n customers per policy, pooled over runs, sampled or not."""
    note = f"n: customers per policy, pooled over {runs} run{'s' if runs != 1 else ''}"
    if summary is not None and "final_customers" in summary.columns:
        total = pd.to_numeric(summary["final_customers"], errors="coerce").sum()
        if total > size:
            note += f" (a random sample of the {format_number(total, 'count')} final customers)"
        elif total == size:
            note += " (every final customer)"
    return note


# --------------------------------------------------------------------------- comparisons
_COUNT_OUTCOMES = {"final_customers", "acquired_total", "referrals", "churned_total"}
_SHARE_OUTCOMES = {
    "final_market_share",
    "mean_retention_rate",
    "mean_churn_rate",
    "mean_satisfaction",
}


def _outcome_unit(outcome: str) -> str:
    if outcome in _COUNT_OUTCOMES:
        return "customers"
    if outcome in _SHARE_OUTCOMES:
        return "share, 0-1"
    return CURRENCY_LABEL


def plot_comparison(
    comparison: pd.DataFrame,
    outcome: str = "npv",
    *,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Forest plot: each policy's paired difference from the baseline, with its 95% CI.

    Args:
        comparison: a ``comparison.csv`` table.
        outcome: which outcome to show.
        colors: policy colours; by default :func:`policy_colors` of the baseline followed by
            the policies, so that colours match the other figures.

    Returns:
        The figure.
    """
    _require(
        comparison,
        ["policy", "baseline", "outcome", "difference", "ci_low", "ci_high"],
        "comparison",
    )
    rows = comparison.loc[comparison["outcome"].astype(str) == outcome]
    if rows.empty:
        available = sorted(set(comparison["outcome"].astype(str)))
        raise ValueError(f"comparison table has no outcome {outcome!r}; it has {available}")
    baseline = str(rows["baseline"].iloc[0])
    order = policy_order(rows)
    palette = _resolve_colors([baseline, *order], colors)

    fig = _new_figure((8.0, max(3.2, 1.8 + 0.7 * len(order))))
    ax = fig.add_subplot()
    # First policy at the top, as it reads in the tables.
    y = np.arange(len(order))[::-1]
    ticks: list[str] = []
    for yi, policy in zip(y, order, strict=True):
        row = rows.loc[rows["policy"].astype(str) == policy].iloc[0]
        diff, low, high = float(row["difference"]), float(row["ci_low"]), float(row["ci_high"])
        xerr = None
        if np.isfinite(low) and np.isfinite(high):
            xerr = [[max(diff - low, 0.0)], [max(high - diff, 0.0)]]
        ax.errorbar([diff], [yi], xerr=xerr, fmt="o", ms=8, color=palette[policy], capsize=5, lw=2)
        tick = policy
        if "share_better" in row.index and np.isfinite(row["share_better"]):
            n = f" of {int(row['n'])}" if "n" in row.index else ""
            tick += f"\nbetter in {row['share_better']:.0%}{n}"
        ticks.append(tick)
    ax.axvline(0.0, color="black", ls="--", lw=1)
    ax.set_yticks(y, ticks)
    ax.set_ylim(-0.7, len(order) - 0.3)
    unit = _outcome_unit(outcome)
    direction = " (lower is better)" if outcome in LOWER_IS_BETTER else ""
    name = "NPV" if outcome == "npv" else outcome.replace("_", " ")
    ax.set_xlabel(f"difference in {name}: policy − {baseline} ({unit}){direction}")
    ax.set_ylabel("policy")
    ax.set_title(f"{name}: each policy against {baseline}, paired over replications")
    if unit == CURRENCY_LABEL:
        money_axis(ax.xaxis)
    ax.grid(axis="x", alpha=0.3)
    # A figure legend below the plot keeps clear of the intervals however wide they are.
    fig.legend(
        handles=[
            Line2D([], [], marker="o", color="#666666", label="mean difference, 95% CI"),
            Line2D([], [], color="black", ls="--", label=f"no difference from {baseline}"),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    return fig


def plot_sensitivity_indices(
    indices: pd.DataFrame,
    *,
    title: str | None = None,
    output: str = "the output",
) -> Figure:
    """Bar chart of global sensitivity indices with confidence intervals.

    The kind is detected from the columns: Sobol (``factor``, ``S1``, ``S1_conf``, ``ST``,
    ``ST_conf``) or Morris (``factor``, ``mu_star``, ``mu_star_conf``, ``sigma``). Factors are
    sorted by importance (``ST`` or ``mu_star``), the most important at the top.

    Args:
        indices: one row per factor.
        title: figure title; a default names the method and the output.
        output: name of the analysed output, for the default title.

    Returns:
        The figure.

    Raises:
        ValueError: if the columns are neither Sobol's nor Morris's.
    """
    _require(indices, ["factor"], "indices")
    if {"S1", "ST"} <= set(indices.columns):
        bars = [("S1", "S1_conf", "first order S1 (alone)"), ("ST", "ST_conf", "total ST")]
        key, method = "ST", "Sobol"
        xlabel = "sensitivity index (share of output variance)"
    elif "mu_star" in indices.columns:
        bars = [
            ("mu_star", "mu_star_conf", "mu* (mean |elementary effect|)"),
            ("sigma", "", "sigma (interactions, non-linearity)"),
        ]
        bars = [b for b in bars if b[0] in indices.columns]
        key, method = "mu_star", "Morris"
        xlabel = "effect on the output (output units)"
    else:
        raise ValueError(
            "indices table has neither Sobol columns (S1, ST) nor Morris columns (mu_star); "
            f"it has {list(indices.columns)}"
        )
    table = indices.sort_values(key, ascending=True, kind="stable")
    factors = table["factor"].astype(str).tolist()
    fig = _new_figure((8.0, max(3.0, 1.4 + 0.45 * len(factors))))
    ax = fig.add_subplot()
    y = np.arange(len(factors))
    height = 0.8 / len(bars)
    bar_colors = ("#0072b2", "#d55e00")
    for i, (column, conf, label) in enumerate(bars):
        offset = (i - (len(bars) - 1) / 2) * height
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        err = None
        if conf and conf in table.columns:
            err = np.abs(pd.to_numeric(table[conf], errors="coerce").to_numpy(float))
            err = np.nan_to_num(err)
        ax.barh(
            y + offset,
            values,
            height=height,
            xerr=err,
            color=bar_colors[i % 2],
            label=label,
            capsize=3,
        )
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, factors)
    ax.set_xlabel(xlabel + "; whiskers: confidence interval (*_conf)")
    ax.set_ylabel("factor")
    ax.set_title(title or f"{method} sensitivity of {output}")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def _axis_values(values: pd.Index) -> tuple[np.ndarray, list[str] | None]:
    """Numeric positions of grid values, and tick labels when the values are not numbers."""
    numeric = pd.to_numeric(pd.Series(values), errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(float), None
    return np.arange(len(values), dtype=float), [str(v) for v in values]


def _is_geometric(values: np.ndarray) -> bool:
    """True for positive levels spaced evenly on a log scale (and spanning a factor of 5)."""
    if len(values) < 3 or (values <= 0).any():
        return False
    ratios = values[1:] / values[:-1]
    return bool(np.allclose(ratios, ratios[0], rtol=1e-3) and values[-1] / values[0] > 5)


def _cell_edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Edges of the cells centred on sorted grid levels (midpoints, in log space if ``log``)."""
    points = np.log(values) if log else values
    if len(points) == 1:
        edges = np.array([points[0] - 0.5, points[0] + 0.5])
    else:
        middle = (points[1:] + points[:-1]) / 2
        edges = np.concatenate(
            [
                [points[0] - (middle[0] - points[0])],
                middle,
                [points[-1] + (points[-1] - middle[-1])],
            ]
        )
    return np.exp(edges) if log else edges


def _winning_side(z: np.ndarray) -> str:
    """Where the positive values lie on the grid: 'above', 'right', 'above/right', etc."""
    filled = np.where(np.isfinite(z), z, np.nanmean(z))
    rows, cols = filled.shape
    dy = filled[rows // 2 + rows % 2 :, :].mean() - filled[: rows // 2, :].mean() if rows > 1 else 0
    dx = filled[:, cols // 2 + cols % 2 :].mean() - filled[:, : cols // 2].mean() if cols > 1 else 0
    strongest = max(abs(dx), abs(dy))
    parts = []
    # Name a direction only when it carries a fair part of the change across the grid.
    if strongest > 0 and abs(dy) >= 0.25 * strongest:
        parts.append("above" if dy > 0 else "below")
    if strongest > 0 and abs(dx) >= 0.25 * strongest:
        parts.append("right" if dx > 0 else "left")
    return "/".join(parts) if parts else "on one side"


def plot_break_even(
    grid: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    *,
    title: str,
    positive_label: str | None = None,
    value_label: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    low: str | None = None,
    high: str | None = None,
    default: tuple[float, float] | None = None,
    x_percent: bool = False,
    y_percent: bool = False,
) -> Figure:
    """Heat map of a policy difference over two factors, with the break-even line drawn.

    Colours diverge from 0 (blue positive, red negative); the zero contour is the
    break-even line and its legend entry says on which side the difference is positive.
    Given the interval columns, the dashed lines are where each end of the 95% interval
    crosses 0 (the frontier's uncertainty: between them the sign is not established) and the
    points whose interval includes 0 are marked.

    Args:
        grid: a long table with one row per grid point (repeated points are averaged).
        x: column of the factor on the x axis.
        y: column of the factor on the y axis.
        value: column of the difference (e.g. retention-focused minus acquisition-heavy NPV).
        title: figure title.
        positive_label: what a positive value means, e.g. ``"retention-focused wins"``;
            by default ``"<value> > 0"``.
        value_label: colour-bar label; by default ``value``.
        xlabel: x-axis label, in words with its unit; by default ``x``.
        ylabel: y-axis label, in words with its unit; by default ``y``.
        low: column of the lower end of the difference's 95% interval.
        high: column of the upper end.
        default: the (x, y) of the default market, marked with a star.
        x_percent: show the x values as percentages (shares and rates).
        y_percent: show the y values as percentages.

    Returns:
        The figure.
    """
    _require(grid, [x, y, value, *(c for c in (low, high) if c)], "grid")
    z, xs, ys, xticks, yticks = _grid_surface(grid, x, y, value)
    positive = positive_label or f"{value} > 0"

    fig = _new_figure((8.5, 6.4))
    ax = fig.add_subplot()
    finite = z[np.isfinite(z)]
    # CenteredNorm puts 0 at the middle of the colormap even when one sign dominates.
    norm = CenteredNorm(vcenter=0.0, halfrange=float(np.abs(finite).max()) if finite.size else 1.0)
    # Levels spaced on a log scale get a log axis, so that every cell has the same size.
    log_x = xticks is None and _is_geometric(xs)
    log_y = yticks is None and _is_geometric(ys)
    mesh = ax.pcolormesh(
        _cell_edges(xs, log_x),
        _cell_edges(ys, log_y),
        np.ma.masked_invalid(z),
        cmap="RdBu",
        norm=norm,
        shading="flat",
    )
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(value_label or value)
    money_axis(cbar.ax.yaxis)
    handles = _zero_line(ax, z, xs, ys, positive, finite)
    if low and high:
        handles += _uncertainty(ax, grid, x, y, low, high, xs, ys)
    if default is not None:
        ax.plot(*default, marker="*", ms=16, color="gold", mec="black", ls="")
        handles.append(
            Line2D(
                [], [], marker="*", ms=12, color="gold", mec="black", ls="", label="default market"
            )
        )
    for axis, ticks, values, percent, log in (
        (ax.xaxis, xticks, xs, x_percent, log_x),
        (ax.yaxis, yticks, ys, y_percent, log_y),
    ):
        if ticks is not None:
            axis.set_ticks(values, ticks)
        elif log:
            # Ticks at the grid levels: a log axis otherwise shows few, unlabelled ticks.
            axis.set_ticks(values)
            axis.set_minor_locator(NullLocator())
        if ticks is None:
            axis.set_major_formatter(_level_formatter(percent))
    ax.set_xlabel(textwrap.fill(xlabel or x, 70))
    ax.set_ylabel(textwrap.fill(ylabel or y, 50))
    ax.set_title(title)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig


def _grid_surface(grid: pd.DataFrame, x: str, y: str, value: str) -> tuple:
    """The value as a matrix over the two factors, with positions and (text) tick labels."""
    table = (
        pd.DataFrame({"x": grid[x], "y": grid[y], "v": pd.to_numeric(grid[value], errors="coerce")})
        .pivot_table(index="y", columns="x", values="v", aggfunc="mean", dropna=False)
        .sort_index()
        .sort_index(axis=1)
    )
    xs, xticks = _axis_values(table.columns)
    ys, yticks = _axis_values(table.index)
    return table.to_numpy(float), xs, ys, xticks, yticks


def _zero_line(ax: Axes, z, xs, ys, positive: str, finite) -> list:
    crosses = finite.size and finite.min() < 0.0 < finite.max()
    if crosses and z.shape[0] >= 2 and z.shape[1] >= 2:
        contour = ax.contour(
            xs, ys, np.ma.masked_invalid(z), levels=[0.0], colors="black", linewidths=2.0
        )
        ax.clabel(contour, fmt={0.0: "break-even"}, inline=True, fontsize=9)
        label = f"break-even (mean 0): {positive} {_winning_side(z)} of this line"
        return [Line2D([], [], color="black", lw=2, label=label)]
    if finite.size:
        where = "everywhere" if finite.min() > 0 else "nowhere"
        label = f"no break-even in this range: {positive} {where}"
        return [Line2D([], [], color="none", label=label)]
    return []


def _uncertainty(ax: Axes, grid, x, y, low, high, xs, ys) -> list:
    """Dashed lines where each end of the interval crosses 0; dots where it includes 0."""
    handles = []
    for column in (low, high):
        z = _grid_surface(grid, x, y, column)[0]
        finite = z[np.isfinite(z)]
        if finite.size and finite.min() < 0.0 < finite.max() and min(z.shape) >= 2:
            ax.contour(
                xs,
                ys,
                np.ma.masked_invalid(z),
                levels=[0.0],
                colors="black",
                linewidths=1.0,
                linestyles="--",
            )
    handles.append(
        Line2D(
            [],
            [],
            color="black",
            lw=1,
            ls="--",
            label="where an end of the 95% CI crosses 0 (the frontier's uncertainty)",
        )
    )
    lows = _grid_surface(grid, x, y, low)[0]
    highs = _grid_surface(grid, x, y, high)[0]
    unsure = np.isfinite(lows) & np.isfinite(highs) & (lows <= 0.0) & (highs >= 0.0)
    if unsure.any():
        yy, xx = np.nonzero(unsure)
        ax.plot(xs[xx], ys[yy], "o", ms=4, mfc="none", mec="black", ls="")
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ms=5,
                mfc="none",
                mec="black",
                ls="",
                label="95% CI includes 0 (sign not established)",
            )
        )
    return handles


def _level_formatter(percent: bool) -> FuncFormatter:
    """Grid levels with thousands separators, or as percentages."""
    if percent:
        return FuncFormatter(lambda v, _: f"{v * 100:.3g}%")
    return FuncFormatter(lambda v, _: format_number(v))


LEVER_COLORS: dict[str, str] = {
    "advertising": "#0072b2",
    "referral_programme": "#56b4e9",
    "win_back": "#009e73",
    "thank_you": "#e69f00",
    "complaint_handling": "#d55e00",
    "loyalty": "#cc79a7",
    "personalisation": "#8c6d31",
    "cross_sell": "#999999",
}
"""Lever colours: acquisition levers in blues and green, retention levers in warm colours."""


def plot_allocations(profiles: pd.DataFrame, *, highlight: str | None = None) -> Figure:
    """Stacked bars: each policy's spend per lever per period (budget x share).

    Args:
        profiles: one row per policy, indexed by name, with ``budget`` and ``share.<lever>``.
        highlight: the row to mark as the recommendation.
    """
    _require(profiles, ["budget"], "profiles")
    levers = [lever for lever in LEVER_COLORS if f"share.{lever}" in profiles.columns]
    fig = _new_figure((9.0, max(3.0, 1.4 + 0.6 * len(profiles))))
    ax = fig.add_subplot()
    names = [str(n) for n in profiles.index][::-1]
    left = np.zeros(len(names))
    for lever in levers:
        spend = np.array(
            [profiles.loc[n, "budget"] * profiles.loc[n, f"share.{lever}"] for n in names], float
        )
        if not np.any(spend > 0):
            continue
        ax.barh(names, spend, left=left, color=LEVER_COLORS[lever], label=lever.replace("_", " "))
        left += spend
    ax.set_yticks(range(len(names)), names)
    for tick, name in zip(ax.get_yticklabels(), names, strict=True):
        tick.set_fontweight("bold" if name == highlight else "normal")
    for i, n in enumerate(names):
        share = profiles.loc[n, "retention_share"] if "retention_share" in profiles else np.nan
        if np.isfinite(share):
            ax.text(left[i], i, f"  {share:.0%} on retention", va="center", fontsize=9)
    ax.set_xlim(0, left.max() * 1.3 if left.max() > 0 else 1)
    ax.set_xlabel(f"spend per period by lever ({CURRENCY_LABEL})")
    ax.set_title("The recommended allocation next to the scenario's policies")
    fig.legend(loc="outside lower center", ncols=4, frameon=False, fontsize=9)
    return fig


def plot_convergence(trials: pd.DataFrame, *, label: str, minimise: bool = False) -> Figure:
    """The search's progress: each trial's objective and the best so far.

    Args:
        trials: ``trial``, ``objective0`` (and ``feasible`` if constrained).
        label: what the objective is.
        minimise: whether smaller is better.
    """
    _require(trials, ["trial", "objective0"], "trials")
    rows = trials.sort_values("trial")
    fig = _new_figure()
    ax = fig.add_subplot()
    feasible = rows["feasible"].astype(bool) if "feasible" in rows else pd.Series(True, rows.index)
    x, y = rows["trial"].to_numpy(), rows["objective0"].to_numpy(float)
    ax.scatter(x[feasible], y[feasible], s=18, color="#0072b2", label="a candidate")
    if (~feasible).any():
        ax.scatter(
            x[~feasible],
            y[~feasible],
            s=18,
            marker="x",
            color="#999999",
            label="breaks a constraint",
        )
    kept = np.where(feasible, y, np.inf if minimise else -np.inf)
    best = np.minimum.accumulate(kept) if minimise else np.maximum.accumulate(kept)
    ax.step(
        x,
        np.where(np.isfinite(best), best, np.nan),
        where="post",
        color="#d55e00",
        label="best so far",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.set_title("Convergence of the search (search seeds)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def plot_candidate_intervals(scores: pd.DataFrame, *, label: str) -> Figure:
    """Forest plot: the best candidates and the scenario's policies on the fresh seeds.

    Args:
        scores: ``arm``, ``kind`` (``candidate`` or ``policy``), ``value`` (the paired
            difference from a baseline), ``ci_low``, ``ci_high``, in the order to show.
        label: what the objective is.
    """
    _require(scores, ["arm", "kind", "value", "ci_low", "ci_high"], "scores")
    fig = _new_figure((8.0, max(3.0, 1.5 + 0.5 * len(scores))))
    ax = fig.add_subplot()
    y = np.arange(len(scores))[::-1]
    for yi, (_, row) in zip(y, scores.iterrows(), strict=True):
        color = "#d55e00" if row["kind"] == "candidate" else "#4d4d4d"
        value, low, high = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
        xerr = None
        if np.isfinite(low) and np.isfinite(high):
            xerr = [[max(value - low, 0.0)], [max(high - value, 0.0)]]
        ax.errorbar([value], [yi], xerr=xerr, fmt="o", ms=7, color=color, capsize=4, lw=2)
    ax.set_yticks(y, [str(a) for a in scores["arm"]])
    ax.axvline(0.0, color="black", ls="--", lw=1)
    ax.set_xlabel(f"{label}, mean and 95% CI of the paired difference over fresh replications")
    ax.set_title("Best candidates and the scenario's policies, re-run on fresh seeds")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(
        handles=[
            Line2D([], [], marker="o", color="#d55e00", label="candidate of the search"),
            Line2D([], [], marker="o", color="#4d4d4d", label="policy of the scenario"),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    return fig


def plot_objective_map(
    trials: pd.DataFrame, *, label: str, best: Mapping[str, float] | None = None
) -> Figure:
    """The objective over the retention share and the budget, from every trial.

    With a budget that varies, a filled contour of the triangulated trials under the trials
    themselves; with one budget, the objective against the retention share.

    Args:
        trials: ``retention_share``, ``budget``, ``objective0``.
        label: what the objective is.
        best: ``retention_share`` and ``budget`` of the recommendation, marked with a star.
    """
    _require(trials, ["retention_share", "budget", "objective0"], "trials")
    rows = trials.dropna(subset=["objective0"])
    x = rows["retention_share"].to_numpy(float)
    b = rows["budget"].to_numpy(float)
    z = rows["objective0"].to_numpy(float)
    fig = _new_figure()
    ax = fig.add_subplot()
    if np.ptp(b) > 1e-9 * max(1.0, abs(b).max()) and len(rows) >= 6:
        import matplotlib.tri as mtri

        try:
            triangles = mtri.Triangulation(x, b)
            filled = ax.tricontourf(triangles, z, levels=12, cmap="viridis", alpha=0.85)
        except (ValueError, RuntimeError):  # collinear trials: no triangulation
            filled = None
        points = ax.scatter(x, b, c=z, cmap="viridis", edgecolors="white", s=28)
        fig.colorbar(filled or points, ax=ax, label=label)
        ax.set_ylabel(f"budget per period ({CURRENCY_LABEL})")
        if best is not None:
            ax.scatter(
                [best["retention_share"]],
                [best["budget"]],
                marker="*",
                s=260,
                color="#d55e00",
                edgecolors="black",
                label="recommended",
                zorder=5,
            )
            ax.legend(frameon=False, loc="upper left")
    else:
        order = np.argsort(x)
        ax.plot(x[order], z[order], "o", color="#0072b2", ms=5, label="a candidate")
        ax.set_ylabel(label)
        if best is not None:
            ax.axvline(best["retention_share"], color="#d55e00", ls="--", label="recommended")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    ax.set_xlim(min(-0.03, float(x.min()) - 0.03), max(1.03, float(x.max()) + 0.03))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of the budget on retention levers (acquisition: the rest)")
    ax.set_title("The objective over the split and the budget (search seeds)")
    return fig


def plot_best_by_market(
    table: pd.DataFrame, factors: Sequence[str], *, recommended: float
) -> Figure:
    """Where the best split moves across the sampled markets.

    Args:
        table: one row per market: the factor columns, ``retention_share`` of the market's
            best candidate, and ``shortfall`` of the recommendation there.
        factors: the market factors (one panel each).
        recommended: the recommendation's retention share (a dashed line).
    """
    _require(table, [*factors, "retention_share", "shortfall"], "best by market")
    panels = max(1, len(factors))
    fig = _new_figure((min(max(6.5, 4.2 * panels), 13.0), 4.4))
    axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
    shortfall = table["shortfall"].to_numpy(float)
    norm_top = max(float(np.nanmax(shortfall)) if len(shortfall) else 0.0, 1e-12)
    points = None
    for ax, factor in zip(axes, factors or ["market"], strict=False):
        xs = table[factor].to_numpy() if factor in table else np.arange(len(table))
        points = ax.scatter(
            xs,
            table["retention_share"],
            c=shortfall,
            cmap="Reds",
            vmin=0,
            vmax=norm_top,
            edgecolors="black",
            s=40,
        )
        ax.axhline(recommended, color="#0072b2", ls="--", lw=1.5)
        ax.set_xlabel(factor)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-0.02, 1.02)  # the whole range: a narrow band of dots is a robust split
    axes[0].set_ylabel("retention share of the best candidate there")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    if points is not None:
        fig.colorbar(points, ax=list(axes), label="what the recommendation gives up there")
    fig.suptitle("How the best split moves across the sampled markets (dashed: recommended)")
    return fig


def plot_pareto_front(
    trials: pd.DataFrame, *, labels: Sequence[str], minimise: Sequence[bool]
) -> Figure:
    """Two objectives of every trial, the Pareto front joined up.

    Args:
        trials: ``objective0``, ``objective1``, ``pareto``.
        labels: the two objectives' names.
        minimise: whether each is better smaller.
    """
    _require(trials, ["objective0", "objective1", "pareto"], "trials")
    fig = _new_figure()
    ax = fig.add_subplot()
    front = trials[trials["pareto"].astype(bool)].sort_values("objective0")
    rest = trials[~trials["pareto"].astype(bool)]
    ax.scatter(rest["objective0"], rest["objective1"], s=16, color="#999999", label="dominated")
    ax.plot(front["objective0"], front["objective1"], "o-", color="#d55e00", label="Pareto front")
    better = [("lower" if m else "higher") + " is better" for m in minimise]
    ax.set_xlabel(f"{labels[0]} ({better[0]})")
    ax.set_ylabel(f"{labels[1]} ({better[1]})")
    ax.set_title("Trading one objective for the other (search seeds)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig
