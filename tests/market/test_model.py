"""Behaviour of the market model: invariants, Mesa integration, and the switchable effects.

Each phase's own rules are tested in ``tests/market/phases/``.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from support.invariants import check_invariants

from simulation.market.agents import Customer, Firm
from simulation.market.model import FIRM_REPORTERS, RelationshipMarket
from simulation.runs.runner import release, run_scenario
from simulation.scenario.controls import with_controls
from simulation.scenario.loading import apply_overrides, load_scenario


@pytest.mark.parametrize("policy", ["acquisition_heavy", "balanced", "retention_focused"])
def test_invariants_hold_every_period(small_scenario, policy):
    model = RelationshipMarket(small_scenario, policy=policy, rng=5)
    while model.running:
        model.step()
        check_invariants(model)
    assert model.steps == small_scenario.market.periods
    release(model)


def test_customers_are_mesa_agents_viewing_the_arrays(small_scenario):
    model = RelationshipMarket(small_scenario, rng=1)
    customers = model.agents_by_type[Customer]
    assert len(customers) == small_scenario.market.customers
    assert len(model.agents_by_type[Firm]) == 3
    model.step()
    first = next(iter(customers))
    first.satisfaction = 0.25
    assert model.population.satisfaction[first.row] == pytest.approx(0.25)
    mean = customers.agg("satisfaction", np.mean)
    assert mean == pytest.approx(float(model.population.satisfaction.mean()), rel=1e-5)
    with_firm = customers.select(lambda c: c.firm is not None)
    assert len(with_firm) == int((model.population.firm < 3).sum())
    release(model)


def test_the_collector_records_what_mesas_own_records(small_scenario):
    """Reading a firm's books in one call changes none of the DataCollector's records."""
    model = RelationshipMarket(small_scenario, policy="balanced", rng=2)
    own = model.datacollector
    plain = mesa.DataCollector(
        model_reporters=dict(own.model_reporters),
        agenttype_reporters={Firm: FIRM_REPORTERS},
    )
    for _ in range(3):
        model.step()
        plain.collect(model)
    assert own.agenttype_reporters[Firm] == FIRM_REPORTERS
    pd.testing.assert_frame_equal(
        own.get_agenttype_vars_dataframe(Firm), plain.get_agenttype_vars_dataframe(Firm)
    )
    pd.testing.assert_frame_equal(own.get_model_vars_dataframe(), plain.get_model_vars_dataframe())
    release(model)


def test_same_seed_same_tables(small_scenario):
    a = run_scenario(small_scenario, replications=2)
    b = run_scenario(small_scenario, replications=2)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    c = run_scenario(small_scenario, replications=2, seed=small_scenario.seed + 1)
    assert not np.allclose(a.summary["npv"], c.summary["npv"])


def test_workers_do_not_change_results(small_scenario):
    one = run_scenario(small_scenario, replications=2, jobs=1)
    two = run_scenario(small_scenario, replications=2, jobs=2)
    pd.testing.assert_frame_equal(one.summary, two.summary)


def test_policies_meet_the_same_customers(small_scenario):
    """Paired replications: the initial market is identical whatever the policy."""
    a = RelationshipMarket(small_scenario, policy="acquisition_heavy", rng=9)
    b = RelationshipMarket(small_scenario, policy="retention_focused", rng=9)
    np.testing.assert_array_equal(a.population.price_sensitivity, b.population.price_sensitivity)
    np.testing.assert_array_equal(a.population.firm, b.population.firm)
    release(a)
    release(b)


def test_runs_under_mesa_batch_run():
    import inspect

    import mesa

    # Mesa 3.5 seeds batch runs with rng=[...]; 3.3 passes seeds through the parameters.
    parameters = {"customers": 200, "periods": 6, "retention_share": [0.2, 0.8]}
    if "rng" in inspect.signature(mesa.batch_run).parameters:
        seeding = {"rng": [7]}
    else:
        seeding = {"iterations": 1}
        parameters["rng"] = 7
    results = mesa.batch_run(
        RelationshipMarket,
        parameters=parameters,
        max_steps=6,
        number_processes=1,
        display_progress=False,
        **seeding,
    )
    table = pd.DataFrame(results)
    assert set(table["retention_share"]) == {0.2, 0.8}
    assert table["focal_customers"].notna().all()
    assert (table.groupby("retention_share")["Step"].max() >= 5).all()  # 3.3 counts from 0


@pytest.mark.parametrize(
    "effect", ["price_sensitivity", "cost_to_serve", "spend", "referrals", "expectations"]
)
def test_each_tenure_effect_is_a_switch(small_scenario, effect, focal_books):
    off = apply_overrides(small_scenario, {f"market.tenure_effects.{effect}.enabled": False})
    on = focal_books(small_scenario, 8, "retention_focused")
    without = focal_books(off, 8, "retention_focused")
    columns = ["profit", "mean_satisfaction", "customers", "cost_service", "acquired_referral"]
    assert not np.allclose(on[columns].to_numpy(float), without[columns].to_numpy(float))


def test_retention_share_control_keeps_proportions():
    scenario = load_scenario("acquisition_vs_retention")
    changed = with_controls(scenario, "balanced", {"retention_share": 0.8})
    allocation = changed.policies["balanced"].allocation
    assert allocation.retention_share == pytest.approx(0.8)
    before = scenario.policies["balanced"].allocation
    assert allocation.thank_you / allocation.loyalty == pytest.approx(
        before.thank_you / before.loyalty
    )


def test_loyalty_control_switches_a_programme_on_and_off():
    scenario = load_scenario("acquisition_vs_retention")
    on = with_controls(scenario, "acquisition_heavy", {"loyalty": True})
    allocation = on.policies["acquisition_heavy"].allocation
    assert allocation.loyalty == pytest.approx(0.10)
    assert allocation.advertising == pytest.approx(0.9 * 0.9)
    off = with_controls(scenario, "balanced", {"loyalty": False})
    assert off.policies["balanced"].allocation.loyalty == 0
    assert off.policies["balanced"].allocation.retention_share == pytest.approx(
        scenario.policies["balanced"].allocation.retention_share
    )


def test_an_interrupt_inside_a_compiled_period_stays_an_interrupt(small_scenario, monkeypatch):
    """A signal handled while numba boxes a kernel's results reaches Python as a SystemError
    caused by the KeyboardInterrupt (as CPython reports it); the step raises the interrupt,
    so that a sweep stops rather than records a failed run. Other SystemErrors pass."""
    from simulation.market import period

    model = RelationshipMarket(small_scenario, rng=5, customer_agents=False)

    def interrupted(market: RelationshipMarket) -> None:
        # numba's unboxing may fail several times over before the dispatcher returns.
        inner = SystemError("_numba_unpickle returned a result with an exception set")
        inner.__cause__ = KeyboardInterrupt("signal 15")
        raise SystemError("whole_period returned a result with an exception set") from inner

    monkeypatch.setattr(period, "run", interrupted)
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        model.step()

    def broken(market: RelationshipMarket) -> None:
        raise SystemError("something else")

    monkeypatch.setattr(period, "run", broken)
    release(model)
    model = RelationshipMarket(small_scenario, rng=5, customer_agents=False)  # not mid-step
    with pytest.raises(SystemError, match="something else"):
        model.step()
    release(model)
