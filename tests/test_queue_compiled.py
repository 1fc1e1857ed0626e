"""queue_network's compiled engine: kernel vs plain-Python reference, the same distribution as
the SimPy engine (on a base network and with each of shift schedules, batch and renewal
arrivals, empirical distributions and preemptive-resume priority added), the shift schedule
invariant, and the built-in scenarios compiled through ``eventforge check`` (the replay
invariant).

Theory checks (M/M/1, Erlang C, P-K, Jackson, Little) run on both engines in
tests/test_queue_theory.py.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import eventforge as ef
from eventforge.check import check_dataset
from eventforge.simulators.base import RunContext
from eventforge.simulators.discrete_event import compiled_engine
from eventforge.simulators.discrete_event import kernels as kn
from eventforge.simulators.discrete_event.compiled_engine import CHUNK, CompiledEngine
from eventforge.simulators.discrete_event.network import StationSpec
from eventforge.simulators.discrete_event.queue_network import QueueNetwork
from eventforge.simulators.discrete_event.reference import reference_network

_CTX = {"time_unit_s": 3600.0}
_START = datetime(2026, 1, 5, tzinfo=UTC)

# Two classes (priority 0 and 1) through a triage desk, a doctor pair with breakdowns and a
# lab loop with class change; patience, balking, a finite buffer, a daily profile, a trend
# and a surge.
_NET: dict[str, Any] = {
    "classes": {
        "urgent": {
            "arrivals": {"process": "poisson", "rate": 0.6, "daily_profile": [1] * 12 + [2] * 12},
            "priority": 0,
            "patience": {"dist": "weibull", "shape": 1.5, "scale": 6.0},
        },
        "routine": {
            "arrivals": {
                "process": "poisson",
                "rate": 1.0,
                "trend": {"growth": 0.3, "per": 500.0},
            },
            "priority": 1,
            "patience": {"dist": "exponential", "mean": 3.0},
            "balk_probability": [0.0, 0.1, 0.3, 0.6],
        },
    },
    "stations": {
        "triage": {"servers": 1, "service": {"dist": "gamma", "mean": 0.3, "cv": 0.5}},
        "doctor": {
            "servers": 2,
            "discipline": "priority",
            "buffer": 3,
            "service": {"dist": "lognormal", "mean": 0.7, "cv": 0.8},
            "breakdowns": {
                "time_to_failure": {"dist": "exponential", "mean": 40.0},
                "repair_time": {"dist": "deterministic", "value": 2.0},
            },
        },
        "lab": {"servers": 3, "service": {"dist": "exponential", "mean": 1.0}},
    },
    "routing": {
        "urgent": {
            "arrival": {"triage": 1.0},
            "triage": {"doctor": 1.0},
            "doctor": {"lab": 0.3, "exit": 0.7},
            "lab": {"doctor": 1.0},
        },
        "routine": {
            "arrival": {"triage": 1.0},
            "triage": {"doctor": 0.8, "exit": 0.2},
            "doctor": {"lab": {"p": 0.2, "class": "urgent"}, "exit": 0.8},
        },
    },
}
_RARE = {"surges": [{"at": 100.0, "duration": 10.0, "multiplier": 3.0}]}


def _sim(params: dict[str, Any], horizon: float, seed: int, batch_events: int) -> QueueNetwork:
    p = QueueNetwork.Params.model_validate(params, context=_CTX)
    rare = QueueNetwork.RareEvents.model_validate(_RARE, context=_CTX)
    ctx = RunContext(horizon, _START, 3600.0, 0, batch_events=batch_events)
    return QueueNetwork(p, rare, np.random.default_rng(seed), ctx)


def _engine(seed: int, params: dict[str, Any] = _NET) -> CompiledEngine:
    sim = _sim(params, 1.0, seed, 1)
    p, rare = sim.params, sim.rare_events
    return CompiledEngine(p, rare, np.random.default_rng(seed), _START, 3600.0, 0, 1)  # type: ignore[arg-type]


def test_kernel_equals_reference() -> None:
    horizon = 400.0
    # Small slices exercise pausing, resuming and the growth of the arrays between calls.
    chunks = list(_engine(11).events(horizon, 300))
    got = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    want = reference_network(_engine(11), horizon)
    assert len(got["time"]) > 2000
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    # Tiny initial arrays: the customer pool, the heap and the queues grow many times.
    small = _engine(11)
    small._state(2, 3, slots=2, queue=2)
    chunks = list(small.events(horizon, 10_000))
    assert small.c.shape[0] > 2 and small.q.shape[1] > 2
    for k in want:
        np.testing.assert_array_equal(np.concatenate([c[k] for c in chunks]), want[k], err_msg=k)
    events = set(got["event"].tolist())
    assert {5, 6, 7, 9, 10} <= events  # abandon, balk, block, breakdown, repair all happen


def _replication(
    engine: str, seed: int, params: dict[str, Any] = _NET
) -> tuple[float, float, dict[str, float]]:
    """Mean wait (queue_join to service_start or abandon), mean sojourn of customers arriving
    before horizon - 50, and events per station and type, of one replication."""
    horizon = 600.0
    sim = _sim(params | {"engine": engine}, horizon, seed, 262_144)
    frame = pa.Table.from_batches(list(sim.run())).to_pandas()
    frame["event"] = frame["event"].astype(str)
    frame["station"] = frame["station"].astype(str)
    join = frame[frame["event"] == "queue_join"]
    left = frame[frame["event"].isin(["service_start", "abandon"])]
    # Each queue_join is the cause of the customer's next event in the log only if it leaves
    # the queue; join -> start/abandon pairs are matched by cause.
    waits = left["time"].to_numpy() - join.set_index("seq").loc[left["cause"], "time"].to_numpy()
    arrive = frame[frame["event"] == "arrival"].set_index("entity_id")["time"]
    depart = frame[frame["event"] == "depart"].set_index("entity_id")["time"]
    ids = arrive.index[arrive < horizon - 50.0]
    sojourn = (depart.reindex(ids) - arrive.loc[ids]).dropna().to_numpy()
    counts = frame.groupby(["station", "event"]).size()
    return (
        float(waits.mean()),
        float(sojourn.mean()),
        {f"{a}.{b}": n for (a, b), n in counts.items()},
    )


def _agree_in_distribution(params: dict[str, Any], seed: int) -> set[str]:
    """Ten independent replications per engine; each statistic's per-replication values are
    i.i.d., so the difference of the two means has SE sqrt(s1^2/n + s2^2/n): within 4 SE (about
    40 statistics per network at 4 SE: a false alarm has probability ~40 * 6e-5). A statistic
    constant in both engines (SE 0, e.g. the number of shift changes) must be equal. Returns
    the station.event keys seen."""
    reps = 10
    runs = {
        e: [_replication(e, seed + r, params) for r in range(reps)] for e in ("simpy", "compiled")
    }

    def agree(a: list[float], b: list[float], what: str) -> None:
        se = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / reps)
        assert abs(np.mean(a) - np.mean(b)) < 4 * se + 1e-12, (what, np.mean(a), np.mean(b), se)

    simpy, compiled = runs["simpy"], runs["compiled"]
    agree([r[0] for r in simpy], [r[0] for r in compiled], "wait")
    agree([r[1] for r in simpy], [r[1] for r in compiled], "sojourn")
    keys: set[str] = set().union(*(r[2] for r in simpy + compiled))
    for key in sorted(keys):
        agree([r[2].get(key, 0) for r in simpy], [r[2].get(key, 0) for r in compiled], key)
    return keys


def test_compiled_and_simpy_agree_in_distribution() -> None:
    keys = _agree_in_distribution(_NET, 100)
    assert {"doctor.abandon", "doctor.block", "doctor.breakdown", "lab.route"} <= keys


# Each feature added to _NET alone; the statistics the feature changes most are those of the
# station it is put on (and, for arrivals, every station).
_LAB_SHIFTS = [{"at": 2.5, "servers": 1}, {"at": 8, "servers": 3}, {"at": 20, "servers": 2}]


def _shifts(p: dict[str, Any]) -> None:
    p["stations"]["lab"]["servers"] = _LAB_SHIFTS
    p["stations"]["doctor"]["servers"] = [{"at": 6, "servers": 3}, {"at": 18, "servers": 1}]


def _batch(p: dict[str, Any]) -> None:
    p["classes"]["urgent"]["arrivals"]["batch_size"] = [0.5, 0.3, 0.0, 0.2]


def _renewal(p: dict[str, Any]) -> None:
    p["classes"]["routine"]["arrivals"] = {
        "process": "renewal",
        "interarrival": {"dist": "gamma", "mean": 1.0, "cv": 0.5},
    }


def _empirical(p: dict[str, Any]) -> None:
    p["stations"]["triage"]["service"] = {"dist": "empirical", "values": [0.1, 0.2, 0.6]}
    p["stations"]["lab"]["service"] = {
        "dist": "empirical", "values": [0.5, 0.5, 1.0, 2.0], "smoothing": 0.8,
    }  # fmt: skip
    p["classes"]["urgent"]["patience"] = {
        "dist": "empirical",
        "values": [3.0, 9.0],
        "smoothing": 1.0,
    }
    p["classes"]["routine"]["arrivals"] = {
        "process": "renewal",
        "interarrival": {"dist": "empirical", "values": [0.5, 1.0, 1.5], "smoothing": 0.3},
    }


def _preemptive(p: dict[str, Any]) -> None:
    p["stations"]["doctor"]["preemptive"] = True


_FEATURES: dict[str, Callable[[dict[str, Any]], None]] = {
    "shifts": _shifts,
    "batch": _batch,
    "renewal": _renewal,
    "empirical": _empirical,
    "preemptive": _preemptive,
}


def _net(*features: str) -> dict[str, Any]:
    p = copy.deepcopy(_NET)
    for f in features:
        _FEATURES[f](p)
    return p


@pytest.mark.parametrize("feature", [*_FEATURES, "all"])
def test_kernel_equals_reference_with_each_feature(feature: str) -> None:
    params = _net(*(_FEATURES if feature == "all" else [feature]))
    horizon = 250.0
    chunks = list(_engine(5, params).events(horizon, 300))
    got = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    want = reference_network(_engine(5, params), horizon)
    assert len(got["time"]) > 1500
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    if feature == "all":
        # Tiny initial arrays: growth between kernel calls, mid-batch included, changes nothing.
        small = _engine(5, params)
        small._state(2, 3, slots=2, queue=2)
        chunks = list(small.events(horizon, 10_000))
        for k in want:
            np.testing.assert_array_equal(np.concatenate([c[k] for c in chunks]), want[k], k)
    event, cause, t = got["event"], got["cause"], got["time"]
    # The feature is exercised: shift changes, batch members arriving together, customers
    # preempted (a queue_join caused by the same customer's service_start).
    if feature in ("shifts", "all"):
        assert (event == 11).sum() > 20
    if feature in ("batch", "all"):
        assert (np.diff(t[event == 0]) == 0.0).sum() > 10
    if feature in ("preemptive", "all"):
        rejoin = (event == 1) & (cause >= 0)
        assert (event[cause[rejoin]] == 2).sum() > 5


def test_a_long_fifo_line_wraps_and_grows_as_the_reference_queues() -> None:
    # One FIFO station at load 2: its line (a ring in the kernel) grows to thousands through
    # many doublings from 2 entries, its head anywhere in the ring at each.
    params = {
        "classes": {"c": {"arrivals": {"process": "poisson", "rate": 2.0}}},
        "stations": {"s": {"servers": 1, "service": {"dist": "exponential", "mean": 1.0}}},
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }
    horizon = 3000.0
    want = reference_network(_engine(3, params), horizon)
    small = _engine(3, params)
    small._state(1, 1, slots=2, queue=2)
    chunks = list(small.events(horizon, 50_000))
    for k in want:
        np.testing.assert_array_equal(np.concatenate([c[k] for c in chunks]), want[k], k)
    assert want["queue"].max() > 1000 and small.q.shape[1] >= 2048


def test_service_ends_tied_by_a_repair_follow_the_start_of_service_order() -> None:
    # Deterministic service at a station that fails often, and jobs arriving four at a time:
    # customers who start together end together, and a breakdown in between leaves them the
    # same remaining time, so the repair reschedules their service ends at one instant. The
    # order of those pushes decides the log's order; all three engines resume in the order
    # service started (SimPy's in-service dict), whatever customer slots the kernel recycled.
    params = {
        "classes": {
            "job": {"arrivals": {"process": "poisson", "rate": 0.7, "batch_size": [0, 0, 0, 1]}}
        },
        "stations": {
            "press": {
                "servers": 4,
                "service": {"dist": "deterministic", "value": 1.0},
                "breakdowns": {
                    "time_to_failure": {"dist": "exponential", "mean": 3.0},
                    "repair_time": {"dist": "deterministic", "value": 0.5},
                },
            }
        },
        "routing": {"job": {"arrival": {"press": 1.0}, "press": {"exit": 1.0}}},
    }
    horizon = 400.0
    logs = {
        e: pa.Table.from_batches(list(_sim(params | {"engine": e}, horizon, 8, 4096).run()))
        for e in ("compiled", "simpy")
    }
    assert logs["compiled"].equals(logs["simpy"])
    want = reference_network(_engine(8, params), horizon)
    chunks = list(_engine(8, params).events(horizon, 500))
    for k in want:
        np.testing.assert_array_equal(np.concatenate([c[k] for c in chunks]), want[k], k)
    # Ties of the kind above: service ends at one instant right after a repair resumed them.
    event, t = want["event"], want["time"]
    ends = np.flatnonzero(event == 3)
    tied = ends[1:][np.diff(t[ends]) == 0.0]
    assert (event == 10).sum() > 50 and len(tied) > 50


@pytest.mark.parametrize("feature", _FEATURES)
def test_compiled_and_simpy_agree_with_each_feature(feature: str) -> None:
    keys = _agree_in_distribution(_net(feature), 200)
    assert {"doctor.service_start", "lab.route"} <= keys
    if feature == "shifts":
        assert {"lab.shift_change", "doctor.shift_change"} <= keys


def _deterministic_net() -> dict[str, Any]:
    """_NET with shifts, batches and preemption, and every service, patience and repair time
    deterministic; the doctors fail every 5 hours on average."""
    p = _net("shifts", "batch", "preemptive")
    for st in p["stations"].values():
        st["service"] = {"dist": "deterministic", "value": 1.0}
    p["stations"]["doctor"]["breakdowns"]["time_to_failure"]["mean"] = 5.0
    p["classes"]["urgent"]["patience"] = {"dist": "deterministic", "value": 3.0}
    p["classes"]["routine"]["patience"] = {"dist": "deterministic", "value": 2.0}
    return p


@pytest.mark.parametrize(
    ("name", "horizon"),
    [
        ("emergency_department", "7d"),
        ("contact_centre", "1d"),
        ("it_incidents", "30d"),
        ("queue_network", "3d"),
        ("all features", "1000h"),
        ("deterministic times", "500h"),
    ],
)
def test_compiled_log_equals_the_simpy_log(name: str, horizon: str) -> None:
    # The compiled loop draws the same numbers in the same order as the SimPy engine,
    # computes times alike and orders events due at one instant alike (see compiled_engine's
    # doc): one seed, the same log, bit for bit. Deterministic service, patience and repair
    # times with shifts, batches and preemption make many events fall due together.
    if name in ("all features", "deterministic times"):
        hours = float(horizon.removesuffix("h"))
        params = _net(*_FEATURES) if name == "all features" else _deterministic_net()
        logs = {
            e: pa.Table.from_batches(list(_sim(params | {"engine": e}, hours, 9, 1 << 20).run()))
            for e in ("compiled", "simpy")
        }
    else:
        logs = {
            e: ef.simulate(
                ef.load_scenario(name, overrides=[f"horizon={horizon}", f"params.engine={e}"])
            )
            for e in ("compiled", "simpy")
        }
    assert logs["compiled"].num_rows > 3000
    assert logs["compiled"].equals(logs["simpy"])


@pytest.mark.parametrize("engine", ["simpy", "compiled"])
def test_servers_follow_the_shift_schedule_at_every_event(engine: str) -> None:
    # t = 0 is midnight UTC and the time unit an hour, so an event at t is at hour t % 24 (the
    # shift boundaries are exact: hour + 24 * day); the servers column at every event of a
    # station equals its schedule then (a shift_change carries the new value).
    params = _net("shifts") | {"engine": engine}
    frame = pa.Table.from_batches(list(_sim(params, 400.0, 4, 4096).run())).to_pandas()
    for name in ("lab", "doctor"):
        spec = StationSpec.model_validate(params["stations"][name], context=_CTX)
        at = frame[frame["station"] == name]
        hour = at["time"].to_numpy() % 24.0
        want = np.array([spec.servers_at(x) for x in hour])
        assert len(at) > 500
        np.testing.assert_array_equal(at["servers"].to_numpy(), want, err_msg=name)


def test_batches_bounded_and_summary_equals_replay() -> None:
    sim = _sim(_NET | {"engine": "compiled"}, 300.0, 3, 1000)
    batches = list(sim.run())
    assert isinstance(sim._engine, CompiledEngine)
    assert len(batches) > 3 and max(b.num_rows for b in batches) <= 1000
    frame = pa.Table.from_batches(batches).to_pandas()
    assert (frame["seq"].to_numpy() == np.arange(len(frame))).all()
    assert (np.diff(frame["time"].to_numpy()) >= 0).all()
    cause = frame["cause"].dropna().to_numpy()
    assert (cause < frame.loc[frame["cause"].notna(), "seq"].to_numpy()).all()
    assert sim.summary() == QueueNetwork.replay(batches)


def test_log_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The event loop runs a chunk ahead in a thread of its own and stops between events only:
    # chunks of a few events (many calls, each resuming mid-run), chunks ramping up from 500
    # events, and one chunk for the whole run give the same log, bit for bit, and the same
    # totals (counted by the caller while the loop runs on).
    horizon = 400.0
    logs, totals = [], []
    for chunk, first in ((40, 40), (997, 997), (CHUNK, 500), (200_000, 200_000)):
        monkeypatch.setattr(compiled_engine, "FIRST", first)
        engine = _engine(5)
        parts = list(engine.events(horizon, 1 << 22, chunk))
        logs.append({k: np.concatenate([c[k] for c in parts]) for k in parts[0]})
        totals.append(engine.log)
    assert len(logs[0]["time"]) > 2000
    for log, total in zip(logs[1:], totals[1:], strict=True):
        assert total == totals[0]
        for k in logs[0]:
            np.testing.assert_array_equal(log[k], logs[0][k], err_msg=k)
    # And through the simulator: Arrow batches of 1,000 events vs of the whole log.
    tables = [
        pa.Table.from_batches(list(_sim(_NET | {"engine": "compiled"}, 300.0, 6, n).run()))
        for n in (1000, 1 << 22)
    ]
    assert tables[0].num_rows > 1000 and tables[0].equals(tables[1])


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "eventforge-queue-loop"]


def test_an_error_in_the_loop_thread_is_raised_in_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel fails on its third call (of chunks of 50 events): the caller gets the two
    # chunks before, then the very exception, and no loop thread is left running.
    calls = []
    run_network = kn.run_network

    def failing(*args: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise FloatingPointError("kernel failure")
        return int(run_network(*args))

    monkeypatch.setattr(kn, "run_network", failing)
    got = []
    with pytest.raises(FloatingPointError, match="kernel failure"):
        for cols in _engine(3).events(400.0, 50, 50):
            got.append(len(cols["time"]))
    assert len(got) == 2 and not _loop_threads()


def test_a_caller_stopping_early_stops_the_loop_thread() -> None:
    engine = _engine(4)
    events = engine.events(400.0, 100, 100)
    first = next(events)
    assert len(first["time"]) > 0 and _loop_threads()
    events.close()
    assert not _loop_threads()
    # The columns handed out stay valid (each chunk has columns of its own).
    assert (np.diff(first["time"]) >= 0).all()


@pytest.mark.parametrize(
    ("name", "horizon"),
    [
        ("queue_network", "7d"),
        ("emergency_department", "14d"),
        ("contact_centre", "2d"),
        ("it_incidents", "30d"),
    ],
)
def test_builtin_scenarios_compile_and_pass_check(name: str, horizon: str, tmp_path: Path) -> None:
    # Every built-in scenario is expressible: auto runs it compiled, and the dataset passes
    # eventforge check (schema, order, causes, lifecycles, the replay invariant).
    auto = ef.load_scenario(name, overrides=[f"horizon={horizon}"])
    point = auto.points[0]
    rng = np.random.default_rng(0)
    ctx = RunContext(auto.horizon, _START, auto.time_unit_s, 0, batch_events=1 << 20)
    sim = QueueNetwork(point.params, point.rare_events, rng, ctx)
    assert sum(b.num_rows for b in sim.run()) > 1000
    assert isinstance(sim._engine, CompiledEngine)
    sc = ef.load_scenario(
        name, overrides=[f"horizon={horizon}", "params.engine=compiled"], replications=2
    )
    ef.run(sc, tmp_path / "out", executor="serial")
    report = check_dataset(tmp_path / "out")
    assert report.ok, str(report)
