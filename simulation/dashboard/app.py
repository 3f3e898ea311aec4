"""The classroom dashboard: Mesa's Solara visualisation of one market, period by period.

Start it with ``relsim dashboard [SCENARIO]`` (or ``solara run simulation/dashboard/app.py``). The
sidebar holds Mesa's controls (Reset, play/pause, Step) and the levers; a lever takes effect
when the market is reset, and every chart then keeps the previous run as a grey line, so a
class sees at once what the change did. The scenario comes from the environment variable
``RELSIM_DASHBOARD_SCENARIO`` (a bundled name or a file; default: the default scenario).

Figures come from :mod:`simulation.runs.plots` where it has one for the view; the views that only
make sense for a live, single run (customers of every firm, this period's inflows and
outflows, the referral network) are drawn here.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
import reacton.ipywidgets as rw
import solara
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter
from scipy.sparse.csgraph import breadth_first_order

from simulation.market.model import RelationshipMarket
from simulation.runs import plots
from simulation.runs.runner import firm_timeseries
from simulation.scenario.loading import DEFAULT_SCENARIO, load_scenario
from simulation.scenario.schema import STAGES, Scenario

# Figures are rendered to PNG on the server; never open a window.
matplotlib.use("Agg")

SCENARIO_ENV = "RELSIM_DASHBOARD_SCENARIO"
"""Environment variable naming the scenario the dashboard opens (a bundled name or a file)."""

DEFAULT_CUSTOMERS = 2_000
"""Market size the dashboard opens with: big enough to look like a market, small enough that a
period renders in a fraction of a second."""

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

SMALL = (6.4, 3.6)
"""Size of a dashboard figure in inches: two fit side by side on a projector."""

WIDE = (7.4, 3.6)
"""Size of a figure with its legend outside the axes."""

DPI = 80

NETWORK_EVERY = 4
"""Periods between redraws of the network picture: stages change slowly, and it is among the
dearest charts to draw, so a step renders faster without it."""


# --------------------------------------------------------------------------- the model
def dashboard_scenario() -> str:
    """Name or path of the scenario the dashboard opens (``RELSIM_DASHBOARD_SCENARIO``)."""
    return os.environ.get(SCENARIO_ENV) or DEFAULT_SCENARIO


def _is_relsim_scenario(value: Any) -> bool:
    return isinstance(value, Scenario | str | Path)


class DashboardMarket(RelationshipMarket):
    """The market with the dashboard's levers as explicit keyword arguments.

    Mesa's SolaraViz re-creates the model on Reset from the sidebar's values, and checks them
    against the constructor's signature; naming every lever here keeps that check working on
    Mesa 3.3 and 3.5. Mesa 3.5 also passes its own ``Scenario`` object as ``scenario`` on
    Reset: anything that is not a relsim scenario means the dashboard's scenario.

    Args:
        scenario: a relsim scenario, file or bundled name (default: the dashboard's).
        policy: the focal firm's policy (default: the scenario's first).
        rng: seed.
        customers: number of people in the market (budgets scale with it).
        retention_share: share of the budget on retention levers.
        price: the focal firm's price.
        quality: the focal firm's service quality (0-1).
        loyalty: keep the policy's loyalty programme (False moves its budget to the other
            retention levers).
        loyalty_reward: value of one loyalty reward.
        referral_reward: paid per referred customer won.
        word_of_mouth: referrals travel between customers at all.
        transactional_share: share of customers who want a distant, price-driven relationship.
        customer_agents: create one Mesa agent per customer.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | None = None,
        policy: str | None = None,
        rng: Any = None,
        customers: int | None = None,
        retention_share: float | None = None,
        price: float | None = None,
        quality: float | None = None,
        loyalty: bool | None = None,
        loyalty_reward: float | None = None,
        referral_reward: float | None = None,
        word_of_mouth: bool | None = None,
        transactional_share: float | None = None,
        customer_agents: bool = True,
    ):
        levers = {
            "customers": customers,
            "retention_share": retention_share,
            "price": price,
            "quality": quality,
            "loyalty": loyalty,
            "loyalty_reward": loyalty_reward,
            "referral_reward": referral_reward,
            "word_of_mouth": word_of_mouth,
            "transactional_share": transactional_share,
        }
        if not _is_relsim_scenario(scenario):
            scenario = dashboard_scenario()
        super().__init__(
            scenario,
            policy=policy or None,
            rng=None if rng is None else int(rng),
            customer_agents=customer_agents,
            **{k: v for k, v in levers.items() if v is not None},
        )
        self._table: tuple[int, pd.DataFrame] | None = None
        self._views: tuple[int, dict[str, bytes]] | None = None
        self._network_png: bytes | None = None
        self._network_layout: NetworkLayout | None = None
        self._network_laid_out = False
        self._compared = False
        self.previous_run: Run | None = None

    def current_run(self) -> Run:
        """This run as the charts show it."""
        return Run(self.timeseries(), f"{self.policy_name} (this run)", describe(self))

    def remember(self, earlier: DashboardMarket) -> None:
        """Take ``earlier`` as the run to compare with (once).

        A run that never took a period passes on its own comparison instead.
        """
        if self._compared:
            return
        self._compared = True
        if earlier.steps > 0:
            run = earlier.current_run()
            label = run.label.replace("this run", "previous run")
            self.previous_run = Run(run.table, label, run.settings)
        else:
            self.previous_run = earlier.previous_run

    def network_picture_layout(self) -> NetworkLayout | None:
        """The referral-network picture's layout, computed on first use."""
        if not self._network_laid_out:
            self._network_layout = network_layout(self)
            self._network_laid_out = True
        return self._network_layout

    def views(self) -> dict[str, bytes]:
        """Every chart of this period as PNG bytes (drawn once per period, see draw_views)."""
        if self._views is None or self._views[0] != self.steps:
            self._views = (self.steps, draw_views(self))
        return self._views[1]

    def timeseries(self) -> pd.DataFrame:
        """Every firm's books so far, as ``timeseries.csv`` rows (cached per period)."""
        if self._table is None or self._table[0] != self.steps:
            table = firm_timeseries(self) if self.steps > 0 else _empty_timeseries()
            table.insert(0, "replication", 0)
            table.insert(0, "policy", self.policy_name)
            self._table = (self.steps, table)
        return self._table[1]


def _empty_timeseries() -> pd.DataFrame:
    from simulation.market.agents import BOOK_FIELDS

    return pd.DataFrame(columns=["period", "firm", "focal", *BOOK_FIELDS])


def default_policy(scenario: Scenario) -> str:
    """The policy the dashboard opens on: its retention share is nearest one half.

    The retention slider then has room to move both ways (ties: the first listed).
    """
    return min(
        scenario.policies,
        key=lambda name: abs(scenario.policies[name].allocation.retention_share - 0.5),
    )


def model_params(scenario: Scenario, source: str) -> dict[str, Any]:
    """The sidebar: one entry per constructor argument, set to the opening policy's values."""
    policy_name = default_policy(scenario)
    policy = scenario.policies[policy_name]
    focal, market = scenario.focal, scenario.market
    price = focal.price if policy.price is None else policy.price
    quality = focal.quality if policy.quality is None else policy.quality
    customers = min(market.customers, DEFAULT_CUSTOMERS)

    def slider(label: str, value: float, low: float, high: float, step: float) -> dict:
        # A long label squeezes the slider to nothing: short labels; the guide card shows the
        # values each run used.
        return {
            "type": "SliderFloat",
            "label": label,
            "value": float(value),
            "min": low,
            "max": high,
            "step": step,
        }

    return {
        "scenario": source,
        "policy": {
            "type": "Select",
            "label": "Policy (which levers get money)",
            "value": policy_name,
            "values": list(scenario.policies),
        },
        "retention_share": slider(
            "Retention share", policy.allocation.retention_share, 0.0, 1.0, 0.05
        ),
        "price": slider("Price", price, round(price * 0.5), round(price * 1.5), 1.0),
        "quality": slider("Quality", quality, 0.3, 1.0, 0.02),
        "loyalty": {
            "type": "Checkbox",
            "label": "Loyalty programme",
            "value": policy.allocation.loyalty > 0,
        },
        "loyalty_reward": slider(
            "Loyalty reward", policy.loyalty_programme.reward_value, 0.0, 60.0, 1.0
        ),
        "referral_reward": slider("Referral reward", policy.referral_reward, 0.0, 60.0, 1.0),
        "word_of_mouth": {
            "type": "Checkbox",
            "label": "Word of mouth",
            "value": bool(market.responses.word_of_mouth.enabled),
        },
        "transactional_share": slider(
            "Transactional", market.customer.transactional_share, 0.0, 1.0, 0.05
        ),
        "customers": {
            "type": "SliderInt",
            "label": "Customers",
            "value": customers,
            "min": 200,
            "max": max(20_000, customers),
            "step": 200,
        },
        "rng": {
            "type": "SliderInt",
            "label": "Seed",
            "value": 1,
            "min": 1,
            "max": 100,
            "step": 1,
        },
    }


def opening_values(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments the sidebar starts with."""
    return {k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}


# --------------------------------------------------------------------------- runs
@dataclass(eq=False)
class Run:
    """What the charts show of one run: its table and how it was set up."""

    table: pd.DataFrame
    label: str
    settings: str


def describe(model: DashboardMarket) -> str:
    """One line saying how the focal firm and the market were set up for this run."""
    policy, market = model.focal.policy, model.config.market
    loyalty = "on" if policy.allocation.loyalty > 0 else "off"
    wom = "on" if market.responses.word_of_mouth.enabled else "off"
    return (
        f"{model.policy_name}: {policy.allocation.retention_share:.0%} of "
        f"{policy.budget:,.0f} a month on retention; price {model.focal.price:g}, "
        f"quality {model.focal.quality:.2f}; loyalty programme {loyalty} "
        f"(reward {policy.loyalty_programme.reward_value:g}); referral reward "
        f"{policy.referral_reward:g}; word of mouth {wom}; "
        f"{market.customer.transactional_share:.0%} transactional; "
        f"{market.customers:,} people"
    )


def use_runs(model: DashboardMarket) -> tuple[Run, Run | None]:
    """This run and the previous one (the last run that took at least one step).

    A component remembers the model it drew last; the first one to be handed a new model by
    Reset records the old run on it, so that every view compares against the same run.
    """
    seen = solara.use_ref(None)
    last = seen.current
    if last is not None and last is not model:
        model.remember(last)
    seen.current = model
    return model.current_run(), model.previous_run


def policy_color(model: DashboardMarket) -> str:
    """The colour of the run's policy, as in every other relsim figure."""
    return plots.policy_colors(list(model.config.policies))[model.policy_name]


def firm_colors(model: DashboardMarket) -> dict[str, str]:
    """Focal firm in its policy's colour, rivals in muted tones."""
    colors = {model.firm_names[0]: policy_color(model)}
    for i, name in enumerate(model.firm_names[1:]):
        colors[name] = RIVAL_COLORS[i % len(RIVAL_COLORS)]
    return colors


def both_runs(current: Run, previous: Run | None) -> tuple[pd.DataFrame, dict[str, str], str]:
    """One table with both runs as two 'policies', their colours, and the current label."""
    tables = [current.table.assign(policy=current.label)]
    colors = {}
    if previous is not None:
        tables.insert(0, previous.table.assign(policy=previous.label))
        colors[previous.label] = PREVIOUS_COLOR
    return pd.concat(tables, ignore_index=True), colors, current.label


# --------------------------------------------------------------------------- figures
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
    box = {"left": 0.14, "right": 0.97, "bottom": 0.15, "top": 0.9, **margins}
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


def over_time_figure(
    model: DashboardMarket, column: str, ylabel: str, title: str, previous: Run | None
) -> Figure:
    """A focal-firm column over time, this run against the previous one."""
    current = Run(model.timeseries(), f"{model.policy_name} (this run)", "")
    if current.table.empty:
        return _waiting(title)
    table, colors, label = both_runs(current, previous)
    colors[label] = policy_color(model)
    fig = plots.plot_over_time(table, column, ylabel=ylabel, title=title, colors=colors)
    return _shrink(fig)


def cumulative_profit_figure(model: DashboardMarket, previous: Run | None) -> Figure:
    """Cumulative discounted profit of the focal firm (its last point is the NPV so far)."""
    current = Run(model.timeseries(), f"{model.policy_name} (this run)", "")
    if current.table.empty:
        return _waiting("Cumulative discounted profit")
    table, colors, label = both_runs(current, previous)
    colors[label] = policy_color(model)
    fig = plots.plot_cumulative_profit(table, colors=colors)
    fig.axes[0].set_title("Cumulative discounted profit (its end is the NPV so far)")
    return _shrink(fig)


def lifecycle_figure(model: DashboardMarket) -> Figure:
    """Where the people of the market are in the relationship lifecycle."""
    table = model.timeseries()
    if table.empty:
        return _waiting("Lifecycle mix")
    fig = plots.plot_lifecycle(table, model.policy_name)
    fig.set_size_inches(*WIDE)
    # The stage names are long: leave the legend two fifths of the width.
    _fixed_margins(fig, left=0.11, right=0.6)
    _whole_periods(fig)
    ax = fig.axes[0]
    ax.set_title(f"Lifecycle mix of the focal firm's market ({model.policy_name})")
    ax.title.set_fontsize("medium")
    ax.get_legend().set_title("stage")
    for text in ax.get_legend().get_texts():
        text.set_fontsize("small")
    return fig


def customers_figure(model: DashboardMarket, previous: Run | None) -> Figure:
    """Customers of every firm; the previous run's focal firm in grey."""
    table = model.timeseries()
    if table.empty:
        return _waiting("Customers per firm")
    fig = _fixed_margins(Figure(figsize=SMALL), left=0.12)
    ax = fig.add_subplot()
    colors = firm_colors(model)
    if previous is not None:
        old = previous.table[previous.table["focal"]]
        ax.plot(old["period"], old["customers"], color=PREVIOUS_COLOR, lw=2.5, label=previous.label)
    for name in model.firm_names:
        rows = table[table["firm"] == name]
        focal = name == model.firm_names[0]
        label = f"{name} ({model.policy_name})" if focal else name
        ax.plot(
            rows["period"],
            rows["customers"],
            color=colors[name],
            lw=2.5 if focal else 1.5,
            ls="-" if focal else "--",
            label=label,
        )
    ax.set_xlabel(plots.PERIOD_LABEL)
    ax.set_ylabel("customers")
    ax.set_ylim(bottom=0)
    ax.set_title("Customers per firm", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _whole_periods(fig)


def flows_figure(model: DashboardMarket, previous: Run | None) -> Figure:
    """The leaky bucket, period by period: customers in (by channel) and out (by cause)."""
    table = model.timeseries()
    if table.empty:
        return _waiting("Customers won and lost")
    focal = table[table["focal"]]
    fig = _fixed_margins(Figure(figsize=WIDE), left=0.12, right=0.7)
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
    window = f"{SMOOTHING}-period average"
    if previous is not None:
        old = previous.table[previous.table["focal"]]
        for column, sign in (("acquired", 1), ("churned", -1)):
            smooth = sign * old[column].rolling(SMOOTHING, min_periods=1).mean()
            ax.plot(old["period"], smooth, color="#555555", ls="--", lw=1.5)
        ax.plot([], [], color="#555555", ls="--", label=f"previous run, {window}")
    for column, sign in (("acquired", 1), ("churned", -1)):
        smooth = sign * focal[column].rolling(SMOOTHING, min_periods=1).mean()
        ax.plot(periods, smooth, color="black", lw=1.5)
    ax.plot([], [], color="black", label=f"this run, {window}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel(plots.PERIOD_LABEL)
    ax.set_ylabel("customers per period\n(won above 0, lost below)")
    ax.set_title("Leaky bucket: focal customers won and lost each period", fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    return _whole_periods(fig)


@dataclass
class NetworkLayout:
    """A fixed picture of part of the referral network: who, where, and which ties."""

    nodes: np.ndarray
    positions: np.ndarray
    segments: np.ndarray


def network_layout(model: RelationshipMarket, size: int = NETWORK_NODES) -> NetworkLayout | None:
    """Lay out a connected neighbourhood of at most ``size`` customers, once per model.

    The neighbourhood is a breadth-first sample from customer 0, so ties between the drawn
    customers are kept (a random sample of a large sparse network would have almost none).
    networkx's spring layout is seeded, so the same market always looks the same.
    """
    network = model.network
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


def network_figure(model: DashboardMarket, layout: NetworkLayout | None) -> Figure:
    """The drawn customers coloured by firm (left) and by lifecycle stage (right)."""
    fig = _fixed_margins(Figure(figsize=WIDE), left=0.02, right=0.98, bottom=0.24, top=0.88)
    if layout is None:
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
    pop = model.population
    firm = pop.firm[layout.nodes].astype(int)
    stage = pop.stage[layout.nodes].astype(int)
    colors = firm_colors(model)
    firm_palette = np.array([colors[n] for n in model.firm_names] + [NO_FIRM_COLOR])
    stage_palette = np.array([color for _, _, color in plots.STAGES])
    referred = (
        pop.origin[layout.nodes] == 2
    )  # won by a referral (simulation.market.population.ORIGINS)
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
        ax.set_title(title, fontsize="small")
        ax.set_axis_off()
        ax.set_aspect("equal")
    firm_handles = [
        Patch(facecolor=firm_palette[i], edgecolor="#888888", label=name)
        for i, name in enumerate([*model.firm_names, "no firm"])
    ]
    stage_handles = [
        Patch(facecolor=c, label=s) for s, c in zip(STAGES, stage_palette, strict=True)
    ]
    axes[0].legend(
        handles=firm_handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize="x-small",
        frameon=False,
    )
    axes[1].legend(
        handles=stage_handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize="x-small",
        frameon=False,
    )
    fig.suptitle(f"Referral network: {len(layout.nodes)} neighbouring people", fontsize="medium")
    return fig


# --------------------------------------------------------------------------- numbers
def _fmt_money(value: float) -> str:
    return f"{value:,.0f}"


def key_numbers(current: Run, previous: Run | None) -> pd.DataFrame:
    """The focal firm's numbers now, beside the previous run's at the same period.

    Churn is a rate over the last 12 periods, so noise does not hide a change.
    """

    def numbers(table: pd.DataFrame, period: int) -> dict[str, str]:
        focal = table[table["focal"] & (table["period"] <= period)]
        if focal.empty:
            return {}
        last = focal.iloc[-1]
        recent = focal.tail(12)
        started = recent["customers_start"].sum()
        churn = recent["churned"].sum() / started if started else 0.0
        return {
            "period": f"{int(last['period'])}",
            "customers": f"{int(last['customers']):,}",
            "market share": f"{last['market_share']:.1%}",
            "won this period": f"{int(last['acquired'])}",
            "lost this period": f"{int(last['churned'])}",
            "churn per period (last 12)": f"{churn:.2%}",
            "profit this period": _fmt_money(last["profit"]),
            "NPV so far": _fmt_money(last["cumulative_discounted_profit"]),
            "mean satisfaction": f"{last['mean_satisfaction']:.3f}",
        }

    period = int(current.table["period"].max()) if len(current.table) else 0
    rows = {"this run": numbers(current.table, period)} if period else {}
    if previous is not None and period:
        rows["previous run"] = numbers(previous.table, period)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- components
@solara.component
def Guide(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """What is on the page, how to use it, and how this run and the previous were set up."""
    update_counter.get()
    current, previous = use_runs(model)
    parts = [
        f"<h3>{escape(model.config.name)} · period {model.steps} of {model.horizon}</h3>",
        "<p>Move a lever in the sidebar, press <b>Reset</b>, then <b>▶</b> or <b>Step</b>. "
        "Grey lines keep the previous run, so the change shows at once. "
        "The same seed brings the same luck, so a difference is the lever's doing.</p>",
        f"<p><b>This run</b>: {escape(current.settings)}.</p>",
    ]
    if previous is not None:
        parts.append(f"<p><b>Previous run</b> (grey): {escape(previous.settings)}.</p>")
    # Plain HTML rather than Markdown: solara's Markdown fetches a maths font from the web.
    solara.HTML(tag="div", unsafe_innerHTML="".join(parts))


@solara.component
def KeyNumbers(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """The focal firm's numbers now, beside the previous run's at the same period."""
    update_counter.get()
    current, previous = use_runs(model)
    numbers = key_numbers(current, previous)
    if numbers.empty:
        solara.Text("Numbers appear after the first period.")
        return
    header = "".join(f"<th>{escape(c)}</th>" for c in numbers.columns)
    rows = "".join(
        f"<tr><td>{escape(str(name))}</td>"
        + "".join(f"<td>{escape(v)}</td>" for v in row)
        + "</tr>"
        for name, row in numbers.iterrows()
    )
    table = (
        f'<table class="relsim-numbers"><thead><tr><th>focal firm</th>{header}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    style = (
        "<style>.relsim-numbers td, .relsim-numbers th {padding: 2px 12px; text-align: right}"
        " .relsim-numbers td:first-child, .relsim-numbers th:first-child {text-align: left}</style>"
    )
    solara.HTML(tag="div", unsafe_innerHTML=style + table)


def render_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    # Light compression: encoding is a fair share of the time a period takes to render.
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def figures(model: DashboardMarket, *, network: bool = True) -> dict[str, Figure]:
    """Every chart of the dashboard for the model's current period.

    Args:
        model: the market.
        network: also draw the referral-network picture.
    """
    previous = model.previous_run
    money = f"profit ({plots.CURRENCY_LABEL})"
    drawn = {
        "customers": customers_figure(model, previous),
        "flows": flows_figure(model, previous),
        "cumulative_profit": cumulative_profit_figure(model, previous),
        "profit": over_time_figure(model, "profit", money, "Profit per period", previous),
        "satisfaction": over_time_figure(
            model,
            "mean_satisfaction",
            "mean satisfaction (0-1)",
            "Mean satisfaction of the focal firm's customers",
            previous,
        ),
        "lifecycle": lifecycle_figure(model),
    }
    if network:
        drawn["network"] = network_figure(model, model.network_picture_layout())
    return drawn


_RASTERISER = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))


def draw_views(model: DashboardMarket) -> dict[str, bytes]:
    """Draw every chart of the period and rasterise them side by side.

    Rasterising is most of the time a period takes to render, and matplotlib's Agg renderer
    releases the GIL while it draws: each figure is its own object, so they rasterise in
    parallel threads (the figures are built here, in one thread).
    """
    due = model._network_png is None or model.steps % NETWORK_EVERY == 0
    drawn = figures(model, network=due)
    pngs = dict(zip(drawn, _RASTERISER.map(render_png, drawn.values()), strict=True))
    if due:
        model._network_png = pngs["network"]
    pngs["network"] = model._network_png
    return pngs


def _show(model: DashboardMarket, view: str) -> None:
    """Show one of the period's charts, as wide as its card."""
    png = model.views()[view]
    rw.Image(value=png, format="png", layout=rw.Layout(width="100%", height="auto"))


@solara.component
def CustomersChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Customers per firm."""
    update_counter.get()
    use_runs(model)
    _show(model, "customers")


@solara.component
def FlowsChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Customers won per period by channel and lost by cause."""
    update_counter.get()
    use_runs(model)
    _show(model, "flows")


@solara.component
def ProfitChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Profit per period."""
    update_counter.get()
    use_runs(model)
    _show(model, "profit")


@solara.component
def CumulativeProfitChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Cumulative discounted profit."""
    update_counter.get()
    use_runs(model)
    _show(model, "cumulative_profit")


@solara.component
def SatisfactionChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Mean satisfaction of the focal firm's customers."""
    update_counter.get()
    use_runs(model)
    _show(model, "satisfaction")


@solara.component
def LifecycleChart(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """Stacked area of the lifecycle stages."""
    update_counter.get()
    use_runs(model)
    _show(model, "lifecycle")


@solara.component
def NetworkPicture(model: DashboardMarket):  # noqa: N802 (Solara names components like classes)
    """A few hundred neighbouring customers of the referral network."""
    update_counter.get()
    use_runs(model)
    _show(model, "network")


COMPONENTS = [
    Guide,
    KeyNumbers,
    CustomersChart,
    FlowsChart,
    CumulativeProfitChart,
    ProfitChart,
    SatisfactionChart,
    LifecycleChart,
    NetworkPicture,
]
"""The dashboard's views, in reading order (two per row)."""


def make_page(
    scenario: str | None = None,
    *,
    use_threads: bool | solara.Reactive[bool] = False,
    play_interval: int = 150,
    **overrides: Any,
):
    """Build the SolaraViz page for a scenario with a fresh market.

    Args:
        scenario: scenario name or file (default: ``RELSIM_DASHBOARD_SCENARIO`` or the default).
        use_threads: passed to SolaraViz (tests pass ``solara.reactive(False)``).
        play_interval: milliseconds between periods when playing.
        **overrides: opening values of the sidebar's levers (e.g. ``customers=500``).

    Returns:
        The SolaraViz element.
    """
    source = scenario or dashboard_scenario()
    loaded = load_scenario(source)
    params = model_params(loaded, source)
    for key, value in overrides.items():
        if isinstance(params.get(key), dict):
            params[key] = {**params[key], "value": value}
        else:
            params[key] = value
    model = DashboardMarket(**opening_values(params))
    return SolaraViz(
        model,
        components=list(COMPONENTS),
        model_params=params,
        name=f"relsim · {loaded.name}",
        play_interval=play_interval,
        use_threads=use_threads,
    )


page = make_page()
