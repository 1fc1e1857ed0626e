"""queue_network against queueing theory: M/M/1, M/M/c, M/D/1, M/M/1/K, M/M/1+M, balking,
an open Jackson network and Little's law.

Each test runs one long replication at a fixed seed (time unit: the mean service time), drops a
warm-up, and compares an estimate with the theory within 4 standard errors, the SE from batch
means (20 batches of consecutive customers: long enough that the batch means are nearly
independent, so ``std(batch means) / sqrt(20)`` is an honest SE of the overall mean). Every test
runs on both engines (``engine: simpy`` and ``engine: compiled``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from eventforge.simulators.base import RunContext
from eventforge.simulators.discrete_event.queue_network import QueueNetwork

_CTX = {"time_unit_s": 3600.0}
_BATCHES = 20

pytestmark = pytest.mark.parametrize("engine", ["simpy", "compiled"])


def _run(params: dict[str, Any], horizon: float, seed: int, engine: str) -> pd.DataFrame:
    p = QueueNetwork.Params.model_validate(params | {"engine": engine}, context=_CTX)
    rare = QueueNetwork.RareEvents.model_validate({}, context=_CTX)
    ctx = RunContext(horizon, datetime(2026, 1, 5, tzinfo=UTC), 3600.0, 0)
    sim = QueueNetwork(p, rare, np.random.default_rng(seed), ctx)
    frame = pa.Table.from_batches(list(sim.run())).to_pandas()
    frame["event"] = frame["event"].astype(str)
    return frame


def _single(rate: float, service: dict[str, Any], servers: int = 1, **extra: Any) -> dict[str, Any]:
    """One Poisson class into one station, then out."""
    station = {"servers": servers, "service": service} | extra.pop("station", {})
    return {
        "classes": {"c": {"arrivals": {"process": "poisson", "rate": rate}} | extra},
        "stations": {"s": station},
        "routing": {"c": {"arrival": {"s": 1.0}, "s": {"exit": 1.0}}},
    }


def _batch_mean(values: np.ndarray) -> tuple[float, float]:
    """Mean and its batch-means standard error."""
    means = np.array([b.mean() for b in np.array_split(values, _BATCHES)])
    return float(values.mean()), float(means.std(ddof=1) / math.sqrt(_BATCHES))


def _waits(frame: pd.DataFrame, warmup: int = 1000) -> np.ndarray:
    """Each customer's wait in queue (single station, one visit), in arrival order."""
    join = frame[frame["event"] == "queue_join"].set_index("entity_id")["time"]
    start = frame[frame["event"] == "service_start"].set_index("entity_id")["time"]
    waits = (start - join.loc[start.index]).sort_index().to_numpy()
    return waits[warmup:]


def _assert_close(values: np.ndarray, expected: float) -> None:
    mean, se = _batch_mean(values)
    assert abs(mean - expected) < 4 * se, (mean, expected, se)


def test_mm1_wait_and_probability_of_waiting(engine: str) -> None:
    # M/M/1, lambda 0.7, mu 1: Wq = rho / (mu - lambda) = 7/3 and P(wait > 0) = rho.
    frame = _run(_single(0.7, {"dist": "exponential", "mean": 1.0}), 40_000.0, 1, engine)
    waits = _waits(frame)
    _assert_close(waits, 0.7 / 0.3)
    _assert_close((waits > 0).astype(float), 0.7)


def _erlang_c(c: int, a: float) -> float:
    """Erlang's C formula: P(wait > 0) in M/M/c with offered load a = lambda / mu."""
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_mmc_erlang_c(engine: str) -> None:
    # M/M/3, lambda 2.4, mu 1 (rho 0.8): P(wait) = C(3, 2.4), Wq = C / (c mu - lambda).
    frame = _run(_single(2.4, {"dist": "exponential", "mean": 1.0}, servers=3), 15_000.0, 2, engine)
    waits = _waits(frame)
    c = _erlang_c(3, 2.4)
    _assert_close((waits > 0).astype(float), c)
    _assert_close(waits, c / (3 - 2.4))


def test_md1_pollaczek_khinchine(engine: str) -> None:
    # M/D/1, lambda 0.7, D = 1: Wq = rho / (2 mu (1 - rho)) (Pollaczek-Khinchine).
    frame = _run(_single(0.7, {"dist": "deterministic", "value": 1.0}), 30_000.0, 3, engine)
    _assert_close(_waits(frame), 0.7 / (2 * 0.3))


def _customer_fraction(frame: pd.DataFrame, event: str, warmup: int = 1000) -> np.ndarray:
    """1.0 for each customer (in arrival order) with an ``event`` event, else 0.0."""
    ids = frame.loc[frame["event"] == "arrival", "entity_id"].to_numpy()
    hit = np.isin(ids, frame.loc[frame["event"] == event, "entity_id"].to_numpy())
    return hit[warmup:].astype(float)


def test_mm1k_loss_probability(engine: str) -> None:
    # M/M/1/K, K = 5 (1 in service + buffer 4), rho 0.8: by PASTA the blocked share of arrivals
    # is P_K = (1 - rho) rho^K / (1 - rho^(K+1)).
    rho, k = 0.8, 5
    params = _single(0.8, {"dist": "exponential", "mean": 1.0}, station={"buffer": k - 1})
    frame = _run(params, 30_000.0, 4, engine)
    _assert_close(_customer_fraction(frame, "block"), (1 - rho) * rho**k / (1 - rho ** (k + 1)))


def _birth_death(birth: list[float], death: list[float]) -> np.ndarray:
    """Stationary law of a birth-death chain on 0..n: p_j proportional to prod birth/death."""
    p = np.cumprod([1.0] + [b / d for b, d in zip(birth, death, strict=True)])
    return p / p.sum()


def test_abandonment_mm1_with_exponential_patience(engine: str) -> None:
    # M/M/1+M (lambda 1, mu 1, patience rate theta 0.5): N is birth-death with death rate
    # mu + (n - 1) theta; P(abandon) = theta E[N_queue] / lambda (abandonment rate over arrivals).
    lam, theta, n = 1.0, 0.5, 60
    p = _birth_death([lam] * n, [1.0 + (j - 1) * theta for j in range(1, n + 1)])
    expected = theta * float(np.dot(np.maximum(np.arange(n + 1) - 1, 0), p)) / lam
    patience = {"dist": "exponential", "mean": 1.0 / theta}
    params = _single(lam, {"dist": "exponential", "mean": 1.0}, patience=patience)
    frame = _run(params, 25_000.0, 5, engine)
    _assert_close(_customer_fraction(frame, "abandon"), expected)


def test_balking_by_queue_length(engine: str) -> None:
    # M/M/1 (lambda 0.9, mu 1) whose arrivals balk with probability b[q], q = waiting customers:
    # N is birth-death with birth lambda (1 - b[q(N)]), q(N) = max(N - 1, 0); by PASTA the balking
    # share is sum_N p_N b[q(N)].
    b = [0.0, 0.2, 0.5, 1.0]
    lam = 0.9
    births = [lam * (1 - b[max(j - 1, 0)]) for j in range(len(b))]
    p = _birth_death(births, [1.0] * len(b))
    expected = float(sum(p[j] * b[max(j - 1, 0)] for j in range(len(p))))
    params = _single(lam, {"dist": "exponential", "mean": 1.0}, balk_probability=b)
    frame = _run(params, 30_000.0, 6, engine)
    _assert_close(_customer_fraction(frame, "balk"), expected)


# Open Jackson network with feedback: external lambda 1 into A; A -> B 0.5, C 0.3, exit 0.2;
# B -> A 0.4, exit 0.6; C -> exit. Traffic equations: lambda_A = 1 + 0.4 lambda_B,
# lambda_B = 0.5 lambda_A, so lambda = (1.25, 0.625, 0.375); with mu = (2, 1, 0.6) every station
# has rho 0.625, and the mean sojourn is sum_i (lambda_i / lambda) / (mu_i - lambda_i) = 5.
_JACKSON = {
    "classes": {"c": {"arrivals": {"process": "poisson", "rate": 1.0}}},
    "stations": {
        "a": {"servers": 1, "service": {"dist": "exponential", "mean": 0.5}},
        "b": {"servers": 1, "service": {"dist": "exponential", "mean": 1.0}},
        "c": {"servers": 1, "service": {"dist": "exponential", "mean": 1.0 / 0.6}},
    },
    "routing": {
        "c": {
            "arrival": {"a": 1.0},
            "a": {"b": 0.5, "c": 0.3, "exit": 0.2},
            "b": {"a": 0.4, "exit": 0.6},
            "c": {"exit": 1.0},
        }
    },
}
_LAMBDA = {"a": 1.25, "b": 0.625, "c": 0.375}
_MU = {"a": 2.0, "b": 1.0, "c": 0.6}


def test_jackson_network_sojourn_and_littles_law(engine: str) -> None:
    horizon = 20_000.0
    frame = _run(_JACKSON, horizon, 7, engine)
    arrive = frame[frame["event"] == "arrival"].set_index("entity_id")["time"]
    depart = frame[frame["event"] == "depart"].set_index("entity_id")["time"]
    # Customers arriving in the last 300 time units might still be inside (P(sojourn > 300) is
    # ~e^-60): leaving them out avoids favouring short sojourns.
    ids = arrive.index[(arrive > 1000.0) & (arrive < horizon - 300.0)]
    sojourn = (depart.loc[ids] - arrive.loc[ids]).to_numpy()
    expected = sum(_LAMBDA[s] / (_MU[s] - _LAMBDA[s]) for s in _LAMBDA)
    _assert_close(sojourn, expected)

    for name in _LAMBDA:
        at = frame[frame["station"].astype(str) == name]
        # L: time average of queue_length + busy, a step function of the log.
        level = (at["queue_length"] + at["busy"]).to_numpy(dtype=float)
        times = np.append(at["time"].to_numpy(), horizon)
        area = np.diff(times) * level
        # W: per visit, queue_join to service_end (no abandonment or preemption here, so in a
        # customer's events at a station each service_end follows its visit's queue_join).
        visits = at[at["event"].isin(["queue_join", "service_end"])].sort_values(
            ["entity_id", "seq"], kind="stable"
        )
        end = np.flatnonzero(visits["event"].to_numpy() == "service_end")
        entity, time = visits["entity_id"].to_numpy(), visits["time"].to_numpy()
        assert (entity[end - 1] == entity[end]).all()
        stay = time[end] - time[end - 1]
        lam_eff = len(stay) / horizon
        w_mean, w_se = _batch_mean(stay)
        # Little: L = lambda_eff W, up to boundary terms and the SE of W.
        assert abs(area.sum() / horizon - lam_eff * w_mean) < 4 * lam_eff * w_se
