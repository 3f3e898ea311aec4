"""Running a scenario: every policy x every replication, with paired seeds.

Replication ``k`` of every policy gets the same seed (spawned from the scenario's master seed
with numpy's SeedSequence), so policies meet the same customers and the same luck and their
differences are paired.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.market.agents import BOOK_FIELDS, Firm
from simulation.market.model import RelationshipMarket
from simulation.runs.decomposition import MARKETING_CHANNELS
from simulation.runs.pooling import lifetime_values, pooled_cohorts, pooled_timeseries
from simulation.runs.registry import release
from simulation.runs.results import RunResult, ScenarioResults
from simulation.runs.stats import (
    against_leader,
    compare_policies,
    is_settled,
)
from simulation.runs.transactions import TransactionLog, log_file_name, parquet_available
from simulation.runs.workers import process_pool
from simulation.scenario.schema import Scenario

LTV_SAMPLE = 2000


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
    transactions: str | Path | None = None,
) -> RunResult:
    """Run one policy once.

    Args:
        scenario: the validated scenario.
        policy: the focal firm's policy.
        seed: the run's seed (use :func:`replication_seeds`).
        replication: the replication number, stored with the results.
        collect_timeseries: keep the per-period table (sweeps keep only the summary).
        customer_agents: also create one Mesa agent per customer (not needed for tables).
        transactions: write the run's transaction log to this file, period by period
            (:mod:`simulation.runs.transactions`).
    """
    model = RelationshipMarket(
        scenario, policy=policy, rng=int(seed), customer_agents=customer_agents
    )
    log = None if transactions is None else TransactionLog(transactions, seed)
    try:
        rewards = run_recording_rewards(model, None if log is None else log.record)
        columns = timeseries_columns(model, rewards)
        values = model.expected_values()[model.population.firm == 0]
        focal = columns["focal"]
        summary = summarise_columns(
            {name: columns[name][focal] for name in _summary_names(columns)}, values, model.dt / 12
        )
        if not collect_timeseries:
            # Sweeps keep only the summary: an empty table with the columns and their types.
            columns = {name: column[:1] for name, column in columns.items()}
        sample = values
        if len(values) > LTV_SAMPLE:
            sample = model.rng.choice(values, LTV_SAMPLE, replace=False)
        return RunResult(
            policy=policy,
            replication=replication,
            seed=int(seed),
            timeseries_columns=columns,
            summary=summary,
            cohort_counts=model.cohorts.counts() if model.cohorts is not None else None,
            lifetime_values=np.sort(sample),
            keeps_timeseries=collect_timeseries,
        )
    finally:
        if log is not None:
            log.close()
        release(model)


def run_recording_rewards(
    model: RelationshipMarket, after_step: Callable[[RelationshipMarket], None] | None = None
) -> np.ndarray:
    """Run the model to its horizon, recording each period's rewards paid by each firm.

    The books count loyalty rewards with the programme's running cost and referral rewards
    with the referral programme; this keeps them apart, so that a policy's marketing spend
    can be split into lever spend, rewards and discounts.

    Args:
        model: a freshly made market.
        after_step: called after each period (a transaction log's ``record``).

    Returns:
        Rewards paid, shape (periods, firms): loyalty rewards redeemed plus referral rewards.
    """
    firms = model.n_firms
    none_redeemed = np.zeros(firms)
    # Plain lists per period, the arithmetic once on whole columns: numpy calls on a few
    # firms' numbers each period cost more than the period's accounts.
    redeemed, referred = [], []
    while model.running:
        model.step()
        if after_step is not None:
            after_step(model)
        redeemed.append(model.sales.get("reward_cost", none_redeemed)[:firms].tolist())
        referred.append(model.tally["acquired_referral"][:firms].tolist())
    loyalty = np.array(redeemed, dtype=float).reshape(-1, firms)
    referrals = np.array(referred, dtype=float).reshape(-1, firms)
    return loyalty + referrals * model.firm_table.referral_reward[:firms]


def firm_timeseries(model: RelationshipMarket, rewards: np.ndarray | None = None) -> pd.DataFrame:
    """The firms' books per period from Mesa's DataCollector, as a tidy table.

    One row per period and firm, by period and then firm name: ``period``, ``firm``,
    ``focal``, the :class:`~simulation.market.agents.Books` fields and ``discount_factor``.

    Args:
        model: a model that has run.
        rewards: rewards paid per period and firm (see :func:`run_recording_rewards`); kept
            as the column ``cost_rewards`` when given.
    """
    return pd.DataFrame(timeseries_columns(model, rewards))


def timeseries_columns(
    model: RelationshipMarket, rewards: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The columns of :func:`firm_timeseries` as numpy arrays, in the table's order.

    The table is built from whole columns once, rather than through Mesa's indexed frame
    and pandas operations column by column, which cost several milliseconds per run: a
    noticeable share of a small run.

    Args:
        model: a model that has run.
        rewards: rewards paid per period and firm; kept as ``cost_rewards`` when given.
    """
    step, agent, books = _firm_records(model)
    names = {f.unique_id: f.name for f in model.firm_agents}
    firm = np.array([names[a] for a in agent.tolist()], dtype=object)
    order = _period_then_name(step, firm)
    step, agent, firm = step[order], agent[order], firm[order]
    columns: dict[str, np.ndarray] = {
        "period": step,
        "firm": firm,
        "focal": agent == model.focal.unique_id,
    }
    columns.update((name, books[name][order]) for name in BOOK_FIELDS)
    columns["discount_factor"] = (1 + model.discount_per_period) ** -step.astype(float)
    if rewards is not None:
        index = {f.unique_id: f.index for f in model.firm_agents}
        firm_index = np.array([index[a] for a in agent.tolist()], dtype=np.int64)
        columns["cost_rewards"] = rewards[step - 1, firm_index]
    return columns


def _firm_records(
    model: RelationshipMarket,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The DataCollector's firm records: step, agent id and each reporter's column.

    Reads the collector's records directly: its ``get_agenttype_vars_dataframe`` builds an
    indexed frame row by row, which cost more than the rest of the table together. Each
    column takes the type its values have (integers or floats), as that frame would give it.
    """
    collector = model.datacollector
    reporters = list(collector.agenttype_reporters[Firm])
    records = getattr(collector, "_agenttype_records", None)
    if not isinstance(records, dict):  # another Mesa: its own frame, at its own cost
        raw = collector.get_agenttype_vars_dataframe(Firm).reset_index()
        books = {name: raw[name].to_numpy() for name in reporters}
        return raw["Step"].to_numpy(np.int64), raw["AgentID"].to_numpy(), books
    rows = [row for by_type in records.values() for row in by_type.get(Firm, ())]
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, {name: np.zeros(0) for name in reporters}
    step, agent, *values = (_column(c) for c in zip(*rows, strict=True))
    return step.astype(np.int64), agent, dict(zip(reporters, values, strict=True))


def _column(values: tuple) -> np.ndarray:
    """One column of records as an array, of the type pandas would infer for it.

    Numbers and flags keep numpy's type (Python ints int64, floats float64, numpy scalars
    their own), as in pandas; anything else (missing values, text) goes through pandas.
    """
    column = np.asarray(values)
    if column.dtype.kind in "biuf":
        return column
    return pd.Series(list(values)).to_numpy()


def _period_then_name(step: np.ndarray, firm: np.ndarray) -> np.ndarray:
    """Row order by period, then firm name, ties kept in record order (a stable sort)."""
    ranks = {name: rank for rank, name in enumerate(sorted(set(firm.tolist())))}
    rank = np.array([ranks[name] for name in firm.tolist()], dtype=np.int64)
    return np.lexsort((rank, step))


# The columns of a firm's rows that its summary reads.
SUMMARY_COLUMNS = (
    "customers_start",
    "customers",
    "churned",
    "acquired",
    *MARKETING_CHANNELS,
    "acquired_from_rival",
    "discounted_profit",
    "profit",
    "revenue",
    "market_share",
    "retention_rate",
    "churn_rate",
    "acquisition_cost",
    "retention_cost",
    "marketing_cost",
    "cost_discount",
    "mean_satisfaction",
)


def summarise_run(
    focal: pd.DataFrame, values: np.ndarray, years_per_period: float = 1 / 12
) -> dict[str, float]:
    """The focal firm's outcomes over a run (the columns of ``summary.csv``).

    Args:
        focal: the focal firm's rows of the timeseries, in period order.
        values: the expected lifetime value of each of its customers at the end.
        years_per_period: the period's length in years.
    """
    columns = {n: focal[n].to_numpy() for n in _summary_names(focal.columns)}
    return summarise_columns(columns, values, years_per_period)


def _summary_names(columns: Iterable[str]) -> list[str]:
    """The columns a summary reads: :data:`SUMMARY_COLUMNS`, and the rewards if recorded."""
    return [*SUMMARY_COLUMNS, *(["cost_rewards"] if "cost_rewards" in columns else [])]


def summarise_columns(
    focal: dict[str, np.ndarray], values: np.ndarray, years_per_period: float = 1 / 12
) -> dict[str, float]:
    """:func:`summarise_run` on the focal firm's columns as numpy arrays.

    Sums and means skip missing values and add in the order pandas' reductions do, so the
    summary is the same to the last bit as one computed from the table.

    Args:
        focal: the focal firm's columns (at least :data:`SUMMARY_COLUMNS`, and
            ``cost_rewards`` when the rewards were recorded), in period order.
        values: the expected lifetime value of each of its customers at the end.
        years_per_period: the period's length in years.
    """
    retained = (focal["customers_start"] - focal["churned"]).sum()
    acquired = focal["acquired"].sum()
    by_marketing = np.stack([focal[c] for c in MARKETING_CHANNELS]).sum()
    lever_spend, rewards, discounts = _spend_totals(focal)
    acquisition_cost = _sum(focal["acquisition_cost"])
    retention_cost = _sum(focal["retention_cost"])
    return {
        "npv": float(_sum(focal["discounted_profit"])),
        "profit_total": float(_sum(focal["profit"])),
        "revenue_total": float(_sum(focal["revenue"])),
        "final_customers": int(focal["customers"][-1]),
        "final_market_share": float(focal["market_share"][-1]),
        "mean_retention_rate": float(_mean(focal["retention_rate"])),
        "mean_churn_rate": float(_mean(focal["churn_rate"])),
        "acquired_total": int(acquired),
        "referrals": int(focal["acquired_referral"].sum()),
        "churned_total": int(focal["churned"].sum()),
        "acquired_by_marketing": int(by_marketing),
        "acquired_from_rival": int(focal["acquired_from_rival"].sum()),
        "cost_per_acquired": _ratio(acquisition_cost, acquired),
        # Switchers from rivals come without marketing: the cost of one won by marketing.
        "cost_per_acquired_by_marketing": _ratio(acquisition_cost, by_marketing),
        # Per retained customer-year, so that it compares with a one-off acquisition cost.
        "cost_per_retained": _ratio(retention_cost, retained * years_per_period),
        "acquisition_cost_total": float(acquisition_cost),
        "retention_cost_total": float(retention_cost),
        "marketing_cost_total": float(_sum(focal["marketing_cost"])),
        "lever_spend_total": float(lever_spend),
        "rewards_total": float(rewards),
        "discounts_total": float(discounts),
        "mean_satisfaction": float(focal["mean_satisfaction"][-1]),
        "clv_mean": float(values.mean()) if len(values) else 0.0,
        "customer_equity": float(values.sum()),
    }


def _spend_totals(focal: dict[str, np.ndarray]) -> np.ndarray:
    """Lever spend, rewards and discounts over the run (see ``decomposition.spend_split``).

    The three columns are summed as rows of one (3, periods) array, the layout in which
    pandas sums the columns of that split, so the totals round the same way.
    """
    marketing, discounts = focal["marketing_cost"], focal["cost_discount"]
    rewards = focal["cost_rewards"] if "cost_rewards" in focal else 0.0 * focal["profit"]
    split = np.stack([marketing - discounts - rewards, rewards, discounts])
    return _sum(split.astype(float, copy=False), axis=1)


def _sum(values: np.ndarray, axis: int | None = None) -> Any:
    """Sum skipping NaN, as pandas' ``sum`` does: NaN count as 0."""
    missing = np.isnan(values)
    if missing.any():
        values = np.where(missing, 0.0, values)
    return values.sum(axis)


def _mean(values: np.ndarray) -> float:
    """Mean skipping NaN, as pandas' ``mean`` does (NaN when every value is missing)."""
    missing = np.isnan(values)
    count = float(len(values) - missing.sum())
    return _sum(values) / count if count > 0 else float("nan")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def _run_task(task: tuple[Scenario, str, int, int, Path | None]) -> RunResult:
    """Worker entry point (module level so process pools can import it)."""
    scenario, policy, seed, replication, log_folder = task
    log = None
    if log_folder is not None:
        log = Path(log_folder) / log_file_name(policy, replication, parquet_available())
    return run_replication(scenario, policy, seed, replication, transactions=log)


def run_scenario(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
    equivalence_margin: float | None = None,
    memory_check: bool = True,
    transactions: str | Path | None = None,
) -> ScenarioResults:
    """Run every policy of a scenario for every replication.

    Args:
        scenario: the validated scenario.
        replications: overrides the scenario's number of replications.
        seed: overrides the scenario's master seed.
        jobs: worker processes (1 runs in this process). Results do not depend on it.
        on_result: called after each run (progress bars).
        equivalence_margin: share of NPV within which two policies are practically
            equivalent (kept with the results for the report); overrides the scenario's
            ``equivalence_margin``.
        memory_check: refuse, before running, what cannot fit in memory.
        transactions: a folder (it must exist) to write each run's transaction log into,
            ``POLICY-REPLICATION.parquet`` (``.csv`` without pyarrow).

    Returns:
        The tidy tables, the comparison of each policy with the first included.

    Raises:
        ScenarioError: replications, seed or margin out of the schema's range.
        ResourceError: the runs would need more memory than this process may use.
    """
    from simulation.limits import check_memory, scenario_memory
    from simulation.scenario.controls import run_settings

    # The schema's own ranges, so that the scenario written with the results loads again.
    scenario = run_settings(scenario, replications, seed, source="run_scenario")
    scenario = _with_margin(scenario, equivalence_margin, "run_scenario")
    n, master = scenario.replications, scenario.seed
    if memory_check:
        check_memory(scenario_memory(scenario, n * len(scenario.policies), jobs))
    policies = list(scenario.policies)
    results = _run_replications(scenario, range(n), jobs, on_result, transactions)
    return collect(
        scenario,
        policies,
        replication_seeds(master, n),
        results,
        compare_policies,
        equivalence_margin=scenario.equivalence_margin,
    )


def _with_margin(scenario: Scenario, margin: float | None, source: str) -> Scenario:
    """The scenario with its equivalence margin overridden (checked by the schema)."""
    if margin is None:
        return scenario
    from simulation.scenario.loading import apply_overrides

    return apply_overrides(scenario, {"equivalence_margin": margin}, source=source)


def run_until_decided(
    scenario: Scenario,
    *,
    replications: int | None = None,
    cap: int = 200,
    seed: int | None = None,
    jobs: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
    on_round: Callable[[int, int], None] | None = None,
    equivalence_margin: float | None = None,
    transactions: str | Path | None = None,
) -> ScenarioResults:
    """Add paired replications until the verdict on NPV is settled, or the cap is reached.

    The verdict is settled when the best policy's difference from every other either clears
    the equivalence margin or lies inside it (see :func:`simulation.runs.stats.against_leader`).
    Each round asks for the replications the current intervals suggest, at most doubling the
    number; replication ``k`` has the same seed whatever the total, so the first runs are not
    repeated and the same command gives the same result. Looking at the data after each round
    makes the nominal 95% slightly optimistic; the report says so.

    Args:
        scenario: the validated scenario.
        replications: replications of the first round (default: the scenario's, at least 2).
        cap: the most replications per policy.
        seed: overrides the scenario's master seed.
        jobs: worker processes.
        on_result: called after each run (progress bars).
        on_round: called before each round with (replications so far, total after it).
        equivalence_margin: share of NPV within which two policies are practically equivalent
            (default: the scenario's ``equivalence_margin``).
        transactions: a folder to write each run's transaction log into (as
            :func:`run_scenario`).

    Returns:
        The results of every replication run, with ``until_decided`` filled in.
    """
    from simulation.scenario.controls import run_settings

    scenario = run_settings(scenario, None, seed, source="run_until_decided")
    scenario = _with_margin(scenario, equivalence_margin, "run_until_decided")
    equivalence_margin = scenario.equivalence_margin
    start = min(cap, max(2, replications or scenario.replications))
    master = scenario.seed
    policies = list(scenario.policies)
    results: list[RunResult] = []
    done, target = 0, start
    while True:
        if on_round is not None:
            on_round(done, target)
        current = scenario.model_copy(update={"replications": target, "seed": master})
        results += _run_replications(current, range(done, target), jobs, on_result, transactions)
        done = target
        summary = pd.DataFrame(
            [{"policy": r.policy, "replication": r.replication, **r.summary} for r in results]
        )
        verdicts = against_leader(summary, equivalence_margin)
        settled = is_settled(verdicts["verdict"])
        if settled or done >= cap or len(policies) < 2:
            break
        advice = [int(v) for v in verdicts["replications_to_settle"].dropna()]
        target = min(cap, max(done + 2, min(max(advice, default=2 * done), 2 * done)))
    results.sort(key=lambda res: (policies.index(res.policy), res.replication))
    outcome = collect(
        current,
        policies,
        replication_seeds(master, done),
        results,
        compare_policies,
        equivalence_margin=equivalence_margin,
    )
    outcome.until_decided = {"start": start, "cap": cap, "settled": bool(settled)}
    return outcome


def _run_replications(
    scenario: Scenario,
    replications: range,
    jobs: int,
    on_result: Callable[[RunResult], None] | None,
    transactions: str | Path | None = None,
) -> list[RunResult]:
    """Run every policy for the given replications of the scenario's seeds."""
    seeds = replication_seeds(scenario.seed, scenario.replications)
    policies = list(scenario.policies)
    tasks = [(scenario, p, seeds[r], r, transactions) for r in replications for p in policies]
    results = _execute(tasks, jobs, on_result)
    results.sort(key=lambda res: (policies.index(res.policy), res.replication))
    return results


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
    *,
    equivalence_margin: float | None = None,
) -> ScenarioResults:
    """Assemble per-run results into the scenario's tables (margin: the scenario's by default)."""
    timeseries = pooled_timeseries(results)
    summary = pd.DataFrame(
        [
            {"policy": r.policy, "replication": r.replication, "seed": r.seed, **r.summary}
            for r in results
        ]
    )
    return ScenarioResults(
        scenario=scenario,
        policies=policies,
        seeds=seeds,
        timeseries=timeseries,
        summary=summary,
        cohorts=pooled_cohorts(results),
        lifetime_values=lifetime_values(results),
        comparison=compare(summary, baseline=policies[0]),
        equivalence_margin=(
            scenario.equivalence_margin if equivalence_margin is None else equivalence_margin
        ),
    )
