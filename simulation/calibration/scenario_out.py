"""The calibrated market: a fitted customer base turned into a scenario that extends a base.

:func:`customer_laws` converts the fitted models into the scenario's customer-base laws
(``market.customer.purchase`` and ``market.customer.dropout``, see docs/model.md, "The
customer-base laws"); :func:`calibrated_scenario` writes them into a scenario that
``extends:`` a base scenario, so that ``relsim run`` compares the base's policies on this
firm's customers. The conventions (docs/calibration.md gives the reasoning):

* **Time.** The models' rates are per unit of the log (a week of 7 days or a month of
  365.25/12 days); a scenario's are per month of 30.4375 days. A gamma law of rates with shape
  ``r`` and rate ``alpha`` per unit becomes shape ``r`` and rate ``alpha * u``, where ``u`` is
  the unit in months (``7 / 30.4375`` for a week), because a rate per unit ``lambda`` is
  ``lambda / u`` per month. The same holds for the Pareto/NBD drop-out law ``Gamma(s, beta)``.
* **Drop-out.** BG/NBD: a chance ``p ~ Beta(a, b)`` of dropping out after each repeat
  transaction (``dropout.law: bgnbd``, the beta law given by its mean and sd). Pareto/NBD: a
  hazard ``mu ~ Gamma(s, beta)`` (``dropout.law: hazard``, ``base_churn_rate``).
* **Spend.** The Gamma-Gamma model of the log is in money; the scenario's in units at the
  focal firm's price: a transaction of ``z`` money is ``z / price`` units, so ``nu`` scales
  by ``price`` and the rate of its gamma law ``v`` becomes ``gamma = v / price`` (``p`` and
  ``q`` are unchanged).
* **The firm's customers.** The focal firm starts with as many customers as the log's
  calibration cohort is expected to keep alive at the calibration end (the sum of P(alive)).
  The base's market around it is kept in proportion: the market is resized so that its
  initial penetration and the focal firm's initial share give that number, and every budget
  is scaled with the market as ``relsim run --customers`` does (spend per customer kept).
  The customers' tenures at the start are spread uniformly over the cohort's observed ages.
* **Acquisition.** The fitted first purchases per month at the calibration end, a share of
  the prospects at the start, is taken as what the base's first policy (its status quo)
  buys with its advertising: the advertising ``ceiling`` is set so that this policy's reach
  times the conversion at the reference price gives that share (capped at 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulation.calibration import bgnbd, fit, pareto_nbd
from simulation.calibration.log import UNIT_DAYS
from simulation.calibration.models import FittedModel

DAYS_PER_MONTH = 365.25 / 12
UNIT_MONTHS: dict[str, float] = {unit: days / DAYS_PER_MONTH for unit, days in UNIT_DAYS.items()}
"""Length of each time unit of the log in scenario months."""


@dataclass(frozen=True)
class Sizing:
    """How the calibrated market is sized and how it acquires customers.

    Attributes:
        customers: the market's number of people (``market.customers``).
        alive: the expected number of the log's customers alive at the calibration end, the
            focal firm's customers at the start.
        factor: ``customers`` over the base's, the factor every budget is scaled by.
        acquisition_per_month: first purchases per month at the calibration end (fitted).
        acquisition_share: the same as a monthly share of the prospects at the start.
        ceiling: the advertising ceiling that gives that share under the status-quo policy
            (``None`` when that policy does not advertise: the base's ceiling is kept).
        status_quo: the base's first policy, whose advertising the ceiling is set for.
        tenure_months: the lowest and highest age of the cohort's customers, in months.
    """

    customers: int
    alive: float
    factor: float
    acquisition_per_month: float
    acquisition_share: float
    ceiling: float | None
    status_quo: str
    tenure_months: tuple[float, float]


def gamma_law(shape: float, rate_per_unit: float, unit: str) -> dict[str, Any]:
    """A gamma law of rates per ``unit`` as the scenario's law of monthly rates."""
    return {
        "dist": "gamma",
        "shape": float(shape),
        "rate": float(rate_per_unit * UNIT_MONTHS[unit]),
    }


def beta_law(a: float, b: float) -> dict[str, Any]:
    """A beta law with shapes ``a`` and ``b`` as the scenario's mean and sd."""
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return {"dist": "beta", "mean": float(mean), "sd": float(sd)}


def customer_laws(model: FittedModel, spend: FittedModel | None, price: float) -> dict[str, Any]:
    """The scenario's ``market.customer`` laws of a fitted purchase model and spend model.

    Args:
        model: a fitted BG/NBD or Pareto/NBD (its ``unit`` says the time unit).
        spend: the fitted Gamma-Gamma model in money, or ``None`` to keep the base's units.
        price: the focal firm's price, to turn money into units.

    Returns:
        ``purchase``, ``dropout`` and, for the Pareto/NBD, ``base_churn_rate``.
    """
    unit = model.unit or "week"
    values = model.parameters
    purchase: dict[str, Any] = {
        "process": "poisson",
        "transaction_rate": gamma_law(values["r"], values["alpha"], unit),
    }
    if spend is not None:
        p, q, v = spend.values
        purchase["spend"] = {"p": float(p), "q": float(q), "gamma": float(v / price)}
    laws: dict[str, Any] = {"purchase": purchase}
    if model.name == bgnbd.NAME:
        laws["dropout"] = {"law": "bgnbd", "probability": beta_law(values["a"], values["b"])}
    elif model.name == pareto_nbd.NAME:
        laws["dropout"] = {"law": "hazard"}
        laws["base_churn_rate"] = gamma_law(values["s"], values["beta"], unit)
    else:
        raise ValueError(f"{model.label} is not a purchase model")
    return laws


def acquisition_per_month(acquisition: fit.AcquisitionFit, at: float) -> float:
    """First purchases per month of the chosen acquisition curve at time ``at`` (in units)."""
    per_unit = acquisition.parameters
    if acquisition.model == "bass":
        m, p, q = per_unit["m"], per_unit["p"], per_unit["q"]
        share = fit.bass_cdf(np.asarray(at), p, q)
        rate = m * (p + q * share) * (1 - share)  # the Bass density m F'(t)
    else:
        rate = per_unit["rate"]
    return float(rate) / UNIT_MONTHS[acquisition.unit]


def offer_uptake(market: Any, offer: float, draws: int = 20_000) -> float:
    """Mean share of reached prospects who buy at ``offer``: ``E[min(1, c (offer/ref)^-s)]``.

    The expectation over the market's law of price sensitivity ``s`` is taken over a fixed,
    seeded sample of it (``c`` is the advertising conversion at the reference price).
    """
    from simulation.market.population import draw

    sensitivity = draw(market.customer.price_sensitivity, draws, np.random.default_rng(0))
    ratio = max(offer, 1e-12) / market.reference_price
    conversion = market.responses.advertising.conversion
    return float(np.mean(np.minimum(1.0, conversion * ratio ** -sensitivity.astype(float))))


def size_market(
    base: Any, alive: float, tenure_months: tuple[float, float], acquired: float
) -> Sizing:
    """Size the calibrated market around the focal firm's customers (module docstring).

    Args:
        base: the base :class:`~simulation.scenario.schema.Scenario`.
        alive: the focal firm's customers at the start.
        tenure_months: the cohort's youngest and oldest age, in months.
        acquired: first purchases per month at the calibration end.

    Returns:
        The sizing, with the advertising ceiling for the status-quo policy.
    """
    market = base.market
    shares = np.array([f.initial_share for f in market.firms], dtype=float)
    focal_share = shares[0] / shares.sum() if shares.sum() > 0 else 1 / len(shares)
    held = market.initial_penetration * focal_share
    customers = max(1, round(alive / held)) if held > 0 else max(1, round(alive))
    factor = customers / market.customers
    prospects = customers * (1 - market.initial_penetration)
    share = acquired / prospects if prospects > 0 else 0.0
    status_quo = next(iter(base.policies))
    policy = base.policies[status_quo]
    spend = policy.budget * factor * policy.allocation.advertising
    ad = market.responses.advertising
    ceiling = None
    if spend > 0 and prospects > 0:
        reach = -math.expm1(-spend / prospects / ad.spend_scale)
        offer = market.firms[0].price * (1 - policy.first_purchase_discount)
        taking = reach * offer_uptake(market, offer)
        ceiling = float(min(1.0, share / taking)) if taking > 0 else 1.0
    return Sizing(
        customers=int(customers),
        alive=float(alive),
        factor=float(factor),
        acquisition_per_month=float(acquired),
        acquisition_share=float(share),
        ceiling=ceiling,
        status_quo=status_quo,
        tenure_months=tenure_months,
    )


def base_reference(base: str | Path) -> str:
    """How the written scenario names its base: a bundled name as it is, a file by its path.

    A bundled scenario is found by name from any folder; a file of the user's is written as
    an absolute path so that the calibrated scenario loads wherever it is moved or run from.
    """
    path = Path(base)
    if path.is_file():
        return str(path.resolve())
    return str(base)


def calibrated_scenario(
    base: Any,
    base_ref: str,
    name: str,
    model: FittedModel,
    spend: FittedModel | None,
    sizing: Sizing,
    description: str,
) -> dict[str, Any]:
    """The calibrated scenario as a plain dict, ready to be written as YAML.

    Args:
        base: the loaded base scenario.
        base_ref: what ``extends:`` names (see :func:`base_reference`).
        name: the scenario's name.
        model: the chosen purchase model.
        spend: the Gamma-Gamma fit (``None``: the base's units per transaction are kept).
        sizing: the market's size and acquisition (:func:`size_market`).
        description: a one-line description.

    Returns:
        ``extends``, ``name``, ``description``, ``market`` and ``policies``.
    """
    focal = base.market.firms[0]
    laws = customer_laws(model, spend, focal.price)
    low, high = sizing.tenure_months
    laws["initial_tenure"] = {"dist": "uniform", "low": float(low), "high": float(high)}
    market: dict[str, Any] = {"customers": sizing.customers, "customer": laws}
    if sizing.ceiling is not None:
        market["responses"] = {"advertising": {"ceiling": sizing.ceiling}}
    market["firms"] = [
        {"name": f.name, "strategy": {"budget": f.strategy.budget * sizing.factor}}
        for f in base.market.firms
    ]
    policies = {
        policy_name: {"budget": policy.budget * sizing.factor}
        for policy_name, policy in base.policies.items()
    }
    return {
        "extends": base_ref,
        "name": name,
        "description": description,
        "market": market,
        "policies": policies,
    }
