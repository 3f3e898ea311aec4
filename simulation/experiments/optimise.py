"""``relsim optimise``: the best use of a budget, found with the noise of the model in mind.

Three stages, all through the sweep machinery (the process pool or Dask executors,
:func:`simulation.experiments.engine.evaluate_task`, results streamed to the folder's
``runs/`` as they arrive):

1. **Search.** optuna proposes candidates (TPE, CMA-ES or NSGA-II) ``search.batch`` at a time;
   each runs ``search.replications`` times in every sampled market. Every candidate and every
   policy of the scenario meets the same seeds (common random numbers: replication ``r`` of
   market ``m`` uses child ``r`` of ``SeedSequence(seed, spawn_key=(m,))``), so candidates
   are compared pairwise. The study lives in ``optuna.db`` (SQLite): an interrupted search
   resumes where it stopped.
2. **Racing.** The leading ``race.candidates`` get ``race.batch`` more replications at a time
   (the leader and every rival not yet beaten beyond the paired interval) until the leader
   separates from all of them or ``race.max_runs`` runs are spent. The leader is the
   recommendation.
3. **Final check.** The best ``final.top`` candidates and every policy of the scenario run
   again on fresh seeds (spawn key ``(FRESH_STREAM, m)``): a winner judged on the noise it
   was picked on is flattered. The verdict compares the recommendation with each policy by
   paired 95% intervals on those fresh seeds.

Determinism: the sampler of trial ``n`` is seeded from the master seed and ``n`` alone, and
candidates are proposed in batches of a fixed size whatever the number of workers, so the
same file and seed give the same recommendation with any executor, any ``--jobs``, and after
any number of interruptions.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.experiments.arms import (
    FRESH_STREAM,
    Arm,
    OptimiseStore,
    Runner,
    candidate_arm,
    reference_arm,
    simulate_with_spend,
)
from simulation.experiments.candidates import (
    FRESH,
    SEARCH,
    mean_outcome,
    minimised,
    race_status,
    score,
)
from simulation.experiments.decision import decision_overrides
from simulation.experiments.designs import derived_seed
from simulation.experiments.engine import ModelFn
from simulation.experiments.executors import Backend, open_backend
from simulation.experiments.optimise_spec import (
    SPEND_OUTCOME,
    Optimisation,
    dump_optimisation,
)
from simulation.experiments.progress import progress_bar
from simulation.experiments.store import (
    SweepStore,
    atomic_write_text,
    hash_text,
    write_table,
)
from simulation.runs.interrupts import sigterm_as_interrupt
from simulation.scenario.loading import dump_yaml

SEARCH_STREAM = 2**31 - 3  # spawn key of the samplers' seeds
STUDY = "relsim"


# --------------------------------------------------------------------------- the study
def make_sampler(opt: Optimisation, trial: int) -> Any:
    """The sampler that proposes trial ``trial``.

    Its seed comes from the master seed and the trial number alone, so a resumed study
    proposes what an uninterrupted one would.
    """
    import optuna

    seed = derived_seed(opt.spec.seed, SEARCH_STREAM) ^ (trial * 0x9E3779B1 & 0xFFFFFFFF)
    search = opt.spec.search
    kind = opt.spec.sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed,
                n_startup_trials=search.startup_trials,
                warn_independent_sampling=False,
            )
        if kind == "nsga2":
            return optuna.samplers.NSGAIISampler(
                seed=seed,
                population_size=max(search.batch, min(search.startup_trials, search.trials)),
            )
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=search.startup_trials,
            multivariate=True,
        )


def open_study(opt: Optimisation, folder: Path) -> Any:
    """The optuna study in ``folder/optuna.db`` (created, or loaded to resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["minimize" if minimised(o) else "maximize" for o in opt.spec.objectives]
    storage = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    return optuna.create_study(
        storage=storage, study_name=STUDY, directions=directions, load_if_exists=True
    )


# --------------------------------------------------------------------------- the whole job
@dataclass
class OptimiseSummary:
    """What an optimisation did."""

    out: Path
    trials: int = 0
    runs_done: int = 0
    runs_skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    workers: int = 0
    executor: str = ""
    interrupted: bool = False
    broken: bool = False
    complete: bool = False
    message: str = ""
    recommendation: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None


def run_optimisation(
    opt: Optimisation,
    out: str | Path,
    *,
    trials: int | None = None,
    jobs: int | None = None,
    executor: str = "process",
    scheduler: str | None = None,
    overwrite: bool = False,
    model: ModelFn | None = None,
    progress: bool = False,
    report: bool = True,
    console: Any = None,
) -> OptimiseSummary:
    """Run (or resume) an optimisation into a folder.

    Args:
        opt: from :func:`~simulation.experiments.optimise_spec.load_optimisation`.
        out: the folder; if it holds this optimisation already, it is resumed (runs on disk
            are not run again, the optuna study continues).
        trials: candidates to try in all (default: ``search.trials`` of the file); more than
            a finished search extends it.
        jobs: workers (default: the number of CPUs; 1 runs in this process).
        executor: ``process`` or ``dask``.
        scheduler: address of a running Dask scheduler.
        overwrite: replace a folder that holds another optimisation.
        model: the model function (default: relsim's simulation plus the spend per period).
        progress: show a progress bar.
        report: write the report at the end (also after an interruption).
        console: a ``rich.console.Console`` for the progress bar.

    Returns:
        What was done, and the recommendation.
    """
    model = model or simulate_with_spend
    target_trials = trials or opt.spec.search.trials
    model_name = f"{model.__module__}.{getattr(model, '__qualname__', model)}"
    fingerprint = opt.fingerprint() + hash_text(model_name)
    summary = OptimiseSummary(Path(out))
    started = time.time()
    store: OptimiseStore | None = None
    with sigterm_as_interrupt():
        try:
            with open_backend(executor, jobs, scheduler) as backend:
                store = OptimiseStore(out)
                resumed = store.prepare(fingerprint, overwrite=overwrite, experiment=opt.source)
                summary.workers, summary.executor = backend.workers, backend.kind
                _write_inputs(store, opt, resumed)
                manifest = _start_manifest(store, opt, backend, started, resumed, fingerprint)
                store.write_manifest(manifest)
                runner = Runner(opt, store, backend, model)
                with progress_bar(progress, 0, console) as bar:
                    runner.bar = bar
                    summary.recommendation = _optimise(opt, store, runner, target_trials)
                    summary.trials = int(runner.runs["trial"].max()) + 1 if len(runner.runs) else 0
                summary.runs_done, summary.runs_skipped = runner.done, runner.skipped
        except (KeyboardInterrupt, BrokenProcessPool) as exc:
            summary.interrupted = True
            summary.broken = isinstance(exc, BrokenProcessPool)
            summary.message = "a worker process died" if summary.broken else "interrupted"
    summary.seconds = time.time() - started
    if store is None:
        return summary
    summary.failed = store.error_count()
    summary.complete = not summary.interrupted and bool(summary.recommendation)
    manifest = store.read_manifest()
    manifest.update(
        {
            "complete": summary.complete,
            "status": "complete" if summary.complete else "incomplete",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(manifest.get("seconds", 0.0) + summary.seconds, 3),
        }
    )
    store.write_manifest(manifest)
    if report:
        from simulation.experiments.optimise_report import build_optimise_report

        summary.report = build_optimise_report(store.root)
    return summary


def _optimise(
    opt: Optimisation, store: SweepStore, runner: Runner, target_trials: int
) -> dict[str, Any]:
    """Search, race, check on fresh seeds; write the tables; return the recommendation."""
    spec = opt.spec
    references = [reference_arm(opt, p) for p in opt.references]
    runner.ensure(references, SEARCH, spec.search.replications)
    study = open_study(opt, store.root)
    arms = _search(opt, study, runner, target_trials)
    write_table(store.path("trials.csv"), trials_table(opt, study, arms, runner.runs))
    feasible = [a for a in arms.values() if _feasible(opt, runner.runs, a.name)]
    if not feasible:
        return {}
    objective = spec.objectives[0]
    names = [r.name for r in references]
    sign = -1.0 if minimised(objective) else 1.0
    ranked = sorted(
        feasible,
        key=lambda a: (
            -sign * score(runner.runs, a.name, objective, SEARCH, names)["value"],
            a.trial,
        ),
    )
    pool = ranked[: spec.race.candidates]
    leader, rounds, reason = _race(opt, runner, pool, names)
    by_name = {a.name: a for a in pool}
    status = race_status(runner.runs, [a.name for a in pool], objective, names, spec.confidence)
    order = [leader] + [
        str(a) for a in status.table.sort_values("difference")["arm"] if str(a) != leader
    ]
    finalists = [by_name[a] for a in order[: spec.final.top]]
    runner.ensure(finalists + references, FRESH, spec.final.replications)
    best = by_name[leader]
    recommendation = {
        "arm": best.name,
        "trial": best.trial,
        "params": best.params,
        "overrides": decision_overrides(spec.decision, opt.scenario, best.params),
        "race": {"stopped": reason, "rounds": rounds, "pool": [a.name for a in pool]},
        "finalists": [a.name for a in finalists],
    }
    atomic_write_text(
        store.path("recommendation.json"), json.dumps(recommendation, indent=2, default=str) + "\n"
    )
    return recommendation


def _search(opt: Optimisation, study: Any, runner: Runner, target: int) -> dict[int, Arm]:
    """Ask, evaluate and tell candidates in fixed batches until ``target`` trials are done."""
    import optuna
    from optuna.trial import TrialState

    from simulation.experiments.decision import suggest

    spec = opt.spec
    batch = spec.search.batch
    arms: dict[int, Arm] = {}
    names = list(opt.references)
    while True:
        trials = study.get_trials(deepcopy=False)
        for frozen in trials:
            if frozen.state == TrialState.COMPLETE and frozen.number not in arms:
                arms[frozen.number] = candidate_arm(opt, frozen.number, frozen.params)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not running and len(trials) >= target:
            break
        # A batch is trials [kB, (k+1)B): an interrupted one is completed before any is told,
        # so every trial of a batch is proposed knowing the same finished trials.
        n = len(trials)
        end = min(((n - 1) // batch + 1) * batch if running else n + batch, max(target, n))
        # A resumed trial is told through a Trial handle on its stored row.
        live = {t.number: optuna.trial.Trial(study, t._trial_id) for t in running}
        params = {t.number: t.params for t in running}
        for number in range(n, end):
            study.sampler = make_sampler(opt, number)
            trial = study.ask()
            live[trial.number] = trial
            params[trial.number] = suggest(trial, spec.decision, opt.scenario)
        batch_arms = []
        for number in sorted(live):
            if set(params[number]) != set(opt.parameters):  # stopped while being proposed
                study.tell(live[number], state=TrialState.FAIL)
                continue
            batch_arms.append(candidate_arm(opt, number, params[number]))
        runner.ensure(batch_arms, SEARCH, spec.search.replications)
        for arm in batch_arms:
            values = [
                score(runner.runs, arm.name, o, SEARCH, names, spec.confidence)["value"]
                for o in spec.objectives
            ]
            trial = live[arm.trial]
            for key, value in _constraint_values(opt, runner.runs, arm.name).items():
                trial.set_constraint(key, value)
            study.sampler = make_sampler(opt, arm.trial)
            if all(math.isfinite(v) for v in values):
                study.tell(trial, values)
                arms[arm.trial] = arm
            else:
                study.tell(trial, state=TrialState.FAIL)
    return arms


def _constraint_values(opt: Optimisation, runs: pd.DataFrame, arm: str) -> dict[str, float]:
    """Constraint values for optuna: feasible when every one is at most zero."""
    limits = opt.spec.constraints
    values = {}
    if limits.max_spend is not None:
        values["max_spend"] = mean_outcome(runs, arm, SPEND_OUTCOME, SEARCH) - limits.max_spend
    if limits.min_market_share is not None:
        share = mean_outcome(runs, arm, "final_market_share", SEARCH)
        values["min_market_share"] = limits.min_market_share - share
    return {k: v if math.isfinite(v) else 1.0 for k, v in values.items()}


def _feasible(opt: Optimisation, runs: pd.DataFrame, arm: str) -> bool:
    return all(v <= 0 for v in _constraint_values(opt, runs, arm).values())


def _race(
    opt: Optimisation, runner: Runner, pool: list[Arm], references: list[str]
) -> tuple[str, list[dict[str, Any]], str]:
    """Add replications to the leader and its unbeaten rivals until they separate."""
    spec = opt.spec
    objective = spec.objectives[0]
    names = [a.name for a in pool]
    by_name = {a.name: a for a in pool}
    spent, rounds = 0, []
    n = spec.search.replications
    markets = len(opt.markets)
    while True:
        status = race_status(runner.runs, names, objective, references, spec.confidence)
        alive = status.alive
        rounds.append({"replications": n, "leader": status.leader, "alive": alive})
        if not alive:
            return status.leader, rounds, "separated"
        cost = (1 + len(alive)) * markets * spec.race.batch
        if spent + cost > spec.race.max_runs:
            return status.leader, rounds, "budget"
        n += spec.race.batch
        runner.ensure([by_name[a] for a in [status.leader, *alive]], SEARCH, n)
        spent += cost


# --------------------------------------------------------------------------- tables
def trials_table(
    opt: Optimisation, study: Any, arms: Mapping[int, Arm], runs: pd.DataFrame
) -> pd.DataFrame:
    """One row per trial: its numbers, the policy they mean, its objectives and constraints."""
    from simulation.experiments.decision import policy_profile

    spec = opt.spec
    pareto = {t.number for t in study.best_trials} if len(spec.objectives) > 1 else set()
    rows = []
    names = list(opt.references)
    for number, arm in sorted(arms.items()):
        row: dict[str, Any] = {"trial": number, "arm": arm.name}
        row.update({f"param.{k}": v for k, v in arm.params.items()})
        row.update(policy_profile(arm.scenarios[0], arm.policy))
        for i, objective in enumerate(spec.objectives):
            found = score(runs, arm.name, objective, SEARCH, names, spec.confidence)
            key = f"objective{i}"
            row.update(
                {
                    key: found["value"],
                    f"{key}_low": found["ci_low"],
                    f"{key}_high": found["ci_high"],
                }
            )
            row["n"] = found["n"] if i == 0 else row["n"]
        row["spend_per_period"] = mean_outcome(runs, arm.name, SPEND_OUTCOME, SEARCH)
        row["final_market_share"] = mean_outcome(runs, arm.name, "final_market_share", SEARCH)
        row["feasible"] = _feasible(opt, runs, arm.name)
        row["pareto"] = number in pareto
        rows.append(row)
    return pd.DataFrame(rows)


def _write_inputs(store: SweepStore, opt: Optimisation, resumed: bool) -> None:
    if resumed and store.path("markets.csv").exists():
        return
    atomic_write_text(store.path("optimise.yaml"), dump_optimisation(opt.spec))
    atomic_write_text(store.path("scenario.yaml"), dump_yaml(opt.scenario))
    write_table(store.path("markets.csv"), opt.markets)


def _start_manifest(
    store: SweepStore,
    opt: Optimisation,
    backend: Backend,
    started: float,
    resumed: bool,
    fingerprint: str,
) -> dict[str, Any]:
    import platform
    import sys

    from simulation.experiments.manifest import RESULT_PACKAGES, versions

    previous = store.read_manifest() if resumed else {}
    sessions = list(previous.get("sessions", []))
    sessions.append(
        {
            "executor": backend.kind,
            "workers": backend.workers,
            **backend.info,
            "host": platform.node(),
            "command": " ".join(sys.argv),
            "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        }
    )
    spec = opt.spec
    return {
        "name": opt.name,
        "fingerprint": fingerprint,
        "complete": False,
        "status": "running",
        "seed": spec.seed,
        "seeds": {
            "search": "replication r of market m: child r of SeedSequence(seed, spawn_key=(m,))",
            "fresh": f"child r of SeedSequence(seed, spawn_key=({FRESH_STREAM}, m))",
            "sampler": f"trial n: from SeedSequence(seed, spawn_key=({SEARCH_STREAM},)) and n",
        },
        "sampler": spec.sampler,
        "markets": len(opt.markets),
        "references": opt.references,
        "seconds": previous.get("seconds", 0.0),
        "versions": versions((*RESULT_PACKAGES, "optuna", "dask")),
        "sessions": sessions,
    }
