"""Experiments: parameter sweeps, Monte Carlo, sensitivity analysis and scenario discovery.

The same pipeline as the ``relsim sweep`` command, as verbs that return pandas tables
(in the spirit of SALib's ``sample -> evaluate -> analyse``)::

    from simulation import experiments as ex

    experiment = ex.load_experiment("experiments/break_even.yaml")
    design = ex.sample(experiment)               # one row per design point
    runs = ex.evaluate(experiment, design)       # one row per point x replication x policy
    result = ex.analyse(experiment, runs)        # per-point CIs, indices, break-even line
    result.target                                # the target at each point, with its CI

``run_sweep(experiment, out)`` does the same into a folder, streaming results to disk and
resuming an interrupted sweep; ``build_report(out)`` rebuilds its report. ``run(**params)``
runs relsim once with keyword parameters, for EMA Workbench, SALib and other drivers.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.experiments.designs import build_design, sample
from simulation.experiments.engine import ModelFn, SweepSummary, plan_sweep, run_sweep
from simulation.experiments.optimise import OptimiseSummary, run_optimisation
from simulation.experiments.optimise_report import build_optimise_report
from simulation.experiments.optimise_spec import Optimisation, load_optimisation
from simulation.experiments.sensitivity import IncompleteDesignError, sensitivity_indices
from simulation.experiments.simulate import run, simulate
from simulation.experiments.spec import Experiment, ExperimentSpec, Factor, load_experiment
from simulation.experiments.store import SweepStore
from simulation.experiments.summaries import Study, break_even_frontier, discover, summarise_points
from simulation.experiments.sweep_report import build_report, sweep_status

__all__ = [
    "Analysis",
    "Experiment",
    "ExperimentSpec",
    "Factor",
    "IncompleteDesignError",
    "ModelFn",
    "Optimisation",
    "OptimiseSummary",
    "Study",
    "SweepSummary",
    "analyse",
    "analyze",
    "break_even_frontier",
    "build_design",
    "build_optimise_report",
    "build_report",
    "discover",
    "evaluate",
    "load_experiment",
    "load_optimisation",
    "load_runs",
    "plan_sweep",
    "run",
    "run_optimisation",
    "run_sweep",
    "sample",
    "sensitivity_indices",
    "simulate",
    "sweep_status",
]


def evaluate(
    experiment: Experiment,
    design: pd.DataFrame | None = None,
    *,
    out: str | Path | None = None,
    jobs: int | None = None,
    executor: str = "process",
    scheduler: str | None = None,
    model: ModelFn | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Run every design point (all replications, all policies) and return the runs.

    Args:
        experiment: from :func:`load_experiment`.
        design: design points (default: :func:`sample` of the experiment); a changed table
            is allowed (for Sobol and Morris the analysis then needs the original design).
        out: a sweep folder to write to (and resume from); default: a temporary folder.
        jobs: workers (default: the number of CPUs; 1 runs in this process).
        executor: ``process`` or ``dask``.
        scheduler: address of a running Dask scheduler.
        model: ``model(scenario, policy, seed, replication) -> {outcome: value}``, a
            module-level function (default: relsim's simulation).
        overwrite: replace a folder that holds another sweep.
        progress: show a progress bar.

    Returns:
        One row per design point x replication x policy: ``point``, ``replication``, ``seed``,
        ``policy``, ``run_id``, the factor columns and the outcomes. Failed runs are not in
        it (their errors are in the sweep folder's ``errors/``).

    Raises:
        KeyboardInterrupt: the sweep was interrupted (the runs done are kept in ``out``).
        RuntimeError: a worker process died. With the process executor, a script that calls
            this must guard its entry point with ``if __name__ == "__main__":``.
    """
    if out is None:
        with tempfile.TemporaryDirectory(prefix="relsim-sweep-") as tmp:
            return evaluate(
                experiment,
                design,
                out=Path(tmp) / "sweep",
                jobs=jobs,
                executor=executor,
                scheduler=scheduler,
                model=model,
                progress=progress,
            )
    summary = run_sweep(
        experiment,
        out,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        overwrite=overwrite,
        model=model,
        design=design,
        progress=progress,
        report=False,
    )
    if summary.broken:
        raise RuntimeError(summary.message)
    if summary.interrupted:
        raise KeyboardInterrupt(summary.message or "sweep interrupted")
    return load_runs(out)


def load_runs(folder: str | Path) -> pd.DataFrame:
    """Every run on disk in a sweep folder, sorted by point, replication and policy order."""
    store = SweepStore(folder)
    runs = _read_parquet_parts(store) if store.fmt == "parquet" else None
    if runs is None:
        tables = [store.read_point(paths) for _, paths in store.parts_by_point()]
        if not tables:
            return pd.DataFrame(columns=["point", "replication", "seed", "policy", "run_id"])
        runs = pd.concat(tables, ignore_index=True)
    policies = list(dict.fromkeys(runs["policy"]))
    order = {p: i for i, p in enumerate(policies)}
    return runs.sort_values(
        ["point", "replication", "policy"],
        key=lambda c: c.map(order) if c.name == "policy" else c,
        kind="stable",
    ).reset_index(drop=True)


def _read_parquet_parts(store: SweepStore) -> pd.DataFrame | None:
    """All Parquet parts as one table (one conversion to pandas, not one per file)."""
    parts = store.parts()
    if not parts:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in parts]
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None  # parts with clashing schemas: read them one by one instead
    runs = table.to_pandas()
    return runs.drop_duplicates(subset=["run_id", "policy"], keep="last")


@dataclass
class Analysis:
    """What :func:`analyse` finds.

    Attributes:
        points: per design point, policy (and paired difference against the baseline) and
            outcome: ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high``.
        target: the target's rows of ``points``, one per design point.
        sensitivity: Sobol (``S1``, ``S1_conf``, ``ST``, ``ST_conf``) or Morris (``mu``,
            ``mu_star``, ``mu_star_conf``, ``sigma``) indices of the target, one row per factor.
        second_order: Sobol second-order indices, when asked for.
        break_even: for a two-factor grid with a difference target, where it crosses zero.
        discovery: the PRIM box of factor ranges where the difference target is negative.
        discovery_stats: its coverage, density and mass.
    """

    points: pd.DataFrame
    target: pd.DataFrame
    sensitivity: pd.DataFrame | None = None
    second_order: pd.DataFrame | None = None
    break_even: pd.DataFrame | None = None
    discovery: pd.DataFrame | None = None
    discovery_stats: dict[str, float] = field(default_factory=dict)


def analyse(
    experiment: Experiment, runs: pd.DataFrame, design: pd.DataFrame | None = None
) -> Analysis:
    """Summarise runs per design point, with sensitivity indices and break-even where apt.

    Args:
        experiment: the experiment the runs belong to.
        runs: from :func:`evaluate` (or :func:`load_runs`).
        design: the design that was evaluated, when it was not the experiment's own.

    Returns:
        The tables of :class:`Analysis`. Sensitivity indices need every design point of a
        Sobol or Morris design to have a result; otherwise ``sensitivity`` is None.
    """
    spec = experiment.spec
    study = Study.of(spec)
    points = summarise_points(runs, study)
    target = study.target_row(points) if len(points) else points
    result = Analysis(points, target)
    if spec.design.kind in ("sobol", "morris"):
        drawn = build_design(spec, experiment.table, experiment.source)
        if design is None or design[study.labels].equals(drawn.points[study.labels]):
            y = np.full(len(drawn.points), np.nan)
            y[target["point"].to_numpy(int)] = target["mean"].to_numpy(float)
            # A partial or failed sweep has no indices; the rest of the analysis still holds.
            with contextlib.suppress(IncompleteDesignError):
                result.sensitivity, result.second_order = sensitivity_indices(spec, drawn, y)
    t = experiment.target
    if t.baseline is not None and len(target):
        if len(study.labels) == 2 and spec.design.kind in ("full_factorial", "table"):
            result.break_even = break_even_frontier(target, *study.labels)
        found = discover(target, experiment.factors)
        if found is not None:
            result.discovery, result.discovery_stats = found
    return result


analyze = analyse
"""US spelling of :func:`analyse` (SALib's verb)."""
