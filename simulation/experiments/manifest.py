"""A sweep folder's record of itself: its inputs and ``manifest.json``.

The manifest says what ran (design, policies, target, seeds), with which software, on which
machine and executor, in how many sessions, and whether the sweep is complete; the report is
built from it and from the runs on disk.
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulation.experiments.spec import dump_spec
from simulation.experiments.store import SweepStore, atomic_write_text, write_table
from simulation.runs.provenance import RESULT_PACKAGES, versions
from simulation.scenario.loading import dump_yaml

if TYPE_CHECKING:
    from simulation.experiments.engine import Plan, SweepSummary
    from simulation.experiments.executors import Backend


def write_inputs(store: SweepStore, plan: Plan, resumed: bool) -> None:
    """Write what the sweep was asked to do: the experiment, the scenario and the design.

    A resumed sweep keeps the files it wrote first.
    """
    if resumed and store.path("design.csv").exists():
        return
    atomic_write_text(store.path("experiment.yaml"), dump_spec(plan.experiment.spec))
    atomic_write_text(store.path("scenario.yaml"), dump_yaml(plan.experiment.scenario))
    write_table(store.path("design.csv"), plan.points)


def start_manifest(
    store: SweepStore,
    plan: Plan,
    backend: Backend,
    started: float,
    resumed: bool,
    fingerprint: str,
) -> dict[str, Any]:
    """The manifest of a sweep that is starting (or resuming): ``"complete": false``.

    Args:
        store: the sweep folder.
        plan: the planned design.
        backend: the executor the runs go to.
        started: when this session started (seconds since the epoch).
        resumed: whether the folder already holds this sweep (its sessions are kept).
        fingerprint: what identifies the sweep's results.
    """
    experiment = plan.experiment
    spec = experiment.spec
    previous = store.read_manifest() if resumed else {}
    sessions = list(previous.get("sessions", []))
    sessions.append(
        {
            "started": _iso(started),
            "executor": backend.kind,
            "workers": backend.workers,
            **backend.info,
            "host": platform.node(),
            "command": " ".join(sys.argv),
        }
    )
    return {
        "complete": False,
        "experiment": experiment.name,
        "source": experiment.source,
        "fingerprint": fingerprint,
        "design": {
            "kind": spec.design.kind,
            "points": len(plan.points),
            "factors": [f.model_dump(mode="json", exclude_none=True) for f in experiment.factors],
        },
        "policies": experiment.policies,
        "target": experiment.target.model_dump(mode="json"),
        "replications": spec.replications,
        "precision": None if spec.precision is None else spec.precision.model_dump(mode="json"),
        "seeds": {
            "master": spec.seed,
            "runs": "replication r of point p: child r of SeedSequence(master, spawn_key=(p,))",
            "design": "SeedSequence(master, spawn_key=(2**31 - 1,))",
            "analysis": "SeedSequence(master, spawn_key=(2**31 - 2,))",
        },
        "versions": versions((*RESULT_PACKAGES, "SALib", "dask")),
        "sessions": sessions,
        "runs": previous.get("runs", {}),
    }


def finish_manifest(manifest: dict[str, Any], summary: SweepSummary) -> dict[str, Any]:
    """The manifest's fields that change when the sweep ends: status, run counts, timing.

    Args:
        manifest: the manifest written when the sweep started.
        summary: what the sweep did.
    """
    total_time, count = summary.simulation_seconds, summary.simulations
    sessions = manifest.get("sessions", [])
    if sessions:
        sessions[-1].update(
            {
                "finished": _iso(time.time()),
                "wall_seconds": round(summary.seconds, 3),
                "runs_done": summary.done,
                "runs_skipped": summary.skipped,
                "seconds_per_simulation": round(total_time / count, 6) if count else None,
                "interrupted": summary.interrupted,
            }
        )
    return {
        "complete": summary.complete,
        "status": "complete"
        if summary.complete
        else ("interrupted" if summary.interrupted else "finished with failed runs"),
        "runs": {
            "planned": summary.total_runs or manifest.get("runs", {}).get("planned"),
            "on_disk": summary.done + summary.skipped,
            "failed": summary.failed,
        },
        "sessions": sessions,
    }


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
