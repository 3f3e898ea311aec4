"""``relsim sweep`` and ``relsim report`` end to end, with the real simulation.

The resume test runs ``relsim sweep`` as a real subprocess, stops it twice mid-way (SIGTERM,
then SIGKILL) once some runs are on disk, runs it again to the end and compares the results
with an uninterrupted sweep: they must be identical.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from simulation.cli import main
from simulation.experiments import load_experiment, load_runs, run_sweep

REPO = Path(__file__).resolve().parents[2]

# 24 design points x 2 replications x 2 policies of a 300-customer market over 12 months:
# long enough (a few seconds) to be stopped mid-way, short enough for the test suite.
KILL_EXPERIMENT = {
    "name": "resume_test",
    "scenario": "acquisition_vs_retention",
    "customers": 300,
    "overrides": {"market.periods": 12},
    "policies": ["acquisition_heavy", "retention_focused"],
    "factors": [
        {"path": "market.responses.advertising.ceiling", "name": "ad", "range": [0.01, 0.1]},
        {"path": "market.customer.base_churn_rate.mean", "name": "churn", "range": [0.01, 0.05]},
    ],
    "design": {"kind": "latin_hypercube", "samples": 24},
    "replications": 2,
    "seed": 99,
}


def relsim(*args: str, cwd: Path) -> subprocess.Popen:
    """Start ``relsim ARGS`` (``python -m simulation`` is the same command) in a subprocess."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-m", "simulation", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def parts(folder: Path) -> int:
    runs = folder / "runs"
    return len(list(runs.glob("point-*"))) if runs.is_dir() else 0


def wait_for_parts(process: subprocess.Popen, folder: Path, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while parts(folder) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no progress within two minutes"
        time.sleep(0.02)


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.drop(columns=["elapsed_s"]).reset_index(drop=True)


def test_interrupted_sweep_resumes_to_identical_results(tmp_path):
    experiment_file = tmp_path / "resume.yaml"
    experiment_file.write_text(yaml.safe_dump(KILL_EXPERIMENT))
    out = tmp_path / "sweep"

    # 1. Stopped politely (SIGTERM): the folder is marked incomplete and gets a partial report.
    first = relsim("sweep", str(experiment_file), "--out", str(out), "--jobs", "1", cwd=tmp_path)
    wait_for_parts(first, out, 3)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["status"] == "interrupted"
    assert "PARTIAL SWEEP" in (out / "report.md").read_text()

    report = relsim("report", str(out), cwd=tmp_path)
    stdout, stderr = report.communicate(timeout=120)
    assert report.returncode == 0 and "partial sweep" in stderr, stderr

    # 2. Killed (SIGKILL) while a process pool runs: no chance to tidy up, and its worker
    #    processes must not outlive it.
    before = parts(out)
    second = relsim("sweep", str(experiment_file), "--out", str(out), "--jobs", "2", cwd=tmp_path)
    wait_for_parts(second, out, before + 3)
    workers = psutil.Process(second.pid).children(recursive=True)
    second.kill()
    second.communicate(timeout=60)
    gone, alive = psutil.wait_procs(workers, timeout=15)
    for process in alive:  # only if the watchdog failed: do not leave them behind
        process.kill()
    assert not alive, "worker processes outlived a killed sweep"
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    on_disk = len(load_runs(out)) // 2  # runs = rows / policies
    assert 0 < on_disk < 48

    # 3. Run again: only the missing runs run, and the result equals an uninterrupted sweep
    #    (run in this process, with another number of workers).
    third = relsim("sweep", str(experiment_file), "--out", str(out), "--jobs", "1", cwd=tmp_path)
    stdout, stderr = third.communicate(timeout=300)
    assert third.returncode == 0, stderr
    assert f"skipped {on_disk} runs already done" in stdout
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    reference = tmp_path / "reference"
    run_sweep(load_experiment(experiment_file), reference, jobs=1, report=False)
    resumed = pd.read_parquet(out / "runs.parquet")
    assert len(resumed) == 24 * 2 * 2
    pd.testing.assert_frame_equal(comparable(resumed), comparable(load_runs(reference)))


def test_invalid_experiment_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = dict(KILL_EXPERIMENT)
    bad["factors"] = [{"path": "market.customer.transactional_shar", "range": [0, 0.5]}]
    bad["design"] = {"kind": "sobol", "samples": 48}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: design:" in err and "power of two" in err
    assert not out.exists()
    bad["design"] = {"kind": "sobol", "samples": 32}
    path.write_text(yaml.safe_dump(bad))
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "factors.0.path: 'market.customer.transactional_shar' is not allowed" in err
    assert "transactional_share" in err and "Traceback" not in err
    assert not out.exists()


def test_sweep_with_failures_and_refusals_on_the_command_line(tmp_path, capsys, monkeypatch):
    path = REPO / "experiments" / "tiny.yaml"
    out = tmp_path / "tiny"
    monkeypatch.chdir(tmp_path)  # no tiny.yaml here: the name finds the bundled experiment
    assert main(["sweep", "tiny", "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "18 runs in" in text and "Report:" in text
    assert (out / "report.md").exists() and (out / "plots" / "break_even.png").exists()
    points = pd.read_csv(out / "points.csv")
    assert {"point", "ad_ceiling", "churn_mean", "policy", "baseline", "mean", "ci_low"} <= set(
        points.columns
    )
    # Again: everything is skipped.
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert "skipped 18 runs already done" in capsys.readouterr().out
    # Another experiment into the same folder: refused, naming --out and --overwrite.
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text().replace("seed: 7", "seed: 8"))
    assert main(["sweep", str(other), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--overwrite" in err
    assert main(["report", str(out)]) == 0
    assert main(["report", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


@pytest.mark.slow
def test_bundled_experiments_run_end_to_end(tmp_path):
    """The two bundled studies, shrunk (fewer customers, months, points) to test speed."""
    for name, shrink in (
        ("break_even", {"design": {"kind": "full_factorial", "levels": 3}}),
        ("sobol_market", {"design": {"kind": "sobol", "samples": 4}}),
    ):
        data = yaml.safe_load((REPO / "experiments" / f"{name}.yaml").read_text())
        data.update(customers=300, replications=1, **shrink)
        data["overrides"]["market.periods"] = 12
        if name == "break_even":
            for factor in data["factors"]:
                factor.pop("levels")
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        out = tmp_path / name
        assert main(["sweep", str(path), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
        report = (out / "report.md").read_text()
        assert "PARTIAL" not in report
        figure = "break_even.png" if name == "break_even" else "sensitivity.png"
        assert (out / "plots" / figure).stat().st_size > 10_000, report


def test_report_on_a_run_folder_rebuilds_the_run_report(tmp_path):
    out = tmp_path / "run"
    args = ["run", "acquisition_vs_retention", "--customers", "200", "--periods", "6"]
    assert main([*args, "--replications", "2", "--out", str(out), "--quiet"]) == 0
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").exists()


def test_an_experiment_is_found_by_path_first_then_by_bundled_name(tmp_path, monkeypatch):
    from simulation.errors import ScenarioError
    from simulation.experiments.spec import experiment_path
    from simulation.scenario.loading import EXPERIMENTS_DIR

    monkeypatch.chdir(tmp_path)
    assert experiment_path("break_even") == EXPERIMENTS_DIR / "break_even.yaml"
    assert experiment_path("break_even.yaml") == EXPERIMENTS_DIR / "break_even.yaml"
    (tmp_path / "break_even.yaml").write_text("name: mine\n")
    assert experiment_path("break_even.yaml") == Path("break_even.yaml")  # the local file
    with pytest.raises(ScenarioError, match="nonesuch: no such file .bundled experiments: "):
        experiment_path("nonesuch")
