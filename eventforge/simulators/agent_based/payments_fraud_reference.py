"""Plain Python references of the fraud and decoy planning kernels
(:mod:`payments_fraud_kernels`), for the tests.

Each function takes the same arguments as its kernel, fills the same buffers and draws the same
random numbers in the same order, so that a test can run both from one seed and require
identical rows. Written for clarity: each episode's steps are collected as a list of
:class:`_Step` with their causes as positions in that list, then copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.payments_fraud_kernels import (
    CASH_OUT_FRACTION,
    FAN_OUT_HOUR,
)
from eventforge.simulators.agent_based.payments_planning_reference import (
    count,
    gap,
    latest,
    split,
    spread,
    uniform,
)
from eventforge.simulators.agent_based.payments_reference import draw_index, pick, to_cents

__all__ = ["account_takeover", "bust_out", "card_testing", "family_fan_out", "invoice_fan_in"]


@dataclass
class _Step:
    """One planned step; ``cause`` is a position in its episode's list (-1: the root)."""

    time: float
    kind: int
    frm: int
    to: int
    cause: int
    cents: int = 0
    frac: int = 0
    merchant: int = -1
    category: int = -1
    channel: int = K.TRANSFER
    device: int = -1


def _ppm(fraction: float) -> int:
    return math.floor(K.PPM * fraction + 0.5)


def _write(
    steps: list[_Step],
    e: int,
    key_owner: int,
    rare: int,
    decoy: int,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
    n: int,
) -> int:
    """Copy episode ``e``'s steps to rows ``n, n + 1, ...``; return the next row."""
    for p, s in enumerate(steps):
        time[n + p] = s.time
        rows[n + p] = -1
        rows[n + p, K.C_TYPE] = s.kind
        rows[n + p, K.C_FROM], rows[n + p, K.C_TO] = s.frm, s.to
        rows[n + p, K.C_MERCHANT], rows[n + p, K.C_CATEGORY] = s.merchant, s.category
        rows[n + p, K.C_CHANNEL], rows[n + p, K.C_DEVICE] = s.channel, s.device
        rows[n + p, K.C_CENTS], rows[n + p, K.C_FRAC] = s.cents, s.frac
        rows[n + p, K.C_CAUSE] = -1 if s.cause < 0 else n + s.cause
        rows[n + p, K.C_RARE], rows[n + p, K.C_DECOY] = rare, decoy
    key[e] = key_owner
    r = latest([s.time for s in steps])
    last[e] = -1 if r < 0 else n + r
    return n + len(steps)


def _online(
    t: float,
    i: int,
    m: int,
    cents: int,
    cause: int,
    device: int,
    n_customers: int,
    merchant_cat: np.ndarray,
) -> _Step:
    """Customer ``i``'s online card payment at merchant ``m``."""
    return _Step(t, K.CARD, i, n_customers + m, cause, cents, 0, m, int(merchant_cat[m]),
                 K.ONLINE, device)  # fmt: skip


def account_takeover(
    subject: np.ndarray,
    start: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    drain_lo: float,
    drain_hi: float,
    gap_lo: float,
    gap_hi: float,
    cash_out: float,
    delay_lo: float,
    delay_hi: float,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_fraud_kernels.account_takeover`."""
    n = 0
    for e in range(len(subject)):
        mules = [int(a) for a in accounts[ptr[e] : ptr[e + 1]]]
        k = len(mules)
        share = uniform(drain_lo, drain_hi, rng) / k
        steps: list[_Step] = []
        t, cause = float(start[e]), -1
        for j, mule in enumerate(mules):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            frac = max(1, _ppm(share / (1.0 - j * share)))
            steps.append(_Step(t, K.P2P, int(subject[e]), mule, cause, frac=frac))
            cause = len(steps) - 1
            if rng.random() < cash_out:
                tw = t + gap(delay_lo, delay_hi, rng)
                frac = -_ppm(uniform(*CASH_OUT_FRACTION, rng))
                steps.append(_Step(tw, K.ATM, mule, -1, cause, frac=frac, channel=K.CH_ATM))
        n = _write(steps, e, mules[0], code, -1, time, rows, key, last, n)
    return n


def card_testing(
    subject: np.ndarray,
    start: np.ndarray,
    tests_lo: int,
    tests_hi: int,
    amount_lo: float,
    amount_hi: float,
    gap_lo: float,
    gap_hi: float,
    cash_out: float,
    cash_mu: float,
    cash_sigma: float,
    delay_lo: float,
    delay_hi: float,
    online: np.ndarray,
    merchant_cat: np.ndarray,
    n_customers: int,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_fraud_kernels.card_testing` (which shuffles ``online`` in
    place across episodes: so does this)."""
    n = 0
    for e in range(len(subject)):
        i, device = int(subject[e]), -2 - e
        k = count(tests_lo, tests_hi, rng)
        steps: list[_Step] = []
        t = float(start[e])
        for j in range(k):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            if len(online) >= k:  # a partial Fisher-Yates shuffle: distinct merchants
                r = j + pick(len(online) - j, rng)
                online[j], online[r] = online[r], online[j]
                m = int(online[j])
            else:
                m = int(online[pick(len(online), rng)])
            cents = to_cents(uniform(amount_lo, amount_hi, rng))
            steps.append(_online(t, i, m, cents, len(steps) - 1, device, n_customers, merchant_cat))
        if rng.random() < cash_out:
            t += gap(delay_lo, delay_hi, rng)
            m = int(online[pick(len(online), rng)])
            cents = to_cents(rng.lognormal(cash_mu, cash_sigma))
            steps.append(_online(t, i, m, cents, len(steps) - 1, device, n_customers, merchant_cat))
        n = _write(steps, e, i, code, -1, time, rows, key, last, n)
    return n


def bust_out(
    subject: np.ndarray,
    start: np.ndarray,
    purchases_lo: int,
    purchases_hi: int,
    spend_lo: float,
    spend_hi: float,
    window_lo: float,
    window_hi: float,
    seg: np.ndarray,
    cat_cum: np.ndarray,
    merch_ptr: np.ndarray,
    merch_cum: np.ndarray,
    channel_cum: np.ndarray,
    dev_ptr: np.ndarray,
    dev_ids: np.ndarray,
    n_customers: int,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_fraud_kernels.bust_out`."""
    n = 0
    for e in range(len(subject)):
        i = int(subject[e])
        k = count(purchases_lo, purchases_hi, rng)
        window = uniform(window_lo, window_hi, rng)
        spend = uniform(spend_lo, spend_hi, rng)
        times = spread(k, float(start[e]), window, rng)
        weights = split(k, rng)
        steps: list[_Step] = []
        taken = 0.0  # the weights of the purchases before
        for t, w in zip(times, weights, strict=True):
            c = draw_index(cat_cum[seg[i]], rng)
            lo, hi = int(merch_ptr[c]), int(merch_ptr[c + 1])
            m = lo + draw_index(merch_cum[lo:hi], rng)
            channel = draw_index(channel_cum[c], rng)
            device = -1
            if channel != K.POS:
                mine = dev_ids[dev_ptr[i] : dev_ptr[i + 1]]
                device = int(mine[pick(len(mine), rng)])
            rest = 1.0 - spend * taken  # of the first funds, what is left
            frac = K.PPM if spend * w >= rest else max(1, _ppm(spend * w / rest))
            taken += w
            steps.append(_Step(t, K.CARD, i, n_customers + m, len(steps) - 1, 0, frac, m, c,
                               channel, device))  # fmt: skip
        n = _write(steps, e, i, code, -1, time, rows, key, last, n)
    return n


def family_fan_out(
    subject: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    part_lo: float,
    part_hi: float,
    gap_lo: float,
    gap_hi: float,
    seg: np.ndarray,
    salary: np.ndarray,
    pay_ptr: np.ndarray,
    pay_days: np.ndarray,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_fraud_kernels.family_fan_out`."""
    n = 0
    for e in range(len(subject)):
        i = int(subject[e])
        relatives = [int(a) for a in accounts[ptr[e] : ptr[e + 1]]]
        weights = split(len(relatives), rng)
        s = seg[i]
        steps: list[_Step] = []
        for day in pay_days[pay_ptr[s] : pay_ptr[s + 1]]:
            part = uniform(part_lo, part_hi, rng)
            t = day + FAN_OUT_HOUR / 24.0
            for relative, w in zip(relatives, weights, strict=True):
                t += gap(gap_lo, gap_hi, rng)
                cents = to_cents(0.01 * salary[i] * part * w)
                steps.append(_Step(t, K.P2P, i, relative, len(steps) - 1, cents))
        n = _write(steps, e, i, -1, code, time, rows, key, last, n)
    return n


def invoice_fan_in(
    subject: np.ndarray,
    start: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    amount_mu: float,
    amount_sigma: float,
    window_lo: float,
    window_hi: float,
    forward_lo: float,
    forward_hi: float,
    gap_lo: float,
    gap_hi: float,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_fraud_kernels.invoice_fan_in`."""
    n = 0
    for e in range(len(subject)):
        i = int(subject[e])
        *payers, supplier = (int(a) for a in accounts[ptr[e] : ptr[e + 1]])
        window = uniform(window_lo, window_hi, rng)
        forward = uniform(forward_lo, forward_hi, rng)
        times = spread(len(payers), float(start[e]), window, rng)
        steps: list[_Step] = []
        for t, payer in zip(times, payers, strict=True):
            cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
            steps.append(_Step(t, K.P2P, payer, i, len(steps) - 1, cents))
        t = steps[-1].time + gap(gap_lo, gap_hi, rng)
        total = sum(s.cents for s in steps)
        steps.append(_Step(t, K.P2P, i, supplier, len(steps) - 1, to_cents(0.01 * forward * total)))
        n = _write(steps, e, i, -1, code, time, rows, key, last, n)
    return n
