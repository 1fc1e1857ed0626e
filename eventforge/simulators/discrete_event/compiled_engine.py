"""The compiled engine of the queue_network model: validated params turned into arrays, and the
Numba event loop (:func:`.kernels.run_network`) driven in slices.

The log is the SimPy engine's (same vocabulary, columns, causes, labels and state columns, see
:mod:`.queue_network`). The event loop draws the same random numbers in the same order and
computes times with the same arithmetic as the SimPy engine, and schedules events due at one
instant in the same order, so a seed gives the same log, bit for bit (the tests compare the two
on the built-in scenarios and on ties: batch members, shift boundaries, deterministic service
ends rescheduled by a repair).
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from eventforge.simulators.discrete_event import kernels as kn
from eventforge.simulators.discrete_event.network import (
    ENTRY,
    EXIT,
    Deterministic,
    Empirical,
    Exponential,
    GammaDist,
    Lognormal,
    PoissonArrivals,
    QueueNetworkParams,
    QueueNetworkRareEvents,
    RenewalArrivals,
    Route,
    StationSpec,
    Weibull,
)
from eventforge.simulators.monte_carlo.sampling import cumulative, week_profile
from eventforge.sinks.parquet import ParquetOptions, row_group_sizes

__all__ = ["CHUNK", "FIRST", "CompiledEngine", "LogTotals", "StationState", "dist_row"]

#: Events per call of the event loop (at most): small enough that the caller's work on the
#: last chunk, which nothing overlaps, is short; large enough that the output columns of a
#: chunk (52 bytes an event) get huge pages (NumPy asks for them from 4 MiB) and a call's fixed
#: cost (~40 us to pass three dozen arrays) stays negligible. The first chunks are shorter:
#: ``FIRST`` events at least, then twice as many at each chunk up to ``CHUNK``, the ramp of a
#: part's row groups at the default ``row_group_rows`` (``sinks.parquet.row_group_sizes``),
#: so that each chunk completes a row group which the writer can start on at once.
CHUNK = 131_072
FIRST = next(row_group_sizes(ParquetOptions.row_group_rows))

# The output rows of the kernel (oe: int64, oi: int32), named as in EventLog.take's dict.
_OUT64 = ("entity", "cause")
_OUT32 = ("event", "kind", "station", "cls", "queue", "busy", "servers")
# Output columns of one kernel call: times, int64 rows, int32 rows; bytes per event.
_Out = tuple[np.ndarray, np.ndarray, np.ndarray]
_EVENT_BYTES = 8 + 8 * len(_OUT64) + 4 * len(_OUT32)


def dist_row(d: object | None, emp: list[float]) -> tuple[float, float, float]:
    """A distribution as the kernel's ``(family, a, b)`` row (family -1: none); an empirical
    one appends its block (count, values) to the pool ``emp`` (see the kernels' module doc)."""
    if d is None:
        return (-1.0, 0.0, 0.0)
    if isinstance(d, Exponential):
        return (0.0, d.mean, 0.0)
    if isinstance(d, Deterministic):
        return (1.0, d.value, 0.0)
    if isinstance(d, Lognormal):
        # The parametrisation of Lognormal.sample (moments of the lognormal).
        s2 = math.log1p(d.cv**2)
        return (2.0, math.log(d.mean) - 0.5 * s2, math.sqrt(s2))
    if isinstance(d, GammaDist):
        k = 1.0 / d.cv**2
        return (3.0, k, d.mean / k)
    if isinstance(d, Weibull):
        return (4.0, d.shape, d.scale)
    if isinstance(d, Empirical):
        # The bandwidth of Empirical.sample (h = smoothing * population std); < 0: unsmoothed.
        h = d.smoothing * float(np.std(d.values)) if d.smoothing > 0.0 else -1.0
        emp.append(float(len(d.values)))
        emp.extend(d.values)
        return (5.0, float(len(emp) - len(d.values) - 1), h)
    raise ValueError(f"the compiled engine cannot sample {type(d).__name__}")


@dataclass(frozen=True)
class LogTotals:
    """What QueueNetwork.summary reads of an engine's log: events emitted, counts[station][event]
    (last row: station-less events) and events per rare kind."""

    count: int
    counts: list[list[int]]
    kind_counts: list[int]


@dataclass(frozen=True)
class StationState:
    """A station's state at the end of the run."""

    idx: int
    nwait: int
    busy: int
    servers: int


class CompiledEngine:
    """One replication of a network on the compiled event loop.

    ``events(horizon, limit)`` yields the log as column dicts (the keys of the SimPy engine's
    ``EventLog.take``) of at most ``limit`` events; afterwards ``log`` and ``stations`` give
    the final totals and station states. ``surge`` and ``outage`` are the rare-kind codes.
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
        self.rng = rng
        self.classes = list(params.classes)
        self.station_names = list(params.stations)
        self._codes = (surge, outage)
        utc = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        hour0 = utc.hour + (utc.minute * 60 + utc.second + utc.microsecond / 1e6) / 3600.0
        self._hour0 = hour0
        self._week_hour0 = utc.weekday() * 24 + hour0
        self._units_per_hour = 3600.0 / time_unit_s
        self._surges = np.array(
            [(s.at, s.at + s.duration, s.multiplier) for s in rare.surges], dtype=np.float64
        ).reshape(-1, 3)
        self._config(params)
        self._state(len(self.classes), len(self.station_names))

    def _config(self, p: QueueNetworkParams) -> None:
        """Read-only arrays of the network (see the kernels' module doc for the layouts)."""
        n_cls, n_st = len(self.classes), len(self.station_names)
        cidx = {c: i for i, c in enumerate(self.classes)}
        sidx = {s: i for i, s in enumerate(self.station_names)} | {EXIT: -1}
        emp: list[float] = []
        self.ccfg = np.zeros((n_cls, 6), dtype=np.int64)
        self.rate = np.zeros(n_cls)
        # Per class: 1 + growth and per of the trend (1, 1: none).
        self.trend = np.ones((n_cls, 2))
        self.profile = np.ones((n_cls, 168))
        self.pat, self.ia = np.zeros((n_cls, 3)), np.zeros((n_cls, 3))
        longest = max((len(c.balk_probability or ()) for c in p.classes.values()), default=0)
        self.balk_p = np.zeros((n_cls, max(1, longest)))
        batches = [
            c.arrivals.batch_size or [1.0]
            for c in p.classes.values()
            if isinstance(c.arrivals, PoissonArrivals)
        ]
        self.bcum = np.ones((n_cls, max(map(len, batches), default=1)))
        for k, spec in enumerate(p.classes.values()):
            thr = spec.balk_if_queue_at_least
            probs = spec.balk_probability or []
            self.ccfg[k, : kn.K_FLAT + 1] = (
                spec.priority,
                -1 if thr is None else thr,
                len(probs),
                1,
            )
            self.balk_p[k, : len(probs)] = probs
            self.pat[k] = dist_row(spec.patience, emp)
            arr = spec.arrivals
            if isinstance(arr, RenewalArrivals):
                self.ccfg[k, kn.K_RENEWAL] = 1
                self.ia[k] = dist_row(arr.interarrival, emp)
            elif isinstance(arr, PoissonArrivals):
                self.profile[k] = week_profile(arr.daily_profile, arr.weekly_profile)
                self.rate[k] = arr.rate
                flat = arr.daily_profile is None and arr.weekly_profile is None
                if arr.trend is not None:
                    self.trend[k] = (1.0 + arr.trend.growth, arr.trend.per)
                    flat = False
                self.ccfg[k, kn.K_FLAT] = int(flat and len(self._surges) == 0)
                if arr.batch_size is not None:
                    n = len(arr.batch_size)
                    self.ccfg[k, kn.K_BATCH_N] = n
                    self.bcum[k, :n] = cumulative(np.array(arr.batch_size))
        specs: list[StationSpec] = list(p.stations.values())
        n_shifts = max((len(st.servers) for st in specs if isinstance(st.servers, list)), default=1)
        self.shifts = np.zeros((n_st, n_shifts, 2))
        self.scfg = np.zeros((n_st, 5), dtype=np.int64)
        self.svc = np.zeros((n_st, n_cls, 3))
        self.ttf, self.rep = np.zeros((n_st, 3)), np.zeros((n_st, 3))
        for i, st in enumerate(specs):
            self.scfg[i] = (
                -1 if st.buffer is None else st.buffer,
                int(st.discipline == "priority"),
                int(st.breakdowns is not None),
                int(st.preemptive),
                0 if isinstance(st.servers, int) else len(st.servers),
            )
            if isinstance(st.servers, list):
                shifts = sorted(st.servers, key=lambda x: x.at)
                self.shifts[i, : len(shifts)] = [(x.at, x.servers) for x in shifts]
            for k, c in enumerate(self.classes):
                self.svc[i, k] = dist_row(st.service_by_class.get(c, st.service), emp)
            if st.breakdowns is not None:
                self.ttf[i] = dist_row(st.breakdowns.time_to_failure, emp)
                self.rep[i] = dist_row(st.breakdowns.repair_time, emp)
        self.emp = np.array(emp or [0.0])
        width = max(len(row) for rows in p.routing.values() for row in rows.values())
        self.rcum = np.ones((n_cls, n_st + 1, width))
        self.rdest = np.full((n_cls, n_st + 1, width), -1, dtype=np.int64)
        self.rcls = np.zeros((n_cls, n_st + 1, width), dtype=np.int64)
        self.rn = np.zeros((n_cls, n_st + 1), dtype=np.int64)
        for k, c in enumerate(self.classes):
            for src, row in p.routing.get(c, {}).items():
                j = 0 if src == ENTRY else 1 + sidx[src]
                probs = [v.p if isinstance(v, Route) else v for v in row.values()]
                n = len(row)
                self.rn[k, j] = n
                self.rcum[k, j, :n] = cumulative(np.array(probs))
                self.rdest[k, j, :n] = [sidx[d] for d in row]
                self.rcls[k, j, :n] = [
                    cidx[v.to_class] if isinstance(v, Route) else k for v in row.values()
                ]
        # Bounds on what one event can add (a batch's members are events of their own): a
        # shift change or a repair starts up to the most servers on duty.
        most = self._most_servers = max(st.max_servers() for st in specs)
        self.out_margin = 8 + 2 * most
        self.heap_margin = 4 + 2 * most
        self._servers = [st.servers_at(self._hour0) for st in specs]

    def _state(self, n_cls: int, n_st: int, slots: int = 1024, queue: int = 256) -> None:
        """Mutable state arrays, carried across kernel calls (``queue``: a power of two, the
        stations' first room to wait)."""
        # Station rows and, last, the globals: one array the kernel takes whole.
        self.s = np.zeros((n_st + 1, kn.S_SV + self._most_servers), dtype=np.int64)
        self.totals = np.zeros((n_st + 1, kn.T_WIDTH), dtype=np.int64)
        self.g = self.s[-1]
        self.g[kn.G_NFREE] = slots
        self.s[:-1, kn.S_UP] = 1
        self.s[:-1, kn.S_BEGAN] = self.s[:-1, kn.S_SHIFT] = -1
        self.s[:-1, kn.S_SERVERS] = self._servers
        self.h = np.zeros((1 + 2 * slots + n_cls + n_st + self.heap_margin, 5))
        self.c = np.zeros((slots, kn.C_WIDTH), dtype=np.int64)
        self.cf = np.zeros((slots, 2))
        self.fr = np.arange(slots - 1, -1, -1, dtype=np.int64)  # slot 0 is taken first
        self.q = np.zeros((n_st, queue, 3), dtype=np.int64)

    def _grow(self) -> None:
        """Double whichever of the customer pool, the heap and the station queues is short of
        what one more event may need (the kernel's checks)."""
        g = self.g
        if g[kn.G_NFREE] == 0:
            n = self.c.shape[0]
            self.c = np.concatenate([self.c, np.zeros_like(self.c)])
            self.cf = np.concatenate([self.cf, np.zeros_like(self.cf)])
            # Every slot was in use: the free stack is the new slots, lowest on top.
            self.fr = np.concatenate(
                [np.arange(2 * n - 1, n - 1, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)]
            )
            g[kn.G_NFREE] = n
        if self.h[0, 0] + self.heap_margin >= self.h.shape[0]:
            self.h = np.concatenate([self.h, np.zeros_like(self.h)])
        if g[kn.G_QFULL]:
            # Twice the room (a power of two still, as a FIFO ring needs), each station's line
            # laid out from 0: a ring from its head, a heap as it is (its head is 0).
            cap = self.q.shape[1]
            q = np.zeros((self.q.shape[0], 2 * cap, 3), dtype=np.int64)
            for st in range(q.shape[0]):
                n, head = self.s[st, kn.S_QN], self.s[st, kn.S_QHEAD]
                q[st, :n] = self.q[st, (head + np.arange(n)) & (cap - 1)]
                self.s[st, kn.S_QHEAD] = 0
            self.q = q
            g[kn.G_QFULL] = 0

    def events(
        self, horizon: float, limit: int, chunk: int = CHUNK
    ) -> Iterator[dict[str, np.ndarray]]:
        """Run to ``horizon``, yielding the log in column dicts of at most ``limit`` events.

        The event loop runs in a thread of its own, one output chunk (about ``min(chunk,
        limit)`` events) ahead of the caller, which handles the chunk before (e.g. builds Arrow
        batches): kernels release the GIL, so on two cores the two overlap. The loop thread
        needs the GIL only between chunks; running on its own, it takes it when the caller
        waits for the next chunk (a thread per chunk would wait for the GIL before each call
        instead: measured slower than no thread at all). Only the loop thread touches the
        loop's state. Each chunk has output columns of its own, so the yielded arrays are views
        (no copy) that stay valid. The log does not depend on the chunk size (the loop stops
        between events only). An exception in the loop thread is raised here; a caller that
        stops early stops the loop thread too."""
        # A chunk's columns hold ``events + out_margin`` (the loop stops once fewer are free),
        # so it gets more than ``events`` events, at most ``limit`` when ``limit`` allows.
        events = max(min(chunk, limit - self.out_margin), 1)
        free: queue.Queue[_Out | None] = queue.Queue()
        chunks: queue.Queue[tuple[int, int, _Out] | BaseException] = queue.Queue()
        stop = threading.Event()

        def loop() -> None:
            try:
                while not stop.is_set() and (out := free.get()) is not None:
                    status, n = self._advance(float(horizon), out)
                    chunks.put((status, n, out))
                    if status == kn.DONE:
                        return
            except BaseException as e:  # handed to the caller, which raises it
                chunks.put(e)

        thread = threading.Thread(target=loop, name="eventforge-queue-loop", daemon=True)
        # Chunks ramp up as a part's row groups do: the caller soon has work (nothing overlaps
        # the first chunk), and each chunk completes the next row group, which the writer
        # would otherwise wait for behind a whole CHUNK (the emergency department's writer
        # idled ~14 ms of its 90 days' ~70 ms so).
        sizes = (min(events, FIRST << k) + self.out_margin for k in itertools.count())
        free.put(self._out(next(sizes)))
        thread.start()
        free.put(self._out(next(sizes)))
        try:
            while True:
                item = chunks.get()
                if isinstance(item, BaseException):
                    raise item
                status, n, (of, oe, oi) = item
                if status != kn.DONE:
                    free.put(self._out(next(sizes)))
                if n:
                    kn.tally(oi, n, self.totals)
                    for lo in range(0, n, limit):
                        hi = min(n, lo + limit)
                        cols: dict[str, np.ndarray] = {"time": of[lo:hi]}
                        cols |= {name: oe[j, lo:hi] for j, name in enumerate(_OUT64)}
                        cols |= {name: oi[j, lo:hi] for j, name in enumerate(_OUT32)}
                        yield cols
                if status == kn.DONE:
                    return
        finally:
            stop.set()
            free.put(None)  # wakes a loop thread waiting for columns
            thread.join()

    def _advance(self, horizon: float, out: _Out) -> tuple[int, int]:
        """One call of the event loop into the output columns ``out`` (then growing the state
        arrays if it asks): its status and the events written."""
        status = kn.run_network(
            self.rng, horizon, self.out_margin, self.heap_margin,
            self.ccfg, self.rate, self.profile, self.trend, self.pat, self.balk_p,
            self._week_hour0, self._units_per_hour, self._surges, self._codes[0],
            self.ia, self.bcum, self._hour0, self.shifts, self.emp,
            self.scfg, self.svc, self.ttf, self.rep, self._codes[1],
            self.rcum, self.rdest, self.rcls, self.rn,
            self.h, self.c, self.cf, self.fr, self.s, self.q, *out,
        )  # fmt: skip
        n = int(self.g[kn.G_NOUT])
        self.g[kn.G_NOUT] = 0
        if status == kn.GROW:
            self._grow()
        return status, n

    @staticmethod
    def _out(cap: int) -> _Out:
        """Output columns for ``cap`` events (times, int64 rows, int32 rows), views of one
        block: from ~80k events large enough for NumPy to ask the OS for huge pages, and so
        for fewer page faults at the event loop's first writes. (Writing to each page in the
        caller's thread beforehand, to spare the loop the faults, measured no faster: zeroing
        the pages costs the caller as much.)"""
        block = np.empty(cap * _EVENT_BYTES, dtype=np.uint8)
        of = block[: 8 * cap].view(np.float64)
        oe = block[8 * cap : 24 * cap].view(np.int64).reshape(2, cap)
        return of, oe, block[24 * cap :].view(np.int32).reshape(7, cap)

    @property
    def log(self) -> LogTotals:
        """Events emitted, per station and event type, and per rare kind."""
        counts = self.totals[:, kn.T_EVENTS : kn.T_KINDS].tolist()
        return LogTotals(int(self.g[kn.G_COUNT]), counts, self.totals[-1, kn.T_KINDS :].tolist())

    @property
    def stations(self) -> list[StationState]:
        """Each station's final waiting customers, busy servers and servers."""
        return [
            StationState(i, int(row[kn.S_NWAIT]), int(row[kn.S_BUSY]), int(row[kn.S_SERVERS]))
            for i, row in enumerate(self.s[:-1])
        ]
