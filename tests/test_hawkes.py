"""The hawkes simulator against branching-process theory, its kernel against the reference."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError
from scipy import stats

from eventforge.simulators.monte_carlo import reference
from eventforge.simulators.monte_carlo.hawkes import Hawkes, hawkes_clusters
from eventforge.simulators.monte_carlo.sampling import cumulative
from tests.simulate import columns, run_simulator

HOURS = {"time_unit_s": 3600.0}


def params(**over: object) -> dict:
    base: dict = {"streams": 200, "baseline_rate": 1.0, "branching_ratio": 0.5, "mean_delay": 0.1}
    return base | over


def simulate(
    p: dict, rare: dict | None = None, *, horizon: float, seed: int = 1, batch_events: int = 65_536
) -> tuple[Hawkes, list[pa.RecordBatch]]:
    return run_simulator(Hawkes, p, rare, horizon=horizon, seed=seed, batch_events=batch_events)


def table(batches: list[pa.RecordBatch]) -> dict[str, np.ndarray]:
    """The columns as arrays, a null ``cause`` (an immigrant) as -1."""
    out = columns(batches)
    cause = pa.Table.from_batches(batches).column("cause").combine_chunks()
    out["cause"] = cause.fill_null(-1).to_numpy()
    return out


def test_kernel_matches_reference() -> None:
    stream_cum = cumulative(np.random.default_rng(0).gamma(1.0, 1.0, size=30))
    severity_cum, type_cum = cumulative(np.array([0.6, 0.3, 0.1])), cumulative(np.ones(4))
    for neighbour in (False, True):
        args = (2.0, 12.0, 12.5, stream_cum, 30.0, 0.8, 0.3, 0.4, neighbour)
        marks = (severity_cum, type_cum, 0.5, 0.0, 0.7)
        got = hawkes_clusters(*args, *marks, np.random.default_rng(5))
        want = reference.hawkes_clusters(*args, *marks, np.random.default_rng(5))
        assert len(got[0]) > 1000 and got[4].max() > 3
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)


def test_rate_immigrant_share_and_delays() -> None:
    n, mu, delay, streams, horizon = 0.5, 1.0, 0.1, 200, 500.0
    _, batches = simulate(params(), horizon=horizon, seed=2)
    t = table(batches)
    total = len(t["time"])
    # From an empty start the intensity is mu/(1-n) * (1 - n exp(-beta (1-n) t)) (solve the
    # renewal equation by Laplace transform), so E N(T) = mu/(1-n) [T - n (1 - exp(-beta (1-n)
    # T)) / (beta (1-n))] per stream. N(T) is compound Poisson over clusters, so Var = rate *
    # E[S^2] with S Borel(n): E[S^2] = Var S + (E S)^2 = n/(1-n)^3 + 1/(1-n)^2 = 1/(1-n)^3.
    beta = 1.0 / delay
    expected = (
        streams
        * mu
        / (1 - n)
        * (horizon - n * -math.expm1(-beta * (1 - n) * horizon) / (beta * (1 - n)))
    )
    se = math.sqrt(streams * mu * horizon / (1 - n) ** 3)
    assert abs(total - expected) < 4 * se, (total, expected, se)
    # Immigrant share 1/mean(S) = 1 - n; by the delta method its SE over K clusters is
    # (1-n)^2 sd(S) / sqrt(K) = sqrt(n (1-n) / K).
    immigrant = t["cause"] < 0
    k = immigrant.sum()
    assert abs(immigrant.mean() - (1 - n)) < 4 * math.sqrt(n * (1 - n) / k)
    np.testing.assert_array_equal(immigrant, t["generation"] == 0)
    # Offspring delays ~ Exp(beta): KS test on children of parents far from the horizon (the
    # horizon censors the later children of late parents).
    child = np.flatnonzero(~immigrant)
    parent_time = t["time"][t["cause"][child]]
    early = parent_time < horizon - 40 * delay
    delays = t["time"][child][early] - parent_time[early]
    assert stats.kstest(delays, stats.expon(scale=delay).cdf).pvalue > 1e-3


def test_causes_generations_and_spread() -> None:
    _, batches = simulate(params(branching_ratio=0.8), horizon=50.0, seed=3, batch_events=4000)
    t = table(batches)
    child = np.flatnonzero(t["cause"] >= 0)
    assert (t["cause"][child] < child).all()
    np.testing.assert_array_equal(t["entity_id"][t["cause"][child]], t["entity_id"][child])
    np.testing.assert_array_equal(t["generation"][t["cause"][child]] + 1, t["generation"][child])
    np.testing.assert_array_equal(t["cluster"][t["cause"][child]], t["cluster"][child])
    # Spread: a child moves with probability p (4 SE of a binomial proportion); with the
    # neighbour rule it moves to i +- 1 (mod streams).
    for rule in ("uniform", "neighbour"):
        p = params(branching_ratio=0.6, spread_probability=0.3, spread_rule=rule)
        _, batches = simulate(p, horizon=50.0, seed=4)
        t = table(batches)
        child = np.flatnonzero(t["cause"] >= 0)
        moved = t["entity_id"][t["cause"][child]] != t["entity_id"][child]
        assert abs(moved.mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(child))
        if rule == "neighbour":
            step = (t["entity_id"][child] - t["entity_id"][t["cause"][child]])[moved] % 200
            assert set(np.unique(step)) == {1, 199}


def test_cascade_labels_match_cluster_sizes() -> None:
    p = params(branching_ratio=0.8, severities={"low": 0.5, "high": 0.5}, type_inheritance=0.9)
    sim, batches = simulate(p, {"cascade_threshold": 15}, horizon=100.0, seed=5, batch_events=3000)
    t = table(batches)
    ids, inverse, counts = np.unique(t["cluster"], return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(t["cluster_size"], counts[inverse])
    np.testing.assert_array_equal(t["rare"], t["cluster_size"] >= 15)
    np.testing.assert_array_equal(t["rare_kind"][t["rare"]], "cascade")
    assert sim.summary()["cascades"] == (counts >= 15).sum() > 10
    assert len(ids) == (t["generation"] == 0).sum()
    # Every cluster holds one immigrant, and cluster numbers increase with its time.
    roots = t["generation"] == 0
    assert (np.diff(t["cluster"][roots]) > 0).all()


def test_log_invariants_summary_replay_and_bounded_batches() -> None:
    p = params(baseline_cv=1.0, branching_ratio=0.9, spread_probability=0.1, score_sigma=1.0)
    sim, batches = simulate(p, horizon=60.0, seed=6, batch_events=2000)
    assert max(b.num_rows for b in batches) <= 2000
    t = table(batches)
    assert len(t["seq"]) > 20 * 2000
    np.testing.assert_array_equal(t["seq"], np.arange(len(t["seq"])))
    assert (np.diff(t["time"]) >= 0).all() and t["time"][-1] < 60.0
    summary = sim.summary()
    assert summary == pytest.approx(Hawkes.replay(batches), rel=1e-9, abs=0)  # the contract
    assert summary["events"] == len(t["seq"]) and summary["max_generation"] > 5
    _, again = simulate(p, horizon=60.0, seed=6, batch_events=2000)
    assert pa.Table.from_batches(again).equals(pa.Table.from_batches(batches))


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"branching_ratio": 1.0}, "branching_ratio", "must be < 1 .* explodes"),
        ({"branching_ratio": -0.1}, "branching_ratio", "greater than or equal to 0"),
        ({"branching_ratio": float("nan")}, "branching_ratio", "finite"),
        ({"baseline_rate": "-2/h"}, "baseline_rate", "greater than 0"),
        ({"mean_delay": 0.0}, "mean_delay", "greater than 0"),
        ({"spread_probability": 1.2}, "spread_probability", "less than or equal to 1"),
        ({"streams": 1, "spread_probability": 0.1}, "spread_probability", "single stream"),
        ({"severities": {"low": 0.5}}, "severities", "severities probabilities must sum to 1"),
        ({"spread_rule": "random"}, "spread_rule", "uniform"),
    ],
)
def test_invalid_params_name_the_field(override: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Hawkes.Params.model_validate(params(**override), context=HOURS)
    assert info.value.errors()[0]["loc"][0] == field
