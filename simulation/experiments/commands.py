"""The ``relsim sweep``, ``optimise`` and ``report`` commands (registered by ``simulation.cli``).

Exit status: 0 when every run succeeded; 1 when some runs failed (the rest are done and the
report is written); 2 for a mistake in the input (nothing written); 130 when interrupted
(the runs done are kept and the folder is marked incomplete: run the command again).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulation.errors import UserError
from simulation.experiments.executors import default_jobs

err = Console(stderr=True)
out = Console()


class ExecutorKind(enum.StrEnum):
    """Where the runs go."""

    process = "process"
    dask = "dask"


# Options the sweep and optimise commands share.
DEFAULT_JOBS = default_jobs()  # every CPU this process may use
Jobs = Annotated[
    int, typer.Option("--jobs", "-j", min=1, help="Worker processes (1: in this process).")
]
Executor = Annotated[ExecutorKind, typer.Option("--executor", help="Process pool or Dask cluster.")]
Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
SkipMemoryCheck = Annotated[
    bool, typer.Option(help="Run even when the memory estimate exceeds what is available.")
]


def default_out(name: str) -> Path:
    """Where a sweep writes by default: ``results/sweeps/<experiment name>``."""
    return Path("results") / "sweeps" / name


def sweep(
    experiment: Annotated[
        Path,
        typer.Argument(help="Experiment file (YAML), or a bundled one's name.", show_default=False),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep folder (default results/sweeps/<experiment name>)."),
    ] = None,
    jobs: Jobs = DEFAULT_JOBS,
    executor: Executor = ExecutorKind.process,
    scheduler: Scheduler = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a sweep folder of another experiment.")
    ] = False,
    quiet: Quiet = False,
    skip_memory_check: SkipMemoryCheck = False,
) -> None:
    """Run a parameter sweep, Monte Carlo or sensitivity study, and write its report.

    EXPERIMENT is a file, or the name of a bundled experiment (break_even, sobol_market...).
    An interrupted sweep resumes where it stopped when the same command is run again.
    """
    from simulation.experiments import load_experiment, run_sweep
    from simulation.experiments.designs import design_size

    loaded = load_experiment(experiment)
    target = out_dir or default_out(loaded.name)
    n_points = design_size(loaded.spec, None if loaded.table is None else len(loaded.table))
    if not quiet:
        policies = len(loaded.policies)
        if scheduler:
            where = f"on the Dask cluster at {escape(scheduler)}"
        elif executor is ExecutorKind.dask:
            where = f"on a local Dask cluster of {jobs} workers"
        elif jobs == 1:
            where = "in this process"
        else:
            where = f"on {jobs} worker processes"
        simulations = n_points * loaded.spec.replications * policies
        err.print(
            f"[bold]{escape(loaded.name)}[/]: {n_points:,} design points x "
            f"{loaded.spec.replications} replications x {policies} policies = "
            f"{simulations:,} simulations"
            + (" (more replications where the CI is wide)" if loaded.spec.precision else "")
            + f", {where}, into {escape(str(target))}/",
            highlight=False,
            soft_wrap=True,
        )
    summary = run_sweep(
        loaded,
        target,
        jobs=jobs,
        executor=executor.value,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=not quiet,
        console=err,
        memory_check=not skip_memory_check,
    )
    per_sim = summary.simulation_seconds / summary.simulations if summary.simulations else 0.0
    # Counted as the experiment files count them: one simulation per policy per run.
    per_run = len(loaded.policies)
    line = (
        f"{summary.done:,} runs in {summary.seconds:.1f} s: {summary.simulations:,} simulations "
        f"({per_run} policies per run; {per_sim:.3f} s per simulation; {summary.executor}, "
        f"{summary.workers} workers)"
    )
    if summary.skipped:
        line += (
            f"; skipped {summary.skipped:,} runs already done "
            f"({summary.skipped * per_run:,} simulations)"
        )
    out.print(line, highlight=False, soft_wrap=True)
    if summary.failed:
        out.print(
            f"[red]{summary.failed:,} runs failed[/]: errors in "
            f"{escape(str(summary.errors_dir))}/ (one line each in "
            f"{escape(str(summary.out / 'errors.csv'))}); the other runs are done. "
            "Run the command again to retry them.",
            highlight=False,
            soft_wrap=True,
        )
    if summary.report is not None:
        out.print(f"Report: {escape(str(summary.report))}", highlight=False, soft_wrap=True)
    if summary.interrupted:
        err.print(
            f"[yellow]{escape(summary.message)}[/]: {summary.done + summary.skipped:,} runs are "
            f"on disk in {escape(str(summary.out))}/ (marked incomplete); run the same command "
            "again to resume.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


def report(
    directory: Annotated[
        Path, typer.Argument(help="A sweep folder (or a run folder).", show_default=False)
    ],
) -> None:
    """Rebuild the report of a sweep, finished or partial (or of a run folder)."""
    from simulation.experiments.arms import is_optimisation
    from simulation.experiments.store import SweepStore
    from simulation.experiments.sweep_report import build_report, sweep_status

    if not directory.is_dir():
        raise UserError(f"{directory}: no such folder")
    if is_optimisation(directory):
        from simulation.experiments.optimise_report import build_optimise_report

        path = build_optimise_report(directory)
        out.print(f"Report: {escape(str(path))}", highlight=False, soft_wrap=True)
        return
    store = SweepStore(directory)
    if not store.is_sweep():
        if (directory / "summary.csv").is_file() and (directory / "scenario.yaml").is_file():
            try:
                from simulation.runs.folder import rebuild_run_report
            except ImportError:
                raise UserError(
                    f"{directory}: a run folder, and this relsim cannot re-report it"
                ) from None
            path = rebuild_run_report(directory)
            out.print(f"Report: {escape(str(path))}", highlight=False, soft_wrap=True)
            return
        raise UserError(
            f"{directory}: not a sweep folder (no manifest.json written by relsim sweep) "
            "nor a run folder (summary.csv and scenario.yaml)"
        )
    path = build_report(directory)
    status = sweep_status(directory)
    if not status["complete"]:
        err.print(
            f"[yellow]partial sweep[/]: {status['on_disk']:,} of {status['planned']:,} planned "
            f"runs are on disk and {status['failed']:,} failed; the report covers the runs "
            "done. Run the same relsim sweep command again to finish it.",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"Report: {escape(str(path))}", highlight=False, soft_wrap=True)


def optimise(
    experiment: Annotated[
        Path,
        typer.Argument(
            help="Optimisation file (YAML), or a bundled one's name.", show_default=False
        ),
    ],
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, help="Candidates to try (default: search.trials)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder (default results/optimise/<name>)."),
    ] = None,
    jobs: Jobs = DEFAULT_JOBS,
    executor: Executor = ExecutorKind.process,
    scheduler: Scheduler = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a folder of another optimisation.")
    ] = False,
    quiet: Quiet = False,
    skip_memory_check: SkipMemoryCheck = False,
) -> None:
    """Find the best use of a budget: search, race the leaders, check them on fresh seeds.

    EXPERIMENT is a file, or the name of a bundled optimisation (best_split).
    An interrupted optimisation resumes where it stopped when the same command is run again;
    a larger --trials extends a finished search.
    """
    from simulation.experiments.engine import sweep_memory
    from simulation.experiments.optimise import run_optimisation
    from simulation.experiments.optimise_spec import load_optimisation
    from simulation.experiments.spec import experiment_path
    from simulation.limits import check_memory, scenario_memory

    loaded = load_optimisation(experiment_path(experiment))
    target = out_dir or Path("results") / "optimise" / loaded.name
    spec = loaded.spec
    if not skip_memory_check and scheduler is None:
        markets = [loaded.market_scenario(m) for m in range(len(loaded.markets))]
        largest = max(markets, key=lambda market: scenario_memory(market, 1).bytes)
        check_memory(sweep_memory(largest, jobs, "the optimisation"))
    if not quiet:
        err.print(
            f"[bold]{escape(loaded.name)}[/]: {trials or spec.search.trials} candidates "
            f"({spec.sampler}) x {len(loaded.markets)} markets x {spec.search.replications} "
            f"replications, then racing and a check on fresh seeds, into "
            f"{escape(str(target))}/",
            highlight=False,
            soft_wrap=True,
        )
    summary = run_optimisation(
        loaded,
        target,
        trials=trials,
        jobs=jobs,
        executor=executor.value,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=not quiet,
        console=err,
    )
    out.print(
        f"{summary.trials} candidates, {summary.runs_done:,} runs in {summary.seconds:.1f} s "
        f"({summary.executor}, {summary.workers} workers)"
        + (f"; {summary.runs_skipped:,} runs were on disk already" if summary.runs_skipped else ""),
        highlight=False,
        soft_wrap=True,
    )
    if summary.report is not None:
        out.print(f"Report: {escape(str(summary.report))}", highlight=False, soft_wrap=True)
    if summary.interrupted:
        err.print(
            f"[yellow]{escape(summary.message)}[/]: the runs done are in "
            f"{escape(str(summary.out))}/; run the same command again to resume.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
    if summary.failed:
        out.print(
            f"[red]{summary.failed:,} runs failed[/]: errors in "
            f"{escape(str(summary.out / 'errors'))}/",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
