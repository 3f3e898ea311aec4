"""What the focal firm chooses: decision variables, derived factors and the budget simplex.

Two settings of a policy are *derived*: they move several fields at once, so that every
point they produce is a valid policy.

- ``policies.<name>.retention_share`` (a number in [0, 1]) moves budget between the
  acquisition and the retention levers, keeping the proportions within each group
  (:func:`simulation.scenario.controls.with_retention_share`). Sweeps and ``decision:`` both
  accept it.
- ``allocation`` as a decision variable spans the whole allocation over chosen levers: ``k``
  levers take ``k - 1`` numbers in the unit cube, mapped onto the simplex by stick-breaking
  with Beta(1, k - i) quantiles (:func:`stick_breaking`). Every point of the cube gives shares
  that add up to exactly one, and a uniform point of the cube a uniform point of the simplex,
  so a search that explores the cube evenly explores every split evenly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from simulation.errors import ScenarioError, UserError
from simulation.scenario.controls import with_retention_share
from simulation.scenario.loading import apply_overrides
from simulation.scenario.schema import LEVERS, RETENTION_LEVERS, Scenario, Strict

RETENTION_SHARE = "retention_share"
ALLOCATION = "allocation"
_DERIVED = re.compile(r"^policies\.(?P<policy>[^.]+)\.retention_share$")


# --------------------------------------------------------------------------- derived factors
def derived_policy(path: str) -> str | None:
    """The policy of a derived ``policies.<name>.retention_share`` path, else None."""
    found = _DERIVED.match(path)
    return found.group("policy") if found else None


def apply_settings(scenario: Scenario, overrides: Mapping[str, Any], source: str = "") -> Scenario:
    """Apply dotted-path overrides, derived retention shares included.

    Plain paths are applied first (so that a whole ``allocation`` given alongside is the
    starting point), then each retention share.

    Raises:
        ScenarioError: one line per problem, as :func:`apply_overrides` reports them.
    """
    plain = {k: v for k, v in overrides.items() if derived_policy(k) is None}
    derived = {k: v for k, v in overrides.items() if derived_policy(k) is not None}
    if plain:
        scenario = apply_overrides(scenario, plain, source=source)
    for path, value in derived.items():
        policy = derived_policy(path)
        assert policy is not None
        if policy not in scenario.policies:
            raise ScenarioError(
                f"{source}: {path}: {value!r} is not allowed: the scenario's policies are "
                f"{', '.join(scenario.policies)}"
            )
        try:
            scenario = with_retention_share(scenario, policy, float(value))
        except (UserError, TypeError, ValueError) as exc:
            reason = str(exc).split(" is not allowed: ", 1)[-1]
            raise ScenarioError(f"{source}: {path}: {value!r} is not allowed: {reason}") from None
    return scenario


# --------------------------------------------------------------------------- the simplex
def stick_breaking(unit: np.ndarray | list[float]) -> np.ndarray:
    """Map a point of the unit cube ``[0, 1]^(k-1)`` onto the simplex of ``k`` shares.

    Stick ``i`` (of ``k - 1``) takes the Beta(1, k - 1 - i) quantile of ``u_i`` of what is
    left, ``1 - (1 - u_i) ** (1 / (k - 1 - i))``; the last share is the rest. A uniform point
    of the cube is then a uniform point of the simplex (the Dirichlet(1, ..., 1) law).

    Returns:
        ``k`` non-negative shares that add up to one.
    """
    u = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
    k = u.size + 1
    shares = np.empty(k)
    left = 1.0
    for i, ui in enumerate(u):
        piece = left * (1.0 - (1.0 - ui) ** (1.0 / (k - 1 - i)))
        shares[i] = piece
        left -= piece
    shares[-1] = max(left, 0.0)
    return shares / shares.sum()


def unit_from_shares(shares: np.ndarray | list[float]) -> np.ndarray:
    """The inverse of :func:`stick_breaking`: the cube point of shares that add up to one."""
    s = np.asarray(shares, dtype=float)
    s = s / s.sum()
    k = s.size
    unit = np.empty(k - 1)
    left = 1.0
    for i in range(k - 1):
        fraction = s[i] / left if left > 0 else 0.0
        unit[i] = 1.0 - (1.0 - min(fraction, 1.0)) ** (k - 1 - i)
        left -= s[i]
    return unit


# --------------------------------------------------------------------------- variables
class Variable(Strict):
    """One thing the firm chooses, with its bounds.

    ``path`` is relative to the decision's policy (``budget``, ``price``,
    ``loyalty_programme.reward_value``, ``targeting.top_share``, ...), or one of the two
    derived settings ``retention_share`` and ``allocation`` (the whole split over ``levers``).
    """

    path: Annotated[str, Field(min_length=1)]
    name: str | None = Field(None, description="column name in the tables (default: the path)")
    range: tuple[float, float] | None = Field(None, description="bounds [low, high]")
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False
    levers: Annotated[list[str], Field(min_length=2)] | None = Field(
        None, description="allocation: the levers the budget is split over (others get 0)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.path == ALLOCATION:
            if self.range is not None:
                raise ValueError("allocation spans the whole simplex; give levers, not a range")
            unknown = [x for x in self.levers or [] if x not in LEVERS]
            if unknown:
                raise ValueError(f"unknown levers {unknown}; levers are {', '.join(LEVERS)}")
            if self.levers is not None and len(set(self.levers)) != len(self.levers):
                raise ValueError("levers must be unique")
            return self
        if self.levers is not None:
            raise ValueError("levers goes with path: allocation")
        if self.range is None:
            raise ValueError("give the bounds: range: [low, high]")
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(f"range {list(self.range)} must be finite with low below high")
        if self.scale == "log" and low <= 0:
            raise ValueError(f"a log scale needs a positive low end, got {low}")
        return self

    @property
    def label(self) -> str:
        """Column name of this variable."""
        return self.name or self.path


class Decision(Strict):
    """What the firm chooses: a policy of the scenario to start from, and what to vary."""

    policy: Annotated[str, Field(min_length=1)] = Field(
        description="the scenario's policy the candidates start from (its other settings kept)"
    )
    variables: Annotated[list[Variable], Field(min_length=1)]

    @model_validator(mode="after")
    def _no_conflict(self) -> Decision:
        prefix = f"policies.{self.policy}."
        paths = [v.path.removeprefix(prefix) for v in self.variables]
        self.variables = [
            v.model_copy(update={"path": p}) for v, p in zip(self.variables, paths, strict=True)
        ]
        if len(set(paths)) != len(paths):
            raise ValueError(f"each setting may be chosen once, got {paths}")
        if ALLOCATION in paths and RETENTION_SHARE in paths:
            raise ValueError("allocation already decides the retention share; give one of them")
        labels = [v.label for v in self.variables]
        if len(set(labels)) != len(labels):
            raise ValueError(f"variable names must be unique, got {labels}")
        return self

    def levers(self, scenario: Scenario) -> list[str]:
        """The levers of an ``allocation`` variable (default: those the policy funds)."""
        variable = self.allocation_variable
        if variable is None:
            return []
        if variable.levers:
            return list(variable.levers)
        shares = scenario.policies[self.policy].allocation.model_dump()
        funded = [k for k in LEVERS if shares[k] > 0]
        return funded if len(funded) >= 2 else list(LEVERS)

    @property
    def allocation_variable(self) -> Variable | None:
        """The ``allocation`` variable, if any."""
        return next((v for v in self.variables if v.path == ALLOCATION), None)


def parameter_names(decision: Decision, scenario: Scenario) -> list[str]:
    """Names of the search's numbers: one per variable, ``k - 1`` for an allocation."""
    names = []
    for v in decision.variables:
        if v.path == ALLOCATION:
            levers = decision.levers(scenario)
            names += [f"{v.label}.u{i + 1}" for i in range(len(levers) - 1)]
        else:
            names.append(v.label)
    return names


def suggest(trial: Any, decision: Decision, scenario: Scenario) -> dict[str, float]:
    """Ask an optuna trial for one value of every search number."""
    params: dict[str, float] = {}
    for v in decision.variables:
        if v.path == ALLOCATION:
            for name in parameter_names(Decision(policy=decision.policy, variables=[v]), scenario):
                params[name] = trial.suggest_float(name, 0.0, 1.0)
        elif v.integer:
            assert v.range is not None
            low, high = math.ceil(v.range[0]), math.floor(v.range[1])
            params[v.label] = trial.suggest_int(v.label, low, high, log=v.scale == "log")
        else:
            assert v.range is not None
            params[v.label] = trial.suggest_float(v.label, *v.range, log=v.scale == "log")
    return params


def decision_overrides(
    decision: Decision, scenario: Scenario, params: Mapping[str, float]
) -> dict[str, Any]:
    """The dotted-path overrides (derived ones included) that a candidate's numbers mean."""
    base = f"policies.{decision.policy}"
    overrides: dict[str, Any] = {}
    for v in decision.variables:
        if v.path == ALLOCATION:
            levers = decision.levers(scenario)
            unit = [params[f"{v.label}.u{i + 1}"] for i in range(len(levers) - 1)]
            shares = dict.fromkeys(LEVERS, 0.0)
            shares.update(zip(levers, (float(x) for x in stick_breaking(unit)), strict=True))
            overrides[f"{base}.allocation"] = shares
        else:
            value = params[v.label]
            overrides[f"{base}.{v.path}"] = int(value) if v.integer else float(value)
    return overrides


def candidate_scenario(
    scenario: Scenario, decision: Decision, params: Mapping[str, float], source: str = ""
) -> Scenario:
    """The scenario with the decision's policy set to a candidate, and only that policy."""
    chosen = apply_settings(scenario, decision_overrides(decision, scenario, params), source)
    data = chosen.model_dump(mode="python")
    data["policies"] = {decision.policy: data["policies"][decision.policy]}
    return Scenario.model_validate(data)


def policy_profile(scenario: Scenario, policy: str) -> dict[str, float]:
    """A policy's budget, retention share and lever shares (the report's columns)."""
    chosen = scenario.policies[policy]
    shares = chosen.allocation.model_dump()
    profile = {
        "budget": float(chosen.budget),
        RETENTION_SHARE: float(sum(shares[k] for k in RETENTION_LEVERS)),
    }
    profile.update({f"share.{k}": float(shares[k]) for k in LEVERS})
    return profile
