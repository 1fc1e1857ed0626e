"""Kernels of the ``prices`` model: regime paths and exact GBM ticks with jumps."""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel
from eventforge.simulators.monte_carlo.kernels._arrays import grown


@kernel
def prices_regimes(
    t1: float,
    regime: int,
    next_switch: float,
    mean_stay: np.ndarray,
    jump_cum: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """The switches of a continuous-time Markov chain of regimes before ``t1``.

    The chain is in ``regime`` and leaves it at ``next_switch``; a stay in regime ``r`` lasts
    Exp(mean ``mean_stay[r]``; ``inf`` = absorbing) and the next regime is drawn from row ``r`` of
    the jump chain's cumulative probabilities ``jump_cum`` (rows end with exactly 1.0, zero on the
    diagonal). Returns ``(switch times, new regimes, regime, next_switch)``, the last two being
    the state to carry into the next window.
    """
    times = np.empty(8, dtype=np.float64)
    regimes = np.empty(8, dtype=np.int64)
    n = 0
    while next_switch < t1:
        if n == times.shape[0]:
            times = grown(times, 2 * n)
            regimes = grown(regimes, 2 * n)
        regime = int(np.searchsorted(jump_cum[regime], rng.random(), side="right"))
        times[n] = next_switch
        regimes[n] = regime
        n += 1
        stay = mean_stay[regime]
        next_switch = next_switch + rng.exponential(stay) if np.isfinite(stay) else np.inf
    return times[:n].copy(), regimes[:n].copy(), regime, next_switch


@kernel
def prices_ticks(
    t0: float,
    t1: float,
    seq0: int,
    seg_time: np.ndarray,
    seg_regime: np.ndarray,
    drift: np.ndarray,
    variance: np.ndarray,
    crash_regime: np.ndarray,
    candidate_rate: np.ndarray,
    vol2: np.ndarray,
    accept: np.ndarray,
    hour0: float,
    hours_per_unit: float,
    jump_rate: float,
    jump_mean: float,
    jump_sd: float,
    size_log_median: float,
    size_sigma: float,
    crash_threshold: float,
    crash_window: float,
    log_price: np.ndarray,
    last_tick_log: np.ndarray,
    pending_jump: np.ndarray,
    crash_until: np.ndarray,
    rng: np.random.Generator,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
    """Every event of the window ``[t0, t1)``, in time order: ticks, jumps, regime changes.

    Regime ``r`` holds from ``seg_time[s]`` where ``seg_regime[s] == r`` (``seg_time[0] == t0``);
    instrument ``i`` has log-drift ``drift[r] - vol2[i] * variance[r] / 2`` and log-variance
    ``vol2[i] * variance[r]`` per time unit there, so the log price between two events is one
    exact Gaussian step over the piecewise-constant coefficients (no discretisation error).
    Ticks: a Poisson process at ``candidate_rate[i]`` thinned by ``accept[hour of day]``; jumps
    (Merton): Poisson at ``jump_rate``, log size N(``jump_mean``, ``jump_sd``^2).

    State carried across windows, updated in place: ``log_price`` (the path at ``t0``, then at
    ``t1``), ``last_tick_log`` (log price at each instrument's last tick), ``pending_jump`` (seq
    of a jump not yet followed by a tick, else -1) and ``crash_until`` (end of the crash window
    opened by a jump below ``crash_threshold``). Returns ``(time, entity, event, price,
    log_return, size, regime, cause, crash)`` with event 0 tick, 1 jump, 2 regime change (entity
    -1); -1 and NaN mark values an event does not have.
    """
    n_inst = candidate_rate.shape[0]
    n_seg = seg_time.shape[0]
    span = t1 - t0
    # Integrated drift and variance of the regime path at each segment start (instrument-free).
    cum_drift = np.zeros(n_seg, dtype=np.float64)
    cum_var = np.zeros(n_seg, dtype=np.float64)
    for s in range(1, n_seg):
        dt = seg_time[s] - seg_time[s - 1]
        cum_drift[s] = cum_drift[s - 1] + drift[seg_regime[s - 1]] * dt
        cum_var[s] = cum_var[s - 1] + variance[seg_regime[s - 1]] * dt
    n_cand = np.empty(n_inst, dtype=np.int64)
    n_jump = np.empty(n_inst, dtype=np.int64)
    cap = n_seg - 1
    for i in range(n_inst):
        n_cand[i] = rng.poisson(candidate_rate[i] * span)
        n_jump[i] = rng.poisson(jump_rate * span)
        cap += n_cand[i] + n_jump[i]
    time = np.empty(cap, dtype=np.float64)
    entity = np.empty(cap, dtype=np.int64)
    event = np.empty(cap, dtype=np.int32)
    price = np.full(cap, np.nan)
    log_return = np.full(cap, np.nan)
    size = np.full(cap, -1, dtype=np.int64)
    regime = np.empty(cap, dtype=np.int32)
    n = 0
    for i in range(n_inst):
        ticks = t0 + span * rng.random(n_cand[i])
        ticks.sort()
        kept = 0
        for c in range(n_cand[i]):
            p = accept[int(np.floor(hour0 + ticks[c] * hours_per_unit)) % 24]
            if p >= 1.0 or rng.random() < p:
                ticks[kept] = ticks[c]
                kept += 1
        jumps = t0 + span * rng.random(n_jump[i])
        jumps.sort()
        s_a = 0  # segment, integrated drift and variance at the previous event (from t0)
        d_a = 0.0
        v_a = 0.0
        c = 0
        j = 0
        while True:
            # The next event of this instrument, or the window's end (diffuse to t1, then stop).
            is_tick = c < kept and (j >= n_jump[i] or ticks[c] < jumps[j])
            done = not is_tick and j >= n_jump[i]
            if is_tick:
                t = ticks[c]
            elif not done:
                t = jumps[j]
            else:
                t = t1
            s_b = s_a
            while s_b + 1 < n_seg and seg_time[s_b + 1] <= t:
                s_b += 1
            r = seg_regime[s_b]
            d_b = cum_drift[s_b] + drift[r] * (t - seg_time[s_b])
            v_b = cum_var[s_b] + variance[r] * (t - seg_time[s_b])
            var = vol2[i] * (v_b - v_a)
            z = rng.normal(0.0, 1.0)
            log_price[i] += (d_b - d_a) - 0.5 * var + np.sqrt(var) * z
            s_a, d_a, v_a = s_b, d_b, v_b
            if done:
                break
            time[n] = t
            entity[n] = i
            regime[n] = r
            if is_tick:
                event[n] = 0
                log_return[n] = log_price[i] - last_tick_log[i]
                last_tick_log[i] = log_price[i]
                size[n] = int(np.ceil(rng.lognormal(size_log_median, size_sigma)))
                c += 1
            else:
                event[n] = 1
                jump = rng.normal(jump_mean, jump_sd)
                log_price[i] += jump
                log_return[n] = jump
                j += 1
            price[n] = np.exp(log_price[i])
            n += 1
    for s in range(1, n_seg):
        time[n] = seg_time[s]
        entity[n] = -1
        event[n] = 2
        regime[n] = seg_regime[s]
        n += 1
    order = np.argsort(time[:n], kind="mergesort")
    time = time[order]
    entity = entity[order]
    event = event[order]
    price = price[order]
    log_return = log_return[order]
    size = size[order]
    regime = regime[order]
    cause = np.full(n, -1, dtype=np.int64)
    crash = np.empty(n, dtype=np.bool_)
    for k in range(n):
        i = entity[k]
        crash[k] = crash_regime[regime[k]]
        if event[k] == 1:
            pending_jump[i] = seq0 + k
            if log_return[k] < crash_threshold:
                crash[k] = True
                crash_until[i] = max(crash_until[i], time[k] + crash_window)
        elif event[k] == 0:
            cause[k] = pending_jump[i]
            pending_jump[i] = -1
            crash[k] = crash[k] or time[k] <= crash_until[i]
    return time, entity, event, price, log_return, size, regime, cause, crash
