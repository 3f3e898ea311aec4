"""Adding paired replications until the verdict is settled, and the run command around it."""

from __future__ import annotations

import pytest

from simulation.cli import main
from simulation.runs.runner import replication_seeds, run_scenario, run_until_decided
from simulation.runs.stats import against_leader, is_settled
from simulation.scenario.loading import load_scenario


@pytest.fixture(scope="module")
def tiny():
    return load_scenario(
        "acquisition_vs_retention",
        {"market.customers": 300, "market.periods": 12},
    )


def test_rounds_extend_the_same_replications_until_settled_or_capped(tiny) -> None:
    rounds = []
    results = run_until_decided(
        tiny, replications=2, cap=8, seed=3, on_round=lambda d, t: rounds.append((d, t))
    )
    n = len(results.seeds)
    assert rounds[0] == (0, 2)
    assert all(done < target <= 8 for done, target in rounds)
    # Replication k has the same seed whatever the total: the first runs are not repeated.
    assert results.seeds == replication_seeds(3, n)
    settled = is_settled(against_leader(results.summary, 0.01)["verdict"])
    assert results.until_decided == {"start": 2, "cap": 8, "settled": settled}
    assert settled or n == 8
    # The same runs as a fixed number of replications gives.
    fixed = run_scenario(tiny, replications=n, seed=3)
    assert fixed.summary["npv"].tolist() == results.summary["npv"].tolist()


def test_version_and_help_without_type_tags(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("relsim ")
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "<bool>" not in text and "<int" not in text
    assert "--until-" in text and "--equivalence" in text  # names may be cut to fit


def test_a_cold_kernel_cache_is_detected(tmp_path) -> None:
    import os
    import subprocess
    import sys

    code = "from simulation.runs.warmup import kernels_need_compiling as k; print(k())"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # an empty cache
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert cold.stdout.strip() == "True", cold.stderr
