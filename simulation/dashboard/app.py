"""The classroom dashboard: one market per visitor, period by period, in the browser.

Start it with ``relsim dashboard [SCENARIO]`` (or ``solara run simulation/dashboard/app.py``).
Every visitor (every browser tab, every reload) gets a market of their own, built when the page
opens: what one student does never moves another's market. The sidebar holds the run's
controls (Reset, play/pause, Step, the play speed) and the levers, each showing its value; a
lever takes effect when the market is reset, and every chart then keeps the previous run as a
grey line, so a class sees at once what the change did. The scenario comes from the
environment variable ``RELSIM_DASHBOARD_SCENARIO`` (a bundled name or a file; default: the
default scenario).

This file holds the page: the sidebar, the guide, the key numbers and the list of views. The
market behind it is :mod:`simulation.dashboard.market` (a Mesa model), the charts are
:mod:`simulation.dashboard.charts`, the playing clock is :mod:`simulation.dashboard.playing`.
"""

from __future__ import annotations

import copy
import math
import time
from html import escape
from typing import Any

import matplotlib
import pandas as pd
import solara
from mesa.visualization import Slider

from simulation.dashboard.charts import Chart, Run
from simulation.dashboard.market import DashboardMarket, dashboard_scenario, policy_levers
from simulation.dashboard.playing import PlayClock
from simulation.runs.formatting import format_number
from simulation.runs.registry import release
from simulation.scenario.loading import load_scenario
from simulation.scenario.schema import Scenario

# Figures are rendered to PNG on the server; never open a window.
matplotlib.use("Agg")

DEFAULT_CUSTOMERS = 2_000
"""Market size the dashboard opens with: big enough to look like a market, small enough that a
period renders in a fraction of a second."""

DEFAULT_PACE = 8
"""Months a second while playing: ten years in fifteen seconds."""


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
def period_word(model: DashboardMarket) -> str:
    """What one step of the market is called on the page: a month, or a longer period."""
    return "month" if model.dt == 1 else "period"


@solara.component
def Guide(model: DashboardMarket, period: int):  # noqa: N802 (Solara names components like classes)
    """What is on the page, how to use it, and how this run and the previous were set up."""
    del period  # a prop only so that a new period re-renders the guide
    current, previous = model.current_run(), model.previous_run
    parts = [
        f"<h3>{escape(model.config.name)} · {period_word(model)} {model.steps} "
        f"of {model.horizon}</h3>",
        "<p>Move a lever in the sidebar, press <b>Reset</b>, then <b>▶</b> or <b>Step</b>. "
        "Grey lines keep the previous run, so the change shows at once. "
        "The same seed brings the same luck, so a difference is the lever's doing.</p>",
        f"<p><b>This run</b>: {escape(current.settings)}.</p>",
    ]
    if previous is not None:
        parts.append(f"<p><b>Previous run</b> (grey): {escape(previous.settings)}.</p>")
    # Plain HTML rather than Markdown: solara's Markdown fetches a maths font from the web.
    solara.HTML(tag="div", unsafe_innerHTML="".join(parts), classes=["relsim-guide"])


@solara.component
def KeyNumbers(model: DashboardMarket, period: int):  # noqa: N802 (Solara style)
    """The focal firm's numbers now, beside the previous run's at the same period."""
    del period  # a prop only so that a new period re-renders the numbers
    numbers = key_numbers(model.current_run(), model.previous_run)
    if numbers.empty:
        solara.Text("Numbers appear after the first month.")
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
    solara.HTML(tag="div", unsafe_innerHTML=table)


STYLE = """
.relsim-numbers td, .relsim-numbers th {padding: 2px 12px; text-align: right}
.relsim-numbers td:first-child, .relsim-numbers th:first-child {text-align: left}
.relsim-numbers, .relsim-guide {font-size: 17px}
.relsim-guide h3 {font-size: 21px; margin-bottom: 6px}
"""
"""The page's own styles: text a projector's back row can read."""


# --------------------------------------------------------------------------- the sidebar's widgets
def shown_value(param: Slider, value: float) -> str:
    """A slider's value as the sidebar writes it: as many decimals as its step has."""
    if not param.is_float_slider:
        return f"{int(value):,}"
    places = max(0, -math.floor(math.log10(param.step))) if param.step < 1 else 0
    return f"{float(value):,.{places}f}"


@solara.component
def Levers(  # noqa: N802 (Solara names components like classes)
    params: dict[str, Any], levers: solara.Reactive[dict[str, Any]], scenario: Scenario
):
    """The sidebar's levers, each with its value in its label.

    Choosing a policy moves the levers a policy sets (retention share, price, quality,
    loyalty programme and rewards) to that policy's values, so the run card's words and the
    levers always describe the same policy.
    """

    def set_lever(key: str, value: Any) -> None:
        levers.value = {**levers.value, key: value}

    def choose_policy(name: str) -> None:
        levers.value = {**levers.value, "policy": name, **policy_levers(scenario, name)}

    for key, param in params.items():
        value = levers.value.get(key)
        if isinstance(param, Slider):
            slider = solara.SliderFloat if param.is_float_slider else solara.SliderInt
            slider(
                f"{param.label}: {shown_value(param, value)}",
                value=value,
                min=param.min,
                max=param.max,
                step=param.step,
                on_value=lambda v, key=key: set_lever(key, v),
                thumb_label=False,
            )
        elif isinstance(param, dict) and param.get("type") == "Select":
            solara.Select(
                param["label"], values=param["values"], value=value, on_value=choose_policy
            )
        elif isinstance(param, dict) and param.get("type") == "Checkbox":
            solara.Checkbox(
                label=param["label"], value=value, on_value=lambda v, key=key: set_lever(key, v)
            )


# --------------------------------------------------------------------------- the page
VIEWS = (
    ("customers", "Customers per firm."),
    ("flows", "Customers won per month by channel and lost by cause."),
    ("cumulative_profit", "Cumulative discounted profit."),
    ("profit", "Profit a month."),
    ("satisfaction", "Mean satisfaction of the focal firm's customers, on its full 0-1 scale."),
    ("lifecycle", "Stacked area of the lifecycle stages."),
    ("network", "A few hundred neighbouring customers of the referral network."),
)
"""The dashboard's charts, in reading order (two per row on a wide screen)."""


def sidebar(scenario: Scenario, source: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The sidebar's entries with the opening values ``overrides`` asks for."""
    params = model_params(scenario, source)
    for key, value in overrides.items():
        params[key] = with_value(params.get(key), value)
    return params


@solara.component
def Dashboard(  # noqa: N802 (Solara names components like classes)
    scenario: str | None = None,
    overrides: dict[str, Any] | None = None,
    pace: int = DEFAULT_PACE,
):
    """The whole page, with a market of its own: each visitor, each reload, builds one.

    Args:
        scenario: scenario name or file (default: ``RELSIM_DASHBOARD_SCENARIO`` or the default).
        overrides: opening values of the sidebar's levers (e.g. ``{"customers": 500}``).
        pace: months a second while playing.
    """
    source = scenario or dashboard_scenario()
    loaded = solara.use_memo(lambda: load_scenario(source), [source])
    params = solara.use_memo(lambda: sidebar(loaded, source, overrides or {}), [loaded])
    opening = opening_values(params)
    # Hooks keep their state per page: this market belongs to this visitor alone.
    first = solara.use_memo(lambda: DashboardMarket(**opening), [])
    model = solara.use_reactive(first)
    levers = solara.use_reactive(opening)
    built = solara.use_reactive(opening)
    period = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(pace)

    def reset() -> None:
        playing.set(False)
        old = model.value
        fresh = DashboardMarket(**levers.value)
        fresh.remember(old)
        model.set(fresh)
        release(old)
        built.set(dict(levers.value))
        period.set(0)

    def step() -> None:
        model.value.advance(1)
        period.set(model.value.steps)

    def play() -> None:
        market = model.value
        clock = PlayClock(market.steps, time.monotonic(), speed.value)
        while playing.value and market.running and model.value is market:
            now = time.monotonic()
            if speed.value != clock.pace:
                clock = PlayClock(market.steps, now, speed.value)
            wait = clock.wait(market.steps, now)
            if wait > 0:
                time.sleep(min(wait, 0.25))
                continue
            market.advance(min(clock.due(now), market.horizon) - market.steps)
            market.views()  # draw here, off the page's thread
            period.set(market.steps)
        if model.value is market:
            playing.set(False)

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)
    # When the visitor's session ends, let Mesa forget its market too.
    solara.use_effect(lambda: lambda: release(model.value), [])

    solara.Style(STYLE)
    with solara.AppBar():
        solara.AppBarTitle(f"relsim · {loaded.name}")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            with solara.Row(justify="space-between"):
                solara.Button("Reset", color="primary", on_click=reset)
                solara.Button(
                    "❚❚" if playing.value else "▶",
                    color="primary",
                    on_click=lambda: playing.set(not playing.value),
                    disabled=not model.value.running,
                )
                solara.Button(
                    "Step",
                    color="primary",
                    on_click=step,
                    disabled=playing.value or not model.value.running,
                )
            solara.SliderInt(
                f"Play speed: {speed.value} {period_word(model.value)}s a second",
                value=speed,
                min=1,
                max=24,
                thumb_label=False,
            )
            # Always one element here, so that the levers below never re-mount (a slider
            # being dragged would lose its grip).
            if levers.value != built.value:
                solara.Info("Levers changed: press Reset to run with them.", dense=True)
            else:
                solara.Text("")
        with solara.Card("Levers"):
            Levers(params, levers, loaded)
    with solara.ColumnsResponsive(12, large=[7, 5]):
        Guide(model.value, period.value)
        KeyNumbers(model.value, period.value)
    with solara.ColumnsResponsive(12, large=6):
        for view, _ in VIEWS:
            Chart(model.value, view, period.value)


def make_page(scenario: str | None = None, *, pace: int = DEFAULT_PACE, **overrides: Any):
    """The dashboard page for a scenario: an element that builds its market when shown.

    Args:
        scenario: scenario name or file (default: ``RELSIM_DASHBOARD_SCENARIO`` or the default).
        pace: months a second while playing.
        **overrides: opening values of the sidebar's levers (e.g. ``customers=500``).
    """
    return Dashboard(scenario=scenario, overrides=overrides, pace=pace)


page = make_page()
"""What ``solara run`` shows: every visitor renders it anew, with a market of their own."""
