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
from eventforge.simulators.agent_based.payments_kernels import ONLINE, POS
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    Planner,
    episode_arrays,
    in_days,
    planned_rows,
    row_buffers,
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


def _range(values: list[float]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


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
    subject, start, ptr, accounts = episode_arrays("account_takeover", episodes)
    out = row_buffers(2 * accounts.shape[0], len(episodes))
    n = kernels.account_takeover(
        subject, start, ptr, accounts, *_range(params.drain), *in_days(params.gap, ctx),
        float(params.cash_out), *in_days(params.cash_out_delay, ctx), code, rng, *out,
    )  # fmt: skip
    return planned_rows(n, out, 0)


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
    subject, start, _, _ = episode_arrays("card_testing", episodes)
    online = online_merchants(ctx)
    if len(episodes) and online.shape[0] == 0:
        raise ValueError("card_testing: no merchant category has an online channel weight > 0")
    tests = (int(params.tests[0]), int(params.tests[1]))
    out = row_buffers(len(episodes) * (tests[1] + 1), len(episodes))
    n = kernels.card_testing(
        subject, start, *tests, *_range(params.amount), *in_days(params.gap, ctx),
        float(params.cash_out), math.log(params.cash_out_amount.median),
        float(params.cash_out_amount.sigma), *in_days(params.cash_out_delay, ctx), online,
        ctx.merchant_cat, ctx.n_customers, code, rng, *out,
    )  # fmt: skip
    return planned_rows(n, out, len(episodes))


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
    subject, start, _, _ = episode_arrays("bust_out", episodes)
    purchases = (int(params.purchases[0]), int(params.purchases[1]))
    out = row_buffers(len(episodes) * purchases[1], len(episodes))
    n = kernels.bust_out(
        subject, start, *purchases, *_range(params.spend), *in_days(params.window, ctx), ctx.seg,
        ctx.cat_cum, ctx.merch_ptr, ctx.merch_cum, ctx.channel_cum, ctx.dev_ptr, ctx.dev_ids,
        ctx.n_customers, code, rng, *out,
    )  # fmt: skip
    return planned_rows(n, out, 0)


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
    subject, _, ptr, accounts = episode_arrays("family_fan_out", episodes)
    pay_ptr, pay_days = paydays(ctx)
    per_payday = np.diff(pay_ptr)[ctx.seg[subject]]
    out = row_buffers(int((np.diff(ptr) * per_payday).sum()), len(episodes))
    n = kernels.family_fan_out(
        subject, ptr, accounts, *_range(params.part), *in_days(params.gap, ctx), ctx.seg,
        ctx.salary, pay_ptr, pay_days, code, rng, *out,
    )  # fmt: skip
    return planned_rows(n, out, 0)


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
    subject, start, ptr, accounts = episode_arrays("invoice_fan_in", episodes)
    out = row_buffers(accounts.shape[0], len(episodes))
    n = kernels.invoice_fan_in(
        subject, start, ptr, accounts, math.log(params.amount.median),
        float(params.amount.sigma), *in_days(params.window, ctx), *_range(params.forward),
        *in_days(params.gap, ctx), code, rng, *out,
    )  # fmt: skip
    return planned_rows(n, out, 0)


#: The planners of this module's kinds, by name.
PLANNERS: dict[str, Planner] = {
    "account_takeover": plan_account_takeover,
    "card_testing": plan_card_testing,
    "bust_out": plan_bust_out,
    "family_fan_out": plan_family_fan_out,
    "invoice_fan_in": plan_invoice_fan_in,
}
