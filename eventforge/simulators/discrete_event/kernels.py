"""The Numba event loop of the queue_network model (the compiled engine).

The same model as :mod:`.simpy_engine` (Poisson arrivals with profiles, surges and batches,
renewal arrivals, servers fixed or by daily shift schedule, FIFO or priority order, optionally
preemptive-resume, finite buffers, probabilistic routing with class change, parametric and
empirical service times, patience, balking, breakdowns), as one loop over an event heap held in
arrays.

State lives in arrays owned by the caller and is carried across calls, so the caller runs the
loop in slices: :func:`run_network` returns when the output buffer is nearly full (``FULL``),
when the customer pool, the event heap or a station queue needs to grow (``GROW``: the caller
enlarges the arrays and calls again) or when the next event is at or past ``t_stop``
(``DONE``). A call stops between two events only (the members of a batch arrival count as
events of their own, handled one per turn of the loop before any other), so slicing does not
change the log.

Layouts (column constants below):

- ``h[1 + H, 5]``: binary heap of pending events, ordered by (time, scheduling seq), in rows
  1.. (row i's children are 2i and 2i + 1): time, seq, type, id (class, customer slot or
  station), token (a shift event's token is its shift count ``day * n_shifts + j``), all held
  exactly as floats; row 0 holds the heap's size, the next seq and the time of a batch's
  pending members.
- ``c[N, C_WIDTH]`` / ``cf[N, 2]``: customer slots, recycled through the stack ``fr`` at departure.
  A pending timer carries the slot's token at scheduling; tokens only grow (also across
  recycling), so a stale timer never matches.
- ``s[S + 1, S_SV + most servers]``: station state, one row per station (``S_*``, then the
  station's service list), and the integer globals (``G_*``) in the last row; ``q[S, Q, 3]``:
  each station's waiting line of (priority, join order, slot), ``s[station, S_QN]`` entries,
  entries of abandoned customers dropped lazily at dispatch: a heap ordered by (priority,
  order) at a priority station, a ring from ``s[station, S_QHEAD]`` (``Q`` a power of two) at
  a FIFO one, where join order is arrival order (O(1) instead of a heap's sift-down at each
  dispatch: the M/M/5's loop ~6% faster).
- ``of[cap]`` / ``oe[2, cap]`` / ``oi[7, cap]``: output events, one row per column so that
  each column is contiguous: the times, the int64 columns (``OE_*``: entity, cause) and the
  small ones as int32 (``O_*``: event, kind, station, class, queue, busy, servers), the
  dtypes of the log's Arrow columns, so that building a batch casts nothing; -1 means
  none/null, as in the SimPy engine's log. The totals per station and event type and per
  rare kind are counted from them by :func:`tally`, into an array of their own (``T_*``).
- Distributions are rows ``(family, a, b)``: 0 exponential(mean a), 1 deterministic(a),
  2 lognormal(mu a, sigma b), 3 gamma(shape a, scale b), 4 weibull(shape a, scale b); a
  family < 0 means none (no patience); 5 empirical: ``a`` is the offset ``o`` of its block in
  the pooled ``emp`` array (``emp[o]`` values, then the values), ``b`` the smoothing bandwidth
  (< 0: no smoothing, which draws no normal).
"""

from __future__ import annotations

import math

import numpy as np

from eventforge._numba import inline, kernel
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
    SHIFT,
    START,
    VOCABULARY,
)

__all__ = ["DONE", "FULL", "GROW", "run_network", "tally"]

DONE, FULL, GROW = 0, 1, 2

# The event loop's helpers are inlined into :func:`run_network` (``inline``: twice as fast as
# calls passing a dozen arrays each, measured on an M/M/5); only ``run_network`` is a kernel of
# its own, cached like every kernel. Inlined, a helper's array arguments still cost an atomic
# reference-count update per call (Numba prunes them in a helper without loops, not in one
# with), most of the loop's time when helpers took ~20 arrays, which is why the state is packed
# into few arrays and the once-per-event parts (joining a station, dispatching, the heaps' pops)
# are plain code in the loop: 3x faster on an M/M/5.

# Heap event types.
# T_RENEWAL: a renewal class's arrival, an event type of its own so that the Poisson path
# stays short (checks added to it measurably slowed the M/M/5).
T_ARRIVAL, T_RENEWAL, T_END, T_RENEGE, T_FAIL, T_REPAIR, T_SHIFT = range(7)
# Tokens of T_ARRIVAL events: a new arrival (or batch), a batch's next member, a change of
# the class's rate.
A_NEW, A_MEMBER, A_BREAK = range(3)
# Customer slot columns (c) and float columns (cf).
# C_SVPOS: the customer's place in its station's service list (see S_SV), while in service.
C_ID, C_CLS, C_KIND, C_LAST, C_ST, C_TOK, C_WAIT, C_ORDER, C_OUT, C_SVPOS = range(10)
#: Columns of ``c``.
C_WIDTH = C_SVPOS + 1
F_REM, F_END = range(2)
# Station state columns (rows of s but the last; S_QN: entries of the waiting line).
# S_SHIFT: the seq of the station's previous shift_change (the cause of the next). S_QHEAD:
# the first entry of a FIFO station's ring (see the module doc).
S_BUSY, S_NWAIT, S_UP, S_NEXT, S_BEGAN, S_SERVERS, S_QN, S_SHIFT, S_QHEAD = range(9)
# Globals (the last row of s).
# G_PEND: members of the current batch still to arrive, of class G_PCLS and rare kind G_PKIND, at
# the time held in h[0, 2]. G_QFULL: some station queue has room for 2 entries or fewer (what
# one event may add: a customer and one it preempts), checked where queues grow, not per event.
G_INIT, G_NFREE, G_NEXT_ID, G_COUNT, G_NOUT, G_PEND, G_PCLS, G_PKIND, G_QFULL = range(9)
#: Columns of ``s`` before a station's service list: ``s[st, S_SV + x]`` for x < busy are the
#: slots of its customers in service (suspended ones included), in no particular order (a
#: repair sorts it), so that a preemption, a breakdown and a repair look at the station's busy
#: servers, not at every customer slot. The caller gives ``s`` room for the most servers any
#: station has on duty (busy never exceeds that).
S_SV = S_QHEAD + 1
# Columns of the log's totals, counted by :func:`tally` into an array of their own, one row per
# station and a last one (T_EVENTS + e: events of type e at the station, or station-less events
# in the last row; T_KINDS + r, in the last row only: events of rare kind r, surge and outage).
T_EVENTS = 0
T_KINDS = len(VOCABULARY)
T_WIDTH = T_KINDS + 2
# Output rows (oe: int64, oi: int32).
OE_ENTITY, OE_CAUSE = range(2)
O_EVENT, O_KIND, O_STATION, O_CLS, O_QUEUE, O_BUSY, O_SERVERS = range(7)
# Class config columns (ccfg) and station config columns (scfg).
# K_RENEWAL: a renewal stream (interarrival row ia[k]; arrivals are T_RENEWAL events, no
# surges); K_BATCH_N: entries of the class's cumulative batch-size row bcum[k]
# (0 or 1: one customer per arrival, no draw).
K_PRIO, K_BALK_THR, K_BALK_N, K_FLAT, K_RENEWAL, K_BATCH_N = range(6)
# X_NSHIFT: shifts in the station's daily schedule shifts[st] (rows (hour, servers)), 0: none.
X_BUFFER, X_PRIORITY, X_BREAKDOWNS, X_PREEMPT, X_NSHIFT = range(5)


@inline
def _sample(fam: float, a: float, b: float, rng: np.random.Generator, emp: np.ndarray) -> float:
    """A draw from the distribution row ``(fam, a, b)``, passed as scalars (a row view would
    cost reference-count updates); ``emp`` holds the empirical distributions' values."""
    f = int(fam)
    if f == 0:
        return rng.exponential(a)
    if f == 1:
        return a
    if f == 2:
        return rng.lognormal(a, b)
    if f == 3:
        return rng.gamma(a, b)
    if f == 4:
        return b * rng.weibull(a)
    return _empirical(emp, int(a), b, rng)


# Empirical draws are a kernel of their own, called rather than inlined into every _sample.


@kernel
def _empirical(emp, o, b, rng):
    """One of the values of the block at ``emp[o]``, uniformly, plus N(0, b^2) noise reflected
    at 0 when ``b >= 0`` (Empirical.sample's formula)."""
    x = emp[o + 1 + rng.integers(0, int(emp[o]))]
    if b >= 0.0:
        x = abs(x + b * rng.normal(0.0, 1.0))
    return x


@inline
def _shift_time(shifts, st, ns, m, hour0, units_per_hour):
    """Time of station ``st``'s ``m``-th shift boundary since day 0 (the SimPy engine's
    formula: ``(day * 24 + hour - hour0) * units per hour``)."""
    return ((m // ns) * 24 + shifts[st, m % ns, 0] - hour0) * units_per_hour


@inline
def _next_arrival(k, t, ccfg, rate, profile, trend, week_hour0, units_per_hour, surges, rng):
    """Poisson class ``k``'s next arrival after ``t``, as ``(time, A_NEW)``, or the next time
    its rate changes, ``(time, A_BREAK)``, if that comes first: the rate is piecewise constant
    (hour of the week x the trend at the hour's start x the surges on), and a Poisson process
    restarted at a change of rate with the new rate is the same process (memorylessness), so
    no candidate is thrown away, unlike thinning at the rate's maximum (5 candidates per
    arrival in the emergency department). The SimPy engine's ``_poisson`` does the same
    arithmetic, to the bit."""
    if ccfg[k, K_FLAT]:
        return t + rng.exponential(1.0 / rate[k]), A_NEW
    hour = math.floor(week_hour0 + t / units_per_hour)
    end = (hour + 1 - week_hour0) * units_per_hour
    while end <= t:  # t at an hour's boundary, rounded down
        hour += 1
        end = (hour + 1 - week_hour0) * units_per_hour
    r = rate[k] * profile[k, hour % 168]
    if trend[k, 0] != 1.0:
        r *= trend[k, 0] ** (max(0.0, (hour - week_hour0) * units_per_hour) / trend[k, 1])
    for j in range(surges.shape[0]):
        a, b = surges[j, 0], surges[j, 1]
        if a <= t < b:
            r *= surges[j, 2]
        if t < a < end:
            end = a
        elif t < b < end:
            end = b
    if r > 0.0:
        gap = rng.exponential(1.0 / r)
        if t + gap < end:
            return t + gap, A_NEW
    # t + (end - t), not end itself: SimPy's timeout arithmetic.
    return t + (end - t), A_BREAK


@inline
def _push(h, t, typ, ident, tok):
    """Sift-up insertion keyed by (time, seq)."""
    i = int(h[0, 0]) + 1
    seq = h[0, 1]
    h[0, 0], h[0, 1] = i, seq + 1.0
    while i > 1:
        p = i // 2
        if h[p, 0] < t or (h[p, 0] == t and h[p, 1] < seq):
            break
        h[i, 0], h[i, 1], h[i, 2], h[i, 3], h[i, 4] = h[p, 0], h[p, 1], h[p, 2], h[p, 3], h[p, 4]
        i = p
    h[i, 0], h[i, 1], h[i, 2], h[i, 3], h[i, 4] = t, seq, typ, ident, tok


@inline
def _qpush(q, s, st, prio, order, slot):
    """Push onto station ``st``'s waiting heap keyed by (priority, order)."""
    i = s[st, S_QN]
    s[st, S_QN] = i + 1
    while i > 0:
        p = (i - 1) // 2
        if q[st, p, 0] < prio or (q[st, p, 0] == prio and q[st, p, 1] < order):
            break
        q[st, i, 0], q[st, i, 1], q[st, i, 2] = q[st, p, 0], q[st, p, 1], q[st, p, 2]
        i = p
    q[st, i, 0], q[st, i, 1], q[st, i, 2] = prio, order, slot


@inline
def _unserve(s, c, st, i):
    """Customer slot ``i`` leaves service at station ``st``: out of the service list (the last
    entry takes its place) and one server less busy."""
    last = s[st, S_BUSY] - 1
    j = s[st, S_SV + last]
    s[st, S_SV + c[i, C_SVPOS]], c[j, C_SVPOS] = j, c[i, C_SVPOS]
    s[st, S_BUSY] = last


@inline
def _emit(ev, ent, cause, kind, st, cls, now, s, of, oe, oi):
    """Append one event to the output columns; returns its seq."""
    n = s[-1, G_NOUT]
    of[n] = now
    oe[OE_ENTITY, n], oe[OE_CAUSE, n] = ent, cause
    oi[O_EVENT, n], oi[O_KIND, n] = ev, kind
    oi[O_CLS, n] = cls
    if st < 0:
        oi[O_STATION, n] = oi[O_QUEUE, n] = oi[O_BUSY, n] = oi[O_SERVERS, n] = -1
    else:
        oi[O_STATION, n], oi[O_QUEUE, n] = st, s[st, S_NWAIT]
        oi[O_BUSY, n], oi[O_SERVERS, n] = s[st, S_BUSY], s[st, S_SERVERS]
    seq = s[-1, G_COUNT]
    s[-1, G_COUNT] = seq + 1
    s[-1, G_NOUT] = n + 1
    return seq


@inline
def _cust(ev, i, st, kind, now, c, s, of, oe, oi):
    """A customer event caused by its previous one (``kind`` < -1: the customer's own)."""
    k = c[i, C_KIND] if kind < -1 else kind
    c[i, C_LAST] = _emit(ev, c[i, C_ID], c[i, C_LAST], k, st, c[i, C_CLS], now, s, of, oe, oi)


@kernel
def run_network(
    rng, t_stop, out_margin, heap_margin,
    ccfg, rate, profile, trend, pat, balk_p, week_hour0, units_per_hour, surges, surge_code,
    ia, bcum, hour0, shifts, emp,
    scfg, svc, ttf, rep, outage_code, rcum, rdest, rcls, rn,
    h, c, cf, fr, s, q, of, oe, oi,
):  # fmt: skip
    """Advance the network until ``t_stop`` (exclusive), a full output or a needed growth;
    returns ``DONE``, ``FULL`` or ``GROW`` (see the module doc)."""
    n_cls, n_st = ccfg.shape[0], scfg.shape[0]
    if s[-1, G_INIT] == 0:
        s[-1, G_INIT] = 1
        for k in range(n_cls):
            if ccfg[k, K_RENEWAL]:
                _push(h, _sample(ia[k, 0], ia[k, 1], ia[k, 2], rng, emp), T_RENEWAL, k, 0)
            elif rate[k] > 0.0:
                t0, tok0 = _next_arrival(
                    k, 0.0, ccfg, rate, profile, trend, week_hour0, units_per_hour, surges, rng
                )
                _push(h, t0, T_ARRIVAL, k, tok0)
        for st in range(n_st):
            if scfg[st, X_BREAKDOWNS]:
                _push(h, _sample(ttf[st, 0], ttf[st, 1], ttf[st, 2], rng, emp), T_FAIL, st, 0)
            ns = scfg[st, X_NSHIFT]
            if ns > 0:
                # The first boundary after t = 0 (the schedule at t = 0 is the initial state).
                m = 0
                while _shift_time(shifts, st, ns, m, hour0, units_per_hour) <= 0.0:
                    m += 1
                _push(h, _shift_time(shifts, st, ns, m, hour0, units_per_hour), T_SHIFT, st, m)
    cap = of.shape[0]
    qcap = q.shape[1]
    while True:
        if s[-1, G_NOUT] + out_margin > cap:
            return FULL
        if s[-1, G_NFREE] == 0 or s[-1, G_QFULL] or h[0, 0] + heap_margin >= h.shape[0]:
            return GROW
        if s[-1, G_PEND] > 0:
            # The next member of a batch (A_MEMBER), handled before any other event, as in SimPy
            # (as a pseudo-event, not a loop over members: that made the M/M/5 ~7% slower).
            s[-1, G_PEND] -= 1
            t, typ, ident, tok = h[0, 2], T_ARRIVAL, s[-1, G_PCLS], A_MEMBER
        else:
            if h[0, 0] == 0.0 or h[1, 0] >= t_stop:
                return DONE
            # Pop the heap's root: plain code, not a helper (see above; ~8% of the M/M/5's
            # loop).
            t, typ, ident, tok = h[1, 0], int(h[1, 2]), int(h[1, 3]), int(h[1, 4])
            n = int(h[0, 0])
            lt, l1, l2, l3, l4 = h[n, 0], h[n, 1], h[n, 2], h[n, 3], h[n, 4]
            n -= 1
            h[0, 0] = n
            i = 1
            while True:
                j = 2 * i
                if j > n:
                    break
                if j < n and (
                    h[j + 1, 0] < h[j, 0] or (h[j + 1, 0] == h[j, 0] and h[j + 1, 1] < h[j, 1])
                ):
                    j += 1
                if lt < h[j, 0] or (lt == h[j, 0] and l1 < h[j, 1]):
                    break
                h[i, 0], h[i, 1], h[i, 2] = h[j, 0], h[j, 1], h[j, 2]
                h[i, 3], h[i, 4] = h[j, 3], h[j, 4]
                i = j
            if n > 0:
                h[i, 0], h[i, 1], h[i, 2], h[i, 3], h[i, 4] = lt, l1, l2, l3, l4
        # A customer reaching a station (ja: slot, jst: station, jext: external), and a station
        # whose servers may take waiting customers (disp), are handled after the event itself.
        ja, jst, jext, disp = -1, -1, False, -1
        route_slot, route_src = -1, -1
        keep, kind = True, -1
        if typ == T_ARRIVAL:
            k = ident
            if tok == A_MEMBER:
                kind = s[-1, G_PKIND]
            elif tok == A_BREAK:
                keep = False  # the rate changes here: only the next arrival is drawn
            else:
                # Poisson: a customer (of a surge if one is on), or a batch of them.
                for j in range(surges.shape[0]):
                    if surges[j, 0] <= t < surges[j, 1]:
                        kind = surge_code
                if ccfg[k, K_BATCH_N] > 1:
                    # The first cumulative probability above a uniform (bisect_right in SimPy).
                    u = rng.random()
                    nb = 1
                    while nb < ccfg[k, K_BATCH_N] and bcum[k, nb - 1] <= u:
                        nb += 1
                    s[-1, G_PEND], s[-1, G_PCLS], s[-1, G_PKIND] = nb - 1, k, kind
                    h[0, 2] = t
        elif typ == T_END:
            i = ident
            if c[i, C_TOK] == tok:
                st = c[i, C_ST]
                _unserve(s, c, st, i)
                cf[i, F_REM] = -1.0
                _cust(END, i, st, outage_code if c[i, C_OUT] else -2, t, c, s, of, oe, oi)
                c[i, C_OUT] = 0
                disp = st
                route_slot, route_src = i, 1 + st
        elif typ == T_RENEGE:
            i = ident
            if c[i, C_TOK] == tok and c[i, C_WAIT]:
                c[i, C_WAIT] = 0
                st = c[i, C_ST]
                s[st, S_NWAIT] -= 1
                _cust(ABANDON, i, st, -2, t, c, s, of, oe, oi)
                _cust(DEPART, i, -1, -2, t, c, s, of, oe, oi)
                fr[s[-1, G_NFREE]] = i
                s[-1, G_NFREE] += 1
        elif typ == T_FAIL:
            st = ident
            s[st, S_UP] = 0
            s[st, S_BEGAN] = _emit(BREAKDOWN, -1 - st, -1, outage_code, st, -1, t, s, of, oe, oi)
            for x in range(s[st, S_BUSY]):
                i = s[st, S_SV + x]
                c[i, C_TOK] += 1
                cf[i, F_REM] = cf[i, F_END] - t
                c[i, C_OUT] = 1
            _push(h, t + _sample(rep[st, 0], rep[st, 1], rep[st, 2], rng, emp), T_REPAIR, st, 0)
        elif typ == T_REPAIR:
            st = ident
            s[st, S_UP] = 1
            _emit(REPAIR, -1 - st, s[st, S_BEGAN], outage_code, st, -1, t, s, of, oe, oi)
            # Service resumes in the order it started (the SimPy engine's in-service dict),
            # which decides the order of service ends due at one instant: the service list
            # insertion-sorted by each customer's last event, its service_start (a customer in
            # service has no event of its own until its service_end).
            nb = s[st, S_BUSY]
            for x in range(1, nb):
                i = s[st, S_SV + x]
                y = x
                while y > 0 and c[s[st, S_SV + y - 1], C_LAST] > c[i, C_LAST]:
                    j = s[st, S_SV + y - 1]
                    s[st, S_SV + y], c[j, C_SVPOS] = j, y
                    y -= 1
                s[st, S_SV + y], c[i, C_SVPOS] = i, y
            for x in range(nb):
                i = s[st, S_SV + x]
                cf[i, F_END] = t + cf[i, F_REM]
                _push(h, cf[i, F_END], T_END, i, c[i, C_TOK])
            disp = st
        elif typ == T_SHIFT:
            # Servers going off duty finish their customer (busy may exceed servers meanwhile).
            st = ident
            s[st, S_SERVERS] = int(shifts[st, tok % scfg[st, X_NSHIFT], 1])
            s[st, S_SHIFT] = _emit(SHIFT, -1 - st, s[st, S_SHIFT], -1, st, -1, t, s, of, oe, oi)
            disp = st
        if typ <= T_RENEWAL and keep:
            k = ident
            nfree = s[-1, G_NFREE] - 1
            s[-1, G_NFREE] = nfree
            i = fr[nfree]
            c[i, C_ID] = s[-1, G_NEXT_ID]
            s[-1, G_NEXT_ID] += 1
            c[i, C_CLS], c[i, C_KIND], c[i, C_ST] = k, kind, -1
            c[i, C_TOK] += 1
            c[i, C_WAIT] = c[i, C_OUT] = 0
            cf[i, F_REM] = -1.0
            c[i, C_LAST] = _emit(ARRIVAL, c[i, C_ID], -1, kind, -1, k, t, s, of, oe, oi)
            route_slot, route_src = i, 0
        # Serve the stations whose servers may take waiting customers: first the event's
        # own (before routing), then the one a customer joined. Plain code rather than a
        # helper: a helper's array arguments cost reference-count updates at every call.
        for phase in range(2):
            if disp >= 0:
                st, disp = disp, -1
                while s[st, S_UP] == 1 and s[st, S_BUSY] < s[st, S_SERVERS] and s[st, S_NWAIT] > 0:
                    if scfg[st, X_PRIORITY] == 0:  # the head of the FIFO ring
                        x = s[st, S_QHEAD]
                        order, i = q[st, x, 1], q[st, x, 2]
                        s[st, S_QHEAD] = (x + 1) & (qcap - 1)
                        s[st, S_QN] -= 1
                    else:
                        # Pop the root of the station's waiting heap (plain code, as the event
                        # heap's pop).
                        order, i = q[st, 0, 1], q[st, 0, 2]
                        n = s[st, S_QN] - 1
                        s[st, S_QN] = n
                        l0, l1, l2 = q[st, n, 0], q[st, n, 1], q[st, n, 2]
                        x = 0
                        while True:
                            j = 2 * x + 1
                            if j >= n:
                                break
                            if j + 1 < n and (
                                q[st, j + 1, 0] < q[st, j, 0]
                                or (
                                    q[st, j + 1, 0] == q[st, j, 0] and q[st, j + 1, 1] < q[st, j, 1]
                                )
                            ):
                                j += 1
                            if l0 < q[st, j, 0] or (l0 == q[st, j, 0] and l1 < q[st, j, 1]):
                                break
                            q[st, x, 0], q[st, x, 1] = q[st, j, 0], q[st, j, 1]
                            q[st, x, 2] = q[st, j, 2]
                            x = j
                        if n > 0:
                            q[st, x, 0], q[st, x, 1], q[st, x, 2] = l0, l1, l2
                    if c[i, C_WAIT] == 0 or c[i, C_ORDER] != order or c[i, C_ST] != st:
                        continue  # a stale entry of a customer who abandoned
                    c[i, C_WAIT] = 0
                    c[i, C_TOK] += 1
                    s[st, S_NWAIT] -= 1
                    busy = s[st, S_BUSY]
                    s[st, S_SV + busy], c[i, C_SVPOS] = i, busy
                    s[st, S_BUSY] = busy + 1
                    _cust(START, i, st, -2, t, c, s, of, oe, oi)
                    if cf[i, F_REM] < 0.0:
                        k = c[i, C_CLS]
                        if svc[st, k, 0] == 0.0:
                            # Exponential service drawn here rather than by _sample, whose
                            # rng and emp arguments cost reference-count updates (3% of
                            # the M/M/5's loop); the same draw.
                            cf[i, F_REM] = rng.exponential(svc[st, k, 1])
                        else:
                            cf[i, F_REM] = _sample(
                                svc[st, k, 0], svc[st, k, 1], svc[st, k, 2], rng, emp
                            )
                    cf[i, F_END] = t + cf[i, F_REM]
                    _push(h, cf[i, F_END], T_END, i, c[i, C_TOK])
            if phase == 1:
                break
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
                    _cust(ROUTE, i, route_src - 1, -2, t, c, s, of, oe, oi)
                dest = rdest[k, route_src, j]
                if dest < 0:
                    _cust(DEPART, i, -1, -2, t, c, s, of, oe, oi)
                    fr[s[-1, G_NFREE]] = i
                    s[-1, G_NFREE] += 1
                else:
                    ja, jst, jext = i, dest, route_src == 0
            if ja >= 0:
                # Customer slot ja reaches station jst: balk (external arrivals only), block
                # (full buffer) or join the queue, with a patience timer, possibly
                # preempting a customer in service, then service if a server is free (the
                # next phase). Plain code, as above.
                i, st = ja, jst
                k = c[i, C_CLS]
                nq = s[st, S_NWAIT]
                lost = -1
                if jext:
                    if ccfg[k, K_BALK_THR] >= 0:
                        if nq >= ccfg[k, K_BALK_THR]:
                            lost = BALK
                    elif ccfg[k, K_BALK_N] > 0 and (
                        rng.random() < balk_p[k, min(nq, ccfg[k, K_BALK_N] - 1)]
                    ):
                        lost = BALK
                if lost < 0:
                    free = s[st, S_UP] == 1 and s[st, S_BUSY] < s[st, S_SERVERS] and nq == 0
                    if not free and scfg[st, X_BUFFER] >= 0 and nq >= scfg[st, X_BUFFER]:
                        lost = BLOCK
                if lost >= 0:
                    _cust(lost, i, st, -2, t, c, s, of, oe, oi)
                    _cust(DEPART, i, -1, -2, t, c, s, of, oe, oi)
                    fr[s[-1, G_NFREE]] = i
                    s[-1, G_NFREE] += 1
                else:
                    c[i, C_ST], c[i, C_ORDER] = st, s[st, S_NEXT]
                    s[st, S_NEXT] += 1
                    if scfg[st, X_PRIORITY]:
                        _qpush(q, s, st, ccfg[k, K_PRIO], c[i, C_ORDER], i)
                    else:  # the tail of the FIFO ring
                        x = (s[st, S_QHEAD] + s[st, S_QN]) & (qcap - 1)
                        q[st, x, 0], q[st, x, 1], q[st, x, 2] = 0, c[i, C_ORDER], i
                        s[st, S_QN] += 1
                    c[i, C_WAIT] = 1
                    s[st, S_NWAIT] += 1
                    _cust(JOIN, i, st, -2, t, c, s, of, oe, oi)
                    if pat[k, 0] >= 0.0:
                        wait = _sample(pat[k, 0], pat[k, 1], pat[k, 2], rng, emp)
                        _push(h, t + wait, T_RENEGE, i, c[i, C_TOK])
                    if (
                        scfg[st, X_PREEMPT]
                        and s[st, S_UP] == 1
                        and s[st, S_BUSY] >= s[st, S_SERVERS]
                    ):
                        # Preemptive-resume: the lowest-priority customer in service (the
                        # latest to have joined among equals) goes back to the queue with
                        # its place and remaining time if the newcomer outranks it.
                        v, vp, vo = -1, 0, 0
                        for x in range(s[st, S_BUSY]):
                            j = s[st, S_SV + x]
                            p = ccfg[c[j, C_CLS], K_PRIO]
                            if v < 0 or p > vp or (p == vp and c[j, C_ORDER] > vo):
                                v, vp, vo = j, p, c[j, C_ORDER]
                        if v >= 0 and vp > ccfg[k, K_PRIO]:
                            c[v, C_TOK] += 1
                            cf[v, F_REM] = cf[v, F_END] - t
                            _unserve(s, c, st, v)
                            _qpush(q, s, st, vp, vo, v)
                            c[v, C_WAIT] = 1
                            s[st, S_NWAIT] += 1
                            _cust(JOIN, v, st, -2, t, c, s, of, oe, oi)
                    if s[st, S_QN] + 2 >= qcap:
                        s[-1, G_QFULL] = 1
                    disp = st
        # The event's successor in its stream, if any: one push site rather than one per
        # stream (the generated code counted a reference to the heap per push at those sites,
        # none at this one, as at the service-end sites; the M/M/5's loop ~1% faster).
        nt, ntyp, ntok = 0.0, -1, 0
        if typ == T_ARRIVAL and s[-1, G_PEND] == 0:
            # The next arrival is drawn after this one (and its whole batch) is handled, as the
            # SimPy process does.
            nt, ntok = _next_arrival(
                ident, t, ccfg, rate, profile, trend, week_hour0, units_per_hour, surges, rng
            )
            ntyp = T_ARRIVAL
        elif typ == T_RENEWAL:
            gap = _sample(ia[ident, 0], ia[ident, 1], ia[ident, 2], rng, emp)
            nt, ntyp = t + gap, T_RENEWAL
        elif typ == T_REPAIR:
            up = _sample(ttf[ident, 0], ttf[ident, 1], ttf[ident, 2], rng, emp)
            nt, ntyp = t + up, T_FAIL
        elif typ == T_SHIFT:
            ns = scfg[ident, X_NSHIFT]
            # t + (boundary - t), not the boundary itself: SimPy's timeout arithmetic, to the bit.
            tn = _shift_time(shifts, ident, ns, tok + 1, hour0, units_per_hour)
            nt, ntyp, ntok = t + (tn - t), T_SHIFT, tok + 1
        if ntyp >= 0:
            _push(h, nt, ntyp, ident, ntok)


@kernel
def tally(oi, n, totals):
    """Add the first ``n`` output events of ``oi`` to ``totals`` (``T_*`` columns, a row per
    station and a last one). A pass of its own over each :func:`run_network` output, ~2 ms for
    the M/M/5's 592k events against ~5 ms for the NumPy bincounts it replaced; counting in
    ``_emit`` instead slowed the event loop by ~5 ms. The totals are not the loop's state, so
    the caller may count one output while the loop fills the next."""
    last = totals.shape[0] - 1
    for j in range(n):
        st = oi[O_STATION, j]
        totals[last if st < 0 else st, T_EVENTS + oi[O_EVENT, j]] += 1
        r = oi[O_KIND, j]
        if r >= 0:
            totals[last, T_KINDS + r] += 1
