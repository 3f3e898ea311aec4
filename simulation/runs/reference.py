"""The committed reference summary: a small run of the default scenario, kept to catch drift.

``tests/runs/test_reproducibility.py`` re-runs the reference scenario and compares the result with
the summary committed in ``tests/reference/``; any unintended change in the model's behaviour
shows up there. Regenerate it only on purpose, after a deliberate change of behaviour::

    make reference                              # or: python -m simulation.runs.reference
    python -m simulation.runs.reference --check  # compare only; exit status 1 on a difference

The reference run is the default scenario shrunk to 1,000 customers, 36 periods and 3 paired
replications (budgets scale with the market), so that the test takes a few seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.runs.stats import SUMMARY_KEYS
from simulation.scenario.schema import Scenario

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "reference"
SUMMARY_FILE = "summary.csv"
META_FILE = "reference.json"
CUSTOMERS = 1_000
PERIODS = 36
REPLICATIONS = 3
# Same platform, same library versions: the run is deterministic and the table is written
# with 17 significant digits, so it reads back exactly. The tolerance only absorbs a change
# in the order of floating-point sums (a pandas or numpy reduction taking another SIMD path);
# a change of behaviour moves results by far more, because one flipped random event changes
# the whole trajectory that follows it.
RTOL = 1e-9


def reference_scenario() -> Scenario:
    """The default scenario at the reference size."""
    from simulation.scenario.controls import resize_market
    from simulation.scenario.loading import DEFAULT_SCENARIO, apply_overrides, load_scenario

    scenario = resize_market(load_scenario(DEFAULT_SCENARIO), CUSTOMERS)
    return apply_overrides(
        scenario, {"market.periods": PERIODS, "replications": REPLICATIONS}, source="reference"
    )


def scenario_digest(scenario: Scenario) -> str:
    """A hash of the resolved scenario: tells a changed input from a changed model."""
    return hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()[:16]


def reference_summary(scenario: Scenario | None = None) -> pd.DataFrame:
    """Run the reference scenario and return its ``summary.csv`` table."""
    from simulation.runs.runner import run_scenario

    return run_scenario(scenario or reference_scenario(), jobs=1).summary


def environment() -> dict[str, Any]:
    """What the numbers may depend on besides relsim: platform and library versions."""
    from simulation.runs.provenance import versions

    return {"platform": platform.platform(), "machine": platform.machine(), **versions()}


def write_reference(folder: Path = REFERENCE_DIR) -> Path:
    """Run the reference scenario and write ``summary.csv`` and ``reference.json``.

    Returns:
        The summary file written.
    """
    scenario = reference_scenario()
    summary = reference_summary(scenario)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SUMMARY_FILE
    summary.to_csv(path, index=False, float_format="%.17g")
    meta = {
        "what": "summary.csv of the default scenario at the reference size",
        "regenerate": "make reference  (python -m simulation.runs.reference)",
        "customers": CUSTOMERS,
        "periods": PERIODS,
        "replications": REPLICATIONS,
        "master_seed": scenario.seed,
        "scenario_digest": scenario_digest(scenario),
        "rtol": RTOL,
        "environment": environment(),
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_reference(folder: Path = REFERENCE_DIR) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The committed summary and its metadata."""
    summary = pd.read_csv(folder / SUMMARY_FILE)
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return summary, meta


def compare(expected: pd.DataFrame, actual: pd.DataFrame, rtol: float = RTOL) -> list[str]:
    """Differences between two summary tables, one line per column that differs.

    Counts and keys must be equal; money and rates must agree to ``rtol`` (NaN equals NaN).
    """
    problems = []
    if list(expected.columns) != list(actual.columns):
        return [f"columns differ: {list(expected.columns)} != {list(actual.columns)}"]
    if len(expected) != len(actual):
        return [f"rows differ: {len(expected)} != {len(actual)}"]
    for column in expected.columns:
        want, got = expected[column], actual[column]
        if column in SUMMARY_KEYS or not pd.api.types.is_numeric_dtype(want):
            if [str(v) for v in want] != [str(v) for v in got]:
                problems.append(f"{column}: {list(want)} != {list(got)}")
            continue
        try:
            np.testing.assert_allclose(
                got.to_numpy(float), want.to_numpy(float), rtol=rtol, atol=0, equal_nan=True
            )
        except AssertionError:
            with np.errstate(divide="ignore", invalid="ignore"):
                worst = np.nanmax(np.abs(got.to_numpy(float) / want.to_numpy(float) - 1))
            problems.append(f"{column}: differs from the reference (largest relative {worst:.3g})")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Regenerate the reference (or, with ``--check``, compare with it)."""
    parser = argparse.ArgumentParser(
        prog="python -m simulation.runs.reference", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR, help="reference folder")
    args = parser.parse_args(argv)
    if args.check:
        expected, _ = read_reference(args.out)
        problems = compare(expected, reference_summary())
        for line in problems:
            print(f"reference: {line}", file=sys.stderr)
        print("reference: ok" if not problems else "reference: differs", file=sys.stderr)
        return 1 if problems else 0
    path = write_reference(args.out)
    print(f"wrote {path} and {path.with_name(META_FILE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
