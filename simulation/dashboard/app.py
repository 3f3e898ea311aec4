"""The classroom dashboard: Mesa's Solara visualisation of one market, period by period.

Start it with ``relsim dashboard [SCENARIO]`` (or ``solara run simulation/dashboard/app.py``). The
sidebar holds Mesa's controls (Reset, play/pause, Step) and the levers; a lever takes effect
when the market is reset, and every chart then keeps the previous run as a grey line, so a
class sees at once what the change did. The scenario comes from the environment variable
``RELSIM_DASHBOARD_SCENARIO`` (a bundled name or a file; default: the default scenario).

This file holds the page: the sidebar's levers, the guide, the key numbers and the list of
views. The market behind it is :mod:`simulation.dashboard.market`, the charts are
:mod:`simulation.dashboard.charts`.
"""

from __future__ import annotations

import copy
from html import escape
from typing import Any

import matplotlib
import pandas as pd
import solara
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from simulation.dashboard.charts import Run, make_chart, use_runs
from simulation.dashboard.market import DashboardMarket, dashboard_scenario
from simulation.runs.formatting import format_number
from simulation.scenario.loading import load_scenario
from simulation.scenario.schema import Scenario

# Figures are rendered to PNG on the server; never open a window.
matplotlib.use("Agg")

DEFAULT_CUSTOMERS = 2_000
"""Market size the dashboard opens with: big enough to look like a market, small enough that a
period renders in a fraction of a second."""


# --------------------------------------------------------------------------- the sidebar
def default_policy(scenario: Scenario) -> str:
    """The policy the dashboard opens on: its retention share is nearest one half.

    The retention slider then has room to move both ways (ties: the first listed).
    """
    return min(
        scenario.policies,
        key=lambda name: abs(scenario.policies[name].allocation.retention_share - 0.5),
    )


def model_params(scenario: Scenario, source: str) -> dict[str, Any]:
    """The sidebar: one entry per constructor argument, set to the opening policy's values.

    A long label squeezes a slider to nothing, so the labels are short; the guide shows the
    values each run used.
    """
    policy_name = default_policy(scenario)
    policy = scenario.policies[policy_name]
    focal, market = scenario.focal, scenario.market
    price = focal.price if policy.price is None else policy.price
    quality = focal.quality if policy.quality is None else policy.quality
    customers = min(market.customers, DEFAULT_CUSTOMERS)
    retention = float(policy.allocation.retention_share)
    return {
        "scenario": source,
        "policy": {
            "type": "Select",
            "label": "Policy (which levers get money)",
            "value": policy_name,
            "values": list(scenario.policies),
        },
        "retention_share": Slider("Retention share", retention, 0.0, 1.0, 0.05, dtype=float),
        "price": Slider(
            "Price", float(price), round(price * 0.5), round(price * 1.5), 1.0, dtype=float
        ),
        "quality": Slider("Quality", float(quality), 0.3, 1.0, 0.02, dtype=float),
        "loyalty": {
            "type": "Checkbox",
            "label": "Loyalty programme",
            "value": policy.allocation.loyalty > 0,
        },
        "loyalty_reward": Slider(
            "Loyalty reward",
            float(policy.loyalty_programme.reward_value),
            0.0,
            60.0,
            1.0,
            dtype=float,
        ),
        "referral_reward": Slider(
            "Referral reward", float(policy.referral_reward), 0.0, 60.0, 1.0, dtype=float
        ),
        "word_of_mouth": {
            "type": "Checkbox",
            "label": "Word of mouth",
            "value": bool(market.responses.word_of_mouth.enabled),
        },
        "transactional_share": Slider(
            "Transactional",
            float(market.customer.transactional_share),
            0.0,
            1.0,
            0.05,
            dtype=float,
        ),
        "customers": Slider("Customers", customers, 200, max(20_000, customers), 200, dtype=int),
        "rng": Slider("Seed", 1, 1, 100, 1, dtype=int),
    }


def opening_value(param: Any) -> Any:
    """The value a sidebar entry starts with (a fixed entry is its own value)."""
    if isinstance(param, Slider):
        return param.value
    return param["value"] if isinstance(param, dict) else param


def opening_values(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments the sidebar starts with."""
    return {key: opening_value(param) for key, param in params.items()}


def with_value(param: Any, value: Any) -> Any:
    """The sidebar entry ``param`` opening on ``value`` instead (a fixed entry becomes it)."""
    if isinstance(param, Slider):
        moved = copy.copy(param)
        moved.value = value
        return moved
    return {**param, "value": value} if isinstance(param, dict) else value


# --------------------------------------------------------------------------- numbers
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
            "profit this period": format_number(last["profit"], "money", places=0),
            "NPV so far": format_number(last["cumulative_discounted_profit"], "money", places=0),
            "mean satisfaction": f"{last['mean_satisfaction']:.3f}",
        }

    period = int(current.table["period"].max()) if len(current.table) else 0
    rows = {"this run": numbers(current.table, period)} if period else {}
    if previous is not None and period:
        rows["previous run"] = numbers(previous.table, period)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- text views
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


# --------------------------------------------------------------------------- the page
COMPONENTS = [
    Guide,
    KeyNumbers,
    make_chart("customers", "Customers per firm."),
    make_chart("flows", "Customers won per period by channel and lost by cause."),
    make_chart("cumulative_profit", "Cumulative discounted profit."),
    make_chart("profit", "Profit per period."),
    make_chart("satisfaction", "Mean satisfaction of the focal firm's customers."),
    make_chart("lifecycle", "Stacked area of the lifecycle stages."),
    make_chart("network", "A few hundred neighbouring customers of the referral network."),
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
        params[key] = with_value(params.get(key), value)
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
