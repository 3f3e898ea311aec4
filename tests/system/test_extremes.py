"""Extreme but valid scenarios run: every period keeps its invariants, and the edge shows.

Each case is the default scenario shrunk to a small market with one extreme setting: no
advertising, no retention budget, no budget at all, certain churn, no referrals, one customer,
one firm, one period, a price of zero, and others at the ends of their ranges. Two of them also
go through the whole ``relsim run`` (tables, plots, report), where degenerate tables show up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from support.invariants import run_checked

from simulation.cli import main
from simulation.market.model import RelationshipMarket
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario
from simulation.scenario.schema import Scenario

FIRMS = ("Focal", "Rival A", "Rival B")
CERTAIN_CHURN = {"dist": "constant", "value": 1000.0}  # a monthly rate: churn probability 1


def small() -> Scenario:
    """The default scenario with 300 customers over 12 periods."""
    scenario = resize_market(load_scenario("acquisition_vs_retention"), 300)
    return apply_overrides(scenario, {"market.periods": 12, "replications": 2})


def every_policy(key: str, value: Any) -> dict[str, Any]:
    """The same setting for every policy of the small scenario and every rival's strategy."""
    paths = {f"policies.{p}.{key}": value for p in small().policies}
    paths.update({f"market.firms.{i}.strategy.{key}": value for i in range(1, len(FIRMS))})
    return paths


Books = list[dict[str, Any]]  # one firm's books per period


def books_per_period(scenario: Scenario, policy: str, seed: int) -> dict[str, Books]:
    """Run with the invariant checks of test_properties and return every firm's books."""
    model = RelationshipMarket(scenario, policy=policy, rng=seed, customer_agents=False)
    history: dict[str, Books] = {f.name: [] for f in model.firm_agents}

    def record(market: RelationshipMarket) -> None:
        for firm in market.firm_agents:
            history[firm.name].append(firm.books._asdict())

    run_checked(model, after_step=record)
    assert all(len(rows) == scenario.market.periods for rows in history.values())
    return history


def all_rows(history: dict[str, Books]) -> Books:
    return [row for rows in history.values() for row in rows]


def no_advertising(h: dict[str, Books]) -> None:
    assert all(r["acquired_advertising"] == 0 and r["cost_advertising"] == 0 for r in all_rows(h))


def no_retention_spend(h: dict[str, Books]) -> None:
    assert all(r["retention_cost"] == 0 for r in h["Focal"])
    assert sum(r["customers"] for r in h["Focal"]) > 0, "the focal firm should keep customers"


def no_marketing_spend(h: dict[str, Books]) -> None:
    for row in all_rows(h):
        assert row["cost_advertising"] == 0 and row["retention_cost"] == 0
        assert row["acquired_advertising"] == 0


def everybody_leaves(h: dict[str, Books]) -> None:
    rows = all_rows(h)
    assert all(r["churned"] == r["customers_start"] for r in rows)
    assert sum(r["churned"] for r in rows) > 0


def no_referrals(h: dict[str, Books]) -> None:
    assert all(r["acquired_referral"] == 0 and r["referrals"] == 0 for r in all_rows(h))


def one_customer(h: dict[str, Books]) -> None:
    for rows in zip(*h.values(), strict=True):
        assert sum(r["customers"] for r in rows) <= 1


def alone_in_the_market(h: dict[str, Books]) -> None:
    assert list(h) == ["Solo"]
    for row in h["Solo"]:
        assert row["churned_to_rival"] == 0 and row["acquired_from_rival"] == 0
        assert row["market_share"] == (1.0 if row["customers"] else 0.0)


def one_period(h: dict[str, Books]) -> None:
    assert all(len(rows) == 1 for rows in h.values())


def given_away(h: dict[str, Books]) -> None:
    assert all(r["revenue"] == 0 and r["cost_discount"] == 0 for r in h["Focal"])
    assert sum(r["cost_product"] for r in h["Focal"]) > 0, "customers still take the goods"


def empty_at_start(h: dict[str, Books]) -> None:
    assert all(rows[0]["customers_start"] == 0 for rows in h.values())


def nobody_buys(h: dict[str, Books]) -> None:
    assert all(r["revenue"] == 0 and r["cost_product"] == 0 for r in all_rows(h))


def anything(h: dict[str, Books]) -> None:
    """The invariants of every period are the whole test."""


CASES: dict[str, tuple[dict[str, Any], Callable[[dict[str, Books]], None]]] = {
    "zero_advertising": (
        every_policy("allocation", {"thank_you": 0.5, "loyalty": 0.5}),
        no_advertising,
    ),
    "zero_retention_budget": (every_policy("allocation", {"advertising": 1.0}), no_retention_spend),
    "zero_budget": (every_policy("budget", 0.0), no_marketing_spend),
    "churn_of_1": ({"market.customer.base_churn_rate": CERTAIN_CHURN}, everybody_leaves),
    "churn_rate_of_1_per_month": (
        {"market.customer.base_churn_rate": {"dist": "constant", "value": 1.0}},
        anything,
    ),
    "no_churn": ({"market.customer.base_churn_rate": {"dist": "constant", "value": 0.0}}, anything),
    "no_word_of_mouth": ({"market.responses.word_of_mouth.enabled": False}, no_referrals),
    "nobody_refers": (
        {"market.customer.referral_tendency": {"dist": "constant", "value": 0.0}},
        no_referrals,
    ),
    "one_customer": ({"market.customers": 1}, one_customer),
    "one_firm": ({"market.firms": [{"name": "Solo"}]}, alone_in_the_market),
    "horizon_of_one_period": ({"market.periods": 1}, one_period),
    "price_of_zero": ({"market.firms.0.price": 0.0}, given_away),
    "every_price_zero": ({f"market.firms.{i}.price": 0.0 for i in range(3)}, anything),
    "no_customers_at_start": ({"market.initial_penetration": 0.0}, empty_at_start),
    "everybody_a_customer_at_start": ({"market.initial_penetration": 1.0}, anything),
    "nobody_buys": (
        {"market.customer.purchase": {"process": "bernoulli", "probability": 0.0}},
        nobody_buys,
    ),
    "all_transactional": ({"market.customer.transactional_share": 1.0}, anything),
    "satisfaction_0": (
        {"market.customer.satisfaction": {"dist": "constant", "value": 0.0}},
        anything,
    ),
    "satisfaction_1": (
        {"market.customer.satisfaction": {"dist": "constant", "value": 1.0}},
        anything,
    ),
    "quality_0_and_1": ({"market.firms.0.quality": 0.0, "market.firms.1.quality": 1.0}, anything),
    "yearly_periods": ({"market.period_months": 12.0}, anything),
    "no_discounting": ({"market.discount_rate": 0.0}, anything),
    "huge_budget": (every_policy("budget", 1e9), anything),
    "everyone_switches": (
        {"market.behaviour.switch_share": 1.0, "market.behaviour.reentry_rate": 0.0},
        anything,
    ),
    "fully_connected_referrals": ({"market.network.kind": "none"}, anything),
    "dense_scale_free_network": (
        {"market.network": {"kind": "scale_free", "mean_degree": 200.0}},
        anything,
    ),
    "value_targeting_to_the_top_1_percent": (
        every_policy(
            "targeting",
            {
                "by": "clv",
                "top_share": 0.01,
                "serve_cut_share": 1.0,
                "serve_cut": 1.0,
                "quality_drop": 1.0,
            },
        ),
        anything,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_extreme_market_runs_with_every_invariant(name):
    overrides, check = CASES[name]
    scenario = apply_overrides(small(), overrides, source=name)
    for seed, policy in enumerate(scenario.policies):
        check(books_per_period(scenario, policy, seed))


def run_folder(tmp_path, data: dict[str, Any]) -> dict[str, Any]:
    """``relsim run`` on a scenario file in this process; returns the manifest."""
    path = tmp_path / "extreme.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert (out / "report.md").read_text().startswith("#")
    assert list((out / "plots").glob("*.png"))
    return json.loads((out / "manifest.json").read_text())


def test_the_smallest_market_goes_through_the_whole_run(tmp_path):
    """One customer, one firm, one period, one replication, one policy: tables and report."""
    manifest = run_folder(
        tmp_path,
        {
            "name": "smallest",
            "market": {"customers": 1, "periods": 1, "firms": [{"name": "Solo"}]},
            "policies": {"only": {"budget": 0.0}},
            "replications": 1,
        },
    )
    assert manifest["complete"] and manifest["customers"] == 1 and manifest["periods"] == 1


def test_a_market_with_nothing_to_earn_goes_through_the_whole_run(tmp_path):
    """Free goods, no budget, certain churn, no referrals, nobody at the start: it still runs."""
    manifest = run_folder(
        tmp_path,
        {
            "extends": "acquisition_vs_retention",
            "name": "nothing_to_earn",
            "market": {
                "customers": 200,
                "periods": 3,
                "initial_penetration": 0.0,
                "customer": {"base_churn_rate": CERTAIN_CHURN},
                "responses": {"word_of_mouth": {"enabled": False}},
                "firms": [{"name": n, "price": 0.0} for n in FIRMS],
            },
            "policies": {p: {"budget": 0.0} for p in small().policies},
            "replications": 2,
        },
    )
    assert manifest["complete"] and manifest["replications"] == 2
