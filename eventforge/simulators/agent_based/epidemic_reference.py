"""Plain Python references of the epidemic kernels (:mod:`epidemic_kernels`), for the tests.

Each function takes the same arguments as its kernel, updates the same arrays in place and
draws the same random numbers in the same order, so a test can run both on copies of one state
with one seed and require identical results. Written for clarity (Python loops, names over
codes where it helps), not speed: use them on a few thousand agents.
"""

from __future__ import annotations

import math

import numpy as np

from eventforge.simulators.agent_based import epidemic_kernels as K

__all__ = [
    "day_of",
    "draw_duration",
    "due_agents",
    "gatherings",
    "grow",
    "importations",
    "progress",
    "refresh_due_day",
    "resolve_day",
    "run_day",
    "seed",
    "transmit",
    "vaccinate",
]

_INFECTIOUS = (K.ASYM, K.SYMP)


def draw_duration(row: np.ndarray, rng: np.random.Generator) -> float:
    """A duration in days from ``[family code, a, b]``."""
    family, a, b = int(row[0]), float(row[1]), float(row[2])
    if family == 0:
        return a
    if family == 1:
        return float(rng.exponential(a))
    if family == 2:
        return float(rng.gamma(a, b))
    return float(rng.lognormal(a, b))


class _Log:
    """The day's event buffer, written row by row; ``local(k)`` is the same-day reference."""

    def __init__(self, ev_time: np.ndarray, ev: np.ndarray, n: int) -> None:
        self.ev_time, self.ev, self.n = ev_time, ev, n

    @staticmethod
    def local(k: int) -> int:
        return -(k + 2)

    def write(
        self,
        t: float,
        entity: int,
        event: int,
        cause: int = -1,
        rare: int = -1,
        layer: int = -1,
        infector: int = -1,
        state: int = -1,
    ) -> int:
        """Append an event; return its index in the day."""
        k = self.n
        self.ev_time[k] = t
        self.ev[k] = (entity, event, cause, rare, layer, infector, state)
        self.n += 1
        return k


def _move(i: int, to: int, state: np.ndarray, counts: np.ndarray) -> None:
    counts[state[i]] -= 1
    counts[to] += 1
    state[i] = to


def _expose(
    log: _Log,
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
    rng: np.random.Generator,
) -> None:
    _move(j, K.EXPD, state, counts)
    times[j, K.NEXT] = t + draw_duration(dists[K.D_LATENT], rng)
    next_ev[j] = K.BECOME_INFECTIOUS
    k = log.write(t, j, K.EXPOSURE, cause, rare, layer, infector, K.EXPD)
    refs[j, K.R_EXPOSURE] = refs[j, K.R_DISEASE] = log.local(k)


def _susceptibility(
    j: int, age: np.ndarray, vaccinated: np.ndarray, age_par: np.ndarray, efficacy: float
) -> float:
    s = float(age_par[age[j], K.A_SUSC])
    return s * (1.0 - efficacy) if vaccinated[j] else s


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
    """Reference of :func:`epidemic_kernels.seed`."""
    log = _Log(ev_time, ev, n)
    for j in ids.tolist():
        _expose(
            log, j, 0.0, -1, layer_code, -1, -1, state, counts, times, next_ev, refs, dists, rng
        )
    return log.n


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
    """Reference of :func:`epidemic_kernels.transmit`."""
    log = _Log(ev_time, ev, n)
    infectious_at_start = [i for i in range(len(state)) if state[i] in _INFECTIOUS]
    for i in infectious_at_start:
        f = asym_inf if state[i] == K.ASYM else 1.0
        iso = iso_factor if isolated[i] else 1.0
        cause = int(refs[i, K.R_EXPOSURE])

        def contact(j: int, lay: int, p: float, i: int = i, cause: int = cause) -> None:
            if p > 0.0 and rng.random() < p:
                t = day + rng.random()
                _expose(
                    log, j, t, cause, lay, i, -1, state, counts, times, next_ev, refs, dists, rng
                )

        for k in range(indptr[i], indptr[i + 1]):
            j, lay = int(indices[k]), int(layer[k])
            if state[j] == K.SUSC:
                s = _susceptibility(j, age, vaccinated, age_par, efficacy)
                p = trans[lay] * f * mult[lay] * s * (1.0 if household[lay] else iso)
                contact(j, lay, p)
        for r, lay in enumerate(random_layers.tolist()):
            members = random_members[random_ptr[lay] : random_ptr[lay + 1]]
            lam = contacts_per_day[lay] * mult[lay]
            if not random_mask[r, i] or len(members) < 2 or lam <= 0.0:
                continue
            for _ in range(rng.poisson(lam)):
                j = int(members[int(rng.random() * len(members))])
                while j == i:
                    j = int(members[int(rng.random() * len(members))])
                if state[j] == K.SUSC:
                    s = _susceptibility(j, age, vaccinated, age_par, efficacy)
                    contact(j, lay, trans[lay] * f * iso * s)
    return log.n


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
    """Reference of :func:`epidemic_kernels.gatherings`."""
    log = _Log(ev_time, ev, n)
    for _ in range(rng.poisson(rate)):
        size = rng.poisson(mean_size)
        who = [int(rng.random() * len(state)) for _ in range(size)]
        sick = [i for i in who if state[i] in _INFECTIOUS]
        if not sick:
            continue
        for j in who:
            if state[j] != K.SUSC:
                continue
            s = _susceptibility(j, age, vaccinated, age_par, efficacy)
            for i in sick:
                f = asym_inf if state[i] == K.ASYM else 1.0
                if isolated[i]:
                    f *= iso_factor
                p = transmission * f * s
                if p > 0.0 and rng.random() < p:
                    t = day + rng.random()
                    cause = int(refs[i, K.R_EXPOSURE])
                    _expose(
                        log, j, t, cause, layer_code, i, K.RARE_SUPERSPREADING,
                        state, counts, times, next_ev, refs, dists, rng,
                    )  # fmt: skip
                    break
    return log.n


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
    """Reference of :func:`epidemic_kernels.importations`."""
    log = _Log(ev_time, ev, n)
    for _ in range(rng.poisson(rate)):
        for _try in range(10):
            j = int(rng.random() * len(state))
            if state[j] == K.SUSC:
                t = day + rng.random()
                _expose(
                    log,
                    j,
                    t,
                    -1,
                    layer_code,
                    -1,
                    -1,
                    state,
                    counts,
                    times,
                    next_ev,
                    refs,
                    dists,
                    rng,
                )
                break
    return log.n


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
    """Reference of :func:`epidemic_kernels.vaccinate`."""
    log = _Log(ev_time, ev, n)
    given = 0
    while given < doses and ptr < len(order):
        j = int(order[ptr])
        ptr += 1
        if state[j] in (K.SUSC, K.RECD) and not vaccinated[j]:
            vaccinated[j] = True
            log.write(float(day), j, K.VACCINATION, state=int(state[j]))
            given += 1
    return ptr, log.n


def day_of(t: float) -> int:
    """Reference of :func:`epidemic_kernels.day_of`."""
    return K.NEVER if t >= K.NEVER else math.floor(t)


def refresh_due_day(
    ev: np.ndarray, lo: int, hi: int, times: np.ndarray, due_day: np.ndarray
) -> None:
    """Reference of :func:`epidemic_kernels.refresh_due_day`."""
    for e in ev[lo:hi, K.C_ENTITY].tolist():
        if e >= 0:
            due_day[e] = day_of(float(times[e].min()))


def due_agents(day: int, due_day: np.ndarray, out: np.ndarray) -> int:
    """Reference of :func:`epidemic_kernels.due_agents`."""
    due = np.flatnonzero(due_day <= day)
    out[: len(due)] = due
    return len(due)


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
    """Reference of :func:`epidemic_kernels.progress`."""
    log = _Log(ev_time, ev, n)
    waning = dists[K.D_WANING, 0] >= 0.0
    for i in due.tolist():
        a = age[i]
        while True:
            # The earliest clock; on ties the disease clock, then the test, then the result.
            clock = min((K.NEXT, K.T_TEST, K.T_RESULT), key=lambda c: (times[i, c], c))
            t = float(times[i, clock])
            if t >= day + 1.0:
                due_day[i] = day_of(t)
                break
            times[i, clock] = math.inf
            if clock == K.T_TEST:
                k = log.write(t, i, K.TEST, cause=int(refs[i, K.R_ONSET]))
                refs[i, K.R_TEST] = log.local(k)
                if rng.random() < sensitivity:
                    times[i, K.T_RESULT] = t + draw_duration(dists[K.D_RESULT_DELAY], rng)
            elif clock == K.T_RESULT:
                k = log.write(t, i, K.POSITIVE, cause=int(refs[i, K.R_TEST]), state=int(state[i]))
                refs[i, K.R_POSITIVE] = log.local(k)
                if state[i] == K.SYMP:
                    isolated[i] = True
                    log.write(t, i, K.ISOLATION, cause=log.local(k), state=K.SYMP)
            else:
                kind = int(next_ev[i])
                next_ev[i] = K.NONE
                disease_cause = int(refs[i, K.R_DISEASE])
                if kind == K.BECOME_INFECTIOUS:
                    if rng.random() < age_par[a, K.A_P_ASYM]:
                        _move(i, K.ASYM, state, counts)
                        times[i, K.NEXT] = t + draw_duration(dists[K.D_INFECTIOUS], rng)
                        next_ev[i] = K.RECOVER
                        continue
                    _move(i, K.SYMP, state, counts)
                    k = log.write(t, i, K.ONSET, cause=disease_cause, state=K.SYMP)
                    refs[i, K.R_DISEASE] = refs[i, K.R_ONSET] = log.local(k)
                    hospital = rng.random() < age_par[a, K.A_P_HOSP]
                    row = K.D_ONSET_HOSP if hospital else K.D_INFECTIOUS
                    times[i, K.NEXT] = t + draw_duration(dists[row], rng)
                    next_ev[i] = K.HOSPITALISE if hospital else K.RECOVER
                    if p_test > 0.0 and rng.random() < p_test:
                        times[i, K.T_TEST] = t + draw_duration(dists[K.D_TEST_DELAY], rng)
                elif kind == K.HOSPITALISE:
                    _move(i, K.HOSP, state, counts)
                    isolated[i] = False
                    over = 0 <= beds < counts[K.HOSP]
                    rare = K.RARE_OVERFLOW if over else -1
                    k = log.write(t, i, K.HOSPITALISATION, disease_cause, rare, state=K.HOSP)
                    refs[i, K.R_DISEASE] = log.local(k)
                    times[i, K.NEXT] = t + draw_duration(dists[K.D_STAY], rng)
                    p_death = age_par[a, K.A_P_DEATH] * (overflow_mult if over else 1.0)
                    next_ev[i] = K.DIE if rng.random() < p_death else K.RECOVER
                elif kind == K.RECOVER:
                    _move(i, K.RECD, state, counts)
                    isolated[i] = False
                    k = log.write(t, i, K.RECOVERY, cause=disease_cause, state=K.RECD)
                    refs[i, K.R_DISEASE] = log.local(k)
                    if waning:
                        times[i, K.NEXT] = t + draw_duration(dists[K.D_WANING], rng)
                        next_ev[i] = K.WANE
                elif kind == K.DIE:
                    _move(i, K.DEAD, state, counts)
                    k = log.write(t, i, K.DEATH, cause=disease_cause, state=K.DEAD)
                    refs[i, K.R_DISEASE] = log.local(k)
                    times[i, K.T_TEST] = times[i, K.T_RESULT] = math.inf
                elif kind == K.WANE:
                    _move(i, K.SUSC, state, counts)
    return log.n


def resolve_day(
    order: np.ndarray, base: int, ev: np.ndarray, refs: np.ndarray, seq: np.ndarray
) -> None:
    """Reference of :func:`epidemic_kernels.resolve_day`."""
    n = len(order)
    seq[order] = base + np.arange(n)
    local = ev[:n, K.C_CAUSE] <= -2
    ev[:n, K.C_CAUSE][local] = seq[-(ev[:n, K.C_CAUSE][local] + 2)]
    for k in range(n):
        e = int(ev[k, K.C_ENTITY])
        if e >= 0:
            refs[e][refs[e] == -(k + 2)] = seq[k]


def grow(ev_time: np.ndarray, ev: np.ndarray, n: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference of :func:`epidemic_kernels.grow`."""
    if need <= len(ev_time):
        return ev_time, ev
    cap = max(need, 2 * len(ev_time), 1024)
    new_time, new_ev = np.empty(cap), np.empty((cap, K.N_COLS), dtype=np.int64)
    new_time[:n], new_ev[:n] = ev_time[:n], ev[:n]
    return new_time, new_ev


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
    """Reference of :func:`epidemic_kernels.run_day`."""
    gathering, imported, seeded = len(trans), len(trans) + 1, len(trans) + 2
    ev_time, ev = grow(ev_time, ev, n, n + doses)
    vaccine_ptr, n = vaccinate(
        day, vaccine_order, vaccine_ptr, doses, state, vaccinated, ev_time, ev, n
    )
    ev_time, ev = grow(ev_time, ev, n, n + int(counts[K.SUSC]))
    exposed_from = n
    if day == 0:
        n = seed(seeds, seeded, state, counts, times, next_ev, refs, dists, ev_time, ev, n, rng)
    n = transmit(
        day, state, counts, age, vaccinated, isolated, indptr, indices, layer, trans, mult,
        household, random_layers, random_ptr, random_members, random_mask, contacts_per_day,
        age_par, asym_inf, efficacy, iso_factor, times, next_ev, refs, dists, ev_time, ev, n, rng,
    )  # fmt: skip
    if gather_rate >= 0.0:
        n = gatherings(
            day, gather_rate, gather_size, gather_trans, gathering, state, counts, age,
            vaccinated, isolated, age_par, asym_inf, efficacy, iso_factor, times, next_ev, refs,
            dists, ev_time, ev, n, rng,
        )  # fmt: skip
    if import_rate > 0.0:
        n = importations(
            day, import_rate, imported, state, counts, times, next_ev, refs, dists, ev_time, ev,
            n, rng,
        )  # fmt: skip
    refresh_due_day(ev, exposed_from, n, times, due_day)
    m = due_agents(day, due_day, due)
    ev_time, ev = grow(ev_time, ev, n, n + K.MAX_EVENTS_PER_DUE_AGENT * m)
    n = progress(
        day, due[:m], state, counts, age, isolated, times, due_day, next_ev, refs, age_par, dists,
        p_test, sensitivity, beds, overflow_mult, ev_time, ev, n, rng,
    )  # fmt: skip
    order = np.argsort(ev_time[:n], kind="stable")
    resolve_day(order, first_seq, ev, refs, np.empty(n, dtype=np.int64))
    return vaccine_ptr, ev_time, ev, ev_time[order], ev[order]
