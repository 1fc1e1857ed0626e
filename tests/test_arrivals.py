"""The arrivals simulator against Poisson-process theory, its kernel against the reference."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError
from scipy import stats

from eventforge.simulators.monte_carlo import reference
from eventforge.simulators.monte_carlo.arrivals import Arrivals, arrivals_events
from eventforge.simulators.monte_carlo.sampling import alias_table, cumulative
from tests.simulate import START, columns, run_simulator

HOURS = {"time_unit_s": 3600.0}
TYPES = {
    "view": {"probability": 0.6, "median_amount": 10.0, "amount_sigma": 0.8},
    "buy": {"probability": 0.3, "median_amount": 40.0, "amount_sigma": 0.5},
    "refund": {"probability": 0.1, "median_amount": 25.0, "amount_sigma": 1.2},
}


def params(**over: object) -> dict:
    base: dict = {"entities": 100, "rate": 1.0, "types": TYPES}
    return base | over


def simulate(
    p: dict,
    rare: dict | None = None,
    *,
    horizon: float,
    seed: int = 1,
    start: datetime = START,
    unit_s: float = 3600.0,
    batch_events: int = 65_536,
) -> tuple[Arrivals, list[pa.RecordBatch]]:
    return run_simulator(
        Arrivals,
        p,
        rare,
        horizon=horizon,
        seed=seed,
        start=start,
        unit_s=unit_s,
        batch_events=batch_events,
    )


def marks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Type and channel arguments of the kernel: three types, two channels."""
    type_cum = cumulative(np.array([0.5, 0.3, 0.2]))
    mu, sigma = np.log([5.0, 20.0, 100.0]), np.array([0.5, 1.0, 0.0])
    return type_cum, mu, sigma, cumulative(np.array([0.7, 0.3]))


def test_kernel_matches_reference() -> None:
    piece_start = np.array([0.0, 0.5, 1.0, 2.5])
    piece_end = np.array([0.5, 1.0, 2.5, 3.0])
    piece_mean = np.array([40.0, 0.0, 300.0, 7.5])
    table = alias_table(np.random.default_rng(0).gamma(2.0, 0.5, size=50))
    for growth in (0.0, 0.3):
        args = (piece_start, piece_end, piece_mean, growth, *table, *marks())
        got = arrivals_events(*args, np.random.default_rng(7))
        want = reference.arrivals_events(*args, np.random.default_rng(7))
        assert len(got[0]) > 300
        np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
        for g, w in zip(got[1:5], want[1:5], strict=True):
            np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(got[5], want[5], rtol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_alias_table_implies_the_weights(n: int) -> None:
    # Exact property of a table: category i is drawn with probability (prob[i] + the sum of
    # (1 - prob[j]) over the columns j aliased to i) / n, which must be the normalised weight.
    rng = np.random.default_rng(n)
    weights = rng.gamma(0.3, 1.0, size=n) * (rng.random(n) < 0.8)  # skewed, some zeros
    weights[rng.integers(n)] = 50.0 * max(1.0, weights.max())  # a dominant one
    prob, alias = alias_table(weights)
    assert prob.shape == alias.shape == (n,) and alias.dtype == np.int64
    assert ((prob >= 0) & (prob <= 1)).all() and ((alias >= 0) & (alias < n)).all()
    implied = prob.copy()
    np.add.at(implied, alias, 1.0 - prob)
    implied /= n
    np.testing.assert_allclose(implied, weights / weights.sum(), rtol=0, atol=1e-12)
    assert (implied[weights == 0] == 0).all()
    # Equal weights need no aliasing at all.
    np.testing.assert_array_equal(alias_table(np.full(n, 2.5))[0], np.ones(n))


def test_alias_table_rejects_bad_weights() -> None:
    for bad in ([], [0.0, 0.0], [1.0, -0.1], [1.0, np.nan], [[1.0]]):
        with pytest.raises(ValueError, match="alias_table needs"):
            alias_table(np.array(bad))


def test_kernel_entities_follow_the_activity_weights() -> None:
    # One piece of ~2 x 10^5 events: entity counts against their expected shares by a
    # chi-square test at a fixed seed (zero-weight entities left out of it: never drawn).
    weights = np.random.default_rng(3).gamma(0.5, 1.0, size=60)
    weights[[4, 17, 59]] = 0.0
    args = (np.array([0.0]), np.array([1.0]), np.array([2e5]), 0.0, *alias_table(weights))
    entity = arrivals_events(*args, *marks(), np.random.default_rng(11))[2]
    counts = np.bincount(entity, minlength=60)
    assert counts[weights == 0].sum() == 0
    expected = len(entity) * weights / weights.sum()
    assert stats.chisquare(counts[weights > 0], expected[weights > 0]).pvalue > 1e-3


def test_kernel_times_are_sorted_inside_their_pieces() -> None:
    # Pieces of very different widths, one far from 0 where its width is a few ulps (times
    # must round into it, not onto its end), growth of either sign.
    edges = np.array([0.0, 0.5, 0.5 + 1e-9, 2.0, 10.0])
    starts = np.append(edges[:-1], 1e9)
    ends = np.append(edges[1:], 1e9 + 1e-6)
    mean = np.array([50.0, 5.0, 500.0, 200.0, 300.0])
    table = alias_table(np.ones(10))
    for growth in (0.0, 0.7, -0.7):
        args = (starts, ends, mean, growth, *table, *marks())
        time, piece = arrivals_events(*args, np.random.default_rng(5))[:2]
        assert len(time) > 700
        assert (np.diff(piece) >= 0).all() and (np.diff(time) >= 0).all()
        assert ((starts[piece] <= time) & (time < ends[piece])).all()


@pytest.mark.parametrize("growth", [0.0, 0.8, -1.5])
def test_kernel_times_follow_the_intensity_within_a_piece(growth: float) -> None:
    # Window counts above only see whole pieces; inside one the times (pooled over its
    # sorted draws) must have the CDF F(t) = expm1(g (t - a)) / expm1(g span), t - a for
    # g = 0 on a unit piece. Kolmogorov-Smirnov test at a fixed seed.
    piece = (np.array([3.0]), np.array([4.0]), np.array([20_000.0]))
    args = (*piece, growth, *alias_table(np.ones(1)), *marks())
    time = arrivals_events(*args, np.random.default_rng(8))[0] - 3.0
    cdf = (lambda x: x) if growth == 0.0 else (lambda x: np.expm1(growth * x) / np.expm1(growth))
    assert stats.kstest(time, cdf).pvalue > 1e-3


def test_window_counts_are_poisson() -> None:
    # Flat profiles, no shocks: counts in k disjoint unit windows are Poisson(Lambda),
    # Lambda = entities * rate. Mean within 4 SE (SE = sqrt(Lambda / k)); the dispersion
    # ratio var/mean has SE ~ sqrt(2 / (k - 1)), tolerance 4 SE.
    k, lam = 2000, 100.0
    _, batches = simulate(params(entities=100, rate=1.0), horizon=float(k))
    counts = np.histogram(columns(batches)["time"], bins=np.arange(k + 1))[0]
    assert abs(counts.mean() - lam) < 4 * math.sqrt(lam / k)
    assert abs(counts.var(ddof=1) / counts.mean() - 1) < 4 * math.sqrt(2 / (k - 1))


def test_hourly_counts_follow_daily_profile_in_wall_clock_time() -> None:
    # Time unit minutes and a start at 00:30 UTC: the profile must be read in wall-clock hours.
    daily = [0.2] * 6 + [1.0] * 6 + [3.0] * 6 + [0.8] * 6
    start = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    _, batches = simulate(
        params(entities=50, rate="2/h", daily_profile=daily),
        horizon=28 * 24 * 60.0,
        start=start,
        unit_s=60.0,
    )
    ts = pa.Table.from_batches(batches).column("timestamp").to_numpy()
    hours = ts.astype("datetime64[h]").astype(np.int64) % 24
    counts = np.bincount(hours, minlength=24)
    expected = counts.sum() * np.array(daily) / sum(daily)
    # Chi-square goodness of fit at a fixed seed: the first and last half hours are partial,
    # but 28 days make that a 1/1344 effect, far under the test's resolution.
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_weekly_profile_and_exponential_trend() -> None:
    # Expected count in [a, b) is Lambda * integral of (1 + growth)^(t / per): compare each
    # week's count with it, 4 SE with SE = sqrt(expected) (Poisson).
    weekly = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    _, batches = simulate(
        params(entities=100, rate=0.5, weekly_profile=weekly, trend={"growth": 0.2, "per": "7d"}),
        horizon=4 * 168.0,
        start=datetime(2026, 1, 5, tzinfo=UTC),  # a Monday
    )
    time = columns(batches)["time"]
    g = math.log(1.2) / 168.0
    level = 100 * 0.5 * np.array(weekly) / np.mean(weekly)
    for day in range(28):
        a, b = 24.0 * day, 24.0 * (day + 1)
        expected = level[day % 7] * (math.exp(g * b) - math.exp(g * a)) / g
        got = ((time >= a) & (time < b)).sum()
        assert abs(got - expected) < 4 * math.sqrt(expected), (day, got, expected)


def check_outages(t: dict[str, np.ndarray]) -> int:
    """Assert the outage log is well formed and no arrival falls inside one; return starts."""
    sys = t["entity_id"] == -1
    assert (t["rare_kind"][sys] == "outage").all()
    start_rows = np.flatnonzero(t["event"] == "outage_start")
    end_rows = np.flatnonzero(t["event"] == "outage_end")
    assert len(start_rows) + len(end_rows) == sys.sum()
    assert len(start_rows) - 1 <= len(end_rows) <= len(start_rows)
    # Each end's cause is its start; starts and ends alternate.
    np.testing.assert_array_equal(t["cause"][end_rows], start_rows[: len(end_rows)])
    starts = t["time"][start_rows]
    ends = np.append(t["time"][end_rows], np.inf)[: len(starts)]
    assert (starts < ends).all() and (ends[:-1] < starts[1:]).all()
    arrivals = t["time"][~sys]
    for s, e in zip(starts, ends, strict=True):
        assert not ((arrivals >= s) & (arrivals < e)).any()
    return len(starts)


def test_outages_have_no_events_and_are_logged() -> None:
    windows = [{"at": "10h", "duration": "2h"}, {"at": "11h", "duration": "3h"},
               {"at": "30h", "duration": "90m"}, {"at": "71h", "duration": "5h"}]  # fmt: skip
    sim, batches = simulate(
        params(entities=200, rate=2.0), {"outages": {"windows": windows}}, horizon=72.0, seed=3
    )
    t = columns(batches)
    assert check_outages(t) == 3 == sim.summary()["outages"]
    # The two overlapping windows merge; the last outage outlives the horizon (no end).
    np.testing.assert_array_equal(t["time"][t["event"] == "outage_start"], [10.0, 30.0, 71.0])
    np.testing.assert_array_equal(t["time"][t["event"] == "outage_end"], [14.0, 31.5])
    assert sim.summary()["down_at_end"] == 1
    # Elsewhere the rate is untouched: 200 * 2 per hour over 72 - 4 - 1.5 - 1 hours.
    expected = 400.0 * 65.5
    assert abs((t["entity_id"] >= 0).sum() - expected) < 4 * math.sqrt(expected)


def test_flash_crowd_rate_and_labels() -> None:
    # In the window the rate is multiplier x base: count within 4 SE of its Poisson mean.
    rare = {"flash_crowds": {"windows": [{"at": "20h", "duration": "10h", "multiplier": 5.0}]}}
    _, batches = simulate(params(entities=100, rate=2.0), rare, horizon=60.0, seed=4)
    t = columns(batches)
    inside = (t["time"] >= 20.0) & (t["time"] < 30.0)
    expected = 5.0 * 100 * 2.0 * 10.0
    assert abs(inside.sum() - expected) < 4 * math.sqrt(expected)
    assert (t["rare_kind"][inside] == "flash_crowd").all() and t["rare"][inside].all()
    assert not t["rare"][~inside].any()
    outside = (~inside).sum() / 50.0  # events per hour outside the window, base 200
    assert abs(outside - 200.0) < 4 * math.sqrt(200.0 / 50.0)


def test_types_amounts_and_activity() -> None:
    # Type shares: 4 SE of a binomial proportion. log(amount) of a type is normal(log median,
    # sigma): mean within 4 sigma / sqrt(n); sample sd within 4 sigma / sqrt(2 (n - 1)).
    # Per-entity counts are gamma-Poisson: mean rate * horizon, variance m + m^2 cv^2.
    _, batches = simulate(params(entities=2000, rate=1.0, activity_cv=0.5), horizon=100.0)
    t = columns(batches)
    n = len(t["time"])
    for name, spec in TYPES.items():
        p = spec["probability"]
        rows = t["event_type"] == name
        assert abs(rows.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
        logs, k, sigma = np.log(t["amount"][rows]), rows.sum(), spec["amount_sigma"]
        assert abs(logs.mean() - math.log(spec["median_amount"])) < 4 * sigma / math.sqrt(k)
        assert abs(logs.std(ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * (k - 1))
    per_entity = np.bincount(t["entity_id"], minlength=2000)
    m = 100.0
    assert abs(per_entity.mean() - m) < 4 * math.sqrt((m + m * m * 0.25) / 2000)
    # The sample variance of 2000 gamma-Poisson counts: a 20% band is > 4 SE here (kurtosis of
    # a gamma with cv 0.5 is 4.5, SE of the variance ~ var * sqrt((kurt - 1) / n) ~ 4%).
    assert abs(per_entity.var() / (m + m * m * 0.25) - 1) < 0.2


def test_log_invariants_summary_replay_and_bounded_batches() -> None:
    rare = {"flash_crowds": {"random": {"rate": "1/d", "duration": "2h", "multiplier": 4.0}},
            "outages": {"random": {"rate": "1/2d", "duration": "1h"}}}  # fmt: skip
    p = params(entities=500, rate="3/h", activity_cv=1.0, daily_profile=list(range(1, 25)))
    sim, batches = simulate(p, rare, horizon=10 * 24.0, batch_events=5000, seed=9)
    assert all(b.num_rows <= 1.5 * 5000 for b in batches), max(b.num_rows for b in batches)
    t = columns(batches)
    assert len(t["seq"]) > 10 * 5000
    np.testing.assert_array_equal(t["seq"], np.arange(len(t["seq"])))
    assert (np.diff(t["time"]) >= 0).all()
    assert sim.summary() == pytest.approx(Arrivals.replay(batches), rel=1e-9, abs=0)  # contract
    assert sim.summary()["flash_crowd_events"] > 0
    assert check_outages(t) == sim.summary()["outages"] > 0
    # Determinism: the same seed gives the same log.
    _, again = simulate(p, rare, horizon=10 * 24.0, batch_events=5000, seed=9)
    assert pa.Table.from_batches(again).equals(pa.Table.from_batches(batches))


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"rate": -1.0}, "rate", "greater than 0"),
        ({"rate": float("nan")}, "rate", "finite"),
        ({"activity_cv": -0.5}, "activity_cv", "greater than or equal to 0"),
        ({"daily_profile": [1.0] * 23}, "daily_profile", "at least 24"),
        ({"daily_profile": [0.0] * 24}, "daily_profile", "all zero"),
        ({"weekly_profile": [1.0] * 6 + [-1.0]}, "weekly_profile", "greater than or equal"),
        ({"channels": {"web": 0.5, "app": 0.6}}, "channels", r"sum to 1 \(got 1.1: web=0.5"),
        ({"channels": {"web": 1.5}}, "channels", "less than or equal to 1"),
        ({"trend": {"growth": -1.0, "per": "1d"}}, "trend", "greater than -1"),
        ({"types": {"a": {"probability": 0.5, "median_amount": 1.0}}}, "types", "sum to 1"),
    ],
)
def test_invalid_params_name_the_field(override: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Arrivals.Params.model_validate(params(**override), context=HOURS)
    assert info.value.errors()[0]["loc"][0] == field


def test_invalid_rare_events() -> None:
    bad = {"flash_crowds": {"windows": [{"at": "1h", "duration": "0h", "multiplier": 2.0}]}}
    with pytest.raises(ValidationError, match="greater than 0") as info:
        Arrivals.RareEvents.model_validate(bad, context=HOURS)
    assert info.value.errors()[0]["loc"][:4] == ("flash_crowds", "windows", 0, "duration")
