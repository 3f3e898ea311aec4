"""relsim: agent-based simulation of relationship marketing on Mesa.

The public API, importable from here::

    from simulation import RelationshipMarket, load_scenario, run_scenario

    scenario = load_scenario("acquisition_vs_retention", {"market.customers": 2000})
    results = run_scenario(scenario, replications=5)
    model = RelationshipMarket(scenario, policy="balanced", rng=42)

Scenarios: :func:`load_scenario`, :func:`apply_overrides`, :func:`resize_market`,
:func:`configure`, :func:`bundled_scenarios`, :class:`Scenario`. The model:
:class:`RelationshipMarket`. Runs: :func:`run_scenario`, :func:`run_replication`,
:func:`replication_seeds`. Experiments (``sample -> evaluate -> analyse``, or
:func:`run_sweep` into a folder): :func:`load_experiment`, :func:`sample`, :func:`evaluate`,
:func:`analyse`, :func:`run_sweep`, :func:`build_report`, :func:`load_runs`.

Each name is imported on first use, so that ``import simulation`` (and so the ``relsim``
command's start) does not load Mesa, pandas and numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Analysis",
    "Experiment",
    "RelationshipMarket",
    "Scenario",
    "ScenarioError",
    "ScenarioResults",
    "analyse",
    "analyze",
    "apply_overrides",
    "build_report",
    "bundled_scenarios",
    "configure",
    "evaluate",
    "load_experiment",
    "load_runs",
    "load_scenario",
    "replication_seeds",
    "resize_market",
    "run_replication",
    "run_scenario",
    "run_sweep",
    "sample",
]

_HOMES = {
    "Analysis": "simulation.experiments",
    "Experiment": "simulation.experiments",
    "RelationshipMarket": "simulation.market.model",
    "Scenario": "simulation.scenario.schema",
    "ScenarioError": "simulation.errors",
    "ScenarioResults": "simulation.runs.results",
    "analyse": "simulation.experiments",
    "analyze": "simulation.experiments",
    "apply_overrides": "simulation.scenario.loading",
    "build_report": "simulation.experiments",
    "bundled_scenarios": "simulation.scenario.loading",
    "configure": "simulation.scenario.controls",
    "evaluate": "simulation.experiments",
    "load_experiment": "simulation.experiments",
    "load_runs": "simulation.experiments",
    "load_scenario": "simulation.scenario.loading",
    "replication_seeds": "simulation.runs.runner",
    "resize_market": "simulation.scenario.controls",
    "run_replication": "simulation.runs.runner",
    "run_scenario": "simulation.runs.runner",
    "run_sweep": "simulation.experiments",
    "sample": "simulation.experiments",
}
"""The module each public name is defined in."""

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and editors
    from simulation.errors import ScenarioError
    from simulation.experiments import (
        Analysis,
        Experiment,
        analyse,
        analyze,
        build_report,
        evaluate,
        load_experiment,
        load_runs,
        run_sweep,
        sample,
    )
    from simulation.market.model import RelationshipMarket
    from simulation.runs.results import ScenarioResults
    from simulation.runs.runner import replication_seeds, run_replication, run_scenario
    from simulation.scenario.controls import configure, resize_market
    from simulation.scenario.loading import apply_overrides, bundled_scenarios, load_scenario
    from simulation.scenario.schema import Scenario


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulation' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the public API included before it is loaded."""
    return sorted({*globals(), *__all__})
