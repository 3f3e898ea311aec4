"""The market the dashboard shows, with the run it compares against and its charts per period.

The levers are keyword arguments of :class:`DashboardMarket`, so SolaraViz can re-create it
from the sidebar on Reset; each period's charts are drawn once and shared by every view.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from simulation.dashboard.charts import (
    NetworkLayout,
    Run,
    cumulative_profit_figure,
    customers_figure,
    firm_colors,
    flows_figure,
    lifecycle_figure,
    network_figure,
    network_layout,
    over_time_figure,
    render_png,
)
from simulation.dashboard.server import SCENARIO_ENV
from simulation.market.agents import BOOK_FIELDS
from simulation.market.model import RelationshipMarket
from simulation.runs import plots
from simulation.runs.runner import firm_timeseries
from simulation.scenario.loading import DEFAULT_SCENARIO, load_scenario
from simulation.scenario.schema import Scenario

NETWORK_EVERY = 4
"""Periods between redraws of the network picture: stages change slowly, and it is among the
dearest charts to draw, so a step renders faster without it."""


def dashboard_scenario() -> str:
    """Name or path of the scenario the dashboard opens (``RELSIM_DASHBOARD_SCENARIO``)."""
    return os.environ.get(SCENARIO_ENV) or DEFAULT_SCENARIO


def _is_relsim_scenario(value: Any) -> bool:
    return isinstance(value, Scenario | str | Path)


POLICY_LEVERS = (
    "retention_share",
    "price",
    "quality",
    "loyalty",
    "loyalty_reward",
    "referral_reward",
)
"""The levers a policy sets: choosing a policy in the sidebar moves them to its values."""


def policy_levers(scenario: Scenario, policy: str) -> dict[str, Any]:
    """The lever values ``policy`` has as written in ``scenario`` (see :data:`POLICY_LEVERS`)."""
    written, focal = scenario.policies[policy], scenario.focal
    return {
        "retention_share": float(written.allocation.retention_share),
        "price": float(focal.price if written.price is None else written.price),
        "quality": float(focal.quality if written.quality is None else written.quality),
        "loyalty": bool(written.allocation.loyalty > 0),
        "loyalty_reward": float(written.loyalty_programme.reward_value),
        "referral_reward": float(written.referral_reward),
    }


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
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
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
        self.levers = {key: value for key, value in levers.items() if value is not None}
        """The levers this market was built with (the others are the scenario's)."""
        self.written_levers = policy_levers(scenario, self.policy_name)
        """The focal policy's levers as the scenario writes them."""
        self.lock = threading.RLock()
        """Held while the market steps or its charts are drawn: a page may draw while playing."""

    def advance(self, periods: int = 1) -> None:
        """Step ``periods`` periods (fewer at the horizon), holding the lock."""
        with self.lock:
            for _ in range(periods):
                if not self.running:
                    return
                self.step()

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

    def firm_colors(self) -> dict[str, str]:
        """Each firm's colour in the charts, the focal firm first in its policy's colour."""
        return firm_colors(list(self.config.policies), self.policy_name, self.firm_names)

    def network_picture_layout(self) -> NetworkLayout | None:
        """The referral-network picture's layout, computed on first use."""
        if not self._network_laid_out:
            self._network_layout = network_layout(self.network)
            self._network_laid_out = True
        return self._network_layout

    def views(self) -> dict[str, bytes]:
        """Every chart of this period as PNG bytes (drawn once per period, see draw_views)."""
        with self.lock:
            if self._views is None or self._views[0] != self.steps:
                self._views = (self.steps, draw_views(self))
            return self._views[1]

    def changed_levers(self) -> dict[str, tuple[Any, Any]]:
        """Levers of the focal policy set away from the scenario's: name to (now, written)."""
        return {
            key: (self.levers[key], written)
            for key, written in self.written_levers.items()
            if key in self.levers and not _same(self.levers[key], written)
        }

    def timeseries(self) -> pd.DataFrame:
        """Every firm's books so far, as ``timeseries.csv`` rows (cached per period)."""
        if self._table is None or self._table[0] != self.steps:
            table = firm_timeseries(self) if self.steps > 0 else _empty_timeseries()
            table.insert(0, "replication", 0)
            table.insert(0, "policy", self.policy_name)
            self._table = (self.steps, table)
        return self._table[1]


def _same(value: Any, written: Any) -> bool:
    if isinstance(written, bool):
        return bool(value) == written
    return abs(float(value) - float(written)) < 1e-9


LEVER_WORDS = {
    "retention_share": ("retention share", "{:.0%}"),
    "price": ("price", "{:g}"),
    "quality": ("quality", "{:.2f}"),
    "loyalty": ("loyalty programme", "{}"),
    "loyalty_reward": ("loyalty reward", "{:g}"),
    "referral_reward": ("referral reward", "{:g}"),
}
"""How the run card names a policy lever and writes its value."""


def _lever_value(key: str, value: Any) -> str:
    if key == "loyalty":
        return "on" if value else "off"
    return LEVER_WORDS[key][1].format(value)


def policy_words(model: DashboardMarket) -> str:
    """The policy's name, and how this run departs from it as the scenario writes it."""
    changed = model.changed_levers()
    if not changed:
        return f"{model.policy_name} (as the scenario writes it)"
    parts = [
        f"{LEVER_WORDS[key][0]} {_lever_value(key, now)} instead of {_lever_value(key, written)}"
        for key, (now, written) in changed.items()
    ]
    return f"{model.policy_name}, changed: {', '.join(parts)}"


def _empty_timeseries() -> pd.DataFrame:
    return pd.DataFrame(columns=["period", "firm", "focal", *BOOK_FIELDS])


def describe(model: DashboardMarket) -> str:
    """One line saying how the focal firm and the market were set up for this run."""
    policy, market = model.focal.policy, model.config.market
    loyalty = "on" if policy.allocation.loyalty > 0 else "off"
    wom = "on" if market.responses.word_of_mouth.enabled else "off"
    return (
        f"{policy_words(model)}. {policy.allocation.retention_share:.0%} of "
        f"{policy.budget:,.0f} a month on retention; price {model.focal.price:g}, "
        f"quality {model.focal.quality:.2f}; loyalty programme {loyalty} "
        f"(reward {policy.loyalty_programme.reward_value:g}); referral reward "
        f"{policy.referral_reward:g}; word of mouth {wom}; "
        f"{market.customer.transactional_share:.0%} transactional; "
        f"{market.customers:,} people"
    )


def figures(model: DashboardMarket, *, network: bool = True) -> dict[str, Figure]:
    """Every chart of the dashboard for the model's current period.

    Args:
        model: the market.
        network: also draw the referral-network picture.
    """
    table, previous, colors = model.timeseries(), model.previous_run, model.firm_colors()
    money = f"profit a month ({plots.CURRENCY_LABEL})"
    drawn = {
        "customers": customers_figure(table, previous, colors),
        "flows": flows_figure(table, previous),
        "cumulative_profit": cumulative_profit_figure(table, previous, colors),
        "profit": over_time_figure(table, "profit", money, "Profit a month", previous, colors),
        "satisfaction": over_time_figure(
            table,
            "mean_satisfaction",
            "mean satisfaction (0-1)",
            "Mean satisfaction of the focal firm's customers",
            previous,
            colors,
            ylim=(0.0, 1.0),
        ),
        "lifecycle": lifecycle_figure(table),
    }
    if network:
        drawn["network"] = network_figure(model.network_picture_layout(), model.population, colors)
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
