"""relsim as a plain function: scenario, policy and seed in, outcomes out.

:func:`simulate` is the sweep engine's default *model*: any callable with the same signature
(``model(scenario, policy, seed, replication) -> {outcome: value}``) can take its place, which
is how the engine is tested and how other simulators can be swept with relsim's machinery.

:func:`run` is the same thing with keyword parameters, for tools that call a Python function
with named inputs (EMA Workbench, SALib, optimisers): a dotted scenario path is written with
``__`` in place of ``.``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simulation.errors import UserError
from simulation.runs.registry import release_models
from simulation.scenario.loading import DEFAULT_SCENARIO, apply_overrides, load_scenario
from simulation.scenario.schema import Scenario


def simulate(scenario: Scenario, policy: str, seed: int, replication: int = 0) -> dict[str, float]:
    """Run one replication of one policy and return the focal firm's outcomes.

    Args:
        scenario: the resolved scenario.
        policy: one of its policies.
        seed: the run's seed; every policy run with one seed meets the same luck.
        replication: the replication number (recorded with the results).

    Returns:
        The ``summary.csv`` outcomes (``npv``, ``final_customers``, ...) as floats.
    """
    from simulation.runs.runner import run_replication

    with release_models():
        result = run_replication(
            scenario, policy, int(seed), int(replication), collect_timeseries=False
        )
    return {key: float(value) for key, value in result.summary.items()}


@functools.lru_cache(maxsize=16)
def _base(scenario: str) -> Scenario:
    return load_scenario(scenario)


def run(
    scenario: str | Path | Scenario = DEFAULT_SCENARIO,
    policy: str | None = None,
    seed: int = 0,
    replication: int = 0,
    baseline: str | None = None,
    **params: Any,
) -> dict[str, float]:
    """Run relsim once with keyword parameters and return the outcomes.

    Args:
        scenario: a scenario file, the name of a bundled scenario, or a Scenario.
        policy: the policy to run (default: the scenario's first).
        seed: the run's seed.
        replication: recorded only; the seed alone decides the random numbers.
        baseline: another policy; when given, the result also holds
            ``<outcome>_difference`` = policy minus baseline, run with the same seed (paired).
        **params: dotted scenario paths with ``__`` for ``.``, for example
            ``market__customer__price_sensitivity__mean=2.0``.

    Returns:
        ``{outcome: value}``: the ``summary.csv`` outcomes of the focal firm.

    Raises:
        UserError: an unknown scenario, policy or path, or a value the schema refuses.

    Example:
        >>> from simulation.experiments import run
        >>> run(market__customers=500, market__periods=12, seed=1)["npv"]  # doctest: +SKIP
    """
    base = scenario if isinstance(scenario, Scenario) else _base(str(scenario))
    overrides = {key.replace("__", "."): _plain(value) for key, value in params.items()}
    resolved = apply_overrides(base, overrides, source="run()") if overrides else base
    policy = policy or next(iter(resolved.policies))
    for name in (policy, baseline):
        if name is not None and name not in resolved.policies:
            raise UserError(
                f"run(): policy {name!r} is not allowed: the scenario's policies are "
                f"{', '.join(resolved.policies)}"
            )
    outcomes = simulate(resolved, policy, seed, replication)
    if baseline is not None:
        reference = simulate(resolved, baseline, seed, replication)
        outcomes |= {f"{k}_difference": outcomes[k] - reference[k] for k in outcomes}
    return outcomes


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values (SALib and EMA Workbench pass numpy types)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
