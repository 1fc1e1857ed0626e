"""Kernels of the ``sensors`` model: AR(1) readings with injected faults."""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel
from eventforge.simulators.monte_carlo.kernels._arrays import grown


@kernel
def _sensor_fault_event(
    i: int,
    now: float,
    fault_cum: np.ndarray,
    fault_rate: float,
    magnitude_lo: np.ndarray,
    magnitude_hi: np.ndarray,
    mean_duration: np.ndarray,
    sd: np.ndarray,
    kind: np.ndarray,
    next_time: np.ndarray,
    fault_start: np.ndarray,
    fault_param: np.ndarray,
    fault_id: np.ndarray,
    counter: np.ndarray,
    rng: np.random.Generator,
) -> int:
    """Sensor ``i``'s pending fault event at ``now = next_time[i]``: a fault starts (kind drawn
    by ``fault_cum``, parameters drawn) or the running one ends; returns 1 or 2 (the event)."""
    if kind[i] >= 0:
        kind[i] = -1
        next_time[i] = now + rng.exponential(1.0 / fault_rate)
        return 2
    j = np.searchsorted(fault_cum, rng.random(), side="right")
    kind[i] = j
    fault_start[i] = now
    fault_id[i] = counter[0]
    counter[0] += 1
    if j <= 1:  # spike, drift: a signed magnitude in units of the stationary noise sd
        mag = magnitude_lo[j] + (magnitude_hi[j] - magnitude_lo[j]) * rng.random()
        fault_param[i] = (1.0 if rng.random() < 0.5 else -1.0) * mag * sd[i]
    else:
        fault_param[i] = np.nan  # stuck: the frozen value, set at the first reading
    if j == 0:
        next_time[i] = np.inf  # a spike ends at the reading it hits
    else:
        duration = rng.exponential(mean_duration[j])
        if j == 1:
            fault_param[i] /= duration  # drift: slope reaching the magnitude at the end
        next_time[i] = now + duration
    return 1


@kernel
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The log of sampling instants ``k0 <= k < k1`` (time ``k * interval``) of every sensor, in
    order, and then of the faults before ``tail_until`` (the horizon, in the last block).

    Reading of sensor ``i``: ``level + amplitude cos(omega t + phase) + x``, with AR(1) noise
    ``x <- phi x + sigma eps``. Faults (kinds 0 spike, 1 drift, 2 stuck, 3 dropout) start at the
    Poisson rate ``fault_rate`` while the sensor is ok, of kind drawn by ``fault_cum``; spike and
    drift magnitudes are uniform on ``[magnitude_lo, magnitude_hi]`` noise sds ``sd`` with a
    random sign; other durations are exponential (``mean_duration``). A fault affects readings
    at times in ``[start, end)``; a spike hits the first reading after its start and ends there.
    Between instants ``k - 1`` and ``k``, fault events come in time order, then the readings at
    ``k`` in sensor order (none during a dropout), then the ends of spikes hit at ``k``.

    Per-sensor state (noise ``x``, running fault ``kind`` or -1, ``next_time`` of its next fault
    event, the fault's start, parameter, id and start ``seq``) and the fault-id ``counter`` are
    updated in place. Returns ``(time, entity, event, value, fault_id, rare_kind, cause)``;
    event 0 reading, 1 fault_start, 2 fault_end; NaN / -1 where an event has no such value.
    """
    n_sensors = level.shape[0]
    cap = (k1 - k0) * n_sensors + 64
    time = np.empty(cap, dtype=np.float64)
    entity = np.empty(cap, dtype=np.int64)
    event = np.empty(cap, dtype=np.int32)
    value = np.empty(cap, dtype=np.float64)
    fid = np.empty(cap, dtype=np.int64)
    rare_kind = np.empty(cap, dtype=np.int32)
    cause = np.empty(cap, dtype=np.int64)
    # Fault events of the current interval, emitted in time order before its readings.
    b_time = np.empty(16, dtype=np.float64)
    b_entity = np.empty(16, dtype=np.int64)
    b_event = np.empty(16, dtype=np.int32)
    b_kind = np.empty(16, dtype=np.int32)
    b_fid = np.empty(16, dtype=np.int64)
    r_value = np.empty(n_sensors, dtype=np.float64)
    r_kind = np.empty(n_sensors, dtype=np.int32)
    r_fid = np.empty(n_sensors, dtype=np.int64)
    n = 0
    last = k1 if tail_until > -np.inf else k1 - 1
    for k in range(k0, last + 1):
        tail = k == k1
        t = tail_until if tail else k * interval
        nb = 0
        for i in range(n_sensors):
            while next_time[i] < t or (not tail and next_time[i] == t):
                if nb == b_time.shape[0]:
                    b_time = grown(b_time, 2 * nb)
                    b_entity = grown(b_entity, 2 * nb)
                    b_event = grown(b_event, 2 * nb)
                    b_kind = grown(b_kind, 2 * nb)
                    b_fid = grown(b_fid, 2 * nb)
                b_time[nb] = next_time[i]
                b_entity[nb] = i
                b_kind[nb] = kind[i]
                b_fid[nb] = fault_id[i]
                b_event[nb] = _sensor_fault_event(
                    i,
                    next_time[i],
                    fault_cum,
                    fault_rate,
                    magnitude_lo,
                    magnitude_hi,
                    mean_duration,
                    sd,
                    kind,
                    next_time,
                    fault_start,
                    fault_param,
                    fault_id,
                    counter,
                    rng,
                )
                if b_event[nb] == 1:
                    b_kind[nb] = kind[i]
                    b_fid[nb] = fault_id[i]
                nb += 1
            if tail:
                continue
            x[i] = phi[i] * x[i] + sigma[i] * rng.normal(0.0, 1.0)
            clean = level[i] + amplitude[i] * np.cos(omega * t + phase[i]) + x[i]
            j = kind[i]
            r_kind[i] = j
            r_fid[i] = fault_id[i] if j >= 0 else -1
            if j == -1:
                r_value[i] = clean
            elif j == 0:
                r_value[i] = clean + fault_param[i]
                kind[i] = -1
                next_time[i] = t + rng.exponential(1.0 / fault_rate)
            elif j == 1:
                r_value[i] = clean + fault_param[i] * (t - fault_start[i])
            elif j == 2:
                if np.isnan(fault_param[i]):
                    fault_param[i] = clean
                r_value[i] = fault_param[i]
        need = n + nb + 2 * n_sensors
        if need > time.shape[0]:
            cap = max(2 * time.shape[0], need)
            time = grown(time, cap)
            entity = grown(entity, cap)
            event = grown(event, cap)
            value = grown(value, cap)
            fid = grown(fid, cap)
            rare_kind = grown(rare_kind, cap)
            cause = grown(cause, cap)
        for b in np.argsort(b_time[:nb], kind="mergesort"):
            i = b_entity[b]
            if b_event[b] == 1:
                fault_seq[i] = seq0 + n
                cause[n] = -1
            else:
                cause[n] = fault_seq[i]
            time[n] = b_time[b]
            entity[n] = i
            event[n] = b_event[b]
            value[n] = np.nan
            fid[n] = b_fid[b]
            rare_kind[n] = b_kind[b]
            n += 1
        if tail:
            break
        for i in range(n_sensors):
            if r_kind[i] == 3:
                continue  # dropout: the sensor reports nothing
            time[n] = t
            entity[n] = i
            event[n] = 0
            value[n] = r_value[i]
            fid[n] = r_fid[i]
            rare_kind[n] = r_kind[i]
            cause[n] = fault_seq[i] if r_kind[i] >= 0 else -1
            n += 1
        for i in range(n_sensors):
            if r_kind[i] == 0:
                time[n] = t
                entity[n] = i
                event[n] = 2
                value[n] = np.nan
                fid[n] = r_fid[i]
                rare_kind[n] = 0
                cause[n] = fault_seq[i]
                n += 1
    return (
        time[:n].copy(),
        entity[:n].copy(),
        event[:n].copy(),
        value[:n].copy(),
        fid[:n].copy(),
        rare_kind[:n].copy(),
        cause[:n].copy(),
    )
