"""Figures of a calibration: tables in, :class:`matplotlib.figure.Figure` out.

Every function is pure: it reads the tables of :mod:`~simulation.calibration.holdout` (and
the customer summary, for spend) and returns a new figure; saving it is the caller's
business (``fig.savefig(path)``). Figures are built with :class:`~matplotlib.figure.Figure`
directly rather than through ``pyplot``, so they work on any backend and are not kept alive
by pyplot's registry. The figures are the usual ones of the customer-base literature [1]:
the tracking plot, conditional expectations by calibration-period frequency, the
distribution of P(alive) and the spend fit [2].

References:
    1. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    2. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulation.calibration.gamma_gamma import log_likelihood as spend_log_density
from simulation.calibration.models import FittedModel

ACTUAL = "#222222"
MODEL = "#0072b2"
SIMULATED = "#d55e00"
MUTED = "#9ecae1"
CURRENCY_LABEL = "currency units"


def _plural(unit: str) -> str:
    return f"{unit}s"


def _calibration_end(ax: Axes, tracking: pd.DataFrame) -> None:
    calibration = tracking[tracking["phase"] == "calibration"]
    if calibration.empty or len(calibration) == len(tracking):
        return
    end = float(calibration["time"].iloc[-1])
    ax.axvline(end, color="#777777", linestyle=":", linewidth=1.2)
    ax.annotate(
        "end of calibration",
        xy=(end, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, -4),
        textcoords="offset points",
        va="top",
        fontsize=8,
        color="#555555",
    )


def _band(ax: Axes, tracking: pd.DataFrame, prefix: str) -> None:
    """Draw a simulated mean and 95% band if the table has ``{prefix}mean/low/high``."""
    mean, low, high = (f"{prefix}{s}" for s in ("mean", "low", "high"))
    if mean not in tracking:
        return
    if low in tracking and high in tracking:
        ax.fill_between(
            tracking["time"],
            tracking[low],
            tracking[high],
            color=SIMULATED,
            alpha=0.18,
            linewidth=0,
            label="simulated, 95% band",
        )
    ax.plot(
        tracking["time"], tracking[mean], color=SIMULATED, linewidth=1.2, label="simulated mean"
    )


def tracking_figure(
    tracking: pd.DataFrame, unit: str = "week", model_label: str = "model"
) -> Figure:
    """Repeat transactions per period and cumulated, actual against the model.

    Draws the calibration and holdout periods with a dotted line at the calibration end.
    If the table has the columns ``simulated_mean``, ``simulated_low`` and
    ``simulated_high`` (and ``simulated_cumulative_mean``, ``_low``, ``_high``), a simulated
    mean and 95% band are drawn too.

    Args:
        tracking: a table from :func:`~simulation.calibration.holdout.tracking_table`.
        unit: the time unit (``week`` or ``month``), for the labels.
        model_label: the model's name for the legend (e.g. ``BG/NBD``).

    Returns:
        A figure with two panels: per period (top) and cumulative (bottom).
    """
    fig = Figure(figsize=(8.0, 7.0), layout="constrained")
    per_period, cumulative = fig.subplots(2, 1, sharex=True)
    time = tracking["time"]
    per_period.plot(time, tracking["actual"], color=ACTUAL, linewidth=1.4, label="actual")
    per_period.plot(
        time, tracking["expected"], color=MODEL, linestyle="--", linewidth=1.6, label=model_label
    )
    _band(per_period, tracking, "simulated_")
    per_period.set_ylabel(f"repeat transactions per {unit}")
    per_period.set_title(f"Repeat transactions per {unit}: actual and {model_label}")
    cumulative.plot(
        time, tracking["actual_cumulative"], color=ACTUAL, linewidth=1.4, label="actual"
    )
    cumulative.plot(
        time,
        tracking["expected_cumulative"],
        color=MODEL,
        linestyle="--",
        linewidth=1.6,
        label=model_label,
    )
    _band(cumulative, tracking, "simulated_cumulative_")
    cumulative.set_ylabel("cumulative repeat transactions")
    cumulative.set_xlabel(f"time since the first date of the log ({_plural(unit)})")
    cumulative.set_title("Cumulative repeat transactions")
    for ax in (per_period, cumulative):
        _calibration_end(ax, tracking)
        ax.set_ylim(bottom=0)
        ax.set_xlim(0, float(time.iloc[-1]))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is cumulative else "upper right", frameon=False)
        ax.ticklabel_format(axis="y", style="plain")
    return fig


def conditional_expectations_figure(
    table: pd.DataFrame,
    holdout_length: float,
    unit: str = "week",
    model_label: str = "model",
) -> Figure:
    """Mean holdout transactions by calibration-period frequency, actual against the model.

    Args:
        table: a table from :func:`~simulation.calibration.holdout.conditional_expectations`.
        holdout_length: the length of the holdout period, in units (for the label).
        unit: the time unit.
        model_label: the model's name for the legend.

    Returns:
        The figure.
    """
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    position = np.arange(len(table))
    ax.plot(position, table["actual"], color=ACTUAL, marker="o", linewidth=1.4, label="actual")
    ax.plot(
        position,
        table["expected"],
        color=MODEL,
        marker="s",
        linestyle="--",
        linewidth=1.6,
        label=f"{model_label} (conditional expectation)",
    )
    for x, (y, n) in enumerate(zip(table["actual"], table["customers"], strict=True)):
        if n and np.isfinite(y):
            ax.annotate(
                f"n={n:,}",
                (x, y),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="#555555",
            )
    ax.set_xticks(position, table["frequency"])
    ax.set_xlabel("repeat transactions in the calibration period")
    length = f"{holdout_length:.3g} {_plural(unit)}"
    ax.set_ylabel(f"mean repeat transactions per customer\nin the holdout ({length})")
    ax.set_title("Conditional expectations by calibration-period frequency")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", frameon=False)
    return fig


def alive_figure(alive: pd.DataFrame, model_label: str = "model") -> Figure:
    """The distribution of P(alive) at the calibration end over the calibration cohort.

    Customers without a repeat purchase and repeat buyers are stacked in different colours:
    under the BG/NBD model the former are alive by assumption.

    Args:
        alive: a table from :func:`~simulation.calibration.holdout.alive_probabilities`.
        model_label: the model's name for the title.

    Returns:
        The figure.
    """
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(0.0, 1.0, 21)
    repeat = alive["x"].to_numpy() > 0
    p = alive["p_alive"].to_numpy()
    ax.hist(
        [p[~repeat], p[repeat]],
        bins=bins,
        stacked=True,
        color=[MUTED, MODEL],
        label=["no repeat purchase", "one or more repeat purchases"],
        edgecolor="white",
        linewidth=0.5,
    )
    ax.axvline(
        float(np.mean(p)),
        color=ACTUAL,
        linestyle=":",
        linewidth=1.2,
        label=f"mean {np.mean(p):.2f}",
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of being alive at the end of calibration")
    ax.set_ylabel("customers")
    ax.set_title(f"P(alive) under the {model_label} model ({len(p):,} customers)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="best", frameon=True, framealpha=0.9, edgecolor="none")
    return fig


def spend_figure(customers: pd.DataFrame, fitted: FittedModel, bins: int = 40) -> Figure:
    """Observed mean spend per repeat transaction against the Gamma-Gamma implied density.

    The implied density is the mixture, over the customers shown, of the model's density of
    a mean of ``x`` transactions given each customer's own ``x``; both are drawn up to the
    99th percentile of the observed means.

    Args:
        customers: the summary's ``customers`` table (columns ``x`` and ``mean_spend``).
        fitted: the fitted Gamma-Gamma model.
        bins: the number of histogram bins.

    Returns:
        The figure.
    """
    used = customers[(customers["x"] > 0) & (customers["mean_spend"] > 0)]
    spend = used["mean_spend"].to_numpy(dtype=float)
    top = float(np.quantile(spend, 0.99)) if len(spend) else 1.0
    grid = np.linspace(top / 400, top, 400)
    counts, weights = np.unique(used["x"].to_numpy(), return_counts=True)
    density = (
        weights[:, None] * np.exp(spend_log_density(fitted.values, counts[:, None], grid[None, :]))
    ).sum(axis=0) / max(weights.sum(), 1)
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    shown = spend[spend <= top]
    # Scaled so that the bars' area is the share of customers shown, like the model curve's.
    ax.hist(
        shown,
        bins=bins,
        range=(0, top),
        weights=np.full(len(shown), bins / (top * max(len(spend), 1))),
        color=MUTED,
        edgecolor="white",
        linewidth=0.5,
        label=f"observed ({len(spend):,} customers with repeat purchases)",
    )
    estimates = ", ".join(f"{k} = {v:.3g}" for k, v in fitted.parameters.items())
    ax.plot(grid, density, color=MODEL, linewidth=1.8, label=f"{fitted.label} ({estimates})")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"mean spend per repeat transaction ({CURRENCY_LABEL})")
    ax.set_ylabel(f"density (share of customers per {CURRENCY_LABEL[:-1]})")
    ax.set_title(f"Mean spend per repeat transaction: observed and {fitted.label}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", frameon=False)
    return fig
