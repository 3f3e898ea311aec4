"""A derived scenario never silently means something else: named lists merge by name.

Each test writes a small file that ``extends:`` a bundled scenario and checks what the
resolved scenario holds, or which one-line error it gives, or what ``relsim validate`` says
about the structure it changes.
"""

from __future__ import annotations

import pytest

from simulation.cli import main
from simulation.errors import ScenarioError
from simulation.scenario.extending import merge_derived, replacing
from simulation.scenario.loading import load_scenario, structure_note

BASE = "acquisition_vs_retention.yaml"


def derived(tmp_path, body: str, name: str = "mine.yaml"):
    path = tmp_path / name
    path.write_text(f"extends: {BASE}\n{body}")
    return path


def firms(scenario):
    return [(f.name, f.price, f.quality) for f in scenario.market.firms]


def validate_output(path, capsys) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_naming_one_firm_changes_that_firm_only(tmp_path, capsys):
    # The five-line file that used to replace all three firms by one (a monopoly).
    path = derived(tmp_path, "market:\n  firms:\n    - name: Rival A\n      price: 40\n")
    scenario = load_scenario(path)
    inherited = load_scenario(BASE.removesuffix(".yaml"))
    assert firms(scenario) == [
        ("Focal", 50.0, 0.70),
        ("Rival A", 40.0, 0.68),  # the price changed, the quality is inherited
        ("Rival B", 52.0, 0.72),
    ]
    assert scenario.focal == inherited.focal
    assert scenario.market.firms[2] == inherited.market.firms[2]
    code, out, err = validate_output(path, capsys)
    assert code == 0 and err == ""
    assert "ok" in out and "note" not in out  # the structure is unchanged: nothing to say


def test_a_new_name_adds_a_firm_after_the_inherited_ones(tmp_path, capsys):
    path = derived(tmp_path, "market:\n  firms: [{name: Newco, price: 45}]\n")
    scenario = load_scenario(path)
    assert [f.name for f in scenario.market.firms] == ["Focal", "Rival A", "Rival B", "Newco"]
    assert scenario.market.firms[3].price == 45.0
    code, out, _ = validate_output(path, capsys)
    assert code == 0
    notes = [line for line in out.splitlines() if "note:" in line]
    assert len(notes) == 1
    assert f"changes the structure of {BASE}: firms added: Newco" in notes[0]


def test_remove_drops_an_inherited_firm_and_validate_says_so(tmp_path, capsys):
    path = derived(tmp_path, "market:\n  firms: [{name: Rival B, remove: true}]\n")
    assert [f.name for f in load_scenario(path).market.firms] == ["Focal", "Rival A"]
    _, out, _ = validate_output(path, capsys)
    assert "firms removed: Rival B" in out


def test_replace_takes_the_list_as_it_stands(tmp_path, capsys):
    path = derived(
        tmp_path,
        "market:\n  firms: !replace\n    - {name: Rival A, price: 40}\n    - name: Focal\n",
    )
    scenario = load_scenario(path)
    assert firms(scenario) == [("Rival A", 40.0, 0.70), ("Focal", 50.0, 0.70)]
    _, out, _ = validate_output(path, capsys)
    note = next(line for line in out.splitlines() if "note:" in line)
    assert "firms removed: Rival B" in note
    assert "firms reordered: Rival A, Focal (was Focal, Rival A, Rival B)" in note
    assert "focal firm 'Rival A' (was 'Focal')" in note


def test_firms_merge_into_the_parents_own_list(tmp_path):
    # price_war lists its firms itself; a derived file changes one of them.
    path = tmp_path / "war.yaml"
    path.write_text("extends: price_war.yaml\nmarket:\n  firms: [{name: Rival B, price: 40}]\n")
    parent = load_scenario("price_war")
    scenario = load_scenario(path)
    assert firms(scenario)[:2] == firms(parent)[:2]
    assert scenario.market.firms[2].price == 40.0
    assert scenario.market.firms[2].strategy == parent.market.firms[2].strategy


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            "market:\n  firms: [{price: 40}]\n",
            [
                "market.firms.0",
                "{'price': 40}",
                "needs a name",
                "Focal, Rival A, Rival B",
                "!replace",
            ],
        ),
        (
            "market:\n  firms: [{name: Newco}, {name: Newco, price: 3}]\n",
            ["market.firms", "'Newco' is given twice"],
        ),
        (
            "market:\n  firms: [{name: Rival C, remove: true}]\n",
            ["market.firms.Rival C.remove", "nothing named 'Rival C' is inherited", "Rival B"],
        ),
        (
            "market:\n  firms: [{name: Rival B, remove: true, price: 3}]\n",
            ["market.firms.Rival B", "{name: Rival B, remove: true} and nothing else"],
        ),
        (
            "policies: {balance: null}\n",
            ["policies.balance", "null drops an inherited entry", "acquisition_heavy, balanced"],
        ),
        ("market: {customers: !replace 5}\n", ["not valid YAML", "!replace goes before a list"]),
    ],
    ids=["no_name", "twice", "remove_unknown", "remove_with_settings", "drop_unknown", "scalar"],
)
def test_mistakes_in_a_derived_file_are_one_line_each(tmp_path, capsys, body, fragments):
    path = derived(tmp_path, body)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert line.startswith(str(path))
    for fragment in fragments:
        assert fragment in line
    code, out, err = validate_output(path, capsys)
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1


def test_policies_merge_by_name_and_replace_is_explicit(tmp_path, capsys):
    inherited = load_scenario(BASE.removesuffix(".yaml")).policies
    path = derived(tmp_path, "policies:\n  balanced: {budget: 5000}\n  extra: {level: basic}\n")
    policies = load_scenario(path).policies
    assert list(policies) == [*inherited, "extra"]
    assert policies["balanced"].budget == 5000
    assert policies["balanced"].allocation == inherited["balanced"].allocation
    assert policies["retention_focused"] == inherited["retention_focused"]
    _, out, _ = validate_output(path, capsys)
    assert "policies added: extra" in out

    path = derived(tmp_path, "policies: !replace\n  only: {level: basic}\n", "only.yaml")
    assert list(load_scenario(path).policies) == ["only"]
    _, out, _ = validate_output(path, capsys)
    assert "policies removed: acquisition_heavy, balanced, retention_focused" in out


def test_nested_blocks_merge_and_a_replaced_block_starts_afresh(tmp_path):
    inherited = load_scenario(BASE.removesuffix(".yaml")).policies["balanced"]
    path = derived(
        tmp_path,
        "policies:\n"
        "  balanced:\n"
        "    allocation: !replace {advertising: 0.6, loyalty: 0.4}\n"
        "    targeting: {by: clv}\n"
        "market:\n"
        "  firms: [{name: Focal, strategy: {budget: 100}}]\n",
    )
    scenario = load_scenario(path)
    balanced = scenario.policies["balanced"]
    assert balanced.allocation.advertising == 0.6 and balanced.allocation.loyalty == 0.4
    assert balanced.allocation.personalisation == 0.0  # replaced, not merged
    assert balanced.targeting.by == "clv" and balanced.budget == inherited.budget
    assert scenario.market.firms[0].strategy.budget == 100
    assert [f.name for f in scenario.market.firms] == ["Focal", "Rival A", "Rival B"]


def test_another_distribution_kind_replaces_the_inherited_parameters(tmp_path):
    parent = tmp_path / "parent.yaml"
    parent.write_text("market:\n  customer:\n    satisfaction: {dist: beta, mean: 0.7, sd: 0.1}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\nmarket: {customer: {satisfaction: {sd: 0.05}}}\n")
    satisfaction = load_scenario(child).market.customer.satisfaction
    assert (satisfaction.dist, satisfaction.mean, satisfaction.sd) == ("beta", 0.7, 0.05)
    child.write_text(
        "extends: parent.yaml\nmarket: {customer: {satisfaction: {dist: constant, value: 0.6}}}\n"
    )
    satisfaction = load_scenario(child).market.customer.satisfaction
    assert (satisfaction.dist, satisfaction.value) == ("constant", 0.6)  # no stray mean or sd


def test_overrides_by_firm_name_still_work_on_a_derived_file(tmp_path):
    path = derived(tmp_path, "market:\n  firms: [{name: Newco, price: 45}]\n")
    scenario = load_scenario(
        path, {"market.firms.Newco.price": 40, "market.firms.Rival A.price": 41}
    )
    assert [f.price for f in scenario.market.firms] == [50.0, 41.0, 52.0, 40.0]


def test_a_file_without_extends_means_exactly_what_it_says(tmp_path):
    path = tmp_path / "own.yaml"
    path.write_text("market:\n  firms: !replace [{name: Solo}]\n")
    assert [f.name for f in load_scenario(path).market.firms] == ["Solo"]
    path.write_text("market:\n  firms: [{name: Solo}]\n")
    assert [f.name for f in load_scenario(path).market.firms] == ["Solo"]
    assert structure_note(path) is None


def test_merge_derived_from_python_uses_the_same_rules():
    base = {"market": {"customers": 100}}
    merged = merge_derived(base, {"market": {"firms": [{"name": "Rival A", "price": 1}]}}, "x")
    assert [f["name"] for f in merged["market"]["firms"]] == ["Focal", "Rival A", "Rival B"]
    assert merged["market"]["customers"] == 100
    merged = merge_derived(base, {"market": {"firms": replacing([{"name": "Solo"}])}}, "x")
    assert merged["market"]["firms"] == [{"name": "Solo"}]
    assert type(merged["market"]["firms"]) is list  # no marker is left behind
