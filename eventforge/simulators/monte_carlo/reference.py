"""Plain-Python reference implementations of the Monte Carlo kernels.

Each function here computes what its namesake in :mod:`kernels` computes, written for clarity,
not speed; tests compare the two on the same seeds, and ``benchmarks/`` measures the speed-up.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

# --- arrivals ------------------------------------------------------------------------------


def _pick(cum: np.ndarray, u: float) -> int:
    """A categorical draw: the index of the first cumulative weight above ``u`` (bisection)."""
    return bisect.bisect_right(cum, u)


def _alias_pick(prob: np.ndarray, alias: np.ndarray, u: float) -> int:
    """A categorical draw from a Walker alias table (see ``sampling.alias_table``): column
    ``int(u * n)`` (``u * n`` can round up to ``n``), kept with probability ``prob``."""
    n = len(prob)
    x = u * n
    k = min(int(x), n - 1)
    return k if x - k < prob[k] else int(alias[k])


def _sorted_uniforms(n: int, rng: np.random.Generator) -> list[float]:
    """``n`` sorted uniforms on (0, 1) from ``n + 1`` exponentials (Renyi's representation:
    partial sums over the full sum), drawn in the kernel's order."""
    sums, s = [], 0.0
    for _ in range(n + 1):
        s += rng.standard_exponential()
        sums.append(s)
    return [x / s for x in sums[:-1]]


def arrivals_events(
    piece_start: np.ndarray,
    piece_end: np.ndarray,
    piece_mean: np.ndarray,
    growth: float,
    entity_prob: np.ndarray,
    entity_alias: np.ndarray,
    type_cum: np.ndarray,
    type_log_median: np.ndarray,
    type_sigma: np.ndarray,
    channel_cum: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference of :func:`kernels.arrivals_events`: lists and scalar draws, in the kernel's
    order (all counts; per piece its times; all entities; per event type, amount, channel)."""
    counts = [int(rng.poisson(lam)) for lam in piece_mean]
    times: list[float] = []
    pieces: list[int] = []
    for k, n in enumerate(counts):
        if n == 0:
            continue
        a, b = float(piece_start[k]), float(piece_end[k])
        prev = a
        for v in _sorted_uniforms(n, rng):
            if growth == 0.0:
                t = a + v * (b - a)
            else:
                t = a + math.log1p(v * math.expm1(growth * (b - a))) / growth
            # As the kernel: rounding must not reach b or step back.
            t = min(max(t, prev), math.nextafter(b, -math.inf))
            times.append(t)
            prev = t
        pieces.extend([k] * n)
    entity_u = [rng.random() for _ in times]
    entity = [_alias_pick(entity_prob, entity_alias, u) for u in entity_u]
    etype, channel, amount = [], [], []
    for _ in times:
        t = _pick(type_cum, rng.random())
        etype.append(t)
        amount.append(rng.lognormal(type_log_median[t], type_sigma[t]))
        channel.append(_pick(channel_cum, rng.random()))
    return (
        np.array(times, dtype=np.float64),
        np.array(pieces, dtype=np.int64),
        np.array(entity, dtype=np.int64),
        np.array(etype, dtype=np.int32),
        np.array(channel, dtype=np.int32),
        np.array(amount, dtype=np.float64),
    )


# --- hawkes --------------------------------------------------------------------------------


def hawkes_clusters(
    t0: float,
    t1: float,
    horizon: float,
    stream_cum: np.ndarray,
    total_rate: float,
    branching: float,
    mean_delay: float,
    spread_p: float,
    spread_neighbour: bool,
    severity_cum: np.ndarray,
    type_cum: np.ndarray,
    inherit_type: float,
    score_log_median: float,
    score_sigma: float,
    rng: np.random.Generator,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:
    """Reference of :func:`kernels.hawkes_clusters`: one dict per event, a deque per cluster."""
    n_streams = len(stream_cum)
    starts = sorted(
        t0 + rng.random() * (t1 - t0) for _ in range(int(rng.poisson(total_rate * (t1 - t0))))
    )
    events: list[dict] = []
    for c, start in enumerate(starts):
        root = {
            "time": start,
            "stream": _pick(stream_cum, rng.random()),
            "parent": -1,
            "cluster": c,
            "generation": 0,
            "severity": _pick(severity_cum, rng.random()),
            "type": _pick(type_cum, rng.random()),
            "score": rng.lognormal(score_log_median, score_sigma),
        }
        events.append(root)
        queue = deque([len(events) - 1])
        while queue:
            q = queue.popleft()
            mother = events[q]
            for _ in range(int(rng.poisson(branching))):
                t = mother["time"] + rng.exponential(mean_delay)
                if t >= horizon:
                    continue
                s = mother["stream"]
                if rng.random() < spread_p:
                    if spread_neighbour:
                        s = (s + 1 if rng.random() < 0.5 else s + n_streams - 1) % n_streams
                    else:
                        other = int(rng.random() * (n_streams - 1))
                        s = other + 1 if other >= s else other
                child = {
                    "time": t,
                    "stream": s,
                    "parent": q,
                    "cluster": c,
                    "generation": mother["generation"] + 1,
                    "severity": _pick(severity_cum, rng.random()),
                }
                inherit = rng.random() < inherit_type
                child["type"] = mother["type"] if inherit else _pick(type_cum, rng.random())
                child["score"] = rng.lognormal(score_log_median, score_sigma)
                events.append(child)
                queue.append(len(events) - 1)
    columns = ("time", "stream", "parent", "cluster", "generation", "severity", "type", "score")
    dtypes = (np.float64, np.int64, np.int64, np.int64, np.int32, np.int32, np.int32, np.float64)
    return tuple(  # type: ignore[return-value]
        np.array([e[name] for e in events], dtype=dt)
        for name, dt in zip(columns, dtypes, strict=True)
    )


# --- prices --------------------------------------------------------------------------------


def prices_regimes(
    t1: float,
    regime: int,
    next_switch: float,
    mean_stay: np.ndarray,
    jump_cum: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Regime switches before ``t1``, one stay at a time (see the kernel for the contract)."""
    times: list[float] = []
    regimes: list[int] = []
    while next_switch < t1:
        regime = _pick(jump_cum[regime], rng.random())
        times.append(next_switch)
        regimes.append(regime)
        stay = mean_stay[regime]
        next_switch = next_switch + rng.exponential(stay) if math.isfinite(stay) else math.inf
    return np.array(times, dtype=np.float64), np.array(regimes, dtype=np.int64), regime, next_switch


def _regime_at(seg_time: np.ndarray, seg_regime: np.ndarray, t: float) -> int:
    """The regime in force at ``t``: that of the last segment starting at or before it."""
    return int(seg_regime[bisect.bisect_right(seg_time, t) - 1])


def _integrals(
    seg_time: np.ndarray, seg_regime: np.ndarray, coef: np.ndarray, a: float, b: float, t1: float
) -> float:
    """The integral over ``[a, b]`` of the piecewise-constant ``coef[regime(t)]``."""
    total = 0.0
    ends = [*seg_time[1:], t1]
    for start, end, r in zip(seg_time, ends, seg_regime, strict=True):
        overlap = min(b, end) - max(a, start)
        if overlap > 0:
            total += coef[r] * overlap
    return total


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
) -> tuple[np.ndarray, ...]:
    """One window of ticks, jumps and regime changes (see the kernel for the contract)."""
    span = t1 - t0
    n_inst = len(candidate_rate)
    counts = [
        (rng.poisson(candidate_rate[i] * span), rng.poisson(jump_rate * span))
        for i in range(n_inst)
    ]
    rows: list[tuple] = []  # (time, entity, event, price, log_return, size, regime)
    for i in range(n_inst):
        n_cand, n_jump = counts[i]
        ticks = []
        for t in np.sort(t0 + span * rng.random(n_cand)):
            p = accept[math.floor(hour0 + t * hours_per_unit) % 24]
            if p >= 1.0 or rng.random() < p:
                ticks.append(float(t))
        jumps = [float(t) for t in np.sort(t0 + span * rng.random(n_jump))]
        # Merge the instrument's ticks and jumps in time order; the window's end closes the path.
        merged = sorted([(t, "tick") for t in ticks] + [(t, "jump") for t in jumps])
        a = t0
        for t, what in [*merged, (t1, "end")]:
            mean = _integrals(seg_time, seg_regime, drift, a, t, t1)
            var = vol2[i] * _integrals(seg_time, seg_regime, variance, a, t, t1)
            log_price[i] += mean - 0.5 * var + math.sqrt(var) * rng.normal(0.0, 1.0)
            a = t
            regime = _regime_at(seg_time, seg_regime, t)
            if what == "tick":
                ret = log_price[i] - last_tick_log[i]
                last_tick_log[i] = log_price[i]
                size = math.ceil(rng.lognormal(size_log_median, size_sigma))
                rows.append((t, i, 0, math.exp(log_price[i]), ret, size, regime))
            elif what == "jump":
                jump = rng.normal(jump_mean, jump_sd)
                log_price[i] += jump
                rows.append((t, i, 1, math.exp(log_price[i]), jump, -1, regime))
    for t, r in zip(seg_time[1:], seg_regime[1:], strict=True):
        rows.append((float(t), -1, 2, math.nan, math.nan, -1, int(r)))
    rows.sort(key=lambda row: row[0])  # stable: ties keep instrument order, regimes last
    cause: list[int] = []
    crash: list[bool] = []
    for k, (t, i, event, _, ret, _, regime) in enumerate(rows):
        c, rare = -1, bool(crash_regime[regime])
        if event == 1:
            pending_jump[i] = seq0 + k
            if ret < crash_threshold:
                rare = True
                crash_until[i] = max(crash_until[i], t + crash_window)
        elif event == 0:
            c = int(pending_jump[i])
            pending_jump[i] = -1
            rare = rare or t <= crash_until[i]
        cause.append(c)
        crash.append(rare)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    dtypes = (np.float64, np.int64, np.int32, np.float64, np.float64, np.int64, np.int32)
    return (
        *(np.array(col, dtype=d) for col, d in zip(cols, dtypes, strict=True)),
        np.array(cause, dtype=np.int64),
        np.array(crash, dtype=np.bool_),
    )


# --- sensors -------------------------------------------------------------------------------


def sensors_block(
    k0: int,
    k1: int,
    interval: float,
    tail_until: float,
    seq0: int,
    level: np.ndarray,
    amplitude: np.ndarray,
    omega: float,
    phase: np.ndarray,
    phi: np.ndarray,
    sigma: np.ndarray,
    sd: np.ndarray,
    fault_cum: np.ndarray,
    fault_rate: float,
    magnitude_lo: np.ndarray,
    magnitude_hi: np.ndarray,
    mean_duration: np.ndarray,
    x: np.ndarray,
    kind: np.ndarray,
    next_time: np.ndarray,
    fault_start: np.ndarray,
    fault_param: np.ndarray,
    fault_id: np.ndarray,
    fault_seq: np.ndarray,
    counter: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """One block of sampling instants of a sensor fleet (see the kernel for the contract)."""
    spike, drift, stuck = 0, 1, 2  # kind 3, a dropout, appends no reading
    rows: list[tuple] = []  # (time, entity, event, value, fault_id, rare_kind, cause)

    def fault_event(i: int) -> tuple:
        """Start or end sensor i's fault at next_time[i]; the event before its seq is known."""
        now = float(next_time[i])
        if kind[i] >= 0:
            ended = (now, i, 2, int(kind[i]), int(fault_id[i]))
            kind[i] = -1
            next_time[i] = now + rng.exponential(1.0 / fault_rate)
            return ended
        j = _pick(fault_cum, rng.random())
        kind[i], fault_start[i], fault_id[i] = j, now, counter[0]
        counter[0] += 1
        if j in (spike, drift):
            mag = magnitude_lo[j] + (magnitude_hi[j] - magnitude_lo[j]) * rng.random()
            fault_param[i] = (1.0 if rng.random() < 0.5 else -1.0) * mag * sd[i]
        else:
            fault_param[i] = math.nan
        if j == spike:
            next_time[i] = math.inf
        else:
            duration = rng.exponential(mean_duration[j])
            if j == drift:
                fault_param[i] /= duration
            next_time[i] = now + duration
        return (now, i, 1, j, int(fault_id[i]))

    def emit_faults(faults: list[tuple]) -> None:
        for now, i, event, j, fid in sorted(faults, key=lambda f: f[0]):  # stable sort
            if event == 1:
                fault_seq[i] = seq0 + len(rows)
                rows.append((now, i, 1, math.nan, fid, j, -1))
            else:
                rows.append((now, i, 2, math.nan, fid, j, int(fault_seq[i])))

    n_sensors = len(level)
    for k in range(k0, k1):
        t = k * interval
        faults: list[tuple] = []
        readings: list[tuple] = []
        for i in range(n_sensors):
            while next_time[i] <= t:
                faults.append(fault_event(i))
            x[i] = phi[i] * x[i] + sigma[i] * rng.normal(0.0, 1.0)
            clean = level[i] + amplitude[i] * math.cos(omega * t + phase[i]) + x[i]
            j = int(kind[i])
            if j == -1:
                readings.append((i, clean, -1))
                continue
            if j == spike:
                readings.append((i, clean + fault_param[i], j))
                kind[i] = -1
                next_time[i] = t + rng.exponential(1.0 / fault_rate)
            elif j == drift:
                readings.append((i, clean + fault_param[i] * (t - fault_start[i]), j))
            elif j == stuck:
                if math.isnan(fault_param[i]):
                    fault_param[i] = clean
                readings.append((i, fault_param[i], j))
        emit_faults(faults)
        for i, v, j in readings:
            if j == -1:
                rows.append((t, i, 0, v, -1, -1, -1))
            else:
                rows.append((t, i, 0, v, int(fault_id[i]), j, int(fault_seq[i])))
        for i, _, j in readings:
            if j == spike:
                rows.append((t, i, 2, math.nan, int(fault_id[i]), spike, int(fault_seq[i])))
    if tail_until > -math.inf:
        faults = []
        for i in range(n_sensors):
            while next_time[i] < tail_until:
                faults.append(fault_event(i))
        emit_faults(faults)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    dtypes = (np.float64, np.int64, np.int32, np.float64, np.int64, np.int32, np.int64)
    return tuple(np.array(c, dtype=d) for c, d in zip(cols, dtypes, strict=True))
