"""Kernel of the ``hawkes`` model: whole clusters by the branching representation."""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel
from eventforge.simulators.monte_carlo.kernels._arrays import grown


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
                time = grown(time, cap)
                stream = grown(stream, cap)
                parent = grown(parent, cap)
                cluster = grown(cluster, cap)
                generation = grown(generation, cap)
                severity = grown(severity, cap)
                atype = grown(atype, cap)
                score = grown(score, cap)
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
