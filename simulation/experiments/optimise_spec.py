"""Optimisation files: what the firm chooses, what is uncertain, what counts as better.

An optimisation file is an experiment file whose ``factors`` become ``decision:`` (the
focal firm's choices, with bounds) and ``uncertainty:`` (market factors sampled as in sweeps),
with an ``objective:``, optional ``constraints:`` and settings for the search, the racing of
the leading candidates and the final check on fresh seeds. Loading checks everything that
can be checked before a single run: the schema, every path, both ends of every bound against
the scenario schema, and every sampled market. Every problem is one line naming the file,
the field path, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from simulation.errors import ScenarioError
from simulation.experiments.decision import (
    ALLOCATION,
    RETENTION_SHARE,
    Decision,
    apply_settings,
    candidate_scenario,
    parameter_names,
)
from simulation.experiments.designs import build_design, point_overrides
from simulation.experiments.spec import (
    SUMMARY_OUTCOMES,
    Design,
    ExperimentSpec,
    Factor,
    _base_scenario,
    _check_factors,
)
from simulation.limits import SEED_MAX
from simulation.scenario.loading import format_validation_error, read_yaml, set_path
from simulation.scenario.schema import Probability, Scenario, Strict

SPEND_OUTCOME = "marketing_spend_per_period"
"""Mean marketing spend per period, rewards and discounts included (added to every run)."""

OUTCOMES: tuple[str, ...] = (*SUMMARY_OUTCOMES, SPEND_OUTCOME)
MAX_MARKETS = 1_000


class Uncertainty(Strict):
    """Market factors sampled as in sweeps; every candidate meets every sampled market."""

    factors: list[Factor] = Field(default_factory=list)
    design: Design = Field(
        default_factory=lambda: Design(kind="latin_hypercube", samples=8),
        description="how the markets are drawn (as a sweep's design; not a table)",
    )

    @model_validator(mode="after")
    def _no_table(self) -> Uncertainty:
        if self.design.kind == "table":
            raise ValueError("a table design is not supported here; list values instead")
        return self


class Objective(Strict):
    """One number per candidate: an outcome, summarised across the sampled markets.

    ``mean``: its mean; ``quantile``: its lower ``quantile`` across markets (a cautious firm);
    ``regret``: the most it falls short, in any market, of the best of the scenario's
    policies there (smaller is better); ``spread``: its standard deviation over every run
    (smaller is better; the risk, as a second objective).
    """

    outcome: str = "npv"
    across: Literal["mean", "quantile", "regret", "spread"] = "mean"
    quantile: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1

    @property
    def label(self) -> str:
        """Short name: ``npv``, ``npv q0.1``, ``npv regret``, ``npv spread``."""
        if self.across == "mean":
            return self.outcome
        if self.across == "quantile":
            return f"{self.outcome} q{self.quantile:g}"
        return f"{self.outcome} {self.across}"


class Constraints(Strict):
    """Limits a candidate must keep, on its mean over every run."""

    max_spend: Annotated[float, Field(gt=0.0)] | None = Field(
        None, description="marketing spend per period, rewards and discounts included"
    )
    min_market_share: Probability | None = Field(None, description="final market share")


class Search(Strict):
    """The optuna search."""

    sampler: Literal["tpe", "cmaes", "nsga2"] | None = Field(
        None, description="default: tpe with one objective, nsga2 with two"
    )
    trials: Annotated[int, Field(ge=1, le=100_000)] = 40
    batch: Annotated[int, Field(ge=1, le=1_000)] = Field(
        4, description="candidates proposed at a time (results never depend on --jobs)"
    )
    startup_trials: Annotated[int, Field(ge=1, le=10_000)] = Field(
        10, description="random candidates before the sampler models the objective"
    )
    replications: Annotated[int, Field(ge=2, le=10_000)] = Field(
        3, description="replications of every candidate in every market (same seeds for all)"
    )


class Race(Strict):
    """Replications added to the leading candidates until they separate."""

    candidates: Annotated[int, Field(ge=2, le=100)] = 5
    batch: Annotated[int, Field(ge=1, le=1_000)] = 3
    max_runs: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        300, description="runs the racing may add in all"
    )


class Final(Strict):
    """The check of the best few on fresh seeds."""

    top: Annotated[int, Field(ge=1, le=20)] = 3
    replications: Annotated[int, Field(ge=2, le=10_000)] = 10


class OptimiseSpec(Strict):
    """The contents of an optimisation file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "optimisation"
    description: str = ""
    scenario: Annotated[str, Field(min_length=1)]
    customers: Annotated[int, Field(ge=1, le=50_000_000)] | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    policies: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="the policies every candidate is compared with (default: all)"
    )
    decision: Decision
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)
    objective: Objective | Annotated[list[Objective], Field(min_length=1, max_length=2)] = Field(
        default_factory=Objective
    )
    constraints: Constraints = Field(default_factory=Constraints)
    search: Search = Field(default_factory=Search)
    race: Race = Field(default_factory=Race)
    final: Final = Field(default_factory=Final)
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 0
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95

    @property
    def objectives(self) -> list[Objective]:
        """One or two objectives, the first being the one the candidates are raced on."""
        return list(self.objective) if isinstance(self.objective, list) else [self.objective]

    @property
    def sampler(self) -> str:
        """The optuna sampler."""
        return self.search.sampler or ("tpe" if len(self.objectives) == 1 else "nsga2")


@dataclass
class Optimisation:
    """A validated optimisation, resolved against its scenario.

    Attributes:
        spec: the file's contents with defaults filled in (policies resolved).
        source: where it came from.
        scenario: the base scenario, overrides applied (the references and the decision's
            policy only).
        references: the scenario's policies every candidate is compared with.
        markets: one row per sampled market (``point`` and one column per factor).
    """

    spec: OptimiseSpec
    source: str
    scenario: Scenario
    references: list[str]
    markets: pd.DataFrame

    @property
    def name(self) -> str:
        """The optimisation's name."""
        return self.spec.name

    @property
    def parameters(self) -> list[str]:
        """Names of the search's numbers."""
        return parameter_names(self.spec.decision, self.scenario)

    def market_overrides(self, market: int) -> dict[str, Any]:
        """Dotted-path overrides of one sampled market."""
        if not self.spec.uncertainty.factors:
            return {}
        return point_overrides(self.spec.uncertainty.factors, self.markets.iloc[market])

    def market_scenario(self, market: int) -> Scenario:
        """The base scenario in one sampled market."""
        return apply_settings(self.scenario, self.market_overrides(market))

    def fingerprint(self) -> str:
        """A hash of what decides the search's runs.

        Not the number of trials (a search may be extended), nor the racing and final
        settings (they only choose among runs, which are identified one by one).
        """
        spec = self.spec.model_dump(mode="json")
        spec["search"].pop("trials")
        spec.pop("race")
        spec.pop("final")
        payload = {"spec": spec, "scenario": self.scenario.model_dump(mode="json")}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading
def load_optimisation(
    source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None
) -> Optimisation:
    """Read, validate and resolve an optimisation file (or the same contents as a mapping).

    Raises:
        ScenarioError: one line per problem; nothing has been run or written.
    """
    if isinstance(source, Mapping):
        data, where = dict(source), "<optimisation>"
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        data, where = read_yaml(path), str(path)
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    try:
        spec = OptimiseSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(
            format_validation_error(exc, where, root=OptimiseSpec, block_rules_plain=True)
        ) from None
    return resolve_optimisation(spec, where, folder)


def resolve_optimisation(spec: OptimiseSpec, source: str, base_dir: Path) -> Optimisation:
    """Check a schema-valid optimisation against its scenario (see :func:`load_optimisation`)."""
    as_experiment = ExperimentSpec(
        scenario=spec.scenario,
        customers=spec.customers,
        overrides=spec.overrides,
        factors=spec.uncertainty.factors,
        design=spec.uncertainty.design,
        seed=spec.seed,
    )
    scenario = _base_scenario(as_experiment, source, base_dir)
    decision = spec.decision
    references = list(spec.policies or scenario.policies)
    problems = [
        f"{source}: policies: {name!r} is not allowed: the scenario's policies are "
        f"{', '.join(scenario.policies)}"
        for name in references
        if name not in scenario.policies
    ]
    if decision.policy not in scenario.policies:
        problems.append(
            f"{source}: decision.policy: {decision.policy!r} is not allowed: the scenario's "
            f"policies are {', '.join(scenario.policies)}"
        )
    if problems:
        raise ScenarioError(problems)
    keep = list(dict.fromkeys([*references, decision.policy]))
    data = scenario.model_dump(mode="python")
    data["policies"] = {p: data["policies"][p] for p in keep}
    scenario = Scenario.model_validate(data)
    problems += _check_decision(decision, scenario, source)
    problems += _check_objectives(spec, source)
    if spec.uncertainty.factors:
        found = _check_factors(as_experiment, scenario, source)
        problems += [
            p.replace(f"{source}: factors", f"{source}: uncertainty.factors") for p in found
        ]
    if problems:
        raise ScenarioError(problems)
    markets = _markets(spec, as_experiment, scenario, source)
    spec = spec.model_copy(update={"policies": references})
    return Optimisation(spec, source, scenario, references, markets)


def _check_decision(decision: Decision, scenario: Scenario, source: str) -> list[str]:
    """Every variable names a setting of the policy, and both its bounds are allowed."""
    problems = []
    data = scenario.model_dump(mode="python")
    for i, v in enumerate(decision.variables):
        where = f"{source}: decision.variables.{i}"
        if v.path in (ALLOCATION, RETENTION_SHARE):
            if v.path == RETENTION_SHARE and v.range is not None:
                low, high = v.range
                if low < 0 or high > 1:
                    problems.append(
                        f"{where}.range: {list(v.range)} is not allowed: a retention share "
                        "lies between 0 and 1"
                    )
            continue
        try:
            set_path(_copy(data), f"policies.{decision.policy}.{v.path}", 0)
        except KeyError as exc:
            problems.append(f"{where}.path: {v.path!r} is not allowed: {exc.args[0]}")
            continue
        assert v.range is not None
        for value, what in ((v.range[0], "range low"), (v.range[1], "range high")):
            try:
                candidate_scenario(
                    scenario,
                    Decision(policy=decision.policy, variables=[v]),
                    {v.label: int(value) if v.integer else value},
                )
            except ScenarioError as exc:
                reason = exc.problems[0].split(" is not allowed: ", 1)[-1]
                problems.append(f"{where} ({v.path}): {what} {value!r} is not allowed: {reason}")
                break
    return problems


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(data)


def _check_objectives(spec: OptimiseSpec, source: str) -> list[str]:
    problems = []
    many = len(spec.objectives) > 1
    for i, objective in enumerate(spec.objectives):
        where = f"{source}: objective{f'.{i}' if many else ''}.outcome"
        if objective.outcome not in OUTCOMES:
            problems.append(
                f"{where}: {objective.outcome!r} is not allowed: outcomes are {', '.join(OUTCOMES)}"
            )
    if spec.objectives[0].across == "spread":
        problems.append(
            f"{source}: objective: spread is not allowed first: the first objective is the one "
            "the candidates are raced on; give spread as a second objective"
        )
    limits = spec.constraints
    constrained = limits.max_spend is not None or limits.min_market_share is not None
    if spec.sampler == "cmaes" and (many or constrained):
        problems.append(
            f"{source}: search.sampler: 'cmaes' is not allowed: CMA-ES takes one objective and "
            "no constraints; use tpe or nsga2"
        )
    return problems


def _markets(
    spec: OptimiseSpec, as_experiment: ExperimentSpec, scenario: Scenario, source: str
) -> pd.DataFrame:
    """The sampled markets (one row, ``point`` 0, when nothing is uncertain)."""
    if not spec.uncertainty.factors:
        return pd.DataFrame({"point": [0]})
    points = build_design(as_experiment, None, source).points
    if len(points) > MAX_MARKETS:
        raise ScenarioError(
            f"{source}: uncertainty.design: {len(points):,} markets is not allowed: at most "
            f"{MAX_MARKETS:,}; every candidate runs in every market"
        )
    problems = []
    for market in range(len(points)):
        overrides = point_overrides(spec.uncertainty.factors, points.iloc[market])
        try:
            apply_settings(scenario, overrides, source="")
        except ScenarioError as exc:
            reason = exc.problems[0].lstrip(": ")
            problems.append(f"{source}: market {market} {overrides} is not allowed: {reason}")
        if len(problems) >= 20:
            break
    if problems:
        raise ScenarioError(problems)
    return points


def dump_optimisation(spec: OptimiseSpec) -> str:
    """The optimisation with every default filled in, as YAML."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
