"""The dashboard's page, built in-process: components render, Step and Reset work, levers apply."""

from __future__ import annotations

import inspect
import time
import warnings

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
from matplotlib.figure import Figure

from simulation.dashboard import app, charts, market
from simulation.dashboard import server as dashboard
from simulation.dashboard.playing import PlayClock
from simulation.market.model import RelationshipMarket
from simulation.scenario.loading import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEED = 7


def render_page(**levers):
    """Render the page with a small market; return the render context."""
    page = app.make_page(rng=SEED, **levers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Mesa's page puts its controls in the app's sidebar: render it inside an app layout.
        _, rc = solara.render(solara.AppLayout(children=[page]), handle_error=False)
    return rc


def button(rc, label: str):
    return rc.find(v.Btn, children=[label]).widget


def html(rc) -> str:
    """The text of the page's HTML blocks (the guide and the numbers)."""
    return " ".join(w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets)


def images(rc) -> list[bytes]:
    return [w.value for w in rc.find(ipywidgets.Image).widgets]


def test_sidebar_keys_are_constructor_arguments():
    scenario = load_scenario("acquisition_vs_retention")
    params = app.model_params(scenario, "acquisition_vs_retention")
    arguments = inspect.signature(app.DashboardMarket.__init__).parameters
    assert set(params) <= set(arguments)
    # Mesa's own check (3.3 takes the function, 3.5 the function or a model).
    from mesa.visualization.solara_viz import _check_model_params

    _check_model_params(app.DashboardMarket.__init__, params)
    model = app.DashboardMarket(**app.opening_values(params))
    assert model.policy_name == "balanced"  # retention share nearest one half
    assert model.config.market.customers == app.DEFAULT_CUSTOMERS


def test_opening_values_leave_the_policy_unchanged():
    scenario = load_scenario("acquisition_vs_retention")
    values = app.opening_values(app.model_params(scenario, "acquisition_vs_retention"))
    values["customers"] = scenario.market.customers
    model = app.DashboardMarket(**values)
    opened, written = model.focal.policy, scenario.policies["balanced"]
    assert opened.allocation == written.allocation
    assert opened.budget == written.budget
    assert opened.referral_reward == written.referral_reward
    assert opened.loyalty_programme == written.loyalty_programme
    assert (model.focal.price, model.focal.quality) == (
        scenario.focal.price,
        scenario.focal.quality,
    )


def test_an_opening_override_leaves_the_sidebar_template_alone():
    scenario = load_scenario("acquisition_vs_retention")
    params = app.model_params(scenario, "acquisition_vs_retention")
    moved = app.with_value(params["customers"], 400)
    assert (moved.value, params["customers"].value) == (400, app.DEFAULT_CUSTOMERS)
    assert (moved.min, moved.max, moved.step) == (200, 20_000, 200)
    assert app.with_value(params["scenario"], "price_war") == "price_war"


def test_a_mesa_scenario_object_means_the_dashboard_scenario(monkeypatch):
    # Mesa 3.5 passes its own Scenario object as `scenario` on Reset.
    monkeypatch.setenv(dashboard.SCENARIO_ENV, "acquisition_vs_retention")
    model = app.DashboardMarket(scenario=object(), rng=SEED, customers=300)
    assert model.config.name == "acquisition_vs_retention"


def slider_labels(rc) -> list[str]:
    return [w.label for w in rc.find(v.Slider).widgets]


def test_page_renders_steps_and_resets():
    rc = render_page(customers=400)
    assert "month 0 of 120" in html(rc)
    first = images(rc)
    assert len(first) == 7  # every chart, waiting for the first period

    step = button(rc, "Step")
    step.click()
    step.click()
    text = html(rc)
    assert "month 2 of 120" in text
    assert "this run" in text and "customers" in text
    after = images(rc)
    assert len(after) == 7
    # The time charts change every period; the network picture every NETWORK_EVERY periods.
    assert all(a != b for a, b in zip(first[:-1], after[:-1], strict=True))
    for _ in range(market.NETWORK_EVERY - 2):
        step.click()
    assert images(rc)[-1] != first[-1]

    button(rc, "Reset").click()
    assert "month 0 of 120" in html(rc)
    step = button(rc, "Step")
    step.click()
    text = html(rc)
    assert "Previous run" in text and "previous run" in text


def test_a_lever_takes_effect_on_reset():
    rc = render_page(customers=400)
    assert not rc.find(v.Alert).widgets
    (slider,) = [w for w in rc.find(v.Slider).widgets if w.label.startswith("Retention share")]
    slider.v_model = 0.9
    # The value shows beside the lever at all times, and the page says it waits for Reset.
    assert "Retention share: 0.90" in slider_labels(rc)
    assert "press Reset" in str(rc.find(v.Alert).widget.children)
    button(rc, "Reset").click()
    button(rc, "Step").click()
    assert "balanced, changed: retention share 90% instead of 50%. 90% of" in html(rc)
    assert not rc.find(v.Alert).widgets


def test_choosing_a_policy_moves_its_levers_and_the_run_card_names_it():
    rc = render_page(customers=400)
    assert "balanced (as the scenario writes it)" in html(rc)
    rc.find(v.Select).widget.v_model = "retention_focused"
    written = load_scenario("acquisition_vs_retention").policies["retention_focused"]
    share = written.allocation.retention_share
    assert f"Retention share: {share:.2f}" in slider_labels(rc)
    assert f"Referral reward: {written.referral_reward:g}" in slider_labels(rc)
    button(rc, "Reset").click()
    text = html(rc)
    assert "retention_focused (as the scenario writes it)" in text
    assert f"{share:.0%} of" in text


def test_mesa_internal_controls_are_not_on_the_page():
    rc = render_page(customers=400)
    labels = slider_labels(rc)
    assert not any("Interval" in label for label in labels)
    assert labels[0].startswith("Play speed: 8 months a second")
    checkboxes = [w.label for w in rc.find(v.Checkbox).widgets]
    assert "Use Threads" not in checkboxes and "Loyalty programme" in checkboxes
    assert not rc.find(v.Tab).widgets  # no "Page 0" tab


def test_every_visitor_has_a_market_of_their_own():
    # Two renders of the same page element stand for two visitors (two sessions).
    page = app.make_page(rng=SEED, customers=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, first = solara.render(solara.AppLayout(children=[page]), handle_error=False)
        _, second = solara.render(solara.AppLayout(children=[page]), handle_error=False)
    button(first, "Step").click()
    button(first, "Step").click()
    assert "month 2 of 120" in html(first)
    assert "month 0 of 120" in html(second)
    button(second, "Step").click()
    assert "month 1 of 120" in html(second) and "month 2 of 120" in html(first)


def test_the_play_clock_keeps_its_pace():
    clock = PlayClock(period=10, started=100.0, pace=8.0)
    assert clock.due(100.0) == 11  # the next period at once
    assert clock.due(101.0) == 19  # then eight a second
    assert clock.due(115.0) == 10 + 1 + 120
    assert clock.wait(11, 100.0) == pytest.approx(0.125)
    assert clock.wait(11, 100.2) == 0.0  # late: no waiting
    assert clock.wait(10, 100.0) == 0.0


def test_slider_values_are_written_with_their_step():
    scenario = load_scenario("acquisition_vs_retention")
    params = app.model_params(scenario, "acquisition_vs_retention")
    assert app.shown_value(params["retention_share"], 0.35) == "0.35"
    assert app.shown_value(params["price"], 50.0) == "50"
    assert app.shown_value(params["quality"], 0.7) == "0.70"
    assert app.shown_value(params["customers"], 12000) == "12,000"


def test_a_step_renders_quickly():
    rc = render_page()
    step = button(rc, "Step")
    step.click()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        step.click()
        times.append(time.perf_counter() - start)
    # Measured about 0.6 s on two busy cores; the bound catches a drawing that grows slow.
    assert np.median(times) < 3.0


@pytest.fixture
def stepped():
    model = app.DashboardMarket(rng=SEED, customers=500)
    for _ in range(8):
        model.step()
    return model


def test_figures_draw_with_and_without_a_previous_run(stepped):
    previous = charts.Run(stepped.timeseries(), "acquisition_heavy (previous run)", "")
    fresh = app.DashboardMarket(rng=SEED, customers=500)
    for model in (fresh, stepped):
        table, colors = model.timeseries(), model.firm_colors()
        for prev in (None, previous):
            figures = [
                charts.customers_figure(table, prev, colors),
                charts.flows_figure(table, prev),
                charts.over_time_figure(table, "profit", "profit", "Profit", prev, colors),
                charts.cumulative_profit_figure(table, prev, colors),
            ]
            assert all(isinstance(f, Figure) for f in figures)
        assert isinstance(charts.lifecycle_figure(table), Figure)
        layout = charts.network_layout(model.network)
        assert isinstance(charts.network_figure(layout, model.population, colors), Figure)


def test_timeseries_has_the_documented_keys(stepped):
    table = stepped.timeseries()
    assert list(table.columns[:5]) == ["policy", "replication", "period", "firm", "focal"]
    assert table["period"].max() == 8
    assert table["focal"].sum() == 8
    assert stepped.timeseries() is table  # cached until the next step


def test_key_numbers_compare_runs_at_the_same_period(stepped):
    current = charts.Run(stepped.timeseries(), "x", "")
    numbers = app.key_numbers(current, current)
    assert list(numbers.columns) == ["this run", "previous run"]
    assert (numbers["this run"] == numbers["previous run"]).all()


def test_network_picture_is_a_connected_neighbourhood(stepped):
    layout = charts.network_layout(stepped.network)
    assert len(layout.nodes) == charts.NETWORK_NODES
    assert layout.positions.shape == (charts.NETWORK_NODES, 2)
    assert len(layout.segments) >= charts.NETWORK_NODES - 1  # a breadth-first sample is connected
    again = charts.network_layout(stepped.network)
    assert np.array_equal(layout.positions, again.positions)


def test_fully_mixed_market_has_no_network_picture():
    model = RelationshipMarket(rng=SEED, customers=300, market__network__kind="none")
    assert charts.network_layout(model.network) is None
    colors = charts.firm_colors(list(model.config.policies), model.policy_name, model.firm_names)
    assert isinstance(charts.network_figure(None, model.population, colors), Figure)


def test_server_command_and_scenario_path(tmp_path):
    port = dashboard.free_port()
    assert 0 < port < 65536
    command = dashboard.command("127.0.0.1", port)
    assert command[1:4] == ["-m", "solara", "run"]
    assert command[4].endswith("app.py")
    assert "--host" in command and "127.0.0.1" in command and str(port) in command
    file = tmp_path / "mine.yaml"
    file.write_text("name: mine\n")
    assert dashboard.scenario_argument(str(file)) == str(file.resolve())
    assert dashboard.scenario_argument("acquisition_vs_retention") == "acquisition_vs_retention"
    assert dashboard.scenario_argument(None) is None


def test_views_are_drawn_once_per_period(stepped):
    views = stepped.views()
    assert set(views) == {
        "customers",
        "flows",
        "cumulative_profit",
        "profit",
        "satisfaction",
        "lifecycle",
        "network",
    }
    assert all(png.startswith(b"\x89PNG") for png in views.values())
    assert stepped.views() is views
    stepped.step()
    assert stepped.views() is not views


def test_the_previous_run_is_the_last_that_moved(stepped):
    second = app.DashboardMarket(rng=SEED, customers=500, retention_share=0.9)
    second.remember(stepped)
    assert second.previous_run.label == f"{stepped.policy_name} (previous run)"
    assert len(second.previous_run.table) == len(stepped.timeseries())
    third = app.DashboardMarket(rng=SEED, customers=500)
    third.remember(second)  # the second run never moved: keep comparing with the first
    assert third.previous_run is second.previous_run
    third.remember(app.DashboardMarket(rng=SEED, customers=500))  # only the first call counts
    assert third.previous_run is second.previous_run


def test_satisfaction_is_drawn_on_its_full_scale(stepped):
    drawn = market.figures(stepped, network=False)
    assert drawn["satisfaction"].axes[0].get_ylim() == (0.0, 1.0)


def test_the_run_card_names_what_departs_from_the_policy():
    same = app.DashboardMarket(rng=SEED, customers=300, policy="balanced", retention_share=0.5)
    assert same.changed_levers() == {}
    assert market.describe(same).startswith("balanced (as the scenario writes it). 50% of")
    moved = app.DashboardMarket(rng=SEED, customers=300, policy="balanced", loyalty=False)
    assert market.describe(moved).startswith(
        "balanced, changed: loyalty programme off instead of on."
    )
