"""Payments: a retail bank's ledger, from customers' salaries, bills, card payments, transfers
and cash, with labelled fraud and money-laundering typologies and legitimate decoys, as a Mesa
model with Numba kernels.

The model (:class:`~payments_model.PaymentsModel`) steps in days; this simulator runs it to the
horizon (``floor(horizon / day)`` days), scales times to the scenario's unit and yields its
events in batches of at most ``ctx.batch_events`` rows.

Log conventions:

- ``account_open`` for every account at t = 0 (customers' accounts in id order, then merchants'):
  ``entity_id`` and ``to_account`` the account, ``amount`` and ``balance_after`` its opening
  balance; a merchant's carries its ``merchant`` index and ``category``.
- ``transaction`` (``tx_type`` card, bill, p2p, salary, atm or cash_in) and ``decline`` (the same
  columns as the attempted transaction, ``balance_after`` null). ``entity_id`` is the payer's
  account, or the payee's for salary and cash-in; ``from_account`` is null for money from
  outside the bank (salary, cash-in), ``to_account`` null for money leaving it (ATM);
  ``merchant`` and ``category`` are set on card payments and bills; ``device`` on online and
  mobile card payments. ``balance_after`` is the debited account's balance after a debit, or the
  credited customer's after a credit from outside.
- Fraud and laundering steps are transactions (or declines) like the others, labelled with their
  typology in ``rare_kind`` (``rare`` true); each step's ``cause`` is the step of the episode it
  follows from, so an episode is one tree in the log. ``cause``, ``rare_kind`` and ``decoy`` are
  the ground truth: what a detector must find, not what it may read. Decoy steps (legitimate
  structures that look like typologies) carry their kind in ``decoy`` and are not rare.
- ``alert`` (the bank's monitoring flags the account ``entity_id``; caused by the episode's last
  step, labelled like it: a false alert on a decoy is not rare) and ``account_freeze`` (debits
  from the account are declined from then on). Their ``amount``, ``tx_type`` and
  ``balance_after`` are null.
- Amounts are in the scenario's ``currency`` (one code, in the ``currency`` column), exact to
  the cent: the model keeps balances in integer cents, so replaying the log reproduces them
  exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa

from eventforge.events import (
    EventSpec,
    Lifecycle,
    categorical,
    decoded,
    masked,
    value_counts,
)
from eventforge.scenario.types import StrictModel
from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from eventforge.simulators.agent_based.payments_typology_params import (
    DECOYS,
    TYPOLOGIES,
    PaymentsRareEvents,
)
from eventforge.simulators.base import Simulator, Summary

if TYPE_CHECKING:
    from eventforge.simulators.agent_based.payments_model import DayEvents, PaymentsModel

__all__ = ["Payments", "PaymentsParams"]

_DICT = pa.dictionary(pa.int32(), pa.string())

#: An account opens before anything else happens to it, and is frozen at most once (a frozen
#: account still receives money, and its attempts to pay are declines).
LIFECYCLE = Lifecycle(
    initial="new",
    transitions={
        ("new", "account_open"): "open",
        ("open", "transaction"): "open",
        ("open", "decline"): "open",
        ("open", "alert"): "open",
        ("open", "account_freeze"): "frozen",
        ("frozen", "transaction"): "frozen",
        ("frozen", "decline"): "frozen",
        ("frozen", "alert"): "frozen",
    },
)


class Payments(Simulator):
    """A bank's ledger with labelled fraud and laundering (see the module doc)."""

    name: ClassVar[str] = "payments"
    description: ClassVar[str] = (
        "a bank's ledger: customer segments with salaries, bills, card payments by merchant "
        "category, P2P transfers on a social graph, cash; paydays and weekly/hourly "
        "seasonality; fraud and laundering typologies labelled, decoys, alerts and freezes"
    )
    Params: ClassVar[type[StrictModel]] = PaymentsParams
    RareEvents: ClassVar[type[StrictModel]] = PaymentsRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=("account_open", "transaction", "decline", "account_freeze", "alert"),
        rare_kinds=tuple(TYPOLOGIES),
        columns=(
            pa.field("tx_type", _DICT, nullable=True),
            pa.field("amount", pa.float64(), nullable=True),
            pa.field("currency", _DICT, nullable=False),
            pa.field("from_account", pa.int64(), nullable=True),
            pa.field("to_account", pa.int64(), nullable=True),
            pa.field("merchant", pa.int32(), nullable=True),
            pa.field("category", _DICT, nullable=True),
            pa.field("channel", _DICT, nullable=True),
            pa.field("device", pa.int64(), nullable=True),
            pa.field("balance_after", pa.float64(), nullable=True),
            pa.field("decoy", _DICT, nullable=True),
        ),
        lifecycle=LIFECYCLE,
        descriptions={
            "tx_type": "card, bill, p2p, salary, atm or cash_in (null for account_open, alert "
            "and account_freeze)",
            "amount": "amount in the currency (the opening balance for account_open; null for "
            "alert and account_freeze)",
            "currency": "ISO 4217 code of the amounts",
            "from_account": "the debited account (null: money from outside the bank)",
            "to_account": "the credited account (null: money leaving the bank)",
            "merchant": "the merchant's index (card payments, bills, merchants' account_open)",
            "category": "the merchant's category",
            "channel": "pos, online, mobile, atm, branch or transfer",
            "device": "the customer's device (online and mobile card payments)",
            "balance_after": "the debited account's balance after a debit, or the credited "
            "customer's after a credit from outside (null for declines, alerts and freezes)",
            "decoy": "the kind of legitimate look-alike of a typology a step belongs to "
            "(family_fan_out, invoice_fan_in; ground truth, like rare_kind)",
        },
    )

    #: A day at a million customers is ~1.5 M rows, six batches: room for a day and a half, so
    #: that the next day is simulated while this one is written (end to end 19% faster at a
    #: million customers than with two batches).
    write_ahead: ClassVar[int] = 8

    def run(self) -> Iterator[pa.RecordBatch]:
        p: PaymentsParams = self.params  # type: ignore[assignment]
        day_units = 86400.0 / self.ctx.time_unit_s
        days = math.floor(self.ctx.horizon / day_units + 1e-9)
        if days < 1:
            raise ValueError(f"horizon {self.ctx.horizon:g} is under one day")
        # Mesa (with SciPy, pandas and networkx: ~0.8 s) is imported by runs of Mesa models
        # only, not by every command that lists or validates models.
        from eventforge.simulators.agent_based.payments_model import PaymentsModel

        model = PaymentsModel(p, self.rare_events, self.rng, day_units, self.ctx.start, days=days)
        self.model = model
        self._summary: Summary = {}
        tally = _Tally()
        try:
            yield from self._openings(model, tally)
            pending: list[DayEvents] = []
            held = 0
            step = self.ctx.batch_events
            for _ in range(days):
                model.step()  # Mesa's step wrapper drops the return value
                day = model.day_events
                assert day is not None
                if day.first_seq != self.builder.next_seq + held:
                    raise RuntimeError("payments: the model's seq numbers and the log's disagree")
                tally.add_day(model.day_tally)
                pending.append(day)
                held += len(day)
                # Flush from an eighth of a batch: a day of a large bank goes out as it is
                # (joining days copies them: 6% of a 100k-customer run when joined up to half a
                # batch; the Parquet sink gathers batches into row groups anyway); the days of
                # a small bank are joined so that batches do not get tiny.
                if held >= step // 8:
                    yield from self._batches(self._join(pending), model, day_units)
                    pending, held = [], 0
            if held:
                yield from self._batches(self._join(pending), model, day_units)
            tally.balances(model.balances(), model.acct[model.n_customers :])
            self._summary = tally.finish()
        finally:
            model.release()

    def _openings(self, model: PaymentsModel, tally: _Tally) -> Iterator[pa.RecordBatch]:
        """``account_open`` of every account at t = 0: customers' in id order, then merchants'."""
        n = model.n_customers
        owners = np.concatenate((np.argsort(model.acct[:n]), n + np.argsort(model.acct[n:])))
        tally.counts["events.account_open"] = int(owners.shape[0])
        merchant = np.where(owners >= n, owners - n, -1)
        category = np.where(owners >= n, model.merchant_cat[np.maximum(merchant, 0)], -1)
        step = self.ctx.batch_events
        for lo in range(0, owners.shape[0], step):
            o = owners[lo : lo + step]
            m = merchant[lo : lo + step]
            opening = model.opening[o] / 100.0
            account = model.acct[o]
            yield self.builder.build(
                np.zeros(o.shape[0]),
                account,
                np.full(o.shape[0], K.ACCOUNT_OPEN),
                columns={
                    "amount": opening,
                    "currency": categorical(np.zeros(o.shape[0]), [model.params.currency]),
                    "to_account": account,
                    "merchant": masked(m, m < 0, pa.int32()),
                    "category": categorical(category[lo : lo + step], model.category_names),
                    "balance_after": opening,
                },
            )

    @staticmethod
    def _join(days: list[DayEvents]) -> DayEvents:
        return days[0] if len(days) == 1 else days[0].concat(days)

    def _batches(
        self, events: DayEvents, model: PaymentsModel, day_units: float
    ) -> Iterator[pa.RecordBatch]:
        """``events`` as batches of at most ``ctx.batch_events`` rows."""
        step = self.ctx.batch_events
        for lo in range(0, len(events), step):
            e = events.rows(lo, min(lo + step, len(events)))
            yield self.builder.build(
                e.time * day_units,
                e.entity,
                e.event,
                cause=e.cause,
                rare_kind=e.rare,
                columns={
                    "tx_type": categorical(
                        np.where(e.tx_type < K.ALERT, e.tx_type, -1), K.TX_TYPES
                    ),
                    "amount": masked(e.cents / 100.0, e.tx_type >= K.ALERT),
                    "currency": categorical(np.zeros(len(e)), [model.params.currency]),
                    "from_account": masked(e.from_account, e.from_account < 0),
                    "to_account": masked(e.to_account, e.to_account < 0),
                    "merchant": masked(e.merchant, e.merchant < 0, pa.int32()),
                    "category": categorical(e.category, model.category_names),
                    "channel": categorical(e.channel, K.CHANNEL_NAMES),
                    "device": masked(e.device, e.device < 0),
                    "balance_after": masked(e.balance_after / 100.0, e.event != K.TRANSACTION),
                    "decoy": categorical(e.decoy, tuple(DECOYS)),
                },
            )

    def summary(self) -> Summary:
        """Events by type; transactions, declines and money moved (cents) by ``tx_type``; events
        by typology (``rare.*``) and by decoy (``decoy.*``); final sums of customers' and
        merchants' balances (cents), accounts below 0, and the checksum
        ``sum(balance_cents * (1 + account % 97))`` over every account."""
        return self._summary

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        tally = _Tally()
        balance = np.zeros(0, dtype=np.int64)
        merchant = np.zeros(0, dtype=np.bool_)
        for batch in batches:
            event = decoded(batch.column("event"))
            amount = batch.column("amount").fill_null(0.0).to_numpy()
            cents = np.rint(amount * 100.0).astype(np.int64)
            frm = batch.column("from_account").fill_null(-1).to_numpy()
            to = batch.column("to_account").fill_null(-1).to_numpy()
            opened = event == "account_open"
            if opened.any():
                ids = np.asarray(batch.column("entity_id"))[opened]
                top = int(ids.max()) + 1
                if top > len(balance):
                    balance = np.concatenate((balance, np.zeros(top - len(balance), np.int64)))
                    merchant = np.concatenate((merchant, np.zeros(top - len(merchant), np.bool_)))
                balance[ids] = cents[opened]
                merchant[ids] = batch.column("merchant").is_valid().to_numpy(False)[opened]
            done = event == "transaction"
            out = done & (frm >= 0)
            np.subtract.at(balance, frm[out], cents[out])
            into = done & (to >= 0)
            np.add.at(balance, to[into], cents[into])
            kind = decoded(batch.column("tx_type"))
            tally.add(
                value_counts(event),
                value_counts(kind[done]),
                value_counts(kind[event == "decline"]),
                {k: int(cents[done & (kind == k)].sum()) for k in K.TX_TYPES},
                value_counts(decoded(batch.column("rare_kind"))),
                value_counts(decoded(batch.column("decoy"))),
            )
        tally.balances(balance, np.flatnonzero(merchant))
        return tally.finish()


class _Tally:
    """The summary's figures, accumulated from the model's days or from a log's batches (by
    name, so that a sink's re-encoding of a dictionary cannot skew a replay)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def _bump(self, group: str, named: dict[str, int]) -> None:
        for name, c in named.items():
            key = f"{group}.{name}"
            self.counts[key] = self.counts.get(key, 0) + c

    def add_day(self, tally: np.ndarray) -> None:
        """One day of the model's events, from its tally (``payments_kernels.T_*`` rows)."""

        def named(row: int, names: tuple[str, ...]) -> dict[str, int]:
            return {k: int(c) for k, c in zip(names, tally[row].tolist(), strict=False) if c}

        types = len(K.TX_TYPES)
        events = {
            "transaction": int(tally[K.T_WRITTEN, :types].sum()),
            "decline": int(tally[K.T_DECLINED].sum()),
            "alert": int(tally[K.T_WRITTEN, K.ALERT]),
            "account_freeze": int(tally[K.T_WRITTEN, K.FREEZE]),
        }
        self.add(
            {k: v for k, v in events.items() if v},
            named(K.T_WRITTEN, K.TX_TYPES),
            named(K.T_DECLINED, K.TX_TYPES),
            named(K.T_CENTS, K.TX_TYPES),
            named(K.T_RARE, tuple(TYPOLOGIES)),
            named(K.T_DECOY, tuple(DECOYS)),
        )

    def add(
        self,
        events: dict[str, int],
        done: dict[str, int],
        declined: dict[str, int],
        money: dict[str, int],
        rare: dict[str, int],
        decoy: dict[str, int],
    ) -> None:
        """Counts of events, transactions and declines by type, cents moved by type, and
        events by typology and by decoy."""
        self._bump("events", events)
        self._bump("transactions", done)
        self._bump("declines", declined)
        self._bump("cents", {k: v for k, v in money.items() if v})
        self._bump("rare", rare)
        self._bump("decoy", decoy)

    def balances(self, by_account: np.ndarray, merchants: np.ndarray) -> None:
        """The final balances (cents by account id) and which accounts are merchants'."""
        is_merchant = np.zeros(by_account.shape[0], dtype=np.bool_)
        is_merchant[merchants] = True
        ids = np.arange(by_account.shape[0], dtype=np.int64)
        self.counts["balance.customers"] = int(by_account[~is_merchant].sum())
        self.counts["balance.merchants"] = int(by_account[is_merchant].sum())
        self.counts["accounts_below_zero"] = int(np.count_nonzero(by_account < 0))
        self.counts["checksum"] = int((by_account * (1 + ids % 97)).sum())

    def finish(self) -> Summary:
        """The summary, keys sorted."""
        return dict(sorted(self.counts.items()))
