"""Plain Python references of the payments kernels (:mod:`payments_kernels`), for the tests.

Each function takes the same arguments as its kernel, updates the same arrays in place and
draws the same random numbers in the same order, so a test can run both from one state with one
seed and require identical results. Written for clarity (Python loops over customers, a list of
transactions), not speed: use them on a few thousand customers.
"""

from __future__ import annotations

import math

import numpy as np

from eventforge.simulators.agent_based import payments_kernels as K

__all__ = [
    "apply_day",
    "draw_index",
    "generate_day",
    "lognormal",
    "pick",
    "poisson",
    "time_order",
    "to_cents",
]


def to_cents(amount: float) -> int:
    """Reference of :func:`payments_kernels.to_cents`."""
    return max(1, math.floor(amount * 100.0 + 0.5))


def draw_index(cum: np.ndarray, rng: np.random.Generator | K.Uniforms) -> int:
    """Reference of :func:`payments_kernels.draw_index`."""
    return int(np.searchsorted(cum, rng.random(), side="right"))


def _time(day: float, hour_cum: np.ndarray, rng: K.Uniforms) -> float:
    hour = draw_index(hour_cum, rng)
    return day + (hour + rng.random()) / 24.0


def pick(m: int, rng: np.random.Generator | K.Uniforms) -> int:
    """Reference of :func:`epidemic_kernels.pick` and :func:`payments_kernels.pick`."""
    return int(rng.random() * m)


def poisson(lam: float, uniforms: K.Uniforms) -> int:
    """Reference of :func:`payments_kernels.poisson` (``lam`` > 0, split by
    :func:`payments_kernels.poisson_parts`)."""
    parts, exp_neg = K.poisson_parts(lam)
    x = 0
    for _ in range(parts):
        prod = uniforms.random()
        while prod > exp_neg:
            x += 1
            prod *= uniforms.random()
    return x


def lognormal(mu: float, sigma: float, uniforms: K.Uniforms) -> float:
    """Reference of :func:`payments_kernels.lognormal`."""
    while True:
        x = 2.0 * uniforms.random() - 1.0
        y = 2.0 * uniforms.random() - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 < 1.0:
            return math.exp(mu + sigma * (x * math.sqrt(-2.0 * math.log(r2) / r2)))


def generate_day(
    day: int,
    seg: np.ndarray,
    salary_today: np.ndarray,
    salary: np.ndarray,
    bill_ptr: np.ndarray,
    bill_due: np.ndarray,
    bill_mu: np.ndarray,
    bill_sigma: np.ndarray,
    payee: np.ndarray,
    merchant_cat: np.ndarray,
    card_rate: np.ndarray,
    cat_cum: np.ndarray,
    merch_ptr: np.ndarray,
    merch_cum: np.ndarray,
    amount_mu: np.ndarray,
    amount_sigma: np.ndarray,
    channel_cum: np.ndarray,
    hour_cum: np.ndarray,
    dev_ptr: np.ndarray,
    dev_ids: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    p2p_rate: np.ndarray,
    p2p_mu: np.ndarray,
    p2p_sigma: np.ndarray,
    atm_rate: np.ndarray,
    atm_cum: np.ndarray,
    atm_cents: np.ndarray,
    cash_rate: np.ndarray,
    cash_mu: np.ndarray,
    cash_sigma: np.ndarray,
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    reserve: int,
    uniforms: K.Uniforms,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Reference of :func:`payments_kernels.generate_day`: the day's rows collected as tuples
    ``(time, type, from, to, merchant, category, channel, device, cents)``, then copied
    (``reserve``, the kernel's buffer bound, is not needed here)."""
    n_customers = len(seg)
    d = float(day)
    rows: list[tuple[float, int, int, int, int, int, int, int, int]] = []
    for i in range(n_customers):
        s = int(seg[i])
        if salary_today[s]:
            t = d + (K.SALARY_HOUR + uniforms.random()) / 24.0
            rows.append((t, K.SALARY, -1, i, -1, -1, K.TRANSFER, -1, int(salary[i])))
        first_bill = int(bill_ptr[s])
        for b in range(first_bill, int(bill_ptr[s + 1])):
            if not bill_due[b]:
                continue
            t = d + (K.BILL_HOUR + uniforms.random()) / 24.0
            cents = to_cents(lognormal(bill_mu[b], bill_sigma[b], uniforms))
            m = int(payee[i, b - first_bill])
            merchant = (m, int(merchant_cat[m]))
            rows.append((t, K.BILL, i, n_customers + m, *merchant, K.TRANSFER, -1, cents))
        if card_rate[s] > 0.0:
            for _ in range(poisson(card_rate[s], uniforms)):
                c = draw_index(cat_cum[s], uniforms)
                lo, hi = int(merch_ptr[c]), int(merch_ptr[c + 1])
                m = lo + draw_index(merch_cum[lo:hi], uniforms)
                cents = to_cents(lognormal(amount_mu[c], amount_sigma[c], uniforms))
                channel = draw_index(channel_cum[c], uniforms)
                t = _time(d, hour_cum, uniforms)
                device = -1
                if channel != K.POS:
                    mine = dev_ids[dev_ptr[i] : dev_ptr[i + 1]]
                    device = int(mine[pick(len(mine), uniforms)])
                rows.append((t, K.CARD, i, n_customers + m, m, c, channel, device, cents))
        friends = indices[indptr[i] : indptr[i + 1]]
        if p2p_rate[s] > 0.0 and len(friends) > 0:
            for _ in range(poisson(p2p_rate[s], uniforms)):
                j = int(friends[pick(len(friends), uniforms)])
                cents = to_cents(lognormal(p2p_mu[s], p2p_sigma[s], uniforms))
                t = _time(d, hour_cum, uniforms)
                rows.append((t, K.P2P, i, j, -1, -1, K.TRANSFER, -1, cents))
        if atm_rate[s] > 0.0:
            for _ in range(poisson(atm_rate[s], uniforms)):
                cents = int(atm_cents[s, draw_index(atm_cum[s], uniforms)])
                t = _time(d, hour_cum, uniforms)
                rows.append((t, K.ATM, i, -1, -1, -1, K.CH_ATM, -1, cents))
        if cash_rate[s] > 0.0:
            for _ in range(poisson(cash_rate[s], uniforms)):
                cents = to_cents(lognormal(cash_mu[s], cash_sigma[s], uniforms))
                t = _time(d, hour_cum, uniforms)
                rows.append((t, K.CASH_IN, -1, i, -1, -1, K.BRANCH, -1, cents))
    tx_time, tx = K.grow(tx_time, tx, n, n + len(rows))
    for k, (t, *values) in enumerate(rows):
        tx_time[n + k] = t
        tx[n + k, : K.C_CAUSE] = values
        tx[n + k, K.C_CAUSE :] = -1
        tx[n + k, K.C_FRAC] = 0
    return n + len(rows), tx_time, tx


def time_order(t: np.ndarray) -> np.ndarray:
    """Reference of :func:`payments_kernels.time_order`."""
    return np.argsort(t, kind="stable")


def apply_day(
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    balance: np.ndarray,
    limit: np.ndarray,
    frozen: np.ndarray,
    acct: np.ndarray,
    first_seq: int,
    step_seq: np.ndarray,
    step_cents: np.ndarray,
    buffers: K.DayBuffers | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference of :func:`payments_kernels.apply_day`: each row decided by one function, the
    written ones collected as tuples, the tally counted from them at the end. ``buffers`` is
    the kernel's scratch, which this version has no use for."""
    order = time_order(tx_time[:n])
    written: list[tuple[float, list[int], int, int, int]] = []

    def outcome(row: np.ndarray) -> tuple[int, int, int]:
        """``(event code, cents moved or attempted, balance after)``; cents 0: dropped."""
        kind, frm, to = int(row[K.C_TYPE]), int(row[K.C_FROM]), int(row[K.C_TO])
        if kind == K.FREEZE:
            if frozen[frm]:
                return K.ACCOUNT_FREEZE, 0, 0
            frozen[frm] = True
            return K.ACCOUNT_FREEZE, 1, 0
        if kind == K.ALERT:
            return K.ALERT_EVENT, 1, 0
        cents, frac = int(row[K.C_CENTS]), int(row[K.C_FRAC])
        if frac > 0:
            cents = (int(balance[frm]) + int(limit[frm])) * frac // K.PPM
        elif frac < 0:
            cents = int(step_cents[row[K.C_CAUSE]]) * -frac // K.PPM
            if kind == K.ATM:
                cents = cents // K.NOTE_CENTS * K.NOTE_CENTS
        if cents <= 0:
            return K.TRANSACTION, 0, 0
        if frm < 0:  # a credit from outside the bank
            balance[to] += cents
            return K.TRANSACTION, cents, int(balance[to])
        if frozen[frm] or balance[frm] - cents < -limit[frm]:
            return K.DECLINE, cents, 0
        balance[frm] -= cents
        after = int(balance[frm])  # before the credit (the same account, for a self-transfer)
        if to >= 0:
            balance[to] += cents
        return K.TRANSACTION, cents, after

    for k in order:
        row = tx[k]
        step, cause = int(row[K.C_STEP]), int(row[K.C_CAUSE])
        cause_seq = int(step_seq[cause]) if cause >= 0 else -1
        code, cents, after = outcome(row)
        if cents == 0:  # dropped: what follows from it follows from its cause
            if step >= 0:
                step_seq[step], step_cents[step] = cause_seq, 0
            continue
        seq = first_seq + len(written)
        if step >= 0:
            step_seq[step] = seq
            step_cents[step] = cents if code == K.TRANSACTION else 0
        frm, to = int(row[K.C_FROM]), int(row[K.C_TO])
        cols = [int(v) for v in row[: K.N_OUT]]
        cols[K.C_FROM] = int(acct[frm]) if frm >= 0 else -1
        cols[K.C_TO] = int(acct[to]) if to >= 0 else -1
        cols[K.C_CENTS] = cents if int(row[K.C_TYPE]) < K.ALERT else 0
        cols[K.C_CAUSE] = cause_seq
        entity = int(acct[frm]) if frm >= 0 else int(acct[to])
        written.append((float(tx_time[k]), cols, code, after, entity))
    m = len(written)
    cols_out = np.array([w[1] for w in written], dtype=np.int64).reshape(m, K.N_OUT)
    tally = np.zeros((5, K.TALLY_WIDTH), dtype=np.int64)
    for _, cols, code, _, _ in written:
        kind, cents = cols[K.C_TYPE], cols[K.C_CENTS]
        tally[K.T_DECLINED if code == K.DECLINE else K.T_WRITTEN, kind] += 1
        tally[K.T_CENTS, kind] += cents if code == K.TRANSACTION else 0
        for row, col in ((K.T_RARE, K.C_RARE), (K.T_DECOY, K.C_DECOY)):
            if cols[col] >= 0:
                tally[row, cols[col]] += 1
    return (
        np.array([w[0] for w in written], dtype=np.float64),
        np.ascontiguousarray(cols_out.T),
        np.array([w[2] for w in written], dtype=np.int8),
        np.array([w[3] for w in written], dtype=np.int64),
        np.array([w[4] for w in written], dtype=np.int64),
        tally,
    )
