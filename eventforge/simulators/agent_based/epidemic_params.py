"""The ``params:`` and ``rare_events:`` sections of an epidemic scenario.

Durations arrive in the scenario's time unit (the ``Duration`` types convert them); the model
steps in days, so :meth:`EpidemicParams.day_units` (time units per day, read from the validation
context) converts them once. Cross-checks that need several sections (every age group has
disease parameters, the contact layers fit the population, intervention layers exist) are a
model validator whose errors are located at the keys they are about; dates that only the
horizon can refute are :meth:`EpidemicParams.horizon_problems`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails

from eventforge.scenario.types import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    Probability,
    StrictModel,
)
from eventforge.scenario.units import NonNegativeDuration, Rate
from eventforge.simulators.agent_based.contacts import (
    Layer,
    PopulationSpec,
    SchoolLayer,
    contact_problems,
)
from eventforge.simulators.discrete_event.network import Exponential, GammaDist, Lognormal

__all__ = [
    "DIST_CODES",
    "AgeDisease",
    "DayDistribution",
    "Disease",
    "EpidemicParams",
    "EpidemicRareEvents",
    "Fixed",
    "Interventions",
    "Lockdown",
    "SchoolClosure",
    "Superspreading",
    "Testing",
    "Trigger",
    "Vaccination",
    "dist_row",
]

SECONDS_PER_DAY = 86400.0


class Fixed(StrictModel):
    """A constant duration; draws no random number."""

    dist: Literal["fixed"] = Field(description="distribution family")
    value: NonNegativeDuration = Field(description="the constant, e.g. '2d'")


#: A distribution of durations, chosen by its ``dist`` key.
DayDistribution = Annotated[
    Exponential | GammaDist | Lognormal | Fixed, Field(discriminator="dist")
]

#: Kernel codes of the distribution families (see ``epidemic_kernels.draw_duration``).
DIST_CODES = {"fixed": 0, "exponential": 1, "gamma": 2, "lognormal": 3}


def dist_row(dist: Exponential | GammaDist | Lognormal | Fixed, day_units: float) -> np.ndarray:
    """``[code, a, b]`` in days for the kernels: fixed (value), exponential (mean), gamma (shape,
    scale), lognormal (mu, sigma of the log; sigma^2 = log(1 + cv^2), mu = log(mean) - sigma^2/2,
    the lognormal's moments)."""
    code = float(DIST_CODES[dist.dist])
    if isinstance(dist, Fixed):
        return np.array([code, dist.value / day_units, 0.0])
    mean = dist.mean / day_units
    if isinstance(dist, Exponential):
        return np.array([code, mean, 0.0])
    if isinstance(dist, GammaDist):
        shape = 1.0 / dist.cv**2
        return np.array([code, shape, mean / shape])
    s2 = math.log1p(dist.cv**2)
    return np.array([code, math.log(mean) - 0.5 * s2, math.sqrt(s2)])


class AgeDisease(StrictModel):
    """Disease parameters of one age group."""

    susceptibility: NonNegativeFloat = Field(
        default=1.0, description="relative chance of infection per exposure (1: reference)"
    )
    p_asymptomatic: Probability = Field(description="probability an infection stays asymptomatic")
    p_hospital: Probability = Field(description="probability a symptomatic case is hospitalised")
    p_death: Probability = Field(description="probability a hospitalised case dies")


class Disease(StrictModel):
    """Natural history: SEIR with an asymptomatic/symptomatic split and hospitalisation."""

    latent: DayDistribution = Field(description="exposure -> infectious")
    infectious: DayDistribution = Field(description="infectious -> recovered (not hospitalised)")
    onset_to_hospital: DayDistribution = Field(description="symptom onset -> hospitalisation")
    hospital_stay: DayDistribution = Field(description="hospitalisation -> recovery or death")
    by_age: dict[str, AgeDisease] = Field(description="age group -> its disease parameters")
    asymptomatic_infectiousness: NonNegativeFloat = Field(
        default=0.5, description="infectiousness of an asymptomatic case relative to a symptomatic"
    )
    waning: DayDistribution | None = Field(
        default=None, description="recovered -> susceptible again (null: lasting immunity)"
    )


class Trigger(StrictModel):
    """Start an intervention the day after a metric reaches ``above``; end it the day after it
    falls to ``below``."""

    metric: Literal["hospitalised", "infectious", "detected"] = Field(
        description="agents in hospital, infectious agents (A + I), or the previous day's "
        "positive results"
    )
    above: NonNegativeFloat = Field(description="start when metric >= above")
    below: NonNegativeFloat = Field(description="end when metric <= below")

    @model_validator(mode="after")
    def _ordered(self) -> Trigger:
        if self.below >= self.above:
            raise ValueError(
                f"below ({self.below:g}) must be < above ({self.above:g}), else it would end "
                "the day it starts"
            )
        return self


class _Window(StrictModel):
    start: NonNegativeDuration | None = Field(default=None, description="start, from t = 0")
    end: NonNegativeDuration | None = Field(default=None, description="end, from t = 0")
    trigger: Trigger | None = Field(default=None, description="start/end by a metric instead")

    @model_validator(mode="after")
    def _dates_or_trigger(self) -> _Window:
        start, end = self.start, self.end
        if self.trigger is not None and (start is not None or end is not None):
            raise ValueError("give either start and end, or trigger, not both")
        if start is None or end is None:
            if self.trigger is None:
                raise ValueError("give start and end, or a trigger")
        elif end <= start:
            raise ValueError(f"end ({end:g}) must be after start ({start:g})")
        return self


class Lockdown(_Window):
    """Contact multipliers on named layers, by dates or by a trigger."""

    layers: dict[str, Probability] = Field(
        min_length=1, description="layer name -> multiplier in [0, 1] while the lockdown lasts"
    )


class SchoolClosure(_Window):
    """Multiplier 0 on every ``school`` layer, by dates or by a trigger."""


class Testing(StrictModel):
    """Symptomatic agents get tested; a positive result isolates them."""

    p_test: Probability = Field(description="probability a symptomatic agent gets tested")
    delay: DayDistribution = Field(description="symptom onset -> test")
    sensitivity: Probability = Field(description="probability the test of a case is positive")
    result_delay: DayDistribution = Field(description="test -> result (positive, isolation)")
    contact_reduction: Probability = Field(
        description="multiplier on non-household transmission while isolated"
    )


class Vaccination(StrictModel):
    """Leaky vaccine: doses per day from a start date, by priority."""

    start: NonNegativeDuration = Field(description="first day of vaccination, from t = 0")
    doses_per_day: NonNegativeInt = Field(description="doses given each day")
    efficacy: Probability = Field(description="a dose multiplies susceptibility by 1 - efficacy")
    priority: Literal["oldest_first", "random"] = Field(
        default="oldest_first",
        description="oldest_first: age groups in reverse listed order; random: uniform",
    )


class Interventions(StrictModel):
    """Non-pharmaceutical and pharmaceutical interventions (all optional)."""

    lockdown: Lockdown | None = Field(default=None, description="contact reduction by layer")
    school_closure: SchoolClosure | None = Field(default=None, description="schools closed")
    testing: Testing | None = Field(default=None, description="testing and isolation")
    vaccination: Vaccination | None = Field(default=None, description="vaccination campaign")


class EpidemicParams(StrictModel):
    """The ``params:`` section of an epidemic scenario."""

    population: PopulationSpec = Field(description="agents and their age groups")
    contacts: dict[str, Layer] = Field(description="contact layers by name")
    disease: Disease = Field(description="natural history of the infection")
    interventions: Interventions = Field(
        default_factory=Interventions, description="interventions (all optional)"
    )
    initial_infected: NonNegativeInt = Field(
        default=10, description="agents exposed at t = 0 (uniform without replacement)"
    )
    importations_per_day: NonNegativeFloat = Field(
        default=0.0, description="mean exposures imported from outside per day (Poisson)"
    )
    _day_units: float = PrivateAttr(default=24.0)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> EpidemicParams:
        context = info.context or {}
        self._day_units = SECONDS_PER_DAY / float(context.get("time_unit_s", 3600.0))
        problems = [self._located(message) for message in contact_problems(
            self.population, self.contacts
        )]  # fmt: skip
        groups = self.population.age_groups
        missing = [g for g in groups if g not in self.disease.by_age]
        if missing:
            problems.append(
                (("disease", "by_age"), f"missing age groups {missing} (every group is needed)")
            )
        for g in self.disease.by_age:
            if g not in groups:
                problems.append(
                    (("disease", "by_age", g), f"unknown age group (age groups: {list(groups)})")
                )
        lockdown = self.interventions.lockdown
        for name in lockdown.layers if lockdown is not None else ():
            if name not in self.contacts:
                problems.append(
                    (
                        ("interventions", "lockdown", "layers", name),
                        f"unknown layer (layers: {', '.join(self.contacts)})",
                    )
                )
        if self.interventions.school_closure is not None and not any(
            isinstance(layer, SchoolLayer) for layer in self.contacts.values()
        ):
            problems.append(
                (("interventions", "school_closure"), "no layer of kind 'school' to close")
            )
        if self.initial_infected > self.population.size:
            problems.append(
                (
                    ("initial_infected",),
                    f"{self.initial_infected} exceeds population.size {self.population.size}",
                )
            )
        if problems:
            # A ValidationError raised here keeps each problem's location (pydantic prefixes
            # it with where this model sits), so the scenario loader reports it at its key.
            raise ValidationError.from_exception_data(
                "EpidemicParams",
                [
                    InitErrorDetails(type="value_error", loc=loc, input=None, ctx={"error": text})
                    for loc, text in problems
                ],
            )
        return self

    def _located(self, message: str) -> tuple[tuple[str | int, ...], str]:
        """``'contacts.<layer>[.<field>]: text'`` (from ``contact_problems``) as (path, text);
        the layer is matched by name, so a name with a dot in it stays whole."""
        key, _, text = message.partition(": ")
        rest = key.removeprefix("contacts")
        for name in sorted(self.contacts, key=len, reverse=True):
            if rest == f".{name}" or rest.startswith(f".{name}."):
                field = rest[len(name) + 2 :]
                return ("contacts", name, *((field,) if field else ())), text
        return ("contacts",), text if rest == "" else message

    @property
    def day_units(self) -> float:
        """Scenario time units per day (24 when the unit is the hour)."""
        return self._day_units

    def horizon_problems(self, horizon: float) -> list[tuple[tuple[str | int, ...], str]]:
        """A horizon under one day (the model steps in days), and intervention dates outside
        ``[0, horizon]`` (never reached: a mistake)."""
        days = horizon / self._day_units
        if days < 1.0:
            return [((), f"the horizon ({days:g} days) is under one day: the model steps in days")]
        found: list[tuple[tuple[str | int, ...], str]] = []
        dated: list[tuple[tuple[str | int, ...], float | None]] = []
        iv = self.interventions
        for key, window in (("lockdown", iv.lockdown), ("school_closure", iv.school_closure)):
            if window is not None:
                dated += [(("interventions", key, "start"), window.start)]
                dated += [(("interventions", key, "end"), window.end)]
        if iv.vaccination is not None:
            dated.append((("interventions", "vaccination", "start"), iv.vaccination.start))
        for path, value in dated:
            if value is not None and value > horizon:
                when = value / self._day_units
                found.append((path, f"day {when:g} is after the horizon (day {days:g})"))
        return found


class Superspreading(StrictModel):
    """Gatherings where every infectious attendee may infect every susceptible one."""

    rate_per_day: Rate = Field(description="mean gatherings per time unit, e.g. '1/7d'")
    size: PositiveFloat = Field(description="mean attendees of a gathering (Poisson)")
    transmission: Probability = Field(
        description="chance per infectious-susceptible pair in a gathering"
    )


class EpidemicRareEvents(StrictModel):
    """The ``rare_events:`` section: superspreading gatherings and hospital overflow."""

    superspreading: Superspreading | None = Field(default=None, description="gatherings")
    hospital_capacity: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="beds; admissions beyond them are 'hospital_overflow'"
    )
    overflow_death_multiplier: Annotated[float, Field(ge=1.0, allow_inf_nan=False)] = Field(
        default=2.0, description="factor on p_death of a patient admitted beyond capacity"
    )
