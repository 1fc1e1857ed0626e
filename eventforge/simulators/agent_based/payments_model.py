"""The payments ledger as a Mesa model: the model owns the arrays, the agents are views of them.

:class:`PaymentsModel` holds every account's state in NumPy arrays indexed by *owner* (customer
``i`` is owner ``i``, merchant ``m`` owner ``N + m``): balances and overdraft limits in integer
cents, the customers' segments, salaries, bill payees, devices and social CSR, and ``acct``, the
random permutation that gives each owner its account id (ids carry no information about who owns
them). :class:`Customer` and :class:`Merchant` are real ``mesa.Agent`` s whose properties read
their row, created on the first use of :attr:`PaymentsModel.agents`. :meth:`PaymentsModel.step`
runs one day as two kernel calls: :func:`payments_kernels.generate_day` writes the day's
legitimate transactions, the day's steps of the fraud, laundering and decoy episodes are copied
after them from the run's :class:`~payments_typologies.Plan` (drawn when the model is built), and
:func:`payments_kernels.apply_day` sorts and applies them all.

Random numbers: everything comes from the one Generator passed in, in this order: Mesa's
constructor draws one integer, then the segments (multinomial, permutation), the account
permutation, each customer's device count (1-3) and the device-id permutation, the salaries and
opening balances (lognormal, by customer), each customer's payee of each of its segment's bills
(bills in segment order, customers ascending), the social layer, the plan of episodes
(:func:`~payments_typologies.make_plan`, only when ``rare_events`` has any); then each day's
:func:`~payments_kernels.generate_day`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType

import mesa
import numpy as np

from eventforge.scenario.types import StrictModel
from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.contacts import (
    PopulationSpec,
    build_contacts,
    build_population,
)
from eventforge.simulators.agent_based.payments_params import (
    CHANNELS,
    PaymentsParams,
    Segment,
    cumulative,
)
from eventforge.simulators.agent_based.payments_typologies import Plan, make_plan, plan_context
from eventforge.simulators.agent_based.payments_typology_params import PaymentsRareEvents

__all__ = ["Customer", "DayEvents", "Merchant", "PaymentsModel", "cents"]


def cents(amounts: np.ndarray) -> np.ndarray:
    """Amounts rounded to the cent, as int64 cents, at least one (like the kernels' draws)."""
    return np.maximum(1, np.floor(np.asarray(amounts) * 100.0 + 0.5)).astype(np.int64)


@dataclass(frozen=True)
class DayEvents:
    """Events sorted by time (stable), ``seq = first_seq + row``: one day, or consecutive days
    joined by :meth:`concat`.

    ``time`` is in days; ``entity`` the acting account (the payer; the payee of salary and
    cash-in; the account of an alert or freeze); ``balance_after`` in cents (meaningless unless
    the event is a transaction); ``cols[c]`` column ``c < payments_kernels.N_OUT`` of the rows,
    contiguous, read through the properties: accounts are ids or -1 (outside the bank);
    ``tx_type`` beyond ``TX_TYPES`` for alerts and freezes; ``merchant``, ``category``,
    ``device``, ``cause``, ``rare`` and ``decoy`` -1 where absent; ``cents`` the amount (0 for
    alerts and freezes)."""

    first_seq: int
    time: np.ndarray
    event: np.ndarray
    entity: np.ndarray
    balance_after: np.ndarray
    cols: np.ndarray

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @classmethod
    def concat(cls, days: list[DayEvents]) -> DayEvents:
        """Consecutive days (or pieces) as one."""
        return cls(
            first_seq=days[0].first_seq,
            time=np.concatenate([d.time for d in days]),
            event=np.concatenate([d.event for d in days]),
            entity=np.concatenate([d.entity for d in days]),
            balance_after=np.concatenate([d.balance_after for d in days]),
            cols=np.concatenate([d.cols for d in days], axis=1),
        )

    def rows(self, lo: int, hi: int) -> DayEvents:
        """Rows ``lo:hi`` (views)."""
        return DayEvents(
            first_seq=self.first_seq + lo,
            time=self.time[lo:hi],
            event=self.event[lo:hi],
            entity=self.entity[lo:hi],
            balance_after=self.balance_after[lo:hi],
            cols=self.cols[:, lo:hi],
        )

    tx_type = property(lambda self: self.cols[K.C_TYPE], doc="code of ``TX_TYPES``")
    from_account = property(lambda self: self.cols[K.C_FROM], doc="debited account or -1")
    to_account = property(lambda self: self.cols[K.C_TO], doc="credited account or -1")
    merchant = property(lambda self: self.cols[K.C_MERCHANT], doc="merchant index or -1")
    category = property(lambda self: self.cols[K.C_CATEGORY], doc="category code or -1")
    channel = property(lambda self: self.cols[K.C_CHANNEL], doc="code of ``CHANNEL_NAMES``")
    device = property(lambda self: self.cols[K.C_DEVICE], doc="device id or -1")
    cents = property(lambda self: self.cols[K.C_CENTS], doc="amount in cents")
    cause = property(lambda self: self.cols[K.C_CAUSE], doc="``seq`` of the cause or -1")
    rare = property(lambda self: self.cols[K.C_RARE], doc="rare-kind code or -1")
    decoy = property(lambda self: self.cols[K.C_DECOY], doc="decoy code or -1")


class _Account(mesa.Agent):
    model: PaymentsModel

    @property
    def owner(self) -> int:
        """The row in the model's arrays (Mesa's ``unique_id`` counts from 1)."""
        return int(self.unique_id) - 1

    @property
    def account(self) -> int:
        """The account id, as written in the log."""
        return int(self.model.acct[self.owner])

    @property
    def balance(self) -> float:
        """The balance now, in the scenario's currency."""
        return int(self.model.balance[self.owner]) / 100.0


class Customer(_Account):
    """A bank customer: a view of row :attr:`owner` of its model's arrays."""

    @property
    def segment(self) -> str:
        """Name of the customer's segment."""
        return self.model.segment_names[self.model.seg[self.owner]]

    @property
    def salary(self) -> float:
        """Monthly net salary, in the currency."""
        return int(self.model.salary[self.owner]) / 100.0

    @property
    def devices(self) -> np.ndarray:
        """Ids of the customer's devices."""
        m = self.model
        return m.dev_ids[m.dev_ptr[self.owner] : m.dev_ptr[self.owner + 1]]

    @property
    def contacts(self) -> np.ndarray:
        """Customers (owner indices) the customer may send transfers to."""
        m = self.model
        return m.indices[m.indptr[self.owner] : m.indptr[self.owner + 1]]


class Merchant(_Account):
    """A merchant: a view of row :attr:`owner` (``N + m``) of its model's arrays."""

    @property
    def category(self) -> str:
        """Name of the merchant's category."""
        m = self.model
        return m.category_names[m.merchant_cat[self.owner - m.n_customers]]


class PaymentsModel(mesa.Model):
    """The legitimate ledger of ``params`` stepping in days from ``start`` (the calendar of day
    ``d`` is that of ``start + d days``).

    ``day_units`` is scenario time units per day (kept for the simulator: times here are in
    days). ``rare`` (a :class:`PaymentsRareEvents`) with any typology, decoy or scripted episode
    needs ``days``, the run's length: its episodes are planned for it (:attr:`plan`).
    ``kernels`` is the module of day kernels: the tests pass :mod:`payments_reference`.
    ``step()`` runs day ``self.day`` and leaves its events in :attr:`day_events`.
    """

    def __init__(
        self,
        params: PaymentsParams,
        rare: StrictModel,
        rng: np.random.Generator,
        day_units: float,
        start: datetime,
        *,
        days: int | None = None,
        kernels: ModuleType = K,
    ) -> None:
        super().__init__(rng=rng)  # Mesa keeps this very Generator as self.rng
        self.kernels = kernels
        self.params, self.rare, self.day_units, self.start = params, rare, day_units, start
        segments = list(params.customers.segments.values())
        self.segment_names = tuple(params.customers.segments)
        cats = params.merchants.categories
        self.category_names = tuple(cats)
        n = self.n_customers = params.customers.size
        counts = np.array([c.count for c in cats.values()], dtype=np.int64)
        m = self.n_merchants = int(counts.sum())
        # Segments like age groups: multinomial counts, then a permutation (shares may be 0
        # here, which PopulationSpec's validation refuses, hence model_construct).
        shares = {k: s.share for k, s in params.customers.segments.items()}
        self.seg = build_population(PopulationSpec.model_construct(size=n, age_groups=shares), rng)
        self.acct = rng.permutation(n + m).astype(np.int64)
        n_dev = rng.integers(1, 4, size=n)
        self.dev_ptr = np.concatenate(([0], np.cumsum(n_dev))).astype(np.int64)
        self.dev_ids = rng.permutation(int(self.dev_ptr[-1])).astype(np.int64)
        salary = np.array([s.salary.log_params() for s in segments])[self.seg]
        self.salary = cents(rng.lognormal(salary[:, 0], salary[:, 1]))
        opening = np.array([s.opening_balance.log_params() for s in segments])[self.seg]
        self.balance = np.zeros(n + m, dtype=np.int64)
        self.balance[:n] = cents(rng.lognormal(opening[:, 0], opening[:, 1]))
        self.opening = self.balance.copy()
        self.limit = np.zeros(n + m, dtype=np.int64)
        overdraft = np.array([s.overdraft for s in segments])
        self.limit[:n] = np.floor(overdraft * 100.0 + 0.5).astype(np.int64)[self.seg]
        # Merchants: category blocks in listed order, Zipf popularity within each.
        self.merch_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.merchant_cat = np.repeat(np.arange(len(cats), dtype=np.int64), counts)
        self.merch_cum = np.concatenate(
            [cumulative(1.0 / np.arange(1, c.count + 1) ** c.popularity) for c in cats.values()]
        )
        # Categories without a purchase amount are never drawn by card (validation): (0, 0).
        amounts = [(0.0, 0.0) if c.amount is None else (math.log(c.amount.median),
                   c.amount.sigma) for c in cats.values()]  # fmt: skip
        self.amount_mu, self.amount_sigma = np.ascontiguousarray(np.array(amounts).T)
        self.channel_cum = cumulative(
            [[c.channels.get(ch, 0.0) for ch in CHANNELS] for c in cats.values()]
        )
        self.cat_cum = cumulative([[s.categories.get(c, 0.0) for c in cats] for s in segments])
        season = params.seasonality
        self.hour_cum = cumulative(season.hourly)
        self._segment_tables(segments)
        self._draw_payees(segments, rng)
        if params.social is None:
            self.indptr = np.zeros(n + 1, dtype=np.int64)
            self.indices = np.zeros(0, dtype=np.int32)
        else:
            age = np.zeros(n, dtype=np.int8)
            net = build_contacts(params.population(), {"social": params.social}, age, rng)
            self.indptr, self.indices = net.indptr, net.indices
        self.frozen = np.zeros(n + m, dtype=np.bool_)
        self.plan = self._plan(rare, days, rng)
        self.step_seq = np.full(len(self.plan), -1, dtype=np.int64)
        self.step_cents = np.zeros(len(self.plan), dtype=np.int64)
        self.day = 0
        self.n_events = n + m  # the account_open events come first
        self.day_events: DayEvents | None = None
        #: The last day's counts (``payments_kernels.T_*`` rows).
        self.day_tally = np.zeros((5, K.TALLY_WIDTH), dtype=np.int64)
        # Room for a busy day's rows from the start: grown from a small buffer by doubling, the
        # first day's copies and fresh pages took ~1 s at a million customers.
        busiest = self.card_per_day * max(season.weekly) * season.payday_boost
        per_customer = busiest + self.p2p_rate + self.atm_rate + self.cash_rate + 1.0
        rows = 1024 + int(np.bincount(self.seg, minlength=len(segments)) @ per_customer)
        self._tx_time = np.empty(rows)
        self._tx = np.empty((rows, K.N_COLS), dtype=np.int64)
        self._buffers = K.DayBuffers()
        # The daily draws' numbers, from here on the only use of the generator.
        self._uniforms = K.Uniforms(rng)
        self._agents_made = False

    def _plan(self, rare: StrictModel, days: int | None, rng: np.random.Generator) -> Plan:
        """The run's episodes; an empty plan (and no draws) when ``rare`` has none."""
        if not (isinstance(rare, PaymentsRareEvents) and rare.configured()):
            empty = np.zeros(0, dtype=np.int64)
            rows = np.zeros((0, K.N_COLS), dtype=np.int64)
            return Plan(np.zeros(0), rows, empty, {}, None)
        if days is None:
            raise ValueError("a model with rare events needs the run's length (days)")
        plan = make_plan(plan_context(self, days), rare, int(self.dev_ptr[-1]), rng)
        if plan.device_ids is not None:
            self.dev_ids = plan.device_ids[self.dev_ids]
        return plan

    def _segment_tables(self, segments: list[Segment]) -> None:
        """Per-segment rates and amount parameters, and the bills table, for the kernels."""
        nil = (0.0, 0.0)
        self.card_per_day = np.array([s.card_per_day for s in segments])
        self.payday = np.array([s.payday for s in segments], dtype=np.int64)
        self.p2p_rate = np.array([s.p2p_per_day for s in segments])
        p2p = np.array(
            [nil if s.p2p_amount is None else s.p2p_amount.log_params() for s in segments]
        )
        self.p2p_mu, self.p2p_sigma = np.ascontiguousarray(p2p.T)
        self.atm_rate = np.array([s.atm_per_day for s in segments])
        width = max(1, max(len(s.atm_amounts) for s in segments))
        weights = np.zeros((len(segments), width))
        self.atm_cents = np.ones((len(segments), width), dtype=np.int64)
        for k, s in enumerate(segments):
            for j, a in enumerate(s.atm_amounts):
                weights[k, j], self.atm_cents[k, j] = a.weight, cents(np.array(a.amount))
        self.atm_cum = cumulative(weights)
        self.cash_rate = np.array([s.cash_in_per_day for s in segments])
        cash = np.array(
            [nil if s.cash_in_amount is None else s.cash_in_amount.log_params() for s in segments]
        )
        self.cash_mu, self.cash_sigma = np.ascontiguousarray(cash.T)
        bills = [b for s in segments for b in s.bills]
        self.bill_ptr = np.concatenate(([0], np.cumsum([len(s.bills) for s in segments])))
        self.bill_ptr = self.bill_ptr.astype(np.int64)
        self.bill_dom = np.array([b.day for b in bills], dtype=np.int64)
        params = np.array([b.amount.log_params() for b in bills]).reshape(len(bills), 2)
        self.bill_mu, self.bill_sigma = np.ascontiguousarray(params.T)
        self.bill_cat = np.array(
            [self.category_names.index(b.category) for b in bills], dtype=np.int64
        )

    def _draw_payees(self, segments: list[Segment], rng: np.random.Generator) -> None:
        """``payee[i, k]``: the merchant customer ``i`` pays its segment's ``k``-th bill to."""
        width = max(len(s.bills) for s in segments)
        self.payee = np.full((self.n_customers, width), -1, dtype=np.int64)
        for code in range(len(segments)):
            members = np.flatnonzero(self.seg == code)
            for k in range(int(self.bill_ptr[code + 1] - self.bill_ptr[code])):
                c = self.bill_cat[self.bill_ptr[code] + k]
                lo, hi = self.merch_ptr[c], self.merch_ptr[c + 1]
                u = rng.random(members.shape[0])
                self.payee[members, k] = lo + np.searchsorted(self.merch_cum[lo:hi], u, "right")

    # --- Mesa agents --------------------------------------------------------------------------

    @property
    def agents(self) -> mesa.agent.AgentSet:
        """All agents (:class:`Customer` then :class:`Merchant` views), created on first use:
        Mesa 3.3 registers each agent in three containers (~10 us and ~480 bytes each), which a
        run that only writes the log never needs."""
        if not self._agents_made:
            self._agents_made = True
            Customer.create_agents(self, self.n_customers)
            Merchant.create_agents(self, self.n_merchants)
        return super().agents

    @property
    def agents_by_type(self) -> dict[type[mesa.Agent], mesa.agent.AgentSet]:
        """Agents by class, created on first use like :attr:`agents`."""
        _ = self.agents
        return super().agents_by_type

    # --- one day ------------------------------------------------------------------------------

    def calendar(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Day ``day``'s per-segment inputs: salary today, card rate (weekly and payday factors
        applied), and which bills are due. The boost lasts ``payday_days`` from payday,
        inclusive, across a month's end too."""
        season = self.params.seasonality
        date = self.start + timedelta(days=day)
        salary_today = self.payday == date.day
        boosted = np.zeros_like(salary_today)
        for back in range(season.payday_days):
            boosted |= self.payday == (date - timedelta(days=back)).day
        factor = np.where(boosted, season.payday_boost, 1.0)
        card_rate = self.card_per_day * season.weekly[date.weekday()] * factor
        return salary_today, card_rate, self.bill_dom == date.day

    def step(self) -> DayEvents:
        """Run day ``self.day``: generate the customers' transactions, apply them in time
        order; events in :attr:`day_events`."""
        salary_today, card_rate, bill_due = self.calendar(self.day)
        n, self._tx_time, self._tx = self.kernels.generate_day(
            self.day, self.seg, salary_today, self.salary, self.bill_ptr, bill_due,
            self.bill_mu, self.bill_sigma, self.payee, self.merchant_cat, card_rate,
            self.cat_cum, self.merch_ptr, self.merch_cum, self.amount_mu, self.amount_sigma,
            self.channel_cum, self.hour_cum, self.dev_ptr, self.dev_ids, self.indptr,
            self.indices, self.p2p_rate, self.p2p_mu, self.p2p_sigma, self.atm_rate,
            self.atm_cum, self.atm_cents, self.cash_rate, self.cash_mu, self.cash_sigma,
            self._tx_time, self._tx, 0, self._reserve(card_rate), self._uniforms,
        )  # fmt: skip
        n = self._inject(n)
        time, cols, event, after, entity, self.day_tally = self.kernels.apply_day(
            self._tx_time, self._tx, n, self.balance, self.limit, self.frozen, self.acct,
            self.n_events, self.step_seq, self.step_cents, self._buffers,
        )  # fmt: skip
        first, self.n_events = self.n_events, self.n_events + time.shape[0]
        self.day_events = DayEvents(first, time, event, entity, after, cols)
        self.day += 1
        return self.day_events

    def _inject(self, n: int) -> int:
        """Copy today's planned steps after the ``n`` legitimate rows; return the row count."""
        ptr = self.plan.day_ptr
        if self.day + 1 >= ptr.shape[0]:
            return n
        lo, hi = int(ptr[self.day]), int(ptr[self.day + 1])
        if hi > lo:
            self._tx_time, self._tx = K.grow(self._tx_time, self._tx, n, n + hi - lo)
            self._tx_time[n : n + hi - lo] = self.plan.time[lo:hi]
            self._tx[n : n + hi - lo] = self.plan.rows[lo:hi]
        return n + hi - lo

    def _reserve(self, card_rate: np.ndarray) -> int:
        """A bound on the rows one customer writes in a day: its salary and bills, and for each
        Poisson count of mean ``lam`` (the largest over segments) ``lam + 14 sqrt(lam) + 30``,
        which a count exceeds with probability < 1e-30 (Chernoff bound of the Poisson tail)."""
        rows = 1 + int(np.diff(self.bill_ptr).max())
        for rates in (card_rate, self.p2p_rate, self.atm_rate, self.cash_rate):
            lam = float(rates.max())
            rows += math.ceil(lam + 14.0 * math.sqrt(lam) + 30.0)
        return rows

    def balances(self) -> np.ndarray:
        """int64 cents by account id: ``balances()[a]`` is account ``a``'s balance now."""
        out = np.empty_like(self.balance)
        out[self.acct] = self.balance
        return out

    def release(self) -> None:
        """Let the model be garbage collected: Mesa 3.3's ``Agent._ids`` keeps a class-level
        counter per model, which holds the model (and its agents and arrays) alive forever."""
        mesa.Agent._ids.pop(self, None)
