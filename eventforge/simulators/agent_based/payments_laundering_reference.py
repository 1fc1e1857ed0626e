"""Plain Python references of the laundering planners (:mod:`payments_laundering_kernels`), for
the tests.

Each function takes the same arguments as its kernel, fills the same buffers and draws the same
random numbers in the same order, so a test can run both from one seed and require identical
rows. Written for clarity: an episode's steps are collected as tuples, with causes as indices
into the episode's own list, then copied out.
"""

from __future__ import annotations

import numpy as np

from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.payments_planning_reference import (
    count,
    gap,
    latest,
    split,
    spread,
    uniform,
)
from eventforge.simulators.agent_based.payments_reference import to_cents

__all__ = ["cycle", "mule_fan_in", "mule_fan_out", "scatter_gather"]

#: A step: ``(time, type, from, to, channel, cents, cause)``, the cause an index into the
#: episode's list of steps (-1: the root).
Step = tuple[float, int, int, int, int, int, int]


def _notes(cents: float) -> int:
    return int(cents) // K.NOTE_CENTS * K.NOTE_CENTS


def _deposit(t: float, owner: int, cents: int, cause: int) -> Step:
    return (t, K.CASH_IN, -1, owner, K.BRANCH, cents, cause)


def _transfer(t: float, payer: int, payee: int, cents: int, cause: int) -> Step:
    return (t, K.P2P, payer, payee, K.TRANSFER, cents, cause)


def _withdrawal(t: float, owner: int, cents: int, cause: int) -> Step:
    return (t, K.ATM, owner, -1, K.CH_ATM, cents, cause)


def _emit(steps: list[Step], code: int, time: np.ndarray, rows: np.ndarray, n: int) -> int:
    """Copy an episode's steps to rows ``n, n + 1, ...``; return the next row."""
    for r, (t, kind, frm, to, channel, cents, cause) in enumerate(steps):
        time[n + r] = t
        rows[n + r] = -1  # merchant, category, device, decoy, step: none
        rows[n + r, K.C_TYPE], rows[n + r, K.C_FROM], rows[n + r, K.C_TO] = kind, frm, to
        rows[n + r, K.C_CHANNEL], rows[n + r, K.C_CENTS] = channel, cents
        rows[n + r, K.C_CAUSE] = n + cause if cause >= 0 else -1
        rows[n + r, K.C_RARE], rows[n + r, K.C_FRAC] = code, 0
    return n + len(steps)


def mule_fan_in(
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
    """Reference of :func:`payments_laundering_kernels.mule_fan_in`."""
    n = 0
    for e, i in enumerate(subject.tolist()):
        sources = accounts[ptr[e] : ptr[e + 1]].tolist()
        window = uniform(window_lo, window_hi, rng)
        times = spread(len(sources), float(start[e]), window, rng)
        steps: list[Step] = []
        transfers: list[int] = []  # indices of the transfers in steps
        for j, (src, t_dep) in enumerate(zip(sources, times, strict=True)):
            if j == 0:
                cause = -1
            else:
                previous_transfer = len(steps) - 1
                cause = previous_transfer if steps[-1][0] < t_dep else previous_transfer - 1
            cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
            steps.append(_deposit(t_dep, src, cents, cause))
            moved = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t = t_dep + gap(gap_lo, gap_hi, rng)
            steps.append(_transfer(t, src, i, moved, len(steps) - 1))
            transfers.append(len(steps) - 1)
        latest_transfer = max(transfers, key=lambda s: (steps[s][0], -s))  # the first on a tie
        t = steps[latest_transfer][0] + gap(gap_lo, gap_hi, rng)
        cash = _notes(sum(steps[s][5] for s in transfers) * uniform(forward_lo, forward_hi, rng))
        if cash > 0:
            steps.append(_withdrawal(t, i, cash, latest_transfer))
        key[e], last[e] = i, n + latest([s[0] for s in steps])
        n = _emit(steps, code, time, rows, n)
    return n


def mule_fan_out(
    subject: np.ndarray,
    start: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    amount_mu: float,
    amount_sigma: float,
    deposits_lo: int,
    deposits_hi: int,
    forward_lo: float,
    forward_hi: float,
    cash_out: float,
    gap_lo: float,
    gap_hi: float,
    code: int,
    rng: np.random.Generator,
    time: np.ndarray,
    rows: np.ndarray,
    key: np.ndarray,
    last: np.ndarray,
) -> int:
    """Reference of :func:`payments_laundering_kernels.mule_fan_out`."""
    n = 0
    for e, i in enumerate(subject.tolist()):
        mules = accounts[ptr[e] : ptr[e + 1]].tolist()
        placed = rng.lognormal(amount_mu, amount_sigma)
        d = count(deposits_lo, deposits_hi, rng)
        steps: list[Step] = []
        t = float(start[e])
        for j, v in enumerate(split(d, rng)):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            steps.append(_deposit(t, i, to_cents(placed * v), len(steps) - 1))
        forward = uniform(forward_lo, forward_hi, rng)
        chain = len(steps) - 1  # the step the next transfer follows from
        for mule, w in zip(mules, split(len(mules), rng), strict=True):
            t += gap(gap_lo, gap_hi, rng)
            cents = to_cents(placed * forward * w)
            steps.append(_transfer(t, i, mule, cents, chain))
            chain = len(steps) - 1
            if rng.random() < cash_out:
                t_atm = t + gap(gap_lo, gap_hi, rng)
                if _notes(cents) > 0:
                    steps.append(_withdrawal(t_atm, mule, _notes(cents), chain))
        key[e], last[e] = i, n + latest([s[0] for s in steps])
        n = _emit(steps, code, time, rows, n)
    return n


def cycle(
    subject: np.ndarray,
    start: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    amount_mu: float,
    amount_sigma: float,
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
    """Reference of :func:`payments_laundering_kernels.cycle`."""
    n = 0
    for e, i in enumerate(subject.tolist()):
        ring = accounts[ptr[e] : ptr[e + 1]].tolist()
        cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
        t = float(start[e])
        steps = [_deposit(t, i, cents, -1)]
        for payer, payee in zip([i, *ring], [*ring, i], strict=True):
            cents = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t += gap(gap_lo, gap_hi, rng)
            steps.append(_transfer(t, payer, payee, cents, len(steps) - 1))
        key[e], last[e] = i, n + len(steps) - 1
        n = _emit(steps, code, time, rows, n)
    return n


def scatter_gather(
    subject: np.ndarray,
    start: np.ndarray,
    ptr: np.ndarray,
    accounts: np.ndarray,
    amount_mu: float,
    amount_sigma: float,
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
    """Reference of :func:`payments_laundering_kernels.scatter_gather`."""
    n = 0
    for e, i in enumerate(subject.tolist()):
        *middle, gatherer = accounts[ptr[e] : ptr[e + 1]].tolist()
        placed = rng.lognormal(amount_mu, amount_sigma)
        weights = split(len(middle), rng)
        t = float(start[e])
        steps = [_deposit(t, i, to_cents(placed), -1)]
        chain = 0  # the step the next scatter follows from
        for mid, w in zip(middle, weights, strict=True):
            t += gap(gap_lo, gap_hi, rng)
            cents = to_cents(placed * w)
            steps.append(_transfer(t, i, mid, cents, chain))
            chain = len(steps) - 1
            moved = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t_gather = t + gap(gap_lo, gap_hi, rng)
            steps.append(_transfer(t_gather, mid, gatherer, moved, chain))
        key[e], last[e] = gatherer, n + latest([s[0] for s in steps])
        n = _emit(steps, code, time, rows, n)
    return n
