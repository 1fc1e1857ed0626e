"""The epidemic's per-day hot loops, as Numba kernels over the arrays the model owns.

Conventions shared with :mod:`epidemic_reference` (which draws the same numbers in the same order):

- Agent state ``state[i]`` is a code of :data:`STATES`; ``times[i]`` holds three pending
  clocks in days (``NEXT``: the next disease transition, of kind ``next_ev[i]``; ``T_TEST``;
  ``T_RESULT``; ``inf`` = none) and ``due_day[i]`` the day of the earliest (:func:`day_of`),
  kept in step with every change of ``times`` so that finding the agents due in a day reads N
  int32 (0.4 MB at 100k agents), not N x 3 float64 (2.4 MB: ~260 us of a ~2 ms day, measured);
  ``refs[i]`` the ``seq`` of the agent's latest events by role (``R_EXPOSURE``, ``R_DISEASE``:
  latest disease event, ``R_ONSET``, ``R_TEST``, ``R_POSITIVE``; -1 none).
- A day's events go to ``ev_time[k]`` and the int64 rows ``ev[k]`` (columns ``C_*``). A cause or
  ref to an event of the same day, whose ``seq`` is not known until the day is sorted, is the
  local reference ``-(k + 2)``; :func:`resolve_day` turns them into ``seq`` numbers.
- The buffers are sized by bounds (exposures <= susceptible agents at the start of the day;
  progression: :data:`MAX_EVENTS_PER_DUE_AGENT` per due agent) before each pass, so the passes
  never check capacity; :func:`run_day` runs a whole day that way.
- ``counts[s]``, agents in state ``s``, follows every change of ``state``.
"""

from __future__ import annotations

import numpy as np

from eventforge._numba import inline, kernel

# State codes S, E, A, I, H, R, D (the order of the log's ``state`` dictionary).
STATES = ("S", "E", "A", "I", "H", "R", "D")
SUSC, EXPD, ASYM, SYMP, HOSP, RECD, DEAD = range(7)
# Event codes: the vocabulary order of the simulator's EventSpec.
EXPOSURE, ONSET, TEST, POSITIVE, ISOLATION, HOSPITALISATION, RECOVERY, DEATH, VACCINATION = range(9)
# Pending disease transitions (next_ev).
NONE, BECOME_INFECTIOUS, HOSPITALISE, RECOVER, DIE, WANE = range(6)
# Columns of times[N, 3] and refs[N, 5].
NEXT, T_TEST, T_RESULT = range(3)
R_EXPOSURE, R_DISEASE, R_ONSET, R_TEST, R_POSITIVE = range(5)
# Columns of the int64 event rows.
C_ENTITY, C_EVENT, C_CAUSE, C_RARE, C_LAYER, C_INFECTOR, C_STATE = range(7)
N_COLS = 7
# Rows of the dists table [7, 3] (see epidemic_params.dist_row; code -1: absent).
D_LATENT, D_INFECTIOUS, D_ONSET_HOSP, D_STAY, D_WANING, D_TEST_DELAY, D_RESULT_DELAY = range(7)
# Columns of the per-age table [G, 4].
A_SUSC, A_P_ASYM, A_P_HOSP, A_P_DEATH = range(4)
# Rare kinds (the simulator's rare_kinds order).
RARE_SUPERSPREADING, RARE_OVERFLOW = 0, 1
#: Most events an agent can have in one day's progression pass: 3 disease events (onset,
#: hospitalisation, recovery or death: exposures happen only in the transmission pass, so one
#: infection at most progresses in a day), 2 tests (the test clock is set only at onset: one
#: pending from an earlier day, one set today), 3 positives (the result clock is set only by a
#: test: one pending, two set today) and an isolation per positive. The kernels write without
#: bounds checks, so the buffer is sized by this bound.
MAX_EVENTS_PER_DUE_AGENT = 11
#: ``due_day`` of an agent with no clock.
NEVER = 2**31 - 1


@inline
def day_of(t: float) -> int:
    """The day of clock ``t`` >= 0 (``floor``; :data:`NEVER` for ``inf`` and beyond): ``t`` falls
    before ``day + 1`` exactly when ``day_of(t) <= day``."""
    if t >= NEVER:
        return NEVER
    return int(t)


@inline
def draw_duration(row: np.ndarray, rng: np.random.Generator) -> float:
    """One duration in days from a ``[code, a, b]`` row: fixed, exponential, gamma, lognormal."""
    code = row[0]
    if code == 0.0:
        return row[1]
    if code == 1.0:
        return rng.exponential(row[1])
    if code == 2.0:
        return rng.gamma(row[1], row[2])
    return rng.lognormal(row[1], row[2])


@inline
def _emit(
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    t: float,
    entity: int,
    event: int,
    cause: int,
    rare: int,
    layer: int,
    infector: int,
    st: int,
) -> int:
    """Write event ``n``; return ``n + 1``."""
    ev_time[n] = t
    ev[n, C_ENTITY] = entity
    ev[n, C_EVENT] = event
    ev[n, C_CAUSE] = cause
    ev[n, C_RARE] = rare
    ev[n, C_LAYER] = layer
    ev[n, C_INFECTOR] = infector
    ev[n, C_STATE] = st
    return n + 1


@inline
def _move(i: int, to: int, state: np.ndarray, counts: np.ndarray) -> None:
    """Agent ``i`` enters state ``to``, ``counts`` (agents per state) kept in step: the model
    reads its compartments from them instead of counting all N agents every day."""
    counts[state[i]] -= 1
    counts[to] += 1
    state[i] = to


@inline
def _expose(
    j: int,
    t: float,
    cause: int,
    layer: int,
    infector: int,
    rare: int,
    state: np.ndarray,
    counts: np.ndarray,
    times: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """Agent ``j`` (susceptible) exposed at ``t``: latent clock set, exposure event written."""
    _move(j, EXPD, state, counts)
    times[j, NEXT] = t + draw_duration(dists[D_LATENT], rng)
    next_ev[j] = BECOME_INFECTIOUS
    refs[j, R_EXPOSURE] = -(n + 2)
    refs[j, R_DISEASE] = -(n + 2)
    return _emit(ev_time, ev, n, t, j, EXPOSURE, cause, rare, layer, infector, EXPD)


@inline
def pick(m: int, rng: np.random.Generator) -> int:
    """A uniform index in ``[0, m)``: ``floor(U * m)``. Numba's ``rng.integers`` takes ~60 ns a
    draw against ~8 ns for ``rng.random()``, and random-mixing contacts draw one per contact;
    the bias of the float product is below ``m / 2**53``, nil for any population."""
    return int(rng.random() * m)


@inline
def poisson(lam: float, exp_neg_lam: float, rng: np.random.Generator) -> int:
    """``rng.poisson(lam)`` (``lam`` > 0), the same draw from the same uniforms, with ``exp(-lam)``
    computed once by the caller: below 10 NumPy (and Numba) draw by the multiplication method
    (uniforms multiplied until the product falls to ``exp(-lam)``) and compute the ``exp`` at
    every draw. A random-mixing layer draws one per infectious member a day with one ``lam``:
    computing it once per layer and day took ~8% off a peak day's transmission at 100k agents."""
    if lam >= 10.0:
        return rng.poisson(lam)
    x = 0
    prod = rng.random()
    while prod > exp_neg_lam:
        x += 1
        prod *= rng.random()
    return x


@inline
def _susceptibility(
    j: int, age: np.ndarray, vaccinated: np.ndarray, age_par: np.ndarray, efficacy: float
) -> float:
    """``s_j``: the age group's susceptibility, times ``1 - efficacy`` once vaccinated."""
    s = age_par[age[j], A_SUSC]
    if vaccinated[j]:
        s *= 1.0 - efficacy
    return s


@kernel
def seed(
    ids: np.ndarray,
    layer_code: int,
    state: np.ndarray,
    counts: np.ndarray,
    times: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """Expose ``ids`` at t = 0 with no cause (the initial infections)."""
    for j in ids:
        n = _expose(
            j, 0.0, -1, layer_code, -1, -1, state, counts,
            times, next_ev, refs, dists, ev_time, ev, n, rng,
        )  # fmt: skip
    return n


@kernel
def transmit(
    day: int,
    state: np.ndarray,
    counts: np.ndarray,
    age: np.ndarray,
    vaccinated: np.ndarray,
    isolated: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    layer: np.ndarray,
    trans: np.ndarray,
    mult: np.ndarray,
    household: np.ndarray,
    random_layers: np.ndarray,
    random_ptr: np.ndarray,
    random_members: np.ndarray,
    random_mask: np.ndarray,
    contacts_per_day: np.ndarray,
    age_par: np.ndarray,
    asym_inf: float,
    efficacy: float,
    iso_factor: float,
    times: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """One day's transmission over the static CSR and the random layers, from the state at the
    start of day ``day``: infectious agents in ascending id; the first infector of a contact
    wins (it is no longer susceptible). A random layer's multiplier scales its Poisson number of
    contacts, a static layer's its probability, so each multiplies transmission once. A random
    layer of all N agents has members ``0..N-1`` (the network keeps them ascending), so its
    contact is the drawn index itself: the lookup, a cache miss at 100k agents, measured ~10% of
    a peak day's transmission."""
    n_agents = state.shape[0]
    n_random = random_layers.shape[0]
    lams, exp_neg_lams = np.empty(n_random), np.empty(n_random)
    for r in range(n_random):
        lay = random_layers[r]
        lams[r] = contacts_per_day[lay] * mult[lay]
        exp_neg_lams[r] = np.exp(-lams[r])
    for i in range(n_agents):
        si = state[i]
        if si != ASYM and si != SYMP:
            continue
        f = asym_inf if si == ASYM else 1.0
        iso = iso_factor if isolated[i] else 1.0
        cause = refs[i, R_EXPOSURE]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if state[j] != SUSC:
                continue
            lay = layer[k]
            p = trans[lay] * f * mult[lay] * _susceptibility(j, age, vaccinated, age_par, efficacy)
            if not household[lay]:
                p *= iso
            if p <= 0.0:
                continue
            if rng.random() < p:
                t = day + rng.random()
                n = _expose(
                    j, t, cause, lay, i, -1, state, counts,
                    times, next_ev, refs, dists, ev_time, ev, n, rng,
                )  # fmt: skip
        for r in range(n_random):
            if not random_mask[r, i]:
                continue
            lay = random_layers[r]
            lo = random_ptr[lay]
            m = random_ptr[lay + 1] - lo
            if m < 2 or lams[r] <= 0.0:
                continue
            whole = m == n_agents
            for _ in range(poisson(lams[r], exp_neg_lams[r], rng)):
                j = pick(m, rng) if whole else random_members[lo + pick(m, rng)]
                while j == i:
                    j = pick(m, rng) if whole else random_members[lo + pick(m, rng)]
                if state[j] != SUSC:
                    continue
                p = trans[lay] * f * iso * _susceptibility(j, age, vaccinated, age_par, efficacy)
                if p <= 0.0:
                    continue
                if rng.random() < p:
                    t = day + rng.random()
                    n = _expose(
                        j, t, cause, lay, i, -1, state, counts,
                        times, next_ev, refs, dists, ev_time, ev, n, rng,
                    )  # fmt: skip
    return n


@kernel
def gatherings(
    day: int,
    rate: float,
    mean_size: float,
    transmission: float,
    layer_code: int,
    state: np.ndarray,
    counts: np.ndarray,
    age: np.ndarray,
    vaccinated: np.ndarray,
    isolated: np.ndarray,
    age_par: np.ndarray,
    asym_inf: float,
    efficacy: float,
    iso_factor: float,
    times: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """Poisson(``rate``) superspreading gatherings of Poisson(``mean_size``) attendees drawn
    uniformly over all agents (with replacement; those neither susceptible nor infectious take
    no part); each susceptible attendee, in attendance order, meets the infectious attendees (as
    at the start of the day) in attendance order until one infects it."""
    n_agents = state.shape[0]
    for _ in range(rng.poisson(rate)):
        size = rng.poisson(mean_size)
        who = np.empty(size, dtype=np.int64)
        for a in range(size):
            who[a] = pick(n_agents, rng)
        sick = np.empty(size, dtype=np.int64)
        n_sick = 0
        for a in range(size):
            if state[who[a]] == ASYM or state[who[a]] == SYMP:
                sick[n_sick] = who[a]
                n_sick += 1
        if n_sick == 0:
            continue
        for a in range(size):
            j = who[a]
            if state[j] != SUSC:
                continue
            s = _susceptibility(j, age, vaccinated, age_par, efficacy)
            for b in range(n_sick):
                i = sick[b]
                f = asym_inf if state[i] == ASYM else 1.0
                if isolated[i]:
                    f *= iso_factor
                p = transmission * f * s
                if p <= 0.0:
                    continue
                if rng.random() < p:
                    t = day + rng.random()
                    n = _expose(
                        j, t, refs[i, R_EXPOSURE], layer_code, i, RARE_SUPERSPREADING, state,
                        counts, times, next_ev, refs, dists, ev_time, ev, n, rng,
                    )  # fmt: skip
                    break
    return n


@kernel
def importations(
    day: int,
    rate: float,
    layer_code: int,
    state: np.ndarray,
    counts: np.ndarray,
    times: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """Poisson(``rate``) imported exposures of uniformly chosen susceptible agents (up to 10
    draws each to find one; skipped if none is found)."""
    n_agents = state.shape[0]
    for _ in range(rng.poisson(rate)):
        for _try in range(10):
            j = pick(n_agents, rng)
            if state[j] == SUSC:
                t = day + rng.random()
                n = _expose(
                    j, t, -1, layer_code, -1, -1, state, counts,
                    times, next_ev, refs, dists, ev_time, ev, n, rng,
                )  # fmt: skip
                break
    return n


@kernel
def vaccinate(
    day: int,
    order: np.ndarray,
    ptr: int,
    doses: int,
    state: np.ndarray,
    vaccinated: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
) -> tuple[int, int]:
    """Give up to ``doses`` doses at time ``day`` walking the priority ``order`` from ``ptr``: a
    dose goes to an alive, unvaccinated agent not infected now (S or R); an agent infected or
    dead when its turn comes is passed over for good. Returns ``(ptr, n)``."""
    given = 0
    while given < doses and ptr < order.shape[0]:
        j = order[ptr]
        ptr += 1
        if (state[j] == SUSC or state[j] == RECD) and not vaccinated[j]:
            vaccinated[j] = True
            n = _emit(ev_time, ev, n, float(day), j, VACCINATION, -1, -1, -1, -1, state[j])
            given += 1
    return ptr, n


@kernel
def refresh_due_day(
    ev: np.ndarray, lo: int, hi: int, times: np.ndarray, due_day: np.ndarray
) -> None:
    """``due_day`` of the agents of events ``lo..hi``: the exposure passes set clocks only of
    the agents they write events for, so this keeps ``due_day`` in step without threading it
    through them."""
    for k in range(lo, hi):
        e = ev[k, C_ENTITY]
        if e >= 0:
            due_day[e] = day_of(min(times[e, NEXT], times[e, T_TEST], times[e, T_RESULT]))


@kernel
def due_agents(day: int, due_day: np.ndarray, out: np.ndarray) -> int:
    """Write into ``out`` the agents with a clock before ``day + 1`` (ascending); return how
    many."""
    m = 0
    for i in range(due_day.shape[0]):
        if due_day[i] <= day:
            out[m] = i
            m += 1
    return m


@kernel
def progress(
    day: int,
    due: np.ndarray,
    state: np.ndarray,
    counts: np.ndarray,
    age: np.ndarray,
    isolated: np.ndarray,
    times: np.ndarray,
    due_day: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    age_par: np.ndarray,
    dists: np.ndarray,
    p_test: float,
    sensitivity: float,
    beds: int,
    overflow_mult: float,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> int:
    """Every clock of the ``due`` agents that falls before ``day + 1``, each agent's in time
    order (disease, then test, then result on ties). Hospital occupancy (``counts[HOSP]``)
    follows admissions and discharges in this pass's order (agent id order: within a day, an
    approximation of the continuous-time occupancy); an admission taking it above ``beds``
    (>= 0) is an overflow. ``p_test`` 0 disables testing (no draw). Only the due agents' clocks
    change: their ``due_day`` is refreshed here."""
    limit = day + 1.0
    waning = dists[D_WANING, 0] >= 0.0
    for i in due:
        a = age[i]
        while True:
            t = times[i, NEXT]
            clock = NEXT
            if times[i, T_TEST] < t:
                t = times[i, T_TEST]
                clock = T_TEST
            if times[i, T_RESULT] < t:
                t = times[i, T_RESULT]
                clock = T_RESULT
            if t >= limit:
                due_day[i] = day_of(t)
                break
            if clock == T_TEST:
                times[i, T_TEST] = np.inf
                n = _emit(ev_time, ev, n, t, i, TEST, refs[i, R_ONSET], -1, -1, -1, -1)
                refs[i, R_TEST] = -(n + 1)
                if rng.random() < sensitivity:
                    times[i, T_RESULT] = t + draw_duration(dists[D_RESULT_DELAY], rng)
                continue
            if clock == T_RESULT:
                times[i, T_RESULT] = np.inf
                n = _emit(ev_time, ev, n, t, i, POSITIVE, refs[i, R_TEST], -1, -1, -1, state[i])
                refs[i, R_POSITIVE] = -(n + 1)
                if state[i] == SYMP:
                    isolated[i] = True
                    n = _emit(ev_time, ev, n, t, i, ISOLATION, -(n + 1), -1, -1, -1, SYMP)
                continue
            kind = next_ev[i]
            times[i, NEXT] = np.inf
            next_ev[i] = NONE
            if kind == BECOME_INFECTIOUS:
                if rng.random() < age_par[a, A_P_ASYM]:
                    _move(i, ASYM, state, counts)
                    times[i, NEXT] = t + draw_duration(dists[D_INFECTIOUS], rng)
                    next_ev[i] = RECOVER
                    continue
                _move(i, SYMP, state, counts)
                n = _emit(ev_time, ev, n, t, i, ONSET, refs[i, R_DISEASE], -1, -1, -1, SYMP)
                refs[i, R_DISEASE] = -(n + 1)
                refs[i, R_ONSET] = -(n + 1)
                if rng.random() < age_par[a, A_P_HOSP]:
                    times[i, NEXT] = t + draw_duration(dists[D_ONSET_HOSP], rng)
                    next_ev[i] = HOSPITALISE
                else:
                    times[i, NEXT] = t + draw_duration(dists[D_INFECTIOUS], rng)
                    next_ev[i] = RECOVER
                if p_test > 0.0 and rng.random() < p_test:
                    times[i, T_TEST] = t + draw_duration(dists[D_TEST_DELAY], rng)
            elif kind == HOSPITALISE:
                _move(i, HOSP, state, counts)
                over = beds >= 0 and counts[HOSP] > beds
                isolated[i] = False
                rare = RARE_OVERFLOW if over else -1
                n = _emit(
                    ev_time, ev, n, t, i, HOSPITALISATION, refs[i, R_DISEASE], rare, -1, -1, HOSP
                )
                refs[i, R_DISEASE] = -(n + 1)
                times[i, NEXT] = t + draw_duration(dists[D_STAY], rng)
                p_death = age_par[a, A_P_DEATH] * (overflow_mult if over else 1.0)
                next_ev[i] = DIE if rng.random() < p_death else RECOVER
            elif kind == RECOVER:
                _move(i, RECD, state, counts)
                isolated[i] = False
                n = _emit(ev_time, ev, n, t, i, RECOVERY, refs[i, R_DISEASE], -1, -1, -1, RECD)
                refs[i, R_DISEASE] = -(n + 1)
                if waning:
                    times[i, NEXT] = t + draw_duration(dists[D_WANING], rng)
                    next_ev[i] = WANE
            elif kind == DIE:
                _move(i, DEAD, state, counts)
                n = _emit(ev_time, ev, n, t, i, DEATH, refs[i, R_DISEASE], -1, -1, -1, DEAD)
                refs[i, R_DISEASE] = -(n + 1)
                times[i, T_TEST] = np.inf
                times[i, T_RESULT] = np.inf
            elif kind == WANE:
                _move(i, SUSC, state, counts)
    return n


@kernel
def resolve_day(
    order: np.ndarray, base: int, ev: np.ndarray, refs: np.ndarray, seq: np.ndarray
) -> None:
    """Give the day's events (``ev[:len(order)]``, generation order) their ``seq``: event
    ``order[r]`` is the day's ``r``-th in time, ``seq = base + r``. Rewrites local causes and
    the agents' local refs to ``seq`` numbers, in place."""
    n = order.shape[0]
    for r in range(n):
        seq[order[r]] = base + r
    for k in range(n):
        c = ev[k, C_CAUSE]
        if c <= -2:
            ev[k, C_CAUSE] = seq[-(c + 2)]
        e = ev[k, C_ENTITY]
        if e >= 0:
            for role in range(refs.shape[1]):
                if refs[e, role] == -(k + 2):
                    refs[e, role] = seq[k]


@kernel
def grow(ev_time: np.ndarray, ev: np.ndarray, n: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """The day's buffers with room for ``need`` events, the first ``n`` kept: the same arrays
    when they have it, else copies at least twice as long (amortised O(1) an event)."""
    if need <= ev_time.shape[0]:
        return ev_time, ev
    cap = max(need, 2 * ev_time.shape[0], 1024)
    new_time, new_ev = np.empty(cap), np.empty((cap, N_COLS), dtype=np.int64)
    new_time[:n] = ev_time[:n]
    new_ev[:n] = ev[:n]
    return new_time, new_ev


@kernel
def run_day(
    day: int,
    vaccine_order: np.ndarray,
    vaccine_ptr: int,
    doses: int,
    seeds: np.ndarray,
    gather_rate: float,
    gather_size: float,
    gather_trans: float,
    import_rate: float,
    state: np.ndarray,
    counts: np.ndarray,
    age: np.ndarray,
    vaccinated: np.ndarray,
    isolated: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    layer: np.ndarray,
    trans: np.ndarray,
    mult: np.ndarray,
    household: np.ndarray,
    random_layers: np.ndarray,
    random_ptr: np.ndarray,
    random_members: np.ndarray,
    random_mask: np.ndarray,
    contacts_per_day: np.ndarray,
    age_par: np.ndarray,
    asym_inf: float,
    efficacy: float,
    iso_factor: float,
    p_test: float,
    sensitivity: float,
    beds: int,
    overflow_mult: float,
    times: np.ndarray,
    due_day: np.ndarray,
    next_ev: np.ndarray,
    refs: np.ndarray,
    dists: np.ndarray,
    due: np.ndarray,
    ev_time: np.ndarray,
    ev: np.ndarray,
    n: int,
    first_seq: int,
    rng: np.random.Generator,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Day ``day`` after its system events (``ev[:n]``), in one call so that the day pays one
    dispatch (a Generator argument alone costs ~30 us to unbox): ``doses`` vaccinations, the
    seeds (day 0), transmission, gatherings (``gather_rate`` < 0: none), importations
    (``import_rate`` 0: none), then every clock due before the next day; then the day's events
    sorted by time (stable: a cause written before its same-time effect stays before it) with
    causes and refs resolved to ``seq`` from ``first_seq``. The buffers grow here by the bounds
    above. Returns ``(vaccine_ptr, ev_time, ev, time, rows)``: the buffers
    (to keep for the next day) and the sorted events."""
    n_static = trans.shape[0]  # layer codes: static and random layers, then these three
    ev_time, ev = grow(ev_time, ev, n, n + doses)
    vaccine_ptr, n = vaccinate(
        day, vaccine_order, vaccine_ptr, doses, state, vaccinated, ev_time, ev, n
    )
    # Exposures in a day are at most the agents susceptible at its start.
    ev_time, ev = grow(ev_time, ev, n, n + counts[SUSC])
    exposed_from = n
    if day == 0:
        n = seed(
            seeds, n_static + 2, state, counts, times, next_ev, refs, dists, ev_time, ev, n, rng
        )
    n = transmit(
        day, state, counts, age, vaccinated, isolated, indptr, indices, layer, trans, mult,
        household, random_layers, random_ptr, random_members, random_mask, contacts_per_day,
        age_par, asym_inf, efficacy, iso_factor, times, next_ev, refs, dists, ev_time, ev, n, rng,
    )  # fmt: skip
    if gather_rate >= 0.0:
        n = gatherings(
            day, gather_rate, gather_size, gather_trans, n_static, state, counts, age,
            vaccinated, isolated, age_par, asym_inf, efficacy, iso_factor, times, next_ev, refs,
            dists, ev_time, ev, n, rng,
        )  # fmt: skip
    if import_rate > 0.0:
        n = importations(
            day, import_rate, n_static + 1, state, counts, times, next_ev, refs, dists,
            ev_time, ev, n, rng,
        )  # fmt: skip
    refresh_due_day(ev, exposed_from, n, times, due_day)
    m = due_agents(day, due_day, due)
    ev_time, ev = grow(ev_time, ev, n, n + MAX_EVENTS_PER_DUE_AGENT * m)
    n = progress(
        day, due[:m], state, counts, age, isolated, times, due_day, next_ev, refs, age_par, dists,
        p_test, sensitivity, beds, overflow_mult, ev_time, ev, n, rng,
    )  # fmt: skip
    order = np.argsort(ev_time[:n], kind="mergesort")
    resolve_day(order, first_seq, ev, refs, np.empty(n, dtype=np.int64))
    out_time, rows = np.empty(n), np.empty((n, N_COLS), dtype=np.int64)
    for r in range(n):
        out_time[r] = ev_time[order[r]]
        rows[r] = ev[order[r]]
    return vaccine_ptr, ev_time, ev, out_time, rows
