"""The prices simulator against theory: GBM and Merton moments and laws, regime occupancy,
Poisson ticks; the kernels against their references; labels, causes and replay on the log.

Statistical tests use fixed seeds and tolerances of 4 standard errors, each derived in a comment.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from scipy import stats

from eventforge.simulators.monte_carlo import reference
from eventforge.simulators.monte_carlo.prices import (
    Prices,
    _Coefficients,
    _State,
    price_regimes,
    price_ticks,
)
from tests.simulate import run_simulator

CTX = {"time_unit_s": 3600.0}
START = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    params: dict,
    rare: dict | None = None,
    seed: int = 0,
    horizon: float = 24.0,
    batch: int = 65_536,
) -> tuple[Prices, list[pa.RecordBatch], pa.Table]:
    sim, batches = run_simulator(
        Prices, params, rare, horizon=horizon, seed=seed, batch_events=batch
    )
    return sim, batches, pa.Table.from_batches(batches, schema=Prices.spec.schema())


def gbm(k: int, mu: float, sigma: float, tick_rate: float, **extra: object) -> dict:
    """K identical instruments at 100, one regime; mu and sigma per time unit (hour)."""
    instruments = [
        {"symbol": f"X{i}", "initial_price": 100.0, "tick_rate": tick_rate} for i in range(k)
    ]
    return {
        "instruments": instruments,
        "regimes": [{"name": "r", "mu": mu, "sigma": sigma}],
        **extra,
    }


def last_ticks(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(time, price) of each instrument's last tick."""
    df = table.filter(pc.equal(table["event"], "tick")).to_pandas()
    last = df.groupby("entity_id").tail(1)
    return last["time"].to_numpy(), last["price"].to_numpy()


def test_gbm_mean_and_lognormal_law() -> None:
    mu, sigma, k = 0.1 / 24, 0.5 / math.sqrt(24), 2000  # mu T = 0.1, sigma^2 T = 0.25 at T = 24
    _, _, table = run(gbm(k, mu, sigma, 2.0))
    t, s = last_ticks(table)
    assert t.shape[0] == k
    # E[S_t] = S0 e^{mu t}: ratios have mean 1; SE = sample sd / sqrt(K) (K independent paths).
    ratio = s / (100.0 * np.exp(mu * t))
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std(ddof=1) / math.sqrt(k)
    # log(S_t/S0) ~ N((mu - sigma^2/2) t, sigma^2 t): standardised, N(0, 1) exactly.
    z = (np.log(s / 100.0) - (mu - sigma**2 / 2) * t) / (sigma * np.sqrt(t))
    assert stats.kstest(z, "norm").pvalue > 0.001
    assert abs(z.mean()) < 4 / math.sqrt(k)  # SE of a mean of K N(0,1)
    assert abs(z.var(ddof=1) - 1.0) < 4 * math.sqrt(2 / (k - 1))  # SE of a normal variance
    # Every inter-tick log return is an exact Gaussian step over its own dt (no Euler error).
    df = table.to_pandas()
    dt = df.groupby("entity_id")["time"].diff().fillna(df["time"]).to_numpy()
    steps = (df["log_return"].to_numpy() - (mu - sigma**2 / 2) * dt) / (sigma * np.sqrt(dt))
    assert stats.kstest(steps, "norm").pvalue > 0.001


def test_tick_counts_are_poisson() -> None:
    rate, horizon, k = 3.0, 24.0, 2000
    _, _, table = run(gbm(k, 0.0, 0.01, rate), horizon=horizon)
    counts = np.bincount(table["entity_id"].to_numpy(), minlength=k)
    lam = rate * horizon
    assert abs(counts.mean() - lam) < 4 * math.sqrt(lam / k)  # SE of the mean of K Poisson(lam)
    # Poisson dispersion var/mean = 1; its SE is about sqrt(2 / (K - 1)) (normal approximation).
    assert abs(counts.var(ddof=1) / lam - 1.0) < 4 * math.sqrt(2 / (k - 1))


def test_intraday_profile_shapes_ticks_by_hour() -> None:
    profile = [1.0] * 8 + [3.0] * 8 + [0.0] * 4 + [2.0] * 4
    _, _, table = run(gbm(20, 0.0, 0.01, 10.0, intraday_profile=profile), horizon=96.0)
    hours = np.floor(table["time"].to_numpy()).astype(int) % 24  # START is midnight UTC
    observed = np.bincount(hours, minlength=24)
    expected = observed.sum() * np.array(profile) / sum(profile)
    assert observed[np.array(profile) == 0].sum() == 0
    keep = expected > 0
    assert stats.chisquare(observed[keep], expected[keep]).pvalue > 0.001
    # The mean rate over whole days is tick_rate: 20 instruments x 10/h x 96 h, Poisson SE.
    assert abs(observed.sum() - 19_200) < 4 * math.sqrt(19_200)


@pytest.mark.parametrize("compensate", [True, False])
def test_merton_log_return_mean(compensate: bool) -> None:
    mu, sigma, lam, m, delta, k = 0.05 / 24, 0.1 / math.sqrt(24), 0.5, -0.02, 0.03, 2000
    jumps = {"rate": lam, "mean": m, "sd": delta, "compensate": compensate}
    _, _, table = run(gbm(k, mu, sigma, 2.0, jumps=jumps))
    t, s = last_ticks(table)
    kappa = math.exp(m + delta**2 / 2) - 1
    comp = lam * kappa if compensate else 0.0
    # E[log S_t/S0] = (mu - sigma^2/2 - comp) t + lam m t; Var = (sigma^2 + lam (m^2 + delta^2)) t.
    mean = (mu - sigma**2 / 2 - comp) * t + lam * m * t
    sd = np.sqrt((sigma**2 + lam * (m**2 + delta**2)) * t)
    z = (np.log(s / 100.0) - mean) / sd
    assert abs(z.mean()) < 4 / math.sqrt(k)  # standardised, unit variance: SE 1/sqrt(K)
    # E[S_t] = S0 e^{(mu + lam kappa - comp) t}: SE of the ratio's mean from its sample sd.
    ratio = s / (100.0 * np.exp((mu + lam * kappa - comp) * t))
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std(ddof=1) / math.sqrt(k)
    # Jumps per instrument over 24 h: Poisson(lam T), SE of the mean sqrt(lam T / K).
    n_jumps = np.count_nonzero(table["event"].to_numpy(zero_copy_only=False) == "jump")
    assert abs(n_jumps / k - lam * 24) < 4 * math.sqrt(lam * 24 / k)


def test_regime_occupancy_matches_stationary_distribution() -> None:
    stays = np.array([3.0, 1.0, 0.5])
    to = [{"b": 0.7, "c": 0.3}, {"a": 0.5, "c": 0.5}, {"a": 1.0, "b": 0.0}]
    regimes = [
        {"name": n, "mu": 0.0, "sigma": 0.01, "mean_duration": float(d), "to": t}
        for n, d, t in zip("abc", stays, to, strict=True)
    ]
    params = {
        "instruments": [{"symbol": "X", "initial_price": 1.0, "tick_rate": 40.0}],
        "regimes": regimes,
    }
    # Theory: pi_r proportional to nu_r * stay_r, nu the jump chain's stationary law (nu P = nu).
    jump = np.array([[0, 0.7, 0.3], [0.5, 0, 0.5], [1.0, 0, 0]])
    w, v = np.linalg.eig(jump.T)
    nu = np.real(v[:, np.argmin(abs(w - 1))])
    pi = nu * stays / (nu * stays).sum()
    switch_rate = float((pi / stays).sum())  # expected regime changes per time unit
    reps, horizon = 150, 24.0
    fractions = np.empty((reps, 3))
    switches = np.empty(reps)
    for rep in range(reps):
        _, _, table = run(params, seed=1000 + rep, horizon=horizon)
        event = table["event"].to_numpy(zero_copy_only=False)
        regime = table["regime"].to_numpy(zero_copy_only=False)[event == "tick"]
        fractions[rep] = [(regime == n).mean() for n in "abc"]
        switches[rep] = np.count_nonzero(event == "regime_change") / horizon
    # The chain starts stationary, so every tick's regime has law pi: E[fraction] = pi exactly.
    # Replications are independent: SE = sample sd / sqrt(reps).
    se = fractions.std(axis=0, ddof=1) / math.sqrt(reps)
    assert np.all(np.abs(fractions.mean(axis=0) - pi) < 4 * se)
    assert abs(switches.mean() - switch_rate) < 4 * switches.std(ddof=1) / math.sqrt(reps)


def _kernel_inputs() -> tuple[dict, dict]:
    params = {
        "instruments": [
            {"symbol": "A", "initial_price": 10.0, "tick_rate": 30.0},
            {"symbol": "B", "initial_price": 20.0, "tick_rate": 5.0, "volatility_scale": 2.0},
        ],
        "regimes": [
            {"name": "calm", "mu": 0.01, "sigma": 0.02, "mean_duration": 2.0},
            {
                "name": "crash",
                "mu": -0.2,
                "sigma": 0.1,
                "mean_duration": 0.5,
                "crash": True,
                "spread_bps": 20.0,
            },
        ],
        "jumps": {"rate": 2.0, "mean": -0.05, "sd": 0.05},
        "intraday_profile": [1.0 + (h % 5) for h in range(24)],
    }
    return params, {"jump_threshold": -0.08, "window": 0.25}


def test_kernels_match_reference() -> None:
    params, rare = _kernel_inputs()
    p = Prices.Params.model_validate(params, context=CTX)
    r = Prices.RareEvents.model_validate(rare, context=CTX)
    model = _Coefficients(p, r, start_hour=5.5, unit_s=3600.0)
    stay = np.array([2.0, 0.5])
    jump_cum = np.array([[0.0, 1.0], [1.0, 1.0]])
    k_rng, r_rng = np.random.default_rng(7), np.random.default_rng(7)
    k_state, r_state = _State(np.array([10.0, 20.0])), _State(np.array([10.0, 20.0]))
    k_reg = r_reg = 0
    k_next = r_next = 0.3
    seq0 = 0
    for w in range(12):  # carried state across windows of 4 h
        t0, t1 = 4.0 * w, 4.0 * (w + 1)
        ks, kr, k_reg2, k_next = price_regimes(t1, k_reg, k_next, stay, jump_cum, k_rng)
        rs, rr, r_reg2, r_next = reference.prices_regimes(t1, r_reg, r_next, stay, jump_cum, r_rng)
        np.testing.assert_array_equal(ks, rs)
        np.testing.assert_array_equal(kr, rr)
        assert (k_reg2, k_next) == (r_reg2, r_next)
        seg_t, seg_r = np.concatenate([[t0], ks]), np.concatenate([[k_reg], kr])
        k_out = price_ticks(t0, t1, seq0, seg_t, seg_r, model, k_state, k_rng)
        r_out = reference.prices_ticks(
            t0, t1, seq0, seg_t, seg_r, model.drift, model.variance, model.crash_regime,
            model.candidate_rate, model.vol2, model.accept, model.hour0, model.hours_per_unit,
            model.jump_rate, model.jump_mean, model.jump_sd, model.size_log_median,
            model.size_sigma, model.crash_threshold, model.crash_window, r_state.log_price,
            r_state.last_tick_log, r_state.pending_jump, r_state.crash_until, r_rng,
        )  # fmt: skip
        assert len(k_out) == len(r_out) == 9
        for a, b in zip(k_out, r_out, strict=True):
            assert a.dtype == b.dtype
            # Integrals over regime segments are summed in another order: floats agree to ulps.
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        for name in ("log_price", "last_tick_log", "pending_jump", "crash_until"):
            np.testing.assert_allclose(getattr(k_state, name), getattr(r_state, name), rtol=1e-12)
        seq0 += k_out[0].shape[0]
        k_reg = r_reg = k_reg2
    assert seq0 > 1000 and k_rng.random() == r_rng.random()  # same draws, same count


def test_labels_causes_and_order_on_the_log() -> None:
    params, rare = _kernel_inputs()
    _, batches, table = run(params, rare, seed=3, horizon=200.0, batch=997)
    assert max(b.num_rows for b in batches) <= 997  # bounded batches
    df = table.to_pandas()
    assert (df["seq"].to_numpy() == np.arange(len(df))).all()
    assert (np.diff(df["time"].to_numpy()) >= 0).all()
    kinds = set(df["event"].astype(str))
    assert kinds == {"tick", "jump", "regime_change"}
    assert (df.loc[df["event"] == "regime_change", "entity_id"] == -1).all()
    # Walk each instrument: crash labels and causes follow from the rules, event by event.
    window, threshold = rare["window"], rare["jump_threshold"]
    for _, inst in df[df["entity_id"] >= 0].groupby("entity_id"):
        pending, crash_until = None, -math.inf
        for row in inst.itertuples():
            in_crash_regime = row.regime == "crash"
            if row.event == "jump":
                big = row.log_return < threshold
                if big:
                    crash_until = max(crash_until, row.time + window)
                assert row.rare == (in_crash_regime or big)
                assert pd_isna(row.cause)
                pending = row.seq
            else:
                assert row.rare == (in_crash_regime or row.time <= crash_until)
                assert (pd_isna(row.cause) and pending is None) or row.cause == pending
                pending = None
    changes = df[df["event"] == "regime_change"]
    assert (changes["rare"] == (changes["regime"] == "crash")).all()
    assert (df["rare"] == df["rare_kind"].notna()).all()
    ticks = df[df["event"] == "tick"]
    spread = ticks["price"] * np.where(ticks["regime"] == "crash", 20e-4, 1e-4)
    np.testing.assert_allclose(ticks["spread"], spread)
    assert (ticks["size"] >= 1).all()


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_summary_equals_replay_through_parquet() -> None:
    params, rare = _kernel_inputs()
    sim, batches, table = run(params, rare, seed=5, horizon=100.0, batch=4096)
    summary = sim.summary()
    assert summary == Prices.replay(batches)
    assert summary["events.tick"] + summary["events.jump"] + summary["events.regime_change"] == (
        table.num_rows
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=3000)
    back = pq.read_table(io.BytesIO(buf.getvalue()))
    assert Prices.replay(back.to_batches(max_chunksize=1000)) == summary


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (("instruments", 0, "tick_rate"), -1.0, r"instruments\.0\.tick_rate"),
        (("instruments", 0, "initial_price"), 0.0, r"instruments\.0\.initial_price"),
        (("regimes", 0, "sigma"), math.nan, r"regimes\.0\.sigma"),
        (("regimes", 0, "sigma"), -0.1, r"regimes\.0\.sigma"),
        (("regimes", 0, "to"), {"crash": 1.5}, r"regimes\.0\.to\.crash"),
        (("jumps", "rate"), "-2/d", r"jumps\.rate"),
        (("jumps", "sd"), math.inf, r"jumps\.sd"),
        (("intraday_profile",), [1.0] * 23, r"intraday_profile"),
    ],
)
def test_invalid_params_name_the_field(path: tuple, value: object, loc: str) -> None:
    params, _ = _kernel_inputs()
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError, match=loc):
        Prices.Params.model_validate(params, context=CTX)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"initial_regime": "boom"}, r"initial_regime: 'boom' is not one of"),
        ({"regimes": [{"name": "a", "mu": 0.0, "sigma": 0.1, "to": {"b": 0.5}}]}, r"to: \['b'\]"),
        (
            {
                "regimes": [
                    {"name": "a", "mu": 0.0, "sigma": 0.1},
                    {"name": "b", "mu": 0.0, "sigma": 0.1},
                ]
            },
            r"no unique stationary distribution",
        ),
    ],
)
def test_inconsistent_params_are_refused(change: dict, message: str) -> None:
    params, _ = _kernel_inputs()
    params.update(change)
    with pytest.raises(ValidationError, match=message):
        Prices.Params.model_validate(params, context=CTX)


def test_rare_events_threshold_must_be_negative() -> None:
    with pytest.raises(ValidationError, match=r"jump_threshold"):
        Prices.RareEvents.model_validate({"jump_threshold": 0.05}, context=CTX)
