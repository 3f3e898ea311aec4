"""Arms of an optimisation and how they run: the folder, the seeds, the executor.

An *arm* is a candidate of the search or one of the scenario's policies, resolved in every
sampled market. :class:`Runner` runs arms through the sweep machinery (a process pool, a Dask
cluster or this process, :func:`simulation.experiments.engine.evaluate_task`), writes every
finished task to the folder's ``runs/`` at once, and never runs again a run already on disk:
a run is identified by the resolved scenario, the market, the seed stream, the replication and
the seed.

Seeds: replication ``r`` of market ``m`` uses child ``r`` of ``SeedSequence(seed,
spawn_key=(m,))`` on the search stream (every arm meets the same luck: common random
numbers), and child ``r`` of ``SeedSequence(seed, spawn_key=(FRESH_STREAM, m))`` on the
fresh stream of the final check.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.experiments.candidates import SEARCH
from simulation.experiments.decision import candidate_scenario
from simulation.experiments.engine import ModelFn, Task, TaskResult, evaluate_task, run_seeds
from simulation.experiments.executors import Backend
from simulation.experiments.optimise_spec import SPEND_OUTCOME, Optimisation
from simulation.experiments.simulate import simulate
from simulation.experiments.store import (
    SweepStore,
    hash_text,
    read_table,
    run_identity,
)
from simulation.runs.runner import replication_seeds
from simulation.scenario.schema import Scenario

OPTIMISE_KIND = "relsim-optimise"
FRESH_STREAM = 2**31 - 4  # spawn key of the final check's seeds


def simulate_with_spend(
    scenario: Scenario, policy: str, seed: int, replication: int = 0
) -> dict[str, float]:
    """:func:`simulate`, plus the mean marketing spend per period (rewards and discounts in)."""
    outcomes = simulate(scenario, policy, seed, replication)
    spend = outcomes.get("acquisition_cost_total", 0.0) + outcomes.get("retention_cost_total", 0.0)
    outcomes[SPEND_OUTCOME] = spend / scenario.market.periods
    return outcomes


class OptimiseStore(SweepStore):
    """An optimisation folder: a sweep folder whose manifest says ``relsim-optimise``."""

    def is_sweep(self) -> bool:
        """Whether the folder holds an optimisation (the store's own kind of folder)."""
        try:
            return self.read_manifest().get("kind") == OPTIMISE_KIND
        except (OSError, ValueError):
            return False

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the manifest atomically, marked as an optimisation."""
        super().write_manifest({**manifest, "kind": OPTIMISE_KIND})


def is_optimisation(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``relsim optimise`` result."""
    return OptimiseStore(folder).is_sweep()


# --------------------------------------------------------------------------- arms
@dataclass
class Arm:
    """A candidate of the search or a policy of the scenario, ready to run in every market."""

    name: str
    trial: int  # -1 for the scenario's policies
    policy: str
    scenarios: list[Scenario]
    hashes: list[str]
    params: dict[str, float] = field(default_factory=dict)


def reference_arm(opt: Optimisation, policy: str) -> Arm:
    """One of the scenario's policies, in every market."""
    scenarios = [_only(opt.market_scenario(m), policy) for m in range(len(opt.markets))]
    return Arm(policy, -1, policy, scenarios, [hash_text(s.model_dump_json()) for s in scenarios])


def candidate_arm(opt: Optimisation, trial: int, params: Mapping[str, float]) -> Arm:
    """A candidate of the search, in every market."""
    decision = opt.spec.decision
    scenarios = [
        candidate_scenario(opt.market_scenario(m), decision, params, opt.source)
        for m in range(len(opt.markets))
    ]
    hashes = [hash_text(s.model_dump_json()) for s in scenarios]
    return Arm(f"trial-{trial:04d}", trial, decision.policy, scenarios, hashes, dict(params))


def _only(scenario: Scenario, policy: str) -> Scenario:
    data = scenario.model_dump(mode="python")
    data["policies"] = {policy: data["policies"][policy]}
    return Scenario.model_validate(data)


# --------------------------------------------------------------------------- running arms
class Runner:
    """Runs arms through an executor, streams results to the folder, remembers every run."""

    def __init__(self, opt: Optimisation, store: SweepStore, backend: Backend, model: ModelFn):
        self.opt, self.store, self.backend, self.model = opt, store, backend, model
        self.runs = read_runs(store)
        self.known = set(self.runs["run_id"].astype(str)) if len(self.runs) else set()
        self.done = 0
        self.skipped = len(self.known)  # runs on disk from an earlier session
        self.failed = 0
        self.bar: Any = None
        self.bar_total = 0
        self._order: dict[str, int] = {}

    def ensure(self, arms: list[Arm], stream: str, replications: int) -> None:
        """Make sure each arm has replications ``0 .. replications - 1`` in every market."""
        tasks = []
        for arm in arms:
            for market in range(len(self.opt.markets)):
                task = self._task(arm, market, stream, replications)
                if task is not None:
                    tasks.append((arm, stream, task))
        if self.bar is not None and tasks:
            self.bar_total += sum(len(t.replications) for _, _, t in tasks)
            self.bar.set_total(self.bar_total)
        self._run(tasks)

    def _task(self, arm: Arm, market: int, stream: str, replications: int) -> Task | None:
        seeds = self._seeds(market, stream, replications)
        values = {"arm": arm.name, "market": market, "stream": stream}
        ids = [run_identity(arm.hashes[market], values, r, s) for r, s in enumerate(seeds)]
        missing = [r for r, run_id in enumerate(ids) if run_id not in self.known]
        if not missing:
            return None
        objective = self.opt.spec.objectives[0].outcome
        return Task(
            point=market,
            scenario=arm.scenarios[market],
            policies=(arm.policy,),
            replications=tuple(missing),
            seeds=tuple(seeds[r] for r in missing),
            run_ids=tuple(ids[r] for r in missing),
            model=self.model,
            target=(objective, arm.policy, None),
        )

    def _seeds(self, market: int, stream: str, replications: int) -> list[int]:
        seed = self.opt.spec.seed
        if stream == SEARCH:
            return run_seeds(seed, market, list(range(replications)))
        return replication_seeds(seed, replications, (FRESH_STREAM, market))

    def _run(self, tasks: list[tuple[Arm, str, Task]]) -> None:
        queue = list(reversed(tasks))
        pending: dict[Future, tuple[Arm, str, Task]] = {}
        window = max(2, 2 * self.backend.workers)
        while queue or pending:
            while queue and len(pending) < window:
                item = queue.pop()
                pending[self.backend.executor.submit(evaluate_task, item[2])] = item
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                arm, stream, task = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as exc:  # the task could not run: every run of it failed
                    from simulation.experiments.engine import error_record

                    records = [
                        error_record(task, r, s, i, arm.policy, exc)
                        for r, s, i in zip(task.replications, task.seeds, task.run_ids, strict=True)
                    ]
                    result = TaskResult(task.point, [], records, {}, 0.0)
                self._store(arm, stream, task, result)

    def _store(self, arm: Arm, stream: str, task: Task, result: TaskResult) -> None:
        for record in result.errors:
            self.store.write_error(record)
        self.failed += len(result.errors)
        if result.rows:
            table = pd.DataFrame(result.rows)
            table.insert(0, "stream", stream)
            table.insert(0, "market", task.point)
            table.insert(0, "trial", arm.trial)
            table.insert(0, "arm", arm.name)
            table = table.drop(columns=["point"])
            table["seed"] = table["seed"].astype(np.int64)
            ids = sorted(set(table["run_id"]))
            index = self._order.setdefault(arm.name, len(self._order))
            self.store.write_part(index, ids, table)
            for run_id in ids:
                self.store.clear_error(run_id)
            self.known.update(ids)
            self.runs = (
                pd.concat([self.runs, table], ignore_index=True) if len(self.runs) else table
            )
            self.done += len(ids)
        if self.bar is not None:
            self.bar.advance(len(result.rows) + len(result.errors), failed=self.failed)


def read_runs(store: SweepStore) -> pd.DataFrame:
    """Every run on disk in an optimisation folder (each run once)."""
    parts = store.parts()
    if not parts:
        return pd.DataFrame(columns=["arm", "trial", "market", "stream", "replication", "run_id"])
    table = pd.concat([read_table(p) for p in parts], ignore_index=True)
    return table.drop_duplicates(subset=["run_id"], keep="last").reset_index(drop=True)
