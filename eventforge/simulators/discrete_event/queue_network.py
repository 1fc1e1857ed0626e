"""queue_network: customers through a network of service stations, simulated with SimPy or a
compiled (Numba) event loop that writes the same log (``engine``, see :mod:`.compiled_engine`).

Customer classes arrive as non-homogeneous Poisson streams (daily and weekly profiles, surges,
batch arrivals) or renewal streams, and follow per-class routing tables between stations (with
feedback and optional class change, see :mod:`.network`). Stations have servers (a number or a
daily shift schedule), an optional finite waiting room (full: the customer is blocked and lost),
FIFO or priority order (optionally preemptive-resume), per-class service time distributions and
breakdowns. Customers may balk on arrival and abandon the queue when their patience runs out.

Log conventions:

- Customer events have ``entity_id`` = customer id (0, 1, ... in arrival order) and ``cause`` =
  the seq of the same customer's previous event (null for ``arrival``). Their lifecycle:
  ``arrival`` -> ``queue_join`` | ``balk`` | ``block`` | ``depart`` (routed straight out);
  ``queue_join`` -> ``service_start`` | ``abandon``; ``service_start`` -> ``service_end`` |
  ``queue_join`` (preempted: back in the queue with its remaining service);
  ``service_end`` -> ``route`` -> ``queue_join`` | ``block`` | ``depart``; ``balk``, ``block``
  and ``abandon`` -> ``depart``. ``depart`` is final; a customer still in the system at the
  horizon has none. Balking applies to external arrivals only.
- Station events ``breakdown``, ``repair``, ``shift_change`` have ``entity_id = -1 - i`` for the
  i-th station (in the order of ``params.stations``), null class; a repair's cause is its
  breakdown, a shift change's cause the station's previous shift change.
- ``station`` is the station the event happens at: the queue joined or left, the station served
  at, the station a ``route`` leaves; null for ``arrival`` and ``depart``. ``customer_class`` is
  the class at the event (a ``route`` carries the class after a class change). ``queue_length``,
  ``busy`` and ``servers`` are that station's waiting customers, busy servers and servers on duty
  right after the event (null when ``station`` is null). Customers whose service a breakdown
  suspended hold their server (``busy``) until they finish.
- Rare kinds: every event of a customer who arrived during a surge is labelled ``surge``;
  breakdowns, repairs and the ``service_end`` of a service suspended by a breakdown are labelled
  ``outage`` (overriding ``surge``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from eventforge.events import EventSpec, Lifecycle, categorical, decoded, masked
from eventforge.scenario.types import StrictModel
from eventforge.simulators.base import Simulator, Summary
from eventforge.simulators.discrete_event.compiled_engine import CompiledEngine
from eventforge.simulators.discrete_event.network import (
    QueueNetworkParams,
    QueueNetworkRareEvents,
)
from eventforge.simulators.discrete_event.simpy_engine import VOCABULARY, NetworkEngine

__all__ = ["QueueNetwork"]

_DICT = pa.dictionary(pa.int32(), pa.string())
_STATE = ("queue_length", "busy", "servers")

_LIFECYCLE = Lifecycle(
    initial="new",
    transitions={
        ("new", "arrival"): "arrived",
        ("arrived", "queue_join"): "waiting",
        ("arrived", "balk"): "leaving",
        ("arrived", "block"): "leaving",
        ("arrived", "depart"): "gone",
        ("waiting", "service_start"): "serving",
        ("waiting", "abandon"): "leaving",
        ("serving", "service_end"): "served",
        ("serving", "queue_join"): "waiting",
        ("served", "route"): "routed",
        ("routed", "queue_join"): "waiting",
        ("routed", "block"): "leaving",
        ("routed", "depart"): "gone",
        ("leaving", "depart"): "gone",
    },
    free=frozenset({"breakdown", "repair", "shift_change"}),
    final=frozenset({"gone"}),
)


class QueueNetwork(Simulator):
    """Customers through a network of stations (see the module doc for the log conventions)."""

    name: ClassVar[str] = "queue_network"
    description: ClassVar[str] = (
        "queueing network (SimPy or compiled): classes, routing, shifts, balking, abandonment, "
        "breakdowns"
    )
    Params: ClassVar[type[StrictModel]] = QueueNetworkParams
    RareEvents: ClassVar[type[StrictModel]] = QueueNetworkRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=VOCABULARY,
        rare_kinds=("surge", "outage"),
        columns=(
            pa.field("station", _DICT, nullable=True),
            pa.field("customer_class", _DICT, nullable=True),
            pa.field("queue_length", pa.int32(), nullable=True),
            pa.field("busy", pa.int32(), nullable=True),
            pa.field("servers", pa.int32(), nullable=True),
        ),
        lifecycle=_LIFECYCLE,
        descriptions={
            "station": "station of the event (null for arrival and depart)",
            "customer_class": "class of the customer at the event (null for station events)",
            "queue_length": "customers waiting at the station after the event",
            "busy": "busy servers at the station after the event",
            "servers": "servers on duty at the station after the event",
        },
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        """The log as record batches of at most ``ctx.batch_events`` events (see
        :meth:`columns`)."""
        for cols in self.columns():
            yield self._build(cols)

    def columns(self) -> Iterator[dict[str, np.ndarray]]:
        """The engine's raw log: column dicts of at most ``ctx.batch_events`` events, before
        they become Arrow batches (what the engines themselves cost: the benchmark times it).
        SimPy advances in time slices sized to about a quarter batch of events."""
        p: QueueNetworkParams = self.params  # type: ignore[assignment]
        rare: QueueNetworkRareEvents = self.rare_events  # type: ignore[assignment]
        ctx = self.ctx
        limit = max(1, ctx.batch_events)
        args = (
            p, rare, self.rng, ctx.start, ctx.time_unit_s,
            self.spec.rare_code("surge"), self.spec.rare_code("outage"),
        )  # fmt: skip
        if p.engine != "simpy":
            self._engine: NetworkEngine | CompiledEngine = CompiledEngine(*args)
            yield from self._engine.events(ctx.horizon, limit)
            return
        engine = NetworkEngine(*args)
        self._engine = engine
        engine.start()
        t, dt = 0.0, ctx.horizon / 1000.0
        while t < ctx.horizon:
            before = engine.log.count
            t_next = min(ctx.horizon, t + dt)
            engine.env.run(until=t_next)
            # Keep a slice near limit / 4 events so that the pending lists stay bounded.
            made = engine.log.count - before
            dt = min(dt * 2.0, dt * max(0.1, 0.25 * limit / made)) if made else dt * 2.0
            t = t_next
            while engine.log.pending >= limit:
                yield engine.log.take(limit)
        if engine.log.pending:
            yield engine.log.take(limit)

    def _build(self, cols: dict[str, np.ndarray]) -> pa.RecordBatch:
        stations = self._engine.station_names
        return self.builder.build(
            cols["time"],
            cols["entity"],
            cols["event"],
            cause=cols["cause"],
            rare_kind=cols["kind"],
            columns={
                "station": categorical(cols["station"], stations),
                "customer_class": categorical(cols["cls"], self._engine.classes),
                **{
                    name: masked(cols[key], cols[key] < 0, pa.int32())
                    for name, key in zip(_STATE, ("queue", "busy", "servers"), strict=True)
                },
            },
        )

    def summary(self) -> Summary:
        """Total arrivals, departures and customers in the system; rare-labelled events; per
        station that saw any event: counts of each event type there, and the final
        queue_length, busy, servers and customers in the station (waiting + in service)."""
        engine = self._engine
        log = engine.log
        out: Summary = {
            "events": log.count,
            "arrivals": log.counts[-1][VOCABULARY.index("arrival")],
            "departs": log.counts[-1][VOCABULARY.index("depart")],
            "rare.surge": log.kind_counts[0],
            "rare.outage": log.kind_counts[1],
        }
        out["in_system"] = out["arrivals"] - out["departs"]
        stations: list[Any] = list(engine.stations)  # either engine's station records
        for st, name in zip(stations, engine.station_names, strict=True):
            counts = log.counts[st.idx]
            if not any(counts):
                continue
            out |= {f"{name}.{e}": n for e, n in zip(VOCABULARY, counts, strict=True) if n}
            out |= {f"{name}.queue_length": st.nwait, f"{name}.busy": st.busy}
            out |= {f"{name}.servers": st.servers, f"{name}.in_station": st.nwait + st.busy}
        return out

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        counts: dict[str, int] = {}
        last: dict[str, tuple[int, int, int]] = {}
        out: Summary = {"events": 0, "arrivals": 0, "departs": 0}
        out |= {"rare.surge": 0, "rare.outage": 0}
        for batch in batches:
            out["events"] += batch.num_rows
            event = decoded(batch.column("event"))
            station = decoded(batch.column("station"))
            kind = decoded(batch.column("rare_kind"))
            out["arrivals"] += int((event == "arrival").sum())
            out["departs"] += int((event == "depart").sum())
            out["rare.surge"] += int((kind == "surge").sum())
            out["rare.outage"] += int((kind == "outage").sum())
            at = np.flatnonzero(station != None)  # noqa: E711 (elementwise on object arrays)
            keys, n = np.unique(
                station[at].astype(str) + "." + event[at].astype(str), return_counts=True
            )
            for k, v in zip(keys.tolist(), n.tolist(), strict=True):
                counts[k] = counts.get(k, 0) + v
            state = [np.asarray(batch.column(c).fill_null(-1)) for c in _STATE]
            for name in np.unique(station[at].astype(str)).tolist():
                i = at[station[at] == name][-1]
                last[name] = (int(state[0][i]), int(state[1][i]), int(state[2][i]))
        out["in_system"] = out["arrivals"] - out["departs"]
        out |= counts
        for name, (q, busy, servers) in last.items():
            out |= {f"{name}.queue_length": q, f"{name}.busy": busy}
            out |= {f"{name}.servers": servers, f"{name}.in_station": q + busy}
        return out
