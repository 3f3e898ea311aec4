"""Plain keyword controls onto a scenario: what ``mesa.batch_run``, the dashboard and the CLI pass.

A control is either one of the named shortcuts below or a dotted scenario path written with
``__`` (``market__behaviour__switch_share=0.4``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from simulation.errors import UserError
from simulation.scenario.loading import DEFAULT_SCENARIO, apply_overrides, load_scenario
from simulation.scenario.schema import (
    ACQUISITION_LEVERS,
    LEVEL_ALLOCATIONS,
    RETENTION_LEVERS,
    Scenario,
)

# Budget share a loyalty programme gets when switched on in a policy that had none.
LOYALTY_SHARE = 0.10

SHORTCUTS = {
    "customers": "resize the market (budgets scale with it)",
    "periods": "market.periods",
    "budget": "the policy's budget per period",
    "retention_share": "share of the budget on retention levers (proportions kept)",
    "price": "the focal firm's price",
    "quality": "the focal firm's service quality",
    "loyalty": "loyalty programme on or off",
    "loyalty_reward": "value of a loyalty reward",
    "referral_reward": "reward per referred customer won",
    "word_of_mouth": "word of mouth on or off",
    "transactional_share": "share of transactional customers",
    "first_purchase_discount": "the policy's first-purchase discount",
}


def configure(
    scenario: Scenario | str | None, policy: str | None, controls: Mapping[str, Any]
) -> tuple[Scenario, str]:
    """Resolve a scenario (object, file or bundled name) and apply keyword controls.

    Returns:
        The scenario to run and the name of the focal firm's policy.

    Raises:
        UserError: an unknown policy, control or path, or a value the schema refuses.
    """
    if type(scenario).__module__.startswith("mesa."):
        scenario = None  # Mesa 3.5 hands its own (empty) Scenario object back on reset
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario or DEFAULT_SCENARIO)
    name = policy or next(iter(scenario.policies))
    if name not in scenario.policies:
        known = ", ".join(scenario.policies)
        raise UserError(f"policy: {name!r} is not in scenario {scenario.name!r} (have: {known})")
    return with_controls(scenario, name, controls), name


def with_controls(scenario: Scenario, policy: str, controls: Mapping[str, Any]) -> Scenario:
    """Return ``scenario`` with the controls applied to the market and to ``policy``.

    Every value is checked as a file's would be, with the same one-line errors: those that
    name a scenario field by the schema itself, the others (``loyalty``,
    ``retention_share``) by the type the schema gives such a field. Nothing is coerced
    silently: ``customers=2.9`` and ``word_of_mouth="maybe"`` are refused.

    Raises:
        UserError: an unknown control, or a value the schema refuses.
    """
    if not controls:
        return scenario
    controls = dict(controls)
    for key, kind in _CHECKED.items():
        if key in controls:
            controls[key] = _checked(key, controls[key], kind)
    if "customers" in controls:
        # Through the schema first, so that 2.9 or "many" is refused rather than truncated.
        given = {"market.customers": controls.pop("customers")}
        checked = apply_overrides(scenario, given, source="keyword customers")
        scenario = resize_market(scenario, checked.market.customers)
    base = f"policies.{policy}"
    paths: dict[str, Any] = {}
    for key, value in controls.items():
        if key in ("customers", "retention_share", "loyalty", "word_of_mouth"):
            continue
        if key == "periods":
            paths["market.periods"] = value
        elif key == "transactional_share":
            paths["market.customer.transactional_share"] = value
        elif key in ("budget", "price", "quality", "referral_reward", "first_purchase_discount"):
            paths[f"{base}.{key}"] = value
        elif key == "loyalty_reward":
            paths[f"{base}.loyalty_programme.reward_value"] = value
        elif "__" in key:
            paths[key.replace("__", ".")] = value
        else:
            allowed = ", ".join(SHORTCUTS)
            raise UserError(f"control {key!r}: unknown; allowed: {allowed}, or a__dotted__path")
    if "word_of_mouth" in controls:
        paths["market.responses.word_of_mouth.enabled"] = controls["word_of_mouth"]
    if paths:
        scenario = apply_overrides(scenario, paths, source="controls")
    if "loyalty" in controls:
        if controls["loyalty"]:
            scenario = _add_share(scenario, policy, "loyalty", LOYALTY_SHARE)
        else:
            scenario = _move_share(scenario, policy, "loyalty")
    if "retention_share" in controls:
        scenario = with_retention_share(scenario, policy, float(controls["retention_share"]))
    return scenario


_CHECKED: dict[str, Any] = {
    "loyalty": bool,
    "retention_share": Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)],
}


def _checked(key: str, value: Any, kind: Any) -> Any:
    """``value`` validated as ``kind`` (pydantic's rules, as for a file's field)."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise UserError(f"keyword {key}: {value!r} is not allowed: {problem}") from None


def run_settings(
    scenario: Scenario, replications: int | None, seed: int | None, source: str
) -> Scenario:
    """``scenario`` with another number of replications or master seed, checked by the schema.

    The same ranges as a file's ``replications:`` and ``seed:``, so a run's written
    ``scenario.yaml`` always loads again and reproduces it.

    Raises:
        ScenarioError: a value the schema refuses (``replications=0``, a seed of 2**64).
    """
    changes = {
        key: value
        for key, value in (("replications", replications), ("seed", seed))
        if value is not None
    }
    return apply_overrides(scenario, changes, source=source) if changes else scenario


def resize_market(scenario: Scenario, customers: int) -> Scenario:
    """Change the number of customers, scaling every budget so spend per customer is unchanged."""
    old = scenario.market.customers
    factor = customers / old
    paths: dict[str, Any] = {"market.customers": customers}
    for name, policy in scenario.policies.items():
        paths[f"policies.{name}.budget"] = policy.budget * factor
    for i, firm in enumerate(scenario.market.firms):
        paths[f"market.firms.{i}.strategy.budget"] = firm.strategy.budget * factor
    return apply_overrides(scenario, paths, source="controls")


def with_retention_share(scenario: Scenario, policy: str, share: float) -> Scenario:
    """Set the share of ``policy``'s budget on retention levers.

    Proportions within each group are kept; a group with no spend yet gets the partnership
    level's mix.
    """
    if not 0.0 <= share <= 1.0:
        raise UserError(f"retention_share: {share!r} is not allowed: it must be between 0 and 1")
    allocation = scenario.policies[policy].allocation.model_dump()
    partnership = LEVEL_ALLOCATIONS["partnership"]
    new: dict[str, float] = {}
    for levers, target in ((RETENTION_LEVERS, share), (ACQUISITION_LEVERS, 1.0 - share)):
        current = {k: allocation[k] for k in levers}
        if sum(current.values()) == 0:
            current = {k: partnership.get(k, 0.0) for k in levers}
        total = sum(current.values())
        new.update({k: target * v / total for k, v in current.items()})
    path = f"policies.{policy}.allocation"
    return apply_overrides(scenario, {path: new}, source="controls")


def _add_share(scenario: Scenario, policy: str, lever: str, share: float) -> Scenario:
    """Switch a lever on with ``share`` of the budget, taken from the others in proportion."""
    allocation = scenario.policies[policy].allocation.model_dump()
    if allocation[lever] > 0:
        return scenario
    allocation = {k: v * (1 - share) for k, v in allocation.items()}
    allocation[lever] = share
    return apply_overrides(
        scenario, {f"policies.{policy}.allocation": allocation}, source="controls"
    )


def _move_share(scenario: Scenario, policy: str, lever: str) -> Scenario:
    """Switch a lever off, giving its budget share to the other levers of its group."""
    allocation = scenario.policies[policy].allocation.model_dump()
    freed = allocation[lever]
    if freed == 0:
        return scenario
    group = RETENTION_LEVERS if lever in RETENTION_LEVERS else ACQUISITION_LEVERS
    others = {k: allocation[k] for k in group if k != lever and allocation[k] > 0}
    if not others:
        others = {"advertising": 1.0}
    total = sum(others.values())
    for k, v in others.items():
        allocation[k] += freed * v / total
    allocation[lever] = 0.0
    return apply_overrides(
        scenario, {f"policies.{policy}.allocation": allocation}, source="controls"
    )
