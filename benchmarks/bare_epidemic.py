"""The ``epidemic`` rules as one bare Numba kernel: no Mesa, no events, no logging.

The lower bound the fast model is measured against in ``benchmarks/bench_epidemic.py`` (target:
the model within 2x of it): the same rules as ``benchmarks/mesa_epidemic.py`` (interventions and
rare episodes left out), on the same :class:`ContactNetwork` arrays, keeping only what the rules
need per agent (state, next transition time, two decided outcomes) and daily totals.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.mesa_epidemic import EpidemicRules
from eventforge._numba import kernel

if TYPE_CHECKING:
    from eventforge.simulators.agent_based.contacts import ContactNetwork

__all__ = ["FAMILIES", "run_bare", "run_bare_kernel"]

#: Duration family codes of the kernel (``dist_family``); -1 means "never" (no waning).
FAMILIES = {"exponential": 0, "gamma": 1, "lognormal": 2, "fixed": 3}
# The five durations, in the order of the kernel's dist_* arrays.
_LATENT, _INFECTIOUS, _TO_HOSPITAL, _STAY, _WANING = range(5)
_S, _E, _A, _I, _H, _R, _D = range(7)


@kernel
def _duration(family: int, mean: float, cv: float, rng: np.random.Generator) -> float:
    if family == 0:
        return rng.exponential(mean)
    if family == 1:
        k = 1.0 / (cv * cv)
        return rng.gamma(k, mean / k)
    if family == 2:
        s2 = math.log1p(cv * cv)
        return rng.lognormal(math.log(mean) - 0.5 * s2, math.sqrt(s2))
    if family == 3:
        return mean
    return math.inf


@kernel
def _expose(
    j: int,
    day: int,
    state: np.ndarray,
    next_change: np.ndarray,
    dist_family: np.ndarray,
    dist_mean: np.ndarray,
    dist_cv: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Agent ``j`` infected at ``day + U(0, 1)``: exposed until the end of its latent period."""
    state[j] = _E
    next_change[j] = day + rng.random() + _duration(dist_family[0], dist_mean[0], dist_cv[0], rng)


@kernel
def run_bare_kernel(
    indptr: np.ndarray,
    indices: np.ndarray,
    layer: np.ndarray,
    transmission: np.ndarray,
    contacts_per_day: np.ndarray,
    random_ptr: np.ndarray,
    random_members: np.ndarray,
    age: np.ndarray,
    susceptibility: np.ndarray,
    p_asymptomatic: np.ndarray,
    p_hospital: np.ndarray,
    p_death: np.ndarray,
    asymptomatic_infectiousness: float,
    dist_family: np.ndarray,
    dist_mean: np.ndarray,
    dist_cv: np.ndarray,
    initial_infected: int,
    importations_per_day: float,
    days: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Run ``days`` days; returns the compartment counts at the start of each day (``days x
    7``, order S E A I H R D), the exposures of each day and the total admissions."""
    n = age.shape[0]
    n_layers = transmission.shape[0]
    state = np.zeros(n, np.int8)
    next_change = np.full(n, math.inf)
    to_hospital = np.zeros(n, np.bool_)
    dies = np.zeros(n, np.bool_)
    member = np.zeros((n_layers, n), np.bool_)
    for lay in range(n_layers):
        for k in range(random_ptr[lay], random_ptr[lay + 1]):
            member[lay, random_members[k]] = True
    counts = np.zeros((days, 7), np.int64)
    exposures = np.zeros(days, np.int64)
    admissions = 0
    for _ in range(min(initial_infected, n)):
        j = int(rng.integers(0, n))
        while state[j] != _S:  # uniform without replacement
            j = int(rng.integers(0, n))
        state[j] = _E
        next_change[j] = _duration(dist_family[0], dist_mean[0], dist_cv[0], rng)
        exposures[0] += 1
    for day in range(days + 1):
        # Progress: every transition due by the start of the day (the horizon after the last).
        for i in range(n):
            while next_change[i] <= day:
                t = next_change[i]
                s = state[i]
                a = age[i]
                if s == _E:
                    if rng.random() < p_asymptomatic[a]:
                        state[i] = _A
                        nxt = _INFECTIOUS
                    else:
                        state[i] = _I
                        to_hospital[i] = rng.random() < p_hospital[a]
                        nxt = _TO_HOSPITAL if to_hospital[i] else _INFECTIOUS
                elif s == _I and to_hospital[i]:
                    state[i] = _H
                    admissions += 1
                    dies[i] = rng.random() < p_death[a]
                    nxt = _STAY
                elif s == _H and dies[i]:
                    state[i] = _D
                    nxt = -1
                elif s in (_A, _I, _H):
                    state[i] = _R
                    nxt = _WANING
                else:
                    state[i] = _S
                    nxt = -1
                if nxt < 0:
                    next_change[i] = math.inf
                else:
                    next_change[i] = t + _duration(
                        dist_family[nxt], dist_mean[nxt], dist_cv[nxt], rng
                    )
        if day == days:
            break
        for i in range(n):
            counts[day, state[i]] += 1
        # Transmission from the states at the start of the day, infectious agents by id.
        for i in range(n):
            s = state[i]
            if s != _A and s != _I:
                continue
            f = asymptomatic_infectiousness if s == _A else 1.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if (
                    state[j] == _S
                    and rng.random() < transmission[layer[k]] * f * susceptibility[age[j]]
                ):
                    _expose(j, day, state, next_change, dist_family, dist_mean, dist_cv, rng)
                    exposures[day] += 1
            for lay in range(n_layers):
                size = random_ptr[lay + 1] - random_ptr[lay]
                if size < 2 or not member[lay, i]:
                    continue
                for _ in range(rng.poisson(contacts_per_day[lay])):
                    j = i
                    while j == i:
                        j = random_members[random_ptr[lay] + rng.integers(0, size)]
                    if (
                        state[j] == _S
                        and rng.random() < transmission[lay] * f * susceptibility[age[j]]
                    ):
                        _expose(j, day, state, next_change, dist_family, dist_mean, dist_cv, rng)
                        exposures[day] += 1
        # Importations: a few redraws when the pick is not susceptible.
        for _ in range(rng.poisson(importations_per_day)):
            for _ in range(10):
                j = int(rng.integers(0, n))
                if state[j] == _S:
                    _expose(j, day, state, next_change, dist_family, dist_mean, dist_cv, rng)
                    exposures[day] += 1
                    break
    return counts, exposures, admissions


def run_bare(
    network: ContactNetwork,
    age: np.ndarray,
    rules: EpidemicRules,
    days: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`run_bare_kernel` on ``network`` with ``rules``; the one place dtypes are fixed."""
    dists = (
        rules.latent,
        rules.infectious,
        rules.onset_to_hospital,
        rules.hospital_stay,
        rules.waning,
    )
    family = np.array([-1 if d is None else FAMILIES[d.family] for d in dists], np.int64)
    mean = np.array([0.0 if d is None else d.mean for d in dists])
    cv = np.array([0.0 if d is None else d.cv for d in dists])
    return run_bare_kernel(
        network.indptr,
        network.indices,
        network.layer,
        network.transmission,
        network.contacts_per_day,
        network.random_ptr,
        network.random_members,
        np.ascontiguousarray(age, np.int64),
        np.asarray(rules.susceptibility, np.float64),
        np.asarray(rules.p_asymptomatic, np.float64),
        np.asarray(rules.p_hospital, np.float64),
        np.asarray(rules.p_death, np.float64),
        rules.asymptomatic_infectiousness,
        family,
        mean,
        cv,
        rules.initial_infected,
        rules.importations_per_day,
        days,
        rng,
    )
