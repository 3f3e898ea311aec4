"""Writing a run's results folder: all or nothing, never silently over an existing one.

Everything is written into a hidden temporary folder beside the target and moved into place
with one rename when complete, so an interrupted run leaves either the previous complete
folder or nothing (a stale ``.name.partial-*`` folder is clearly not a result).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from simulation.errors import UserError  # noqa: E402
from simulation.runs import plots  # noqa: E402
from simulation.runs.interrupts import signals_held  # noqa: E402
from simulation.runs.provenance import versions  # noqa: E402
from simulation.runs.report import render_report  # noqa: E402
from simulation.runs.runner import ScenarioResults  # noqa: E402
from simulation.scenario.loading import dump_yaml, validate  # noqa: E402

RESULTS_DIR = Path("results")


@dataclass
class RunTiming:
    """When a run started and ended."""

    started: datetime
    finished: datetime
    jobs: int = 1
    command: str | None = None  # as typed; default: this process's command line

    @property
    def wall_seconds(self) -> float:
        """Elapsed seconds."""
        return (self.finished - self.started).total_seconds()


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse to write over an existing folder unless asked to.

    Raises:
        UserError: the folder exists and ``overwrite`` is false.
    """
    if out.exists() and not overwrite:
        raise UserError(
            f"{out}: a results folder already exists; choose another with --out DIR "
            "or replace it with --overwrite"
        )
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another with --out DIR")


def write_run(
    results: ScenarioResults, out: Path, timing: RunTiming, *, overwrite: bool = False
) -> Path:
    """Write a scenario's results folder atomically.

    Args:
        results: the tables of the run.
        out: the folder to create.
        timing: start and end of the run.
        overwrite: replace an existing folder.

    Returns:
        The folder written.
    """
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:  # mkdir inside: an interrupt right after it must still clean up
        staging.mkdir()
        _write_tables(results, staging)
        _write_report(results, staging, timing.wall_seconds)
        # The manifest ("complete": true) goes last: a folder that has one has every file.
        _write_manifest(results, staging, timing)
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_tables(results: ScenarioResults, folder: Path) -> None:
    (folder / "scenario.yaml").write_text(dump_yaml(results.scenario), encoding="utf-8")
    tables = {
        "timeseries.csv": results.timeseries,
        "summary.csv": results.summary,
        "comparison.csv": results.comparison,
        "cohorts.csv": results.cohorts,
        "lifetime_values.csv": results.lifetime_values,
    }
    for name, table in tables.items():
        table.to_csv(folder / name, index=False)


def _write_manifest(results: ScenarioResults, folder: Path, timing: RunTiming) -> None:
    manifest = {
        "kind": "run",
        "complete": True,
        "scenario": results.scenario.name,
        "policies": results.policies,
        "replications": len(results.seeds),
        "master_seed": results.scenario.seed,
        "replication_seeds": results.seeds,
        "customers": results.scenario.market.customers,
        "periods": results.scenario.market.periods,
        "versions": versions(),
        "platform": platform.platform(),
        "command": timing.command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": timing.started.isoformat(timespec="seconds"),
        "finished": timing.finished.isoformat(timespec="seconds"),
        "wall_seconds": round(timing.wall_seconds, 3),
        "jobs": timing.jobs,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def figures(results: ScenarioResults) -> dict[str, Any]:
    """The report's figures, by file stem."""
    colors = plots.policy_colors(results.policies)
    ts = results.timeseries
    made = {
        "customers": plots.plot_customers(ts, colors=colors),
        "cumulative_profit": plots.plot_cumulative_profit(ts, colors=colors),
        "churn_by_cause": plots.plot_churn_by_cause(ts, colors=colors),
        "acquisition_channels": plots.plot_acquisition_channels(ts, colors=colors),
        "lifecycle": plots.plot_lifecycle(ts),
        "lifetime_values": plots.plot_lifetime_values(results.lifetime_values, colors=colors),
    }
    if not results.cohorts.empty:
        made["cohort_survival"] = plots.plot_cohort_survival(results.cohorts, colors=colors)
    if not results.comparison.empty:
        made["comparison"] = plots.plot_comparison(results.comparison, colors=colors)
    return made


def _write_report(results: ScenarioResults, folder: Path, wall_seconds: float) -> None:
    plot_dir = folder / "plots"
    plot_dir.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    for name, figure in figures(results).items():
        figure.savefig(plot_dir / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(figure)
        files[name] = f"plots/{name}.png"
    text = render_report(
        results.scenario.name,
        results.scenario.description,
        results.summary,
        results.comparison,
        files,
        baseline=results.policies[0],
        wall_seconds=wall_seconds,
        replications=len(results.seeds),
    )
    (folder / "report.md").write_text(text, encoding="utf-8")


def _move_into_place(staging: Path, out: Path) -> None:
    """Swap the finished folder in; an older result is removed only once the new one is in."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        # Ctrl-C or kill between the two renames would leave no folder at ``out`` and delete
        # the new one with the staging folder: hold both signals until the swap is done.
        with signals_held():
            os.replace(out, old)
            os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def is_staging(folder: Path) -> bool:
    """Whether ``folder`` is the temporary folder of an unfinished or replaced run."""
    name = folder.name
    return name.startswith(".") and (".partial-" in name or ".old-" in name)


def load_run(folder: Path) -> ScenarioResults:
    """Read a results folder written by :func:`write_run`.

    Raises:
        UserError: the folder is not a complete run.
    """
    if is_staging(folder):
        raise UserError(
            f"{folder}: the temporary folder of a run that was stopped or replaced, not a "
            "result; delete it and run the scenario again"
        )
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(f"{folder}: not a results folder (no manifest.json)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not manifest.get("complete", False):
        raise UserError(f"{folder}: the run is incomplete; run it again to finish it")
    scenario = validate(yaml.safe_load((folder / "scenario.yaml").read_text()), str(folder))

    def table(name: str) -> pd.DataFrame:
        path = folder / name
        return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()

    return ScenarioResults(
        scenario=scenario,
        policies=list(manifest["policies"]),
        seeds=list(manifest["replication_seeds"]),
        timeseries=table("timeseries.csv"),
        summary=table("summary.csv"),
        cohorts=table("cohorts.csv"),
        lifetime_values=table("lifetime_values.csv"),
        comparison=table("comparison.csv"),
    )


def rebuild_run_report(folder: Path) -> Path:
    """Redraw the plots and rewrite ``report.md`` of a finished run folder."""
    results = load_run(folder)
    manifest: Mapping[str, Any] = json.loads((folder / "manifest.json").read_text())
    _write_report(results, folder, float(manifest.get("wall_seconds", 0.0)))
    return folder / "report.md"


def default_out(scenario_name: str) -> Path:
    """Where a run writes by default: ``results/<scenario-name>``."""
    return RESULTS_DIR / scenario_name


def now() -> datetime:
    """The current time in UTC (for manifests)."""
    return datetime.now(UTC)
