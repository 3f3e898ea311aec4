"""Figures of a sweep: sensitivity indices and the break-even map (tables in, figures out)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import CenteredNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullLocator

from simulation.runs.formatting import format_number
from simulation.runs.plots import (
    money_axis,
    new_figure,
    require_columns,
)


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
    require_columns(indices, ["factor"], "indices")
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
    fig = new_figure((8.0, max(3.0, 1.4 + 0.45 * len(factors))))
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
    require_columns(grid, [x, y, value, *(c for c in (low, high) if c)], "grid")
    z, xs, ys, xticks, yticks = _grid_surface(grid, x, y, value)
    positive = positive_label or f"{value} > 0"

    fig = new_figure((8.5, 6.4))
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
