"""Planners of the money-laundering typologies, as Numba kernels: mule fan-in, mule fan-out,
cycle and scatter-gather (AMLSim's layering patterns).

Each kernel writes the steps of a kind's episodes (see
:class:`~payments_typologies.EpisodeRows`) into buffers its wrapper in
:mod:`payments_laundering` sized from the per-episode bound stated in the kernel's docstring,
and returns the row count. Every amount is fixed when planned (``C_FRAC`` 0): laundering moves
the money it placed, not a share of a balance, so the plan needs nothing from the ledger.
:mod:`payments_laundering_reference` draws the same numbers in the same order.

Conventions common to the four kinds:

- Times are in days. The draws (uniforms, counts, gaps, splits, times spread over a window) are
  those of :mod:`payments_planning`, common to every typology. A gap (``gap_lo``/``gap_hi``) is
  drawn afresh for every step it precedes, and is at least :data:`payments_planning.SECOND`, so
  a step is always strictly later than its cause; a fraction (``forward``) is drawn afresh for
  every hop that uses it.
- A lognormal amount is ``rng.lognormal(amount_mu, amount_sigma)`` in currency units, with
  ``amount_mu = log(median)``; amounts become cents with :func:`payments_kernels.to_cents`.
- Weights that split a total (deposits of a placement, transfers to mules, scatters) are a
  :func:`payments_planning.split`: a flat Dirichlet, so every split is equally likely.
- An ATM withdrawal is rounded down to notes (:data:`payments_kernels.NOTE_CENTS`); one under a
  note is not planned (its random numbers are still drawn, so later episodes do not shift).
- ``key[e]`` is the owner an alert on episode ``e`` names; ``last[e]`` the row of its latest
  step (the later-written on a tie, :func:`payments_planning.latest`).
"""

from __future__ import annotations

import numpy as np

from eventforge._numba import inline, kernel
from eventforge.simulators.agent_based.payments_kernels import (
    ATM,
    BRANCH,
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
    CASH_IN,
    CH_ATM,
    NOTE_CENTS,
    P2P,
    TRANSFER,
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

__all__ = ["cycle", "mule_fan_in", "mule_fan_out", "scatter_gather"]


@inline
def _notes(cents: float) -> int:
    """``cents`` rounded down to a whole number of notes (0 under one note)."""
    return int(cents) // NOTE_CENTS * NOTE_CENTS


@inline
def _step(
    time: np.ndarray,
    rows: np.ndarray,
    n: int,
    t: float,
    kind: int,
    frm: int,
    to: int,
    channel: int,
    cents: int,
    cause: int,
    code: int,
) -> int:
    """Write laundering step ``n`` (a transfer or cash, fixed amount, typology ``code``); return
    ``n + 1``."""
    time[n] = t
    rows[n, C_TYPE] = kind
    rows[n, C_FROM] = frm
    rows[n, C_TO] = to
    rows[n, C_MERCHANT] = -1
    rows[n, C_CATEGORY] = -1
    rows[n, C_CHANNEL] = channel
    rows[n, C_DEVICE] = -1
    rows[n, C_CENTS] = cents
    rows[n, C_CAUSE] = cause
    rows[n, C_RARE] = code
    rows[n, C_DECOY] = -1
    rows[n, C_FRAC] = 0
    rows[n, C_STEP] = -1
    return n + 1


@kernel
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
    """Mule fan-in: the ``k`` sources of episode ``e`` (its accounts, k >= 1) each deposit cash
    and transfer most of it to the subject, who then withdraws most of the total at an ATM.

    Source ``j`` deposits (``CASH_IN``, lognormal amount) at ``start + W u_(j)``: ``W`` the
    window, ``u_(0) = 0`` and ``u_(1..k-1)`` sorted uniforms, each deposit at least a second
    after the previous one. Its transfer to the subject (``P2P``) moves ``deposit * U(forward)``
    a gap after the deposit, caused by it. Deposit ``j``'s cause is source ``j - 1``'s transfer
    when that is earlier (the sources pass the money on one after another), else source
    ``j - 1``'s deposit (the window is short next to the gaps): the previous step either way,
    and strictly earlier. A gap after the latest transfer (its cause), the subject withdraws
    ``U(forward) * sum of transfers`` in notes. Key: the subject.

    Draws per episode: ``W``; ``k - 1`` uniforms; per source: amount, forward, gap; then the
    withdrawal's gap and forward. At most ``2k + 1`` rows."""
    n = 0
    for e in range(subject.shape[0]):
        n0 = n
        i = subject[e]
        lo, k = ptr[e], ptr[e + 1] - ptr[e]
        key[e] = i
        window = uniform(window_lo, window_hi, rng)
        times = spread(k, start[e], window, rng)
        total = 0
        latest_transfer = -1  # the row of the latest transfer so far (the first on a tie)
        for j in range(k):
            src = accounts[lo + j]
            t_dep = times[j]
            cause = -1
            if j > 0:
                cause = n - 1 if time[n - 1] < t_dep else n - 2  # transfer, else deposit j - 1
            cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
            dep = n
            n = _step(time, rows, n, t_dep, CASH_IN, -1, src, BRANCH, cents, cause, code)
            moved = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t = t_dep + gap(gap_lo, gap_hi, rng)
            n = _step(time, rows, n, t, P2P, src, i, TRANSFER, moved, dep, code)
            total += moved
            if latest_transfer < 0 or t > time[latest_transfer]:
                latest_transfer = n - 1
        t = time[latest_transfer] + gap(gap_lo, gap_hi, rng)
        cash = _notes(total * uniform(forward_lo, forward_hi, rng))
        if cash > 0:
            n = _step(time, rows, n, t, ATM, i, -1, CH_ATM, cash, latest_transfer, code)
        last[e] = latest(time, n0, n)
    return n


@kernel
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
    """Mule fan-out: a placement ``A`` (lognormal) reaches the subject in ``d`` cash deposits
    (``A v_i``, ``v`` a split; the first at ``start``, each next a gap later, caused by the
    previous), then goes on to the ``k`` mules (the episode's accounts, k >= 1): transfer ``j``
    moves ``A f w_j`` (``f ~ U(forward)`` once, ``w`` a split), a gap after the previous step of
    that chain (the last deposit, then the previous transfer). With probability ``cash_out`` a
    mule withdraws its transfer, in notes, at an ATM a gap later, caused by it. Key: the subject.

    Draws per episode: ``A``; ``d``; ``d`` exponentials; ``d - 1`` gaps; ``f``; ``k``
    exponentials; per mule: the transfer's gap, the cash-out uniform and, on a cash-out, the
    withdrawal's gap. At most ``deposits_hi + 2k`` rows."""
    n = 0
    for e in range(subject.shape[0]):
        n0 = n
        i = subject[e]
        lo, k = ptr[e], ptr[e + 1] - ptr[e]
        key[e] = i
        a = rng.lognormal(amount_mu, amount_sigma)
        d = count(deposits_lo, deposits_hi, rng)
        v = split(d, rng)
        t = start[e]
        cause = -1
        for j in range(d):
            if j > 0:
                t += gap(gap_lo, gap_hi, rng)
            n = _step(time, rows, n, t, CASH_IN, -1, i, BRANCH, to_cents(a * v[j]), cause, code)
            cause = n - 1
        f = uniform(forward_lo, forward_hi, rng)
        w = split(k, rng)
        for j in range(k):
            t += gap(gap_lo, gap_hi, rng)
            mule = accounts[lo + j]
            cents = to_cents(a * f * w[j])
            n = _step(time, rows, n, t, P2P, i, mule, TRANSFER, cents, cause, code)
            cause = n - 1
            if rng.random() < cash_out:
                t_atm = t + gap(gap_lo, gap_hi, rng)
                cash = _notes(cents)
                if cash > 0:
                    n = _step(time, rows, n, t_atm, ATM, mule, -1, CH_ATM, cash, cause, code)
        last[e] = latest(time, n0, n)
    return n


@kernel
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
    """Cycle: a placement (lognormal, ``CASH_IN``) at the subject at ``start``, then ``k + 1``
    hops subject -> ring[0] -> ... -> ring[k-1] -> subject (the ring: the episode's ``k >= 1``
    accounts), each moving the previous step's amount times ``U(forward)`` (rounded to the
    cent), a gap after it, caused by it. Key: the subject.

    Draws per episode: the amount; per hop: forward, gap. Exactly ``k + 2`` rows."""
    n = 0
    for e in range(subject.shape[0]):
        i = subject[e]
        lo, k = ptr[e], ptr[e + 1] - ptr[e]
        key[e] = i
        cents = to_cents(rng.lognormal(amount_mu, amount_sigma))
        t = start[e]
        n = _step(time, rows, n, t, CASH_IN, -1, i, BRANCH, cents, -1, code)
        payer = i
        for h in range(k + 1):
            payee = accounts[lo + h] if h < k else i
            cents = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t += gap(gap_lo, gap_hi, rng)
            n = _step(time, rows, n, t, P2P, payer, payee, TRANSFER, cents, n - 1, code)
            payer = payee
        last[e] = n - 1  # the hops are a chain: the last one written is the latest
    return n


@kernel
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
    """Scatter-gather: a placement ``A`` (lognormal, ``CASH_IN``) at the subject at ``start``;
    the episode's accounts are ``k >= 1`` intermediaries then the gatherer. Scatter ``j`` moves
    ``A w_j`` (``w`` a split) from the subject to intermediary ``j``, a gap after the previous
    scatter (the first a gap after the deposit), caused by it; gather ``j`` moves
    ``scatter_j * U(forward)`` from intermediary ``j`` to the gatherer a gap after scatter
    ``j``, caused by it. Key: the gatherer.

    Draws per episode: ``A``; ``k`` exponentials; per intermediary: the scatter's gap, forward,
    the gather's gap. Exactly ``2k + 1`` rows (``2 * accounts - 1``)."""
    n = 0
    for e in range(subject.shape[0]):
        n0 = n
        i = subject[e]
        lo, k = ptr[e], ptr[e + 1] - ptr[e] - 1
        gatherer = accounts[lo + k]
        key[e] = gatherer
        a = rng.lognormal(amount_mu, amount_sigma)
        w = split(k, rng)
        t = start[e]
        n = _step(time, rows, n, t, CASH_IN, -1, i, BRANCH, to_cents(a), -1, code)
        cause = n - 1
        for j in range(k):
            mid = accounts[lo + j]
            t += gap(gap_lo, gap_hi, rng)
            cents = to_cents(a * w[j])
            n = _step(time, rows, n, t, P2P, i, mid, TRANSFER, cents, cause, code)
            cause = n - 1
            moved = to_cents(cents * uniform(forward_lo, forward_hi, rng) / 100.0)
            t_gather = t + gap(gap_lo, gap_hi, rng)
            n = _step(time, rows, n, t_gather, P2P, mid, gatherer, TRANSFER, moved, cause, code)
        last[e] = latest(time, n0, n)
    return n
