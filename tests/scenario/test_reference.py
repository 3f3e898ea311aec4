"""The key reference: generated from the schema, committed, and never out of date."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field

from simulation.cli import main
from simulation.experiments.spec import ExperimentSpec
from simulation.scenario.reference import (
    REFERENCE_PATH,
    REGENERATE,
    collect_keys,
    reference_markdown,
    select_keys,
)
from simulation.scenario.schema import Scenario, Strict


def test_the_committed_reference_is_current():
    fresh = reference_markdown()
    committed = REFERENCE_PATH.read_text(encoding="utf-8") if REFERENCE_PATH.exists() else ""
    assert committed == fresh, (
        f"{REFERENCE_PATH.name} is out of date with the schema; regenerate it with "
        f"`{REGENERATE}` and commit the result"
    )


def _leaf_paths(model, prefix=""):
    """Every dotted path to a plain value, found independently of the generator."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        inner = getattr(field.annotation, "model_fields", None)
        if inner is not None:
            yield from _leaf_paths(field.annotation, path)


@pytest.mark.parametrize("model", [Scenario, ExperimentSpec], ids=["scenario", "experiment"])
def test_every_key_of_the_schema_is_in_the_reference(model):
    text = reference_markdown()
    paths = {k.path for k in collect_keys(model)}
    for path in _leaf_paths(model):
        assert path in paths
        assert f"`{path}`" in text


class Toy(Strict):
    """A toy block.

    More about it.
    """

    rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.25, description="a rate", json_schema_extra={"unit": "per month", "source": "Ref 2007"}
    )
    kind: Literal["a", "b"] = "a"
    count: Annotated[int, Field(gt=0, lt=10)] | None = None
    label: str


class Holder(Strict):
    """Holds a toy."""

    toy: Toy = Toy(rate=0.5, label="x")
    toys: dict[str, Toy] = Field(default_factory=dict)


def test_keys_read_meaning_unit_source_range_and_nested_defaults():
    keys = {k.path: k for k in collect_keys(Holder)}
    rate = keys["toy.rate"]
    assert (rate.unit, rate.source, rate.meaning) == ("per month", "Ref 2007", "a rate")
    assert rate.allowed == "0 ≤ x ≤ 1" and rate.type == "number"
    assert rate.default == "0.5"  # the block's default instance, not the field's own 0.25
    assert keys["toy.kind"].allowed == "a, b" and keys["toy.kind"].type == "choice"
    assert keys["toy.count"].type == "integer or null" and keys["toy.count"].allowed == "0 < x < 10"
    assert keys["toy.label"].default == "x"
    assert keys["toys.<name>.label"].default == "required"
    assert keys["toys.<name>.rate"].default == "0.25"
    assert keys["toy"].block and keys["toy"].meaning == "A toy block."
    assert keys["toys.<name>.rate"].parent == "toys"
    assert "More about it." in reference_markdown(Holder, Holder)


def test_select_keys_finds_a_block_a_named_item_and_a_distribution_parameter():
    behaviour = select_keys("market.behaviour")
    assert behaviour[0].path == "market.behaviour" and behaviour[0].block
    assert all(k.path.startswith("market.behaviour") for k in behaviour)
    price = select_keys("market.firms.Rival A.price")
    assert [k.path for k in price] == ["market.firms.<name>.price"]
    mean = [k.path for k in select_keys("market.customer.base_churn_rate.mean")]
    assert mean[0] == "market.customer.base_churn_rate"
    assert "distributions.beta.mean" in mean
    assert [k.path for k in select_keys("design.kind", experiment=True)] == ["design.kind"]


def test_relsim_keys_prints_a_table(capsys, monkeypatch):
    from simulation import cli

    monkeypatch.setattr(cli.out, "width", 250)  # a wide terminal: no path is folded
    assert main(["keys", "market.network"]) == 0
    out = capsys.readouterr().out
    assert "market.network.mean_degree" in out and "small_world" in out
    assert "market.behaviour" not in out


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["keys", "market.behavior"],
            ["'market.behavior' is not a scenario key", "market.behaviour"],
        ),
        (["keys", "design.kind"], ["relsim keys --experiment design.kind"]),
        (["keys", "zzz"], ["top-level keys: name, description, market"]),
    ],
)
def test_an_unknown_path_is_one_line_with_the_closest_paths(capsys, argv, fragments):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: keys:")
    for fragment in fragments:
        assert fragment in lines[0]
    assert captured.out == ""
