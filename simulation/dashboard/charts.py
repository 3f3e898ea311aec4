"""The dashboard's charts: figure functions and the one component that shows a chart.

The figure functions are pure: a run's table (the rows of ``timeseries.csv``, with its
``policy`` column), the previous run and the firms' colours in, a
:class:`~matplotlib.figure.Figure` out. They use :mod:`simulation.runs.plots` where it has a
figure for the view; the views that only make sense for a live, single run (customers of
every firm, this period's inflows and outflows, the referral network) are drawn here.

:func:`make_chart` turns a view's name into a Solara component that shows the model's picture
of that view for the current period (the pictures are drawn once per period, see
:meth:`simulation.dashboard.market.DashboardMarket.views`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
import reacton.ipywidgets as rw
import solara
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from simulation.market.population import ORIGIN, Population
from simulation.runs import plots
from simulation.scenario.schema import STAGES

if TYPE_CHECKING:
    from simulation.dashboard.market import DashboardMarket

NETWORK_NODES = 250
"""Customers drawn in the referral-network picture (networkx lays out only this subgraph)."""

SMOOTHING = 6
"""Periods in the moving averages the charts use to compare noisy per-period counts."""

PREVIOUS_COLOR = "#b0b0b0"
"""The previous run, drawn behind the current one in every chart."""

RIVAL_COLORS = ("#9c755f", "#b07aa1", "#bab0ac", "#edc948", "#76b7b2", "#ff9da7")
"""Rival firms: muted tones outside the policy palette, so the focal firm stands out."""

NO_FIRM_COLOR = "#eeeeee"

CHURN_COLORS = {"churned_to_rival": "#b2182b", "churned_out_of_market": "#e6550d"}
"""Outflows: lost to a rival (dark red) and out of the market (the lifecycle's lapsed colour)."""

SMALL = (4.6, 2.7)
"""Size of a dashboard figure in inches: two fit side by side on a projector."""

WIDE = (5.6, 2.7)
"""Size of a figure with its legend outside the axes."""

DPI = 120
"""Pixels per inch: with the small sizes above, text is about 15 pixels high before the page
scales the picture to its card (a projector's back row needs it)."""


# --------------------------------------------------------------------------- runs and colours
@dataclass(eq=False)
class Run:
    """What the charts show of one run: its table and how it was set up."""

    table: pd.DataFrame
    label: str
    settings: str


def both_runs(current: Run, previous: Run | None) -> tuple[pd.DataFrame, dict[str, str], str]:
    """One table with both runs as two 'policies', their colours, and the current label."""
    tables = [current.table.assign(policy=current.label)]
    colors = {}
    if previous is not None:
        tables.insert(0, previous.table.assign(policy=previous.label))
        colors[previous.label] = PREVIOUS_COLOR
    return pd.concat(tables, ignore_index=True), colors, current.label


def firm_colors(policies: list[str], policy: str, firms: list[str]) -> dict[str, str]:
    """Each firm's colour, in the firms' order: the focal firm (first) in its policy's colour.

    Args:
        policies: the scenario's policies, in order (they fix the policy colours).
        policy: the focal firm's policy.
        firms: the firms' names, the focal firm first.
    """
    colors = {firms[0]: plots.policy_colors(policies)[policy]}
    for i, name in enumerate(firms[1:]):
        colors[name] = RIVAL_COLORS[i % len(RIVAL_COLORS)]
    return colors


def _policy(table: pd.DataFrame) -> str:
    return str(table["policy"].iat[0])


def _focal_color(colors: Mapping[str, str]) -> str:
    return next(iter(colors.values()))


def _this_run(table: pd.DataFrame) -> Run:
    return Run(table, f"{_policy(table)} (this run)", "")


# --------------------------------------------------------------------------- layout
def _waiting(title: str) -> Figure:
    fig = Figure(figsize=SMALL, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "Press Step or ▶ to start the market", ha="center", va="center")
    return fig


def _fixed_margins(fig: Figure, **margins: float) -> Figure:
    """Replace the layout engine with fixed margins.

    Constrained layout measures every label on each draw; with a figure per view redrawn
    every period, fixed margins take about a third off the time to render a period.
    """
    box = {"left": 0.17, "right": 0.97, "bottom": 0.17, "top": 0.89, **margins}
    if fig.get_layout_engine() is None:
        fig.subplots_adjust(**box)
        return fig
    # A figure built with a layout engine refuses subplots_adjust even once the engine is
    # removed: place its (single) axes directly.
    fig.set_layout_engine("none")
    for ax in fig.axes:
        ax.set_position(
            [box["left"], box["bottom"], box["right"] - box["left"], box["top"] - box["bottom"]]
        )
    return fig


def _whole_periods(fig: Figure) -> Figure:
    """Label periods with whole numbers (early in a run matplotlib would pick halves)."""
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _thousands(fig: Figure) -> Figure:
    """Write the y axis's numbers with thousands separators (12,000 rather than 12000)."""
    for ax in fig.axes:
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    return fig


def _shrink(fig: Figure) -> Figure:
    """Fit a report-sized figure into a dashboard card and tidy its legend."""
    fig.set_size_inches(*SMALL)
    _fixed_margins(fig)
    _whole_periods(fig)
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        if ax.get_legend() is not None and handles:
            # The band entry says '1 replication': true, but noise in a live view of one run.
            ax.legend(handles, labels, loc="best", fontsize="small")
        ax.title.set_fontsize("medium")
    return fig


# --------------------------------------------------------------------------- figures
def over_time_figure(
    table: pd.DataFrame,
    column: str,
    ylabel: str,
    title: str,
    previous: Run | None,
    colors: Mapping[str, str],
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """A focal-firm column over time, this run against the previous one.

    Args:
        table: this run's rows of ``timeseries.csv``.
        column: the column to draw.
        ylabel: the y axis label.
        title: the figure's title.
        previous: the previous run, drawn in grey.
        colors: firm to colour, the focal firm first (see :func:`firm_colors`).
        ylim: the y axis's full scale (None: fit the data, with separators for thousands).
    """
    if table.empty:
        return _waiting(title)
    both, run_colors, label = both_runs(_this_run(table), previous)
    run_colors[label] = _focal_color(colors)
    fig = _shrink(plots.plot_over_time(both, column, ylabel=ylabel, title=title, colors=run_colors))
    _fixed_margins(fig, left=0.2 if ylim is None else 0.17)
    if ylim is None:
        return _thousands(fig)
    fig.axes[0].set_ylim(*ylim)
    return fig


def cumulative_profit_figure(
    table: pd.DataFrame, previous: Run | None, colors: Mapping[str, str]
) -> Figure:
    """Cumulative discounted profit of the focal firm (its last point is the NPV so far)."""
    if table.empty:
        return _waiting("Cumulative discounted profit")
    both, run_colors, label = both_runs(_this_run(table), previous)
    run_colors[label] = _focal_color(colors)
    fig = _shrink(plots.plot_cumulative_profit(both, colors=run_colors))
    ax = fig.axes[0]
    ax.set_title("Cumulative discounted profit (NPV so far)")
    ax.set_ylabel(plots.CURRENCY_LABEL)
    return _thousands(_fixed_margins(fig, left=0.2))


def lifecycle_figure(table: pd.DataFrame) -> Figure:
    """Where the people of the market are in the relationship lifecycle."""
    if table.empty:
        return _waiting("Lifecycle mix")
    policy = _policy(table)
    fig = plots.plot_lifecycle(table, policy)
    fig.set_size_inches(*WIDE)
    # The stage names are long: leave the legend two fifths of the width.
    _fixed_margins(fig, left=0.16, right=0.66)
    _whole_periods(fig)
    _thousands(fig)
    ax = fig.axes[0]
    ax.set_title(f"Lifecycle mix of the market ({policy})")
    ax.set_ylabel("people")
    ax.title.set_fontsize("medium")
    # The report's figure carries a title and a note under the panels; the chart's title says it.
    fig.suptitle("")
    for text in list(fig.texts):
        text.remove()
    # The report's legend sits outside a constrained layout; here it goes beside the axes.
    handles, labels = ax.get_legend_handles_labels()
    for legend in list(fig.legends):
        legend.remove()
    ax.legend(
        handles[::-1],
        [label.split(" (")[0] for label in labels[::-1]],  # the stage's name, no gloss
        title="stage",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
        title_fontsize="small",
    )
    return fig


def customers_figure(
    table: pd.DataFrame, previous: Run | None, colors: Mapping[str, str]
) -> Figure:
    """Customers of every firm; the previous run's focal firm in grey."""
    if table.empty:
        return _waiting("Customers per firm")
    fig = _fixed_margins(Figure(figsize=SMALL))
    ax = fig.add_subplot()
    if previous is not None:
        old = previous.table[previous.table["focal"]]
        ax.plot(old["period"], old["customers"], color=PREVIOUS_COLOR, lw=2.5, label=previous.label)
    focal_firm, policy = next(iter(colors)), _policy(table)
    for name, color in colors.items():
        rows = table[table["firm"] == name]
        focal = name == focal_firm
        ax.plot(
            rows["period"],
            rows["customers"],
            color=color,
            lw=2.5 if focal else 1.5,
            ls="-" if focal else "--",
            label=f"{name} ({policy})" if focal else name,
        )
    ax.set_xlabel(plots.PERIOD_LABEL)
    ax.set_ylabel("customers")
    ax.set_ylim(bottom=0)
    ax.set_title("Customers per firm", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _thousands(_whole_periods(fig))


def flows_figure(table: pd.DataFrame, previous: Run | None) -> Figure:
    """The leaky bucket, period by period: customers in (by channel) and out (by cause)."""
    if table.empty:
        return _waiting("Customers won and lost")
    focal = table[table["focal"]]
    fig = _fixed_margins(Figure(figsize=WIDE), left=0.15, right=0.64)
    ax = fig.add_subplot()
    periods = focal["period"].to_numpy()
    # Stacked step areas rather than bars: one shape per series keeps a long run fast to draw.
    bottom = np.zeros(len(focal))
    for column, label, color in plots.CHANNELS:
        top = bottom + focal[column].to_numpy(float)
        ax.fill_between(periods, bottom, top, step="mid", color=color, lw=0, label=f"won: {label}")
        bottom = top
    bottom = np.zeros(len(focal))
    for column, label in plots.CHURN_CAUSES:
        top = bottom - focal[column].to_numpy(float)
        ax.fill_between(
            periods, bottom, top, step="mid", color=CHURN_COLORS[column], lw=0, label=label
        )
        bottom = top
    window = f"{SMOOTHING}-month mean"
    if previous is not None:
        old = previous.table[previous.table["focal"]]
        for column, sign in (("acquired", 1), ("churned", -1)):
            smooth = sign * old[column].rolling(SMOOTHING, min_periods=1).mean()
            ax.plot(old["period"], smooth, color="#555555", ls="--", lw=1.5)
        ax.plot([], [], color="#555555", ls="--", label="previous run's mean")
    for column, sign in (("acquired", 1), ("churned", -1)):
        smooth = sign * focal[column].rolling(SMOOTHING, min_periods=1).mean()
        ax.plot(periods, smooth, color="black", lw=1.5)
    ax.plot([], [], color="black", label=window)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel(plots.PERIOD_LABEL)
    ax.set_ylabel("customers a month\n(won > 0, lost < 0)")
    ax.set_title("Leaky bucket: customers won and lost", fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _whole_periods(fig)


# --------------------------------------------------------------------------- the network
@dataclass
class NetworkLayout:
    """A fixed picture of part of the referral network: who, where, and which ties."""

    nodes: np.ndarray
    positions: np.ndarray
    segments: np.ndarray


def network_layout(network: csr_matrix | None, size: int = NETWORK_NODES) -> NetworkLayout | None:
    """Lay out a connected neighbourhood of at most ``size`` customers, once per model.

    The neighbourhood is a breadth-first sample from customer 0, so ties between the drawn
    customers are kept (a random sample of a large sparse network would have almost none).
    networkx's spring layout is seeded, so the same market always looks the same.

    Args:
        network: the market's referral network (None in a fully mixed market).
        size: customers to draw at most.
    """
    if network is None:
        return None
    order = breadth_first_order(network, 0, directed=False, return_predecessors=False)
    nodes = np.sort(order[:size])
    sub = network[nodes][:, nodes].tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(range(len(nodes)))
    upper = sub.row < sub.col
    graph.add_edges_from(zip(sub.row[upper].tolist(), sub.col[upper].tolist(), strict=True))
    layout = nx.spring_layout(graph, seed=1, iterations=60)
    positions = np.array([layout[i] for i in range(len(nodes))])
    segments = np.stack([positions[sub.row[upper]], positions[sub.col[upper]]], axis=1)
    return NetworkLayout(nodes=nodes, positions=positions, segments=segments)


def _no_network_figure(fig: Figure) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        "This market is fully mixed:\nanyone may hear from anyone, so there is no network.",
        ha="center",
        va="center",
    )
    return fig


def network_figure(
    layout: NetworkLayout | None, population: Population, colors: Mapping[str, str]
) -> Figure:
    """The drawn customers coloured by firm (left) and by lifecycle stage (right).

    Args:
        layout: the picture's layout (None: a fully mixed market, which has no network).
        population: the market's customers now.
        colors: firm to colour, in the model's firm order (see :func:`firm_colors`).
    """
    fig = _fixed_margins(Figure(figsize=WIDE), left=0.02, right=0.98, bottom=0.3, top=0.8)
    if layout is None:
        return _no_network_figure(fig)
    firm = population.firm[layout.nodes].astype(int)
    stage = population.stage[layout.nodes].astype(int)
    firm_palette = np.array([*colors.values(), NO_FIRM_COLOR])
    stage_palette = np.array([color for _, _, color in plots.STAGES])
    referred = population.origin[layout.nodes] == ORIGIN["referral"]
    axes = fig.subplots(1, 2)
    for ax, fill, title in (
        (axes[0], firm_palette[firm], "by firm (ringed: won by a referral)"),
        (axes[1], stage_palette[stage], "by lifecycle stage"),
    ):
        ax.add_collection(LineCollection(layout.segments, colors="#cccccc", linewidths=0.5))
        ax.scatter(
            layout.positions[:, 0],
            layout.positions[:, 1],
            c=fill,
            s=22,
            linewidths=np.where(referred, 1.2, 0.3),
            edgecolors=np.where(referred, "black", "#888888"),
            zorder=2,
        )
        ax.set_title(title, fontsize="medium")
        ax.set_axis_off()
        ax.set_aspect("equal")
    firm_handles = [
        Patch(facecolor=firm_palette[i], edgecolor="#888888", label=name)
        for i, name in enumerate([*colors, "no firm"])
    ]
    stage_handles = [
        Patch(facecolor=c, label=s) for s, c in zip(STAGES, stage_palette, strict=True)
    ]
    for ax, handles, columns in ((axes[0], firm_handles, 2), (axes[1], stage_handles, 2)):
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=columns,
            fontsize="small",
            frameon=False,
        )
    fig.suptitle(f"Referral network: {len(layout.nodes)} neighbouring people", fontsize="medium")
    return fig


def render_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    # Light compression: encoding is a fair share of the time a period takes to render.
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


# --------------------------------------------------------------------------- components
@solara.component
def Chart(model: DashboardMarket, view: str, period: int) -> None:  # noqa: N802 (Solara style)
    """One of the period's charts, as wide as its card.

    Args:
        model: the market.
        view: the chart's key in :meth:`~simulation.dashboard.market.DashboardMarket.views`.
        period: the period on show; a new value redraws the chart.
    """
    del period  # a prop only so that a new period re-renders the chart
    png = model.views()[view]
    rw.Image(value=png, format="png", layout=rw.Layout(width="100%", height="auto"))
