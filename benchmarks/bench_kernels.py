"""Each Numba kernel against its plain reference: time per call and the speed-up (target >= 20x).

Run: ``python benchmarks/bench_kernels.py``. Every case runs the kernel once first, so compile
time is excluded, then times both on the same inputs and seed in this one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

Case = tuple[str, Callable[[np.random.Generator], object], Callable[[np.random.Generator], object]]


def _best_of(fn: Callable[[np.random.Generator], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        rng = np.random.default_rng(12345)
        t0 = time.perf_counter()
        fn(rng)
        best = min(best, time.perf_counter() - t0)
    return best


# --- arrivals ------------------------------------------------------------------------------


def case_arrivals_events() -> Case:
    """A week of hourly pieces, ~10^5 events over 20,000 entities, with exponential growth."""
    from eventforge.simulators.monte_carlo import reference
    from eventforge.simulators.monte_carlo.arrivals import arrivals_events
    from eventforge.simulators.monte_carlo.sampling import alias_table, cumulative

    edges = np.arange(169, dtype=np.float64)
    mean = 600.0 * (1.0 + 0.8 * np.sin(2 * np.pi * edges[:-1] / 24.0))
    weights = np.random.default_rng(0).gamma(1.0, 1.0, size=20_000)
    args = (edges[:-1], edges[1:], mean, 0.001, *alias_table(weights))
    marks = (cumulative(np.array([0.6, 0.3, 0.1])), np.log([10.0, 40.0, 25.0]))
    marks += (np.array([0.8, 0.5, 1.2]), cumulative(np.array([0.6, 0.3, 0.1])))
    return (
        "arrivals_events",
        lambda rng: arrivals_events(*args, *marks, rng),
        lambda rng: reference.arrivals_events(*args, *marks, rng),
    )


# --- hawkes --------------------------------------------------------------------------------


def case_hawkes_clusters() -> Case:
    """Clusters of ~10^4 immigrants over 2,000 streams, n = 0.8 (~5 x 10^4 events)."""
    from eventforge.simulators.monte_carlo import reference
    from eventforge.simulators.monte_carlo.hawkes import hawkes_clusters
    from eventforge.simulators.monte_carlo.sampling import cumulative

    streams = cumulative(np.random.default_rng(0).gamma(2.0, 0.5, size=2_000))
    args = (0.0, 30.0, 1e9, streams, 2_000 / 6.0, 0.8, 1.0 / 6.0, 0.1, False)
    marks = (cumulative(np.array([0.7, 0.25, 0.05])), cumulative(np.ones(5)), 0.5, 0.0, 0.5)
    return (
        "hawkes_clusters",
        lambda rng: hawkes_clusters(*args, *marks, rng),
        lambda rng: reference.hawkes_clusters(*args, *marks, rng),
    )


# --- prices --------------------------------------------------------------------------------


def _prices_setup() -> tuple[object, object, np.ndarray, np.ndarray]:
    """Ten instruments under three regimes, with jumps and an intraday profile."""
    from eventforge.simulators.monte_carlo.prices import Prices, _Coefficients

    ctx = {"time_unit_s": 3600.0}
    regimes = [
        {"name": n, "mu": mu, "sigma": s, "mean_duration": d, "crash": n == "crash"}
        for n, mu, s, d in [
            ("calm", 0.01, 0.02, 5.0),
            ("wild", 0.0, 0.05, 2.0),
            ("crash", -0.5, 0.2, 0.5),
        ]
    ]
    params = Prices.Params.model_validate(
        {
            "instruments": [
                {"symbol": f"X{i}", "initial_price": 100.0, "tick_rate": 200.0} for i in range(10)
            ],
            "regimes": regimes,
            "jumps": {"rate": 1.0, "mean": -0.02, "sd": 0.05},
            "intraday_profile": [1.0 + (h % 6) for h in range(24)],
        },
        context=ctx,
    )
    rare = Prices.RareEvents.model_validate({"window": 0.5}, context=ctx)
    stay = np.array([5.0, 2.0, 0.5])
    jump_cum = np.array([[0.0, 0.9, 1.0], [0.7, 0.7, 1.0], [0.0, 1.0, 1.0]])
    return _Coefficients(params, rare, 0.0, 3600.0), params, stay, jump_cum


def case_prices_regimes() -> Case:
    """About 3 x 10^5 regime switches of a three-regime chain."""
    from eventforge.simulators.monte_carlo import reference
    from eventforge.simulators.monte_carlo.prices import price_regimes

    _, _, stay, jump_cum = _prices_setup()
    return (
        "prices_regimes",
        lambda rng: price_regimes(1e6, 0, 0.0, stay, jump_cum, rng),
        lambda rng: reference.prices_regimes(1e6, 0, 0.0, stay, jump_cum, rng),
    )


def case_prices_ticks() -> Case:
    """One day of ten instruments at 200 ticks/h (~4.8 x 10^4 ticks) across 12 regime spells."""
    from eventforge.simulators.monte_carlo import reference
    from eventforge.simulators.monte_carlo.prices import _State, price_ticks

    model, params, _, _ = _prices_setup()
    seg_time = np.arange(12) * 2.0
    seg_regime = np.array([0, 1, 2, 1, 0, 2, 1, 0, 1, 2, 1, 0])
    prices = np.array([i.initial_price for i in params.instruments])  # type: ignore[attr-defined]

    def kernel_call(rng: np.random.Generator) -> object:
        return price_ticks(0.0, 24.0, 0, seg_time, seg_regime, model, _State(prices), rng)

    def reference_call(rng: np.random.Generator) -> object:
        s = _State(prices)
        m = model
        return reference.prices_ticks(
            0.0, 24.0, 0, seg_time, seg_regime, m.drift, m.variance, m.crash_regime,
            m.candidate_rate, m.vol2, m.accept, m.hour0, m.hours_per_unit, m.jump_rate,
            m.jump_mean, m.jump_sd, m.size_log_median, m.size_sigma, m.crash_threshold,
            m.crash_window, s.log_price, s.last_tick_log, s.pending_jump, s.crash_until, rng,
        )  # fmt: skip

    return "prices_ticks", kernel_call, reference_call


# --- sensors -------------------------------------------------------------------------------


def case_sensors_block() -> Case:
    """100 sensors over 2,000 instants (2 x 10^5 readings) with all four fault kinds."""
    from eventforge.simulators.monte_carlo import reference
    from eventforge.simulators.monte_carlo.sensors import Sensors, _Fleet, sensors_block

    ctx = {"time_unit_s": 3600.0}
    group = {"name": "t", "count": 100, "level": 20.0, "amplitude": 3.0, "phi": 0.9, "sigma": 0.2}
    params = Sensors.Params.model_validate({"interval": "1m", "groups": [group]}, context=ctx)
    faults = Sensors.RareEvents.model_validate(
        {
            "spike": {"rate": "1/d"},
            "drift": {"rate": "1/d", "mean_duration": "2h"},
            "stuck": {"rate": "1/d", "mean_duration": "1h"},
            "dropout": {"rate": "1/d", "mean_duration": "30m"},
        },
        context=ctx,
    )

    def kernel_call(rng: np.random.Generator) -> object:
        fleet = _Fleet(params, faults, 0.0, 3600.0, np.random.default_rng(1))
        return sensors_block(0, 2000, -np.inf, 0, fleet, rng)

    def reference_call(rng: np.random.Generator) -> object:
        f = _Fleet(params, faults, 0.0, 3600.0, np.random.default_rng(1))
        return reference.sensors_block(
            0, 2000, f.interval, -np.inf, 0, f.level, f.amplitude, f.omega, f.phase, f.phi,
            f.sigma, f.sd, f.fault_cum, f.fault_rate, f.magnitude_lo, f.magnitude_hi,
            f.mean_duration, f.x, f.kind, f.next_time, f.fault_start, f.fault_param,
            f.fault_id, f.fault_seq, f.counter, rng,
        )  # fmt: skip

    return "sensors_block", kernel_call, reference_call


def cases() -> list[Case]:
    """All (name, kernel call, reference call) cases; each call takes a fresh Generator."""
    found: list[Case] = []
    for name, value in sorted(globals().items()):
        if name.startswith("case_") and callable(value):
            found.append(value())
    return found


def main() -> None:
    """Print one line per kernel: reference time, kernel time, speed-up."""
    print(f"{'kernel':<32} {'reference s':>12} {'kernel s':>10} {'speed-up':>9}")
    for name, kernel_call, reference_call in cases():
        kernel_call(np.random.default_rng(0))  # compile (or load the cache) outside the timing
        t_kernel = _best_of(kernel_call, repeats=5)
        t_ref = _best_of(reference_call, repeats=1)
        print(f"{name:<32} {t_ref:>12.4f} {t_kernel:>10.5f} {t_ref / t_kernel:>8.1f}x")


if __name__ == "__main__":
    main()
