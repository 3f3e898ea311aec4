"""From a calibration to a market: the scenario, the replayed holdout, all in memory.

:func:`calibrate_market` takes a :class:`~simulation.calibration.CalibrationResult` and a base
scenario and returns a :class:`CalibratedMarket`: the scenario that extends the base with the
fitted laws (:mod:`.scenario_out`), and the tracking table with the calibration cohort replayed
in relsim's market (:mod:`.simulate`). Writing it is :mod:`.folder`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.calibration.pipeline import CalibrationResult
from simulation.calibration.scenario_out import (
    UNIT_MONTHS,
    Sizing,
    acquisition_per_month,
    base_reference,
    calibrated_scenario,
    customer_laws,
    size_market,
)
from simulation.calibration.simulate import holdout_table, simulate_tracking
from simulation.errors import UserError


@dataclass(frozen=True)
class CalibratedMarket:
    """A calibration and the market built from it.

    Attributes:
        result: the fits and tables of the log.
        base: the loaded base scenario.
        base_ref: what the written scenario ``extends:``.
        scenario: the calibrated scenario as a plain dict (``extends:`` the base).
        sizing: the market's size and acquisition.
        laws: the ``market.customer`` laws of the chosen model.
        tracking: the tracking table with the replayed cohort's mean and band.
        holdout: the holdout periods (:func:`~.simulate.holdout_table`).
        replications: how many markets replayed the cohort.
        seed: the master seed of the replay.
    """

    result: CalibrationResult
    base: Any
    base_ref: str
    scenario: dict[str, Any]
    sizing: Sizing
    laws: dict[str, Any]
    tracking: pd.DataFrame
    holdout: pd.DataFrame
    replications: int
    seed: int


def scenario_name(log: Path) -> str:
    """A scenario name from the log's file name (letters, digits, ``_ . -`` only)."""
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "_", log.stem).strip("_.-") or "log"
    return f"calibrated_{stem}"


def load_base(base: str | Path) -> Any:
    """The base scenario, loaded and validated (errors are one line each)."""
    from simulation.scenario.loading import load_scenario

    return load_scenario(base)


def calibrate_market(
    result: CalibrationResult,
    base: str | Path,
    replications: int = 10,
    seed: int | None = None,
) -> CalibratedMarket:
    """Build the calibrated scenario and replay the calibration cohort in relsim's market.

    Args:
        result: a calibration (:func:`~simulation.calibration.calibrate_log`).
        base: the base scenario (a file, or the name of a bundled scenario).
        replications: independent markets replaying the cohort (1 or more).
        seed: the replay's master seed (default: the base scenario's seed).

    Returns:
        The calibrated market.

    Raises:
        UserError: the base scenario cannot be loaded, or ``replications`` is below 1.
    """
    if replications < 1:
        raise UserError(f"replications: {replications} is not allowed: at least 1")
    loaded = load_base(base)
    summary, model = result.summary, result.model
    alive = float(result.alive["p_alive"].sum())
    ages = summary.customers["T"].to_numpy() * UNIT_MONTHS[summary.unit]
    tenure = (float(np.min(ages)), float(np.max(ages)))
    acquired = acquisition_per_month(result.acquisition, summary.calibration_end)
    sizing = size_market(loaded, alive, tenure, acquired)
    laws = customer_laws(model, result.spend, loaded.market.firms[0].price)
    name = scenario_name(result.log.path)
    description = (
        f"{loaded.name} with the customers of {result.log.path.name}: {model.label} purchase "
        "and drop-out laws"
        + (", Gamma-Gamma spend" if result.spend is not None else "")
        + f", fitted up to {summary.until:%Y-%m-%d}."
    )
    ref = base_reference(base)
    scenario = calibrated_scenario(loaded, ref, name, model, result.spend, sizing, description)
    seed = loaded.seed if seed is None else int(seed)
    tracking = simulate_tracking(summary, result.tracking, laws, replications, seed)
    return CalibratedMarket(
        result=result,
        base=loaded,
        base_ref=ref,
        scenario=scenario,
        sizing=sizing,
        laws=laws,
        tracking=tracking,
        holdout=holdout_table(tracking),
        replications=replications,
        seed=seed,
    )
