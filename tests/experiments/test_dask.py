"""A small sweep on a Dask LocalCluster gives the same results as one in this process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip(
    "dask.distributed", reason="dask is an optional extra: pip install 'relsim[dask]'"
)

from simulation.experiments import load_experiment, load_runs, run_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_dask_local_cluster_matches_serial_run(tmp_path):
    experiment = load_experiment(REPO / "experiments" / "tiny.yaml")
    summary = run_sweep(experiment, tmp_path / "dask", jobs=2, executor="dask", report=True)
    assert summary.executor == "dask" and summary.workers == 2
    assert summary.complete and summary.done == 18 and summary.failed == 0
    serial = run_sweep(experiment, tmp_path / "serial", jobs=1, report=False)
    assert serial.complete
    on_dask = load_runs(tmp_path / "dask").drop(columns="elapsed_s")
    in_process = load_runs(tmp_path / "serial").drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(on_dask, in_process)
    manifest = (tmp_path / "dask" / "manifest.json").read_text()
    assert '"executor": "dask"' in manifest and "LocalCluster" in manifest


def test_unreachable_scheduler_is_a_user_error_and_writes_nothing(tmp_path):
    import dask

    from simulation.errors import UserError

    experiment = load_experiment(REPO / "experiments" / "tiny.yaml")
    # Nothing listens on port 9 (discard); give up after 1 s instead of Dask's default 30 s.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(UserError, match="--scheduler tcp://127.0.0.1:9: cannot connect"),
    ):
        run_sweep(experiment, tmp_path / "out", scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "out").exists()
