"""Design points: which combinations of factor values are run.

Every design is reproducible from the experiment's master seed alone. The random numbers that
draw the design come from their own stream of the master :class:`numpy.random.SeedSequence`
(spawn key ``DESIGN_STREAM``), apart from the streams of the runs (spawn key = point index),
so adding replications or points never changes the design, and changing the design never
reuses a run's random numbers for another purpose.

Continuous designs are drawn in a unit cube (or, for Sobol and Morris, in SALib's problem
space) and mapped onto each factor: a range linearly or logarithmically, a values list by
cutting the interval into equal cells, one per value.
"""

from __future__ import annotations

import inspect
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from simulation.errors import ScenarioError
from simulation.experiments.spec import MAX_POINTS, Experiment, ExperimentSpec, Factor, plain

# Spawn keys of the master seed reserved for the design and for the analysis (bootstrap).
# Runs use the point index as their key; no design comes close to 2**31 points.
DESIGN_STREAM = 2**31 - 1
ANALYSIS_STREAM = 2**31 - 2


def stream(master_seed: int, key: int) -> np.random.SeedSequence:
    """The child of the master seed with spawn key ``(key,)``."""
    return np.random.SeedSequence(master_seed, spawn_key=(key,))


def derived_seed(master_seed: int, key: int) -> int:
    """A 32-bit integer seed from one stream (for libraries that take an int, like SALib)."""
    return int(stream(master_seed, key).generate_state(1, np.uint32)[0])


@dataclass
class DesignPoints:
    """Design points and, for Sobol and Morris, the raw sample SALib's analysis needs.

    Attributes:
        points: one row per point: ``point`` (0, 1, ...) and one column per factor label.
        raw: the sample in SALib's problem space (Sobol, Morris), one row per point.
        problem: SALib's problem definition (Sobol, Morris).
    """

    points: pd.DataFrame
    raw: np.ndarray | None = None
    problem: dict[str, Any] | None = None


def design_size(spec: ExperimentSpec, table_rows: int | None = None) -> int:
    """Number of design points the spec asks for, without drawing them."""
    design, d = spec.design, len(spec.factors)
    if design.kind == "full_factorial":
        return math.prod(len(_grid(f, design.levels)) for f in spec.factors)
    if design.kind in ("monte_carlo", "latin_hypercube"):
        return int(design.samples or 0)
    if design.kind == "sobol":
        return int(design.samples or 0) * ((2 * d + 2) if design.second_order else (d + 2))
    if design.kind == "morris":
        return int(design.samples or 0) * (d + 1)
    return int(table_rows or 0)


def build_design(
    spec: ExperimentSpec, table: pd.DataFrame | None = None, source: str = "<experiment>"
) -> DesignPoints:
    """Draw the design points of an experiment spec.

    Args:
        spec: a validated experiment spec.
        table: the design points of a ``table`` design.
        source: the experiment's file, for error messages.

    Returns:
        The design points; the same spec always gives the same points.

    Raises:
        ScenarioError: the design would have more than ``MAX_POINTS`` points.
    """
    factors, design = spec.factors, spec.design
    size = design_size(spec, None if table is None else len(table))
    if size > MAX_POINTS:
        raise ScenarioError(
            f"{source}: design: {size:,} points is not allowed: at most {MAX_POINTS:,}; "
            "use fewer levels or samples"
        )
    rng = np.random.default_rng(stream(spec.seed, DESIGN_STREAM))
    raw = problem = None
    if design.kind == "full_factorial":
        rows = list(itertools.product(*(_grid(f, design.levels) for f in factors)))
        columns = {f.label: [row[i] for row in rows] for i, f in enumerate(factors)}
    elif design.kind == "table":
        assert table is not None
        columns = {f.label: [plain(v) for v in table[f.label]] for f in factors}
    else:
        problem = salib_problem(factors)
        if design.kind == "monte_carlo":
            raw = _scale(rng.random((size, len(factors))), problem)
        elif design.kind == "latin_hypercube":
            raw = _scale(_latin_hypercube(len(factors), size, rng), problem)
        elif design.kind == "sobol":
            from SALib.sample import sobol

            raw = sobol.sample(
                problem,
                int(design.samples or 0),
                calc_second_order=design.second_order,
                seed=derived_seed(spec.seed, DESIGN_STREAM),
            )
        else:
            from SALib.sample import morris

            raw = morris.sample(
                problem,
                int(design.samples or 0),
                num_levels=design.grid_levels,
                seed=derived_seed(spec.seed, DESIGN_STREAM),
            )
        columns = {f.label: _from_raw(f, raw[:, i]) for i, f in enumerate(factors)}
        if design.kind in ("monte_carlo", "latin_hypercube"):
            raw, problem = None, None  # only Sobol and Morris analyses need them
    points = pd.DataFrame({"point": np.arange(size, dtype=np.int64)})
    for f in factors:
        points[f.label] = _typed(f, columns[f.label])
    return DesignPoints(points, raw, problem)


def sample(experiment: Experiment) -> pd.DataFrame:
    """The design points of an experiment: ``point`` and one column per factor.

    Reproducible: the same experiment file (and master seed) gives the same table.
    """
    return build_design(experiment.spec, experiment.table, experiment.source).points


def point_overrides(factors: list[Factor], row: Any) -> dict[str, Any]:
    """Dotted-path overrides for one design point (a row of the design table)."""
    return {f.path: plain(row[f.label]) for f in factors}


def salib_problem(factors: list[Factor]) -> dict[str, Any]:
    """SALib's problem: a range on a log scale is sampled in log10; a values list in [0, k]."""
    bounds = []
    for f in factors:
        if f.range is not None:
            low, high = f.range
            bounds.append([math.log10(low), math.log10(high)] if f.scale == "log" else [low, high])
        else:
            bounds.append([0.0, float(len(f.values or []))])
    return {"num_vars": len(factors), "names": [f.label for f in factors], "bounds": bounds}


# --------------------------------------------------------------------------- helpers
def _grid(factor: Factor, default_levels: int) -> list[Any]:
    """The levels of a factor in a full factorial design."""
    if factor.values is not None:
        return list(factor.values)
    assert factor.range is not None
    n = factor.levels or default_levels
    low, high = factor.range
    grid = np.geomspace(low, high, n) if factor.scale == "log" else np.linspace(low, high, n)
    if factor.integer:
        # Rounding can merge neighbouring levels of a narrow range; keep each once, in order.
        return list(dict.fromkeys(int(round(x)) for x in grid))
    return [float(x) for x in grid]


def _scale(unit: np.ndarray, problem: dict[str, Any]) -> np.ndarray:
    bounds = np.asarray(problem["bounds"], dtype=float)
    return bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])


def _latin_hypercube(d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    # scipy renamed ``seed`` to ``rng`` in 1.15; accept both so older scipy keeps working.
    params = inspect.signature(qmc.LatinHypercube).parameters
    kwargs = {"rng": rng} if "rng" in params else {"seed": rng}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return qmc.LatinHypercube(d, **kwargs).random(n)


def _from_raw(factor: Factor, x: np.ndarray) -> list[Any]:
    """Map a column of the raw sample (problem space) onto the factor's values."""
    if factor.values is not None:
        k = len(factor.values)
        index = np.clip(np.floor(x).astype(int), 0, k - 1)
        return [factor.values[i] for i in index]
    values = 10.0**x if factor.scale == "log" else np.asarray(x, dtype=float)
    if factor.range is not None:
        # 10**log10(x) can land a hair outside the range; the schema checks the exact ends.
        values = np.clip(values, *factor.range)
    if factor.integer:
        return [int(round(v)) for v in values]
    return [float(v) for v in values]


def _typed(factor: Factor, values: list[Any]) -> pd.Series:
    """A column with one dtype for the factor whatever the points (stable table schemas)."""
    if factor.range is not None:
        return pd.Series(values, dtype="int64" if factor.integer else "float64")
    levels = factor.values or []
    if all(isinstance(v, bool) for v in levels):
        return pd.Series(values, dtype="bool")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in levels):
        return pd.Series(values, dtype="int64")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in levels):
        return pd.Series(values, dtype="float64")
    return pd.Series([str(v) for v in values], dtype="object")
