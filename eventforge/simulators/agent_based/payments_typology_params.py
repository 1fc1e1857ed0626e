"""The ``rare_events:`` section of a payments scenario: fraud and laundering typologies, decoys.

Every customer plays at most one *role* over the run: the subject of an episode of one typology
(the victim of an account takeover, the perpetrator of a bust-out, the originator of a laundering
cycle, ...), the subject of a decoy, a money mule, or nothing. Roles are drawn i.i.d. by the
``share`` of each (multinomial counts, then a permutation), so the shares of all typologies,
decoys and mules must sum to at most 1. Each episode starts at a uniform day of the run, at an
hour drawn from the legitimate hourly profile (so the time of day tells nothing), and its other
accounts (mules, sources, ring members) are drawn per episode: from the mules for typologies, from
all customers for decoys.

Every numeric parameter of an episode is a ``[low, high]`` range drawn uniformly per episode, so
that no fixed template can be learned from the data. Durations are in the scenario's units
(``15m``, ``2d``); fractions in [0, 1]. ``scripted`` episodes pin a subject, accounts and a start
for a dataset that must contain a known chain; the accounts they name are customer numbers
(0 .. customers.size - 1), checked against ``params`` when the scenario loads.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from eventforge.scenario.types import (
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
)
from eventforge.scenario.units import NonNegativeDuration
from eventforge.simulators.agent_based.payments_params import MedianSigma

__all__ = [
    "ACCOUNTS",
    "DECOYS",
    "TYPOLOGIES",
    "AccountTakeover",
    "BustOut",
    "CardTesting",
    "Cycle",
    "FamilyFanOut",
    "InvoiceFanIn",
    "MuleFanIn",
    "MuleFanOut",
    "PaymentsRareEvents",
    "ScatterGather",
    "ScriptedEpisode",
    "least_accounts",
]


def _ordered(value: list[Any]) -> list[Any]:
    if value[0] > value[1]:
        raise ValueError(f"must be [low, high] with low <= high (got {value})")
    return value


#: ``[low, high]`` of a fraction drawn uniformly per episode.
FractionRange = Annotated[
    list[Probability], Field(min_length=2, max_length=2), AfterValidator(_ordered)
]
#: ``[low, high]`` of a count (>= 1) drawn uniformly (both ends included) per episode.
CountRange = Annotated[
    list[PositiveInt], Field(min_length=2, max_length=2), AfterValidator(_ordered)
]
#: ``[low, high]`` of an amount drawn uniformly per episode (then rounded to the cent).
AmountRange = Annotated[
    list[PositiveFloat], Field(min_length=2, max_length=2), AfterValidator(_ordered)
]
#: ``[low, high]`` of a duration drawn uniformly per episode, in the scenario's units.
DurationRange = Annotated[
    list[NonNegativeDuration], Field(min_length=2, max_length=2), AfterValidator(_ordered)
]


#: Each kind's other accounts: the parameter that counts them (None: it has none), and how many
#: more follow the counted ones (scatter-gather's gatherer, the invoices' supplier).
ACCOUNTS: dict[str, tuple[str | None, int]] = {
    "account_takeover": ("mules", 0),
    "card_testing": (None, 0),
    "bust_out": (None, 0),
    "mule_fan_in": ("sources", 0),
    "mule_fan_out": ("mules", 0),
    "cycle": ("ring", 0),
    "scatter_gather": ("intermediaries", 1),
    "family_fan_out": ("relatives", 0),
    "invoice_fan_in": ("payers", 1),
}
#: Typologies whose other accounts are mules: they need some.
_NEED_MULES = ("account_takeover", "mule_fan_in", "mule_fan_out", "cycle", "scatter_gather")

Problems = list[tuple[tuple[str | int, ...], str]]


def least_accounts(kind: str) -> int:
    """The fewest other accounts an episode of ``kind`` can have (its planner needs them)."""
    field, extra = ACCOUNTS[kind]
    return 0 if field is None else 1 + extra


class Episodes(StrictModel):
    """What every typology and decoy has: how often it happens, and how the bank reacts."""

    share: Probability = Field(
        description="probability that a customer is the subject of an episode over the run"
    )
    detection: Probability = Field(
        default=0.0,
        description="probability that the bank raises an alert on the episode's key account "
        "after its last step (for a decoy: a false alert)",
    )
    alert_delay: DurationRange = Field(
        default_factory=lambda: ["1h", "3d"],
        validate_default=True,
        description="from the last step to the alert",
    )
    freeze: Probability = Field(
        default=0.0,
        description="probability that an alert on a typology freezes the key account (debits "
        "declined from then on); decoys' alerts never freeze",
    )
    freeze_delay: DurationRange = Field(
        default_factory=lambda: ["10m", "1d"],
        validate_default=True,
        description="from the alert to the freeze",
    )


class AccountTakeover(Episodes):
    """A fraudster takes over the subject's account and drains it to mules, one transfer per
    mule, minutes apart; each mule then withdraws what it received at ATMs in notes. Key
    account: the first mule."""

    mules: CountRange = Field(default_factory=lambda: [1, 3], description="mules drained to")
    drain: FractionRange = Field(
        default_factory=lambda: [0.5, 0.95],
        description="fraction of the available funds (balance + overdraft) taken in all",
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["1m", "30m"],
        validate_default=True,
        description="between successive drains",
    )
    cash_out: Probability = Field(
        default=0.8, description="probability that a mule withdraws what it received"
    )
    cash_out_delay: DurationRange = Field(
        default_factory=lambda: ["30m", "12h"],
        validate_default=True,
        description="from the drain to the withdrawal",
    )


class CardTesting(Episodes):
    """A stolen card is tested with a burst of small online payments across merchants, from a
    device the customer never used, then (maybe) cashed out with one large purchase. Key
    account: the subject's."""

    tests: CountRange = Field(default_factory=lambda: [5, 30], description="small payments")
    amount: AmountRange = Field(
        default_factory=lambda: [0.5, 5.0], description="amount of a test payment"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["5s", "3m"],
        validate_default=True,
        description="between successive tests",
    )
    cash_out: Probability = Field(
        default=0.5, description="probability of a large purchase after the tests"
    )
    cash_out_amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=400.0, sigma=0.6),
        description="amount of the large purchase",
    )
    cash_out_delay: DurationRange = Field(
        default_factory=lambda: ["10m", "6h"],
        validate_default=True,
        description="from the last test to the purchase",
    )


class BustOut(Episodes):
    """First-party fraud: the subject, after a normal history, spends its balance and overdraft
    in a burst of purchases over a few days, with its own devices, and never pays back. Key
    account: the subject's."""

    purchases: CountRange = Field(default_factory=lambda: [3, 12], description="purchases")
    spend: FractionRange = Field(
        default_factory=lambda: [0.9, 1.0],
        description="fraction of the available funds (balance + overdraft) spent in all",
    )
    window: DurationRange = Field(
        default_factory=lambda: ["1d", "5d"],
        validate_default=True,
        description="over which the purchases spread",
    )


class MuleFanIn(Episodes):
    """Sources (mules) each deposit cash and pass it on to the subject, the collector, who then
    withdraws most of it at an ATM. Key account: the subject's."""

    sources: CountRange = Field(default_factory=lambda: [5, 20], description="mules paying in")
    amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=900.0, sigma=0.5),
        description="cash deposited by a source",
    )
    window: DurationRange = Field(
        default_factory=lambda: ["1d", "7d"],
        validate_default=True,
        description="over which the sources pay in",
    )
    forward: FractionRange = Field(
        default_factory=lambda: [0.85, 0.98],
        description="fraction of what arrives that a hop passes on (the rest is its cut)",
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["10m", "1d"],
        validate_default=True,
        description="from money arriving to moving on",
    )


class MuleFanOut(Episodes):
    """The subject receives a large cash placement in a few deposits and splits it over mules,
    each of which may withdraw its part at ATMs. Key account: the subject's."""

    deposits: CountRange = Field(default_factory=lambda: [1, 3], description="cash deposits")
    amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=8000.0, sigma=0.5),
        description="total placed",
    )
    mules: CountRange = Field(default_factory=lambda: [3, 12], description="mules paid out to")
    forward: FractionRange = Field(
        default_factory=lambda: [0.85, 0.98],
        description="fraction of the placement paid out to the mules in all",
    )
    cash_out: Probability = Field(
        default=0.7, description="probability that a mule withdraws its part"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["10m", "1d"],
        validate_default=True,
        description="between successive moves",
    )


class Cycle(Episodes):
    """A placement at the subject travels around a ring of mules and back to the subject, each
    hop keeping a small cut (AMLSim's cycle). Key account: the subject's."""

    ring: CountRange = Field(
        default_factory=lambda: [2, 6], description="mules in the ring besides the subject"
    )
    amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=5000.0, sigma=0.5),
        description="cash placed at the subject",
    )
    forward: FractionRange = Field(
        default_factory=lambda: [0.95, 1.0], description="fraction each hop passes on"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["1h", "3d"], validate_default=True, description="between hops"
    )


class ScatterGather(Episodes):
    """A placement at the subject is scattered over intermediaries, which pass it on to one
    gatherer (AMLSim's scatter-gather). Key account: the gatherer (the last mule drawn)."""

    intermediaries: CountRange = Field(
        default_factory=lambda: [3, 10], description="mules between the subject and the gatherer"
    )
    amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=10000.0, sigma=0.5),
        description="cash placed at the subject",
    )
    forward: FractionRange = Field(
        default_factory=lambda: [0.9, 0.99], description="fraction an intermediary passes on"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["1h", "2d"], validate_default=True, description="between hops"
    )


class FamilyFanOut(Episodes):
    """Decoy: on every payday the subject sends part of its salary to a few relatives (its
    social neighbours, else customers drawn once), within hours: a fan-out that is legitimate."""

    relatives: CountRange = Field(default_factory=lambda: [2, 5], description="relatives")
    part: FractionRange = Field(
        default_factory=lambda: [0.2, 0.5], description="fraction of the salary sent in all"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["10m", "6h"],
        validate_default=True,
        description="between successive transfers",
    )


class InvoiceFanIn(Episodes):
    """Decoy: the subject, a small business, is paid invoices by many customers over some days,
    then pays most of it to a supplier: a fan-in that is legitimate."""

    payers: CountRange = Field(default_factory=lambda: [5, 25], description="customers paying")
    amount: MedianSigma = Field(
        default_factory=lambda: MedianSigma(median=300.0, sigma=0.8),
        description="amount of an invoice",
    )
    window: DurationRange = Field(
        default_factory=lambda: ["1d", "10d"],
        validate_default=True,
        description="over which the invoices are paid",
    )
    forward: FractionRange = Field(
        default_factory=lambda: [0.6, 0.95], description="fraction paid on to the supplier"
    )
    gap: DurationRange = Field(
        default_factory=lambda: ["1h", "3d"],
        validate_default=True,
        description="from the last invoice to the payment",
    )


#: Typologies (the log's ``rare_kind`` dictionary, in this order) and their parameter models.
TYPOLOGIES: dict[str, type[Episodes]] = {
    "account_takeover": AccountTakeover,
    "card_testing": CardTesting,
    "bust_out": BustOut,
    "mule_fan_in": MuleFanIn,
    "mule_fan_out": MuleFanOut,
    "cycle": Cycle,
    "scatter_gather": ScatterGather,
}
#: Decoys (the log's ``decoy`` dictionary, in this order) and their parameter models.
DECOYS: dict[str, type[Episodes]] = {
    "family_fan_out": FamilyFanOut,
    "invoice_fan_in": InvoiceFanIn,
}


class ScriptedEpisode(StrictModel):
    """One episode pinned by the scenario: which typology or decoy, who, and when."""

    kind: str = Field(description="a typology or decoy name")
    subject: NonNegativeInt = Field(description="customer number of the subject")
    accounts: list[NonNegativeInt] = Field(
        default_factory=list,
        description="customer numbers of the other accounts (mules, sources, ring, relatives, "
        "payers; for scatter_gather the gatherer last), in order",
    )
    start: NonNegativeDuration = Field(description="time of the first step, from the start")


class PaymentsRareEvents(StrictModel):
    """The ``rare_events:`` section of a payments scenario (every typology and decoy optional)."""

    account_takeover: AccountTakeover | None = Field(default=None, description="ATO to mules")
    card_testing: CardTesting | None = Field(default=None, description="stolen-card tests")
    bust_out: BustOut | None = Field(default=None, description="first-party bust-out")
    mule_fan_in: MuleFanIn | None = Field(default=None, description="mules paying one collector")
    mule_fan_out: MuleFanOut | None = Field(default=None, description="one account paying mules")
    cycle: Cycle | None = Field(default=None, description="money around a ring of mules")
    scatter_gather: ScatterGather | None = Field(
        default=None, description="placement scattered over mules, gathered at one"
    )
    family_fan_out: FamilyFanOut | None = Field(default=None, description="decoy: payday gifts")
    invoice_fan_in: InvoiceFanIn | None = Field(
        default=None, description="decoy: a business paid by many customers"
    )
    mules: Probability = Field(default=0.0, description="share of the customers who are mules")
    scripted: list[ScriptedEpisode] = Field(
        default_factory=list, description="episodes pinned by the scenario, besides random ones"
    )

    def configured(self) -> list[str]:
        """The typologies and decoys the scenario configures, typologies first, in code order."""
        return [k for k in (*TYPOLOGIES, *DECOYS) if getattr(self, k) is not None]

    @model_validator(mode="after")
    def _consistent(self) -> PaymentsRareEvents:
        problems: Problems = []
        shares = {k: getattr(self, k).share for k in self.configured()}
        if self.mules:
            shares["mules"] = self.mules
        total = math.fsum(shares.values())
        if total > 1.0 + 1e-9:
            listed = ", ".join(f"{k} {v:g}" for k, v in shares.items())
            problems.append(
                ((), f"the shares of typologies, decoys and mules sum to {total:g}, over 1 "
                 f"(a customer plays one role): {listed}")
            )  # fmt: skip
        needing = [k for k in _NEED_MULES if k in shares and shares[k] > 0]
        if needing and self.mules <= 0:
            problems.append(
                (("mules",), f"must be > 0: {', '.join(needing)} move money through mules")
            )
        for i, episode in enumerate(self.scripted):
            problems += [(("scripted", i, *at), text) for at, text in self._scripted(episode)]
        if problems:
            raise ValidationError.from_exception_data(
                "PaymentsRareEvents",
                [
                    InitErrorDetails(type="value_error", loc=loc, input=None, ctx={"error": text})
                    for loc, text in problems
                ],
            )
        return self

    def _scripted(self, episode: ScriptedEpisode) -> Problems:
        kind = episode.kind
        known = (*TYPOLOGIES, *DECOYS)
        if kind not in known:
            return [(("kind",), f"no such typology or decoy {kind!r} (known: {', '.join(known)})")]
        if getattr(self, kind) is None:
            return [(("kind",), f"rare_events.{kind} must be configured (share may be 0)")]
        n = len(episode.accounts)
        least = least_accounts(kind)
        if ACCOUNTS[kind][0] is None and n:
            return [(("accounts",), f"{kind} has no other accounts (got {n})")]
        if n < least:
            return [(("accounts",), f"{kind} needs at least {least} accounts (got {n})")]
        if episode.subject in episode.accounts or len(set(episode.accounts)) < n:
            return [(("accounts",), "must be distinct, and not the subject")]
        return []

    def scenario_problems(self, scenario: Any) -> Problems:
        """Scripted episodes naming customers that do not exist or starting past the end, and
        card testing in a scenario where no merchant sells online."""
        size = scenario.params.customers.size
        problems: Problems = []
        categories = scenario.params.merchants.categories.values()
        if self.card_testing is not None and not any(
            c.channels.get("online", 0.0) > 0 for c in categories
        ):
            problems.append(
                (("card_testing",), "needs merchants that sell online (a category with an "
                 "online channel weight > 0)")
            )  # fmt: skip
        for i, episode in enumerate(self.scripted):
            if episode.subject >= size:
                problems.append(
                    (("scripted", i, "subject"), f"no customer {episode.subject} (customers: "
                     f"0 .. {size - 1})")
                )  # fmt: skip
            for j, account in enumerate(episode.accounts):
                if account >= size:
                    problems.append(
                        (("scripted", i, "accounts", j), f"no customer {account} (customers: "
                         f"0 .. {size - 1})")
                    )  # fmt: skip
            if episode.start >= scenario.horizon:
                problems.append(
                    (("scripted", i, "start"), f"{episode.start:g} is past the horizon "
                     f"({scenario.horizon:g})")
                )  # fmt: skip
        return problems
