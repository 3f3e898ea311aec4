"""The sweep engine: plan the runs, hand them to workers, stream the results to disk.

A *run* is one (design point, replication). Every compared policy is simulated on it with
the same seed, so policy differences are paired. A *task*, the unit sent to a worker, is a
batch of runs of one design point: long enough to pay for shipping it to another process.

Seeds: the run (point ``p``, replication ``r``) uses child ``r`` of
``SeedSequence(master_seed, spawn_key=(p,))``; nothing else decides its random numbers, so
results do not depend on the executor, the number of workers or the order tasks finish in.

Memory: the parent submits a bounded window of tasks, writes each result to its own file as
soon as it arrives and keeps only counters, so a sweep of any size runs in constant memory
(a resumed sweep also keeps the identities of the runs already on disk).
"""

from __future__ import annotations

import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.errors import ScenarioError, UserError
from simulation.experiments.decision import apply_settings
from simulation.experiments.designs import DesignPoints, build_design, point_overrides
from simulation.experiments.executors import Backend, default_jobs, open_backend
from simulation.experiments.manifest import finish_manifest, start_manifest, write_inputs
from simulation.experiments.progress import progress_bar
from simulation.experiments.simulate import simulate
from simulation.experiments.spec import Experiment
from simulation.experiments.store import SweepStore, hash_text, run_identity
from simulation.limits import MemoryNeed, check_memory, scenario_memory
from simulation.runs.interrupts import sigterm_as_interrupt
from simulation.runs.registry import release_models
from simulation.scenario.schema import Scenario

ModelFn = Callable[[Scenario, str, int, int], Mapping[str, float]]
"""``model(scenario, policy, seed, replication) -> {outcome: value}``; module-level, so that
worker processes can import it."""


# --------------------------------------------------------------------------- seeds
def run_seeds(master_seed: int, point: int, replications: list[int]) -> list[int]:
    """Seeds of some replications of one design point (see the module docstring).

    Replication ``r`` gets the same seed however many replications are asked for, which is
    what lets sequential replication add batches without changing the earlier runs.
    """
    from simulation.runs.runner import replication_seeds

    seeds = replication_seeds(master_seed, max(replications) + 1, (point,))
    return [int(seeds[r]) for r in replications]


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """A batch of runs of one design point, as sent to a worker."""

    point: int
    scenario: Scenario
    policies: tuple[str, ...]
    replications: tuple[int, ...]
    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]
    model: ModelFn
    target: tuple[str, str, str | None]  # outcome, policy, baseline


@dataclass
class TaskResult:
    """What a worker sends back: a few rows per run, never a time series."""

    point: int
    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    targets: dict[int, float]  # replication -> target value, successful runs only
    seconds: float


def evaluate_task(task: Task) -> TaskResult:
    """Run every policy on every replication of a task (in a worker process).

    A run that raises is recorded with its error and traceback and the task goes on with the
    next run: one bad corner of the design never stops a sweep.
    """
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    targets: dict[int, float] = {}
    outcome, policy_t, baseline_t = task.target
    for replication, seed, run_id in zip(task.replications, task.seeds, task.run_ids, strict=True):
        run_rows = []
        policy = ""
        try:
            for policy in task.policies:
                began = time.perf_counter()
                with release_models():
                    outcomes = task.model(task.scenario, policy, seed, replication)
                row = {
                    "point": task.point,
                    "replication": replication,
                    "seed": seed,
                    "policy": policy,
                    "run_id": run_id,
                }
                row.update({str(k): float(v) for k, v in outcomes.items()})
                row["elapsed_s"] = time.perf_counter() - began
                run_rows.append(row)
        except Exception as exc:  # isolate the failure to this run
            errors.append(error_record(task, replication, seed, run_id, policy, exc))
            continue
        rows.extend(run_rows)
        by_policy = {r["policy"]: r for r in run_rows}
        value = by_policy[policy_t].get(outcome, math.nan)
        if baseline_t is not None:
            value -= by_policy[baseline_t].get(outcome, math.nan)
        targets[replication] = value
    return TaskResult(task.point, rows, errors, targets, time.perf_counter() - start)


def error_record(
    task: Task, replication: int, seed: int, run_id: str, policy: str, exc: BaseException
) -> dict[str, Any]:
    """One line of ``errors.csv``: a run that failed, why, and its traceback."""
    return {
        "run_id": run_id,
        "point": task.point,
        "replication": replication,
        "seed": seed,
        "policy": policy,
        "error": exc.__class__.__name__,
        "message": str(exc).splitlines()[0] if str(exc) else "",
        "traceback": "".join(traceback.format_exception(exc)),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- planning
@dataclass
class Plan:
    """Everything decided before the first run: the design and each point's identity."""

    experiment: Experiment
    design: DesignPoints
    scenario_hashes: list[str]
    model: ModelFn
    largest: Scenario | None = None
    """The design point's scenario that needs the most memory (the memory check's)."""

    @property
    def points(self) -> pd.DataFrame:
        """The design table."""
        return self.design.points

    def overrides(self, point: int) -> dict[str, Any]:
        """Dotted-path overrides of one design point."""
        return point_overrides(self.experiment.factors, self.points.iloc[point])

    def values(self, point: int) -> dict[str, Any]:
        """Factor values of one design point, by factor label (JSON-friendly)."""
        overrides = self.overrides(point)
        return {f.label: overrides[f.path] for f in self.experiment.factors}

    def run_ids(self, point: int, replications: list[int], seeds: list[int]) -> list[str]:
        """Identities of some runs of one point."""
        values, scenario = self.values(point), self.scenario_hashes[point]
        return [
            run_identity(scenario, values, r, s) for r, s in zip(replications, seeds, strict=True)
        ]

    def task(self, point: int, replications: list[int]) -> Task:
        """The task running ``replications`` of ``point``."""
        experiment = self.experiment
        seeds = run_seeds(experiment.spec.seed, point, replications)
        target = experiment.target
        return Task(
            point=point,
            scenario=apply_settings(experiment.scenario, self.overrides(point)),
            policies=tuple(experiment.policies),
            replications=tuple(replications),
            seeds=tuple(seeds),
            run_ids=tuple(self.run_ids(point, replications, seeds)),
            model=self.model,
            target=(target.outcome, target.policy or experiment.policies[0], target.baseline),
        )


def plan_sweep(
    experiment: Experiment, model: ModelFn | None = None, design: pd.DataFrame | None = None
) -> Plan:
    """Draw the design and check every design point against the scenario schema.

    Args:
        experiment: a loaded experiment.
        model: the model function (default: relsim's simulation).
        design: design points to use instead of drawing them (``point`` plus factor columns).

    Raises:
        ScenarioError: a design point that the scenario schema refuses (up to 20 listed).
            Nothing has been written when it is raised.
    """
    drawn = build_design(experiment.spec, experiment.table, experiment.source)
    if design is not None:
        drawn = _given_design(experiment, design, drawn)
    hashes, problems = [], []
    largest: tuple[int, Scenario | None] = (-1, None)
    for point in range(len(drawn.points)):
        overrides = point_overrides(experiment.factors, drawn.points.iloc[point])
        try:
            resolved = apply_settings(experiment.scenario, overrides, source="")
        except ScenarioError as exc:
            reason = exc.problems[0].lstrip(": ")
            problems.append(
                f"{experiment.source}: design point {point} {overrides} is not allowed: {reason}"
            )
            if len(problems) >= 20:
                break
            continue
        hashes.append(hash_text(resolved.model_dump_json()))
        need = scenario_memory(resolved, 1).bytes
        largest = max(largest, (need, resolved), key=lambda found: found[0])
    if problems:
        raise ScenarioError(problems)
    return Plan(experiment, drawn, hashes, model or simulate, largest[1])


def sweep_memory(scenario: Scenario, workers: int, what: str = "the sweep") -> MemoryNeed:
    """The memory a sweep needs at its peak: ``workers`` simulations of its largest market.

    Each worker holds one simulation at a time and results go to disk as they arrive, so
    the design's size does not matter, only its largest market and the number of workers.
    """
    need = scenario_memory(scenario, workers, workers)
    return MemoryNeed(what, need.bytes, f"its largest market: {need.detail}")


def _given_design(
    experiment: Experiment, design: pd.DataFrame, drawn: DesignPoints
) -> DesignPoints:
    labels = [f.label for f in experiment.factors]
    missing = [x for x in labels if x not in design.columns]
    if missing:
        raise UserError(f"design: missing columns for factors {', '.join(missing)}")
    points = design[labels].reset_index(drop=True)
    points.insert(0, "point", np.arange(len(points), dtype=np.int64))
    same = drawn.raw is not None and points.equals(drawn.points)
    # The raw SALib sample only describes the drawn design; a changed one cannot use it.
    return DesignPoints(points, drawn.raw if same else None, drawn.problem if same else None)


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepSummary:
    """What a sweep did."""

    out: Path
    total_runs: int = 0
    done: int = 0  # runs finished in this call
    skipped: int = 0  # runs found on disk and not run again
    failed: int = 0  # runs whose last attempt failed (their errors are in errors/)
    complete: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    workers: int = 0
    executor: str = ""
    report: Path | None = None
    message: str = ""
    broken: bool = False  # the process pool broke (a worker died)
    simulations: int = 0  # policy runs finished in this call (runs x policies)
    simulation_seconds: float = 0.0  # their summed wall time in the workers

    @property
    def errors_dir(self) -> Path:
        """Where the failed runs' errors are."""
        return self.out / "errors"


@dataclass
class _PointState:
    scheduled: int  # replications 0 .. scheduled-1 are part of the plan
    targets: dict[int, float] = field(default_factory=dict)
    attempted: set[int] = field(default_factory=set)


def run_sweep(
    experiment: Experiment,
    out: str | Path,
    *,
    jobs: int | None = None,
    executor: str = "process",
    scheduler: str | None = None,
    overwrite: bool = False,
    model: ModelFn | None = None,
    design: pd.DataFrame | None = None,
    progress: bool = False,
    report: bool = True,
    console: Any = None,
    memory_check: bool = True,
) -> SweepSummary:
    """Run (or resume) a sweep into a folder.

    Args:
        experiment: a loaded experiment.
        out: the sweep folder. If it holds this sweep already, the runs on disk are skipped.
        jobs: workers (default: the number of CPUs; 1 runs in this process).
        executor: ``process`` or ``dask``.
        scheduler: address of a running Dask scheduler.
        overwrite: replace a folder that holds another sweep.
        model: the model function (default: relsim's simulation).
        design: design points to use instead of drawing them.
        progress: show a progress bar (rich).
        report: write the report when the sweep ends (also after an interruption).
        console: a ``rich.console.Console`` for the progress bar.
        memory_check: refuse, before the folder is touched, a sweep whose largest market
            cannot fit in memory on this machine (not checked for a remote Dask scheduler,
            whose workers have memory of their own).

    Returns:
        Counts of runs done, skipped and failed, and where the report is.

    Raises:
        UserError: invalid design points, a folder that holds something else, a bad executor.
        ResourceError: the sweep would need more memory than this process may use.
    """
    plan = plan_sweep(experiment, model, design)
    if memory_check and scheduler is None and plan.largest is not None:
        check_memory(sweep_memory(plan.largest, jobs or default_jobs()))
    # The model is part of what decides the results: a folder filled by one model function
    # is never resumed with another.
    model_name = f"{plan.model.__module__}.{getattr(plan.model, '__qualname__', plan.model)}"
    fingerprint = experiment.fingerprint() + hash_text(plan.points.to_json() + model_name)
    summary = SweepSummary(Path(out))
    store: SweepStore | None = None
    started = time.time()
    with sigterm_as_interrupt():
        try:
            with open_backend(executor, jobs, scheduler) as backend:
                store = SweepStore(out)
                resumed = store.prepare(
                    fingerprint, overwrite=overwrite, experiment=experiment.source
                )
                summary.workers, summary.executor = backend.workers, backend.kind
                write_inputs(store, plan, resumed)
                manifest = start_manifest(store, plan, backend, started, resumed, fingerprint)
                store.write_manifest(manifest)
                _execute(plan, store, backend, summary, progress, console)
        except (KeyboardInterrupt, BrokenProcessPool) as exc:
            summary.interrupted = True
            if isinstance(exc, KeyboardInterrupt):
                summary.message = "interrupted"
            else:
                summary.broken = True
                summary.message = (
                    "a worker process died: out of memory, or a script that starts a sweep "
                    'without an `if __name__ == "__main__":` guard (spawned workers import '
                    "the main script again)"
                )
    summary.seconds = time.time() - started
    if store is None:  # stopped before the folder was touched
        return summary
    summary.failed = store.error_count()
    summary.complete = not summary.interrupted and summary.failed == 0
    manifest = store.read_manifest()
    manifest.update(finish_manifest(manifest, summary))
    store.write_manifest(manifest)
    if report:
        from simulation.experiments.sweep_report import build_report

        summary.report = build_report(store.root)
    return summary


def _execute(
    plan: Plan,
    store: SweepStore,
    backend: Backend,
    summary: SweepSummary,
    progress: bool,
    console: Any,
) -> None:
    spec = plan.experiment.spec
    done_ids, known = _scan(store, plan)
    if done_ids and progress and console is not None:
        console.print(
            f"resuming {store.root}: {len(done_ids):,} runs already on disk are skipped",
            highlight=False,
            soft_wrap=True,
        )
    states: dict[int, _PointState] = {}
    followups: deque[Task] = deque()
    counters = {"runs": len(plan.points) * spec.replications}
    summary.total_runs = counters["runs"]

    def next_task(point: int) -> Task | None:
        """The next batch of ``point``, or None when the point is finished."""
        state = states[point]
        while True:
            todo = [r for r in range(state.scheduled) if r not in state.attempted]
            if todo:
                state.attempted.update(todo)
                if done_ids:
                    seeds = run_seeds(spec.seed, point, todo)
                    ids = plan.run_ids(point, todo, seeds)
                    fresh = [r for r, rid in zip(todo, ids, strict=True) if rid not in done_ids]
                    summary.skipped += len(todo) - len(fresh)
                    bar.skip(len(todo) - len(fresh))
                    todo = fresh
                if todo:
                    return plan.task(point, todo)
                continue
            more = _more_replications(state, spec)
            if not more:
                states.pop(point, None)
                return None
            state.scheduled += more
            counters["runs"] += more
            summary.total_runs = counters["runs"]
            bar.set_total(counters["runs"])

    def initial_tasks() -> Iterator[Task]:
        for point in range(len(plan.points)):
            states[point] = _PointState(spec.replications, known.pop(point, {}))
            task = next_task(point)
            if task is not None:
                yield task

    window = max(2, 2 * backend.workers)
    pending: dict[Future, Task] = {}
    with progress_bar(progress, counters["runs"], console) as bar:
        tasks = initial_tasks()

        def fill() -> None:
            while len(pending) < window:
                task = followups.popleft() if followups else next(tasks, None)
                if task is None:
                    return
                pending[backend.executor.submit(evaluate_task, task)] = task

        fill()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as exc:  # the task itself could not run: all its runs fail
                    result = TaskResult(
                        task.point,
                        [],
                        [
                            error_record(task, r, s, rid, "", exc)
                            for r, s, rid in zip(
                                task.replications, task.seeds, task.run_ids, strict=True
                            )
                        ],
                        {},
                        0.0,
                    )
                _store_result(plan, store, task, result)
                ok = len(result.targets)
                summary.done += ok
                summary.failed += len(result.errors)
                summary.simulations += len(result.rows)
                summary.simulation_seconds += sum(r["elapsed_s"] for r in result.rows)
                bar.advance(ok + len(result.errors), failed=summary.failed)
                state = states.get(task.point)
                if state is not None:
                    state.targets.update(result.targets)
                    follow = next_task(task.point)
                    if follow is not None:
                        followups.append(follow)
            fill()


def _more_replications(state: _PointState, spec: Any) -> int:
    """Sequential replication: how many more replications a point needs (0: it is done)."""
    rule = spec.precision
    if rule is None or state.scheduled >= rule.max_replications:
        return 0
    values = np.array([v for v in state.targets.values() if math.isfinite(v)], dtype=float)
    if values.size >= 2:
        from simulation.runs.stats import mean_ci

        _, low, high = mean_ci(values, spec.confidence)
        if (high - low) / 2 <= rule.half_width:
            return 0
    return min(rule.batch, rule.max_replications - state.scheduled)


def _store_result(plan: Plan, store: SweepStore, task: Task, result: TaskResult) -> None:
    """Write a task's runs to their own file, and its failures to errors/."""
    rows = result.rows
    if rows:
        n = len(rows)
        names = list(dict.fromkeys(k for row in rows for k in row))
        keys, outcomes = names[:5], names[5:]
        columns: dict[str, Any] = {k: [row[k] for row in rows] for k in keys}
        columns["seed"] = np.asarray(columns["seed"], dtype=np.int64)  # seeds are < 2**63
        # Factor values on every row make each file a self-contained tidy table; their
        # dtypes come from the design so that every file of a sweep has one schema.
        values = plan.points.iloc[task.point]
        for factor in plan.experiment.factors:
            dtype = plan.points[factor.label].dtype
            columns[factor.label] = pd.Series([values[factor.label]] * n, dtype=dtype)
        for k in outcomes:
            columns[k] = np.fromiter((row.get(k, np.nan) for row in rows), float, n)
        table = pd.DataFrame(columns)
        ok_ids = sorted(set(columns["run_id"]))
        store.write_part(task.point, ok_ids, table)
        for run_id in ok_ids:
            store.clear_error(run_id)
    for record in result.errors:
        store.write_error(record)


def _scan(store: SweepStore, plan: Plan) -> tuple[set[str], dict[int, dict[int, float]]]:
    """Runs already on disk: their identities and (for sequential replication) targets."""
    done: set[str] = set()
    known: dict[int, dict[int, float]] = {}
    target = plan.experiment.target
    outcome = target.outcome
    policy = target.policy or plan.experiment.policies[0]
    keys = ["run_id", "policy", "replication"]
    for point, paths in store.parts_by_point():
        columns = keys + ([outcome] if spec_precision(plan) else [])
        table = store.read_point(paths, columns)
        done.update(table["run_id"].astype(str))
        if not spec_precision(plan) or outcome not in table.columns:
            continue
        wide = table.pivot_table(index="replication", columns="policy", values=outcome)
        values = wide[policy] if policy in wide else pd.Series(dtype=float)
        if target.baseline is not None and target.baseline in wide:
            values = values - wide[target.baseline]
        known[point] = {int(r): float(v) for r, v in values.items()}
    return done, known


def spec_precision(plan: Plan) -> bool:
    """Whether the sweep adds replications until the target's CI is narrow enough."""
    return plan.experiment.spec.precision is not None
