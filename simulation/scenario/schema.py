"""Scenario schema: what a scenario file may say, with defaults taken from published ranges.

A scenario separates the *market* (what we are uncertain about: customers, rivals, how the
market responds to each lever) from the *policies* (what the focal firm chooses: a budget and
its split over the levers). Every model here rejects unknown keys, so a typo is an error, not
a silently ignored setting.

Time unit: one month. Every ``*_rate`` is a rate per month, turned into a per-period
probability with ``1 - exp(-rate * dt)`` where ``dt = market.period_months``.
"""

from __future__ import annotations

import math
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]

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
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)
    # Settings that were constants of the model before they were fields: a JSON dump (a
    # resolved scenario file, a scenario's digest) leaves them out while they hold their
    # defaults, so files and digests written before they existed stay valid.
    _later_settings: ClassVar[tuple[str, ...]] = ()

    def model_dump(self, *, mode: str = "python", exclude: Any = None, **kwargs: Any) -> Any:
        """As pydantic's; in JSON mode, later settings holding their defaults are left out."""
        if mode == "json" and exclude is None:
            exclude = self._later_settings_at_default() or None
        return super().model_dump(mode=mode, exclude=exclude, **kwargs)

    def model_dump_json(self, *, exclude: Any = None, **kwargs: Any) -> str:
        """As pydantic's; later settings holding their defaults are left out."""
        if exclude is None:
            exclude = self._later_settings_at_default() or None
        return super().model_dump_json(exclude=exclude, **kwargs)

    def _later_settings_at_default(self) -> dict[str, Any]:
        """Where later settings hold their defaults, as a nested ``exclude`` for pydantic."""
        fields = type(self).model_fields
        found: dict[str, Any] = {}
        for name in fields:
            value = getattr(self, name)
            if name in self._later_settings and value == fields[name].default:
                found[name] = True
            elif isinstance(value, Strict) and (inner := value._later_settings_at_default()):
                found[name] = inner
        return found

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
    """Gamma given by its mean and sd."""

    dist: Literal["gamma"]
    mean: Positive
    sd: Positive


Distribution = Annotated[
    Constant | Uniform | Normal | Beta | LogNormal | Gamma, Field(discriminator="dist")
]


class IntegerRange(Strict):
    """Whole numbers from ``low`` to ``high``, both included, equally likely."""

    low: Annotated[int, Field(ge=1)]
    high: Annotated[int, Field(ge=1, le=10_000)]

    @model_validator(mode="after")
    def _ordered(self) -> IntegerRange:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be at least low ({self.low})")
        return self


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


class CustomerTraits(Strict):
    """Distributions of customer attributes (one draw per customer at the start)."""

    _later_settings = ("initial_tenure_periods",)

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
    # Units bought per month; revenue = units x price.
    units: Distribution = LogNormal(dist="lognormal", mean=1.0, sd=0.5)
    # Baseline churn rate per month; heterogeneous, so cohorts retain better with age by
    # selection alone (Fader & Hardie 2007). 1-2% contract telecom, 3-7% SMB software.
    base_churn_rate: Distribution = Beta(dist="beta", mean=0.025, sd=0.02)
    # Share of customers who want a distant, transactional relationship (Turkish article
    # "İlişkisel Pazarlamanın Amacı Nedir?", What is the aim of relationship marketing?).
    transactional_share: Probability = 0.30
    channels: ChannelMix = ChannelMix()
    initial_tenure_periods: IntegerRange = Field(
        IntegerRange(low=1, high=36),
        description="periods the firms' customers at the start have already been with them, drawn "
        "uniformly (months at the default period length): a modelling choice, a mature market "
        "whose tenures spread over three years; tenure matters because a cohort's retention "
        "rises with age by selection alone (Fader & Hardie 2007)",
    )


class Behaviour(Strict):
    """How customers react: satisfaction, relationship strength, churn and referrals."""

    _later_settings = ("new_customer_strength", "initial_strength")

    satisfaction_at_par: Probability = Field(
        0.70, description="satisfaction of a customer whose experience meets expectation"
    )
    learning_weight: Probability = Field(0.30, description="weight of this period's experience")
    quality_noise: NonNegative = Field(0.08, description="sd of experienced quality")
    failure_penalty: NonNegative = Field(0.35, description="quality lost in a service failure")
    forgiveness: Probability = Field(
        0.60, description="share of a failure's penalty a fully committed customer forgives"
    )
    strength_gain: Probability = Field(0.04, description="monthly gain of trust when satisfied")
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
        0.10, description="pull of expectation towards the quality experienced"
    )
    switch_share: Probability = Field(
        0.60, description="share of churners who go to a rival (the rest leave the market)"
    )
    reentry_rate: NonNegative = Field(
        0.02, description="monthly rate at which lapsed customers come back into the market"
    )
    purchase_probability: Probability = Field(0.90, description="chance an active customer buys")
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

    _later_settings = ("price_sensitivity_floor",)

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

    unit_cost: Positive
    satisfaction: NonNegative = 0.0
    strength: NonNegative = 0.0


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

    unit_cost: Positive = Field(0.50, description="running cost per covered member per month")
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
    personalisation: Contact = Contact(unit_cost=1.50, satisfaction=0.04, strength=0.03)
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
    """One strategy: a budget per period and how it is spent."""

    description: str = ""
    level: Literal["basic", "reactive", "accountable", "proactive", "partnership"] | None = None
    budget: NonNegative = Field(30000.0, description="marketing budget per period")
    allocation: Allocation | None = None
    first_purchase_discount: Probability = 0.0
    win_back_discount: Probability = 0.10
    referral_reward: NonNegative = Field(0.0, description="paid per referred customer won")
    loyalty_programme: LoyaltyProgramme = LoyaltyProgramme()
    contact_channel: Literal["preferred", "email", "phone", "social", "visit"] = "email"
    targeting: Targeting = Targeting()
    price: NonNegative | None = Field(None, description="overrides the firm's price")
    quality: Probability | None = Field(None, description="overrides the firm's quality")

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
    price: NonNegative = Field(50.0, description="price per unit")
    unit_cost: NonNegative = Field(20.0, description="cost per unit sold")
    quality: Probability = 0.70
    cost_to_serve: NonNegative = Field(4.0, description="cost per customer per month")
    failure_rate: NonNegative = Field(0.05, description="service failures per customer-month")
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
    replications: Annotated[int, Field(ge=1, le=100_000)] = 10
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 20240101

    @property
    def focal(self) -> FirmSpec:
        """The firm whose policy is varied (the first one listed)."""
        return self.market.firms[0]
