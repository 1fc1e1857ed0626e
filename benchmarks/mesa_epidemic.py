"""A plain Mesa 3 model of the ``epidemic`` rules: the reference the fast model is checked against.

Written the way a Mesa user would write it, for clarity, not speed: one ``Person`` agent per
individual with its state in Python attributes, its contacts as a Python list of
``(Person, transmission)`` pairs taken from the same :class:`ContactNetwork` CSR the fast model
uses, and one Python call per agent per day (``model.agents.do(...)``). It is the yardstick of
``benchmarks/bench_epidemic.py`` (agent-days per second) and the independent implementation
that ``tests/test_epidemic_reference.py`` compares the ``epidemic`` model with, statistically.

Rules (the model spec's, time in days): SEIR with an asymptomatic split, hospitalisation, death
and optional waning, all transitions at continuous times; once per day ``d``, from the states at
time ``d``, every infectious agent (ascending id) infects each susceptible static neighbour with
probability ``min(1, transmission * f_i * s_j)`` and, in each random layer it belongs to, makes
Poisson(``contacts_per_day``) contacts with uniformly drawn members (self redrawn), each infected
with the same probability; an exposure happens at ``d + U(0, 1)``. Left out, as the brief allows:
interventions (every layer multiplier is 1, nobody isolates or is vaccinated) and rare episodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import mesa
import numpy as np

from eventforge.simulators.agent_based.contacts import (
    ContactNetwork,
    build_contacts,
    build_population,
)
from eventforge.simulators.agent_based.epidemic_params import DayDistribution, EpidemicParams, Fixed
from eventforge.simulators.discrete_event.network import Exponential

__all__ = ["STATES", "DurationDist", "EpidemicRules", "Person", "PlainEpidemic"]

#: The compartments, in the letters of the ``epidemic`` model's ``state`` column.
STATES = "SEAIHRD"
SUS, EXP, ASYM, SYMP, HOSP, REC, DEAD = range(7)


@dataclass(frozen=True)
class DurationDist:
    """A duration distribution in days, by mean and coefficient of variation (the spec's
    families; ``cv`` is unused by ``exponential`` and ``fixed``)."""

    family: Literal["exponential", "gamma", "lognormal", "fixed"]
    mean: float
    cv: float = 0.0

    def sample(self, rng: np.random.Generator) -> float:
        """One draw. Gamma: shape ``1/cv^2``, scale ``mean cv^2``; lognormal: ``sigma^2 =
        log(1 + cv^2)``, ``mu = log(mean) - sigma^2 / 2`` (the distributions' moments)."""
        if self.family == "exponential":
            return float(rng.exponential(self.mean))
        if self.family == "gamma":
            k = 1.0 / self.cv**2
            return float(rng.gamma(k, self.mean / k))
        if self.family == "lognormal":
            s2 = math.log1p(self.cv**2)
            return float(rng.lognormal(math.log(self.mean) - 0.5 * s2, math.sqrt(s2)))
        return self.mean


@dataclass(frozen=True)
class EpidemicRules:
    """The disease and seeding of one scenario, in days; per-age values indexed by age code."""

    latent: DurationDist
    infectious: DurationDist
    onset_to_hospital: DurationDist
    hospital_stay: DurationDist
    waning: DurationDist | None
    susceptibility: tuple[float, ...]
    p_asymptomatic: tuple[float, ...]
    p_hospital: tuple[float, ...]
    p_death: tuple[float, ...]
    asymptomatic_infectiousness: float = 0.5
    initial_infected: int = 10
    importations_per_day: float = 0.0

    @classmethod
    def from_params(cls, params: EpidemicParams) -> EpidemicRules:
        """The rules of a validated ``epidemic`` scenario's params (durations converted from the
        scenario unit to days); reads only the fields the reference implements."""
        disease, day_units = params.disease, params.day_units

        def days(dist: DayDistribution) -> DurationDist:
            if isinstance(dist, Fixed):
                return DurationDist("fixed", dist.value / day_units)
            cv = 0.0 if isinstance(dist, Exponential) else dist.cv
            return DurationDist(dist.dist, dist.mean / day_units, cv)

        by_age = [disease.by_age[g] for g in params.population.age_groups]
        return cls(
            latent=days(disease.latent),
            infectious=days(disease.infectious),
            onset_to_hospital=days(disease.onset_to_hospital),
            hospital_stay=days(disease.hospital_stay),
            waning=None if disease.waning is None else days(disease.waning),
            susceptibility=tuple(a.susceptibility for a in by_age),
            p_asymptomatic=tuple(a.p_asymptomatic for a in by_age),
            p_hospital=tuple(a.p_hospital for a in by_age),
            p_death=tuple(a.p_death for a in by_age),
            asymptomatic_infectiousness=disease.asymptomatic_infectiousness,
            initial_infected=params.initial_infected,
            importations_per_day=params.importations_per_day,
        )


class Person(mesa.Agent):
    """One individual: its compartment, the time of its next transition and its contacts."""

    model: PlainEpidemic

    def __init__(self, model: PlainEpidemic, age: int) -> None:
        super().__init__(model)
        self.age = age
        self.state = SUS
        self.next_change = math.inf  # time of the next scheduled transition
        self.goes_to_hospital = False  # decided at onset
        self.dies = False  # decided at admission
        # Filled by the model once every agent exists.
        self.contacts: list[tuple[Person, float]] = []
        self.random_layers: list[int] = []

    def expose(self, time: float) -> None:
        """Infected at ``time``: exposed, infectious after the latent period."""
        self.model.move(self, EXP)
        self.model.exposures_by_day[int(time)] += 1
        self.next_change = time + self.model.rules.latent.sample(self.model.rng)

    def progress(self) -> None:
        """Every transition scheduled up to the start of today, in order."""
        while self.next_change <= self.model.day:
            self._transition(self.next_change)

    def _transition(self, t: float) -> None:
        rules, rng, model = self.model.rules, self.model.rng, self.model
        if self.state == EXP:
            if rng.random() < rules.p_asymptomatic[self.age]:
                model.move(self, ASYM)
                self.next_change = t + rules.infectious.sample(rng)
            else:
                model.move(self, SYMP)
                self.goes_to_hospital = rng.random() < rules.p_hospital[self.age]
                stage = rules.onset_to_hospital if self.goes_to_hospital else rules.infectious
                self.next_change = t + stage.sample(rng)
        elif self.state == SYMP and self.goes_to_hospital:
            model.move(self, HOSP)
            model.hospitalisations += 1
            self.dies = rng.random() < rules.p_death[self.age]
            self.next_change = t + rules.hospital_stay.sample(rng)
        elif self.state == HOSP and self.dies:
            model.move(self, DEAD)
            self.next_change = math.inf
        elif self.state in (ASYM, SYMP, HOSP):
            model.move(self, REC)
            self.next_change = math.inf if rules.waning is None else t + rules.waning.sample(rng)
        else:  # REC: immunity has waned
            model.move(self, SUS)
            self.next_change = math.inf

    def spread(self) -> None:
        """Today's infections by this agent, if it is infectious."""
        if self.state not in (ASYM, SYMP):
            return
        model, rng = self.model, self.model.rng
        f = model.rules.asymptomatic_infectiousness if self.state == ASYM else 1.0
        for other, transmission in self.contacts:
            if other.state == SUS:
                model.try_infect(other, transmission * f)
        for layer in self.random_layers:
            members = model.random_members[layer]
            if len(members) < 2:  # nobody else to meet
                continue
            for _ in range(rng.poisson(model.contacts_per_day[layer])):
                other = self
                while other is self:
                    other = members[rng.integers(len(members))]
                if other.state == SUS:
                    model.try_infect(other, model.transmission[layer] * f)


class PlainEpidemic(mesa.Model):
    """The epidemic on ``network`` (agents' age codes ``age``), one ``step()`` per day.

    ``counts_by_day[d]`` are the compartment sizes at the start of day ``d`` (order
    :data:`STATES`), ``exposures_by_day[d]`` the infections that happened during day ``d``,
    ``hospitalisations`` the admissions so far. The only randomness is ``rng``.
    """

    def __init__(
        self,
        network: ContactNetwork,
        age: np.ndarray,
        rules: EpidemicRules,
        rng: np.random.Generator,
        days: int,
    ) -> None:
        super().__init__(rng=rng)
        self.rules = rules
        self.day = 0
        self.days = days
        self.counts = [0] * len(STATES)
        self.counts_by_day: list[list[int]] = []
        self.exposures_by_day = [0] * (days + 1)
        self.hospitalisations = 0
        self.people = [Person(self, int(a)) for a in age]
        self.counts[SUS] = len(self.people)
        self.transmission = [float(t) for t in network.transmission]
        self.contacts_per_day = [float(c) for c in network.contacts_per_day]
        # The contacts as Python objects, the way a Mesa user holds them: each person's static
        # neighbours with their layer's transmission, each random layer's members as a list.
        neighbours, layers = network.indices.tolist(), network.layer.tolist()
        ptr = network.indptr.tolist()
        for i, person in enumerate(self.people):
            person.contacts = [
                (self.people[neighbours[k]], self.transmission[layers[k]])
                for k in range(ptr[i], ptr[i + 1])
            ]
        rptr = network.random_ptr.tolist()
        self.random_members = [
            [self.people[j] for j in network.random_members[rptr[lay] : rptr[lay + 1]].tolist()]
            for lay in range(len(self.transmission))
        ]
        for lay, members in enumerate(self.random_members):
            for person in members:
                person.random_layers.append(lay)
        for i in rng.choice(len(self.people), rules.initial_infected, replace=False).tolist():
            self.people[i].expose(0.0)

    @classmethod
    def from_params(
        cls, params: EpidemicParams, rng: np.random.Generator, days: int
    ) -> PlainEpidemic:
        """The model of a validated ``epidemic`` scenario's params: population, then contacts,
        drawn from ``rng`` with the same helpers (and in the same order) as the fast model."""
        age = build_population(params.population, rng)
        network = build_contacts(params.population, params.contacts, age, rng)
        return cls(network, age, EpidemicRules.from_params(params), rng, days)

    def release(self) -> None:
        """Let the model be garbage collected: Mesa 3.3's class-level ``Agent._ids`` keeps a
        counter per model, which holds the model and all its agents alive otherwise."""
        mesa.Agent._ids.pop(self, None)

    def move(self, person: Person, state: int) -> None:
        """Change ``person``'s compartment, keeping the counts."""
        self.counts[person.state] -= 1
        self.counts[state] += 1
        person.state = state

    def try_infect(self, person: Person, p: float) -> None:
        """Infect a susceptible ``person`` today with probability ``min(1, p * s_j)``."""
        if self.rng.random() < p * self.rules.susceptibility[person.age]:
            person.expose(self.day + self.rng.random())

    def step(self) -> None:
        """One day: progress everyone to the start of the day, transmit, then import."""
        self.agents.do("progress")
        self.counts_by_day.append(list(self.counts))
        self.agents.do("spread")
        for _ in range(self.rng.poisson(self.rules.importations_per_day)):
            for _ in range(10):  # a few redraws when the pick is not susceptible
                person = self.people[self.rng.integers(len(self.people))]
                if person.state == SUS:
                    person.expose(self.day + self.rng.random())
                    break
        self.day += 1
        if self.day == self.days:
            self.agents.do("progress")  # the last day's transitions, up to the horizon
