"""A block given in part starts from its key's default, never from the block type's defaults.

The first table is built from the schema itself: every key whose default is a block that
differs from what the block type alone would give (``thank_you`` is
``Contact(unit_cost=0.10, satisfaction=0.02, strength=0.02)``, not ``Contact``'s zeros), and
for each, a file that restates one of its keys. Such a file must mean exactly the default.
The second table checks changed values, the alternatives (a policy's ``level`` or
``allocation``, a gamma's two parameterisations) and another distribution kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from simulation.errors import ScenarioError
from simulation.experiments.spec import ExperimentSpec
from simulation.scenario.extending import drop_alternatives
from simulation.scenario.fields import field_shape
from simulation.scenario.loading import load_scenario, set_path, validate
from simulation.scenario.schema import LEVEL_ALLOCATIONS, Policy, Scenario

ITEM = "<item>"  # a list or mapping item in a path


def blocks_with_defaults(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[Any]:
    """Every (path, default block) under ``model`` whose default is a model instance."""
    for name, field in model.model_fields.items():
        shape = field_shape(field)
        here = (*path, name)
        if isinstance(field.default, BaseModel):
            yield here, field.default
        if shape.model is not None:
            yield from blocks_with_defaults(shape.model, here)
        elif shape.item is not None and shape.item.model is not None:
            yield from blocks_with_defaults(shape.item.model, (*here, ITEM))


def non_trivial_rows(model: type[BaseModel]) -> list[tuple[tuple[str, ...], str, Any]]:
    """(path, key, default) for each key whose restating alone would not give the default."""
    rows = []
    for path, default in blocks_with_defaults(model):
        ways = {k for group in type(default).alternatives for k in group}
        for key in type(default).model_fields:
            if key in ways:
                continue  # one way of two: checked in the second table
            given = {key: default.model_dump()[key]}
            try:
                alone = type(default).model_validate(given)
            except ValidationError:
                alone = None
            if alone != default:
                rows.append((path, key, default))
    return rows


def nest(path: tuple[str, ...], block: dict[str, Any]) -> dict[str, Any]:
    """Scenario settings holding ``block`` at ``path`` (items: one firm, one policy)."""
    data: Any = block
    for i, part in reversed(list(enumerate(path))):
        if part == ITEM:
            continue
        if i + 1 < len(path) and path[i + 1] == ITEM:
            data = {"p": data} if part == "policies" else [{"name": "F", **data}]
        data = {part: data}
    return data


def pick(scenario: Any, path: tuple[str, ...]) -> Any:
    """The block at ``path`` of a validated scenario (first item of a list or mapping)."""
    value = scenario
    for part in path:
        if part == ITEM:
            value = value[0] if isinstance(value, list) else next(iter(value.values()))
        else:
            value = getattr(value, part)
    return value


ROWS = non_trivial_rows(Scenario)


def test_the_table_holds_every_block_that_was_found_wrong():
    found = {(".".join(p), k) for p, k, _ in ROWS}
    for expected in [
        ("market.tenure_effects.price_sensitivity", "enabled"),
        ("market.responses.thank_you", "unit_cost"),
        ("market.responses.personalisation", "unit_cost"),
        (f"market.firms.{ITEM}.strategy", "budget"),
        ("market.customer.satisfaction", "mean"),
        ("market.customer.purchase.transaction_rate", "dist"),
    ]:
        assert expected in found, expected
    assert len(ROWS) > 40  # every distribution and lever block, not a handful


@pytest.mark.parametrize(
    ("path", "key", "default"), ROWS, ids=[f"{'.'.join(p)}.{k}" for p, k, _ in ROWS]
)
def test_restating_one_key_of_a_block_means_its_default(path, key, default):
    scenario = validate(nest(path, {key: default.model_dump()[key]}))
    assert pick(scenario, path) == default


def test_experiment_files_have_no_block_defaults_of_their_own_to_lose():
    # Their nested defaults are the block types' own: nothing the fill rule could change.
    # If one is added, this test says to extend the tables above to experiment files.
    assert non_trivial_rows(ExperimentSpec) == []


CHANGED = {
    "a_switch_keeps_its_size": (
        {"market": {"tenure_effects": {"price_sensitivity": {"enabled": True}}}},
        lambda s: s.market.tenure_effects.price_sensitivity,
        {"enabled": True, "size": 0.15},
    ),
    "a_unit_cost_keeps_the_effects": (
        {"market": {"responses": {"thank_you": {"unit_cost": 0.2}}}},
        lambda s: s.market.responses.thank_you,
        {"unit_cost": 0.2, "satisfaction": 0.02, "strength": 0.02, "purchase_boost": 0.0},
    ),
    "a_firm_budget_keeps_its_level": (
        {"market": {"firms": [{"name": "F", "strategy": {"budget": 5000}}]}},
        lambda s: s.market.firms[0].strategy,
        {"level": "reactive", "budget": 5000.0, "allocation": LEVEL_ALLOCATIONS["reactive"]},
    ),
    "a_firm_allocation_replaces_its_level": (
        {"market": {"firms": [{"name": "F", "strategy": {"allocation": {"loyalty": 1.0}}}]}},
        lambda s: s.market.firms[0].strategy,
        {"level": None, "budget": 20000.0, "allocation": {"loyalty": 1.0}},
    ),
    "a_firm_level_replaces_its_allocation": (
        {"market": {"firms": [{"name": "F", "strategy": {"level": "proactive"}}]}},
        lambda s: s.market.firms[0].strategy,
        {"level": "proactive", "allocation": LEVEL_ALLOCATIONS["proactive"]},
    ),
    "a_distribution_mean_keeps_its_kind_and_sd": (
        {"market": {"customer": {"satisfaction": {"mean": 0.8}}}},
        lambda s: s.market.customer.satisfaction,
        {"dist": "beta", "mean": 0.8, "sd": 0.12},
    ),
    "another_distribution_kind_replaces_the_default": (
        {"market": {"customer": {"satisfaction": {"dist": "uniform", "low": 0.2, "high": 0.9}}}},
        lambda s: s.market.customer.satisfaction,
        {"dist": "uniform", "low": 0.2, "high": 0.9},
    ),
    "a_gamma_by_shape_and_rate_drops_the_default_mean_and_sd": (
        {"market": {"customer": {"base_churn_rate": {"shape": 2.0, "rate": 80.0}}}},
        lambda s: s.market.customer.base_churn_rate,
        {"dist": "gamma", "mean": None, "sd": None, "shape": 2.0, "rate": 80.0},
    ),
    "a_gamma_sd_keeps_the_default_mean": (
        {"market": {"customer": {"purchase": {"transaction_rate": {"sd": 0.3}}}}},
        lambda s: s.market.customer.purchase.transaction_rate,
        {"dist": "gamma", "mean": 1.0, "sd": 0.3, "shape": None, "rate": None},
    ),
}


@pytest.mark.parametrize("name", list(CHANGED))
def test_a_changed_key_changes_that_key_only(name):
    data, block, expected = CHANGED[name]
    found = block(validate(data)).model_dump()
    for key, value in expected.items():
        if isinstance(value, dict):  # an allocation: the levers named, the rest 0
            assert {k: v for k, v in found[key].items() if v} == value, key
        else:
            assert found[key] == value, key


# --------------------------------------------------------------------------- level or split
def test_a_level_and_another_allocation_are_one_clear_error():
    data = {"policies": {"p": {"level": "proactive", "allocation": {"advertising": 1.0}}}}
    with pytest.raises(ScenarioError) as caught:
        validate(data, "s.yaml")
    (line,) = caught.value.problems
    assert line.startswith("s.yaml: policies.p.allocation: ")
    assert "level 'proactive' is given too" in line and "not both" in line


@pytest.mark.parametrize("level", list(LEVEL_ALLOCATIONS))
def test_a_level_with_its_own_allocation_loads_again(level):
    """A scenario written with results holds both; it must mean the same when read back."""
    policy = Policy(level=level)
    again = Policy.model_validate(policy.model_dump())
    assert again == policy


@pytest.mark.parametrize(
    ("path", "value", "level", "advertising"),
    [
        ("policies.reactive.level", "proactive", "proactive", 0.55),
        ("policies.reactive.allocation", {"advertising": 0.5, "loyalty": 0.5}, None, 0.5),
        ("policies.reactive.level", None, None, 0.85),  # null drops nothing else
    ],
)
def test_setting_one_way_of_a_split_drops_the_other(path, value, level, advertising):
    data = load_scenario("relationship_levels").model_dump()
    set_path(data, path, value)
    drop_alternatives(data, path, value)
    policy = validate(data).policies["reactive"]
    assert policy.level == level and policy.allocation.advertising == advertising


def test_drop_alternatives_finds_firms_by_name_and_distributions_by_kind():
    data = load_scenario("acquisition_vs_retention").model_dump()
    drop_alternatives(data, "market.firms.Rival A.strategy.allocation.loyalty", 1.0)
    drop_alternatives(data, "market.customer.base_churn_rate.shape", 2.0)
    assert data["market"]["firms"][1]["strategy"]["level"] is None
    assert data["market"]["firms"][0]["strategy"]["level"] == "reactive"
    churn = data["market"]["customer"]["base_churn_rate"]
    assert churn["mean"] is None and churn["sd"] is None
    drop_alternatives(data, "market.no.such.path", 1.0)  # left alone, no error


# --------------------------------------------------------------------------- extends
def test_a_derived_file_saying_it_another_way_drops_the_inherited_way(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "policies:\n  p: {level: proactive, budget: 1000}\n"
        "market:\n  customer:\n    base_churn_rate: {dist: gamma, mean: 0.03, sd: 0.02}\n"
    )
    (tmp_path / "mine.yaml").write_text(
        "extends: base.yaml\n"
        "policies:\n  p: {allocation: {advertising: 0.5, loyalty: 0.5}}\n"
        "market:\n  customer:\n    base_churn_rate: {shape: 2, rate: 80}\n"
    )
    scenario = load_scenario(tmp_path / "mine.yaml")
    policy = scenario.policies["p"]
    assert policy.level is None and policy.budget == 1000.0
    assert policy.allocation.loyalty == 0.5
    churn = scenario.market.customer.base_churn_rate
    assert (churn.mean, churn.sd, churn.shape, churn.rate) == (None, None, 2.0, 80.0)


def test_every_bundled_scenario_still_loads_and_reads_back_the_same():
    from simulation.scenario.loading import bundled_scenarios

    for path in bundled_scenarios():
        scenario = load_scenario(path)
        assert validate(scenario.model_dump(mode="json")) == scenario, path.name
