"""One conformance test run over every bundled scenario, plus scenario-file mechanics."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from support.invariants import check_invariants

from simulation.errors import ScenarioError
from simulation.market.model import RelationshipMarket
from simulation.runs.runner import release
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, bundled_scenarios, load_scenario

BUNDLED = bundled_scenarios()
REQUIRED = {
    "acquisition_vs_retention",
    "loyalty_program",
    "word_of_mouth",
    "relationship_levels",
    "transactional_market",
    "price_war",
    "sceptical_market",
}


def test_every_required_scenario_is_bundled():
    assert {p.stem for p in BUNDLED} >= REQUIRED


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_conforms(path):
    text = path.read_text()
    assert text.startswith("#") and "What it teaches" in text  # a paragraph on its lesson
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert len(scenario.policies) >= 2, "a scenario compares policies"
    for policy in scenario.policies.values():
        assert policy.budget > 0
    small = apply_overrides(resize_market(scenario, 300), {"market.periods": 6})
    for policy in small.policies:
        model = RelationshipMarket(small, policy=policy, rng=3)
        while model.running:
            model.step()
            check_invariants(model)
        release(model)


def test_extends_merges_and_null_removes(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(
        yaml.safe_dump(
            {
                "extends": "acquisition_vs_retention",
                "market": {"customers": 500},
                "policies": {"balanced": None, "extra": {"level": "proactive"}},
            }
        )
    )
    scenario = load_scenario(child)
    assert scenario.name == "child"
    assert scenario.market.customers == 500
    assert scenario.market.periods == 120  # inherited
    assert list(scenario.policies) == ["acquisition_heavy", "retention_focused", "extra"]
    assert scenario.policies["extra"].allocation.personalisation > 0  # level expanded


def test_extends_loop_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ScenarioError, match="extends: loop"):
        load_scenario(tmp_path / "a.yaml")


def test_errors_name_file_path_value_and_what_is_allowed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "market:\n  customers: -5\n  behaviour: {switch_share: 1.5}\n  firm: []\n"
        "policies:\n  p: {budget: 10, allocation: {advertising: 0.5}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    lines = caught.value.problems
    assert all(line.startswith(str(bad)) for line in lines)
    text = "\n".join(lines)
    assert "market.customers: -5 is not allowed: Input should be greater than or equal to 1" in text
    assert "market.behaviour.switch_share: 1.5 is not allowed" in text
    assert "market.firm: unknown key; allowed keys:" in text and "firms" in text
    assert "policies.p.allocation" in text and "add up to 0.5" in text


def test_overrides_by_firm_name_and_unknown_paths():
    scenario = load_scenario("price_war")
    cheaper = apply_overrides(scenario, {"market.firms.Rival A.price": 30.0})
    assert cheaper.market.firms[1].price == 30.0
    with pytest.raises(ScenarioError, match="no field 'custmers'"):
        apply_overrides(scenario, {"market.custmers": 3})


def test_resizing_scales_budgets():
    scenario = load_scenario("acquisition_vs_retention")
    half = resize_market(scenario, 5000)
    for name, policy in scenario.policies.items():
        assert half.policies[name].budget == pytest.approx(policy.budget / 2)
    assert np.isclose(
        half.market.firms[1].strategy.budget, scenario.market.firms[1].strategy.budget / 2
    )
