"""The sweep engine with stand-in models: seeds, pairing, resume, failures, precision, CIs.

The stand-in models are module-level functions so that spawned worker processes can import
them. They read factor values from the scenario and draw their noise from the run's seed,
like the real simulation, but take microseconds.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from simulation.errors import UserError
from simulation.experiments import (
    analyse,
    build_report,
    evaluate,
    load_experiment,
    load_runs,
    run_sweep,
    sweep_status,
)
from simulation.experiments.engine import run_seeds

POLICIES = ["acquisition_heavy", "retention_focused"]
EFFECT = 10.0  # what retention_focused adds in the stand-in model


def noisy_linear(scenario, policy, seed, replication):
    """npv = 100 x + 50 y (+ EFFECT for retention_focused) + N(0, 5) noise from the seed."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 5.0)  # the same for both policies of a run: paired
    x = scenario.market.customer.transactional_share
    y = scenario.market.behaviour.switch_share
    effect = EFFECT if policy == "retention_focused" else 0.0
    return {"npv": 100 * x + 50 * y + effect + noise, "final_customers": 1000 + noise}


def failing_on_high_x(scenario, policy, seed, replication):
    """Like noisy_linear, but raises for x > 0.45 at replication 1 (an injected failure)."""
    if FAIL["on"] and scenario.market.customer.transactional_share > 0.45 and replication == 1:
        raise ValueError("injected failure: x too high")
    return noisy_linear(scenario, policy, seed, replication)


def interrupting(scenario, policy, seed, replication):
    """Like noisy_linear, but stops the sweep (Ctrl-C) on reaching a given point's x."""
    x = scenario.market.customer.transactional_share
    if STOP["at"] is not None and x >= STOP["at"]:
        raise KeyboardInterrupt
    return noisy_linear(scenario, policy, seed, replication)


def known_normal(scenario, policy, seed, replication):
    """npv ~ N(MU, SIGMA): the true mean is known, so CI coverage can be counted."""
    rng = np.random.default_rng(seed)
    return {"npv": MU + SIGMA * rng.standard_normal()}


def noise_from_factor(scenario, policy, seed, replication):
    """npv ~ N(0, sd) with sd = the switch_share factor x 100 (for sequential replication)."""
    rng = np.random.default_rng(seed)
    sd = scenario.market.behaviour.switch_share * 100
    return {"npv": sd * rng.standard_normal()}


FAIL = {"on": True}
STOP: dict[str, float | None] = {"at": None}
MU, SIGMA = 3.0, 2.0


def spec(**changes):
    data = {
        "name": "engine",
        "scenario": "acquisition_vs_retention",
        "policies": POLICIES,
        "factors": [
            {"path": "market.customer.transactional_share", "name": "x", "range": [0.1, 0.5]},
            {"path": "market.behaviour.switch_share", "name": "y", "values": [0.2, 0.8]},
        ],
        "design": {"kind": "full_factorial", "levels": 3},
        "replications": 3,
        "seed": 5,
    }
    data.update(changes)
    return load_experiment(data)


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """A runs table without the timing column (the only thing that may differ)."""
    return runs.drop(columns=["elapsed_s"]).reset_index(drop=True)


# --------------------------------------------------------------------------- seeds
def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    experiment = spec()
    serial = evaluate(experiment, jobs=1, model=noisy_linear, out=tmp_path / "serial")
    pooled = evaluate(experiment, jobs=2, model=noisy_linear, out=tmp_path / "pool")
    assert len(serial) == 6 * 3 * 2
    pd.testing.assert_frame_equal(comparable(serial), comparable(pooled))


def test_every_policy_of_a_run_sees_the_same_seed_and_streams_are_distinct():
    runs = evaluate(spec(), jobs=1, model=noisy_linear)
    by_run = runs.groupby(["point", "replication"])
    assert (by_run["seed"].nunique() == 1).all()
    # Paired: the noise is shared, so the difference is exactly the policy effect.
    wide = runs.pivot_table(index=["point", "replication"], columns="policy", values="npv")
    diff = wide["retention_focused"] - wide["acquisition_heavy"]
    assert np.allclose(diff, EFFECT)
    assert runs.drop_duplicates(["point", "replication"])["seed"].is_unique


def test_a_replications_seed_does_not_depend_on_how_many_are_run():
    assert run_seeds(5, 3, [0, 1, 2]) == run_seeds(5, 3, [0, 1, 2, 3, 4])[:3]
    assert run_seeds(5, 3, [4]) == run_seeds(5, 3, [0, 1, 2, 3, 4])[4:]
    assert run_seeds(5, 3, [0]) != run_seeds(5, 4, [0]) != run_seeds(6, 3, [0])


# --------------------------------------------------------------------------- failures
def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    FAIL["on"] = True
    out = tmp_path / "sweep"
    summary = run_sweep(spec(), out, jobs=1, model=failing_on_high_x)
    # x = 0.5 at 2 of the 6 points; replication 1 fails there.
    assert summary.failed == 2 and summary.done == 16 and not summary.complete
    records = [json.loads(p.read_text()) for p in sorted((out / "errors").glob("*.json"))]
    assert {r["message"] for r in records} == {"injected failure: x too high"}
    assert {r["replication"] for r in records} == {1}
    assert "Traceback" in records[0]["traceback"]
    assert len(pd.read_csv(out / "errors.csv")) == 2
    runs = load_runs(out)
    assert len(runs) == 16 * 2 and not ((runs["x"] > 0.45) & (runs["replication"] == 1)).any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["runs"]["failed"] == 2
    assert "2 failed" in (out / "report.md").read_text()

    FAIL["on"] = False  # the cause is fixed: running again retries only the failed runs
    again = run_sweep(spec(), out, jobs=1, model=failing_on_high_x)
    assert (again.done, again.skipped, again.failed, again.complete) == (2, 16, 0, True)
    assert not list((out / "errors").glob("*.json")) and not (out / "errors.csv").exists()
    FAIL["on"] = True


# --------------------------------------------------------------------------- resume
def test_an_interrupted_sweep_resumes_to_the_same_results(tmp_path):
    experiment = spec()
    out = tmp_path / "sweep"
    STOP["at"] = 0.5  # the first point with x = 0.5 is point 4 (x varies slowest)
    try:
        first = run_sweep(experiment, out, jobs=1, model=interrupting)
    finally:
        STOP["at"] = None
    assert first.interrupted and not first.complete
    assert first.done == 4 * 3
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    status = sweep_status(out)
    assert (status["on_disk"], status["planned"], status["complete"]) == (12, 18, False)
    assert "PARTIAL SWEEP" in (out / "report.md").read_text()

    resumed = run_sweep(experiment, out, jobs=1, model=interrupting)
    assert (resumed.skipped, resumed.done, resumed.complete) == (12, 6, True)
    whole = evaluate(experiment, jobs=1, model=interrupting)
    pd.testing.assert_frame_equal(comparable(load_runs(out)), comparable(whole))
    # A finished sweep run again skips everything.
    third = run_sweep(experiment, out, jobs=1, model=interrupting)
    assert (third.skipped, third.done, third.complete) == (18, 0, True)


def test_a_sweep_folder_of_another_experiment_is_never_overwritten_silently(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(spec(), out, jobs=1, model=noisy_linear, report=False)
    with pytest.raises(UserError) as caught:
        run_sweep(spec(seed=6), out, jobs=1, model=noisy_linear)
    assert "--out" in caught.value.problems[0] and "--overwrite" in caught.value.problems[0]
    replaced = run_sweep(spec(seed=6), out, jobs=1, model=noisy_linear, overwrite=True)
    assert replaced.done == 18 and replaced.skipped == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="does not hold a relsim sweep"):
        run_sweep(spec(), tmp_path / "other", jobs=1, model=noisy_linear, overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_report_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(UserError, match="not a sweep folder"):
        build_report(tmp_path)


# --------------------------------------------------------------------------- statistics
def test_confidence_intervals_cover_the_true_mean_at_the_nominal_rate():
    # 400 design points x 5 replications of N(3, 2). A Student-t 95% interval covers 3 in
    # 95% of points; the count is Binomial(400, 0.95), sd 4.4 points, so [367, 393] is a
    # +-3 sd band (false alarm < 0.3%). A normal-quantile interval with n = 5 would cover
    # only ~88% (352 points) and fail, so the test can tell a wrong interval from a right one.
    experiment = spec(
        policies=["acquisition_heavy"],
        factors=[{"path": "market.customer.transactional_share", "name": "x", "range": [0, 1]}],
        design={"kind": "monte_carlo", "samples": 400},
        replications=5,
    )
    runs = evaluate(experiment, jobs=1, model=known_normal)
    target = analyse(experiment, runs).target
    assert len(target) == 400 and (target["n"] == 5).all()
    covered = int(((target["ci_low"] <= MU) & (target["ci_high"] >= MU)).sum())
    assert 367 <= covered <= 393, covered


def test_sequential_replication_stops_where_the_interval_is_narrow_enough(tmp_path):
    # sd 1 at y = 0.01 and 80 at y = 0.8; target half-width 2. With 5 replications the
    # half-width at the quiet point is about 2.78 x 1 / sqrt(5) = 1.2 < 2: it stops at 5.
    # At the noisy point it would need ~6,400 replications: it runs to the maximum of 20.
    experiment = spec(
        policies=["acquisition_heavy"],
        factors=[{"path": "market.behaviour.switch_share", "name": "y", "values": [0.01, 0.8]}],
        target={"outcome": "npv", "policy": "acquisition_heavy"},
        replications=5,
        precision={"half_width": 2.0, "batch": 5, "max_replications": 20},
    )
    out = tmp_path / "sweep"
    summary = run_sweep(experiment, out, jobs=1, model=noise_from_factor)
    runs = load_runs(out)
    assert runs.groupby("y")["replication"].nunique().to_dict() == {0.01: 5, 0.8: 20}
    assert summary.total_runs == 25 and summary.complete
    assert sorted(runs.loc[runs["y"] == 0.8, "replication"]) == list(range(20))
    pooled = evaluate(experiment, jobs=2, model=noise_from_factor)
    pd.testing.assert_frame_equal(comparable(runs), comparable(pooled))
    again = run_sweep(experiment, out, jobs=1, model=noise_from_factor)
    assert (again.skipped, again.done) == (25, 0)


def test_sobol_indices_of_a_known_function():
    # npv = 100 x + 50 y + EFFECT(policy) + noise; the target is the paired difference,
    # which is the constant EFFECT, so use the acquisition_heavy npv itself:
    # Var(100 x) = 100^2 / 12 on x ~ U(0, 1); Var(50 y) = 50^2 / 12 on y ~ U(0, 1); the
    # noise variance 25 is small. S1_x = 10000 / (10000 + 2500 + 12 x 25) = 0.78, S1_y = 0.20.
    # N = 128 gives 128 x (3 + 2) = 640 points.
    experiment = spec(
        policies=["acquisition_heavy"],
        factors=[
            {"path": "market.customer.transactional_share", "name": "x", "range": [0, 1]},
            {"path": "market.behaviour.switch_share", "name": "y", "range": [0, 1]},
            {"path": "market.initial_penetration", "name": "z", "range": [0, 1]},
        ],
        design={"kind": "sobol", "samples": 128},
        target={"outcome": "npv", "policy": "acquisition_heavy"},
        replications=1,
    )
    runs = evaluate(experiment, jobs=1, model=noisy_linear)
    indices = analyse(experiment, runs).sensitivity.set_index("factor")
    # Tolerance: the bootstrap half-width (S1_conf) plus 0.05 for the estimator's error at
    # N = 128 beyond what the bootstrap sees.
    for factor, truth in {"x": 0.78, "y": 0.20, "z": 0.0}.items():
        row = indices.loc[factor]
        assert abs(row["S1"] - truth) <= row["S1_conf"] + 0.05, (factor, row.to_dict())
    assert indices["ST"].idxmax() == "x" and indices.loc["z", "ST"] < 0.05


def test_morris_ranks_a_linear_function():
    experiment = spec(
        policies=["acquisition_heavy"],
        factors=[
            {"path": "market.customer.transactional_share", "name": "x", "range": [0, 1]},
            {"path": "market.behaviour.switch_share", "name": "y", "range": [0, 1]},
            {"path": "market.initial_penetration", "name": "z", "range": [0, 1]},
        ],
        design={"kind": "morris", "samples": 20},
        target={"outcome": "npv", "policy": "acquisition_heavy"},
        replications=1,
    )
    runs = evaluate(experiment, jobs=1, model=noisy_linear)
    indices = analyse(experiment, runs).sensitivity.set_index("factor")
    # Elementary effects of 100 x and 50 y are 100 and 50 per unit; the seed noise (sd 5,
    # new at every point) blurs each effect by about 5 x sqrt(2) / (2/3) ~ 11 per unit.
    assert indices["mu_star"].idxmax() == "x"
    assert indices.loc["x", "mu_star"] > indices.loc["y", "mu_star"] > indices.loc["z", "mu_star"]


def test_break_even_frontier_of_a_known_grid():
    experiment = spec(
        factors=[
            {"path": "market.customer.transactional_share", "name": "x", "values": [0.1, 0.5]},
            {"path": "market.behaviour.switch_share", "name": "y", "range": [0.0, 1.0]},
        ],
        design={"kind": "full_factorial", "levels": 5},
        target={"outcome": "npv", "policy": "retention_focused", "baseline": "acquisition_heavy"},
        replications=2,
    )
    runs = evaluate(experiment, jobs=1, model=crossing_effect)
    frontier = analyse(experiment, runs).break_even.set_index("x")
    # Difference = 40 (y - x): zero at y = x, positive above. At x = 0.1 the crossing lies
    # between the levels 0 and 0.25 (interpolated); at x = 0.5 it is on the level 0.5.
    assert frontier.loc[0.1, "y"] == pytest.approx(0.1)
    assert frontier.loc[0.5, "y"] == pytest.approx(0.5)
    assert set(frontier["positive"]) == {"above"}


def crossing_effect(scenario, policy, seed, replication):
    """Paired difference 40 (y - x): retention pays above the line y = x."""
    x = scenario.market.customer.transactional_share
    y = scenario.market.behaviour.switch_share
    base = noisy_linear(scenario, "acquisition_heavy", seed, replication)["npv"]
    return {"npv": base + (40 * (y - x) if policy == "retention_focused" else 0.0)}


# --------------------------------------------------------------------------- memory
def test_parent_memory_does_not_grow_with_the_number_of_runs(tmp_path):
    # Peak Python memory of the parent while sweeping 1,000 and then 10,000 runs of a
    # trivial model (10 and 100 design points of 100 replications each). Results stream to
    # disk as each task ends, so the peak must not grow with the runs. Allowed: 1 MiB, for
    # the per-point bookkeeping (design table, one scenario hash per point: ~1 KiB a point)
    # and allocator noise; holding the runs would cost several MiB more at 10,000 runs.
    def peak(points: int, out) -> int:
        experiment = spec(
            policies=["acquisition_heavy"],
            factors=[{"path": "market.customer.transactional_share", "range": [0, 1]}],
            design={"kind": "monte_carlo", "samples": points},
            replications=100,
        )
        tracemalloc.start()
        try:
            summary = run_sweep(experiment, out, jobs=1, model=known_normal, report=False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert summary.done == points * 100

    peak(10, tmp_path / "warm-up")  # imports and caches are not the sweep's memory
    small = peak(10, tmp_path / "small")
    large = peak(100, tmp_path / "large")
    assert large - small < 2**20, (small, large)


def test_without_pyarrow_tables_are_csv_and_resume_works(tmp_path, monkeypatch):
    import simulation.experiments.store as store

    monkeypatch.setattr(store, "default_format", lambda: "csv")
    experiment = spec()
    out = tmp_path / "sweep"
    STOP["at"] = 0.5
    try:
        first = run_sweep(experiment, out, jobs=1, model=interrupting)
    finally:
        STOP["at"] = None
    assert first.interrupted and list((out / "runs").glob("*.csv"))
    assert not list((out / "runs").glob("*.parquet"))
    resumed = run_sweep(experiment, out, jobs=1, model=interrupting)
    assert (resumed.skipped, resumed.done, resumed.complete) == (12, 6, True)
    assert json.loads((out / "manifest.json").read_text())["format"] == "csv"
    table = pd.read_csv(out / "runs.csv", dtype={"run_id": str})
    assert len(table) == 36
    whole = evaluate(experiment, jobs=1, model=interrupting)
    assert table["npv"].to_numpy() == pytest.approx(whole["npv"].to_numpy(), rel=1e-12)
    assert table["run_id"].tolist() == whole["run_id"].tolist()


# --------------------------------------------------------------------------- memory
def test_a_sweep_is_checked_for_memory_at_its_largest_market_before_the_folder(
    tmp_path, monkeypatch
):
    from simulation.errors import ResourceError
    from simulation.experiments.engine import plan_sweep, sweep_memory

    experiment = spec(
        factors=[{"path": "market.customers", "name": "n", "values": [1000, 250_000, 4000]}],
        replications=1,
    )
    plan = plan_sweep(experiment, noisy_linear)
    assert plan.largest is not None and plan.largest.market.customers == 250_000
    need = sweep_memory(plan.largest, 2)
    assert "its largest market: 250,000 customers x " in need.detail
    monkeypatch.setattr("simulation.limits.available_memory", lambda: (need.bytes, "a limit"))
    with pytest.raises(ResourceError, match="the sweep needs about .*--skip-memory-check"):
        run_sweep(experiment, tmp_path / "s", jobs=2, model=noisy_linear, report=False)
    assert not (tmp_path / "s").exists()
    summary = run_sweep(
        experiment, tmp_path / "s", jobs=1, model=noisy_linear, report=False, memory_check=False
    )
    assert summary.complete and summary.done == 3
