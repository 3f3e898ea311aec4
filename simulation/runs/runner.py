"""Running a scenario: every policy x every replication, with paired seeds.

Replication ``k`` of every policy gets the same seed (spawned from the scenario's master seed
with numpy's SeedSequence), so policies meet the same customers and the same luck and their
differences are paired.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulation.market.agents import BOOK_FIELDS, Firm
from simulation.market.cohorts import finish_cohort_table
from simulation.market.model import RelationshipMarket
from simulation.runs.registry import release
from simulation.runs.workers import process_pool
from simulation.scenario.schema import Scenario

LTV_SAMPLE = 2000


@dataclass
class RunResult:
    """What one run of one policy produced (the focal firm's outcomes, and all firms' books)."""

    policy: str
    replication: int
    seed: int
    timeseries: pd.DataFrame
    summary: dict[str, float]
    cohorts: pd.DataFrame
    lifetime_values: np.ndarray


@dataclass
class ScenarioResults:
    """Every run of a scenario, as the tidy tables of ``docs/outputs.md``."""

    scenario: Scenario
    policies: list[str]
    seeds: list[int]
    timeseries: pd.DataFrame
    summary: pd.DataFrame
    cohorts: pd.DataFrame
    lifetime_values: pd.DataFrame
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)


def replication_seeds(master_seed: int, n: int, key: tuple[int, ...] = ()) -> list[int]:
    """Independent seeds for ``n`` replications, spawned from one master seed.

    Args:
        master_seed: the scenario's or experiment's seed.
        n: number of replications.
        key: extra spawn key (a sweep passes its design point), so streams never overlap.
    """
    root = np.random.SeedSequence(int(master_seed), spawn_key=tuple(int(k) for k in key))
    return [
        int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in root.spawn(n)
    ]


def run_replication(
    scenario: Scenario,
    policy: str,
    seed: int,
    replication: int = 0,
    *,
    collect_timeseries: bool = True,
    customer_agents: bool = False,
) -> RunResult:
    """Run one policy once.

    Args:
        scenario: the validated scenario.
        policy: the focal firm's policy.
        seed: the run's seed (use :func:`replication_seeds`).
        replication: the replication number, stored with the results.
        collect_timeseries: keep the per-period table (sweeps keep only the summary).
        customer_agents: also create one Mesa agent per customer (not needed for tables).
    """
    model = RelationshipMarket(
        scenario, policy=policy, rng=int(seed), customer_agents=customer_agents
    )
    try:
        model.run()
        timeseries = firm_timeseries(model)
        timeseries.insert(0, "replication", replication)
        timeseries.insert(0, "policy", policy)
        values = model.expected_values()[model.population.firm == 0]
        summary = summarise_run(timeseries[timeseries["focal"]], values, model.dt / 12)
        cohorts = model.cohorts.table() if model.cohorts is not None else pd.DataFrame()
        sample = values
        if len(values) > LTV_SAMPLE:
            sample = model.rng.choice(values, LTV_SAMPLE, replace=False)
        return RunResult(
            policy=policy,
            replication=replication,
            seed=int(seed),
            timeseries=timeseries if collect_timeseries else timeseries.iloc[0:0],
            summary=summary,
            cohorts=cohorts,
            lifetime_values=np.sort(sample),
        )
    finally:
        release(model)


def firm_timeseries(model: RelationshipMarket) -> pd.DataFrame:
    """The firms' books per period from Mesa's DataCollector, as a tidy table."""
    raw = model.datacollector.get_agenttype_vars_dataframe(Firm).reset_index()
    names = {f.unique_id: f.name for f in model.firm_agents}
    focal = model.focal.unique_id
    table = pd.DataFrame(
        {
            "period": raw["Step"].astype(int),
            "firm": raw["AgentID"].map(names),
            "focal": raw["AgentID"] == focal,
        }
    )
    table = pd.concat([table, raw[list(BOOK_FIELDS)].reset_index(drop=True)], axis=1)
    return table.sort_values(["period", "firm"], kind="stable").reset_index(drop=True)


def summarise_run(
    focal: pd.DataFrame, values: np.ndarray, years_per_period: float = 1 / 12
) -> dict[str, float]:
    """The focal firm's outcomes over a run (the columns of ``summary.csv``)."""
    last = focal.iloc[-1]
    retained = (focal["customers_start"] - focal["churned"]).sum()
    acquired = focal["acquired"].sum()
    return {
        "npv": float(focal["discounted_profit"].sum()),
        "profit_total": float(focal["profit"].sum()),
        "revenue_total": float(focal["revenue"].sum()),
        "final_customers": int(last["customers"]),
        "final_market_share": float(last["market_share"]),
        "mean_retention_rate": float(focal["retention_rate"].mean()),
        "mean_churn_rate": float(focal["churn_rate"].mean()),
        "acquired_total": int(acquired),
        "referrals": int(focal["acquired_referral"].sum()),
        "churned_total": int(focal["churned"].sum()),
        "cost_per_acquired": _ratio(focal["acquisition_cost"].sum(), acquired),
        # Per retained customer-year, so that it compares with a one-off acquisition cost.
        "cost_per_retained": _ratio(focal["retention_cost"].sum(), retained * years_per_period),
        "acquisition_cost_total": float(focal["acquisition_cost"].sum()),
        "retention_cost_total": float(focal["retention_cost"].sum()),
        "mean_satisfaction": float(last["mean_satisfaction"]),
        "clv_mean": float(values.mean()) if len(values) else 0.0,
        "customer_equity": float(values.sum()),
    }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def _run_task(task: tuple[Scenario, str, int, int]) -> RunResult:
    """Worker entry point (module level so process pools can import it)."""
    scenario, policy, seed, replication = task
    return run_replication(scenario, policy, seed, replication)


def run_scenario(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
) -> ScenarioResults:
    """Run every policy of a scenario for every replication.

    Args:
        scenario: the validated scenario.
        replications: overrides the scenario's number of replications.
        seed: overrides the scenario's master seed.
        jobs: worker processes (1 runs in this process). Results do not depend on it.
        on_result: called after each run (progress bars).

    Returns:
        The tidy tables, the comparison of each policy with the first included.
    """
    from simulation.runs.stats import compare_policies

    n = replications or scenario.replications
    master = scenario.seed if seed is None else seed
    if replications is not None or seed is not None:
        scenario = scenario.model_copy(update={"replications": n, "seed": master})
    seeds = replication_seeds(master, n)
    policies = list(scenario.policies)
    tasks = [(scenario, p, seeds[r], r) for r in range(n) for p in policies]
    results = _execute(tasks, jobs, on_result)
    results.sort(key=lambda res: (policies.index(res.policy), res.replication))
    return collect(scenario, policies, seeds, results, compare_policies)


def _execute(
    tasks: list, jobs: int, on_result: Callable[[RunResult], None] | None
) -> list[RunResult]:
    jobs = max(1, min(jobs, len(tasks), os.cpu_count() or 1))
    results: list[RunResult] = []
    outputs: Iterable[RunResult]
    if jobs == 1:
        outputs = map(_run_task, tasks)
        pool = None
    else:
        pool = process_pool(jobs)
        # Tasks go to the workers in chunks: one message (and one copy of the scenario) per
        # chunk rather than per run keeps the parent's share of the CPUs small; ten chunks per
        # worker keep the last one short.
        outputs = pool.map(_run_task, tasks, chunksize=max(1, len(tasks) // (10 * jobs)))
    try:
        for result in outputs:
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return results


def collect(
    scenario: Scenario,
    policies: list[str],
    seeds: list[int],
    results: list[RunResult],
    compare: Callable[..., pd.DataFrame],
) -> ScenarioResults:
    """Assemble per-run results into the scenario's tables."""
    timeseries = pd.concat([r.timeseries for r in results], ignore_index=True)
    summary = pd.DataFrame(
        [
            {"policy": r.policy, "replication": r.replication, "seed": r.seed, **r.summary}
            for r in results
        ]
    )
    frames = [r.cohorts.assign(policy=r.policy) for r in results if not r.cohorts.empty]
    if frames:
        pooled = (
            pd.concat(frames, ignore_index=True)
            .groupby(["policy", "cohort", "age"], sort=False, as_index=False)[
                ["cohort_size", "active", "base_churn_sum"]
            ]
            .sum()
        )
        cohorts = finish_cohort_table(pooled)
    else:
        cohorts = pd.DataFrame()
    ltv = pd.concat(
        [
            pd.DataFrame(
                {
                    "policy": r.policy,
                    "replication": r.replication,
                    "expected_clv": r.lifetime_values,
                }
            )
            for r in results
        ],
        ignore_index=True,
    )
    return ScenarioResults(
        scenario=scenario,
        policies=policies,
        seeds=seeds,
        timeseries=timeseries,
        summary=summary,
        cohorts=cohorts,
        lifetime_values=ltv,
        comparison=compare(summary, baseline=policies[0]),
    )
