"""Numba kernels of the Monte Carlo family.

Pure functions over contiguous arrays and scalars; random numbers come from the caller's
``numpy.random.Generator`` (Numba advances its state), so a kernel and its plain reference in
:mod:`eventforge.simulators.monte_carlo.reference` draw the same numbers in the same order.
Each kernel is called only by the thin typed wrapper in its simulator module.
"""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel

# --- arrivals ------------------------------------------------------------------------------


@kernel
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
    """Events of a non-homogeneous Poisson process whose intensity on piece ``k`` is
    ``c_k * exp(growth * t)``, with ``piece_mean[k]`` its integral over the piece.

    Exact: per piece a Poisson count ``c``, then (if ``c > 0``) the order statistics of ``c``
    i.i.d. uniforms drawn already sorted from ``c + 1`` standard exponentials, mapped through
    the inverse CDF of the piece's normalised intensity (monotone, so they stay sorted). Times
    lie in ``[piece_start[k], piece_end[k])`` and pieces are contiguous and in time order, so
    the output is sorted. Then per event, in time order: the entity (Walker alias table
    ``entity_prob, entity_alias`` of the activity weights, i.e. Poisson splitting; see
    :func:`sampling.alias_table`), the type, its lognormal amount and the channel (cumulative
    arrays ending with exactly 1.0). Returns ``(time, piece, entity, type, channel, amount)``.
    """
    n_pieces = piece_start.shape[0]
    counts = np.empty(n_pieces, dtype=np.int64)
    for k in range(n_pieces):
        counts[k] = rng.poisson(piece_mean[k])
    total = counts.sum()
    time = np.empty(total, dtype=np.float64)
    piece = np.empty(total, dtype=np.int64)
    i = 0
    for k in range(n_pieces):
        c = counts[k]
        if c == 0:
            continue
        a, b = piece_start[k], piece_end[k]
        span = b - a
        # Sorted uniforms without a sort (Renyi's representation; Devroye, Non-Uniform Random
        # Variate Generation, 1986, V.2): with E_1..E_{c+1} standard exponentials and
        # S_j = E_1 + ... + E_j, (S_1, ..., S_c) / S_{c+1} are distributed as the order
        # statistics of c uniforms on (0, 1).
        s = 0.0
        for j in range(i, i + c):
            s += rng.standard_exponential()
            time[j] = s
        s += rng.standard_exponential()
        # Inverse of F(t) = expm1(g (t - a)) / expm1(g span) on [a, b); scale folds in 1 / S_{c+1}.
        scale = (span if growth == 0.0 else np.expm1(growth * span)) / s
        last = np.nextafter(b, -np.inf)
        prev = a
        for j in range(i, i + c):
            v = time[j] * scale
            t = a + (v if growth == 0.0 else np.log1p(v) / growth)
            # Rounding can land a time on b, and log1p is not guaranteed monotone to the last
            # bit: clamp into [a, b) and never step back, so order and bounds hold exactly.
            t = min(max(t, prev), last)
            time[j] = t
            prev = t
        piece[i : i + c] = k
        i += c
    # Entities first, all uniforms then all lookups: the alias table of a large population
    # misses the cache, and only a loop this tight keeps many of those loads in flight.
    n_entities = entity_prob.shape[0]
    entity = np.empty(total, dtype=np.int64)
    etype = np.empty(total, dtype=np.int32)
    channel = np.empty(total, dtype=np.int32)
    amount = np.empty(total, dtype=np.float64)
    for j in range(total):
        amount[j] = rng.random()  # scratch: the entity uniforms, overwritten below
    for j in range(total):
        # Alias draw from one uniform: column int(x), its share of it the fraction x - column;
        # u * n can round up to n, hence the min.
        x = amount[j] * n_entities
        e = min(int(x), n_entities - 1)
        entity[j] = e if x - e < entity_prob[e] else entity_alias[e]
    for j in range(total):
        t = np.searchsorted(type_cum, rng.random(), side="right")
        etype[j] = t
        # NumPy's lognormal spelled out (bit-identical draws): Numba's rng.lognormal is slower.
        amount[j] = np.exp(type_log_median[t] + type_sigma[t] * rng.standard_normal())
        channel[j] = np.searchsorted(channel_cum, rng.random(), side="right")
    return time, piece, entity, etype, channel, amount


# --- hawkes --------------------------------------------------------------------------------


@kernel
def _grown(a: np.ndarray, size: int) -> np.ndarray:
    """A copy of ``a`` with room for ``size`` elements (the first ``len(a)`` kept)."""
    out = np.empty(size, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@kernel
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
    """Whole clusters of the immigrants arriving in ``[t0, t1)``, by the branching
    representation of a Hawkes process with kernel ``n beta exp(-beta t)``.

    Immigrants: a Poisson count at ``total_rate``, sorted uniform times, streams by the
    cumulative baseline weights ``stream_cum``. Each event then has Poisson(``branching``)
    children at Exp(mean ``mean_delay``) delays, breadth first; a child lands on another
    stream with probability ``spread_p`` (a ring neighbour if ``spread_neighbour``, else any
    other stream uniformly). Children at or past ``horizon`` are dropped with their
    descendants, which would be later still. Marks per event: severity, alert type (a child
    keeps its parent's with probability ``inherit_type``), lognormal score.

    Returns ``(time, stream, parent, cluster, generation, severity, alert_type, score)`` in
    generation order; ``parent`` indexes this output (-1 for an immigrant), ``cluster`` is
    the immigrant's rank in ``[t0, t1)``.
    """
    n_streams = stream_cum.shape[0]
    n_imm = rng.poisson(total_rate * (t1 - t0))
    starts = np.empty(n_imm, dtype=np.float64)
    for c in range(n_imm):
        starts[c] = t0 + rng.random() * (t1 - t0)
    starts.sort()
    cap = max(16, 2 * n_imm)
    time = np.empty(cap, dtype=np.float64)
    stream = np.empty(cap, dtype=np.int64)
    parent = np.empty(cap, dtype=np.int64)
    cluster = np.empty(cap, dtype=np.int64)
    generation = np.empty(cap, dtype=np.int32)
    severity = np.empty(cap, dtype=np.int32)
    atype = np.empty(cap, dtype=np.int32)
    score = np.empty(cap, dtype=np.float64)
    m = 0
    for c in range(n_imm):
        q = m  # breadth-first queue: events [q, m) still to get their children
        time[m] = starts[c]
        stream[m] = np.searchsorted(stream_cum, rng.random(), side="right")
        parent[m] = -1
        generation[m] = 0
        cluster[m] = c
        severity[m] = np.searchsorted(severity_cum, rng.random(), side="right")
        atype[m] = np.searchsorted(type_cum, rng.random(), side="right")
        score[m] = rng.lognormal(score_log_median, score_sigma)
        m += 1
        while q < m:
            children = rng.poisson(branching)
            if m + children + 1 > cap:  # room for the children and the next immigrant
                cap = max(2 * cap, m + children + 1)
                time = _grown(time, cap)
                stream = _grown(stream, cap)
                parent = _grown(parent, cap)
                cluster = _grown(cluster, cap)
                generation = _grown(generation, cap)
                severity = _grown(severity, cap)
                atype = _grown(atype, cap)
                score = _grown(score, cap)
            for _ in range(children):
                t = time[q] + rng.exponential(mean_delay)
                if t >= horizon:
                    continue
                s = stream[q]
                if rng.random() < spread_p:
                    if spread_neighbour:
                        s = (s + 1 if rng.random() < 0.5 else s + n_streams - 1) % n_streams
                    else:
                        other = int(rng.random() * (n_streams - 1))
                        s = other + 1 if other >= s else other
                time[m] = t
                stream[m] = s
                parent[m] = q
                cluster[m] = c
                generation[m] = generation[q] + 1
                severity[m] = np.searchsorted(severity_cum, rng.random(), side="right")
                if rng.random() < inherit_type:
                    atype[m] = atype[q]
                else:
                    atype[m] = np.searchsorted(type_cum, rng.random(), side="right")
                score[m] = rng.lognormal(score_log_median, score_sigma)
                m += 1
            q += 1
    return (
        time[:m],
        stream[:m],
        parent[:m],
        cluster[:m],
        generation[:m],
        severity[:m],
        atype[:m],
        score[:m],
    )


# --- prices --------------------------------------------------------------------------------


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
            times = _grown(times, 2 * n)
            regimes = _grown(regimes, 2 * n)
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


# --- sensors -------------------------------------------------------------------------------


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
                    b_time = _grown(b_time, 2 * nb)
                    b_entity = _grown(b_entity, 2 * nb)
                    b_event = _grown(b_event, 2 * nb)
                    b_kind = _grown(b_kind, 2 * nb)
                    b_fid = _grown(b_fid, 2 * nb)
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
            time = _grown(time, cap)
            entity = _grown(entity, cap)
            event = _grown(event, cap)
            value = _grown(value, cap)
            fid = _grown(fid, cap)
            rare_kind = _grown(rare_kind, cap)
            cause = _grown(cause, cap)
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
