"""Figures of the answer: who leads on NPV, by how much, and where the difference comes from.

Pure functions like those of :mod:`simulation.runs.plots`: tables in, a new
:class:`~matplotlib.figure.Figure` out, saved by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulation.runs.decomposition import summarise_decomposition
from simulation.runs.formatting import format_number
from simulation.runs.plots import CURRENCY_LABEL, money_axis, policy_colors
from simulation.runs.stats import VERDICTS, against_leader, policy_order

_GAIN, _LOSS, _TOTAL = "#0072b2", "#d55e00", "#4d4d4d"


def plot_npv_sources(
    decomposition: pd.DataFrame, *, colors: Mapping[str, str] | None = None
) -> Figure:
    """Waterfall of each policy's NPV difference from the baseline, by source.

    One panel per policy: each bar starts where the previous one ended, gains in blue and
    losses in orange, and the last bar is the total with its 95% interval.

    Args:
        decomposition: a table from :func:`simulation.runs.decomposition.decompose_npv`.
        colors: policy colours, used for the panel titles.

    Returns:
        The figure.
    """
    parts = summarise_decomposition(decomposition)
    policies = policy_order(parts)
    if not policies:
        raise ValueError("the decomposition table is empty: there is no policy to compare")
    baseline = str(parts["baseline"].iloc[0])
    palette = policy_colors([baseline, *policies])
    palette.update(colors or {})
    rows = parts.groupby("policy", sort=False).size().max()
    fig = Figure(figsize=(6.0 * len(policies), 1.6 + 0.45 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(policies), sharex=True))
    extents = []
    for ax, policy in zip(axes, policies, strict=True):
        extents.append(_waterfall(ax, parts.loc[parts["policy"] == policy]))
        ax.set_title(f"{policy} − {baseline}", color=palette[policy], fontweight="bold")
        money_axis(ax.xaxis)
        ax.set_xlabel(f"NPV difference ({CURRENCY_LABEL}, discounted)")
        ax.grid(axis="x", alpha=0.3)
    low, high = min(e[0] for e in extents), max(e[1] for e in extents)
    span = max(high - low, 1.0)
    # Room on the right for the value labels, which sit right of each bar.
    axes[0].set_xlim(low - 0.05 * span, high + 0.3 * span)
    fig.suptitle(f"Where each policy's NPV difference from {baseline} comes from")
    fig.legend(
        handles=[
            Patch(color=_GAIN, label="adds to the difference"),
            Patch(color=_LOSS, label="takes from it"),
            Patch(color=_TOTAL, label="total, with its 95% CI"),
        ],
        loc="outside lower center",
        ncols=3,
        frameon=False,
    )
    return fig


def _waterfall(ax, parts: pd.DataFrame) -> tuple[float, float]:
    """Horizontal waterfall: sources from the top, the total at the bottom; returns its extent."""
    sources = parts.loc[parts["source"] != "total"]
    total = parts.loc[parts["source"] == "total"].iloc[0]
    y = np.arange(len(sources) + 1)[::-1]
    start, reached = 0.0, [0.0]
    for yi, row in zip(y[:-1], sources.itertuples(index=False), strict=True):
        value = float(row.mean)
        ax.barh(yi, value, left=start, color=_GAIN if value >= 0 else _LOSS, height=0.6)
        ax.plot([start + value] * 2, [yi - 0.3, yi - 0.7], color="#999999", lw=0.8)
        _label(ax, max(start, start + value), yi, value)
        start += value
        reached.append(start)
    low, high = float(total["ci_low"]), float(total["ci_high"])
    mean = float(total["mean"])
    ax.barh(y[-1], mean, color=_TOTAL, height=0.6)
    if high > low:
        ax.errorbar(mean, y[-1], xerr=[[mean - low], [high - mean]], color="black", capsize=4)
    _label(ax, max(0.0, mean, high), y[-1], mean)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, [*sources["label"], "NPV difference"])
    return min(*reached, low), max(*reached, high)


def _label(ax, x: float, y: float, value: float) -> None:
    """The value just right of the bar's right end."""
    ax.annotate(
        format_number(value, "money", signed=True),
        (x, y),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=8,
    )


def plot_against_leader(
    summary: pd.DataFrame,
    margin_share: float,
    *,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """How much more the leading policy earns than each other one, against the margin.

    Each row is the leader's paired NPV difference from a policy with its 95% interval; the
    shaded band is the margin of practical equivalence: an interval inside it is a tie, one
    beyond it a clear win, one across its edge not yet distinguishable.

    Args:
        summary: a ``summary.csv`` table with at least two policies.
        margin_share: the practical-equivalence margin, as a share of the other policy's NPV.
        colors: policy colours (see :func:`simulation.runs.plots.policy_colors`).

    Returns:
        The figure.
    """
    verdicts = against_leader(summary, margin_share)
    if verdicts.empty:
        raise ValueError("a comparison needs at least two policies")
    best = str(verdicts["leader"].iloc[0])
    palette = policy_colors(policy_order(summary))
    palette.update(colors or {})
    fig = Figure(figsize=(8.0, 1.9 + 0.8 * len(verdicts)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(verdicts))[::-1]
    ticks = []
    for yi, row in zip(y, verdicts.itertuples(index=False), strict=True):
        ax.fill_betweenx([yi - 0.35, yi + 0.35], -row.margin, row.margin, color="#dddddd", lw=0)
        diff, low, high = float(row.difference), float(row.ci_low), float(row.ci_high)
        xerr = [[diff - low], [high - diff]] if int(row.n) >= 2 else None
        color = palette[str(row.policy)]
        ax.errorbar([diff], [yi], xerr=xerr, fmt="o", ms=8, color=color, capsize=5, lw=2)
        ticks.append(f"vs {row.policy}\n{best}: {VERDICTS[str(row.verdict)]}")
    ax.axvline(0.0, color="black", ls="--", lw=1)
    ax.set_yticks(y, ticks)
    ax.set_ylim(-0.7, len(verdicts) - 0.3)
    money_axis(ax.xaxis)
    ax.set_xlabel(f"NPV of {best} minus NPV of the policy ({CURRENCY_LABEL}, discounted)")
    ax.set_title(f"How much more {best} (highest mean NPV) earns than each policy")
    ax.grid(axis="x", alpha=0.3)
    n = int(verdicts["n"].max())
    interval = f"mean and 95% CI over {n} paired replications" if n >= 2 else "1 replication"
    fig.legend(
        handles=[
            Line2D([], [], marker="o", color="#666666", label=interval),
            Patch(
                color="#dddddd",
                label=f"practical equivalence (± {margin_share * 100:g}% of NPV)",
            ),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    return fig
