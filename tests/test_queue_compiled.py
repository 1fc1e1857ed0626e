"""queue_network's compiled engine: kernel vs plain-Python reference, the same distribution as
the SimPy engine, the replay invariant through ``eventforge check``, engine selection errors.

Theory checks (M/M/1, Erlang C, P-K, Jackson, Little) run on both engines in
tests/test_queue_theory.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

import eventforge as ef
from eventforge.check import check_dataset
from eventforge.simulators.base import RunContext
from eventforge.simulators.discrete_event.compiled_engine import CompiledEngine
from eventforge.simulators.discrete_event.queue_network import QueueNetwork
from eventforge.simulators.discrete_event.reference import reference_network

_CTX = {"time_unit_s": 3600.0}
_START = datetime(2026, 1, 5, tzinfo=UTC)

# Two classes (priority 0 and 1) through a triage desk, a doctor pair with breakdowns and a
# lab loop with class change; patience, balking, a finite buffer, a daily profile and a surge.
_NET: dict[str, Any] = {
    "classes": {
        "urgent": {
            "arrivals": {"process": "poisson", "rate": 0.6, "daily_profile": [1] * 12 + [2] * 12},
            "priority": 0,
            "patience": {"dist": "weibull", "shape": 1.5, "scale": 6.0},
        },
        "routine": {
            "arrivals": {"process": "poisson", "rate": 1.0},
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


def _engine(seed: int) -> CompiledEngine:
    sim = _sim(_NET, 1.0, seed, 1)
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


def _replication(engine: str, seed: int) -> tuple[float, float, dict[str, float]]:
    """Mean wait (queue_join to service_start or abandon), mean sojourn of customers arriving
    before horizon - 50, and events per station and type, of one replication."""
    horizon = 600.0
    sim = _sim(_NET | {"engine": engine}, horizon, seed, 262_144)
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


def test_compiled_and_simpy_agree_in_distribution() -> None:
    # Ten independent replications per engine; each statistic's per-replication values are
    # i.i.d., so the difference of the two means has SE sqrt(s1^2/n + s2^2/n): within 4 SE.
    # (40 comparisons at 4 SE: a false alarm has probability ~40 * 6e-5.)
    reps = 10
    runs = {e: [_replication(e, 100 + r) for r in range(reps)] for e in ("simpy", "compiled")}

    def agree(a: list[float], b: list[float], what: str) -> None:
        se = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / reps)
        assert abs(np.mean(a) - np.mean(b)) < 4 * se + 1e-12, (what, np.mean(a), np.mean(b), se)

    simpy, compiled = runs["simpy"], runs["compiled"]
    agree([r[0] for r in simpy], [r[0] for r in compiled], "wait")
    agree([r[1] for r in simpy], [r[1] for r in compiled], "sojourn")
    keys = set().union(*(r[2] for r in simpy + compiled))
    assert {"doctor.abandon", "doctor.block", "doctor.breakdown", "lab.route"} <= keys
    for key in sorted(keys):
        agree([r[2].get(key, 0) for r in simpy], [r[2].get(key, 0) for r in compiled], key)


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


def test_check_dataset_on_a_compiled_run(tmp_path: Path) -> None:
    # The built-in queue_network scenario is expressible: auto runs it compiled.
    sc = ef.load_scenario(
        "queue_network", overrides=["horizon=7d", "params.engine=compiled"], replications=2
    )
    ef.run(sc, tmp_path / "out", executor="serial")
    report = check_dataset(tmp_path / "out")
    assert report.ok, str(report)


def test_compiled_engine_rejects_shifts_naming_the_key() -> None:
    params = _NET | {"engine": "compiled"}
    params["stations"] = _NET["stations"] | {
        "lab": {"servers": [{"at": 8, "servers": 3}, {"at": 20, "servers": 1}],
                "service": {"dist": "exponential", "mean": 1.0}},
    }  # fmt: skip
    with pytest.raises(ValidationError, match=r"stations\.lab\.servers"):
        QueueNetwork.Params.model_validate(params, context=_CTX)
    # auto falls back to SimPy on the same network.
    sim = _sim(params | {"engine": "auto"}, 20.0, 0, 10_000)
    assert len(pd.concat([b.to_pandas() for b in sim.run()])) > 0
    assert not isinstance(sim._engine, CompiledEngine)
