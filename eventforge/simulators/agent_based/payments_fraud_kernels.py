"""Planning kernels of the fraud typologies and the decoys (account takeover, card testing,
bust-out; family fan-out, invoice fan-in): each writes the rows of a kind's episodes.

Every kernel takes the arrays of an :class:`~payments_typologies.EpisodeDraw`, its kind's
parameters (ranges as ``(low, high)`` floats, durations in days, lognormal amounts as
``(mu, sigma)`` of the log), the model's arrays it needs, the kind's code and the Generator,
and output buffers sized by its wrapper (:mod:`payments_fraud`): ``time``/``rows`` (the
:class:`~payments_typologies.EpisodeRows` columns), ``key``/``last`` (one per episode). It
returns the number of rows written. :mod:`payments_fraud_reference` draws the same numbers in
the same order; the order is stated in each kernel's docstring.

Shared conventions: the draws (uniforms, counts, gaps, splits, times spread over a window) and
an episode's last step (``last``: its latest row, the later-written on a tie) are those of
:mod:`payments_planning`, common to every typology; a fraction is rounded to parts per million
and kept at least 1 ppm (0 would read as a fixed amount of 0).
"""

from __future__ import annotations

import math

import numpy as np

from eventforge._numba import inline, kernel
from eventforge.simulators.agent_based.epidemic_kernels import pick
from eventforge.simulators.agent_based.payments_kernels import (
    ATM,
    C_CATEGORY,
    C_CAUSE,
    C_CENTS,
    C_CHANNEL,
    C_DECOY,
    C_DEVICE,
    C_FRAC,
    C_FROM,
    C_MERCHANT,
    C_RARE,
    C_STEP,
    C_TO,
    C_TYPE,
    CARD,
    CH_ATM,
    ONLINE,
    P2P,
    POS,
    PPM,
    TRANSFER,
    draw_in,
    draw_row,
    to_cents,
)
from eventforge.simulators.agent_based.payments_planning import (
    count,
    gap,
    latest,
    split,
    spread,
    uniform,
)

#: Hour of the day from which a family fan-out sends (the salary lands at 06:00-07:00).
FAN_OUT_HOUR = 8.0
#: Range of the fraction of what a mule received that it withdraws at an ATM.
CASH_OUT_FRACTION = (0.9, 1.0)


@inline
def _ppm(fraction: float) -> int:
    """A fraction in parts per million, rounded half up."""
    return math.floor(PPM * fraction + 0.5)


@inline
def _row(
    time: np.ndarray,
    rows: np.ndarray,
    n: int,
    t: float,
    kind: int,
    frm: int,
    to: int,
    merchant: int,
    category: int,
    channel: int,
    device: int,
    cents: int,
    frac: int,
    cause: int,
    rare: int,
    decoy: int,
) -> int:
    """Write planned step ``n`` (every column); return ``n + 1``."""
    time[n] = t
    rows[n, C_TYPE] = kind
    rows[n, C_FROM] = frm
    rows[n, C_TO] = to
    rows[n, C_MERCHANT] = merchant
    rows[n, C_CATEGORY] = category
    rows[n, C_CHANNEL] = channel
    rows[n, C_DEVICE] = device
    rows[n, C_CENTS] = cents
    rows[n, C_CAUSE] = cause
    rows[n, C_RARE] = rare
    rows[n, C_DECOY] = decoy
    rows[n, C_FRAC] = frac
    rows[n, C_STEP] = -1
    return n + 1


@inline
def _transfer(
    time: np.ndarray,
    rows: np.ndarray,
    n: int,
    t: float,
    frm: int,
    to: int,
    cents: int,
    frac: int,
    cause: int,
    rare: int,
    decoy: int,
) -> int:
    """A transfer between customers: ``P2P`` through ``TRANSFER``, no merchant or device."""
    return _row(time, rows, n, t, P2P, frm, to, -1, -1, TRANSFER, -1, cents, frac, cause, rare,
                decoy)  # fmt: skip


@kernel
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
    """Drain each subject to its ``k`` mules, then (maybe) each mule to an ATM.

    Drain ``j`` moves the fraction ``(f/k) / (1 - j f/k)`` of the subject's available funds, so
    that the ``k`` drains take about ``f`` of the funds available at the first, in equal parts
    (if nothing else moves in between). At most ``2 k`` rows per episode. Draws per episode:
    ``f``; then per mule: the gap before its drain (not for the first), the cash-out uniform,
    and if it cashes out, the delay and the fraction withdrawn."""
    n = 0
    for e in range(subject.shape[0]):
        first, a0, k = n, ptr[e], ptr[e + 1] - ptr[e]
        share = uniform(drain_lo, drain_hi, rng) / k
        t, cause = start[e], -1
        for j in range(k):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            mule = accounts[a0 + j]
            frac = max(1, _ppm(share / (1.0 - j * share)))
            drain = n
            n = _transfer(time, rows, n, t, subject[e], mule, 0, frac, cause, code, -1)
            cause = drain
            if rng.random() < cash_out:
                tw = t + gap(delay_lo, delay_hi, rng)
                frac = -_ppm(uniform(CASH_OUT_FRACTION[0], CASH_OUT_FRACTION[1], rng))
                n = _row(time, rows, n, tw, ATM, mule, -1, -1, -1, CH_ATM, -1, 0, frac, drain,
                         code, -1)  # fmt: skip
        key[e] = accounts[a0]
        last[e] = latest(time, first, n)
    return n


@kernel
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
    """A burst of small online card payments from a new device (episode ``e``'s is ``-2 - e``)
    at distinct merchants of ``online`` (the merchants whose category sells online; with
    replacement when there are fewer than the tests), then (maybe) one large purchase.

    Distinct merchants are a partial Fisher-Yates shuffle of ``online``, done in place on the
    caller's array across episodes (a partial shuffle of any order is a uniform sample).
    At most ``tests_hi + 1`` rows per episode. Draws per episode: the count; per test the gap
    (not for the first), the merchant, the amount; the cash-out uniform, and if it happens the
    delay, the merchant (any of ``online``), the amount (lognormal)."""
    n = 0
    n_online = online.shape[0]
    for e in range(subject.shape[0]):
        i, first, device = subject[e], n, -2 - e
        k = count(tests_lo, tests_hi, rng)
        t = start[e]
        for j in range(k):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            if n_online >= k:
                r = j + pick(n_online - j, rng)
                online[j], online[r] = online[r], online[j]
                m = online[j]
            else:
                m = online[pick(n_online, rng)]
            cents = to_cents(uniform(amount_lo, amount_hi, rng))
            n = _row(time, rows, n, t, CARD, i, n_customers + m, m, merchant_cat[m], ONLINE,
                     device, cents, 0, n - 1 if j > 0 else -1, code, -1)  # fmt: skip
        if rng.random() < cash_out:
            t += gap(delay_lo, delay_hi, rng)
            m = online[pick(n_online, rng)]
            cents = to_cents(rng.lognormal(cash_mu, cash_sigma))
            n = _row(time, rows, n, t, CARD, i, n_customers + m, m, merchant_cat[m], ONLINE,
                     device, cents, 0, n - 1, code, -1)  # fmt: skip
        key[e] = i
        last[e] = latest(time, first, n)
    return n


@kernel
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
    """``k`` card purchases spread over a window ``W`` (the first at the start, then at
    ``start + W u_(j)``, ``u`` sorted uniforms), chosen like the subject's legitimate ones, that
    spend the fraction ``s`` of the funds available at the first: purchase ``j`` takes
    ``s w_j / (1 - s W_<j)`` of what is available then (``W_<j`` the weights before it; capped
    at 1), i.e. ``s w_j`` of the first funds if nothing else moves in between.

    Exactly ``k <= purchases_hi`` rows per episode. Draws per episode: ``k``, ``W``, ``s``,
    ``k - 1`` uniforms (sorted), ``k`` weights (Exp(1), normalised); then per purchase the
    category, the merchant, the channel, and for online/mobile one of the subject's devices."""
    n = 0
    for e in range(subject.shape[0]):
        i, first = subject[e], n
        k = count(purchases_lo, purchases_hi, rng)
        window = uniform(window_lo, window_hi, rng)
        spend = uniform(spend_lo, spend_hi, rng)
        times = spread(k, start[e], window, rng)
        w = split(k, rng)
        taken = 0.0
        for j in range(k):
            c = draw_row(cat_cum, seg[i], rng)
            lo = merch_ptr[c]
            m = lo + draw_in(merch_cum, lo, merch_ptr[c + 1], rng)
            channel = draw_row(channel_cum, c, rng)
            device = -1
            if channel != POS:
                dlo = dev_ptr[i]
                device = dev_ids[dlo + pick(dev_ptr[i + 1] - dlo, rng)]
            rest = 1.0 - spend * taken
            frac = PPM if spend * w[j] >= rest else max(1, _ppm(spend * w[j] / rest))
            taken += w[j]
            n = _row(time, rows, n, times[j], CARD, i, n_customers + m, m, c, channel, device, 0,
                     frac, n - 1 if j > 0 else -1, code, -1)  # fmt: skip
        key[e] = i
        last[e] = latest(time, first, n)
    return n


@kernel
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
    """On each payday of the subject's segment (segment ``s``'s days of the run are
    ``pay_days[pay_ptr[s]:pay_ptr[s + 1]]``), transfers to its ``k`` relatives, the first a gap
    after :data:`FAN_OUT_HOUR`, then a gap apart: relative ``j`` gets ``salary p w_j`` (fixed),
    ``w`` drawn once per episode, ``p`` per payday. Each transfer's cause is the episode's
    previous one, across paydays too.

    ``k`` rows per payday in the run (none, and ``last`` -1, without one). Draws per episode:
    ``k`` weights (Exp(1), normalised); then per payday ``p`` and one gap per transfer."""
    n = 0
    for e in range(subject.shape[0]):
        i, first, a0, k = subject[e], n, ptr[e], ptr[e + 1] - ptr[e]
        w = split(k, rng)
        s = seg[i]
        for q in range(pay_ptr[s], pay_ptr[s + 1]):
            part = uniform(part_lo, part_hi, rng)
            t = pay_days[q] + FAN_OUT_HOUR / 24.0
            for j in range(k):
                t += gap(gap_lo, gap_hi, rng)
                cents = to_cents(0.01 * salary[i] * part * w[j])
                n = _transfer(time, rows, n, t, i, accounts[a0 + j], cents, 0,
                              n - 1 if n > first else -1, -1, code)  # fmt: skip
        key[e] = i
        last[e] = latest(time, first, n)
    return n


@kernel
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
    """The ``k`` payers (the episode's accounts but the last) pay the subject an invoice each
    over a window ``W`` (the first at the start, then at ``start + W u_(j)``), each caused by
    the previous; a gap after the last, the subject pays the supplier (the last account) the
    fraction ``f`` of the invoices' sum (fixed), caused by the last invoice.

    ``k + 1`` rows per episode (its number of accounts). Draws per episode: ``W``, ``f``,
    ``k - 1`` uniforms (sorted), ``k`` invoice amounts (lognormal), the gap."""
    n = 0
    for e in range(subject.shape[0]):
        i, first, a0 = subject[e], n, ptr[e]
        k = ptr[e + 1] - a0 - 1
        window = uniform(window_lo, window_hi, rng)
        forward = uniform(forward_lo, forward_hi, rng)
        times = spread(k, start[e], window, rng)
        total = 0
        for j in range(k):
            cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
            total += cents
            n = _transfer(time, rows, n, times[j], accounts[a0 + j], i, cents, 0,
                          n - 1 if j > 0 else -1, -1, code)  # fmt: skip
        t = times[k - 1] + gap(gap_lo, gap_hi, rng)
        n = _transfer(time, rows, n, t, i, accounts[a0 + k], to_cents(0.01 * forward * total),
                      0, n - 1, -1, code)  # fmt: skip
        key[e] = i
        last[e] = latest(time, first, n)
    return n
