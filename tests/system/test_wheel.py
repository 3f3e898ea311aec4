"""The built wheel carries the bundled files, and an installed relsim runs from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "simulation", "scenarios", "experiments"]


def test_every_package_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "simulation").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk - listed == set(), "add these packages to [tool.setuptools] packages"
    assert {"simulation.bundled.scenarios", "simulation.bundled.experiments"} <= listed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources, so that the checkout gets no build/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", str(source), "-w", str(dist))
    (built,) = dist.glob("relsim-*.whl")
    return built


def pip(*args: str | Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", *map(str, args)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_wheel_carries_the_bundled_scenarios_and_experiments(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("scenarios", "experiments"):
        files = sorted((ROOT / kind).glob("*.yaml"))
        assert files
        for file in files:
            assert f"simulation/bundled/{kind}/{file.name}" in names
    for module in (ROOT / "simulation").rglob("*.py"):
        if "__pycache__" not in module.parts:
            assert module.relative_to(ROOT).as_posix() in names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (not editable).

    The dependencies come from this environment's site-packages through a ``.pth`` file, so
    nothing is downloaded; the editable install of the checkout is not seen, as Python reads
    ``.pth`` files only in the environment's own site-packages.
    """
    env = tmp_path_factory.mktemp("env") / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "relsim-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip("--python", str(python), "install", "--no-deps", "--no-index", "--ignore-installed", wheel)
    return env


def in_env(env: Path, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "RELSIM_DASHBOARD_SCENARIO")
    environ = {k: v for k, v in os.environ.items() if k not in dropped}
    environ["PATH"] = f"{env / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
    environ["COLUMNS"] = "200"  # tables unwrapped
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True)


@pytest.mark.slow
def test_installed_wheel_runs_the_bundled_scenarios_from_any_folder(installed, tmp_path):
    python = str(installed / "bin" / "python")
    where = in_env(
        installed,
        [
            python,
            "-c",
            "import simulation; from simulation.scenario import loading as s; "
            "print(simulation.__file__); print(s.resolve_path(s.DEFAULT_SCENARIO)); "
            "print(s.bundled_experiments()[0])",
        ],
        tmp_path,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(installed.resolve()), line

    listing = in_env(installed, [str(installed / "bin" / "relsim"), "scenarios"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    for scenario in (ROOT / "scenarios").glob("*.yaml"):
        assert scenario.stem in listing.stdout

    out = tmp_path / "results"
    relsim = str(installed / "bin" / "relsim")
    command = [relsim, "run", "acquisition_vs_retention", "--customers", "500"]
    done = in_env(installed, [*command, "--replications", "2", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "balanced" in done.stdout
    for name in ("report.md", "summary.csv", "timeseries.csv", "scenario.yaml"):
        assert (out / name).is_file(), name
    assert "customers: 500" in (out / "scenario.yaml").read_text()


@pytest.mark.slow
def test_installed_dashboard_opens_the_bundled_default_market(installed, tmp_path):
    # Importing the app builds its page on the default market (no scenario named).
    check = "import simulation.dashboard.app as app; print(app.page is not None)"
    done = in_env(installed, [str(installed / "bin" / "python"), "-c", check], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "True"
