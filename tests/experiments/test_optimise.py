"""relsim optimise: the simplex, derived factors, files, noise handling, determinism, resume.

Most tests use a stand-in model whose optimum is known (a concave function of the retention
share and the budget plus seeded noise), so that the machinery is tested in seconds; the
real model is used where the model itself matters (common random numbers, the report).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simulation.cli import main
from simulation.errors import ScenarioError
from simulation.experiments import load_experiment, plan_sweep
from simulation.experiments.candidates import FRESH, SEARCH, compare
from simulation.experiments.decision import apply_settings, stick_breaking, unit_from_shares
from simulation.experiments.optimise import run_optimisation
from simulation.experiments.optimise_spec import load_optimisation
from simulation.scenario.loading import load_scenario
from simulation.scenario.schema import ACQUISITION_LEVERS, RETENTION_LEVERS

BEST_SHARE = 0.6  # the stand-in model's best retention share
NOISE_SD = 30.0


def concave(scenario, policy, seed, replication):
    """npv = 1000 - 2000 (s - 0.6)^2 - 0.05 (budget - 10,000)^2 / 1,000 + N(0, 30) noise.

    The noise comes from the seed alone, so every candidate of one replication meets the same
    luck (common random numbers): paired differences are exact.
    """
    chosen = scenario.policies[policy]
    share = chosen.allocation.retention_share
    noise = np.random.default_rng(seed).normal(0.0, NOISE_SD)
    value = 1000 - 2000 * (share - BEST_SHARE) ** 2 - 0.05 * (chosen.budget - 10_000) ** 2 / 1000
    return {
        "npv": value + noise,
        "final_market_share": 0.3,
        "acquisition_cost_total": chosen.budget * (1 - share),
        "retention_cost_total": chosen.budget * share,
        "marketing_spend_per_period": chosen.budget,
    }


def interrupting(scenario, policy, seed, replication):
    """Like :func:`concave`, but stops the optimisation (Ctrl-C) after a number of calls."""
    CALLS["n"] += 1
    if CALLS["stop"] is not None and CALLS["n"] >= CALLS["stop"]:
        raise KeyboardInterrupt
    return concave(scenario, policy, seed, replication)


CALLS: dict[str, int | None] = {"n": 0, "stop": None}


def spec(**changes):
    data = {
        "name": "toy",
        "scenario": "acquisition_vs_retention",
        "decision": {
            "policy": "balanced",
            "variables": [
                {"path": "retention_share", "range": [0.0, 1.0]},
                {"path": "budget", "range": [5000, 15000]},
            ],
        },
        "uncertainty": {
            "factors": [{"path": "market.responses.advertising.ceiling", "range": [0.1, 0.5]}],
            "design": {"kind": "latin_hypercube", "samples": 2},
        },
        "search": {"trials": 12, "batch": 4, "startup_trials": 4, "replications": 3},
        "race": {"candidates": 3, "batch": 2, "max_runs": 40},
        "final": {"top": 2, "replications": 6},
        "seed": 11,
    }
    data.update(changes)
    return load_optimisation(data)


# --------------------------------------------------------------------------- the simplex
def test_stick_breaking_gives_shares_that_add_up_to_one_and_inverts():
    rng = np.random.default_rng(1)
    for u in rng.random((200, 4)):
        shares = stick_breaking(u)
        assert shares.shape == (5,) and np.all(shares >= 0)
        assert shares.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(unit_from_shares(shares), u, atol=1e-9)


def test_a_uniform_point_of_the_cube_is_a_uniform_point_of_the_simplex():
    # Under Dirichlet(1,1,1,1) each share has mean 1/4 and variance (1/4)(3/4)/5 = 0.0375;
    # with 20,000 draws the standard error of a mean is sqrt(0.0375 / 20,000) = 0.00137, and
    # 0.006 is more than four of them. An ordinary (non-Beta) stick-breaking would give the
    # first share a mean of 1/2, far outside.
    rng = np.random.default_rng(2)
    shares = np.array([stick_breaking(u) for u in rng.random((20_000, 3))])
    np.testing.assert_allclose(shares.mean(axis=0), 0.25, atol=0.006)


# --------------------------------------------------------------------------- derived factors
def test_retention_share_moves_budget_between_groups_keeping_proportions():
    scenario = load_scenario("acquisition_vs_retention")
    moved = apply_settings(scenario, {"policies.balanced.retention_share": 0.8})
    before = scenario.policies["balanced"].allocation.model_dump()
    after = moved.policies["balanced"].allocation.model_dump()
    assert moved.policies["balanced"].allocation.retention_share == pytest.approx(0.8)
    assert sum(after[k] for k in ACQUISITION_LEVERS) == pytest.approx(0.2)
    for group in (RETENTION_LEVERS, ACQUISITION_LEVERS):
        funded = [k for k in group if before[k] > 0]
        ratios = [after[k] / before[k] for k in funded]
        assert max(ratios) == pytest.approx(min(ratios))


def test_a_sweep_can_vary_a_policys_retention_share():
    experiment = load_experiment(
        {
            "scenario": "acquisition_vs_retention",
            "policies": ["balanced"],
            "factors": [
                {"path": "policies.balanced.retention_share", "name": "s", "values": [0.2, 0.9]}
            ],
        }
    )
    plan = plan_sweep(experiment)
    shares = [
        plan.task(p, [0]).scenario.policies["balanced"].allocation.retention_share for p in range(2)
    ]
    assert shares == pytest.approx([0.2, 0.9])


def test_a_retention_share_outside_0_1_is_one_clear_line():
    with pytest.raises(ScenarioError) as caught:
        load_experiment(
            {
                "scenario": "acquisition_vs_retention",
                "factors": [{"path": "policies.balanced.retention_share", "range": [0.0, 1.5]}],
            }
        )
    (line,) = caught.value.problems
    assert "factors.0" in line and "1.5" in line and "between 0 and 1" in line


# --------------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"decision": {"policy": "nope", "variables": [{"path": "budget", "range": [1, 2]}]}},
            "decision.policy: 'nope'",
        ),
        (
            {
                "decision": {
                    "policy": "balanced",
                    "variables": [{"path": "budgte", "range": [1, 2]}],
                }
            },
            "decision.variables.0.path: 'budgte'",
        ),
        (
            {
                "decision": {
                    "policy": "balanced",
                    "variables": [{"path": "budget", "range": [-5, 2]}],
                }
            },
            "decision.variables.0 (budget): range low -5",
        ),
        ({"objective": {"outcome": "happiness"}}, "objective.outcome: 'happiness'"),
        ({"search": {"sampler": "cmaes"}, "constraints": {"max_spend": 10}}, "search.sampler"),
    ],
)
def test_a_bad_optimisation_file_is_one_line(change, expected):
    with pytest.raises(ScenarioError) as caught:
        spec(**change)
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0]


def test_the_command_refuses_a_bad_file_with_status_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scenario: acquisition_vs_retention\n"
        "decision: {policy: balanced, variables: [{path: retention_share, range: [0, 2]}]}\n"
    )
    out = tmp_path / "out"
    assert main(["optimise", str(bad), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: decision.variables.0.range: [0.0, 2.0] is not allowed" in err
    assert "Traceback" not in err and not out.exists()


# --------------------------------------------------------------------------- the search
def test_the_optimiser_finds_the_known_optimum_and_says_so(tmp_path):
    summary = run_optimisation(spec(), tmp_path / "toy", jobs=1, model=concave)
    assert summary.complete
    share = summary.recommendation["params"]["retention_share"]
    budget = summary.recommendation["params"]["budget"]
    # The toy objective drops 2000 x 0.2^2 = 80 (about 2.7 noise sds per run) 0.2 away from
    # the best share; 12 trials of TPE plus racing land within it.
    assert abs(share - BEST_SHARE) < 0.2 and abs(budget - 10_000) < 3000
    final = pd.read_csv(tmp_path / "toy" / "final.csv")
    assert set(final["reference"]) == {"acquisition_heavy", "balanced", "retention_focused"}
    report = (tmp_path / "toy" / "report.md").read_text()
    assert "The best split found earns" in report or "No candidate beats" in report


def test_the_same_seed_gives_the_same_recommendation_with_any_number_of_workers(tmp_path):
    serial = run_optimisation(spec(), tmp_path / "serial", jobs=1, model=concave, report=False)
    pooled = run_optimisation(spec(), tmp_path / "pool", jobs=2, model=concave, report=False)
    assert serial.recommendation == pooled.recommendation
    a = pd.read_csv(tmp_path / "serial" / "trials.csv")
    b = pd.read_csv(tmp_path / "pool" / "trials.csv")
    pd.testing.assert_frame_equal(a, b)


def test_an_interrupted_optimisation_resumes_to_the_same_recommendation(tmp_path):
    whole = run_optimisation(spec(), tmp_path / "whole", jobs=1, model=interrupting, report=False)
    out = tmp_path / "cut"
    CALLS.update(n=0, stop=130)  # in the middle of the search's second batch
    try:
        first = run_optimisation(spec(), out, jobs=1, model=interrupting, report=False)
    finally:
        CALLS["stop"] = None
    assert first.interrupted and not first.complete
    resumed = run_optimisation(spec(), out, jobs=1, model=interrupting, report=False)
    assert resumed.complete and resumed.runs_skipped > 0
    assert resumed.recommendation == whole.recommendation
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and len(manifest["sessions"]) == 2


def test_racing_adds_replications_only_to_the_leaders(tmp_path):
    run_optimisation(spec(), tmp_path / "toy", jobs=1, model=concave, report=False)
    runs = pd.concat(pd.read_parquet(p) for p in (tmp_path / "toy" / "runs").glob("*.parquet"))
    search = runs[(runs["stream"] == SEARCH) & (runs["trial"] >= 0)]
    per_arm = search.groupby("arm")["replication"].nunique()
    assert per_arm.min() == 3  # every candidate got the search's replications
    recommendation = json.loads((tmp_path / "toy" / "recommendation.json").read_text())
    pool = recommendation["race"]["pool"]
    assert set(per_arm[per_arm > 3].index) <= set(pool)
    # The final check runs on seeds the search never used.
    fresh = runs[runs["stream"] == FRESH]
    assert not set(fresh["seed"]) & set(runs[runs["stream"] == SEARCH]["seed"])


def test_a_constraint_keeps_the_recommendation_inside_it(tmp_path):
    opt = spec(constraints={"max_spend": 8000})
    summary = run_optimisation(opt, tmp_path / "c", jobs=1, model=concave, report=False)
    assert summary.recommendation["params"]["budget"] <= 8000


def test_two_objectives_give_a_pareto_front(tmp_path):
    opt = spec(objective=[{"outcome": "npv"}, {"outcome": "npv", "across": "spread"}])
    summary = run_optimisation(opt, tmp_path / "p", jobs=1, model=concave)
    trials = pd.read_csv(tmp_path / "p" / "trials.csv")
    assert summary.complete and trials["pareto"].any()
    assert (tmp_path / "p" / "plots" / "pareto.png").is_file()


# --------------------------------------------------------------------------- the real model
def tiny(**changes):
    data = {
        "name": "tiny",
        "scenario": "acquisition_vs_retention",
        "customers": 300,
        "overrides": {"market.periods": 12},
        "decision": {
            "policy": "balanced",
            "variables": [{"path": "retention_share", "range": [0.0, 1.0]}],
        },
        "search": {"trials": 4, "batch": 2, "startup_trials": 2, "replications": 2},
        "race": {"candidates": 2, "batch": 2, "max_runs": 8},
        "final": {"top": 1, "replications": 3},
        "seed": 3,
    }
    data.update(changes)
    return load_optimisation(data)


def test_every_candidate_meets_the_same_luck_as_the_policies(tmp_path):
    # A candidate whose retention share is balanced's own is balanced: with common random
    # numbers its runs equal the reference's run for run, and the paired difference is 0.
    from simulation.experiments.executors import open_backend
    from simulation.experiments.optimise import (
        OptimiseStore,
        Runner,
        candidate_arm,
        reference_arm,
        simulate_with_spend,
    )

    opt = tiny()
    store = OptimiseStore(tmp_path / "crn")
    store.prepare("x", overwrite=False, experiment="tiny")
    with open_backend("process", 1) as backend:
        runner = Runner(opt, store, backend, simulate_with_spend)
        same = candidate_arm(opt, 0, {"retention_share": 0.5})
        runner.ensure([reference_arm(opt, "balanced"), same], SEARCH, 3)
    objective = opt.spec.objectives[0]
    paired = compare(runner.runs, same.name, "balanced", objective, SEARCH, ["balanced"])
    assert paired["n"] == 3 and paired["difference"] == 0.0


def test_relsim_optimise_and_report_end_to_end(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    import yaml

    path.write_text(yaml.safe_dump(tiny().spec.model_dump(mode="json")))
    out = tmp_path / "out"
    assert main(["optimise", str(path), "--out", str(out), "--jobs", "1", "-q"]) == 0
    for name in ("allocation", "convergence", "candidates", "objective_map"):
        assert (out / "plots" / f"{name}.png").is_file()
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert "## The answer" in (out / "report.md").read_text()
    assert "Report:" in capsys.readouterr().out


def test_a_dask_cluster_gives_the_same_recommendation(tmp_path):
    pytest.importorskip("dask.distributed", reason="dask is an optional extra")
    small = {"trials": 8, "batch": 4, "startup_trials": 4, "replications": 2}
    serial = run_optimisation(
        spec(search=small), tmp_path / "serial", jobs=1, model=concave, report=False
    )
    on_dask = run_optimisation(
        spec(search=small), tmp_path / "dask", jobs=2, executor="dask", model=concave, report=False
    )
    assert on_dask.executor == "dask" and on_dask.recommendation == serial.recommendation
