"""queue_network: log invariants, replay, batching, features (shifts, breakdowns, surges,
priorities, class change, profiles, batches), distributions, and validation errors.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

import eventforge as ef
from eventforge.simulators.base import RunContext
from eventforge.simulators.discrete_event.network import Distribution
from eventforge.simulators.discrete_event.queue_network import QueueNetwork

_CTX = {"time_unit_s": 3600.0}
_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, midnight UTC
_SCENARIOS = ("emergency_department", "contact_centre", "it_incidents", "queue_network")


def _sim(
    params: dict[str, Any] | Any,
    horizon: float,
    seed: int = 0,
    rare: dict[str, Any] | Any = None,
    batch_events: int = 262_144,
    time_unit_s: float = 3600.0,
) -> QueueNetwork:
    ctx = {"time_unit_s": time_unit_s}
    if isinstance(params, dict):
        params = QueueNetwork.Params.model_validate(params, context=ctx)
    if rare is None or isinstance(rare, dict):
        rare = QueueNetwork.RareEvents.model_validate(rare or {}, context=ctx)
    run_ctx = RunContext(horizon, _START, time_unit_s, 0, batch_events=batch_events)
    return QueueNetwork(params, rare, np.random.default_rng(seed), run_ctx)


def _frame(batches: list[pa.RecordBatch]) -> pd.DataFrame:
    frame = pa.Table.from_batches(batches).to_pandas()
    for col in ("event", "station", "customer_class", "rare_kind"):
        frame[col] = frame[col].astype(object)
    return frame


def _scenario_sim(name: str, horizon: str, batch_events: int = 262_144) -> QueueNetwork:
    sc = ef.load_scenario(name, overrides=[f"horizon={horizon}"])
    point = sc.points[0]
    return _sim(point.params, sc.horizon, sc.seed, point.rare_events, batch_events, sc.time_unit_s)


@pytest.fixture(scope="module")
def ed() -> tuple[QueueNetwork, list[pa.RecordBatch], pd.DataFrame]:
    """Four weeks of the emergency department (shifts, preemption, a breakdown-prone CT, balking,
    abandonment, class change), in small batches."""
    sim = _scenario_sim("emergency_department", "28d", batch_events=4096)
    batches = list(sim.run())
    return sim, batches, _frame(batches)


def test_batches_are_bounded_and_do_not_change_the_log(ed: Any) -> None:
    _, batches, frame = ed
    assert len(batches) > 5 and max(b.num_rows for b in batches) <= 4096
    assert (frame["seq"].to_numpy() == np.arange(len(frame))).all()
    assert (np.diff(frame["time"].to_numpy()) >= 0).all()
    # The same seed with one large batch gives the same events: batching is output only.
    whole = pa.Table.from_batches(list(_scenario_sim("emergency_department", "28d").run()))
    assert whole.equals(pa.Table.from_batches(batches))


def test_summary_equals_replay(ed: Any) -> None:
    sim, batches, _ = ed
    summary = sim.summary()
    assert summary == QueueNetwork.replay(batches)
    for key in ("triage.service_start", "doctor.shift_change", "ct.breakdown"):
        assert summary[key] > 0
    assert summary["in_system"] == sum(v for k, v in summary.items() if k.endswith(".in_station"))


def test_causes_chain_each_customers_events(ed: Any) -> None:
    _, _, frame = ed
    cust = frame[frame["entity_id"] >= 0]
    previous = cust.groupby("entity_id")["seq"].shift(1)
    first = previous.isna()
    assert (cust.loc[first, "event"] == "arrival").all()
    assert cust.loc[first, "cause"].isna().all()
    assert (cust.loc[~first, "cause"] == previous[~first]).all()
    # Nobody is served before arriving or after leaving.
    span = cust.groupby("entity_id")["time"].agg(["min", "max"])
    arrive = cust[cust["event"] == "arrival"].set_index("entity_id")["time"]
    depart = cust[cust["event"] == "depart"].set_index("entity_id")["time"]
    assert (span["min"] == arrive.loc[span.index]).all()
    assert (span.loc[depart.index, "max"] == depart).all()


def test_state_columns_replay_from_event_types(ed: Any) -> None:
    """queue_length / busy rebuilt from the event sequence alone equal the recorded columns."""
    _, _, frame = ed
    state: dict[str, list[int]] = {}
    serving: set[int] = set()
    rows = zip(
        frame["event"], frame["station"], frame["entity_id"], frame["queue_length"],
        frame["busy"], frame["servers"], strict=True,
    )  # fmt: skip
    for event, station, entity, q, busy, servers in rows:
        if not isinstance(station, str):  # null: an arrival or a depart
            continue
        s = state.setdefault(station, [0, 0])
        if event == "queue_join":
            s[0] += 1
            if entity in serving:  # preempted: leaves its server for the queue
                serving.discard(entity)
                s[1] -= 1
        elif event == "service_start":
            s[0] -= 1
            s[1] += 1
            serving.add(entity)
        elif event == "service_end":
            s[1] -= 1
            serving.discard(entity)
        elif event == "abandon":
            s[0] -= 1
        assert (s[0], s[1]) == (q, busy), (event, station, entity)
        assert busy >= 0 and q >= 0 and servers >= 1


def test_breakdowns_stop_service_and_label_outages(ed: Any) -> None:
    _, _, frame = ed
    ct = frame[frame["station"] == "ct"]
    down = ct[ct["event"].isin(["breakdown", "repair"])]
    assert len(down) >= 2 and (down["rare_kind"] == "outage").all()
    assert (down["entity_id"] == -1 - 3).all()  # ct is the 4th station
    starts = ct.loc[ct["event"] == "service_start", "time"].to_numpy()
    pairs = down["event"].to_numpy()
    assert (pairs[0::2] == "breakdown").all() and (pairs[1::2] == "repair").all()
    repairs = down[down["event"] == "repair"]
    assert (repairs["cause"].to_numpy() == down["seq"].to_numpy()[0::2][: len(repairs)]).all()
    for a, b in zip(down["time"].to_numpy()[0::2], down["time"].to_numpy()[1::2], strict=False):
        assert not ((starts > a) & (starts < b)).any()
    # Suspended services end labelled as outages, and only at the broken station.
    labelled = frame[(frame["rare_kind"] == "outage") & (frame["entity_id"] >= 0)]
    assert len(labelled) > 0
    assert (labelled["event"] == "service_end").all() and (labelled["station"] == "ct").all()


def test_shift_changes_follow_the_schedule(ed: Any) -> None:
    _, _, frame = ed
    shifts = frame[frame["event"] == "shift_change"]
    doctor = shifts[shifts["station"] == "doctor"]
    hours = np.round(doctor["time"].to_numpy() % 24, 9)
    assert set(hours.tolist()) == {0.0, 8.0, 16.0}
    assert 0.0 not in doctor["time"].to_numpy()  # t = 0 is the initial state, not a change
    by_hour = dict(zip(hours.tolist(), doctor["servers"].tolist(), strict=True))
    assert by_hour == {0.0: 5, 8.0: 11, 16.0: 9}
    assert (doctor["customer_class"].isna()).all() and (doctor["entity_id"] == -2).all()


def test_surge_labels_exactly_the_customers_arriving_in_it(ed: Any) -> None:
    _, _, frame = ed
    arrivals = frame[frame["event"] == "arrival"]
    inside = (arrivals["time"] >= 639.0) & (arrivals["time"] < 641.0)
    assert inside.any()
    assert (arrivals.loc[inside, "rare_kind"] == "surge").all()
    assert arrivals.loc[~inside, "rare_kind"].isna().all()


def test_preemptive_priority_high_class_sees_an_mm1_alone() -> None:
    # Preemptive-resume priority, exponential service (mu 1): the high class (lambda 0.3) is
    # an M/M/1 of its own, Wq = lambda_1 / (mu (mu - lambda_1)) = 3/7; the SE from 20 batch
    # means of consecutive high-priority customers.
    params = {
        "classes": {
            "high": {"priority": 0, "arrivals": {"process": "poisson", "rate": 0.3}},
            "low": {"priority": 1, "arrivals": {"process": "poisson", "rate": 0.5}},
        },
        "stations": {
            "s": {
                "servers": 1,
                "discipline": "priority",
                "preemptive": True,
                "service": {"dist": "exponential", "mean": 1.0},
            }
        },
        "routing": {
            "high": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}},
            "low": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}},
        },
    }
    frame = _frame(list(_sim(params, 30_000.0, seed=8).run()))
    high = frame[frame["customer_class"] == "high"]
    join = high[high["event"] == "queue_join"].set_index("entity_id")["time"]
    start = high[high["event"] == "service_start"].set_index("entity_id")["time"]
    waits = (start - join.loc[start.index]).sort_index().to_numpy()[300:]
    means = [b.mean() for b in np.array_split(waits, 20)]
    assert abs(waits.mean() - 0.3 / 0.7) < 4 * np.std(means, ddof=1) / math.sqrt(20)
    # Low-priority customers were preempted (queue_join right after their service_start)...
    low = frame[frame["customer_class"] == "low"]
    again = low["event"].eq("queue_join") & low.groupby("entity_id")["event"].shift(1).eq(
        "service_start"
    )
    assert again.sum() > 100
    # ...and a high-priority customer never is.
    prev = high.groupby("entity_id")["event"].shift(1)
    assert not (high["event"].eq("queue_join") & prev.eq("service_start")).any()


def _line(**station: Any) -> dict[str, Any]:
    return {
        "classes": {"c": {"arrivals": {"process": "poisson", "rate": 2.0}}},
        "stations": {
            "s": {"servers": 1, "service": {"dist": "exponential", "mean": 0.4}} | station
        },
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }


def test_buffer_bounds_the_queue_and_blocked_customers_depart() -> None:
    frame = _frame(list(_sim(_line(buffer=2), 2000.0, seed=9).run()))
    at = frame[frame["station"] == "s"]
    assert at["queue_length"].max() == 2
    blocked = frame.loc[frame["event"] == "block", "entity_id"]
    assert len(blocked) > 50
    nxt = frame[frame["entity_id"].isin(blocked)].groupby("entity_id")["event"].agg(list)
    assert all(events == ["arrival", "block", "depart"] for events in nxt)


def test_class_change_on_route_and_its_frequency() -> None:
    # Each visit to s is followed by a route to t as class 'b' with p = 0.3; the share of
    # routes that change class is binomial: SE sqrt(p (1 - p) / n).
    params = {
        "classes": {"a": {"arrivals": {"process": "poisson", "rate": 1.0}}, "b": {}},
        "stations": {
            "s": {"servers": 2, "service": {"dist": "exponential", "mean": 0.5}},
            "t": {"servers": 2, "service": {"dist": "deterministic", "value": 0.2}},
        },
        "routing": {
            "a": {"arrival": {"s": 1.0}, "s": {"exit": 0.7, "t": {"p": 0.3, "class": "b"}}},
            "b": {"t": {"exit": 1.0}},
        },
    }
    frame = _frame(list(_sim(params, 5000.0, seed=10).run()))
    routes = frame[(frame["event"] == "route") & (frame["station"] == "s")]
    share = (routes["customer_class"] == "b").mean()
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(routes))
    # Class b is only ever seen at t, after the route that changed it.
    b_events = frame[frame["customer_class"] == "b"]
    assert set(b_events["station"].dropna()) <= {"s", "t"}
    assert set(b_events.loc[b_events["station"] == "s", "event"]) == {"route"}


def test_daily_profile_shapes_arrivals_and_batches_multiply_them() -> None:
    # Arrivals by hour of day: Poisson counts with mean rate * profile[h] / mean(profile) * days
    # * E[batch] (E = 1.5 for sizes 1, 2 w.p. 0.5 each); SE of a count sqrt(mean * E[size^2] /
    # E[size]) for a compound Poisson count (E[size^2] = 2.5).
    profile = [0.2] * 6 + [1.0] * 6 + [2.0] * 6 + [0.8] * 6
    params = {
        "classes": {
            "c": {
                "arrivals": {
                    "process": "poisson",
                    "rate": 3.0,
                    "daily_profile": profile,
                    "batch_size": [0.5, 0.5],
                }
            }
        },
        "stations": {"s": {"servers": 50, "service": {"dist": "deterministic", "value": 0.01}}},
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }
    days = 60
    frame = _frame(list(_sim(params, days * 24.0, seed=11).run()))
    t = frame.loc[frame["event"] == "arrival", "time"].to_numpy()
    counts = np.bincount((t % 24).astype(int), minlength=24)
    mean = 3.0 * np.array(profile) / np.mean(profile) * days * 1.5
    assert (np.abs(counts - mean) < 4 * np.sqrt(mean * 2.5 / 1.5)).all()
    # Batch members arrive at the same instant.
    sizes = np.unique(t, return_counts=True)[1]
    assert set(sizes.tolist()) == {1, 2}


@pytest.mark.parametrize("engine", ["simpy", "compiled"])
def test_arrival_rate_follows_the_weekly_profile_and_surges(engine: str) -> None:
    # A rate piecewise constant by hour of the week, times 4 in surges that begin and end
    # off the hour (one inside another: x 16 there): arrivals in each piece are Poisson with
    # mean rate * length, SE sqrt(mean); 4 SE. Gaps do not cross changes of rate, so counts
    # right after a change would show a restart that is not memoryless.
    weekly = [1.0, 2.0, 0.5, 1.0, 1.5, 0.0, 1.0]  # no arrivals on Saturdays
    params = {
        "engine": engine,
        "classes": {
            "c": {"arrivals": {"process": "poisson", "rate": 2.0, "weekly_profile": weekly}}
        },
        "stations": {"s": {"servers": 100, "service": {"dist": "deterministic", "value": 0.01}}},
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }
    surges = [
        {"at": 30.25, "duration": 20.5, "multiplier": 4.0},
        {"at": 40.75, "duration": 5.0, "multiplier": 4.0},
    ]
    weeks = 20
    frame = _frame(list(_sim(params, weeks * 168.0, seed=5, rare={"surges": surges}).run()))
    t = frame.loc[frame["event"] == "arrival", "time"].to_numpy()
    rate = 2.0 * np.array(weekly) / np.mean(weekly)
    pieces = [(30.25, 40.75, 4.0), (40.75, 45.75, 16.0), (45.75, 50.75, 4.0)]
    for a, b, mult in pieces:
        # The rate is constant on quarter hours here: the mean is a sum over them.
        quarters = np.arange(a, b, 0.25)
        mean = (rate[(quarters // 24).astype(int)] * mult * 0.25).sum()
        n = ((t >= a) & (t < b)).sum()
        assert abs(n - mean) < 4 * math.sqrt(mean), (a, b, n, mean)
    rest = t[t >= 168.0]  # weeks 2.. have no surges
    counts = np.bincount((rest % 168 // 24).astype(int), minlength=7)
    mean = rate * 24 * (weeks - 1)
    assert counts[5] == 0
    assert (np.abs(counts - mean) <= 4 * np.sqrt(mean)).all(), (counts, mean)
    # Within the hour, arrivals spread evenly (no pile-up after each hour's restart): the
    # count in the first tenth of the hours, Binomial(n, 0.1), SE sqrt(n 0.09).
    early = ((rest % 1.0) < 0.1).sum()
    assert abs(early - 0.1 * len(rest)) < 4 * math.sqrt(0.09 * len(rest))


@pytest.mark.parametrize("engine", ["simpy", "compiled"])
def test_trend_grows_the_rate_hour_by_hour(engine: str) -> None:
    # Rate 2/h doubling every 200 h, constant within each hour at its start's value: arrivals
    # in each 100 h window are Poisson with mean sum_h 2 * 2 ** (h / 200), SE sqrt(mean); 4 SE.
    # A trend mistaken for a linear one, or its factor frozen, is off by dozens of SE.
    params = {
        "engine": engine,
        "classes": {
            "c": {
                "arrivals": {
                    "process": "poisson",
                    "rate": 2.0,
                    "trend": {"growth": 1.0, "per": 200.0},
                }
            }
        },
        "stations": {"s": {"servers": 100, "service": {"dist": "deterministic", "value": 0.01}}},
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }
    frame = _frame(list(_sim(params, 600.0, seed=8).run()))
    t = frame.loc[frame["event"] == "arrival", "time"].to_numpy()
    hourly = 2.0 * 2.0 ** (np.arange(600) / 200.0)
    counts = np.bincount((t // 100).astype(int), minlength=6)
    mean = hourly.reshape(6, 100).sum(axis=1)
    assert (np.abs(counts - mean) < 4 * np.sqrt(mean)).all(), (counts, mean)


def test_renewal_arrivals_count() -> None:
    # Gamma interarrivals (mean 0.5, cv 0.5): the count by t is asymptotically normal with mean
    # t / m and variance t cv^2 / m (renewal CLT).
    params = _line() | {
        "classes": {
            "c": {"arrivals": {"process": "renewal",
                               "interarrival": {"dist": "gamma", "mean": 0.5, "cv": 0.5}}}
        }
    }  # fmt: skip
    n = sim_n = _sim(params, 5000.0, seed=12)
    list(sim_n.run())
    arrivals = n.summary()["arrivals"]
    assert abs(arrivals - 10_000) < 4 * math.sqrt(5000.0 * 0.25 / 0.5)


_DISTS: list[tuple[dict[str, Any], float, float]] = [
    # (spec, mean, variance)
    ({"dist": "exponential", "mean": 2.0}, 2.0, 4.0),
    ({"dist": "deterministic", "value": 1.5}, 1.5, 0.0),
    ({"dist": "lognormal", "mean": 2.0, "cv": 0.5}, 2.0, 1.0),
    ({"dist": "gamma", "mean": 3.0, "cv": 0.3}, 3.0, 0.81),
    ({"dist": "weibull", "shape": 2.0, "scale": 1.0}, math.gamma(1.5), 1 - math.gamma(1.5) ** 2),
    ({"dist": "empirical", "values": [1.0, 2.0, 6.0]}, 3.0, 14.0 / 3.0),
]


@pytest.mark.parametrize(("spec", "mean", "var"), _DISTS)
def test_distribution_moments(spec: dict[str, Any], mean: float, var: float) -> None:
    # Sample mean of n = 20,000 draws within 4 sqrt(var / n) of the mean (exact for a constant).
    dist = TypeAdapter(Distribution).validate_python(spec, context=_CTX)
    rng = np.random.default_rng(13)
    x = np.array([dist.sample(rng) for _ in range(20_000)])
    assert dist.expected() == pytest.approx(mean)
    assert abs(x.mean() - mean) <= 4 * math.sqrt(var / len(x))


def test_empirical_smoothing_reflects_at_zero() -> None:
    spec = {"dist": "empirical", "values": [0.0, 0.1, 3.0], "smoothing": 0.5}
    dist = TypeAdapter(Distribution).validate_python(spec, context=_CTX)
    rng = np.random.default_rng(14)
    x = np.array([dist.sample(rng) for _ in range(5000)])
    assert (x >= 0).all() and len(np.unique(x)) > 4000  # smoothed: no repeated values


def test_durations_with_units_convert_to_the_time_unit() -> None:
    dist = TypeAdapter(Distribution).validate_python(
        {"dist": "lognormal", "mean": "30m", "cv": 1.0}, context=_CTX
    )
    assert dist.expected() == pytest.approx(0.5)


@pytest.mark.parametrize("name", _SCENARIOS)
def test_builtin_scenarios_run_briefly_and_replay(name: str) -> None:
    sim = _scenario_sim(name, "2d")
    batches = list(sim.run())
    assert sum(b.num_rows for b in batches) > 1000
    assert sim.summary() == QueueNetwork.replay(batches)


def test_same_seed_same_log() -> None:
    a = pa.Table.from_batches(list(_sim(_line(), 200.0, seed=15).run()))
    b = pa.Table.from_batches(list(_sim(_line(), 200.0, seed=15).run()))
    c = pa.Table.from_batches(list(_sim(_line(), 200.0, seed=16).run()))
    assert a.equals(b) and not a.equals(c)


def _bad(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        QueueNetwork.Params.model_validate(params, context=_CTX)


def test_bad_routing_is_refused_naming_the_key() -> None:
    def routing(rows: dict[str, Any], **more: Any) -> dict[str, Any]:
        return _line() | {"routing": {"c": rows} | more}

    out = {"s": {"exit": 1.0}}
    _bad(routing({"arrival": {"x": 1.0}} | out), r"routing\.c\.arrival\.x: unknown station 'x'")
    _bad(routing({"arrival": {"s": 1.0}} | out, z={}), r"routing: unknown class 'z'")
    to_q = {"exit": 1.0, "s": {"p": 0.0, "class": "q"}}
    _bad(routing({"arrival": {"s": 1.0}, "s": to_q}), r"routing\.c\.s\.s\.class: unknown class 'q'")
    half = {"exit": 0.5, "s": 0.4}
    _bad(routing({"arrival": {"s": 1.0}, "s": half}), r"routing\.c\.s probabilities must sum to 1")
    _bad(routing({"arrival": {"s": 1.0}}), r"routing\.c\.s: missing")
    _bad(routing({"arrival": {"s": 1.5}} | out), r"less than or equal to 1")


def test_unreachable_station_is_named() -> None:
    p = _line()
    p["stations"]["lonely"] = {"servers": 1, "service": {"dist": "exponential", "mean": 1.0}}
    _bad(p, r"stations: 'lonely' unreachable")


def test_bad_numbers_are_refused() -> None:
    def station(**kw: Any) -> dict[str, Any]:
        return _line(**kw)

    _bad(station(servers=0), r"stations\.s\.servers")
    _bad(station(servers=[{"at": 8, "servers": 0}]), r"greater than or equal to 1")
    _bad(station(service={"dist": "exponential", "mean": -1.0}), r"greater than 0")
    _bad(station(service={"dist": "exponential", "mean": "-5m"}), r"greater than 0")
    _bad(station(service={"dist": "gamma", "mean": 1.0, "cv": float("nan")}), r"finite")
    _bad(
        station(service={"dist": "pareto", "mean": 1.0}), r"does not match any of the expected tags"
    )
    _bad(station(preemptive=True), r"preemptive: true needs discipline: priority")
    p = _line()
    p["classes"]["c"]["arrivals"]["rate"] = float("nan")
    _bad(p, r"classes\.c\.arrivals\.poisson\.rate")
    p["classes"]["c"]["arrivals"]["rate"] = -2.0
    _bad(p, r"greater than 0")
    p = _line()
    p["classes"]["c"]["balk_probability"] = [0.1, 1.2]
    _bad(p, r"balk_probability\.1")
