"""The ``params:`` section of a payments scenario: customers, merchants, social graph, calendar.

Money is given in the scenario's ``currency`` (one ISO 4217 code per scenario) as plain numbers;
the model draws amounts as floats and rounds them to cents, and keeps balances in integer cents
so that money is conserved exactly. Rates are per day (the model steps in days), whatever the
scenario's time unit. Cross-checks between sections (every category a segment spends in or pays
a bill to has merchants, the social layer fits the customers) are a model validator whose errors
are located at the keys they are about.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails

from eventforge.scenario.types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
    check_distribution,
)
from eventforge.simulators.agent_based.contacts import (
    Layer,
    PopulationSpec,
    RandomLayer,
    contact_problems,
)

__all__ = [
    "CHANNELS",
    "AtmAmount",
    "Bill",
    "Customers",
    "MeanCv",
    "MedianSigma",
    "MerchantCategory",
    "Merchants",
    "PaymentsParams",
    "Seasonality",
    "Segment",
    "cumulative",
]

SECONDS_PER_DAY = 86400.0
#: Customers are int32 ids in the social CSR (contacts.py); accounts stay below 2^31 with them.
_MAX_ACCOUNTS = 2**31 - 1
#: The largest overdraft limit: the apply kernel packs a limit in cents into 30 bits
#: (``payments_kernels.MAX_LIMIT_CENTS``), beside the account id and frozen flag.
MAX_OVERDRAFT = 10_000_000.0

#: A channel of card payments.
Channel = Literal["pos", "online", "mobile"]
#: The channels of card payments, in the order of their kernel codes (0, 1, 2).
CHANNELS: tuple[Channel, ...] = ("pos", "online", "mobile")


def _pos_only() -> dict[Channel, float]:
    return {"pos": 1.0}


#: A day of the month on which something recurs; 1..28 so that it exists in every month.
DayOfMonth = Annotated[int, Field(ge=1, le=28)]


class MeanCv(StrictModel):
    """A lognormal amount given by its mean and coefficient of variation (how incomes and
    balances are quoted)."""

    mean: PositiveFloat = Field(description="mean amount, in the scenario's currency")
    cv: NonNegativeFloat = Field(description="coefficient of variation (std / mean)")

    def log_params(self) -> tuple[float, float]:
        """``(mu, sigma)`` of the log: ``sigma^2 = log(1 + cv^2)``, ``mu = log(mean) -
        sigma^2 / 2`` (the lognormal's moments; Johnson, Kotz & Balakrishnan, vol. 1, ch. 14)."""
        s2 = math.log1p(self.cv**2)
        return math.log(self.mean) - 0.5 * s2, math.sqrt(s2)


class MedianSigma(StrictModel):
    """A lognormal amount given by its median and the standard deviation of its log (how
    purchase sizes are quoted: a typical basket, and a spread in orders of magnitude)."""

    median: PositiveFloat = Field(description="median amount, in the scenario's currency")
    sigma: NonNegativeFloat = Field(description="standard deviation of log(amount)")


class Bill(StrictModel):
    """A monthly bill paid by direct debit to one merchant of ``category`` (drawn once per
    customer, by the category's popularity)."""

    category: str = Field(description="merchant category of the payee (must have merchants)")
    day: DayOfMonth = Field(description="day of the month it is due (1..28)")
    amount: MeanCv = Field(description="amount of each payment (drawn every month)")


class AtmAmount(StrictModel):
    """One round amount an ATM withdrawal can take, and its weight."""

    amount: PositiveFloat = Field(description="the amount withdrawn, in the currency")
    weight: NonNegativeFloat = Field(description="relative frequency among the segment's amounts")


class Segment(StrictModel):
    """A kind of customer: income, spending, bills, transfers and cash habits."""

    share: Probability = Field(description="share of the customers (shares sum to 1)")
    salary: MeanCv = Field(description="monthly net salary, drawn once per customer")
    payday: DayOfMonth = Field(description="day of the month the salary arrives (1..28)")
    card_per_day: NonNegativeFloat = Field(
        description="mean card payments per day (Poisson), before the weekly and payday factors"
    )
    categories: dict[str, NonNegativeFloat] = Field(
        min_length=1, description="merchant category -> weight in the spending mix"
    )
    overdraft: NonNegativeFloat = Field(
        le=MAX_OVERDRAFT,
        description="overdraft limit: a debit succeeds iff balance - amount >= -overdraft",
    )
    opening_balance: MeanCv = Field(description="balance at t = 0")
    bills: list[Bill] = Field(default_factory=list, description="monthly direct debits")
    p2p_per_day: NonNegativeFloat = Field(
        default=0.0, description="mean transfers per day to a social neighbour (Poisson)"
    )
    p2p_amount: MeanCv | None = Field(
        default=None, description="amount of a transfer (required when p2p_per_day > 0)"
    )
    atm_per_day: NonNegativeFloat = Field(
        default=0.0, description="mean ATM withdrawals per day (Poisson)"
    )
    atm_amounts: list[AtmAmount] = Field(
        default_factory=list, description="round withdrawal amounts and their weights"
    )
    cash_in_per_day: NonNegativeFloat = Field(
        default=0.0, description="mean cash deposits at a branch per day (Poisson)"
    )
    cash_in_amount: MeanCv | None = Field(
        default=None, description="amount of a deposit (required when cash_in_per_day > 0)"
    )


class Customers(StrictModel):
    """The bank's customers: how many, and their segments (assigned i.i.d. by share)."""

    size: Annotated[int, Field(ge=1, le=_MAX_ACCOUNTS)] = Field(description="customers N")
    segments: dict[str, Segment] = Field(
        min_length=1, description="segment name -> its habits; the order listed is the code order"
    )


class MerchantCategory(StrictModel):
    """The merchants of one category: how many, what a purchase costs, how sales are spread."""

    count: PositiveInt = Field(description="merchants in the category")
    amount: MedianSigma | None = Field(
        default=None,
        description="amount of a card purchase (required when a segment spends here by card)",
    )
    popularity: NonNegativeFloat = Field(
        default=1.0,
        description="Zipf exponent s: merchant k (0-based) is chosen with weight 1 / (k+1)^s",
    )
    channels: dict[Channel, NonNegativeFloat] = Field(
        default_factory=_pos_only,
        min_length=1,
        description="channel -> weight of card payments through it",
    )


class Merchants(StrictModel):
    """The merchants, by category (the order listed is the order of their indices)."""

    categories: dict[str, MerchantCategory] = Field(
        min_length=1, description="category name -> its merchants"
    )


class Seasonality(StrictModel):
    """When card payments happen: day of week, hour of day, and the days after payday."""

    weekly: Annotated[list[NonNegativeFloat], Field(min_length=7, max_length=7)] = Field(
        default_factory=lambda: [1.0] * 7,
        description="7 multipliers of card payments per day, Monday first",
    )
    hourly: Annotated[list[NonNegativeFloat], Field(min_length=24, max_length=24)] = Field(
        default_factory=lambda: [1.0] * 24,
        description="24 weights of the hour of a card payment, transfer, withdrawal or deposit",
    )
    payday_boost: NonNegativeFloat = Field(
        default=1.0, description="multiplier of card payments in the days from payday"
    )
    payday_days: PositiveInt = Field(
        default=1, description="days the boost lasts, payday included (at most 28)"
    )


class PaymentsParams(StrictModel):
    """The ``params:`` section of a payments scenario."""

    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO 4217 code of every amount, e.g. EUR"
    )
    customers: Customers = Field(description="customers and their segments")
    merchants: Merchants = Field(description="merchants by category")
    social: Layer | None = Field(
        default=None,
        description="contacts layer over the customers that P2P transfers follow (null: none)",
    )
    seasonality: Seasonality = Field(
        default_factory=Seasonality, description="weekly, hourly and payday profiles"
    )
    _day_units: float = PrivateAttr(default=24.0)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> PaymentsParams:
        context = info.context or {}
        self._day_units = SECONDS_PER_DAY / float(context.get("time_unit_s", 3600.0))
        problems = self._segment_problems()
        problems += self._merchant_problems()
        problems += self._social_problems()
        season = self.seasonality
        if not math.fsum(season.hourly) > 0:
            problems.append((("seasonality", "hourly"), "weights must not all be 0"))
        if season.payday_days > 28:
            problems.append(
                (("seasonality", "payday_days"), f"must be <= 28 (got {season.payday_days})")
            )
        if problems:
            # Raised from here, each problem keeps its location (pydantic prefixes it with where
            # this model sits), so the scenario loader reports it at its key's line.
            raise ValidationError.from_exception_data(
                "PaymentsParams",
                [
                    InitErrorDetails(type="value_error", loc=loc, input=None, ctx={"error": text})
                    for loc, text in problems
                ],
            )
        return self

    def _segment_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        segments = self.customers.segments
        problems: list[tuple[tuple[str | int, ...], str]] = []
        try:
            check_distribution({k: s.share for k, s in segments.items()}, "segment share")
        except ValueError as e:
            problems.append((("customers", "segments"), str(e)))
        known = self.merchants.categories
        listed = ", ".join(known)
        for name, seg in segments.items():
            at = ("customers", "segments", name)
            for cat, weight in seg.categories.items():
                if cat not in known:
                    problems.append(
                        ((*at, "categories", cat), f"no such merchant category (known: {listed})")
                    )
                elif weight > 0 and known[cat].amount is None:
                    problems.append(
                        (
                            (*at, "categories", cat),
                            f"merchants.categories.{cat} has no amount of a card purchase",
                        )
                    )
            if not math.fsum(seg.categories.values()) > 0:
                problems.append(((*at, "categories"), "weights must not all be 0"))
            for b, bill in enumerate(seg.bills):
                if bill.category not in known:
                    problems.append(
                        (
                            (*at, "bills", b, "category"),
                            f"no such merchant category {bill.category!r} (known: {listed})",
                        )
                    )
            for rate, amount in (("p2p_per_day", "p2p_amount"), ("cash_in_per_day",
                                                                  "cash_in_amount")):  # fmt: skip
                if getattr(seg, rate) > 0 and getattr(seg, amount) is None:
                    problems.append(((*at, amount), f"required when {rate} > 0"))
            if seg.atm_per_day > 0 and not math.fsum(a.weight for a in seg.atm_amounts) > 0:
                problems.append(
                    ((*at, "atm_amounts"), "required (weights not all 0) when atm_per_day > 0")
                )
        return problems

    def _merchant_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        total = sum(c.count for c in self.merchants.categories.values())
        for name, cat in self.merchants.categories.items():
            if not math.fsum(cat.channels.values()) > 0:
                problems.append(
                    (("merchants", "categories", name, "channels"), "weights must not all be 0")
                )
        if self.customers.size + total > _MAX_ACCOUNTS:
            problems.append(
                (("merchants", "categories"), f"{total} merchants + customers exceed 2^31 - 1")
            )
        return problems

    def _social_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        layer = self.social
        if layer is None:
            return []
        if isinstance(layer, RandomLayer):
            return [(("social",), "kind 'random' has no fixed neighbours to send transfers to")]
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for message in contact_problems(self.population(), {"social": layer}):
            key, _, text = message.partition(": ")
            field = key.removeprefix("contacts.social").removeprefix(".")
            problems.append((("social", *((field,) if field else ())), text))
        return problems

    def population(self) -> PopulationSpec:
        """The customers as a contacts population of one age group, ``all`` (the social layer
        spans every customer)."""
        return PopulationSpec(size=self.customers.size, age_groups={"all": 1.0})

    @property
    def day_units(self) -> float:
        """Scenario time units per day (24 when the unit is the hour)."""
        return self._day_units

    def horizon_problems(self, horizon: float) -> list[tuple[tuple[str | int, ...], str]]:
        """A horizon under one day (the model steps in days)."""
        days = horizon / self._day_units
        if days < 1.0:
            return [((), f"the horizon ({days:g} days) is under one day: the model steps in days")]
        return []


def cumulative(weights: ArrayLike) -> np.ndarray:
    """Normalised cumulative weights along the last axis, the last exactly 1.0: index ``k`` is
    drawn as ``searchsorted(cum, U, side='right')`` with ``U ~ U[0, 1)``, which never lands on a
    zero weight. A row of zeros (never drawn from: its rate is 0) becomes all 1.0 (index 0)."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w, axis=-1)
    total = cum[..., -1:]
    cum = np.divide(cum, total, out=np.ones_like(cum), where=total > 0)
    cum[..., -1] = 1.0
    return np.ascontiguousarray(cum)
