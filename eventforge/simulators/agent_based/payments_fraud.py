"""Planners of the fraud typologies (account takeover, card testing, bust-out) and of the decoys
(family fan-out, invoice fan-in): thin typed wrappers of :mod:`payments_fraud_kernels`.

Each ``plan_<kind>`` has the :data:`~payments_typologies.Planner` signature plus ``kernels``, the
module of kernels (the tests pass :mod:`payments_fraud_reference`): it unpacks the kind's
parameters (durations to days, lognormal medians to log-means), sizes the output buffers from a
bound on the rows per episode, and is its kernel's only caller. The random draws of each kind,
in order, are listed in its kernel's docstring.
"""

from __future__ import annotations

import math
from datetime import timedelta
from types import ModuleType

import numpy as np

from eventforge.simulators.agent_based import payments_fraud_kernels as K
from eventforge.simulators.agent_based.payments_kernels import N_COLS, ONLINE, POS
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    Planner,
)
from eventforge.simulators.agent_based.payments_typology_params import (
    AccountTakeover,
    BustOut,
    CardTesting,
    FamilyFanOut,
    InvoiceFanIn,
)

__all__ = [
    "PLANNERS",
    "online_merchants",
    "paydays",
    "plan_account_takeover",
    "plan_bust_out",
    "plan_card_testing",
    "plan_family_fan_out",
    "plan_invoice_fan_in",
]


def _days(duration: list[float], ctx: PlanContext) -> tuple[float, float]:
    """A duration range in scenario units as ``(low, high)`` in days."""
    return float(duration[0]) / ctx.day_units, float(duration[1]) / ctx.day_units


def _range(values: list[float]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def _episodes(
    episodes: EpisodeDraw, kind: str, least: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The draw's arrays with the kernels' dtypes, after checking that every episode has at
    least ``least`` other accounts (the kernels index them without looking)."""
    counts = np.diff(episodes.ptr)
    if len(episodes) and counts.min() < least:
        e = int(np.argmin(counts))
        raise ValueError(
            f"{kind}: episode {e} has {int(counts[e])} other accounts (needs >= {least})"
        )
    return (
        np.ascontiguousarray(episodes.subject, dtype=np.int64),
        np.ascontiguousarray(episodes.start, dtype=np.float64),
        np.ascontiguousarray(episodes.ptr, dtype=np.int64),
        np.ascontiguousarray(episodes.accounts, dtype=np.int64),
    )


def _buffers(bound: int, n_episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.empty(bound),
        np.empty((bound, N_COLS), dtype=np.int64),
        np.empty(n_episodes, dtype=np.int64),
        np.empty(n_episodes, dtype=np.int64),
    )


def _rows(
    n: int, buffers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], new_devices: int
) -> EpisodeRows:
    time, rows, key, last = buffers
    return EpisodeRows(time[:n].copy(), rows[:n].copy(), key, last, new_devices)


def online_merchants(ctx: PlanContext) -> np.ndarray:
    """The merchants whose category has an online channel weight > 0 (ascending, int64)."""
    online = ctx.channel_cum[:, ONLINE] > ctx.channel_cum[:, POS]
    return np.flatnonzero(online[ctx.merchant_cat]).astype(np.int64)


def paydays(ctx: PlanContext) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's paydays in the run as a CSR ``(ptr, days)``: segment ``s``'s are the days
    ``d`` in ``[0, ctx.days)`` whose date (``ctx.start + d`` days) has the day of month
    ``ctx.payday[s]``, as the model's calendar pays salaries."""
    dom = np.array([(ctx.start + timedelta(days=d)).day for d in range(ctx.days)], dtype=np.int64)
    per_segment = [np.flatnonzero(dom == p) for p in ctx.payday]
    ptr = np.concatenate(([0], np.cumsum([len(x) for x in per_segment]))).astype(np.int64)
    days = np.concatenate([np.zeros(0, dtype=np.int64), *per_segment]).astype(np.int64)
    return ptr, days


def plan_account_takeover(
    ctx: PlanContext,
    params: AccountTakeover,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    *,
    kernels: ModuleType = K,
) -> EpisodeRows:
    """Account takeover: drains of the subject to each mule, the mules' ATM withdrawals (see
    :func:`payments_fraud_kernels.account_takeover`). Needs >= 1 mule per episode."""
    subject, start, ptr, accounts = _episodes(episodes, "account_takeover", 1)
    out = _buffers(2 * accounts.shape[0], len(episodes))
    n = kernels.account_takeover(
        subject, start, ptr, accounts, *_range(params.drain), *_days(params.gap, ctx),
        float(params.cash_out), *_days(params.cash_out_delay, ctx), code, rng, *out,
    )  # fmt: skip
    return _rows(n, out, 0)


def plan_card_testing(
    ctx: PlanContext,
    params: CardTesting,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    *,
    kernels: ModuleType = K,
) -> EpisodeRows:
    """Card testing: small online payments from a new device per episode, then maybe a large
    one (see :func:`payments_fraud_kernels.card_testing`). Raises ``ValueError`` if there are
    episodes but no merchant sells online."""
    subject, start, _, _ = _episodes(episodes, "card_testing", 0)
    online = online_merchants(ctx)
    if len(episodes) and online.shape[0] == 0:
        raise ValueError("card_testing: no merchant category has an online channel weight > 0")
    tests = (int(params.tests[0]), int(params.tests[1]))
    out = _buffers(len(episodes) * (tests[1] + 1), len(episodes))
    n = kernels.card_testing(
        subject, start, *tests, *_range(params.amount), *_days(params.gap, ctx),
        float(params.cash_out), math.log(params.cash_out_amount.median),
        float(params.cash_out_amount.sigma), *_days(params.cash_out_delay, ctx), online,
        ctx.merchant_cat, ctx.n_customers, code, rng, *out,
    )  # fmt: skip
    return _rows(n, out, len(episodes))


def plan_bust_out(
    ctx: PlanContext,
    params: BustOut,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    *,
    kernels: ModuleType = K,
) -> EpisodeRows:
    """Bust-out: the subject's burst of purchases spending its available funds (see
    :func:`payments_fraud_kernels.bust_out`)."""
    subject, start, _, _ = _episodes(episodes, "bust_out", 0)
    purchases = (int(params.purchases[0]), int(params.purchases[1]))
    out = _buffers(len(episodes) * purchases[1], len(episodes))
    n = kernels.bust_out(
        subject, start, *purchases, *_range(params.spend), *_days(params.window, ctx), ctx.seg,
        ctx.cat_cum, ctx.merch_ptr, ctx.merch_cum, ctx.channel_cum, ctx.dev_ptr, ctx.dev_ids,
        ctx.n_customers, code, rng, *out,
    )  # fmt: skip
    return _rows(n, out, 0)


def plan_family_fan_out(
    ctx: PlanContext,
    params: FamilyFanOut,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    *,
    kernels: ModuleType = K,
) -> EpisodeRows:
    """Decoy family fan-out: payday transfers to relatives (see
    :func:`payments_fraud_kernels.family_fan_out`); ``episodes.start`` is not used."""
    subject, _, ptr, accounts = _episodes(episodes, "family_fan_out", 0)
    pay_ptr, pay_days = paydays(ctx)
    per_payday = np.diff(pay_ptr)[ctx.seg[subject]]
    out = _buffers(int((np.diff(ptr) * per_payday).sum()), len(episodes))
    n = kernels.family_fan_out(
        subject, ptr, accounts, *_range(params.part), *_days(params.gap, ctx), ctx.seg,
        ctx.salary, pay_ptr, pay_days, code, rng, *out,
    )  # fmt: skip
    return _rows(n, out, 0)


def plan_invoice_fan_in(
    ctx: PlanContext,
    params: InvoiceFanIn,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    *,
    kernels: ModuleType = K,
) -> EpisodeRows:
    """Decoy invoice fan-in: payers' invoices to the subject, then its payment to the supplier
    (see :func:`payments_fraud_kernels.invoice_fan_in`). Needs >= 2 accounts per episode (a
    payer, and the supplier last)."""
    subject, start, ptr, accounts = _episodes(episodes, "invoice_fan_in", 2)
    out = _buffers(accounts.shape[0], len(episodes))
    n = kernels.invoice_fan_in(
        subject, start, ptr, accounts, math.log(params.amount.median),
        float(params.amount.sigma), *_days(params.window, ctx), *_range(params.forward),
        *_days(params.gap, ctx), code, rng, *out,
    )  # fmt: skip
    return _rows(n, out, 0)


#: The planners of this module's kinds, by name.
PLANNERS: dict[str, Planner] = {
    "account_takeover": plan_account_takeover,
    "card_testing": plan_card_testing,
    "bust_out": plan_bust_out,
    "family_fan_out": plan_family_fan_out,
    "invoice_fan_in": plan_invoice_fan_in,
}
