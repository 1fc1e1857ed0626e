"""The epidemic as a Mesa model: the model owns the arrays, the agents are views of them.

:class:`EpidemicModel` holds every agent's state in NumPy arrays (state codes, clocks in days,
age codes, vaccinated and isolated flags, the ``seq`` of each agent's latest events by role) and
the contact CSR; each :class:`Person` is a real ``mesa.Agent`` whose properties read and write
its row, so scripts can inspect agents the Mesa way (``model.agents.select(...)``) while
:meth:`EpidemicModel.step` runs one day as one call of the Numba kernel
:func:`epidemic_kernels.run_day` over the arrays (one call: each call of a kernel pays Numba's
dispatch, ~30 us for the Generator argument alone, which at 10k agents was most of a day).

Random numbers: everything comes from the one Generator passed in, in this order: Mesa's
constructor draws one integer (it seeds the model's stdlib ``random`` from a Generator that
way), then the population, the contact layers, the vaccination order (if any), the initial
infected, then each day's passes in the order of :func:`epidemic_kernels.run_day`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import mesa
import numpy as np

from eventforge.simulators.agent_based import epidemic_kernels as K
from eventforge.simulators.agent_based.contacts import build_contacts, build_population
from eventforge.simulators.agent_based.epidemic_params import (
    EpidemicParams,
    EpidemicRareEvents,
    dist_row,
)

__all__ = ["DayEvents", "EpidemicModel", "Person"]

# Codes of epidemic.SYSTEM_EVENTS, after the nine agent events in the vocabulary.
_LOCKDOWN_START, _LOCKDOWN_END, _SCHOOL_START, _SCHOOL_END = range(9, 13)


@dataclass(frozen=True)
class DayEvents:
    """One day's events sorted by time (stable), ``seq`` = ``first_seq + row``.

    ``time`` is in days; ``cause`` a ``seq`` or -1; ``rare`` a rare-kind code or -1; ``layer`` an
    index into the model's ``layer_labels`` or -1; ``infector`` an agent or -1; ``state`` a code
    of ``STATES`` or -1 (tests and system events)."""

    first_seq: int
    time: np.ndarray
    entity: np.ndarray
    event: np.ndarray
    cause: np.ndarray
    rare: np.ndarray
    layer: np.ndarray
    infector: np.ndarray
    state: np.ndarray

    def __len__(self) -> int:
        return int(self.time.shape[0])


class Person(mesa.Agent):
    """One agent: a view of row :attr:`index` of its model's arrays (no state of its own)."""

    model: EpidemicModel

    @property
    def index(self) -> int:
        """The agent's row in the model's arrays (Mesa's ``unique_id`` counts from 1)."""
        return int(self.unique_id) - 1

    @property
    def state(self) -> str:
        """Compartment: S, E, A, I, H, R or D."""
        return K.STATES[self.model.state[self.index]]

    @property
    def age_group(self) -> str:
        """Name of the agent's age group."""
        return self.model.age_groups[self.model.age[self.index]]

    @property
    def vaccinated(self) -> bool:
        """Whether the agent had its dose."""
        return bool(self.model.vaccinated[self.index])

    @vaccinated.setter
    def vaccinated(self, value: bool) -> None:
        self.model.vaccinated[self.index] = value

    @property
    def isolated(self) -> bool:
        """Whether the agent is isolating after a positive test."""
        return bool(self.model.isolated[self.index])

    @property
    def contacts(self) -> np.ndarray:
        """Ids (indices) of the agent's static contacts, ascending, one per (contact, layer)."""
        net = self.model.network
        return net.indices[net.indptr[self.index] : net.indptr[self.index + 1]]


class EpidemicModel(mesa.Model):
    """The epidemic of ``params`` over ``params.population.size`` agents, stepping in days.

    The :class:`Person` agents exist from the first use of :attr:`agents`. ``day_units`` is
    scenario time units per day (the events' times are in days here; the
    simulator scales them). ``kernels`` is the module of day kernels: the tests pass
    :mod:`epidemic_reference` to run the same model in plain Python. ``step()`` runs day
    ``self.day`` and leaves its events in :attr:`day_events` (Mesa's step wrapper drops
    return values).
    """

    def __init__(
        self,
        params: EpidemicParams,
        rare: EpidemicRareEvents,
        rng: np.random.Generator,
        day_units: float,
        *,
        kernels: ModuleType = K,
    ) -> None:
        super().__init__(rng=rng)  # Mesa keeps this very Generator as self.rng
        self.kernels = kernels
        self.params, self.rare, self.day_units = params, rare, day_units
        pop, disease, iv = params.population, params.disease, params.interventions
        self.age_groups = tuple(pop.age_groups)
        self.age = build_population(pop, rng)
        self.network = build_contacts(pop, params.contacts, self.age, rng)
        net, n = self.network, pop.size
        self.layer_labels = (*net.names, "gathering", "import", "seed")
        self.state = np.zeros(n, dtype=np.int8)
        self.times = np.full((n, 3), np.inf)
        self.due_day = np.full(n, K.NEVER, dtype=np.int32)  # day of each agent's earliest clock
        self.next_ev = np.zeros(n, dtype=np.int8)
        self.refs = np.full((n, 5), -1, dtype=np.int64)
        self.vaccinated = np.zeros(n, dtype=np.bool_)
        self.isolated = np.zeros(n, dtype=np.bool_)
        self.age_par = np.array(
            [
                [a.susceptibility, a.p_asymptomatic, a.p_hospital, a.p_death]
                for a in (disease.by_age[g] for g in self.age_groups)
            ],
            dtype=np.float64,
        ).reshape(len(self.age_groups), 4)
        testing = iv.testing
        absent = np.array([-1.0, 0.0, 0.0])
        self.dists = np.stack(
            [
                dist_row(disease.latent, day_units),
                dist_row(disease.infectious, day_units),
                dist_row(disease.onset_to_hospital, day_units),
                dist_row(disease.hospital_stay, day_units),
                absent if disease.waning is None else dist_row(disease.waning, day_units),
                absent if testing is None else dist_row(testing.delay, day_units),
                absent if testing is None else dist_row(testing.result_delay, day_units),
            ]
        )
        self.household = np.array([k == "household" for k in net.kinds], dtype=np.bool_)
        self.school = np.array([k == "school" for k in net.kinds], dtype=np.bool_)
        self.random_layers = np.array(
            [code for code, k in enumerate(net.kinds) if k == "random"], dtype=np.int64
        )
        self.random_mask = np.zeros((len(self.random_layers), n), dtype=np.bool_)
        for r, code in enumerate(self.random_layers):
            self.random_mask[
                r, net.random_members[net.random_ptr[code] : net.random_ptr[code + 1]]
            ] = True
        self.vaccine_order = np.zeros(0, dtype=np.int64)
        if iv.vaccination is not None:
            if iv.vaccination.priority == "random":
                self.vaccine_order = rng.permutation(n).astype(np.int64)
            else:  # oldest (last listed) group first, random order within a group
                self.vaccine_order = np.lexsort((rng.random(n), -self.age.astype(np.int64)))
        self.vaccine_ptr = 0
        self.seeds = rng.choice(n, size=params.initial_infected, replace=False).astype(np.int64)
        self.day = 0
        self.n_events = 0
        self.lockdown_on = self.school_closed = False
        self.detected = 0  # positives of the previous day (the "detected" trigger metric)
        self.day_events: DayEvents | None = None
        # The day's event buffers (grown by the kernels) and due agents: kept across days.
        self._ev_time = np.empty(1024)
        self._ev = np.empty((1024, K.N_COLS), dtype=np.int64)
        self._due = np.empty(n, dtype=np.int64)
        self._counts = np.bincount(self.state, minlength=len(K.STATES)).astype(np.int64)
        self._people = False

    # --- Mesa agents --------------------------------------------------------------------------

    @property
    def agents(self) -> mesa.agent.AgentSet:
        """All agents (:class:`Person` views), created on first use: Mesa 3.3 registers each
        agent in three containers, ~10 us and ~480 bytes an agent (10 s and 0.45 GB at a
        million, measured), which a run that only writes the log never needs."""
        if not self._people:
            self._people = True
            Person.create_agents(self, self.params.population.size)
        return super().agents

    @property
    def agents_by_type(self) -> dict[type[mesa.Agent], mesa.agent.AgentSet]:
        """Agents by class (only :class:`Person`), created on first use like :attr:`agents`."""
        _ = self.agents
        return super().agents_by_type

    # --- one day ------------------------------------------------------------------------------

    def step(self) -> DayEvents:
        """Run day ``self.day``: interventions, vaccination, transmission, gatherings,
        importations, then every clock due before the next day; events in ``day_events``."""
        d, p = self.day, self.params
        iv, ss = p.interventions, self.rare.superspreading
        testing, vaccination = iv.testing, iv.vaccination
        vaccinating = vaccination is not None and d >= vaccination.start / self.day_units
        net, beds = self.network, self.rare.hospital_capacity
        n = self._interventions(d)  # before the multipliers: it switches lockdown and schools
        mult = self._multipliers()
        self.vaccine_ptr, self._ev_time, self._ev, time, rows = self.kernels.run_day(
            d, self.vaccine_order, self.vaccine_ptr,
            vaccination.doses_per_day if vaccinating and vaccination is not None else 0,
            self.seeds, -1.0 if ss is None else ss.rate_per_day * self.day_units,
            0.0 if ss is None else ss.size, 0.0 if ss is None else ss.transmission,
            p.importations_per_day, self.state, self._counts, self.age, self.vaccinated,
            self.isolated, net.indptr, net.indices, net.layer, net.transmission,
            mult, self.household, self.random_layers, net.random_ptr,
            net.random_members, self.random_mask, net.contacts_per_day, self.age_par,
            p.disease.asymptomatic_infectiousness,
            0.0 if vaccination is None else vaccination.efficacy,
            1.0 if testing is None else testing.contact_reduction,
            0.0 if testing is None else testing.p_test,
            0.0 if testing is None else testing.sensitivity, -1 if beds is None else beds,
            self.rare.overflow_death_multiplier, self.times, self.due_day,
            self.next_ev, self.refs,
            self.dists, self._due, self._ev_time, self._ev, n,
            self.n_events, self.rng,
        )  # fmt: skip
        first, self.n_events = self.n_events, self.n_events + len(time)
        self.day_events = DayEvents(
            first_seq=first,
            time=time,
            entity=rows[:, K.C_ENTITY],
            event=rows[:, K.C_EVENT],
            cause=rows[:, K.C_CAUSE],
            rare=rows[:, K.C_RARE],
            layer=rows[:, K.C_LAYER],
            infector=rows[:, K.C_INFECTOR],
            state=rows[:, K.C_STATE],
        )
        self.detected = int(np.count_nonzero(self.day_events.event == K.POSITIVE))
        self.day += 1
        return self.day_events

    def counts(self) -> dict[str, int]:
        """Agents per compartment now: S, E, A, I, H, R, D."""
        return {s: int(c) for s, c in zip(K.STATES, self._counts, strict=True)}

    def release(self) -> None:
        """Let the model be garbage collected: Mesa 3.3's ``Agent._ids`` keeps a class-level
        counter per model, which holds the model (and its agents and arrays) alive forever."""
        mesa.Agent._ids.pop(self, None)

    # --- helpers ------------------------------------------------------------------------------

    def _interventions(self, d: int) -> int:
        """Switch lockdown / school closure for day ``d`` (from the state at its start); write
        their system events at time ``d`` (the buffer holds at least 1024); return the events
        written."""
        iv, n, counts = self.params.interventions, 0, self._counts
        if iv.lockdown is None and iv.school_closure is None:
            return 0
        metrics = {
            "hospitalised": float(counts[K.HOSP]),
            "infectious": float(counts[K.ASYM] + counts[K.SYMP]),
            "detected": float(self.detected),
        }
        for window, attr, start, end in (
            (iv.lockdown, "lockdown_on", _LOCKDOWN_START, _LOCKDOWN_END),
            (iv.school_closure, "school_closed", _SCHOOL_START, _SCHOOL_END),
        ):
            if window is None:
                continue
            was = getattr(self, attr)
            if window.trigger is not None:
                value = metrics[window.trigger.metric]
                now = value > window.trigger.below if was else value >= window.trigger.above
            else:
                lo = (window.start or 0.0) / self.day_units
                hi = (window.end or 0.0) / self.day_units
                now = lo <= d < hi
            if now != was:
                setattr(self, attr, now)
                self._ev_time[n] = d
                self._ev[n] = (-1, start if now else end, -1, -1, -1, -1, -1)
                n += 1
        return n

    def _multipliers(self) -> np.ndarray:
        """Per-layer contact multipliers of the day: lockdown factors, 0 on closed schools."""
        mult = np.ones(len(self.network.names))
        lockdown = self.params.interventions.lockdown
        if self.lockdown_on and lockdown is not None:
            for name, factor in lockdown.layers.items():
                mult[self.network.names.index(name)] *= factor
        if self.school_closed:
            mult[self.school] = 0.0
        return mult
