"""Global sensitivity indices with confidence intervals (SALib analyse).

The output analysed at each design point is the mean of the target over that point's
replications. Replication noise is variance that no factor explains, so with few
replications Sobol indices add up to less than one; the report says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.experiments.designs import ANALYSIS_STREAM, DesignPoints, derived_seed
from simulation.experiments.spec import ExperimentSpec


class IncompleteDesignError(ValueError):
    """Some design points have no finite target, so the indices cannot be estimated."""


def sensitivity_indices(
    spec: ExperimentSpec, design: DesignPoints, y: np.ndarray, *, resamples: int = 1000
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Sobol or Morris indices of ``y`` (one value per design point, in point order).

    Args:
        spec: the experiment (design kind, confidence level, master seed).
        design: the drawn design (its raw sample and SALib problem).
        y: the output at each design point.
        resamples: bootstrap resamples for the confidence intervals.

    Returns:
        ``(indices, second_order)``: one row per factor (Sobol: ``S1``, ``S1_conf``, ``ST``,
        ``ST_conf``; Morris: ``mu``, ``mu_star``, ``mu_star_conf``, ``sigma``), where
        ``*_conf`` is the half-width of the ``spec.confidence`` interval; and, for Sobol with
        ``second_order``, one row per pair (``S2``, ``S2_conf``).

    Raises:
        IncompleteDesignError: when a point is missing or not finite (a partial or failed sweep).
        ValueError: the design is neither Sobol nor Morris.
    """
    if design.problem is None or design.raw is None:
        raise ValueError(f"design {spec.design.kind} has no sensitivity analysis")
    y = np.asarray(y, dtype=float)
    missing = int((~np.isfinite(y)).sum()) + max(0, len(design.raw) - len(y))
    if missing or len(y) != len(design.raw):
        raise IncompleteDesignError(f"{missing} of {len(design.raw)} design points have no result")
    seed = derived_seed(spec.seed, ANALYSIS_STREAM)
    names = design.problem["names"]
    if spec.design.kind == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(
            design.problem,
            y,
            calc_second_order=spec.design.second_order,
            num_resamples=resamples,
            conf_level=spec.confidence,
            seed=seed,
        )
        indices = pd.DataFrame(
            {
                "factor": names,
                "S1": result["S1"],
                "S1_conf": result["S1_conf"],
                "ST": result["ST"],
                "ST_conf": result["ST_conf"],
            }
        )
        second = None
        if spec.design.second_order:
            rows = [
                {
                    "factor_a": names[i],
                    "factor_b": names[j],
                    "S2": float(result["S2"][i, j]),
                    "S2_conf": float(result["S2_conf"][i, j]),
                }
                for i in range(len(names))
                for j in range(i + 1, len(names))
            ]
            second = pd.DataFrame(rows)
        return indices, second
    if spec.design.kind == "morris":
        from SALib.analyze import morris

        result = morris.analyze(
            design.problem,
            design.raw,
            y,
            num_resamples=resamples,
            conf_level=spec.confidence,
            num_levels=spec.design.grid_levels,
            seed=seed,
        )
        indices = pd.DataFrame(
            {
                "factor": names,
                "mu": np.asarray(result["mu"], float),
                "mu_star": np.asarray(result["mu_star"], float),
                "mu_star_conf": np.asarray(result["mu_star_conf"], float),
                "sigma": np.asarray(result["sigma"], float),
            }
        )
        return indices, None
    raise ValueError(f"design {spec.design.kind} has no sensitivity analysis")
