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

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

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


def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ``ValueError`` naming the columns ``table`` lacks (a figure's input check)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}")


def new_figure(figsize: tuple[float, float] = _FIGSIZE) -> Figure:
    """A figure with constrained layout, made without pyplot."""
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
    fig = new_figure()
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
    require_columns(timeseries, ["customers_start", *(c for c, _ in CHURN_CAUSES)], "timeseries")
    start = pd.to_numeric(timeseries["customers_start"], errors="coerce").astype(float)
    rates = timeseries.assign(
        **{
            f"{column}_rate": pd.to_numeric(timeseries[column], errors="coerce")
            / start.where(start > 0)
            for column, _ in CHURN_CAUSES
        }
    )
    fig = new_figure(_WIDE_FIGSIZE)
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
    require_columns(timeseries, ["policy", "replication", *columns], "timeseries")
    rows = select_firm(timeseries, firm)
    order = policy_order(rows)
    palette = _resolve_colors(order, colors)
    totals = rows.groupby([rows["policy"].astype(str), "replication"], sort=False)[columns].sum()
    periods = int(rows["period"].nunique()) if "period" in rows.columns else 0

    fig = new_figure()
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
    require_columns(timeseries, ["policy", "period", *columns], "timeseries")
    rows = select_firm(timeseries, firm)
    order = policy_order(rows)
    if policy is not None and str(policy) not in order:
        raise ValueError(f"policy {policy!r} is not in the timeseries table; it has {order}")
    chosen = order if policy is None else [str(policy)]
    fig = new_figure((1.0 + 4.2 * len(chosen) + 2.6, 5.4))
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
    fig = new_figure(_WIDE_FIGSIZE if selection else _FIGSIZE)
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
    require_columns(lifetime_values, ["policy", "expected_clv"], "lifetime_values")
    order = policy_order(lifetime_values)
    palette = _resolve_colors(order, colors)
    values = pd.to_numeric(lifetime_values["expected_clv"], errors="coerce")
    policy = lifetime_values["policy"].astype(str)
    data = []
    for p in order:
        v = values[policy == p].to_numpy(float)
        data.append(v[np.isfinite(v)])

    fig = new_figure()
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
    require_columns(
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

    fig = new_figure((8.0, max(3.2, 1.8 + 0.7 * len(order))))
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
