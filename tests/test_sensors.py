"""The sensors simulator against theory: AR(1) autocorrelation and variance, Poisson fault rates,
exponential durations; the kernel against its reference; fault windows, labels, gaps, lifecycle
and replay on the log.

Statistical tests use fixed seeds and tolerances of 4 standard errors, each derived in a comment.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from eventforge.simulators.monte_carlo import reference
from eventforge.simulators.monte_carlo.sensors import (
    FAULT_KINDS,
    Sensors,
    _Fleet,
    sampling_instants,
    sensors_block,
)
from tests.simulate import run_simulator

CTX = {"time_unit_s": 3600.0}
START = datetime(2026, 1, 1, 6, 30, tzinfo=UTC)


def run(
    params: dict,
    faults: dict | None = None,
    seed: int = 0,
    horizon: float = 24.0,
    batch: int = 65_536,
) -> tuple[Sensors, list[pa.RecordBatch], pd.DataFrame]:
    sim, batches = run_simulator(
        Sensors, params, faults, horizon=horizon, seed=seed, start=START, batch_events=batch
    )
    df = pa.Table.from_batches(batches, schema=Sensors.spec.schema()).to_pandas()
    return sim, batches, df


def noise_only(count: int, phi: float, sigma: float, interval: float) -> dict:
    group = {"name": "n", "count": count, "level": 0.0, "phi": phi, "sigma": sigma}
    return {"interval": interval, "groups": [group]}


FAULTS = {
    "spike": {"rate": 0.4, "magnitude_min": 5.0, "magnitude_max": 9.0},
    "drift": {"rate": 0.2, "mean_duration": 1.5, "magnitude_min": 3.0, "magnitude_max": 6.0},
    "stuck": {"rate": 0.2, "mean_duration": 0.75},
    "dropout": {"rate": 0.2, "mean_duration": 0.5},
}
FLEET = {
    "interval": "5m",
    "groups": [
        {"name": "temp", "count": 6, "level": 20.0, "level_spread": 2.0, "amplitude": 3.0,
         "phi": 0.8, "sigma": 0.3},
        {"name": "flow", "count": 4, "level": 5.0, "amplitude": 1.0, "peak_hour": 3.0,
         "phi": -0.3, "sigma": 0.5},
    ],
}  # fmt: skip


def bartlett_var_r(phi: float, k: int, n: int) -> float:
    """Var of the lag-k sample autocorrelation of an AR(1) series of length n, by Bartlett's
    formula (Bartlett 1946; Box, Jenkins & Reinsel, Time Series Analysis, eq. 2.1.15):
    (1/n) [(1 + phi^2)(1 - phi^{2k}) / (1 - phi^2) - 2 k phi^{2k}]."""
    p2, p2k = phi**2, phi ** (2 * k)
    return ((1 + p2) * (1 - p2k) / (1 - p2) - 2 * k * p2k) / n


def test_ar1_autocorrelation_and_stationary_variance() -> None:
    phi, sigma, n_sensors = 0.7, 1.0, 40
    _, _, df = run(noise_only(n_sensors, phi, sigma, 1.0), horizon=2500.0)
    x = df["value"].to_numpy().reshape(-1, n_sensors).T  # one row per sensor, in time order
    n = x.shape[1]
    assert n == 2500
    gamma0 = sigma**2 / (1 - phi**2)
    for k in (1, 2, 5):
        # Pooled over independent sensors: the Bartlett variance shrinks by the sensor count.
        r = (x[:, :-k] * x[:, k:]).sum() / (x * x).sum()
        assert abs(r - phi**k) < 4 * math.sqrt(bartlett_var_r(phi, k, n) / n_sensors)
    # Var of the sample variance of AR(1): (2 gamma0^2 / n) sum_k rho_k^2 = (2 gamma0^2 / n)
    # (1 + phi^2) / (1 - phi^2) (Bartlett's formula at lag 0), again over n_sensors series.
    se = gamma0 * math.sqrt(2 * (1 + phi**2) / (1 - phi**2) / (n * n_sensors))
    assert abs(x.var() - gamma0) < 4 * se
    assert abs(x.mean()) < 4 * math.sqrt(gamma0 * (1 + phi) / (1 - phi) / (n * n_sensors))


def test_noise_starts_stationary() -> None:
    # The first reading of many sensors: N(0, sigma^2 / (1 - phi^2)), no burn-in shrinkage.
    phi, sigma, n_sensors = 0.95, 1.0, 4000
    _, _, df = run(noise_only(n_sensors, phi, sigma, 1.0), horizon=1.0)
    first = df["value"].to_numpy()
    assert first.shape[0] == n_sensors
    gamma0 = sigma**2 / (1 - phi**2)
    assert abs(first.var(ddof=1) / gamma0 - 1) < 4 * math.sqrt(2 / (n_sensors - 1))


def test_seasonality_peaks_at_the_wall_clock_hour() -> None:
    group = {"name": "t", "count": 1, "level": 10.0, "amplitude": 2.0, "peak_hour": 14.0,
             "phi": 0.0, "sigma": 1e-9}  # fmt: skip
    _, _, df = run({"interval": "15m", "groups": [group]}, horizon=24.0)
    hour = (6.5 + df["time"].to_numpy()) % 24  # START is 06:30 UTC
    expected = 10.0 + 2.0 * np.cos(2 * np.pi * (hour - 14.0) / 24)
    np.testing.assert_allclose(df["value"].to_numpy(), expected, atol=1e-7)


def _windows(df: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """One row per fault: sensor, kind, start, end (horizon if still running), fault_id."""
    starts = df[df["event"] == "fault_start"].set_index("fault_id")
    ends = df[df["event"] == "fault_end"].set_index("fault_id")
    out = pd.DataFrame(
        {
            "sensor": starts["entity_id"],
            "kind": starts["rare_kind"].astype(str),
            "start": starts["time"],
            "start_seq": starts["seq"],
        }
    )
    out["end"] = ends["time"].reindex(out.index).fillna(horizon)
    out["ended"] = out.index.isin(ends.index)
    return out


def test_fault_rates_and_durations_match_theory() -> None:
    horizon = 300.0
    _, _, df = run(FLEET, FAULTS, seed=11, horizon=horizon)
    w = _windows(df, horizon)
    # Exposure: sensor-time spent ok, when faults may start (one fault at a time).
    exposure = 10 * horizon - (w["end"] - w["start"]).sum()
    for kind, cfg in FAULTS.items():
        count = int((w["kind"] == kind).sum())
        expected = cfg["rate"] * exposure
        # Starts of one kind form a Poisson process in ok-time: SD of the count sqrt(expected).
        assert abs(count - expected) < 4 * math.sqrt(expected), kind
    for kind in ("drift", "stuck", "dropout"):
        mean = FAULTS[kind]["mean_duration"]
        # Faults starting 15 means before the horizon all end (P(not) = e^-15 each): uncensored.
        d = w[(w["kind"] == kind) & (w["start"] < horizon - 15 * mean)]
        assert d["ended"].all()
        durations = (d["end"] - d["start"]).to_numpy()
        # Exponential durations: SD = mean, so the SE of their average is mean / sqrt(n).
        assert abs(durations.mean() - mean) < 4 * mean / math.sqrt(len(durations)), kind


def test_labels_are_exactly_the_fault_windows() -> None:
    horizon = 120.0
    sim, _, df = run(FLEET, FAULTS, seed=5, horizon=horizon, batch=3000)
    assert (df["seq"].to_numpy() == np.arange(len(df))).all()
    assert (np.diff(df["time"].to_numpy()) >= 0).all()
    assert (df["rare"] == df["rare_kind"].notna()).all()
    interval = 5 / 60
    grid = np.arange(sampling_instants(horizon, interval)) * interval
    w = _windows(df, horizon)
    assert set(w["kind"]) == set(FAULT_KINDS)
    for sensor, events in df.groupby("entity_id"):
        running = None  # (kind, fault_id, start seq, start time) of the running fault
        stuck_values: list[float] = []
        spike_hits = 0
        for row in events.itertuples():
            if row.event == "fault_start":
                assert running is None and pd.isna(row.cause) and pd.isna(row.value)
                running = (row.rare_kind, row.fault_id, row.seq, row.time)
                stuck_values, spike_hits = [], 0
            elif row.event == "fault_end":
                assert running is not None and row.cause == running[2]
                assert (row.rare_kind, row.fault_id) == running[:2]
                if running[0] == "spike":
                    assert spike_hits == 1  # a spike ends at the one reading it hits
                if running[0] == "stuck":
                    assert len(set(stuck_values)) <= 1
                running = None
            elif running is None:
                assert not row.rare and pd.isna(row.fault_id) and pd.isna(row.cause)
            else:
                kind, fid, start_seq, start_time = running
                assert row.rare_kind == kind and row.fault_id == fid and row.cause == start_seq
                assert kind != "dropout"  # a dropout emits no readings
                assert row.time >= start_time
                stuck_values.append(row.value)
                spike_hits += kind == "spike"
        # The sensor reads at every grid instant outside its dropout windows, and only there.
        present = events.loc[events["event"] == "reading", "time"].to_numpy()
        drops = w[(w["sensor"] == sensor) & (w["kind"] == "dropout")]
        gap = np.zeros(grid.shape[0], dtype=bool)
        for start, end in zip(drops["start"], drops["end"], strict=True):
            gap |= (grid >= start) & (grid < end)
        np.testing.assert_array_equal(present, grid[~gap])
    # Durational faults affect exactly the readings at times in [start, end); a spike, the one
    # reading at its end.
    readings = df[(df["event"] == "reading") & df["rare"]].join(w, on="fault_id")
    spike = readings["kind"] == "spike"
    assert (readings["time"] >= readings["start"]).all()
    assert (readings.loc[~spike, "time"] < readings.loc[~spike, "end"]).all()
    assert (readings.loc[spike, "time"] == readings.loc[spike, "end"]).all()
    summary = sim.summary()
    assert summary["rare_readings.spike"] == summary["faults.spike"] - summary["active.spike"]


def test_spike_and_drift_magnitudes() -> None:
    # White noise (phi = 0) around level 0, no cycle: a reading is noise x ~ N(0, sd^2) plus the
    # fault's offset, with magnitudes m ~ U(lo, hi) in units of sd, so E[m^2] = (lo^2 + lo hi +
    # hi^2) / 3.
    sigma = 0.5
    group = {"name": "g", "count": 50, "level": 0.0, "phi": 0.0, "sigma": sigma}
    faults = {"spike": FAULTS["spike"], "drift": FAULTS["drift"]}
    _, _, df = run({"interval": "5m", "groups": [group]}, faults, seed=2, horizon=100.0)
    readings = df[df["event"] == "reading"]

    def m2(cfg: dict) -> float:
        lo, hi = cfg["magnitude_min"], cfg["magnitude_max"]
        return (lo * lo + lo * hi + hi * hi) / 3

    # Spike: E[(v / sd)^2] = 1 + E[m^2]; SE from the sample sd over independent spikes.
    v2 = (readings.loc[readings["rare_kind"] == "spike", "value"].to_numpy() / sigma) ** 2
    assert abs(v2.mean() - 1 - m2(FAULTS["spike"])) < 4 * v2.std(ddof=1) / math.sqrt(len(v2))
    # Drift: v = b (t - start) + x with b = +-m sd / D. Least squares through the origin gives
    # b_hat with Var = sd^2 / S, S = sum (t - start)^2, so E[(b_hat D / sd)^2] = E[m^2] + D^2 / S.
    w = _windows(df, 100.0)
    drift = readings[readings["rare_kind"] == "drift"].join(w, on="fault_id")
    drift = drift[drift["ended"]]
    u = drift["time"] - drift["start"]
    s_uv = (u * drift["value"]).groupby(drift["fault_id"]).sum()
    s_uu = (u * u).groupby(drift["fault_id"]).sum()
    d = (w["end"] - w["start"]).reindex(s_uu.index)
    stat = ((s_uv / s_uu * d / sigma) ** 2 - d**2 / s_uu).to_numpy()
    assert len(stat) > 100
    assert abs(stat.mean() - m2(FAULTS["drift"])) < 4 * stat.std(ddof=1) / math.sqrt(len(stat))


def test_kernel_matches_reference() -> None:
    p = Sensors.Params.model_validate(FLEET, context=CTX)
    f = Sensors.RareEvents.model_validate(FAULTS, context=CTX)
    fleets = [_Fleet(p, f, 6.5, 3600.0, np.random.default_rng(9)) for _ in range(2)]
    k_rng, r_rng = np.random.default_rng(4), np.random.default_rng(4)
    horizon = 60.0
    n_steps = sampling_instants(horizon, p.interval)
    seq0 = 0
    for k0 in range(0, n_steps, 97):
        k1 = min(n_steps, k0 + 97)
        tail = horizon if k1 == n_steps else -math.inf
        k_fleet, r_fleet = fleets
        k_out = sensors_block(k0, k1, tail, seq0, k_fleet, k_rng)
        r_out = reference.sensors_block(
            k0, k1, r_fleet.interval, tail, seq0, r_fleet.level, r_fleet.amplitude,
            r_fleet.omega, r_fleet.phase, r_fleet.phi, r_fleet.sigma, r_fleet.sd,
            r_fleet.fault_cum, r_fleet.fault_rate, r_fleet.magnitude_lo, r_fleet.magnitude_hi,
            r_fleet.mean_duration, r_fleet.x, r_fleet.kind, r_fleet.next_time,
            r_fleet.fault_start, r_fleet.fault_param, r_fleet.fault_id, r_fleet.fault_seq,
            r_fleet.counter, r_rng,
        )  # fmt: skip
        for a, b in zip(k_out, r_out, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        seq0 += k_out[0].shape[0]
    for name in ("x", "kind", "next_time", "fault_param", "fault_id", "fault_seq", "counter"):
        np.testing.assert_allclose(getattr(fleets[0], name), getattr(fleets[1], name))
    assert fleets[0].counter[0] > 100 and k_rng.random() == r_rng.random()


def test_summary_equals_replay_and_batches_are_bounded() -> None:
    sim, batches, df = run(FLEET, FAULTS, seed=8, horizon=80.0, batch=500)
    assert max(b.num_rows for b in batches) <= 500
    summary = sim.summary()
    assert summary == Sensors.replay(batches)
    assert sum(summary[f"events.{e}"] for e in Sensors.spec.vocabulary) == len(df)
    assert sum(summary[f"active.{k}"] for k in FAULT_KINDS) == (
        summary["events.fault_start"] - summary["events.fault_end"]
    )
    table = pa.Table.from_batches(batches)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=700)
    back = pq.read_table(io.BytesIO(buf.getvalue()))
    assert Sensors.replay(back.to_batches(max_chunksize=333)) == summary


def test_no_faults_no_rare_events() -> None:
    sim, batches, df = run(FLEET, {}, horizon=10.0)
    assert not df["rare"].any() and set(df["event"]) == {"reading"}
    assert len(df) == 10 * 120  # 10 sensors, 12 readings per hour, 10 hours
    assert sim.summary() == Sensors.replay(batches)


@pytest.mark.parametrize(
    ("where", "value", "loc"),
    [
        (("groups", 0, "phi"), 1.0, r"groups\.0\.phi"),
        (("groups", 0, "phi"), -1.0, r"groups\.0\.phi"),
        (("groups", 1, "sigma"), math.nan, r"groups\.1\.sigma"),
        (("groups", 1, "sigma"), 0.0, r"groups\.1\.sigma"),
        (("groups", 0, "count"), 0, r"groups\.0\.count"),
        (("groups", 0, "peak_hour"), 24.0, r"groups\.0\.peak_hour"),
        (("interval",), "0m", r"interval"),
    ],
)
def test_invalid_params_name_the_field(where: tuple, value: object, loc: str) -> None:
    params = {"interval": FLEET["interval"], "groups": [dict(g) for g in FLEET["groups"]]}
    target: dict | list = params
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(ValidationError, match=loc):
        Sensors.Params.model_validate(params, context=CTX)


@pytest.mark.parametrize(
    ("faults", "loc"),
    [
        ({"spike": {"rate": "-1/d"}}, r"spike\.rate"),
        ({"drift": {"rate": math.nan, "mean_duration": "1h"}}, r"drift\.rate"),
        ({"stuck": {"rate": "1/d"}}, r"stuck\.mean_duration"),
        ({"spike": {"rate": 1.0, "magnitude_min": 9.0, "magnitude_max": 3.0}}, r"magnitude_min"),
        ({"dropout": {"rate": 1.0, "mean_duration": "1h", "gap": 2}}, r"dropout\.gap"),
    ],
)
def test_invalid_faults_name_the_field(faults: dict, loc: str) -> None:
    with pytest.raises(ValidationError, match=loc):
        Sensors.RareEvents.model_validate(faults, context=CTX)
