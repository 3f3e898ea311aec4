"""Scenario schema: what a scenario file may say, with defaults taken from published ranges.

A scenario separates the *market* (what we are uncertain about: customers, rivals, how the
market responds to each lever) from the *policies* (what the focal firm chooses: a budget and
its split over the levers). Every model here rejects unknown keys, so a typo is an error, not
a silently ignored setting.

Units: every rate is per month, every budget and running cost is money per month, every amount
of a purchase is per transaction; :mod:`simulation.market.parameters` turns them into per-period
values in one place (a rate into a per-period probability with ``1 - exp(-rate * dt)`` where
``dt = market.period_months``), so that results do not depend on the period length. A field's
unit is in its ``unit`` metadata (``docs/scenario-reference.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from simulation.limits import MAX_REPLICATIONS, SEED_MAX

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


def unit(name: str, source: str | None = None) -> dict[str, str]:
    """Field metadata naming a value's unit (and its published source): ``json_schema_extra``."""
    return {"unit": name} if source is None else {"unit": name, "source": source}


CHANNELS = ("email", "phone", "social", "visit")
STAGES = ("discovery", "evaluation", "purchase", "experience", "bonding", "advocacy", "lapsed")
ACQUISITION_LEVERS = ("advertising", "referral_programme", "win_back")
RETENTION_LEVERS = ("thank_you", "complaint_handling", "loyalty", "personalisation", "cross_sell")
LEVERS = ACQUISITION_LEVERS + RETENTION_LEVERS
LEVELS = ("basic", "reactive", "accountable", "proactive", "partnership")


class Strict(BaseModel):
    """Base for every schema block: unknown keys are errors, and so are NaN and infinity.

    YAML reads ``.nan`` and ``.inf`` as numbers; in a scenario they are always a mistake and
    would otherwise run into NaN results or a traceback.

    A block given in part starts from its key's default, not from the block type's own
    defaults: ``thank_you: {unit_cost: 0.2}`` keeps the default thank-you's satisfaction and
    strength effects, and a firm's ``strategy: {budget: 5000}`` keeps its default level. A
    distribution given with another ``dist`` replaces the default whole.

    Attributes:
        alternatives: groups of keys that say one thing in different ways (a gamma's mean and
            sd, or its shape and rate); a block given one group drops the others it inherits.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)
    alternatives: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _partial_blocks_from_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for key, value in data.items():
            field = cls.model_fields.get(key)
            default = field.default if field is not None else None
            if isinstance(value, Mapping) and isinstance(default, BaseModel):
                filled[key] = filled_from(default, value)
        return filled

    @model_validator(mode="before")
    @classmethod
    def _no_yes_no_for_numbers(cls, data: Any) -> Any:
        # pydantic reads true/false (and YAML's yes/no/on/off) as 1/0 in a number field, so
        # `customers: yes` would run a one-customer market without a word.
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(value, bool) else None
                kinds = _plain_types(field.annotation) if field is not None else set()
                if bool not in kinds and kinds & {int, float}:
                    raise PydanticCustomError(
                        "yes_no_for_number",
                        "{key}: {value} is a yes/no value; a number is needed",
                        {"key": key, "value": value},
                    )
        return data


def filled_from(default: BaseModel, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """A block given in part, completed from the default it overrides.

    The given keys win; blocks inside are completed from the default's own blocks in turn.
    A block of another kind (a different single-value tag such as ``dist``) replaces the
    default whole; a group of :attr:`Strict.alternatives` given drops the others, and a
    block given as one of the alternatives (a policy's ``allocation``) is taken whole.

    Args:
        default: the value the key has when the block is not given.
        given: the keys given for the block.
    """
    fields = type(default).model_fields
    for name, field in fields.items():
        tag = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
        if len(tag) == 1 and name in given and given[name] != getattr(default, name):
            return given  # another kind: the default's parameters mean nothing to it
    filled = without_alternatives(type(default), default.model_dump(), given)
    filled.update(given)
    ways = {key for group in getattr(default, "alternatives", ()) for key in group}
    for key, value in given.items():
        inner = getattr(default, key) if key in fields and key not in ways else None
        if isinstance(value, Mapping) and isinstance(inner, BaseModel):
            filled[key] = filled_from(inner, value)
    return filled


def without_alternatives(
    model: type[BaseModel], inherited: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """``inherited`` without the keys of the alternatives to a group that ``given`` sets.

    A group counts as given when one of its keys is given a value other than null.
    """
    kept = dict(inherited)
    groups: tuple[tuple[str, ...], ...] = getattr(model, "alternatives", ())
    for group in groups:
        if any(given.get(key) is not None for key in group):
            for other in groups:
                if other != group:
                    for key in other:
                        if key not in given:
                            kept.pop(key, None)
    return kept


def _plain_types(annotation: Any) -> set[Any]:
    """The types an annotation admits, through unions and ``Annotated``."""
    if get_origin(annotation) is Annotated:
        return _plain_types(get_args(annotation)[0])
    args = get_args(annotation)
    if args and get_origin(annotation) in (Union, UnionType):
        return set().union(*(_plain_types(a) for a in args))
    return {annotation}


# --------------------------------------------------------------------------- distributions
class Constant(Strict):
    """Every customer gets the same value."""

    dist: Literal["constant"]
    value: float


class Uniform(Strict):
    """Uniform between ``low`` and ``high``."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be at least low ({self.low})")
        if not math.isfinite(self.high - self.low):
            raise ValueError(f"high - low ({self.high} - {self.low}) is too large")
        return self


class Normal(Strict):
    """Normal with mean and sd, clipped to ``[low, high]``."""

    dist: Literal["normal"]
    mean: float
    sd: NonNegative
    # Unbounded by default, so infinite bounds are allowed here (NaN is not).
    low: Annotated[float, Field(allow_inf_nan=True)] = -math.inf
    high: Annotated[float, Field(allow_inf_nan=True)] = math.inf

    @model_validator(mode="after")
    def _ordered(self) -> Normal:
        if math.isnan(self.low) or math.isnan(self.high):
            raise ValueError("low and high must be numbers (or -.inf and .inf), not NaN")
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be at least low ({self.low})")
        return self


class Beta(Strict):
    """Beta on [0, 1] given by its mean and sd (needs ``sd**2 < mean * (1 - mean)``)."""

    dist: Literal["beta"]
    mean: Annotated[float, Field(gt=0.0, lt=1.0)]
    sd: Positive

    @model_validator(mode="after")
    def _feasible(self) -> Beta:
        if self.sd**2 >= self.mean * (1 - self.mean):
            limit = math.sqrt(self.mean * (1 - self.mean))
            raise ValueError(f"sd must be below {limit:.4g} for a beta with mean {self.mean}")
        return self


class LogNormal(Strict):
    """Log-normal given by the mean and sd of the variable itself (not of its log)."""

    dist: Literal["lognormal"]
    mean: Positive
    sd: NonNegative


class Gamma(Strict):
    """Gamma given by its mean and sd, or by its shape and rate (as customer-base models are).

    ``shape: r, rate: alpha`` is the heterogeneity law of the Pareto/NBD and BG/NBD purchase
    rates (Schmittlein, Morrison & Colombo 1987; Fader, Hardie & Lee 2005): mean ``r / alpha``.
    """

    alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("mean", "sd"), ("shape", "rate"))
    dist: Literal["gamma"]
    mean: Positive | None = None
    sd: Positive | None = None
    shape: Positive | None = None
    rate: Positive | None = None

    @model_validator(mode="after")
    def _one_parameterisation(self) -> Gamma:
        moments = self.mean is not None and self.sd is not None
        natural = self.shape is not None and self.rate is not None
        given = [k for k in ("mean", "sd", "shape", "rate") if getattr(self, k) is not None]
        if moments == natural or len(given) != 2:
            raise ValueError(f"give mean and sd, or shape and rate (got {', '.join(given)})")
        return self

    def shape_and_scale(self) -> tuple[float, float]:
        """The law as numpy's ``gamma(shape, scale)`` takes it."""
        if self.shape is not None and self.rate is not None:
            return self.shape, 1.0 / self.rate
        assert self.mean is not None and self.sd is not None
        return (self.mean / self.sd) ** 2, self.sd**2 / self.mean


Distribution = Annotated[
    Constant | Uniform | Normal | Beta | LogNormal | Gamma, Field(discriminator="dist")
]


# --------------------------------------------------------------------------- customers
class ChannelMix(Strict):
    """Share of customers preferring each contact channel; shares must add up to 1."""

    email: Probability = 0.40
    phone: Probability = 0.20
    social: Probability = 0.25
    visit: Probability = 0.15

    @model_validator(mode="after")
    def _adds_up(self) -> ChannelMix:
        total = self.email + self.phone + self.social + self.visit
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"channel shares add up to {total:.4g}, they must add up to 1")
        return self


class GammaGamma(Strict):
    """Spend per transaction by the Gamma-Gamma model (Fader, Hardie & Lee 2005b).

    Each transaction's units are ``Gamma(p, nu)`` around the customer's mean ``p / nu``; ``nu``
    varies across customers as ``Gamma(q, gamma)`` (shape, rate), so the customers' mean spend
    follows an inverse-gamma-like law. Independent of the purchase and drop-out processes.
    """

    p: Positive = Field(6.25, description="shape of the spread of a customer's transactions")
    q: Annotated[float, Field(gt=1.0)] = Field(
        3.74, description="shape of the customers' heterogeneity (above 1 for a finite mean)"
    )
    gamma: Positive = Field(
        15.44, description="rate of the customers' heterogeneity", json_schema_extra=unit("units")
    )

    @property
    def mean_units(self) -> float:
        """Mean units per transaction over customers: ``p * gamma / (q - 1)``."""
        return self.p * self.gamma / (self.q - 1)


class PurchaseProcess(Strict):
    """How often customers buy and how much (the customer-base models' purchase process).

    ``poisson``: while with a firm, a customer makes transactions at its own rate (a
    ``transaction_rate`` drawn per customer; gamma heterogeneity makes it the Pareto/NBD and
    BG/NBD purchase process, Schmittlein, Morrison & Colombo 1987), times the multipliers of
    satisfaction, loyalty, personalisation and price; a new customer's first purchase comes on
    top. ``bernoulli``: at most one transaction a period, with ``probability`` per period (the
    engine's earlier behaviour; its results depend on the period length).
    """

    process: Literal["poisson", "bernoulli"] = "poisson"
    transaction_rate: Distribution = Field(
        Gamma(dist="gamma", mean=1.0, sd=0.6),
        description="each customer's transaction rate while with a firm",
        json_schema_extra=unit("transactions per month"),
    )
    probability: Probability = Field(
        0.90,
        description="bernoulli process: chance a customer buys in a period",
        json_schema_extra=unit("per period"),
    )
    spend: GammaGamma | None = Field(
        None, description="Gamma-Gamma spend per transaction (replaces customer.units)"
    )


class Dropout(Strict):
    """When a customer stops buying from its firm (drop-out), before marketing acts on it.

    ``hazard``: a continuous hazard per customer, ``customer.base_churn_rate`` (gamma
    heterogeneity: the Pareto/NBD). ``sbg``: a probability per month per customer,
    ``probability`` (beta heterogeneity: the shifted-beta-geometric, Fader & Hardie 2007).
    ``bgnbd``: a chance to drop out after each repeat transaction, ``probability`` (beta
    heterogeneity: the BG/NBD, Fader, Hardie & Lee 2005). Satisfaction, trust, price, switching
    costs, referral and the firm's own multiplier multiply the hazard; for ``bgnbd`` a multiplier
    ``m`` turns a chance ``p`` into ``1 - (1 - p)^m``.
    """

    law: Literal["hazard", "sbg", "bgnbd"] = "hazard"
    probability: Distribution = Field(
        Beta(dist="beta", mean=0.025, sd=0.02),
        description="sbg: each customer's drop-out probability per month; bgnbd: per repeat "
        "transaction",
        json_schema_extra=unit("per month (sbg) or per transaction (bgnbd)"),
    )


class CustomerTraits(Strict):
    """Distributions of customer attributes (one draw per customer at the start)."""

    # ACSI scores cluster around 70-80 of 100 (ACSI national index).
    satisfaction: Distribution = Beta(dist="beta", mean=0.72, sd=0.12)
    # Mean own-price elasticity about -2.6 (Bijmolt, van Heerde & Pieters, JMR 2005).
    price_sensitivity: Distribution = LogNormal(dist="lognormal", mean=2.6, sd=1.2)
    # Monthly probability that a promoter actually refers someone. Kumar, Petersen & Leone
    # (HBR 2007): 81% intend to refer, 30% do, 12% of those referrals convert.
    referral_tendency: Distribution = Beta(dist="beta", mean=0.30, sd=0.15)
    # Expected quality on the same 0-1 scale as the firms' quality.
    expectation: Distribution = Beta(dist="beta", mean=0.65, sd=0.10)
    # Ideal number of contacts per month (Godfrey, Seiders & Voss, JM 2011: inverted U).
    contact_tolerance: Distribution = Gamma(dist="gamma", mean=2.0, sd=1.0)
    units: Distribution = Field(
        LogNormal(dist="lognormal", mean=1.0, sd=0.5),
        description="units a customer buys per transaction (its own mean, fixed for life); "
        "revenue of a transaction = units x price. Ignored when purchase.spend is given",
        json_schema_extra=unit("units per transaction"),
    )
    base_churn_rate: Distribution = Field(
        Gamma(dist="gamma", mean=0.025, sd=0.02),
        description="each customer's baseline drop-out hazard when dropout.law is 'hazard' "
        "(a gamma law makes it the Pareto/NBD's); cohorts retain better with age by selection "
        "alone (Fader & Hardie 2007). 1-2% a month in contract telecom, 3-7% in small-business "
        "software",
        json_schema_extra=unit("per month"),
    )
    # Share of customers who want a distant, transactional relationship (Turkish article
    # "İlişkisel Pazarlamanın Amacı Nedir?", What is the aim of relationship marketing?).
    transactional_share: Probability = 0.30
    channels: ChannelMix = ChannelMix()
    initial_tenure: Distribution = Field(
        Uniform(dist="uniform", low=1.0, high=37.0),
        description="months the firms' customers at the start have already been with them "
        "(whole periods, rounded down): a mature market whose tenures spread over three years "
        "by default; constant 0 starts the firms with one fresh cohort. Tenure matters because "
        "a cohort's retention rises with age by selection alone (Fader & Hardie 2007)",
        json_schema_extra=unit("months"),
    )
    purchase: PurchaseProcess = PurchaseProcess()
    dropout: Dropout = Dropout()


class Behaviour(Strict):
    """How customers react: satisfaction, relationship strength, churn and referrals."""

    satisfaction_at_par: Probability = Field(
        0.70, description="satisfaction of a customer whose experience meets expectation"
    )
    learning_weight: Probability = Field(
        0.30,
        description="weight of a month's experience in satisfaction (and of each event's lift)",
        json_schema_extra=unit("per month"),
    )
    quality_noise: NonNegative = Field(
        0.08, description="sd of the quality experienced over one month"
    )
    failure_penalty: NonNegative = Field(0.35, description="quality lost in a service failure")
    forgiveness: Probability = Field(
        0.60, description="share of a failure's penalty a fully committed customer forgives"
    )
    strength_gain: Probability = Field(
        0.04, description="gain of trust when satisfied", json_schema_extra=unit("per month")
    )
    new_customer_strength: Probability = Field(
        0.10,
        description="relationship strength of a customer won during the run: trust is built by "
        "good experiences, so a relationship starts weak (Chinese article "
        "'关系营销:AZ 指南(+ 免费提示)', Relationship marketing: an A-Z guide)",
    )
    initial_strength: Probability = Field(
        0.30,
        description="relationship strength of the firms' customers at the start of a run, "
        "who have been customers for a while (same source as new_customer_strength)",
    )
    strength_loss: Probability = Field(0.25, description="share of trust lost to a bad failure")
    bonding_threshold: Probability = 0.50
    promoter_threshold: Probability = Field(
        0.80, description="satisfaction at or above which a customer recommends (NPS 9-10 of 10)"
    )
    detractor_threshold: Probability = Field(
        0.60, description="satisfaction below which a customer is a detractor (NPS 0-6 of 10)"
    )
    churn_satisfaction_weight: NonNegative = Field(
        5.0, description="churn rate x exp(weight x (at_par - satisfaction))"
    )
    churn_strength_weight: NonNegative = Field(
        1.0, description="churn rate x exp(-weight x relationship strength)"
    )
    price_churn_weight: NonNegative = Field(
        1.0, description="churn rate x (own price / cheapest rival)^(weight x sensitivity)"
    )
    transactional_response: Probability = Field(
        0.15, description="how much relationship actions move a transactional customer (0-1)"
    )
    contact_benefit: NonNegative = Field(0.02, description="satisfaction gain per wanted contact")
    wrong_channel_penalty: NonNegative = Field(
        0.03, description="satisfaction lost per contact in an unwanted channel"
    )
    expectation_adaptation: Probability = Field(
        0.10,
        description="pull of expectation towards the quality experienced",
        json_schema_extra=unit("per month"),
    )
    switch_share: Probability = Field(
        0.60, description="share of churners who go to a rival (the rest leave the market)"
    )
    reentry_rate: NonNegative = Field(
        0.02,
        description="rate at which lapsed customers come back into the market",
        json_schema_extra=unit("per month"),
    )
    purchase_satisfaction_weight: NonNegative = Field(
        1.0, description="transaction rate x exp(weight x (satisfaction - at_par))"
    )
    price_demand_weight: NonNegative = Field(
        0.5,
        description="transaction rate x (price / reference price)^(-weight x price sensitivity): "
        "the share of the price elasticity that acts on how much a customer buys (the rest "
        "acts through switching); mean elasticity about 2.6 (Bijmolt, van Heerde & Pieters 2005)",
    )
    match_sd: NonNegative = Field(
        0.12, description="sd of each customer's lasting fit with each firm (satisfaction units)"
    )
    # Schmitt, Skiera & Van den Bulte (JM 2011): referred customers are more loyal.
    referred_churn_multiplier: NonNegative = Field(
        0.85, description="churn rate of referred customers relative to others"
    )


class TenureEffect(Strict):
    """One contested tenure effect: on or off, and its size."""

    enabled: bool = True
    size: NonNegative = 0.0


class TenureEffects(Strict):
    """Effects of relationship length, each its own switch (Reinartz & Kumar, HBR 2002)."""

    price_sensitivity: TenureEffect = Field(
        TenureEffect(size=0.15),
        description="fractional fall of price sensitivity per year of tenure (down to a floor)",
    )
    price_sensitivity_floor: Probability = Field(
        0.30,
        description="share of a customer's price sensitivity that tenure never takes away: "
        "the articles claim long-standing customers grow less price sensitive (Turkish article "
        "'İlişkisel Pazarlamanın Amacı Nedir?'), Reinartz & Kumar 2002 found they do not",
    )
    cost_to_serve: TenureEffect = Field(
        TenureEffect(size=0.30),
        description="largest fractional fall in cost to serve as customers learn (3-month scale)",
    )
    spend: TenureEffect = Field(
        TenureEffect(size=0.10), description="growth of units bought per year of tenure"
    )
    referrals: TenureEffect = Field(
        TenureEffect(size=0.20), description="growth of referral tendency per year of tenure"
    )
    expectations: TenureEffect = Field(
        TenureEffect(size=0.02), description="rise of expectation per year of tenure"
    )

    @model_validator(mode="after")
    def _cost_falls_at_most_to_zero(self) -> TenureEffects:
        # A fall above 1 (100%) would make the cost to serve negative: serving would pay.
        if self.cost_to_serve.size > 1:
            raise ValueError(
                f"cost_to_serve.size {self.cost_to_serve.size} is a fall of more than 100%; "
                "it must be between 0 and 1"
            )
        return self


class Network(Strict):
    """The social network over which referrals travel."""

    kind: Literal["none", "random", "small_world", "scale_free"] = "small_world"
    mean_degree: Annotated[float, Field(ge=1.0, le=200.0)] = 10.0
    rewire: Probability = Field(0.10, description="small-world rewiring probability")
    exponent: Annotated[float, Field(gt=2.0, le=5.0)] = Field(
        2.5, description="scale-free degree exponent"
    )


# --------------------------------------------------------------------------- lever responses
class AdvertisingResponse(Strict):
    """Advertising reach: ceiling x (1 - exp(-spend per prospect / scale)); some reached buy."""

    # Blattberg & Deighton (HBR 1996): acquisition rises to a ceiling with spend.
    ceiling: Probability = Field(
        0.30, description="largest share of prospects reached in a month, at any spend"
    )
    spend_scale: Positive = Field(
        1.0, description="spend per prospect per month reaching 63% of the ceiling"
    )
    conversion: Probability = Field(
        0.08, description="share of reached prospects who buy at the reference price"
    )


class WordOfMouth(Strict):
    """Referrals: a hazard per unit of exposure to a firm's promoters (the Bass q)."""

    enabled: bool = True
    # Bass q ~ 0.38 per year (Sultan, Farley & Lehmann 1990) is rate x conversion per year.
    rate: NonNegative = Field(2.0, description="monthly referrals per unit of exposure")
    # Kumar, Petersen & Leone (HBR 2007): 12% of referrals in telecom became customers.
    conversion: Probability = Field(
        0.25, description="share of referred prospects who buy at the reference price"
    )


class Contact(Strict):
    """A budget-funded lever: its cost per treated customer and its effects."""

    unit_cost: Positive = Field(json_schema_extra=unit("per contact"))
    satisfaction: NonNegative = 0.0
    strength: NonNegative = 0.0
    purchase_boost: NonNegative = Field(
        0.0, description="relative rise of a contacted customer's transaction rate that period"
    )


class ComplaintHandling(Strict):
    """Service recovery after a failure."""

    unit_cost: Positive = 25.0
    success: Probability = 0.70
    # de Matos et al. (JSR 2007): a recovery paradox exists for satisfaction, weakly.
    recovery_paradox: NonNegative = Field(
        0.05, description="satisfaction above par after a recovered failure"
    )


class LoyaltyResponse(Strict):
    """Loyalty programme running cost and effects."""

    unit_cost: Positive = Field(
        0.50,
        description="running cost per covered member",
        json_schema_extra=unit("per member-month"),
    )
    purchase_boost: NonNegative = Field(
        0.05,
        description="relative rise of a member's transaction rate; small once self-selection "
        "is accounted for (Leenheer et al. 2007)",
    )
    # Leenheer et al. (IJRM 2007): small once self-selection is accounted for.
    switching_cost: NonNegative = Field(
        0.50, description="churn rate x exp(-switching_cost x progress to next reward)"
    )
    reward_satisfaction: NonNegative = Field(
        0.15, description="satisfaction lift of a reward worth one reference price"
    )


class CrossSell(Strict):
    """Needs anticipation: offers of complementary products."""

    unit_cost: Positive = 0.50
    acceptance: Probability = 0.10
    spend_uplift: NonNegative = 0.10
    max_uplift: NonNegative = 0.60
    satisfaction: NonNegative = 0.01


class ReferralProgrammeResponse(Strict):
    """Informing promoters of the referral reward."""

    unit_cost: Positive = 0.20
    boost: NonNegative = Field(0.50, description="relative rise of a covered promoter's referrals")


class WinBackResponse(Strict):
    """Offers to lapsed customers.

    Winning back a lost customer costs more than keeping one (Russian article
    "Что такое маркетинг отношений?", What is relationship marketing?).
    """

    unit_cost: Positive = 12.0
    success: Probability = 0.08


class Responses(Strict):
    """How the market responds to each lever: costs and effect sizes."""

    advertising: AdvertisingResponse = AdvertisingResponse()
    word_of_mouth: WordOfMouth = WordOfMouth()
    # A thank-you e-mail costs cents (Norwegian article "Relasjonsmarkedsføring – hva det er,
    # definisjon og konsept").
    thank_you: Contact = Contact(unit_cost=0.10, satisfaction=0.02, strength=0.02)
    complaint_handling: ComplaintHandling = ComplaintHandling()
    loyalty: LoyaltyResponse = LoyaltyResponse()
    personalisation: Contact = Contact(
        unit_cost=1.50, satisfaction=0.04, strength=0.03, purchase_boost=0.05
    )
    cross_sell: CrossSell = CrossSell()
    referral_programme: ReferralProgrammeResponse = ReferralProgrammeResponse()
    win_back: WinBackResponse = WinBackResponse()


# --------------------------------------------------------------------------- policies
class Allocation(Strict):
    """Shares of the budget per lever; they must add up to 1."""

    advertising: Probability = 0.0
    referral_programme: Probability = 0.0
    win_back: Probability = 0.0
    thank_you: Probability = 0.0
    complaint_handling: Probability = 0.0
    loyalty: Probability = 0.0
    personalisation: Probability = 0.0
    cross_sell: Probability = 0.0

    @model_validator(mode="after")
    def _adds_up(self) -> Allocation:
        total = sum(getattr(self, k) for k in LEVERS)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"budget shares add up to {total:.4g}, they must add up to 1")
        return self

    @property
    def retention_share(self) -> float:
        """Share of the budget on retention levers."""
        return sum(getattr(self, k) for k in RETENTION_LEVERS)


class LoyaltyProgramme(Strict):
    """Design of a loyalty programme (points, rewards)."""

    points_per_money: NonNegative = 1.0
    reward_threshold: Positive = Field(600.0, description="points needed for a reward")
    reward_value: NonNegative = Field(15.0, description="cost of one reward to the firm")


class Targeting(Strict):
    """Value-based differentiation: where retention effort goes.

    Spend retention effort by customer value, and cut the cost of serving the least valuable
    (Portuguese article "O que é marketing de relacionamento? Sua definição e significado").
    """

    by: Literal["none", "rfm", "clv"] = "none"
    top_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="retention levers reach only this top share of customers by value"
    )
    serve_cut_share: Probability = Field(
        0.0, description="share of lowest-value customers whose cost to serve is cut"
    )
    serve_cut: Probability = Field(0.0, description="fractional cut in their cost to serve")
    quality_drop: Probability = Field(0.0, description="quality lost by those customers")


class Policy(Strict):
    """One strategy: a budget per period and how it is spent.

    The split of the budget is given either by a ``level``, which stands for a ready-made
    allocation (``LEVEL_ALLOCATIONS``), or by an ``allocation``; with neither, the ``basic``
    level. Both may be given only when they agree (as in a scenario written with results).
    """

    alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("level",), ("allocation",))
    description: str = ""
    level: Literal["basic", "reactive", "accountable", "proactive", "partnership"] | None = Field(
        None, description="a relationship-marketing level standing for its allocation"
    )
    budget: NonNegative = Field(
        30000.0, description="marketing budget", json_schema_extra=unit("money per month")
    )
    churn_multiplier: NonNegative = Field(
        1.0,
        description="the policy's factor on the focal firm's drop-out hazard, on top of the "
        "firm's own (e.g. 0.9 for a service guarantee)",
    )
    budget_covers: list[Literal["rewards", "discounts"]] = Field(
        default_factory=list,
        description="what the budget also pays for, besides the levers: loyalty and referral "
        "rewards, first-purchase and win-back discounts. Each period the levers get the budget "
        "less what these cost the period before, so that policies with the same budget spend "
        "the same in all",
    )
    allocation: Allocation | None = None
    first_purchase_discount: Probability = 0.0
    win_back_discount: Probability = 0.10
    referral_reward: NonNegative = Field(0.0, description="paid per referred customer won")
    loyalty_programme: LoyaltyProgramme = LoyaltyProgramme()
    contact_channel: Literal["preferred", "email", "phone", "social", "visit"] = "email"
    targeting: Targeting = Targeting()
    price: NonNegative | None = Field(None, description="overrides the firm's price")
    quality: Probability | None = Field(None, description="overrides the firm's quality")

    @field_validator("allocation")
    @classmethod
    def _agrees_with_level(cls, allocation: Allocation | None, info: ValidationInfo) -> Any:
        level = info.data.get("level")
        if allocation is None or level is None:
            return allocation
        own = LEVEL_ALLOCATIONS[level]
        if any(abs(getattr(allocation, k) - own.get(k, 0.0)) > 1e-9 for k in LEVERS):
            shares = ", ".join(f"{k} {v:g}" for k, v in own.items())
            raise ValueError(
                f"level {level!r} is given too, and stands for another allocation ({shares}): "
                "give a level or an allocation, not both"
            )
        return allocation

    @model_validator(mode="after")
    def _expand_level(self) -> Policy:
        if self.allocation is None:
            shares = LEVEL_ALLOCATIONS[self.level or "basic"]
            self.allocation = Allocation(**shares)
        return self


# The five levels of relationship marketing, after Kotler (Chinese article
# "关系营销:AZ 指南(+ 免费提示)", Relationship marketing: an A-Z guide): each adds levers.
LEVEL_ALLOCATIONS: dict[str, dict[str, float]] = {
    "basic": {"advertising": 1.0},
    "reactive": {"advertising": 0.85, "complaint_handling": 0.15},
    "accountable": {"advertising": 0.70, "complaint_handling": 0.15, "thank_you": 0.15},
    "proactive": {
        "advertising": 0.55,
        "complaint_handling": 0.15,
        "thank_you": 0.10,
        "personalisation": 0.10,
        "cross_sell": 0.10,
    },
    "partnership": {
        "advertising": 0.40,
        "complaint_handling": 0.10,
        "thank_you": 0.05,
        "personalisation": 0.15,
        "cross_sell": 0.10,
        "loyalty": 0.10,
        "referral_programme": 0.05,
        "win_back": 0.05,
    },
}


# --------------------------------------------------------------------------- market
class FirmSpec(Strict):
    """A firm in the market as the scenario sets it (its Mesa agent is ``agents.Firm``).

    The first firm is the focal one whose policy is varied.
    """

    name: Annotated[str, Field(min_length=1)]
    price: NonNegative = Field(50.0, description="price", json_schema_extra=unit("per unit"))
    unit_cost: NonNegative = Field(
        20.0, description="cost of a unit sold", json_schema_extra=unit("per unit")
    )
    quality: Probability = 0.70
    cost_to_serve: NonNegative = Field(
        4.0, description="cost of serving a customer", json_schema_extra=unit("per customer-month")
    )
    failure_rate: NonNegative = Field(
        0.05, description="service failures", json_schema_extra=unit("per customer-month")
    )
    churn_multiplier: NonNegative = Field(
        1.0,
        description="the firm's own factor on its customers' drop-out hazard (service, "
        "contracts): 0.8 cuts its defections by a fifth",
    )
    initial_share: Probability = Field(0.33, description="share of the initial customers")
    strategy: Policy = Policy(level="reactive", budget=20000.0)


def _default_firms() -> list[FirmSpec]:
    return [
        FirmSpec(name="Focal"),
        FirmSpec(name="Rival A", price=48.0, quality=0.68),
        FirmSpec(name="Rival B", price=52.0, quality=0.72),
    ]


class Market(Strict):
    """Everything the focal firm does not choose."""

    customers: Annotated[int, Field(ge=1, le=50_000_000)] = 10_000
    periods: Annotated[int, Field(ge=1, le=10_000)] = 120
    period_months: Annotated[float, Field(gt=0.0, le=12.0)] = 1.0
    discount_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.10, description="annual discount rate"
    )
    reference_price: Positive = Field(50.0, description="price at which conversion is neutral")
    initial_penetration: Probability = Field(
        0.50, description="share of the market that already buys from some firm at the start"
    )
    customer: CustomerTraits = CustomerTraits()
    behaviour: Behaviour = Behaviour()
    tenure_effects: TenureEffects = TenureEffects()
    responses: Responses = Responses()
    network: Network = Network()
    firms: Annotated[list[FirmSpec], Field(min_length=1, max_length=20)] = Field(
        default_factory=_default_firms
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Market:
        names = [f.name for f in self.firms]
        if len(set(names)) != len(names):
            raise ValueError(f"firm names must be unique, got {names}")
        return self


class Scenario(Strict):
    """A market and the policies to compare in it."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "scenario"
    description: str = ""
    market: Market = Market()
    policies: Annotated[dict[str, Policy], Field(min_length=1)] = Field(
        default_factory=lambda: {"baseline": Policy(level="reactive")}
    )
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)] = 10
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 20240101
    equivalence_margin: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.01,
        description="share of NPV within which two policies are practically equivalent: the "
        "report names a winner only when its lead clears it (`--equivalence-margin` overrides)",
        json_schema_extra=unit("share of NPV"),
    )

    @property
    def focal(self) -> FirmSpec:
        """The firm whose policy is varied (the first one listed)."""
        return self.market.firms[0]
