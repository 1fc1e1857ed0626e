"""A plain Mesa 3 model of the ``payments`` legitimate-spending step: the fast model's yardstick.

Written the way a Mesa user would write it, for clarity, not speed: one ``Customer`` agent per
customer and one ``Merchant`` agent per merchant, their state in Python attributes (balance in
integer cents, salary, bill payees, devices, social neighbours as a list of ``Customer``), each
customer drawing its day's payments in a Python method called through ``model.agents_by_type``'s
``do`` (ascending customer index), then the day's ledger (a list of :class:`Payment`) sorted by
time (stable) and applied one payment at a time with the overdraft check. It is the yardstick of
``benchmarks/bench_payments.py`` (transactions per second) and the independent implementation
that ``tests/test_payments_reference.py`` compares the ``payments`` model with, statistically.

Rules (the model spec's, time in days from ``start``): per customer per day, in this order,
salary on payday (at 6h + U(0, 1h)), bills due that day of the month (8h + U(0, 1h)),
Poisson(card_per_day x weekly[day of week] x payday boost) card payments (category by the
segment's weights, merchant by Zipf popularity, amount lognormal rounded to cents, channel by the
category's weights, hour by the hourly weights then uniform within it; a device unless at pos),
Poisson(p2p_per_day) transfers to a uniform social neighbour, Poisson(atm_per_day) withdrawals of
round amounts and Poisson(cash_in_per_day) deposits (the last three at an hour drawn like a card
payment's). Amounts are rounded to the cent, at least one cent. A debit succeeds iff ``balance -
amount >= -overdraft``, else it is declined and nothing moves; merchants start at 0. Shared with
the fast model: the params models and ``build_contacts`` (the social graph); everything else,
including the order of the draws, is this file's own.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import mesa
import numpy as np

from eventforge.simulators.agent_based.contacts import build_contacts
from eventforge.simulators.agent_based.payments_params import MeanCv, PaymentsParams

__all__ = ["TX_TYPES", "Customer", "Merchant", "Payment", "PlainPayments"]

#: The transaction types, in the ``tx_type`` column's words.
TX_TYPES = ("card", "bill", "p2p", "salary", "atm", "cash_in")

T = TypeVar("T")


def _cents(amount: float) -> int:
    """An amount in currency units as whole cents (half up), at least one cent."""
    return max(1, math.floor(amount * 100 + 0.5))


def _draw(rng: np.random.Generator, amount: MeanCv) -> int:
    """One lognormal amount of the given mean and coefficient of variation, in cents."""
    s2 = math.log1p(amount.cv**2)  # sigma^2 = log(1 + cv^2), mu = log(mean) - sigma^2 / 2
    return _cents(rng.lognormal(math.log(amount.mean) - 0.5 * s2, math.sqrt(s2)))


class Weighted(Generic[T]):
    """Draws one of ``items`` with probability proportional to ``weights``: one uniform and a
    bisection of the cumulative weights (``Generator.choice(p=...)`` costs ~20 us a call, which
    would make this yardstick slower than a user's code needs to be)."""

    def __init__(self, items: list[T], weights: list[float]) -> None:
        self.items = items
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: np.random.Generator) -> T:
        """One item."""
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


@dataclass(slots=True)
class Payment:
    """One attempted transaction of the day: ``payer`` is debited (None: money from outside),
    ``payee`` credited (None: money leaving, an ATM withdrawal); ``time`` in days, ``amount``
    in cents."""

    time: float
    tx_type: str
    amount: int
    payer: Customer | None
    payee: Customer | Merchant | None
    channel: str
    merchant: Merchant | None = None
    device: int | None = None


class Merchant(mesa.Agent):
    """A merchant of one category; it only receives money in this step."""

    def __init__(self, model: PlainPayments, category: str) -> None:
        super().__init__(model)
        self.category = category
        self.account = -1  # set once every account exists
        self.balance = 0


class Customer(mesa.Agent):
    """A customer of one segment: balance and overdraft in cents, monthly salary, the merchant
    paid for each of the segment's bills (drawn once), devices and social neighbours."""

    model: PlainPayments

    def __init__(self, model: PlainPayments, segment: str) -> None:
        super().__init__(model)
        rng = model.rng
        self.segment = segment
        self.rules = seg = model.params.customers.segments[segment]
        self.account = -1  # set once every account exists
        self.balance = _draw(rng, seg.opening_balance)
        self.overdraft = round(seg.overdraft * 100)
        self.salary = _draw(rng, seg.salary)
        self.bill_payees = [model.merchant_choice[b.category].draw(rng) for b in seg.bills]
        self.devices: list[int] = []
        self.friends: list[Customer] = []

    def plan_day(self) -> None:
        """Append today's attempted transactions of this customer to the model's ledger."""
        model, rng, seg = self.model, self.model.rng, self.rules
        d, today, ledger = model.day, model.today, model.ledger
        if today.day == seg.payday:
            time = d + (6 + rng.random()) / 24
            ledger.append(Payment(time, "salary", self.salary, None, self, "transfer"))
        for bill, payee in zip(seg.bills, self.bill_payees, strict=True):
            if today.day == bill.day:
                time = d + (8 + rng.random()) / 24
                amount = _draw(rng, bill.amount)
                ledger.append(Payment(time, "bill", amount, self, payee, "transfer", payee))
        rate = seg.card_per_day * model.weekly[today.weekday()] * model.boost(today, seg.payday)
        for _ in range(rng.poisson(rate)):
            category = model.spending[self.segment].draw(rng)
            merchant = model.merchant_choice[category].draw(rng)
            mu, sigma = model.price[category]
            amount = _cents(rng.lognormal(mu, sigma))
            channel = model.channel_choice[category].draw(rng)
            time = model.draw_time(d)
            device = None if channel == "pos" else self.devices[rng.integers(len(self.devices))]
            ledger.append(Payment(time, "card", amount, self, merchant, channel, merchant, device))
        if self.friends:
            for _ in range(rng.poisson(seg.p2p_per_day)):
                friend = self.friends[rng.integers(len(self.friends))]
                assert seg.p2p_amount is not None  # validated: required when p2p_per_day > 0
                amount = _draw(rng, seg.p2p_amount)
                ledger.append(Payment(model.draw_time(d), "p2p", amount, self, friend, "transfer"))
        for _ in range(rng.poisson(seg.atm_per_day)):
            amount = model.atm_choice[self.segment].draw(rng)
            ledger.append(Payment(model.draw_time(d), "atm", amount, self, None, "atm"))
        for _ in range(rng.poisson(seg.cash_in_per_day)):
            assert seg.cash_in_amount is not None  # validated: required when the rate > 0
            amount = _draw(rng, seg.cash_in_amount)
            ledger.append(Payment(model.draw_time(d), "cash_in", amount, None, self, "branch"))


class PlainPayments(mesa.Model):
    """The legitimate spending of ``params`` from ``start`` (a UTC datetime: day 0's date), one
    ``step()`` per day.

    After each step: ``attempts[t]`` / ``declines[t]`` count the transactions of type ``t`` so
    far (attempts include the declined ones), ``amounts[t]`` sums the cents attempted;
    ``customers`` / ``merchants`` are the agents by index. The only randomness is ``rng``.
    """

    def __init__(self, params: PaymentsParams, rng: np.random.Generator, start: datetime) -> None:
        super().__init__(rng=rng)
        self.params = params
        self.start = start
        self.day = 0
        self.today = start
        self.ledger: list[Payment] = []
        self.attempts: Counter[str] = Counter()
        self.declines: Counter[str] = Counter()
        self.amounts: Counter[str] = Counter()
        season, segments = params.seasonality, params.customers.segments
        self.weekly = list(season.weekly)
        self.hour_choice = Weighted(list(range(24)), list(season.hourly))
        self.merchants: list[Merchant] = []
        self.merchant_choice: dict[str, Weighted[Merchant]] = {}
        self.channel_choice: dict[str, Weighted[str]] = {}
        self.price: dict[str, tuple[float, float]] = {}  # category -> (mu, sigma) of log(amount)
        for name, cat in params.merchants.categories.items():
            if cat.amount is not None:  # validated: present where a segment spends by card
                self.price[name] = (math.log(cat.amount.median), cat.amount.sigma)
            ms = [Merchant(self, name) for _ in range(cat.count)]
            self.merchants += ms
            self.merchant_choice[name] = Weighted(
                ms, [1 / (k + 1) ** cat.popularity for k in range(cat.count)]
            )
            self.channel_choice[name] = Weighted(list(cat.channels), list(cat.channels.values()))
        self.spending = {
            s: Weighted(list(seg.categories), list(seg.categories.values()))
            for s, seg in segments.items()
        }
        self.atm_choice = {
            s: Weighted(
                [_cents(a.amount) for a in seg.atm_amounts], [a.weight for a in seg.atm_amounts]
            )
            for s, seg in segments.items()
        }
        # Segments i.i.d. per customer: counts by multinomial, then a uniform permutation.
        n, names = params.customers.size, list(segments)
        counts = rng.multinomial(n, [seg.share for seg in segments.values()])
        codes = rng.permutation(np.repeat(np.arange(len(names)), counts))
        self.customers = [Customer(self, names[c]) for c in codes.tolist()]
        if params.social is not None:
            network = build_contacts(
                params.population(), {"social": params.social}, np.zeros(n, np.int8), rng
            )
            ptr, neighbours = network.indptr.tolist(), network.indices.tolist()
            for i, customer in enumerate(self.customers):
                customer.friends = [self.customers[j] for j in neighbours[ptr[i] : ptr[i + 1]]]
        accounts = rng.permutation(n + len(self.merchants)).tolist()
        for agent, account in zip(self.customers + self.merchants, accounts, strict=True):
            agent.account = account
        # 1-3 devices each, their ids a permutation: ids say nothing about their owner.
        n_devices = rng.integers(1, 4, size=n).tolist()
        ids = iter(rng.permutation(sum(n_devices)).tolist())
        for customer, k in zip(self.customers, n_devices, strict=True):
            customer.devices = [next(ids) for _ in range(k)]

    def release(self) -> None:
        """Let the model be garbage collected: Mesa 3.3's class-level ``Agent._ids`` keeps a
        counter per model, which holds the model and all its agents alive otherwise."""
        mesa.Agent._ids.pop(self, None)

    def draw_time(self, d: int) -> float:
        """A time of day ``d`` (in days): an hour by the hourly weights, uniform within it."""
        return d + (self.hour_choice.draw(self.rng) + self.rng.random()) / 24

    def boost(self, today: datetime, payday: int) -> float:
        """The card multiplier of ``today``: ``payday_boost`` on the ``payday_days`` days from
        the latest payday (inclusive; the window runs on into the next month), else 1."""
        season = self.params.seasonality
        if today.day >= payday:
            since = today.day - payday
        else:  # the latest payday was last month
            last_month = today.replace(day=1) - timedelta(days=1)
            since = today.day + calendar.monthrange(last_month.year, last_month.month)[1] - payday
        return season.payday_boost if since < season.payday_days else 1.0

    def step(self) -> None:
        """One day: every customer plans its transactions, then the ledger is applied in time
        order (Python's sort is stable: ties keep the planning order)."""
        self.today = self.start + timedelta(days=self.day)
        self.ledger = []
        self.agents_by_type[Customer].do("plan_day")
        self.ledger.sort(key=lambda p: p.time)
        for p in self.ledger:
            self.attempts[p.tx_type] += 1
            self.amounts[p.tx_type] += p.amount
            if p.payer is not None:
                if p.payer.balance - p.amount < -p.payer.overdraft:
                    self.declines[p.tx_type] += 1
                    continue
                p.payer.balance -= p.amount
            if p.payee is not None:
                p.payee.balance += p.amount
        self.day += 1

    @property
    def transactions(self) -> int:
        """Attempted transactions so far (successful ones plus declines)."""
        return sum(self.attempts.values())
