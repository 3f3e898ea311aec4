"""Interrupted runs and sweeps: a real signal to a real ``relsim`` process.

A run writes into a hidden staging folder beside its target and renames it into place when
complete; a sweep writes each finished task atomically and marks its folder incomplete until
the end. So whatever stops a command (Ctrl-C, ``kill``, ``kill -9``), the target holds either
a complete result, the previous one, nothing, or (for a sweep) a folder clearly marked
incomplete that ``relsim sweep`` resumes and ``relsim report`` labels as partial.

Ctrl-C is sent to the process group, as a terminal does; ``kill`` to the process alone.
Every process started here is in its own session, and the session is ended after each test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from simulation.cli import main
from simulation.errors import UserError

RELSIM = Path(sys.executable).with_name("relsim")
RUN_FILES = {
    "scenario.yaml",
    "manifest.json",
    "timeseries.csv",
    "summary.csv",
    "comparison.csv",
    "cohorts.csv",
    "lifetime_values.csv",
    "report.md",
    "plots",
}
# Long enough that a signal sent a second after start-up lands mid-simulation (about 10 s of
# work on one core), small enough to stay in memory.
LONG_RUN = ["--customers", "5000", "--periods", "60", "--replications", "8", "--quiet"]
# Tiny simulation, so that the run reaches its (slower) writing phase at once.
SHORT_RUN = ["--customers", "400", "--periods", "12", "--replications", "2", "--quiet"]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").is_file(), reason="reads signal masks from /proc (Linux)"
)


class Relsim:
    """A ``relsim`` process in its own session, with its output in files."""

    def __init__(self, args: list[str], cwd: Path):
        self.log = cwd / f".relsim-{time.monotonic_ns()}"
        self.stdout = open(f"{self.log}.out", "w")  # noqa: SIM115 - closed in finish()
        self.stderr = open(f"{self.log}.err", "w")  # noqa: SIM115 - closed in finish()
        env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [str(RELSIM), *args],
            cwd=cwd,
            stdout=self.stdout,
            stderr=self.stderr,
            env=env,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def catches(self, signum: int) -> bool:
        """Whether the process has a handler of its own for ``signum``."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return False
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) & (1 << (signum - 1)))

    def handles_sigterm(self) -> bool:
        """Whether the command line is running (it has installed its SIGTERM handler)."""
        return self.catches(signal.SIGTERM)

    def workers(self) -> list[psutil.Process]:
        """Processes started by this one (pool workers and their helpers)."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int, group: bool = False) -> None:
        """Send ``signum`` to the process, or to its whole group (as Ctrl-C in a terminal)."""
        assert self.running(), "the command finished before it could be interrupted"
        if group:
            os.killpg(self.pid, signum)
        else:
            os.kill(self.pid, signum)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the process; return its status, stdout and stderr."""
        status = self.process.wait(timeout=timeout)
        self.stdout.close()
        self.stderr.close()
        out = Path(f"{self.log}.out").read_text()
        err = Path(f"{self.log}.err").read_text()
        for suffix in (".out", ".err"):
            Path(f"{self.log}{suffix}").unlink()
        return status, out, err

    def end_session(self) -> None:
        """Stop whatever is left of the session this test started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.running():
            self.process.wait(timeout=10)
        for handle in (self.stdout, self.stderr):
            handle.close()


@pytest.fixture
def relsim() -> Iterator[Callable[[list[str], Path], Relsim]]:
    """Start ``relsim`` processes; their sessions are ended after the test."""
    started: list[Relsim] = []

    def start(args: list[str], cwd: Path) -> Relsim:
        process = Relsim(args, cwd)
        started.append(process)
        return process

    yield start
    for process in started:
        process.end_session()


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Poll ``condition`` every 5 ms until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def staging_folders(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial-*"))


def writing(out: Path) -> bool:
    """Whether a run is writing its results (the staging folder exists from the start)."""
    return any((folder / "scenario.yaml").exists() for folder in staging_folders(out))


def assert_complete_or_absent(out: Path) -> None:
    """A results folder is either absent or complete: every file, manifest says complete."""
    if not out.exists():
        return
    assert {p.name for p in out.iterdir()} >= RUN_FILES
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    from simulation.runs.folder import load_run

    load_run(out)  # every table reads back


def assert_no_workers_left(workers: list[psutil.Process], timeout: float = 10) -> None:
    _, alive = psutil.wait_procs(workers, timeout=timeout)
    assert not alive, f"worker processes outlived the command: {alive}"


def small_result(out: Path) -> str:
    """Write a complete small result at ``out`` in this process; return its manifest text."""
    assert main(["run", "acquisition_vs_retention", *SHORT_RUN, "--out", str(out)]) == 0
    return (out / "manifest.json").read_text()


# --------------------------------------------------------------------------- relsim run
def test_ctrl_c_while_relsim_loads_is_quiet(relsim, tmp_path):
    run = relsim(["run", "acquisition_vs_retention", *LONG_RUN], tmp_path)

    def loading() -> bool:  # numpy's core is mapped: relsim's own imports have begun
        with contextlib.suppress(OSError):
            return "_multiarray_umath" in Path(f"/proc/{run.pid}/maps").read_text()
        return False

    # The command line installs its own handlers only once loaded, about a second later.
    wait_until(loading, what="relsim to start loading")
    assert not run.handles_sigterm(), "relsim loaded too fast to be interrupted while loading"
    run.signal(signal.SIGINT, group=True)
    status, _, err = run.finish()
    assert status == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted while starting: nothing was done"
    assert not (tmp_path / "results").exists()


def test_ctrl_c_mid_run_keeps_the_previous_result(relsim, tmp_path):
    out = tmp_path / "results"
    before = small_result(out)
    run = relsim(["run", "acquisition_vs_retention", *LONG_RUN, "--out", "results",
                  "--overwrite"], tmp_path)  # fmt: skip
    wait_until(run.handles_sigterm, what="the command line to start")
    time.sleep(1.5)  # usually into the simulation (loading is interrupted as cleanly)
    run.signal(signal.SIGINT, group=True)
    status, _, err = run.finish()
    assert status == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: nothing partial was written")
    assert (out / "manifest.json").read_text() == before, "the previous result was touched"
    assert_complete_or_absent(out)
    assert staging_folders(out) == []


def test_kill_mid_run_stops_the_workers_and_writes_nothing(relsim, tmp_path):
    out = tmp_path / "results"
    run = relsim(["run", "acquisition_vs_retention", *LONG_RUN, "--jobs", "2", "--out",
                  "results"], tmp_path)  # fmt: skip
    wait_until(lambda: len(run.workers()) >= 2, what="the worker processes")
    time.sleep(1.0)
    workers = run.workers()
    run.signal(signal.SIGTERM)
    status, _, err = run.finish()
    assert status == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: nothing partial was written")
    assert not out.exists() and staging_folders(out) == []
    assert_no_workers_left(workers)


def test_kill_9_mid_run_leaves_no_orphan_workers(relsim, tmp_path):
    run = relsim(["run", "acquisition_vs_retention", *LONG_RUN, "--jobs", "2", "--out",
                  "results"], tmp_path)  # fmt: skip
    wait_until(lambda: len(run.workers()) >= 2, what="the worker processes")
    time.sleep(1.0)
    workers = run.workers()
    run.signal(signal.SIGKILL)
    assert run.finish()[0] == -signal.SIGKILL
    assert not (tmp_path / "results").exists()
    assert_no_workers_left(workers, timeout=4)  # a watchdog polling each second would do


def test_kill_while_writing_removes_the_staging_folder(relsim, tmp_path):
    out = tmp_path / "results"
    run = relsim(["run", "acquisition_vs_retention", *SHORT_RUN, "--out", "results"], tmp_path)
    wait_until(lambda: writing(out), what="the results being written")
    run.signal(signal.SIGTERM)
    status, _, err = run.finish()
    if out.exists():  # the signal came after the final rename: a complete result
        assert status in (0, 130)
    else:
        assert status == 130, err
    assert "Traceback" not in err
    assert_complete_or_absent(out)
    assert staging_folders(out) == [], "a stopped run left its staging folder behind"


def test_kill_9_while_writing_leaves_a_staging_folder_nobody_takes_for_a_result(
    relsim, tmp_path, capsys
):
    out = tmp_path / "results"
    run = relsim(["run", "acquisition_vs_retention", *SHORT_RUN, "--out", "results"], tmp_path)
    wait_until(lambda: writing(out), what="the results being written")
    time.sleep(0.3)  # more files are in it now
    run.signal(signal.SIGKILL)
    assert run.finish()[0] == -signal.SIGKILL
    assert_complete_or_absent(out)
    stale = staging_folders(out)
    assert stale or out.exists()
    from simulation.runs.folder import load_run

    for folder in stale:
        with pytest.raises(UserError, match="not a result"):
            load_run(folder)
        capsys.readouterr()
        assert main(["report", str(folder)]) == 2
        assert "Traceback" not in capsys.readouterr().err
    if not out.exists():
        # The target is free: the stale folder does not count as an existing result.
        small_result(out)
        assert_complete_or_absent(out)


def test_an_existing_results_folder_is_never_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "results"
    before = small_result(out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    status = main(["run", "acquisition_vs_retention", *SHORT_RUN, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert "already exists" in err and "--out" in err and "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps
    assert (out / "manifest.json").read_text() == before
    # A file in the way is refused too, and so is a folder that a sweep does not own.
    (tmp_path / "a_file").write_text("keep me")
    assert main(["run", "acquisition_vs_retention", "--out", str(tmp_path / "a_file")]) == 2
    assert (tmp_path / "a_file").read_text() == "keep me"
    pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    capsys.readouterr()
    status = main(["sweep", str(write_sweep(tmp_path)), "--out", str(out), "--jobs", "1", "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "--out" in err
    assert (out / "manifest.json").read_text() == before


def test_overwrite_replaces_a_result_only_when_the_new_one_is_complete(tmp_path):
    out = tmp_path / "results"
    small_result(out)
    argv = ["run", "acquisition_vs_retention", *SHORT_RUN, "--seed", "5", "--overwrite"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["master_seed"] == 5
    assert_complete_or_absent(out)
    assert not list(tmp_path.glob(".results.*")), "a staging or old folder was left behind"


# --------------------------------------------------------------------------- relsim sweep
# Ten design points of two replications of two policies in a small market: a few seconds.
SWEEP_TEXT = """\
name: interrupted
scenario: acquisition_vs_retention
customers: 300
overrides: {market.periods: 12}
policies: [acquisition_heavy, retention_focused]
factors:
  - {path: market.responses.advertising.ceiling, name: ad_ceiling, range: [0.1, 0.5], levels: 5}
  - {path: market.customer.base_churn_rate.mean, name: churn_mean, values: [0.02, 0.05]}
design: {kind: full_factorial}
outcomes: [npv, final_customers]
replications: 2
seed: 11
"""


def write_sweep(folder: Path) -> Path:
    """The experiment file of the sweep tests."""
    path = folder / "interrupted.yaml"
    path.write_text(SWEEP_TEXT, encoding="utf-8")
    return path


def sweep_parts(folder: Path) -> list[Path]:
    return sorted((folder / "runs").glob("point-*")) if (folder / "runs").is_dir() else []


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """A sweep's runs without the timing column, in a fixed order."""
    table = runs.drop(columns=["elapsed_s"], errors="ignore")
    return table.sort_values(["point", "replication", "policy"]).reset_index(drop=True)


def test_killed_sweep_is_marked_incomplete_reported_as_partial_and_resumed(
    relsim, tmp_path, capsys
):
    experiments = pytest.importorskip(
        "simulation.experiments", reason="the experiments package is not here"
    )
    out, experiment = tmp_path / "sweep", write_sweep(tmp_path)
    sweep = relsim(["sweep", str(experiment), "--out", "sweep", "--jobs", "1", "-q"], tmp_path)
    wait_until(lambda: bool(sweep_parts(out)), what="the first finished design point")
    sweep.signal(signal.SIGKILL)
    assert sweep.finish()[0] == -signal.SIGKILL

    # Marked incomplete; every table under a final name is whole.
    assert manifest(out)["complete"] is False
    planned = len(experiments.load_runs(out))
    for part in sweep_parts(out):
        assert len(pd.read_parquet(part) if part.suffix == ".parquet" else pd.read_csv(part))
    # The report is built from what is there, and says loudly that it is partial.
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "partial sweep" in capsys.readouterr().err
    assert "PARTIAL SWEEP" in (out / "report.md").read_text()

    # The same command resumes: runs on disk are skipped, the rest is done.
    assert main(["sweep", str(experiment), "--out", str(out), "--jobs", "1", "-q"]) == 0
    resumed = capsys.readouterr().out
    assert "skipped" in resumed and "already done" in resumed
    assert manifest(out)["complete"] is True
    assert "PARTIAL SWEEP" not in (out / "report.md").read_text()
    assert main(["report", str(out)]) == 0
    assert "partial" not in capsys.readouterr().err

    # Resuming gives what one uninterrupted sweep gives: no run lost, none twice.
    fresh = tmp_path / "fresh"
    experiments.run_sweep(experiments.load_experiment(experiment), fresh, jobs=1, report=False)
    assert len(experiments.load_runs(out)) > planned
    pd.testing.assert_frame_equal(
        comparable(experiments.load_runs(out)), comparable(experiments.load_runs(fresh))
    )


def test_kill_stops_a_parallel_sweep_cleanly(relsim, tmp_path):
    pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    out, experiment = tmp_path / "sweep", write_sweep(tmp_path)
    sweep = relsim(["sweep", str(experiment), "--out", "sweep", "--jobs", "2", "-q"], tmp_path)
    wait_until(lambda: bool(sweep_parts(out)), what="the first finished design point")
    workers = sweep.workers()
    sweep.signal(signal.SIGTERM)
    status, _, err = sweep.finish()
    assert status == 130, err
    assert "Traceback" not in err
    assert "run the same command again to resume" in err
    assert manifest(out)["complete"] is False
    assert not list((out / "runs").glob("point-*.tmp")), "a half-written table is left"
    assert_no_workers_left(workers)
