"""Kernel of the ``arrivals`` model: non-homogeneous Poisson events with marks."""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel


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
