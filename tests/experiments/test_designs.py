"""Experiment files and designs: sizes, bounds, reproducibility, and errors before any run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.errors import ScenarioError
from simulation.experiments import load_experiment, run_sweep, sample
from simulation.experiments.designs import design_size

REPO = Path(__file__).resolve().parents[2]


def experiment(design: dict, factors: list | None = None, **extra):
    """A small experiment on the bundled scenario, as a mapping."""
    data = {
        "name": "t",
        "scenario": "acquisition_vs_retention",
        "policies": ["acquisition_heavy", "retention_focused"],
        "factors": factors
        if factors is not None
        else [
            {"path": "market.customer.price_sensitivity.mean", "name": "ps", "range": [1.0, 5.0]},
            {"path": "market.customer.transactional_share", "name": "ts", "range": [0.0, 0.6]},
            {
                "path": "market.network.kind",
                "name": "net",
                "values": ["none", "random", "small_world"],
            },
        ],
        "design": design,
        "replications": 2,
        "seed": 11,
    }
    data.update(extra)
    return data


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize(
    ("design", "expected"),
    [
        ({"kind": "full_factorial", "levels": 4}, 4 * 4 * 3),
        ({"kind": "monte_carlo", "samples": 37}, 37),
        ({"kind": "latin_hypercube", "samples": 20}, 20),
        ({"kind": "sobol", "samples": 16}, 16 * (3 + 2)),
        ({"kind": "sobol", "samples": 8, "second_order": True}, 8 * (2 * 3 + 2)),
        ({"kind": "morris", "samples": 5}, 5 * (3 + 1)),
    ],
)
def test_design_sizes(design, expected):
    loaded = load_experiment(experiment(design))
    points = sample(loaded)
    assert len(points) == expected == design_size(loaded.spec)
    assert list(points.columns) == ["point", "ps", "ts", "net"]
    assert points["point"].tolist() == list(range(expected))


def test_full_factorial_levels_are_the_grid():
    loaded = load_experiment(
        experiment(
            {"kind": "full_factorial"},
            factors=[
                {"path": "market.customer.transactional_share", "range": [0.1, 0.5], "levels": 3},
                {"path": "market.periods", "range": [10, 40], "levels": 4, "integer": True},
                {"path": "market.customers", "range": [100, 10000], "levels": 3, "scale": "log"},
            ],
        )
    )
    points = sample(loaded)
    assert len(points) == 3 * 4 * 3
    assert sorted(points["market.customer.transactional_share"].unique()) == pytest.approx(
        [0.1, 0.3, 0.5]
    )
    assert sorted(points["market.periods"].unique()) == [10, 20, 30, 40]
    assert points["market.periods"].dtype == np.int64
    assert sorted(points["market.customers"].unique()) == pytest.approx([100, 1000, 10000])
    # The first factor varies slowest (itertools.product order).
    assert points["market.customer.transactional_share"].iloc[:12].nunique() == 1


@pytest.mark.parametrize("kind", ["monte_carlo", "latin_hypercube", "sobol", "morris"])
def test_sampled_points_stay_within_bounds_and_levels(kind):
    loaded = load_experiment(experiment({"kind": kind, "samples": 32}))
    points = sample(loaded)
    assert points["ps"].between(1.0, 5.0).all()
    assert points["ts"].between(0.0, 0.6).all()
    assert set(points["net"]) <= {"none", "random", "small_world"}
    # With 32 or more points every level of a three-level factor is drawn.
    assert set(points["net"]) == {"none", "random", "small_world"}


def test_log_scale_and_integer_factors_in_sampled_designs():
    loaded = load_experiment(
        experiment(
            {"kind": "latin_hypercube", "samples": 50},
            factors=[
                {"path": "market.customers", "range": [100, 10000], "scale": "log", "integer": True}
            ],
        )
    )
    values = sample(loaded)["market.customers"]
    assert values.dtype == np.int64
    assert values.between(100, 10000).all()
    # Log-uniform: about half the points below the geometric midpoint 1000 (50 strata).
    assert (values < 1000).sum() == 25


def test_latin_hypercube_has_one_point_per_stratum():
    n = 40
    loaded = load_experiment(experiment({"kind": "latin_hypercube", "samples": n}))
    points = sample(loaded)
    for column, (low, high) in (("ps", (1.0, 5.0)), ("ts", (0.0, 0.6))):
        strata = np.floor((points[column] - low) / (high - low) * n).astype(int)
        assert sorted(strata) == list(range(n)), column


@pytest.mark.parametrize("kind", ["monte_carlo", "latin_hypercube", "sobol", "morris"])
def test_designs_are_reproducible_from_the_master_seed(kind):
    first = sample(load_experiment(experiment({"kind": kind, "samples": 16})))
    again = sample(load_experiment(experiment({"kind": kind, "samples": 16})))
    other = sample(load_experiment(experiment({"kind": kind, "samples": 16}, seed=12)))
    pd.testing.assert_frame_equal(first, again)
    assert not first["ps"].equals(other["ps"])


def test_table_design_reads_factors_from_csv(tmp_path):
    table = pd.DataFrame(
        {"market.customer.transactional_share": [0.1, 0.2, 0.4], "market.periods": [12, 24, 36]}
    )
    table.to_csv(tmp_path / "points.csv", index=False)
    spec = experiment({"kind": "table", "file": "points.csv"}, factors=[])
    loaded = load_experiment(spec, base_dir=tmp_path)
    points = sample(loaded)
    assert len(points) == 3
    assert points["market.periods"].tolist() == [12, 24, 36]
    assert [f.path for f in loaded.factors] == list(table.columns)


# --------------------------------------------------------------------------- errors
def _problems(spec, **kwargs) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_experiment(spec, **kwargs)
    return "\n".join(caught.value.problems)


def test_sobol_sample_size_must_be_a_power_of_two():
    text = _problems(experiment({"kind": "sobol", "samples": 100}))
    assert "<experiment>: design: " in text
    assert "not a power of two; use 64 or 128" in text


def test_unknown_factor_path_names_file_path_and_allowed_fields(tmp_path):
    spec = experiment(
        {"kind": "full_factorial"},
        factors=[{"path": "market.customer.price_sensitivty.mean", "range": [1, 2]}],
    )
    text = _problems(spec)
    assert "factors.0.path: 'market.customer.price_sensitivty.mean' is not allowed" in text
    assert "no field 'price_sensitivty' in market.customer" in text
    assert "price_sensitivity" in text  # the fields that do exist are listed


def test_factor_range_outside_the_schema_is_reported_with_the_rule():
    spec = experiment(
        {"kind": "monte_carlo", "samples": 4},
        factors=[{"path": "market.customer.transactional_share", "range": [0.2, 1.5]}],
    )
    text = _problems(spec)
    assert "factors.0 (market.customer.transactional_share): range high 1.5" in text
    assert "less than or equal to 1" in text


def test_bad_values_and_ranges_in_the_file_itself():
    spec = experiment(
        {"kind": "full_factorial"},
        factors=[
            {"path": "market.periods", "range": [30, 10]},
            {"path": "market.network.kind", "values": ["none", "ring"]},
        ],
        replications=0,
        colour="blue",
    )
    text = _problems(spec)
    assert "<experiment>: factors.0: range low (30.0) must be below high (10.0)" in text
    assert "replications: 0 is not allowed" in text
    assert "colour: unknown key; allowed keys:" in text and "factors" in text
    spec = experiment(
        {"kind": "full_factorial"},
        factors=[{"path": "market.network.kind", "values": ["none", "ring"]}],
    )
    text = _problems(spec)
    assert "value 'ring' is not allowed" in text and "small_world" in text


def test_unknown_policy_outcome_and_target_are_reported_together():
    spec = experiment(
        {"kind": "full_factorial"},
        policies=["acquisition_heavy", "loyalty_first"],
        outcomes=["npv", "happiness"],
    )
    text = _problems(spec)
    assert "policies: 'loyalty_first' is not allowed" in text
    assert "acquisition_heavy, balanced, retention_focused" in text


def test_bad_table_rows_name_the_csv_row(tmp_path):
    pd.DataFrame({"market.customer.transactional_share": [0.1, 1.7]}).to_csv(
        tmp_path / "points.csv", index=False
    )
    spec = experiment({"kind": "table", "file": "points.csv"}, factors=[])
    with pytest.raises(ScenarioError) as caught:
        run_sweep(load_experiment(spec, base_dir=tmp_path), tmp_path / "out", jobs=1)
    assert "design.file row 3" in caught.value.problems[0]
    assert not (tmp_path / "out").exists(), "nothing may be written before validation passes"


def test_experiment_file_errors_name_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("scenario: acquisition_vs_retention\ndesign: {kind: sobol, samples: 12}\n")
    text = _problems(path)
    assert text.startswith(f"{path}: design:")
    path.write_text("scenario: no_such_scenario\nfactors: []\n")
    assert f"{path}: scenario: 'no_such_scenario'" in _problems(path)


def test_bundled_experiments_load_and_are_sized_as_documented():
    be = load_experiment(REPO / "experiments" / "break_even.yaml")
    assert design_size(be.spec) == 81 and be.target.baseline == "acquisition_heavy"
    sobol = load_experiment(REPO / "experiments" / "sobol_market.yaml")
    assert design_size(sobol.spec) == 64 * (6 + 2)
    assert math.log2(sobol.spec.design.samples).is_integer()
