"""Figures of an optimisation (tables in, figures out).

The allocations, the search's convergence, the candidates' intervals, the objective map, the
best split by market and the Pareto front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from simulation.runs.plots import (
    CURRENCY_LABEL,
    new_figure,
    require_columns,
)

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
    require_columns(profiles, ["budget"], "profiles")
    levers = [lever for lever in LEVER_COLORS if f"share.{lever}" in profiles.columns]
    fig = new_figure((9.0, max(3.0, 1.4 + 0.6 * len(profiles))))
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
    require_columns(trials, ["trial", "objective0"], "trials")
    rows = trials.sort_values("trial")
    fig = new_figure()
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
    require_columns(scores, ["arm", "kind", "value", "ci_low", "ci_high"], "scores")
    fig = new_figure((8.0, max(3.0, 1.5 + 0.5 * len(scores))))
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
    require_columns(trials, ["retention_share", "budget", "objective0"], "trials")
    rows = trials.dropna(subset=["objective0"])
    x = rows["retention_share"].to_numpy(float)
    b = rows["budget"].to_numpy(float)
    z = rows["objective0"].to_numpy(float)
    fig = new_figure()
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
    require_columns(table, [*factors, "retention_share", "shortfall"], "best by market")
    panels = max(1, len(factors))
    fig = new_figure((min(max(6.5, 4.2 * panels), 13.0), 4.4))
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
    require_columns(trials, ["objective0", "objective1", "pareto"], "trials")
    fig = new_figure()
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
