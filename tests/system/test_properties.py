"""Property-based tests: generated scenarios, valid and invalid.

Valid scenarios (anything the schema accepts, drawn over wide but finite ranges) must run
every period without an error, a NaN or a broken invariant. Invalid ones (one mistake put
into a valid scenario) must be refused with a :class:`ScenarioError` whose lines name the
source, the field path and the bad value, and nothing else may ever be raised.

Hypothesis runs derandomised (a fixed sequence of examples), so the suite is reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.invariants import WITH_FIRM, WITHOUT_FIRM, run_checked

from simulation.errors import ScenarioError, UserError
from simulation.market.model import RelationshipMarket
from simulation.scenario.loading import apply_overrides, load_scenario, validate
from simulation.scenario.schema import CHANNELS, LEVELS, LEVERS, STAGES

SOURCE = "generated.yaml"

PROFILE = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# --------------------------------------------------------------------------- strategies
def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in a closed range."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


PROBABILITY = floats(0.0, 1.0)
MONEY = floats(0.0, 1e5)
RATE = floats(0.0, 20.0)


@st.composite
def distributions(draw: st.DrawFn, centre: float = 1.0, spread: float = 10.0) -> dict[str, Any]:
    """Any distribution the schema allows, with parameters on the scale of ``centre``."""
    kind = draw(st.sampled_from(["constant", "uniform", "normal", "beta", "lognormal", "gamma"]))
    if kind == "constant":
        return {"dist": kind, "value": draw(floats(-spread, spread))}
    if kind == "uniform":
        low = draw(floats(-spread, spread))
        return {"dist": kind, "low": low, "high": low + draw(floats(0.0, spread))}
    if kind == "normal":
        spec = {"dist": kind, "mean": draw(floats(-spread, spread)), "sd": draw(floats(0, spread))}
        if draw(st.booleans()):
            low = draw(floats(-spread, spread))
            spec.update(low=low, high=low + draw(floats(0.0, spread)))
        return spec
    if kind == "beta":
        mean = draw(floats(1e-3, 1 - 1e-3))
        limit = math.sqrt(mean * (1 - mean))
        return {"dist": kind, "mean": mean, "sd": limit * draw(floats(0.01, 0.99))}
    if kind == "gamma" and draw(st.booleans()):
        shape = draw(floats(1e-2, spread))
        return {"dist": kind, "shape": shape, "rate": shape / draw(floats(1e-3, centre * spread))}
    mean = draw(floats(1e-3, centre * spread))
    low_sd = 0.0 if kind == "lognormal" else 1e-3
    return {"dist": kind, "mean": mean, "sd": draw(floats(low_sd, centre * spread))}


@st.composite
def shares(draw: st.DrawFn, names: tuple[str, ...], every: bool = False) -> dict[str, float]:
    """Non-negative shares over ``names`` adding up to 1 (from small integer weights).

    Zero shares are left out unless ``every`` is set (for blocks whose defaults are not 0).
    """
    weights = draw(st.lists(st.integers(0, 5), min_size=len(names), max_size=len(names)))
    assume(sum(weights) > 0)
    total = sum(weights)
    return {name: w / total for name, w in zip(names, weights, strict=True) if w or every}


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """A strategy: a level or an explicit allocation, a budget and the per-outcome settings."""
    optional = {
        "level": st.sampled_from(LEVELS),
        "allocation": shares(LEVERS),
        "first_purchase_discount": PROBABILITY,
        "win_back_discount": PROBABILITY,
        "referral_reward": floats(0, 500),
        "loyalty_programme": st.fixed_dictionaries(
            {},
            optional={
                "points_per_money": floats(0, 10),
                "reward_threshold": floats(1, 5000),
                "reward_value": floats(0, 500),
            },
        ),
        "contact_channel": st.sampled_from(["preferred", *CHANNELS]),
        "targeting": st.fixed_dictionaries(
            {},
            optional={
                "by": st.sampled_from(["none", "rfm", "clv"]),
                "top_share": floats(0.01, 1.0),
                "serve_cut_share": PROBABILITY,
                "serve_cut": PROBABILITY,
                "quality_drop": PROBABILITY,
            },
        ),
        "price": floats(0, 300),
        "quality": PROBABILITY,
    }
    drawn = draw(st.fixed_dictionaries({"budget": MONEY}, optional=optional))
    if "level" in drawn and "allocation" in drawn:  # one way of giving the split, not both
        del drawn[draw(st.sampled_from(["level", "allocation"]))]
    return drawn


@st.composite
def firms(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One to four firms with unique names."""
    count = draw(st.integers(1, 4))
    optional = {
        "price": floats(0, 300),
        "unit_cost": floats(0, 300),
        "quality": PROBABILITY,
        "cost_to_serve": floats(0, 100),
        "failure_rate": floats(0, 5),
        "initial_share": PROBABILITY,
        "strategy": policies(),
    }
    return [
        {"name": f"Firm {i}", **draw(st.fixed_dictionaries({}, optional=optional))}
        for i in range(count)
    ]


BEHAVIOUR = {
    **{
        key: PROBABILITY
        for key in (
            "satisfaction_at_par",
            "learning_weight",
            "forgiveness",
            "strength_gain",
            "strength_loss",
            "bonding_threshold",
            "promoter_threshold",
            "transactional_response",
            "expectation_adaptation",
            "switch_share",
        )
    },
    **{
        key: floats(0, 20)
        for key in (
            "quality_noise",
            "failure_penalty",
            "churn_satisfaction_weight",
            "churn_strength_weight",
            "price_churn_weight",
            "contact_benefit",
            "wrong_channel_penalty",
            "reentry_rate",
            "purchase_satisfaction_weight",
            "price_demand_weight",
        )
    },
}

TRAITS = {
    "satisfaction": distributions(0.5, 2.0),
    "price_sensitivity": distributions(2.0, 10.0),
    "referral_tendency": distributions(0.5, 2.0),
    "expectation": distributions(0.5, 2.0),
    "contact_tolerance": distributions(2.0, 10.0),
    "units": distributions(1.0, 10.0),
    "base_churn_rate": distributions(0.05, 20.0),
    "transactional_share": PROBABILITY,
    "channels": shares(CHANNELS, every=True),
    "initial_tenure": distributions(12.0, 5.0),
    "purchase": st.fixed_dictionaries(
        {},
        optional={
            "process": st.sampled_from(["poisson", "bernoulli"]),
            "transaction_rate": distributions(1.0, 20.0),
            "probability": PROBABILITY,
            "spend": st.none()
            | st.fixed_dictionaries(
                {"p": floats(0.1, 20), "q": floats(1.01, 20), "gamma": floats(0.1, 100)}
            ),
        },
    ),
    "dropout": st.fixed_dictionaries(
        {},
        optional={
            "law": st.sampled_from(["hazard", "sbg", "bgnbd"]),
            "probability": distributions(0.05, 2.0),
        },
    ),
}

TENURE = st.fixed_dictionaries(
    {},
    optional={
        key: st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans(),
                "size": floats(0, 1 if key == "cost_to_serve" else 3),
            },
        )
        for key in ("price_sensitivity", "cost_to_serve", "spend", "referrals", "expectations")
    },
)

RESPONSES = st.fixed_dictionaries(
    {},
    optional={
        "advertising": st.fixed_dictionaries(
            {},
            optional={
                "ceiling": PROBABILITY,
                "spend_scale": floats(1e-3, 1e3),
                "conversion": PROBABILITY,
            },
        ),
        "word_of_mouth": st.fixed_dictionaries(
            {},
            optional={"enabled": st.booleans(), "rate": RATE, "conversion": PROBABILITY},
        ),
        "thank_you": st.fixed_dictionaries(
            {"unit_cost": floats(0.01, 100)},
            optional={"satisfaction": floats(0, 2), "strength": floats(0, 2)},
        ),
        "complaint_handling": st.fixed_dictionaries(
            {},
            optional={
                "unit_cost": floats(0.01, 100),
                "success": PROBABILITY,
                "recovery_paradox": floats(0, 2),
            },
        ),
        "loyalty": st.fixed_dictionaries(
            {},
            optional={
                "unit_cost": floats(0.01, 100),
                "switching_cost": floats(0, 10),
                "reward_satisfaction": floats(0, 2),
            },
        ),
        "cross_sell": st.fixed_dictionaries(
            {},
            optional={
                "unit_cost": floats(0.01, 100),
                "acceptance": PROBABILITY,
                "spend_uplift": floats(0, 2),
                "max_uplift": floats(0, 5),
                "satisfaction": floats(0, 2),
            },
        ),
        "win_back": st.fixed_dictionaries(
            {}, optional={"unit_cost": floats(0.01, 100), "success": PROBABILITY}
        ),
    },
)


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario file's contents that the schema accepts: small market, few periods."""
    market = draw(
        st.fixed_dictionaries(
            {
                "customers": st.integers(1, 300),
                "periods": st.integers(1, 8),
                "firms": firms(),
            },
            optional={
                "period_months": floats(0.05, 12),
                "discount_rate": PROBABILITY,
                "reference_price": floats(0.01, 500),
                "initial_penetration": PROBABILITY,
                "customer": st.fixed_dictionaries({}, optional=TRAITS),
                "behaviour": st.fixed_dictionaries({}, optional=BEHAVIOUR),
                "tenure_effects": TENURE,
                "responses": RESPONSES,
                "network": st.fixed_dictionaries(
                    {},
                    optional={
                        "kind": st.sampled_from(["none", "random", "small_world", "scale_free"]),
                        "mean_degree": floats(1, 30),
                        "rewire": PROBABILITY,
                        "exponent": floats(2.01, 5),
                    },
                ),
            },
        )
    )
    named = st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), policies())
    return {
        "name": "generated",
        "market": market,
        "policies": draw(named.filter(bool)),
        "replications": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**63 - 1)),
    }


# --------------------------------------------------------------------------- valid scenarios
@settings(max_examples=200, **PROFILE)
@given(data=valid_scenarios(), seed=st.integers(0, 2**32 - 1), which=st.integers(0, 10))
def test_valid_scenarios_run_every_period_with_invariants(data, seed, which):
    scenario = validate(data, SOURCE)  # never raises for a generated valid scenario
    names = list(scenario.policies)
    policy = names[which % len(names)]
    model = RelationshipMarket(scenario, policy=policy, rng=seed, customer_agents=which == 0)
    run_checked(model)


@settings(max_examples=25, **PROFILE)
@given(data=valid_scenarios())
def test_valid_scenarios_survive_a_yaml_round_trip(data, tmp_path_factory):
    """What a file says is what runs: writing and loading a scenario changes nothing."""
    folder = tmp_path_factory.mktemp("roundtrip")
    path = folder / "generated.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded == validate(data, SOURCE)
    # The resolved scenario (what a results folder stores) loads back to the same scenario.
    from simulation.scenario.loading import dump_yaml

    resolved = folder / "resolved.yaml"
    resolved.write_text(dump_yaml(loaded), encoding="utf-8")
    assert load_scenario(resolved) == loaded


# --------------------------------------------------------------------------- invalid scenarios
NUMBER_FIELDS = {
    # path -> (lowest allowed, highest allowed); None means unbounded on that side.
    "market.customers": (1, 50_000_000),
    "market.periods": (1, 10_000),
    "market.period_months": (0.0, 12.0),
    "market.discount_rate": (0.0, 1.0),
    "market.initial_penetration": (0.0, 1.0),
    "market.customer.transactional_share": (0.0, 1.0),
    "market.behaviour.switch_share": (0.0, 1.0),
    "market.customer.purchase.probability": (0.0, 1.0),
    "market.behaviour.reentry_rate": (0.0, None),
    "market.network.mean_degree": (1.0, 200.0),
    "market.responses.advertising.ceiling": (0.0, 1.0),
    "market.firms.0.price": (0.0, None),
    "market.firms.0.quality": (0.0, 1.0),
    "market.firms.0.cost_to_serve": (0.0, None),
    "replications": (1, 100_000),
    "seed": (0, 2**63 - 1),
}
INTEGER_FIELDS = {"market.customers", "market.periods", "replications", "seed"}


def set_in(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a raw scenario mapping, creating mappings on the way."""
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[parts[-1]] = value


@st.composite
def mistakes(draw: st.DrawFn) -> tuple[dict[str, Any], str, Any]:
    """A valid scenario with one mistake in it: (data, field path, bad value)."""
    data = draw(valid_scenarios())
    policy = next(iter(data["policies"]))
    kind = draw(
        st.sampled_from(
            ["range", "non_finite", "wrong_type", "yes_no", "unknown_key", "split", "bad_dist"]
        )
    )
    if kind in ("range", "non_finite", "wrong_type", "yes_no"):
        path = draw(st.sampled_from(sorted(NUMBER_FIELDS)))
        low, high = NUMBER_FIELDS[path]
        if kind == "range":
            options = []
            integer = path in INTEGER_FIELDS
            if low is not None:
                options.append(
                    st.integers(-(10**6), low - 1)
                    if integer
                    else floats(-1e6, low).filter(lambda v: v < low)
                )
            if high is not None:
                options.append(
                    st.integers(high + 1, high + 10**6)
                    if integer
                    else floats(high, 1e12).filter(lambda v: v > high)
                )
            value = draw(st.one_of(options))
        elif kind == "non_finite":
            value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif kind == "yes_no":
            value = draw(st.booleans())
        else:
            value = draw(st.sampled_from(["lots", "", "1,5", [1, 2], {"value": 1}, "ten thousand"]))
        set_in(data, path, value)
        return data, path, value
    if kind == "unknown_key":
        where = draw(
            st.sampled_from(
                [
                    "",
                    "market",
                    "market.behaviour",
                    "market.customer",
                    "market.firms.0",
                    f"policies.{policy}",
                    "market.responses.advertising",
                ]
            )
        )
        key = draw(st.from_regex(r"[a-z]{3,10}_typo", fullmatch=True))
        path = f"{where}.{key}" if where else key
        set_in(data, path, 1)
        return data, path, 1
    if kind == "split":
        allocation = draw(shares(LEVERS))
        lever = next(iter(allocation))
        allocation[lever] += draw(st.sampled_from([0.5, -0.25, 0.001, 1.0]))
        assume(all(0 <= v <= 1 for v in allocation.values()))
        data["policies"][policy] = {"allocation": allocation}
        return data, f"policies.{policy}.allocation", allocation
    # An impossible distribution: a beta wider than any beta with that mean.
    mean = draw(floats(0.05, 0.95))
    spec = {"dist": "beta", "mean": mean, "sd": math.sqrt(mean * (1 - mean)) * 1.5}
    set_in(data, "market.customer.satisfaction", spec)
    return data, "market.customer.satisfaction", spec


@settings(max_examples=150, **PROFILE)
@given(case=mistakes())
def test_invalid_scenarios_are_refused_with_one_line_per_problem(case):
    data, path, value = case
    with pytest.raises(ScenarioError) as caught:
        validate(data, SOURCE)
    lines = caught.value.problems
    assert lines and all("\n" not in line for line in lines)
    assert all(line.startswith(f"{SOURCE}: ") for line in lines)
    mine = [line for line in lines if line.startswith(f"{SOURCE}: {path}")]
    assert mine, f"no line names {path}: {lines}"
    line = mine[0]
    if "unknown key" in line:
        assert "allowed keys:" in line
    else:
        assert "is not allowed" in line
        if isinstance(value, float | int | bool) and not isinstance(value, dict):
            assert repr(value) in line or str(value) in line


# --------------------------------------------------------------------------- anything at all
YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
SCENARIO_KEYS = st.sampled_from(
    [
        "name",
        "market",
        "policies",
        "seed",
        "replications",
        "extends",
        "market.customers",
        "market.firms",
        "market.customer.satisfaction",
        "market.network",
        "policies.p",
        "policies.p.allocation",
        "policies.p.targeting.by",
    ]
)


@settings(max_examples=150, **PROFILE)
@given(
    base=valid_scenarios(),
    junk=st.lists(st.tuples(SCENARIO_KEYS, YAML_VALUES), min_size=1, max_size=3),
)
def test_anything_in_a_file_is_a_scenario_or_a_scenario_error(base, junk, tmp_path_factory):
    """Whatever a file holds, loading it returns a scenario or raises ScenarioError only."""
    for path, value in junk:
        with contextlib.suppress(TypeError, AttributeError, IndexError, ValueError):
            set_in(base, path, value)  # junk may not fit where it is put: then skip it
    folder = tmp_path_factory.mktemp("junk")
    file = folder / "junk.yaml"
    try:
        text = yaml.safe_dump(base, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    file.write_text(text, encoding="utf-8")
    try:
        load_scenario(file)
    except ScenarioError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


@settings(max_examples=100, **PROFILE)
@given(content=st.text(max_size=200).map(str.encode) | st.binary(max_size=200))
def test_any_bytes_are_a_scenario_or_a_scenario_error(content, tmp_path_factory):
    file = tmp_path_factory.mktemp("text") / "text.yaml"
    file.write_bytes(content)
    try:
        load_scenario(file)
    except ScenarioError as exc:
        assert all(str(file) in line or file.name in line for line in exc.problems)


OVERRIDE_PATHS = st.lists(
    st.sampled_from(
        [
            "market",
            "customers",
            "firms",
            "0",
            "7",
            "-1",
            "Firm 0",
            "price",
            "policies",
            "p",
            "allocation",
            "advertising",
            "budget",
            "name",
            "customer",
            "units",
            "dist",
            "mean",
            "",
            "x",
        ]
    ),
    min_size=1,
    max_size=5,
).map(".".join)


@settings(max_examples=150, **PROFILE)
@given(path=OVERRIDE_PATHS, value=YAML_VALUES)
def test_any_override_is_applied_or_refused_with_a_scenario_error(path, value):
    """``--set path=value``: a changed scenario, or one line per problem, nothing else."""
    scenario = validate({"market": {"firms": [{"name": "Firm 0"}]}, "policies": {"p": {}}})
    try:
        changed = apply_overrides(scenario, {path: value}, source="--set")
    except ScenarioError as exc:
        assert all(line.startswith("--set: ") for line in exc.problems)
        return
    assert changed == validate(changed.model_dump(mode="python"))


@settings(max_examples=30, **PROFILE)
@given(case=mistakes())
def test_validate_command_prints_the_problems_and_exits_2(case, tmp_path_factory):
    """The same mistakes through ``relsim validate``: status 2, only ``error:`` lines."""
    from simulation.cli import main

    data, path, _ = case
    file = tmp_path_factory.mktemp("cli") / "generated.yaml"
    try:
        file.write_text(yaml.safe_dump(data), encoding="utf-8")
    except yaml.YAMLError:
        assume(False)
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        status = main(["validate", str(file)])
    lines = stderr.getvalue().splitlines()
    assert status == UserError.exit_code
    assert lines and all(line.startswith(f"error: {file}: ") for line in lines)
    assert any(path in line for line in lines)
    assert "Traceback" not in stderr.getvalue() + stdout.getvalue()


def test_stage_names_match_the_stage_codes():
    """The invariant helper's stage groups cover every stage exactly once."""
    assert sorted(int(s) for s in WITH_FIRM + WITHOUT_FIRM) == list(range(len(STAGES)))
