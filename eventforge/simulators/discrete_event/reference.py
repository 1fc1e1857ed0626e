"""Plain-Python reference of the compiled event loop (:mod:`.kernels`), for tests.

Same model, same random draws in the same order, written for clarity: a ``heapq`` of
``(time, seq, type, id, token)`` tuples, customers as small records, per-station waiting heaps
of ``(priority, order, customer)``. It reads the network from a :class:`.CompiledEngine`'s
config arrays (so both consume one translation of the params) and runs to the horizon at once.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from eventforge.simulators.discrete_event.compiled_engine import CompiledEngine
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
    rate_piece,
)

__all__ = ["reference_network"]

_ARRIVE, _END, _RENEGE, _FAIL, _REPAIR, _SHIFT = range(6)


@dataclass(eq=False)
class _Cust:
    cid: int
    cls: int
    kind: int
    last: int = -1
    station: int = -1
    token: int = 0
    waiting: bool = False
    order: int = 0
    remaining: float = -1.0
    end: float = 0.0
    outage: bool = False


def _sample(d: np.ndarray, rng: np.random.Generator, emp: np.ndarray) -> float:
    fam, a, b = int(d[0]), float(d[1]), float(d[2])
    if fam == 0:
        return float(rng.exponential(a))
    if fam == 1:
        return a
    if fam == 2:
        return float(rng.lognormal(a, b))
    if fam == 3:
        return float(rng.gamma(a, b))
    if fam == 4:
        return b * float(rng.weibull(a))
    values = emp[int(a) + 1 : int(a) + 1 + int(emp[int(a)])]
    x = float(values[rng.integers(len(values))])
    return abs(x + b * float(rng.normal())) if b >= 0.0 else x


def reference_network(eng: CompiledEngine, horizon: float) -> dict[str, np.ndarray]:
    """The log of ``eng``'s network up to ``horizon``, drawing from ``eng.rng``, as the column
    dict of :meth:`CompiledEngine.events` (all events at once)."""
    rng, emp = eng.rng, eng.emp
    surge, outage = eng._codes
    n_st = eng.scfg.shape[0]
    servers = list(eng._servers)
    busy, nwait, up, began = [0] * n_st, [0] * n_st, [True] * n_st, [-1] * n_st
    last_shift = [-1] * n_st
    next_order = [0] * n_st
    queues: list[list[tuple[int, int, _Cust]]] = [[] for _ in range(n_st)]
    in_service: list[list[_Cust]] = [[] for _ in range(n_st)]
    rows: list[tuple[Any, ...]] = []
    heap: list[tuple[float, int, int, Any, int]] = []
    counter = [0]
    now = [0.0]

    def push(t: float, typ: int, ident: Any, token: int = 0) -> None:
        heapq.heappush(heap, (t, counter[0], typ, ident, token))
        counter[0] += 1

    def emit(ev: int, ent: int, cause: int, kind: int, st: int, cls: int) -> int:
        state = (nwait[st], busy[st], servers[st]) if st >= 0 else (-1, -1, -1)
        rows.append((now[0], ent, ev, cause, kind, st, cls, *state))
        return len(rows) - 1

    def cust(c: _Cust, ev: int, st: int, kind: int | None = None) -> None:
        c.last = emit(ev, c.cid, c.last, c.kind if kind is None else kind, st, c.cls)

    def prio(c: _Cust) -> int:
        return int(eng.ccfg[c.cls, 0])

    def shift_time(st: int, m: int) -> float:
        ns = int(eng.scfg[st, 4])
        return float(
            ((m // ns) * 24 + eng.shifts[st, m % ns, 0] - eng._hour0) * eng._units_per_hour
        )

    def dispatch(st: int) -> None:
        while up[st] and busy[st] < servers[st] and nwait[st]:
            _, order, c = heapq.heappop(queues[st])
            if not c.waiting or c.order != order or c.station != st:
                continue
            c.waiting = False
            c.token += 1
            nwait[st] -= 1
            busy[st] += 1
            cust(c, START, st)
            if c.remaining < 0:
                c.remaining = _sample(eng.svc[st, c.cls], rng, emp)
            c.end = now[0] + c.remaining
            in_service[st].append(c)
            push(c.end, _END, c, c.token)

    def enqueue(c: _Cust, st: int) -> None:
        heapq.heappush(queues[st], (prio(c) if eng.scfg[st, 1] else 0, c.order, c))
        c.waiting = True
        nwait[st] += 1
        cust(c, JOIN, st)

    def preempt(c: _Cust, st: int) -> None:
        victim = max(in_service[st], key=lambda v: (prio(v), v.order), default=None)
        if victim is None or prio(victim) <= prio(c):
            return
        victim.token += 1
        victim.remaining = victim.end - now[0]
        in_service[st].remove(victim)
        busy[st] -= 1
        enqueue(victim, st)

    def join(c: _Cust, st: int, external: bool) -> None:
        k, q = c.cls, nwait[st]
        thr, n_balk = int(eng.ccfg[k, 1]), int(eng.ccfg[k, 2])
        lost = -1
        if external:
            if thr >= 0:
                lost = BALK if q >= thr else -1
            elif n_balk > 0 and rng.random() < eng.balk_p[k, min(q, n_balk - 1)]:
                lost = BALK
        buffer = int(eng.scfg[st, 0])
        free = up[st] and busy[st] < servers[st] and q == 0
        if lost < 0 and not free and buffer >= 0 and q >= buffer:
            lost = BLOCK
        if lost >= 0:
            cust(c, lost, st)
            cust(c, DEPART, -1)
            return
        c.station, c.order = st, next_order[st]
        next_order[st] += 1
        enqueue(c, st)
        if eng.pat[k, 0] >= 0:
            push(now[0] + _sample(eng.pat[k], rng, emp), _RENEGE, c, c.token)
        if eng.scfg[st, 3] and up[st] and busy[st] >= servers[st]:
            preempt(c, st)
        dispatch(st)

    def route(c: _Cust, src: int) -> None:
        k = c.cls
        n = int(eng.rn[k, src])
        j = 0 if n == 1 else int(np.searchsorted(eng.rcum[k, src, :n], rng.random(), "right"))
        c.cls = int(eng.rcls[k, src, j])
        if src > 0:
            cust(c, ROUTE, src - 1)
        dest = int(eng.rdest[k, src, j])
        if dest < 0:
            cust(c, DEPART, -1)
        else:
            join(c, dest, external=src == 0)

    def next_arrival(k: int, t: float) -> None:
        """Schedule class ``k``'s next arrival, or the next change of its rate (token 2) if a
        Poisson class's rate changes first (the kernel's ``_next_arrival``)."""
        if eng.ccfg[k, 4]:
            push(t + _sample(eng.ia[k], rng, emp), _ARRIVE, k)
            return
        if eng.ccfg[k, 3]:
            push(t + float(rng.exponential(1.0 / eng.rate[k])), _ARRIVE, k)
            return
        r, end = rate_piece(
            t,
            float(eng.rate[k]),
            eng.profile[k].tolist(),
            (float(eng.trend[k, 0]), float(eng.trend[k, 1])),
            [(a, b, m) for a, b, m in eng._surges.tolist()],
            eng._week_hour0,
            eng._units_per_hour,
        )
        gap = float(rng.exponential(1.0 / r)) if r > 0.0 else math.inf
        if t + gap < end:
            push(t + gap, _ARRIVE, k)
        else:
            push(t + (end - t), _ARRIVE, k, 2)

    for k in range(eng.ccfg.shape[0]):
        if eng.ccfg[k, 4] or eng.rate[k] > 0:
            next_arrival(k, 0.0)
    for st in range(n_st):
        if eng.scfg[st, 2]:
            push(_sample(eng.ttf[st], rng, emp), _FAIL, st)
        if eng.scfg[st, 4]:
            m = 0
            while shift_time(st, m) <= 0.0:
                m += 1
            push(shift_time(st, m), _SHIFT, st, m)
    next_id = 0
    while heap and heap[0][0] < horizon:
        t, _, typ, ident, token = heapq.heappop(heap)
        now[0] = t
        if typ == _ARRIVE:
            k = ident
            size, kind = 1 if token != 2 else 0, -1
            if not eng.ccfg[k, 4]:
                for a, b, _ in eng._surges:
                    if a <= t < b:
                        kind = surge
                n = int(eng.ccfg[k, 5])
                if size and n > 1:
                    size = 1 + int(np.searchsorted(eng.bcum[k, : n - 1], rng.random(), "right"))
            for _ in range(size):
                c = _Cust(next_id, k, kind)
                next_id += 1
                c.last = emit(ARRIVAL, c.cid, -1, kind, -1, k)
                route(c, 0)
            next_arrival(k, t)
        elif typ == _END and ident.token == token:
            c = ident
            st = c.station
            in_service[st].remove(c)
            busy[st] -= 1
            c.remaining = -1.0
            cust(c, END, st, outage if c.outage else None)
            c.outage = False
            dispatch(st)
            route(c, 1 + st)
        elif typ == _RENEGE and ident.token == token and ident.waiting:
            c = ident
            c.waiting = False
            nwait[c.station] -= 1
            cust(c, ABANDON, c.station)
            cust(c, DEPART, -1)
        elif typ == _FAIL:
            up[ident] = False
            began[ident] = emit(BREAKDOWN, -1 - ident, -1, outage, ident, -1)
            for c in in_service[ident]:
                c.token += 1
                c.remaining = c.end - t
                c.outage = True
            push(t + _sample(eng.rep[ident], rng, emp), _REPAIR, ident)
        elif typ == _REPAIR:
            up[ident] = True
            emit(REPAIR, -1 - ident, began[ident], outage, ident, -1)
            for c in in_service[ident]:
                c.end = t + c.remaining
                push(c.end, _END, c, c.token)
            dispatch(ident)
            push(t + _sample(eng.ttf[ident], rng, emp), _FAIL, ident)
        elif typ == _SHIFT:
            servers[ident] = int(eng.shifts[ident, token % int(eng.scfg[ident, 4]), 1])
            last_shift[ident] = emit(SHIFT, -1 - ident, last_shift[ident], -1, ident, -1)
            dispatch(ident)
            push(t + (shift_time(ident, token + 1) - t), _SHIFT, ident, token + 1)
    names = (
        "time",
        "entity",
        "event",
        "cause",
        "kind",
        "station",
        "cls",
        "queue",
        "busy",
        "servers",
    )
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    out = {name: np.array(col, dtype=np.int64) for name, col in zip(names, cols, strict=True)}
    out["time"] = np.array(cols[0], dtype=np.float64)
    return out
