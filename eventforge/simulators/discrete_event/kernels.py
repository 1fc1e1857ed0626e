"""The Numba event loop of the queue_network model (the compiled engine).

The same model as :mod:`.simpy_engine`, for the networks :func:`.network.compiled_support`
accepts (Poisson arrivals with profiles and surges, fixed servers, FIFO or non-preemptive
priority, finite buffers, probabilistic routing with class change, parametric service times,
patience, balking, breakdowns), as one loop over an event heap held in arrays.

State lives in arrays owned by the caller and is carried across calls, so the caller runs the
loop in slices: :func:`run_network` returns when the output buffer is nearly full (``FULL``),
when the customer pool, the event heap or a station queue needs to grow (``GROW``: the caller
enlarges the arrays and calls again) or when the next event is at or past ``t_stop``
(``DONE``). A call stops between two events only, so slicing does not change the log.

Layouts (column constants below):

- ``hf[H]`` / ``hi[H, 4]``: binary heap of pending events, ordered by (time, scheduling seq):
  time, then seq, type, id (class, customer slot or station), token.
- ``c[N, 10]`` / ``cf[N, 2]``: customer slots, recycled through the stack ``fr`` at departure.
  A pending timer carries the slot's token at scheduling; tokens only grow (also across
  recycling), so a stale timer never matches.
- ``s[S, 6]``: station state; ``q[S, Q, 3]`` / ``qn[S]``: each station's waiting heap of
  (priority, join order, slot), entries of abandoned customers dropped lazily at dispatch.
- ``g``: integer globals (``G_*``); ``now[0]``: the simulation clock.
- ``of[cap]`` / ``oi[cap, 9]``: output events (time; entity, event, cause, kind, station,
  class, queue, busy, servers), -1 meaning none/null, as in the SimPy engine's log.
- Distributions are rows ``(family, a, b)``: 0 exponential(mean a), 1 deterministic(a),
  2 lognormal(mu a, sigma b), 3 gamma(shape a, scale b), 4 weibull(shape a, scale b); a
  family < 0 means none (no patience).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventforge._numba import kernel
from eventforge.simulators.discrete_event.simpy_engine import (
    ABANDON,
    ARRIVAL,
    BALK,
    BLOCK,
    BREAKDOWN,
    DEPART,
    END,
    JOIN,
    REPAIR,
    ROUTE,
    START,
)

__all__ = ["DONE", "FULL", "GROW", "run_network"]

DONE, FULL, GROW = 0, 1, 2

#: The event loop's helpers are inlined into :func:`run_network` at Numba's IR level (twice as
#: fast as calls passing a dozen arrays each, measured on an M/M/5); only ``run_network`` is a
#: kernel of its own, cached like every kernel.
_inline = njit(inline="always", nogil=True)
# Heap event types.
T_ARRIVAL, T_END, T_RENEGE, T_FAIL, T_REPAIR = range(5)
# Customer slot columns (c) and float columns (cf).
C_ID, C_CLS, C_KIND, C_LAST, C_ST, C_TOK, C_WAIT, C_ORDER, C_OUT, C_INSVC = range(10)
F_REM, F_END = range(2)
# Station state columns (s).
S_BUSY, S_NWAIT, S_UP, S_NEXT, S_BEGAN, S_SERVERS = range(6)
# Globals (g).
G_INIT, G_HSIZE, G_HSEQ, G_NFREE, G_NEXT_ID, G_COUNT, G_NOUT = range(7)
# Class config columns (ccfg) and station config columns (scfg).
K_PRIO, K_BALK_THR, K_BALK_N, K_FLAT = range(4)
X_BUFFER, X_PRIORITY, X_BREAKDOWNS = range(3)


@_inline
def _sample(d: np.ndarray, rng: np.random.Generator) -> float:
    fam = int(d[0])
    if fam == 0:
        return rng.exponential(d[1])
    if fam == 1:
        return d[1]
    if fam == 2:
        return rng.lognormal(d[1], d[2])
    if fam == 3:
        return rng.gamma(d[1], d[2])
    return d[2] * rng.weibull(d[1])


@_inline
def _push(hf, hi, g, t, typ, ident, tok):
    """Sift-up insertion keyed by (time, seq)."""
    i = g[G_HSIZE]
    seq = g[G_HSEQ]
    g[G_HSIZE] += 1
    g[G_HSEQ] += 1
    while i > 0:
        p = (i - 1) // 2
        if hf[p] < t or (hf[p] == t and hi[p, 0] < seq):
            break
        hf[i] = hf[p]
        hi[i, 0], hi[i, 1], hi[i, 2], hi[i, 3] = hi[p, 0], hi[p, 1], hi[p, 2], hi[p, 3]
        i = p
    hf[i] = t
    hi[i, 0], hi[i, 1], hi[i, 2], hi[i, 3] = seq, typ, ident, tok


@_inline
def _pop(hf, hi, g):
    """Remove the root; returns (time, type, id, token)."""
    t, typ, ident, tok = hf[0], hi[0, 1], hi[0, 2], hi[0, 3]
    n = g[G_HSIZE] - 1
    g[G_HSIZE] = n
    lt, l0, l1, l2, l3 = hf[n], hi[n, 0], hi[n, 1], hi[n, 2], hi[n, 3]
    i = 0
    while True:
        k = 2 * i + 1
        if k >= n:
            break
        if k + 1 < n and (hf[k + 1] < hf[k] or (hf[k + 1] == hf[k] and hi[k + 1, 0] < hi[k, 0])):
            k += 1
        if lt < hf[k] or (lt == hf[k] and l0 < hi[k, 0]):
            break
        hf[i] = hf[k]
        hi[i, 0], hi[i, 1], hi[i, 2], hi[i, 3] = hi[k, 0], hi[k, 1], hi[k, 2], hi[k, 3]
        i = k
    if n > 0:
        hf[i] = lt
        hi[i, 0], hi[i, 1], hi[i, 2], hi[i, 3] = l0, l1, l2, l3
    return t, typ, ident, tok


@_inline
def _qpush(q, qn, st, prio, order, slot):
    """Push onto station ``st``'s waiting heap keyed by (priority, order)."""
    i = qn[st]
    qn[st] += 1
    while i > 0:
        p = (i - 1) // 2
        if q[st, p, 0] < prio or (q[st, p, 0] == prio and q[st, p, 1] < order):
            break
        q[st, i, 0], q[st, i, 1], q[st, i, 2] = q[st, p, 0], q[st, p, 1], q[st, p, 2]
        i = p
    q[st, i, 0], q[st, i, 1], q[st, i, 2] = prio, order, slot


@_inline
def _qpop(q, qn, st):
    """Remove the root of station ``st``'s waiting heap; returns (order, slot)."""
    order, slot = q[st, 0, 1], q[st, 0, 2]
    n = qn[st] - 1
    qn[st] = n
    l0, l1, l2 = q[st, n, 0], q[st, n, 1], q[st, n, 2]
    i = 0
    while True:
        k = 2 * i + 1
        if k >= n:
            break
        if k + 1 < n and (
            q[st, k + 1, 0] < q[st, k, 0]
            or (q[st, k + 1, 0] == q[st, k, 0] and q[st, k + 1, 1] < q[st, k, 1])
        ):
            k += 1
        if l0 < q[st, k, 0] or (l0 == q[st, k, 0] and l1 < q[st, k, 1]):
            break
        q[st, i, 0], q[st, i, 1], q[st, i, 2] = q[st, k, 0], q[st, k, 1], q[st, k, 2]
        i = k
    if n > 0:
        q[st, i, 0], q[st, i, 1], q[st, i, 2] = l0, l1, l2
    return order, slot


@_inline
def _emit(ev, ent, cause, kind, st, cls, now, s, g, of, oi, counts, kinds):
    """Append one event to the output; returns its seq."""
    n = g[G_NOUT]
    of[n] = now
    oi[n, 0], oi[n, 1], oi[n, 2], oi[n, 3], oi[n, 5] = ent, ev, cause, kind, cls
    if st < 0:
        oi[n, 4] = oi[n, 6] = oi[n, 7] = oi[n, 8] = -1
        counts[counts.shape[0] - 1, ev] += 1
    else:
        oi[n, 4], oi[n, 6], oi[n, 7], oi[n, 8] = st, s[st, S_NWAIT], s[st, S_BUSY], s[st, S_SERVERS]
        counts[st, ev] += 1
    if kind >= 0:
        kinds[kind] += 1
    seq = g[G_COUNT]
    g[G_COUNT] += 1
    g[G_NOUT] = n + 1
    return seq


@_inline
def _cust(ev, i, st, kind, now, c, s, g, of, oi, counts, kinds):
    """A customer event caused by its previous one (``kind`` < -1: the customer's own)."""
    k = c[i, C_KIND] if kind < -1 else kind
    c[i, C_LAST] = _emit(ev, c[i, C_ID], c[i, C_LAST], k, st, c[i, C_CLS], now, s, g, of, oi,
                         counts, kinds)  # fmt: skip


@kernel
def run_network(
    rng, t_stop, out_margin, heap_margin,
    ccfg, rate, bound, profile, pat, balk_p, week_hour0, units_per_hour, surges, surge_code,
    scfg, svc, ttf, rep, outage_code, rcum, rdest, rcls, rn,
    g, now, hf, hi, c, cf, fr, s, q, qn, counts, kinds, of, oi,
):  # fmt: skip
    """Advance the network until ``t_stop`` (exclusive), a full output or a needed growth;
    returns ``DONE``, ``FULL`` or ``GROW`` (see the module doc)."""
    n_cls, n_st = ccfg.shape[0], scfg.shape[0]
    if g[G_INIT] == 0:
        g[G_INIT] = 1
        for k in range(n_cls):
            if rate[k] > 0.0:
                _push(hf, hi, g, rng.exponential(1.0 / bound[k]), T_ARRIVAL, k, 0)
        for st in range(n_st):
            if scfg[st, X_BREAKDOWNS]:
                _push(hf, hi, g, _sample(ttf[st], rng), T_FAIL, st, 0)
    cap = of.shape[0]
    while True:
        if g[G_NOUT] + out_margin > cap:
            return FULL
        if g[G_NFREE] == 0 or g[G_HSIZE] + heap_margin > hf.shape[0] or qn.max() + 1 >= q.shape[1]:
            return GROW
        if g[G_HSIZE] == 0 or hf[0] >= t_stop:
            return DONE
        t, typ, ident, tok = _pop(hf, hi, g)
        now[0] = t
        # Customers reaching a station (ja: slot, jst: station, jext: external), and a station
        # whose servers may take waiting customers (disp), are handled after the event itself.
        ja, jst, jext, disp = -1, -1, False, -1
        route_slot, route_src = -1, -1
        if typ == T_ARRIVAL:
            k = ident
            mult, kind = 1.0, -1
            for j in range(surges.shape[0]):
                if surges[j, 0] <= t < surges[j, 1]:
                    mult, kind = mult * surges[j, 2], surge_code
            keep = True
            if ccfg[k, K_FLAT] == 0:
                hour = int((week_hour0 + t / units_per_hour) // 1.0) % 168
                keep = rng.random() * bound[k] < rate[k] * profile[k, hour] * mult
            if keep:
                g[G_NFREE] -= 1
                i = fr[g[G_NFREE]]
                c[i, C_ID] = g[G_NEXT_ID]
                g[G_NEXT_ID] += 1
                c[i, C_CLS], c[i, C_KIND], c[i, C_ST] = k, kind, -1
                c[i, C_TOK] += 1
                c[i, C_WAIT] = c[i, C_OUT] = c[i, C_INSVC] = 0
                cf[i, F_REM] = -1.0
                c[i, C_LAST] = _emit(ARRIVAL, c[i, C_ID], -1, kind, -1, k, t, s, g, of, oi,
                                     counts, kinds)  # fmt: skip
                route_slot, route_src = i, 0
        elif typ == T_END:
            i = ident
            if c[i, C_TOK] == tok:
                st = c[i, C_ST]
                c[i, C_INSVC] = 0
                s[st, S_BUSY] -= 1
                cf[i, F_REM] = -1.0
                _cust(END, i, st, outage_code if c[i, C_OUT] else -2, t, c, s, g, of, oi, counts,
                      kinds)  # fmt: skip
                c[i, C_OUT] = 0
                disp = st
                route_slot, route_src = i, 1 + st
        elif typ == T_RENEGE:
            i = ident
            if c[i, C_TOK] == tok and c[i, C_WAIT]:
                c[i, C_WAIT] = 0
                st = c[i, C_ST]
                s[st, S_NWAIT] -= 1
                _cust(ABANDON, i, st, -2, t, c, s, g, of, oi, counts, kinds)
                _cust(DEPART, i, -1, -2, t, c, s, g, of, oi, counts, kinds)
                fr[g[G_NFREE]] = i
                g[G_NFREE] += 1
        elif typ == T_FAIL:
            st = ident
            s[st, S_UP] = 0
            s[st, S_BEGAN] = _emit(BREAKDOWN, -1 - st, -1, outage_code, st, -1, t, s, g, of, oi,
                                   counts, kinds)  # fmt: skip
            for i in range(c.shape[0]):
                if c[i, C_INSVC] and c[i, C_ST] == st:
                    c[i, C_TOK] += 1
                    cf[i, F_REM] = cf[i, F_END] - t
                    c[i, C_OUT] = 1
            _push(hf, hi, g, t + _sample(rep[st], rng), T_REPAIR, st, 0)
        else:  # T_REPAIR
            st = ident
            s[st, S_UP] = 1
            _emit(REPAIR, -1 - st, s[st, S_BEGAN], outage_code, st, -1, t, s, g, of, oi, counts,
                  kinds)  # fmt: skip
            for i in range(c.shape[0]):
                if c[i, C_INSVC] and c[i, C_ST] == st:
                    cf[i, F_END] = t + cf[i, F_REM]
                    _push(hf, hi, g, cf[i, F_END], T_END, i, c[i, C_TOK])
            disp = st
        if disp >= 0:
            _dispatch(disp, t, rng, ccfg, scfg, svc, c, cf, s, q, qn, g, hf, hi, of, oi, counts,
                      kinds)  # fmt: skip
        if route_slot >= 0:
            i = route_slot
            k = c[i, C_CLS]
            n = rn[k, route_src]
            j = 0
            if n > 1:
                u = rng.random()
                while j < n - 1 and rcum[k, route_src, j] <= u:
                    j += 1
            c[i, C_CLS] = rcls[k, route_src, j]
            if route_src > 0:
                _cust(ROUTE, i, route_src - 1, -2, t, c, s, g, of, oi, counts, kinds)
            dest = rdest[k, route_src, j]
            if dest < 0:
                _cust(DEPART, i, -1, -2, t, c, s, g, of, oi, counts, kinds)
                fr[g[G_NFREE]] = i
                g[G_NFREE] += 1
            else:
                ja, jst, jext = i, dest, route_src == 0
        if ja >= 0:
            _join(ja, jst, jext, t, rng, ccfg, pat, balk_p, scfg, svc, c, cf, fr, s, q, qn, g,
                  hf, hi, of, oi, counts, kinds)  # fmt: skip
        if typ == T_ARRIVAL:
            # The next candidate is drawn after this one is handled (as the SimPy process does).
            _push(hf, hi, g, t + rng.exponential(1.0 / bound[ident]), T_ARRIVAL, ident, 0)
        elif typ == T_REPAIR:
            _push(hf, hi, g, t + _sample(ttf[ident], rng), T_FAIL, ident, 0)


@_inline
def _join(
    i, st, external, t, rng, ccfg, pat, balk_p, scfg, svc, c, cf, fr, s, q, qn, g, hf, hi, of,
    oi, counts, kinds,
):  # fmt: skip
    """Customer slot ``i`` reaches station ``st``: balk (external arrivals only), block (full
    buffer) or join the queue, with a patience timer, and service if a server is free."""
    k = c[i, C_CLS]
    nq = s[st, S_NWAIT]
    lost = -1
    if external:
        if ccfg[k, K_BALK_THR] >= 0:
            if nq >= ccfg[k, K_BALK_THR]:
                lost = BALK
        elif ccfg[k, K_BALK_N] > 0 and rng.random() < balk_p[k, min(nq, ccfg[k, K_BALK_N] - 1)]:
            lost = BALK
    if lost < 0:
        free = s[st, S_UP] == 1 and s[st, S_BUSY] < s[st, S_SERVERS] and nq == 0
        if not free and scfg[st, X_BUFFER] >= 0 and nq >= scfg[st, X_BUFFER]:
            lost = BLOCK
    if lost >= 0:
        _cust(lost, i, st, -2, t, c, s, g, of, oi, counts, kinds)
        _cust(DEPART, i, -1, -2, t, c, s, g, of, oi, counts, kinds)
        fr[g[G_NFREE]] = i
        g[G_NFREE] += 1
        return
    c[i, C_ST], c[i, C_ORDER] = st, s[st, S_NEXT]
    s[st, S_NEXT] += 1
    prio = ccfg[k, K_PRIO] if scfg[st, X_PRIORITY] else 0
    _qpush(q, qn, st, prio, c[i, C_ORDER], i)
    c[i, C_WAIT] = 1
    s[st, S_NWAIT] += 1
    _cust(JOIN, i, st, -2, t, c, s, g, of, oi, counts, kinds)
    if pat[k, 0] >= 0.0:
        _push(hf, hi, g, t + _sample(pat[k], rng), T_RENEGE, i, c[i, C_TOK])
    _dispatch(st, t, rng, ccfg, scfg, svc, c, cf, s, q, qn, g, hf, hi, of, oi, counts, kinds)


@_inline
def _dispatch(st, t, rng, ccfg, scfg, svc, c, cf, s, q, qn, g, hf, hi, of, oi, counts, kinds):
    """Start service while a server is free and someone waits (highest priority first)."""
    while s[st, S_UP] == 1 and s[st, S_BUSY] < s[st, S_SERVERS] and s[st, S_NWAIT] > 0:
        order, i = _qpop(q, qn, st)
        if c[i, C_WAIT] == 0 or c[i, C_ORDER] != order or c[i, C_ST] != st:
            continue  # a stale entry of a customer who abandoned
        c[i, C_WAIT] = 0
        c[i, C_TOK] += 1
        s[st, S_NWAIT] -= 1
        s[st, S_BUSY] += 1
        _cust(START, i, st, -2, t, c, s, g, of, oi, counts, kinds)
        if cf[i, F_REM] < 0.0:
            cf[i, F_REM] = _sample(svc[st, c[i, C_CLS]], rng)
        cf[i, F_END] = t + cf[i, F_REM]
        c[i, C_INSVC] = 1
        _push(hf, hi, g, cf[i, F_END], T_END, i, c[i, C_TOK])
