"""Writing a run's results folder: all or nothing, never silently over an existing one.

Everything is written into a hidden temporary folder beside the target and moved into place
with one rename when complete, so an interrupted run leaves either the previous complete
folder or nothing (a stale ``.name.partial-*`` folder is clearly not a result).
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from simulation.errors import ResourceError, UserError, os_error_line  # noqa: E402
from simulation.runs import plots  # noqa: E402
from simulation.runs.answer_plots import plot_against_leader, plot_npv_sources  # noqa: E402
from simulation.runs.decomposition import decompose_npv  # noqa: E402
from simulation.runs.provenance import versions  # noqa: E402
from simulation.runs.report import render_report  # noqa: E402
from simulation.runs.results import ScenarioResults  # noqa: E402
from simulation.runs.stats import EQUIVALENCE_MARGIN  # noqa: E402
from simulation.runs.target import (  # noqa: E402
    Claim,
    claim_target,
    file_checksums,
    refresh_report_checksums,
    save_figure_atomically,
    verify_tables,
    write_text_atomically,
)
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


def write_run(
    results: ScenarioResults,
    out: Path,
    timing: RunTiming,
    *,
    overwrite: bool = False,
    claim: Claim | None = None,
) -> Path:
    """Write a scenario's results folder atomically.

    Args:
        results: the tables of the run.
        out: the folder to create.
        timing: start and end of the run.
        overwrite: replace an existing results folder of relsim's.
        claim: the target, already claimed before the run (see :func:`claim_target`).

    Returns:
        The folder written.

    Raises:
        UserError: the target cannot be written (exit status 2).
        ResourceError: the disk failed or filled up while writing (exit status 3); the
            staging folder is removed and any previous result is intact.
    """
    if claim is None:
        with claim_target(out, overwrite) as held:
            return write_run(results, out, timing, claim=held)
    try:
        _write_tables(results, claim.staging)
        _write_report(results, claim.staging, timing.wall_seconds)
        # The manifest ("complete": true) goes last: a folder that has one has every file.
        _write_manifest(results, claim.staging, timing)
    except OSError as exc:
        line = os_error_line(exc, "cannot write the results")
        raise ResourceError(f"{line}; nothing was written to {out}") from None
    return claim.commit()


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
        "files": file_checksums(folder),  # what relsim wrote here: to verify and to replace
        "equivalence_margin": results.equivalence_margin,
        "until_decided": results.until_decided,
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
        "lifetime_values": plots.plot_lifetime_values(
            results.lifetime_values, colors=colors, summary=results.summary
        ),
    }
    if len(results.policies) > 1 and not ts.empty:
        made["npv_sources"] = plot_npv_sources(decompose_npv(ts), colors=colors)
    if not results.cohorts.empty:
        made["cohort_survival"] = plots.plot_cohort_survival(results.cohorts, colors=colors)
    if len(results.policies) > 1:
        made["comparison"] = plot_against_leader(
            results.summary, results.equivalence_margin, colors=colors
        )
    return made


def _write_report(results: ScenarioResults, folder: Path, wall_seconds: float) -> None:
    plot_dir = folder / "plots"
    plot_dir.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    for name, figure in figures(results).items():
        save_figure_atomically(figure, plot_dir / f"{name}.png", dpi=110, bbox_inches="tight")
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
        timeseries=results.timeseries,
        equivalence_margin=results.equivalence_margin,
        until_decided=results.until_decided,
    )
    write_text_atomically(folder / "report.md", text)


def is_staging(folder: Path) -> bool:
    """Whether ``folder`` is the temporary folder of an unfinished or replaced run."""
    name = folder.name
    return name.startswith(".") and (".partial-" in name or ".old-" in name)


def load_run(folder: Path) -> ScenarioResults:
    """Read a results folder written by :func:`write_run`, its tables checked first.

    Raises:
        UserError: the folder is not a complete run, or is damaged (one line saying how).
    """
    try:
        return _read_run(folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise UserError(f"{folder}: a damaged results folder ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} in manifest.json"
    if isinstance(exc, OSError):
        return os_error_line(exc)
    text = str(exc).splitlines()[0][:80] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _read_run(folder: Path) -> ScenarioResults:
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
    verify_tables(folder, manifest)
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
        equivalence_margin=float(manifest.get("equivalence_margin", EQUIVALENCE_MARGIN)),
        until_decided=manifest.get("until_decided"),
    )


def rebuild_run_report(folder: Path) -> Path:
    """Redraw the plots and rewrite ``report.md`` of a finished run folder."""
    results = load_run(folder)
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    try:
        _write_report(results, folder, float(manifest.get("wall_seconds", 0.0)))
    except (KeyError, ValueError, TypeError, IndexError) as exc:  # tables of the wrong shape
        raise UserError(f"{folder}: a damaged results folder ({_reason(exc)})") from None
    refresh_report_checksums(folder, manifest)
    return folder / "report.md"


def default_out(scenario_name: str) -> Path:
    """Where a run writes by default: ``results/<scenario-name>``."""
    return RESULTS_DIR / scenario_name


def now() -> datetime:
    """The current time in UTC (for manifests)."""
    return datetime.now(UTC)
