"""Experiment files: what may be varied, how, and what is measured.

An experiment names a base scenario, the factors to vary (dotted paths into the resolved
scenario), a design, the outcomes of interest, the number of replications and one master seed.
Loading an experiment checks everything that can be checked before a single run starts:
the schema, that every factor path exists in the scenario, that every value a factor can take
is allowed by the scenario schema, and that policies and outcomes exist. Every problem is
reported on one line naming the file, the field path, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from simulation.errors import ScenarioError
from simulation.experiments.decision import apply_settings, derived_policy
from simulation.inputs import read_input_text
from simulation.limits import MAX_REPLICATIONS, SEED_MAX
from simulation.scenario.loading import (
    EXPERIMENTS_DIR,
    bundled_experiments,
    format_validation_error,
    load_scenario,
    read_yaml,
    resolve_path,
    set_path,
)
from simulation.scenario.schema import Scenario, Strict

# The focal firm's outcomes (docs/outputs.md, summary.csv) that the default model returns.
SUMMARY_OUTCOMES: tuple[str, ...] = (
    "npv",
    "profit_total",
    "revenue_total",
    "final_customers",
    "final_market_share",
    "mean_retention_rate",
    "mean_churn_rate",
    "acquired_total",
    "referrals",
    "churned_total",
    "cost_per_acquired",
    "cost_per_retained",
    "acquisition_cost_total",
    "retention_cost_total",
    "mean_satisfaction",
    "clv_mean",
    "customer_equity",
)

# Largest number of design points a file may ask for: beyond this the design table alone
# would be unwieldy, and a typo (an extra zero) should not start a week-long sweep.
MAX_POINTS = 1_000_000

Scalar = float | int | str | bool


class Factor(Strict):
    """One thing to vary: a dotted path into the scenario and the values it may take.

    Give either ``range: [low, high]`` (continuous; sampled by the design) or ``values:
    [...]`` (a list of levels; categorical values such as a network kind are allowed).
    """

    path: Annotated[str, Field(min_length=1)]
    name: str | None = Field(None, description="column name in the tables (default: the path)")
    range: tuple[float, float] | None = None
    values: Annotated[list[Scalar], Field(min_length=1)] | None = None
    levels: Annotated[int, Field(ge=2, le=10_000)] | None = Field(
        None, description="full factorial: number of evenly spaced levels across the range"
    )
    scale: Literal["linear", "log"] = "linear"
    integer: bool = Field(False, description="round sampled values to whole numbers")

    @model_validator(mode="after")
    def _one_kind(self) -> Factor:
        if (self.range is None) == (self.values is None):
            raise ValueError("give either range: [low, high] or values: [...], not both")
        if self.range is not None:
            low, high = self.range
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError(f"range {list(self.range)} must be finite")
            if not low < high:
                raise ValueError(f"range low ({low}) must be below high ({high})")
            if self.scale == "log" and low <= 0:
                raise ValueError(f"a log scale needs a positive low end, got {low}")
        elif self.levels is not None:
            raise ValueError("levels goes with range; a values list sets its own levels")
        if self.values is not None and self.scale == "log":
            raise ValueError("scale goes with range, not with a values list")
        return self

    @property
    def label(self) -> str:
        """Column name of this factor in every table."""
        return self.name or self.path


class Design(Strict):
    """How design points are drawn from the factors."""

    kind: Literal[
        "full_factorial", "monte_carlo", "latin_hypercube", "sobol", "morris", "table"
    ] = "full_factorial"
    samples: Annotated[int, Field(ge=1, le=MAX_POINTS)] | None = Field(
        None,
        description=(
            "monte_carlo, latin_hypercube: number of points; sobol: base sample size N "
            "(a power of two; N x (D + 2) points); morris: number of trajectories "
            "(N x (D + 1) points)"
        ),
    )
    levels: Annotated[int, Field(ge=2, le=10_000)] = Field(
        5, description="full factorial: levels of each range factor without its own levels"
    )
    second_order: bool = Field(False, description="sobol: also estimate second-order indices")
    grid_levels: Annotated[int, Field(ge=2, le=100)] = Field(
        4, description="morris: number of grid levels (even numbers work best)"
    )
    file: str | None = Field(None, description="table: CSV of design points, one column a factor")

    @model_validator(mode="after")
    def _consistent(self) -> Design:
        sampled = ("monte_carlo", "latin_hypercube", "sobol", "morris")
        if self.kind in sampled and self.samples is None:
            raise ValueError(f"design {self.kind} needs samples: <number>")
        if self.kind == "sobol" and self.samples is not None:
            n = self.samples
            if n & (n - 1):
                below = 1 << (n.bit_length() - 1)
                raise ValueError(
                    f"Sobol sample size {n} is not a power of two; use {below} or {below * 2} "
                    "(Saltelli's scheme loses its balance properties otherwise)"
                )
        if self.kind == "table" and not self.file:
            raise ValueError("design table needs file: <CSV of design points>")
        if self.kind != "table" and self.file:
            raise ValueError("file goes with kind: table")
        return self


class Target(Strict):
    """The one number per run that the sensitivity analysis, heat map and precision rule use.

    With ``baseline`` the target is the paired difference ``policy - baseline`` of the outcome.
    """

    outcome: str = "npv"
    policy: str | None = None
    baseline: str | None = None


class Precision(Strict):
    """Sequential replication: add replications until the CI of the target is narrow enough."""

    half_width: Annotated[float, Field(gt=0)] = Field(
        description="stop adding replications at a point once the CI half-width is below this"
    )
    batch: Annotated[int, Field(ge=1, le=10_000)] = 5
    max_replications: Annotated[int, Field(ge=2, le=MAX_REPLICATIONS)] = 50


class ExperimentSpec(Strict):
    """The contents of an experiment file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "experiment"
    description: str = ""
    scenario: Annotated[str, Field(min_length=1)] = Field(
        description="a scenario file (relative to the experiment file) or a bundled name"
    )
    customers: Annotated[int, Field(ge=1, le=50_000_000)] | None = Field(
        None,
        description=(
            "resize the market, scaling every budget so that spend per customer is unchanged "
            "(applied before overrides)"
        ),
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="fixed changes to the scenario, by dotted path"
    )
    policies: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="policies to compare (default: all of the scenario's)"
    )
    factors: list[Factor] = Field(default_factory=list)
    design: Design = Design()
    outcomes: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["npv"])
    target: Target | None = None
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)] = 5
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 0
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    precision: Precision | None = None


@dataclass
class Experiment:
    """A validated experiment, resolved against its base scenario.

    Attributes:
        spec: the file's contents with every default filled in (table factors included).
        source: where it came from (a path, or ``<experiment>`` for a mapping).
        scenario: the base scenario, overrides applied, restricted to ``policies``.
        policies: the policies compared at every design point, in order.
        target: the target with policy (and baseline) filled in.
        table: design points of a ``table`` design (``None`` otherwise).
    """

    spec: ExperimentSpec
    source: str
    scenario: Scenario
    policies: list[str]
    target: Target
    table: pd.DataFrame | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.spec.name

    @property
    def factors(self) -> list[Factor]:
        """The factors, in order."""
        return self.spec.factors

    def fingerprint(self) -> str:
        """A hash of everything that decides the runs: a sweep folder belongs to one value."""
        payload = {
            "spec": self.spec.model_dump(mode="json"),
            "scenario": self.scenario.model_dump(mode="json"),
            "table": None if self.table is None else self.table.to_json(orient="split"),
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading
def load_experiment(
    source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None
) -> Experiment:
    """Read, validate and resolve an experiment.

    Args:
        source: an experiment YAML file, or the same contents as a mapping.
        base_dir: folder against which relative scenario and table paths are resolved
            (default: the file's folder, or the working directory for a mapping).

    Returns:
        The experiment, checked against its scenario.

    Raises:
        ScenarioError: one line per problem, naming file, field path, value and what is
            allowed. Nothing has been run or written when it is raised.
    """
    if isinstance(source, Mapping):
        data, where = dict(source), "<experiment>"
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = experiment_path(source)
        data, where = read_yaml(path), str(path)
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, where)) from None
    return resolve(spec, where, folder)


def experiment_path(name: str | Path) -> Path:
    """An experiment file by its path, or by the name of a bundled one (``break_even``).

    A file of that name in the current folder comes first.

    Raises:
        ScenarioError: neither exists.
    """
    path = Path(name)
    if path.exists() or path.is_symlink():
        return path  # whatever it is: the reader refuses a folder, FIFO or device unopened
    for candidate in (EXPERIMENTS_DIR / path, EXPERIMENTS_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in bundled_experiments())
    raise ScenarioError(f"{name}: no such file (bundled experiments: {known})")


def resolve(spec: ExperimentSpec, source: str, base_dir: Path) -> Experiment:
    """Check a schema-valid experiment against its scenario (see :func:`load_experiment`)."""
    scenario = _base_scenario(spec, source, base_dir)
    problems: list[str] = []
    policies = list(spec.policies or scenario.policies)
    unknown = [p for p in policies if p not in scenario.policies]
    for name in unknown:
        problems.append(
            f"{source}: policies: {name!r} is not allowed: the scenario's policies are "
            f"{', '.join(scenario.policies)}"
        )
    if len(set(policies)) != len(policies):
        problems.append(f"{source}: policies: {policies} is not allowed: names must be unique")
    if problems:
        raise ScenarioError(problems)
    # Only the compared policies are simulated; keeping the others out of the resolved
    # scenario also keeps them out of the run identities.
    data = scenario.model_dump(mode="python")
    data["policies"] = {p: data["policies"][p] for p in policies}
    scenario = Scenario.model_validate(data)

    table = None
    if spec.design.kind == "table":
        spec, table = _read_table(spec, source, base_dir)
    problems += _check_factors(spec, scenario, source)
    problems += _check_outcomes(spec, source)
    target, target_problems = _resolve_target(spec, policies, source)
    problems += target_problems
    if spec.precision is not None and spec.precision.max_replications < spec.replications:
        problems.append(
            f"{source}: precision.max_replications: {spec.precision.max_replications} is not "
            f"allowed: it must be at least replications ({spec.replications})"
        )
    if spec.design.kind in ("sobol", "morris"):
        bad = [f.label for f in spec.factors if f.values is not None and len(f.values) < 2]
        problems += [
            f"{source}: factors: {name!r} is not allowed: a {spec.design.kind} factor needs "
            "a range or at least two values"
            for name in bad
        ]
    if problems:
        raise ScenarioError(problems)
    # The resolved spec names its policies and target, so that a sweep folder's copy of it
    # says everything the report needs without the scenario.
    spec = spec.model_copy(update={"policies": policies, "target": target})
    experiment = Experiment(spec, source, scenario, policies, target, table, base_dir)
    check_table_rows(experiment)
    return experiment


def _base_scenario(spec: ExperimentSpec, source: str, base_dir: Path) -> Scenario:
    local = base_dir / spec.scenario
    try:
        path = local if local.is_file() else resolve_path(spec.scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: scenario: {spec.scenario!r}: {exc.problems[0]}") from None
    scenario = load_scenario(path)
    if spec.customers is not None:
        from simulation.scenario.controls import resize_market

        scenario = resize_market(scenario, spec.customers)
    if spec.overrides:
        try:
            scenario = apply_settings(scenario, spec.overrides, source=f"{source}: overrides")
        except ScenarioError as exc:
            raise ScenarioError(exc.problems) from None
    return scenario


def _check_factors(spec: ExperimentSpec, scenario: Scenario, source: str) -> list[str]:
    """Every factor path exists, and every value it can take passes the scenario schema."""
    problems: list[str] = []
    if not spec.factors:
        return [f"{source}: factors: required: list at least one factor to vary"]
    labels = [f.label for f in spec.factors]
    for label in {x for x in labels if labels.count(x) > 1}:
        problems.append(f"{source}: factors: {label!r} is not allowed: factor names must be unique")
    data = scenario.model_dump(mode="python")
    for i, factor in enumerate(spec.factors):
        where = f"{source}: factors.{i}"
        problem = _missing_path(data, factor.path, scenario)
        if problem:
            problems.append(f"{where}.path: {factor.path!r} is not allowed: {problem}")
            continue
        if spec.design.kind == "table":
            continue  # every row is checked on its own, so that errors can name the row
        for value, what in _probe_values(factor):
            try:
                apply_settings(scenario, {factor.path: value}, source="")
            except ScenarioError as exc:
                reason = exc.problems[0].split(" is not allowed: ", 1)[-1]
                problems.append(
                    f"{where} ({factor.path}): {what} {value!r} is not allowed: {reason}"
                )
                break
    return problems


def _missing_path(data: dict[str, Any], path: str, scenario: Scenario) -> str | None:
    """Why a factor path does not exist in the scenario (None when it does).

    ``policies.<name>.retention_share`` is a derived setting (see
    :mod:`simulation.experiments.decision`): it exists wherever the policy does.
    """
    policy = derived_policy(path)
    if policy is not None:
        if policy in scenario.policies:
            return None
        return f"no policy {policy!r}; the compared policies are {', '.join(scenario.policies)}"
    try:
        set_path(_copy(data), path, 0)
    except KeyError as exc:
        return str(exc.args[0])
    return None


def _probe_values(factor: Factor) -> list[tuple[Any, str]]:
    """The values to test against the schema: both ends of a range, every listed value."""
    if factor.range is not None:
        low, high = factor.range
        if factor.integer:
            low, high = math.ceil(low), math.floor(high)
        return [(low, "range low"), (high, "range high")]
    assert factor.values is not None
    return [(v, "value") for v in factor.values]


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(data)


def _check_outcomes(spec: ExperimentSpec, source: str) -> list[str]:
    allowed = ", ".join(SUMMARY_OUTCOMES)
    return [
        f"{source}: outcomes: {name!r} is not allowed: outcomes are {allowed}"
        for name in spec.outcomes
        if name not in SUMMARY_OUTCOMES
    ]


def _resolve_target(
    spec: ExperimentSpec, policies: list[str], source: str
) -> tuple[Target, list[str]]:
    """Fill in the target's policy and baseline.

    By default the target is the first outcome and, with exactly two policies, the paired
    difference second minus first (the usual 'does the alternative pay?' question).
    """
    given = spec.target or Target(outcome=spec.outcomes[0])
    problems = []
    if given.outcome not in SUMMARY_OUTCOMES:
        problems.append(
            f"{source}: target.outcome: {given.outcome!r} is not allowed: outcomes are "
            f"{', '.join(SUMMARY_OUTCOMES)}"
        )
    policy, baseline = given.policy, given.baseline
    if policy is None and baseline is None and spec.target is None and len(policies) == 2:
        policy, baseline = policies[1], policies[0]
    if policy is None:
        policy = next((p for p in policies if p != baseline), policies[0])
    for key, value in (("policy", policy), ("baseline", baseline)):
        if value is not None and value not in policies:
            problems.append(
                f"{source}: target.{key}: {value!r} is not allowed: compared policies are "
                f"{', '.join(policies)}"
            )
    if baseline is not None and baseline == policy:
        problems.append(
            f"{source}: target.baseline: {baseline!r} is not allowed: it must differ from "
            f"target.policy"
        )
    return Target(outcome=given.outcome, policy=policy, baseline=baseline), problems


def _read_table(
    spec: ExperimentSpec, source: str, base_dir: Path
) -> tuple[ExperimentSpec, pd.DataFrame]:
    """Read a table design and fill in the factors from it.

    The columns are factor names, or dotted paths when no factors are listed.

    Returns:
        The spec with each factor's values taken from the table, and the table.
    """
    assert spec.design.file is not None
    path = Path(spec.design.file)
    path = path if path.is_absolute() else base_dir / path
    where = f"{source}: design.file"
    try:  # a regular file of bounded size: a folder, FIFO or device is refused unopened
        text = read_input_text(path)
    except ScenarioError as exc:
        reason = exc.problems[0].removeprefix(f"{path}: ")
        raise ScenarioError(f"{where}: {spec.design.file!r} is not allowed: {reason}") from None
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ScenarioError(
            f"{where}: {spec.design.file!r}: not a readable CSV: {reason}"
        ) from None
    if table.empty:
        raise ScenarioError(f"{where}: {spec.design.file!r} is not allowed: it has no rows")
    columns = [str(c) for c in table.columns]
    if spec.factors:
        labels = [f.label for f in spec.factors]
        missing = [x for x in labels if x not in columns]
        extra = [c for c in columns if c not in labels]
        problems = []
        if missing:
            problems.append(
                f"{where}: {spec.design.file!r} is not allowed: missing columns for factors "
                f"{', '.join(missing)}"
            )
        if extra:
            problems.append(
                f"{where}: {spec.design.file!r} is not allowed: columns {', '.join(extra)} "
                f"are not factors (factors: {', '.join(labels)})"
            )
        if problems:
            raise ScenarioError(problems)
        factors = [
            f.model_copy(update={"range": None, "values": _levels(table[f.label])})
            for f in spec.factors
        ]
    else:
        factors = [Factor(path=c, values=_levels(table[c])) for c in columns]
    if table.isna().any().any():
        row = int(table.isna().any(axis=1).to_numpy().argmax())
        raise ScenarioError(
            f"{where}: row {row + 2} is not allowed: every design point needs a value per factor"
        )
    spec = spec.model_copy(update={"factors": factors})
    table = table[[f.label for f in factors]].reset_index(drop=True)
    return spec, table


def _levels(column: pd.Series) -> list[Scalar]:
    """Distinct values of a table column in order of first appearance, as plain Python."""
    values = []
    for value in column.dropna().tolist():
        plain = value.item() if hasattr(value, "item") else value
        if plain not in values:
            values.append(plain)
    return values or [0]


def check_table_rows(experiment: Experiment) -> None:
    """Validate every row of a table design against the scenario schema.

    Raises:
        ScenarioError: one line per bad row (at most 20), naming the CSV row and the problem.
    """
    if experiment.table is None:
        return
    problems = []
    paths = [f.path for f in experiment.factors]
    for row_no, row in enumerate(experiment.table.itertuples(index=False), start=2):
        overrides = {p: plain(v) for p, v in zip(paths, row, strict=True)}
        try:
            apply_settings(experiment.scenario, overrides, source="")
        except ScenarioError as exc:
            reason = exc.problems[0].lstrip(": ")
            problems.append(
                f"{experiment.source}: design.file row {row_no}: {dict(overrides)} is not "
                f"allowed: {reason}"
            )
        if len(problems) >= 20:
            break
    if problems:
        raise ScenarioError(problems)


def plain(value: Any) -> Any:
    """A numpy scalar as the equivalent Python value (YAML, JSON and pydantic want those)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


# --------------------------------------------------------------------------- errors
def _format_errors(exc: ValidationError, source: str) -> list[str]:
    """One line per schema problem: file, dotted field path, value, what is allowed."""
    return format_validation_error(exc, source, root=ExperimentSpec, block_rules_plain=True)


def dump_spec(spec: ExperimentSpec) -> str:
    """The experiment with every default filled in, as YAML."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
