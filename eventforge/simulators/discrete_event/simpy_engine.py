"""The SimPy engine of the queue_network model: arrival, breakdown and shift processes, and the
stations' bookkeeping, emitting every event into an :class:`EventLog` as it happens.

Stations are not ``simpy.Resource`` objects: a resource's capacity is fixed, while shift
schedules change the servers on duty and breakdowns stop a station with customers in service.
Each station keeps its own waiting heap and busy count instead, and a customer is a small
record driven by SimPy timeouts with callbacks. A pending timer (service end, patience) carries
the customer's ``token`` at scheduling; bumping the token cancels it, which is how service is
interrupted (preemption, breakdown) and resumed with the remaining time (preemptive-resume).

Every state change emits its event at once, so the ``queue_length`` / ``busy`` / ``servers``
columns are the station's state right after that very event (the replay invariant). Random
numbers are drawn from the one Generator in SimPy's event order, which is deterministic (ties
break by scheduling order), so a seed fixes the log.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import simpy

from eventforge.simulators.discrete_event.network import (
    ENTRY,
    EXIT,
    ClassSpec,
    PoissonArrivals,
    QueueNetworkParams,
    QueueNetworkRareEvents,
    Route,
    StationSpec,
)
from eventforge.simulators.monte_carlo.sampling import cumulative, week_profile

__all__ = ["VOCABULARY", "EventLog", "NetworkEngine", "rate_piece"]

#: Event names; their index is the event code.
VOCABULARY = (
    "arrival",
    "queue_join",
    "service_start",
    "service_end",
    "route",
    "abandon",
    "balk",
    "block",
    "depart",
    "breakdown",
    "repair",
    "shift_change",
)
(ARRIVAL, JOIN, START, END, ROUTE, ABANDON, BALK, BLOCK, DEPART, BREAKDOWN, REPAIR, SHIFT) = range(
    len(VOCABULARY)
)
#: The integer columns of the log, in the order :meth:`NetworkEngine._emit` writes them.
_INT_COLUMNS = ("entity", "event", "cause", "kind", "station", "cls", "queue", "busy", "servers")
_WIDTH = len(_INT_COLUMNS)


class EventLog:
    """Pending events as two flat Python lists, handed out as NumPy columns in order.

    An event is one float appended to ``times`` and its nine integer columns (``_INT_COLUMNS``)
    extended onto ``ints``: two list calls per event instead of ten appends, and an all-int list
    converts to NumPy at C speed; events per station and type are counted with ``bincount`` as
    they are taken (together 40% less time per event than column lists counted one by one).
    ``count`` is the number of events ever emitted, so an event's ``seq`` is ``count`` at its
    emission (the batch builder numbers rows in the same order). Station-less events have
    station, queue, busy and servers -1 (null in the log); -1 for cause and kind means none.
    """

    def __init__(self, n_stations: int, kinds: int) -> None:
        self.times: list[float] = []
        self.ints: list[int] = []
        self.count = 0
        self._counts = np.zeros((n_stations + 1, len(VOCABULARY)), dtype=np.int64)
        self._kinds = np.zeros(kinds, dtype=np.int64)

    @property
    def pending(self) -> int:
        """Events emitted but not yet taken."""
        return len(self.times)

    @property
    def counts(self) -> list[list[int]]:
        """counts[s][e]: events of type e at station s among those taken (the last row:
        station-less events)."""
        return self._counts.tolist()

    @property
    def kind_counts(self) -> list[int]:
        """Events taken per rare kind."""
        return self._kinds.tolist()

    def take(self, limit: int) -> dict[str, np.ndarray]:
        """The oldest ``limit`` pending events (fewer if fewer are pending), as arrays."""
        n = min(limit, len(self.times))
        out = {"time": np.array(self.times[:n], dtype=np.float64)}
        del self.times[:n]
        ints = np.array(self.ints[: n * _WIDTH], dtype=np.int64).reshape(n, _WIDTH).T.copy()
        del self.ints[: n * _WIDTH]
        out |= dict(zip(_INT_COLUMNS, ints, strict=True))
        rows, n_ev = self._counts.shape
        station, event, kind = out["station"], out["event"], out["kind"]
        # Station-less events (-1) count in the last row.
        at = np.where(station < 0, rows - 1, station) * n_ev + event
        self._counts += np.bincount(at, minlength=rows * n_ev).reshape(rows, n_ev)
        self._kinds += np.bincount(kind[kind >= 0], minlength=self._kinds.size)
        return out


@dataclass(slots=True, eq=False)
class _Customer:
    cid: int
    cls: int
    kind: int  # rare-kind code of all its events (surge) or -1
    last: int  # seq of its previous event: the cause of the next
    priority: int = 0
    station: int = -1
    token: int = 0  # bumped to cancel pending timers
    waiting: bool = False
    order: int = 0  # FIFO position at the current station
    remaining: float = -1.0  # service left after an interruption; < 0: none
    end: float = 0.0  # scheduled service end
    outage: bool = False  # its current service was suspended by a breakdown


@dataclass(slots=True, eq=False)
class _Station:
    idx: int
    spec: StationSpec
    servers: int
    busy: int = 0
    nwait: int = 0
    up: bool = True
    heap: list[tuple[int, int, _Customer]] = field(default_factory=list)
    in_service: dict[int, _Customer] = field(default_factory=dict)
    next_order: int = 0
    last_shift: int = -1  # seq of its previous shift change


def rate_piece(
    t: float,
    rate: float,
    profile: Sequence[float],
    trend: tuple[float, float],
    surges: Sequence[tuple[float, float, float]],
    week_hour0: float,
    units_per_hour: float,
) -> tuple[float, float]:
    """A Poisson class's rate at time ``t`` and the time its piece ends (the next clock hour, or
    a surge's start or end before it): ``rate * profile[hour of the week] * trend * surges``,
    ``trend`` being ``(1 + growth, per)`` (see :class:`.PoissonArrivals`). The compiled
    engine's ``_next_arrival`` does the same arithmetic, to the bit."""
    hour = math.floor(week_hour0 + t / units_per_hour)
    end = (hour + 1 - week_hour0) * units_per_hour
    while end <= t:  # t at an hour's boundary, rounded down
        hour += 1
        end = (hour + 1 - week_hour0) * units_per_hour
    r = rate * profile[hour % 168]
    base, per = trend
    if base != 1.0:
        r *= base ** (max(0.0, (hour - week_hour0) * units_per_hour) / per)
    for a, b, m in surges:
        if a <= t < b:
            r *= m
        if t < a < end:
            end = a
        elif t < b < end:
            end = b
    return r, end


def _pick(cum: Sequence[float], rng: np.random.Generator) -> int:
    """An index drawn from cumulative probabilities ending with exactly 1.0 (so a uniform in
    [0, 1) never falls past the end, and a zero-probability entry is never drawn); no draw
    when there is one choice."""
    if len(cum) == 1:
        return 0
    return bisect.bisect_right(cum, float(rng.random()))


class NetworkEngine:
    """One replication of a queueing network on a SimPy environment; see the module doc.

    ``start()`` registers the processes; the caller then advances ``env`` in time slices and
    takes events from ``log``. ``surge`` and ``outage`` are the rare-kind codes.
    """

    def __init__(
        self,
        params: QueueNetworkParams,
        rare: QueueNetworkRareEvents,
        rng: np.random.Generator,
        start: datetime,
        time_unit_s: float,
        surge: int,
        outage: int,
    ) -> None:
        self.params, self.rng = params, rng
        self.env = simpy.Environment()
        self.classes = list(params.classes)
        self._class_specs = list(params.classes.values())  # by class index: no dict lookups
        self.station_names = list(params.stations)
        self.surge_code, self.outage_code = surge, outage
        self.log = EventLog(len(self.station_names), 2)
        self._hour = 3600.0 / time_unit_s
        utc = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        # Hour of the day and of the week (Monday 0h = 0) at t = 0, as a float.
        self._hour0 = utc.hour + (utc.minute * 60 + utc.second + utc.microsecond / 1e6) / 3600.0
        self._week_hour0 = utc.weekday() * 24 + self._hour0
        self._surges = [(s.at, s.at + s.duration, s.multiplier) for s in rare.surges]
        self._routes = self._compile_routes()
        self.stations = [
            _Station(i, spec, spec.servers_at(self._hour0))
            for i, spec in enumerate(params.stations.values())
        ]
        self._service = [
            [spec.service_by_class.get(c, spec.service) for c in self.classes]
            for spec in params.stations.values()
        ]
        self._next_id = 0

    # --- setup -----------------------------------------------------------------------------

    def _compile_routes(self) -> list[list[tuple[list[float], list[int], list[int]] | None]]:
        """routes[class][src] (src 0 = entry, 1 + s = station s): cumulative probabilities,
        destination (station index, -1 = exit) and the class after the route."""
        cidx = {c: i for i, c in enumerate(self.classes)}
        sidx = {s: i for i, s in enumerate(self.station_names)} | {EXIT: -1}
        table: list[list[tuple[list[float], list[int], list[int]] | None]] = []
        for c in self.classes:
            rows = self.params.routing.get(c, {})
            per: list[tuple[list[float], list[int], list[int]] | None] = []
            for src in (ENTRY, *self.station_names):
                row = rows.get(src)
                if row is None:
                    per.append(None)
                    continue
                probs = [v.p if isinstance(v, Route) else v for v in row.values()]
                cum = cumulative(np.array(probs)).tolist()
                dest = [sidx[d] for d in row]
                new = [cidx[v.to_class] if isinstance(v, Route) else cidx[c] for v in row.values()]
                per.append((cum, dest, new))
            table.append(per)
        return table

    def start(self) -> None:
        """Register the arrival, breakdown and shift processes."""
        env = self.env
        for c, spec in enumerate(self.params.classes.values()):
            if isinstance(spec.arrivals, PoissonArrivals):
                env.process(self._poisson(c, spec.arrivals))
            elif spec.arrivals is not None:
                env.process(self._renewal(c, spec.arrivals.interarrival.sample))
        for st in self.stations:
            if st.spec.breakdowns is not None:
                env.process(self._breakdowns(st))
            if not isinstance(st.spec.servers, int):
                env.process(self._shifts(st))

    # --- emission --------------------------------------------------------------------------

    def _emit(
        self, event: int, entity: int, cause: int, kind: int, st: _Station | None, cls: int
    ) -> int:
        log = self.log
        log.times.append(self.env.now)
        if st is None:
            log.ints.extend((entity, event, cause, kind, -1, cls, -1, -1, -1))
        else:
            log.ints.extend(
                (entity, event, cause, kind, st.idx, cls, st.nwait, st.busy, st.servers)
            )
        seq = log.count
        log.count += 1
        return seq

    def _cust(self, c: _Customer, event: int, st: _Station | None, kind: int | None = None) -> None:
        """Emit a customer event caused by its previous one."""
        c.last = self._emit(event, c.cid, c.last, c.kind if kind is None else kind, st, c.cls)

    # --- arrivals --------------------------------------------------------------------------

    def _poisson(self, cls: int, spec: PoissonArrivals) -> Generator[simpy.Event, Any, None]:
        """A Poisson stream whose rate is piecewise constant (:func:`rate_piece`): each gap is
        drawn at the current rate; one that would cross the next change of rate is dropped and
        the stream restarts there at the new rate, which by memorylessness is the same process
        (Cinlar, Introduction to Stochastic Processes, 4.3). Unlike thinning at the rate's
        maximum, no candidate event is thrown away (thinning made 5 per arrival in the
        emergency department). The compiled engine's ``_next_arrival`` does the same, to the
        bit."""
        rng, env, uph, w0 = self.rng, self.env, self._hour, self._week_hour0
        profile = week_profile(spec.daily_profile, spec.weekly_profile).tolist()
        flat = (
            spec.daily_profile is None
            and spec.weekly_profile is None
            and spec.trend is None
            and not self._surges
        )
        base, per = (1.0, 1.0) if spec.trend is None else (1.0 + spec.trend.growth, spec.trend.per)
        sizes: list[int] = [1]
        cum: list[float] = [1.0]
        if spec.batch_size is not None:
            sizes = list(range(1, len(spec.batch_size) + 1))
            cum = cumulative(np.array(spec.batch_size)).tolist()
        while True:
            if flat:
                yield env.timeout(float(rng.exponential(1.0 / spec.rate)))
            else:
                t = env.now
                r, end = rate_piece(t, spec.rate, profile, (base, per), self._surges, w0, uph)
                gap = float(rng.exponential(1.0 / r)) if r > 0.0 else math.inf
                if t + gap >= end:
                    yield env.timeout(end - t)
                    continue
                yield env.timeout(gap)
            t = env.now
            kind = -1
            for a, b, _ in self._surges:
                if a <= t < b:
                    kind = self.surge_code
            for _ in range(sizes[_pick(cum, rng)]):
                self._arrive(cls, kind)

    def _renewal(
        self, cls: int, draw: Callable[[np.random.Generator], float]
    ) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(draw(self.rng))
            self._arrive(cls, -1)

    def _arrive(self, cls: int, kind: int) -> None:
        c = _Customer(self._next_id, cls, kind, -1, self._class_specs[cls].priority)
        self._next_id += 1
        c.last = self._emit(ARRIVAL, c.cid, -1, kind, None, cls)
        self._route(c, 0, None)

    # --- customers -------------------------------------------------------------------------

    def _route(self, c: _Customer, src: int, at: _Station | None) -> None:
        """Send ``c`` on from ``src`` (0: the entry; else station ``src - 1``, logged as a
        ``route`` event there, carrying the class after any class change)."""
        row = self._routes[c.cls][src]
        assert row is not None  # validation: every reachable (class, station) has a row
        cum, dest, new = row
        k = _pick(cum, self.rng)
        new_cls = new[k]
        if new_cls != c.cls:
            c.cls = new_cls
            c.priority = self._class_specs[new_cls].priority
        if at is not None:
            self._cust(c, ROUTE, at)
        if dest[k] < 0:
            self._cust(c, DEPART, None)
        else:
            self._join(c, self.stations[dest[k]], external=at is None)

    def _balks(self, spec: ClassSpec, q: int) -> bool:
        """Whether an arriving customer seeing ``q`` waiting turns away (draws one uniform only
        under a probability rule)."""
        if spec.balk_if_queue_at_least is not None:
            return q >= spec.balk_if_queue_at_least
        if spec.balk_probability is not None:
            p = spec.balk_probability[min(q, len(spec.balk_probability) - 1)]
            return float(self.rng.random()) < p
        return False

    def _join(self, c: _Customer, st: _Station, external: bool) -> None:
        """``c`` reaches ``st``: balk (external arrivals only), block (full buffer) or join the
        queue, with a patience timer if its class has one, and service if a server is free."""
        spec = self._class_specs[c.cls]
        q = st.nwait
        if external and self._balks(spec, q):
            self._cust(c, BALK, st)
            self._cust(c, DEPART, None)
            return
        free = st.up and st.busy < st.servers and q == 0
        if not free and st.spec.buffer is not None and q >= st.spec.buffer:
            self._cust(c, BLOCK, st)
            self._cust(c, DEPART, None)
            return
        c.station, c.order = st.idx, st.next_order
        st.next_order += 1
        self._enqueue(c, st)
        self._cust(c, JOIN, st)
        if spec.patience is not None:
            token = c.token
            timer = self.env.timeout(spec.patience.sample(self.rng))
            timer.callbacks.append(lambda _e: self._renege(c, token))
        if st.spec.preemptive and st.up and st.busy >= st.servers:
            self._preempt(c, st)
        self._dispatch(st)

    def _enqueue(self, c: _Customer, st: _Station) -> None:
        prio = c.priority if st.spec.discipline == "priority" else 0
        heapq.heappush(st.heap, (prio, c.order, c))
        c.waiting = True
        st.nwait += 1

    def _renege(self, c: _Customer, token: int) -> None:
        if c.token != token or not c.waiting:
            return  # served (or interrupted and re-queued) before its patience ran out
        c.waiting = False
        st = self.stations[c.station]
        st.nwait -= 1  # its heap entry is dropped lazily by _dispatch
        self._cust(c, ABANDON, st)
        self._cust(c, DEPART, None)

    def _preempt(self, c: _Customer, st: _Station) -> None:
        """Interrupt the lowest-priority customer in service (the latest to have joined among
        equals) if ``c`` outranks it; it rejoins the queue (a ``queue_join`` event) keeping its
        place and its remaining service time, and is not subject to patience again."""
        victim = max(st.in_service.values(), key=lambda v: (v.priority, v.order), default=None)
        if victim is None or victim.priority <= c.priority:
            return
        victim.token += 1
        victim.remaining = victim.end - self.env.now
        del st.in_service[victim.cid]
        st.busy -= 1
        self._enqueue(victim, st)
        self._cust(victim, JOIN, st)

    def _dispatch(self, st: _Station) -> None:
        """Start service while a server is free and someone waits (highest priority first)."""
        while st.up and st.busy < st.servers and st.nwait:
            _, order, c = heapq.heappop(st.heap)
            if not c.waiting or c.order != order or c.station != st.idx:
                continue  # a stale entry of a customer who abandoned
            c.waiting = False
            c.token += 1
            st.nwait -= 1
            st.busy += 1
            self._cust(c, START, st)
            if c.remaining < 0:
                c.remaining = self._service[st.idx][c.cls].sample(self.rng)
            self._serve(c, st)

    def _serve(self, c: _Customer, st: _Station) -> None:
        c.end = self.env.now + c.remaining
        st.in_service[c.cid] = c
        token = c.token
        timer = self.env.timeout(c.remaining)
        timer.callbacks.append(lambda _e: self._done(c, token))

    def _done(self, c: _Customer, token: int) -> None:
        if c.token != token:
            return  # interrupted: a new timer carries the rest of the service
        st = self.stations[c.station]
        del st.in_service[c.cid]
        st.busy -= 1
        c.remaining = -1.0
        self._cust(c, END, st, self.outage_code if c.outage else None)
        c.outage = False
        # The freed server takes the next waiting customer before this one moves on.
        self._dispatch(st)
        self._route(c, 1 + st.idx, st)

    # --- stations --------------------------------------------------------------------------

    def _breakdowns(self, st: _Station) -> Generator[simpy.Event, Any, None]:
        """The whole station fails: customers in service are suspended and resume (with their
        remaining time) after the repair; nobody starts service meanwhile."""
        bd = st.spec.breakdowns
        assert bd is not None
        env, entity = self.env, -1 - st.idx
        while True:
            yield env.timeout(bd.time_to_failure.sample(self.rng))
            st.up = False
            began = self._emit(BREAKDOWN, entity, -1, self.outage_code, st, -1)
            for c in st.in_service.values():
                c.token += 1
                c.remaining = c.end - env.now
                c.outage = True
            yield env.timeout(bd.repair_time.sample(self.rng))
            st.up = True
            self._emit(REPAIR, entity, began, self.outage_code, st, -1)
            for c in list(st.in_service.values()):
                self._serve(c, st)
            self._dispatch(st)

    def _shifts(self, st: _Station) -> Generator[simpy.Event, Any, None]:
        """Daily shift boundaries (UTC hour of day); servers going off duty finish their
        customer first (busy may exceed servers until they do)."""
        assert not isinstance(st.spec.servers, int)
        shifts = sorted(st.spec.servers, key=lambda s: s.at)
        env, day = self.env, 0
        while True:
            for s in shifts:
                t = ((day * 24 + s.at) - self._hour0) * self._hour
                if t <= env.now:
                    continue
                yield env.timeout(t - env.now)
                st.servers = s.servers
                st.last_shift = self._emit(SHIFT, -1 - st.idx, st.last_shift, -1, st, -1)
                self._dispatch(st)
            day += 1
