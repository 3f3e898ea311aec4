"""Reproducibility: the same scenario and seed give the same bytes, whoever computes them.

- ``relsim run`` twice, with one worker and with two, writes byte-identical tables;
- the results folder alone (resolved ``scenario.yaml`` and the manifest's seeds) is enough to
  compute the same tables again;
- a sweep gives identical runs in this process, in a process pool and on a Dask cluster;
- a small version of the default scenario still gives the committed reference summary, so an
  unintended change of behaviour is caught (regenerate it on purpose: ``make reference``).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pandas as pd
import pytest

from simulation.cli import main
from simulation.runs import reference
from simulation.runs.runner import replication_seeds

TABLES = ("timeseries.csv", "summary.csv", "comparison.csv", "cohorts.csv", "lifetime_values.csv")
SMALL = ["--customers", "300", "--periods", "12", "--replications", "3", "--quiet"]
ROOT = Path(__file__).resolve().parents[2]


def run(out: Path, *args: str) -> dict:
    """``relsim run`` in this process; returns the manifest."""
    assert main(["run", *args, "--out", str(out)]) == 0
    return json.loads((out / "manifest.json").read_text())


def test_same_seed_gives_byte_identical_tables_with_one_or_two_workers(tmp_path):
    one = run(tmp_path / "one", "acquisition_vs_retention", *SMALL, "--jobs", "1")
    two = run(tmp_path / "two", "acquisition_vs_retention", *SMALL, "--jobs", "2")
    for name in (*TABLES, "scenario.yaml"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), (
            f"{name} depends on the number of workers"
        )
    timing = {"started", "finished", "wall_seconds", "jobs", "command"}
    assert {k: v for k, v in one.items() if k not in timing} == {
        k: v for k, v in two.items() if k not in timing
    }
    assert (one["jobs"], two["jobs"]) == (1, 2)

    # Another seed gives other numbers (so the comparison above can fail).
    other = run(tmp_path / "other", "acquisition_vs_retention", *SMALL, "--seed", "1")
    summary = (tmp_path / "other" / "summary.csv").read_bytes()
    assert summary != (tmp_path / "one" / "summary.csv").read_bytes()
    assert other["master_seed"] == 1


def test_the_results_folder_holds_everything_needed_to_reproduce_it(tmp_path):
    first = run(tmp_path / "first", "acquisition_vs_retention", *SMALL, "--seed", "99")
    # What the manifest records: resolved scenario, seeds, versions, how it was run.
    assert first["complete"] is True
    assert first["master_seed"] == 99
    assert first["replication_seeds"] == replication_seeds(99, 3)
    assert first["customers"] == 300 and first["periods"] == 12
    for package in ("python", "relsim", "mesa", "numpy", "pandas", "scipy", "pydantic"):
        assert first["versions"].get(package), f"the manifest lacks the {package} version"
    assert "--seed 99" in first["command"]
    # The resolved scenario, with no option at all, runs to the same bytes.
    again = run(tmp_path / "again", str(tmp_path / "first" / "scenario.yaml"), "--quiet")
    assert again["replication_seeds"] == first["replication_seeds"]
    for name in (*TABLES, "scenario.yaml"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


SWEEP = """\
name: executors
scenario: acquisition_vs_retention
customers: 200
overrides: {market.periods: 6}
policies: [acquisition_heavy, retention_focused]
factors:
  - {path: market.responses.advertising.ceiling, name: ad_ceiling, values: [0.1, 0.4]}
  - {path: market.firms.Focal.price, name: price, values: [45, 55]}
outcomes: [npv, final_customers, churned_total]
replications: 2
seed: 3
"""


def test_sweeps_give_identical_runs_on_every_executor(tmp_path):
    ex = pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    experiment = ex.load_experiment(tmp_path / "sweep.yaml")
    backends = {"serial": ("process", 1), "process": ("process", 2)}
    try:
        import dask.distributed  # noqa: F401

        backends["dask"] = ("dask", 2)
    except ImportError:
        pass
    tables = {}
    for name, (executor, jobs) in backends.items():
        out = tmp_path / name
        summary = ex.run_sweep(experiment, out, jobs=jobs, executor=executor, report=False)
        assert summary.complete and not summary.failed
        runs = ex.load_runs(out).drop(columns=["elapsed_s"])
        tables[name] = runs.sort_values(["point", "replication", "policy"]).to_csv(index=False)
    assert len(tables["serial"].splitlines()) == 1 + 4 * 2 * 2
    for name, text in tables.items():
        assert text == tables["serial"], f"the {name} executor gives other results"
    if "dask" not in backends:
        pytest.skip("dask is not installed: process pool and serial runs agree; dask untested")


def test_reference_scenario_still_gives_the_committed_summary(tmp_path):
    """Re-run the reference scenario and compare with ``tests/reference/summary.csv``.

    ``rtol`` is 1e-9: on the platform and library versions that wrote the reference the run is
    deterministic and the table is stored with 17 significant digits, so anything beyond the
    order of floating-point sums is a change of behaviour (and any real change moves results
    far more, since one flipped random event changes the rest of a run).
    """
    expected, meta = reference.read_reference()
    if meta["environment"]["machine"] != platform.machine():
        pytest.skip(
            f"the reference was written on {meta['environment']['machine']}, this is "
            f"{platform.machine()}: regenerate it here with `make reference` to compare"
        )
    scenario = reference.reference_scenario()
    assert reference.scenario_digest(scenario) == meta["scenario_digest"], (
        "the reference scenario itself changed (the default scenario file or a schema "
        "default); if that was on purpose, regenerate the reference with `make reference`"
    )
    # Regenerate into a temporary folder, exactly as `make reference` does, and compare.
    written = reference.write_reference(tmp_path)
    actual = pd.read_csv(written)
    problems = reference.compare(expected, actual, rtol=reference.RTOL)
    versions = {
        key: (value, reference.environment().get(key))
        for key, value in meta["environment"].items()
        if reference.environment().get(key) != value
    }
    assert not problems, (
        "the model no longer reproduces the committed reference summary:\n"
        + "\n".join(problems)
        + (f"\nenvironment differs from the reference's: {versions}" if versions else "")
        + "\nIf the change of behaviour is intended, run `make reference` and commit it."
    )


def test_reference_comparison_catches_a_small_change():
    """The comparison used above fails on a change of one part in a million."""
    expected, _ = reference.read_reference()
    changed = expected.copy()
    changed.loc[0, "npv"] *= 1 + 1e-6
    assert reference.compare(expected, changed) == [
        "npv: differs from the reference (largest relative 1e-06)"
    ]
    fewer = expected.copy()
    fewer.loc[1, "churned_total"] -= 1
    assert [p.split(":")[0] for p in reference.compare(expected, fewer)] == ["churned_total"]


def test_reference_is_regenerated_by_a_named_command():
    assert "python -m simulation.runs.reference" in (ROOT / "Makefile").read_text()
    assert "make reference" in (ROOT / "README.md").read_text()
    _, meta = reference.read_reference()
    assert meta["customers"] == 1_000 and meta["periods"] == 36 and meta["replications"] == 3
