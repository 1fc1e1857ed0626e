"""The ``params:`` of a queueing network: distributions, classes, stations, routing.

Everything here is validation: a scenario that passes describes a network the engine can run
(every routed-to station exists, every class is known, every routing row sums to 1, every
station can be reached from some arrival stream). Errors name the key, show the value and state
the rule, because the model validator's messages are all a user sees of a bad routing table.

Routing form (one clear form, no separate class-change map): ``routing[class][from][to]`` where
``from`` is ``arrival`` (the entry) or a station, ``to`` is a station or ``exit``, and the value
is either a probability or ``{p: probability, class: new_class}`` to change the customer's class
on that route (the same ``to`` cannot appear twice in one row, so a row sends a customer to a
given station under one class only).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from eventforge.scenario.types import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
    check_distribution,
)
from eventforge.scenario.units import Duration, NonNegativeDuration, Rate, Trend

__all__ = [
    "ENTRY",
    "EXIT",
    "ArrivalSpec",
    "Breakdowns",
    "ClassSpec",
    "Deterministic",
    "Distribution",
    "Empirical",
    "Exponential",
    "GammaDist",
    "Lognormal",
    "PoissonArrivals",
    "QueueNetworkParams",
    "QueueNetworkRareEvents",
    "RenewalArrivals",
    "Route",
    "Shift",
    "StationSpec",
    "Surge",
    "Weibull",
]

#: The pseudo-station routing starts from, and the pseudo-station that means "leave".
ENTRY, EXIT = "arrival", "exit"

Name = Annotated[str, StringConstraints(min_length=1)]


class Exponential(StrictModel):
    """Exponential with the given mean (memoryless: M in Kendall's notation)."""

    dist: Literal["exponential"] = Field(description="distribution family")
    mean: Duration = Field(description="mean, e.g. '10m'")

    def sample(self, rng: np.random.Generator) -> float:
        """One draw."""
        return float(rng.exponential(self.mean))

    def expected(self) -> float:
        """The mean of the distribution."""
        return self.mean


class Deterministic(StrictModel):
    """A constant (D in Kendall's notation); draws no random number."""

    dist: Literal["deterministic"] = Field(description="distribution family")
    value: NonNegativeDuration = Field(description="the constant, e.g. '5m'")

    def sample(self, rng: np.random.Generator) -> float:
        """The constant."""
        return self.value

    def expected(self) -> float:
        """The mean of the distribution."""
        return self.value


class Lognormal(StrictModel):
    """Lognormal given by its mean and coefficient of variation (how service times are quoted)."""

    dist: Literal["lognormal"] = Field(description="distribution family")
    mean: Duration = Field(description="mean, e.g. '20m'")
    cv: PositiveFloat = Field(description="coefficient of variation (std / mean)")

    def sample(self, rng: np.random.Generator) -> float:
        """One draw: ``sigma^2 = log(1 + cv^2)``, ``mu = log(mean) - sigma^2 / 2`` (the moments
        of the lognormal, e.g. Johnson, Kotz & Balakrishnan, vol. 1, ch. 14)."""
        s2 = math.log1p(self.cv**2)
        return float(rng.lognormal(math.log(self.mean) - 0.5 * s2, math.sqrt(s2)))

    def expected(self) -> float:
        """The mean of the distribution."""
        return self.mean


class GammaDist(StrictModel):
    """Gamma given by its mean and coefficient of variation: shape ``1/cv^2``."""

    dist: Literal["gamma"] = Field(description="distribution family")
    mean: Duration = Field(description="mean, e.g. '20m'")
    cv: PositiveFloat = Field(description="coefficient of variation (std / mean)")

    def sample(self, rng: np.random.Generator) -> float:
        """One draw: shape ``k = 1/cv^2``, scale ``mean / k`` (so the mean is ``mean``)."""
        k = 1.0 / self.cv**2
        return float(rng.gamma(k, self.mean / k))

    def expected(self) -> float:
        """The mean of the distribution."""
        return self.mean


class Weibull(StrictModel):
    """Weibull with shape ``k`` and scale ``lambda`` (times to failure: k > 1 is wear-out)."""

    dist: Literal["weibull"] = Field(description="distribution family")
    shape: PositiveFloat = Field(description="shape k")
    scale: Duration = Field(description="scale lambda, e.g. '30d'")

    def sample(self, rng: np.random.Generator) -> float:
        """One draw."""
        return self.scale * float(rng.weibull(self.shape))

    def expected(self) -> float:
        """The mean, ``scale * Gamma(1 + 1/k)``."""
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)


class Empirical(StrictModel):
    """Resampling of observed values, optionally smoothed by a Gaussian kernel.

    A draw picks one of ``values`` uniformly and adds ``N(0, h^2)`` noise with bandwidth
    ``h = smoothing * std(values)``; a negative result is reflected at 0 (``|x|``), so durations
    stay non-negative without piling mass on 0.
    """

    dist: Literal["empirical"] = Field(description="distribution family")
    values: list[NonNegativeDuration] = Field(min_length=1, description="observed values")
    smoothing: NonNegativeFloat = Field(
        default=0.0, description="kernel bandwidth as a fraction of the values' std (0: none)"
    )

    def sample(self, rng: np.random.Generator) -> float:
        """One draw (one integer, plus one normal when smoothing)."""
        x = self.values[int(rng.integers(len(self.values)))]
        if self.smoothing > 0.0:
            x = abs(x + self.smoothing * float(np.std(self.values)) * float(rng.normal()))
        return x

    def expected(self) -> float:
        """The mean of the values (reflection at 0 can only raise it slightly)."""
        return math.fsum(self.values) / len(self.values)


#: Any duration distribution, chosen by its ``dist`` key.
Distribution = Annotated[
    Exponential | Deterministic | Lognormal | GammaDist | Weibull | Empirical,
    Field(discriminator="dist"),
]


def _profile_ok(values: list[float] | None) -> list[float] | None:
    if values is not None and not any(values):
        raise ValueError("must not be all zero (the rate would be zero throughout)")
    return values


def _batch_ok(probs: list[float] | None) -> list[float] | None:
    if probs is not None:
        check_distribution({str(i + 1): v for i, v in enumerate(probs)}, "batch size")
    return probs


class PoissonArrivals(StrictModel):
    """A non-homogeneous Poisson stream: ``rate * daily(hour) * weekly(day) * trend * surges(t)``.

    The rate is constant within each clock hour (UTC) but where a surge begins or ends; the
    trend's factor ``(1 + growth) ** (s / per)`` is that of the hour's start ``s`` (0 for the
    scenario's first, partial hour): a step a day is ~1/24 of a day's growth, far below the
    sampling noise of any realistic trend."""

    process: Literal["poisson"] = Field(description="arrival process family")
    rate: Rate = Field(description="mean arrivals (batches) per time unit over a week, '6/h'")
    daily_profile: Annotated[list[NonNegativeFloat] | None, AfterValidator(_profile_ok)] = Field(
        default=None,
        min_length=24,
        max_length=24,
        description="24 multipliers, hour 0 (UTC) first, normalised to mean 1 (null: flat)",
    )
    weekly_profile: Annotated[list[NonNegativeFloat] | None, AfterValidator(_profile_ok)] = Field(
        default=None,
        min_length=7,
        max_length=7,
        description="7 multipliers, Monday first, normalised to mean 1 (null: flat)",
    )
    trend: Trend | None = Field(
        default=None, description="exponential growth of the rate, e.g. {growth: 0.05, per: 30d}"
    )
    batch_size: Annotated[list[Probability] | None, AfterValidator(_batch_ok)] = Field(
        default=None,
        min_length=1,
        description="customers per arrival: [P(1), P(2), ...], summing to 1 (null: always 1)",
    )


class RenewalArrivals(StrictModel):
    """A renewal stream: independent interarrival times (surges do not apply to it)."""

    process: Literal["renewal"] = Field(description="arrival process family")
    interarrival: Distribution = Field(description="time between arrivals")

    @model_validator(mode="after")
    def _positive_mean(self) -> RenewalArrivals:
        if self.interarrival.expected() <= 0.0:
            raise ValueError("interarrival must have a mean > 0 (else infinitely many arrivals)")
        return self


ArrivalSpec = Annotated[PoissonArrivals | RenewalArrivals, Field(discriminator="process")]


class ClassSpec(StrictModel):
    """A customer class: how it arrives and how it behaves in queues."""

    arrivals: ArrivalSpec | None = Field(
        default=None, description="external arrivals (null: only reached by a class change)"
    )
    priority: int = Field(
        default=0, description="lower is served first at priority stations (ties: FIFO)"
    )
    patience: Distribution | None = Field(
        default=None, description="time a customer waits in a queue before abandoning"
    )
    balk_if_queue_at_least: PositiveInt | None = Field(
        default=None, description="an arriving customer balks if this many or more are waiting"
    )
    balk_probability: list[Probability] | None = Field(
        default=None,
        min_length=1,
        description="P(balk) of an arriving customer by queue length (last value for longer)",
    )

    @model_validator(mode="after")
    def _one_balking_rule(self) -> ClassSpec:
        if self.balk_if_queue_at_least is not None and self.balk_probability is not None:
            raise ValueError("set balk_if_queue_at_least or balk_probability, not both")
        return self


class Shift(StrictModel):
    """From ``at`` (hour of day, UTC) until the next shift, ``servers`` are on duty."""

    at: Annotated[float, Field(ge=0.0, lt=24.0)] = Field(description="hour of day, [0, 24)")
    servers: PositiveInt = Field(description="servers on duty from then on")


class Breakdowns(StrictModel):
    """Alternating up and down periods of a whole station."""

    time_to_failure: Distribution = Field(description="up time before each breakdown")
    repair_time: Distribution = Field(description="down time of each repair")

    @model_validator(mode="after")
    def _positive_cycle(self) -> Breakdowns:
        if self.time_to_failure.expected() + self.repair_time.expected() <= 0.0:
            raise ValueError("time_to_failure + repair_time must have a mean > 0")
        return self


class StationSpec(StrictModel):
    """A service station: servers, waiting room, discipline, service times, breakdowns."""

    servers: PositiveInt | list[Shift] = Field(
        description="number of servers, or a daily shift schedule [{at: hour, servers: n}]"
    )
    buffer: NonNegativeInt | None = Field(
        default=None, description="max customers waiting (null: unlimited); full -> block"
    )
    discipline: Literal["fifo", "priority"] = Field(
        default="fifo", description="queue order: arrival order, or class priority then FIFO"
    )
    preemptive: bool = Field(
        default=False,
        description="priority only: a higher-priority arrival interrupts a lower one (resume)",
    )
    service: Distribution = Field(description="service time")
    service_by_class: dict[Name, Distribution] = Field(
        default_factory=dict, description="service time of particular classes"
    )
    breakdowns: Breakdowns | None = Field(default=None, description="failures and repairs")

    @model_validator(mode="after")
    def _check(self) -> StationSpec:
        if self.preemptive and self.discipline != "priority":
            raise ValueError("preemptive: true needs discipline: priority")
        if isinstance(self.servers, list):
            hours = [s.at for s in self.servers]
            if not hours or len(set(hours)) != len(hours):
                raise ValueError(f"shift hours must be distinct and non-empty (got {hours})")
        return self

    def servers_at(self, hour: float) -> int:
        """Servers on duty at ``hour`` of the day: the latest shift begun by then, or, before
        the day's first, the previous day's last."""
        if isinstance(self.servers, int):
            return self.servers
        shifts = sorted(self.servers, key=lambda s: s.at)
        on = [s for s in shifts if s.at <= hour]
        return (on[-1] if on else shifts[-1]).servers

    def max_servers(self) -> int:
        """The most servers ever on duty."""
        if isinstance(self.servers, int):
            return self.servers
        return max(s.servers for s in self.servers)


class Route(StrictModel):
    """A route that changes the customer's class."""

    p: Probability = Field(description="probability of this route")
    to_class: Name = Field(alias="class", description="the customer's class from then on")


RoutingRow = dict[Name, Probability | Route]


def _p(value: float | Route) -> float:
    return value.p if isinstance(value, Route) else value


class QueueNetworkParams(StrictModel):
    """The ``params:`` section of a queue_network scenario."""

    classes: dict[Name, ClassSpec] = Field(min_length=1, description="customer classes")
    stations: dict[Name, StationSpec] = Field(min_length=1, description="service stations")
    routing: dict[Name, dict[Name, RoutingRow]] = Field(
        description="routing[class][from][to] = p or {p, class}; from: 'arrival' or a station, "
        "to: a station or 'exit'"
    )
    engine: Literal["auto", "simpy", "compiled"] = Field(
        default="auto",
        description="simulation engine: 'compiled' (Numba, fast) or 'simpy' (the reference "
        "semantics); both write the same log for a seed; 'auto' is 'compiled'",
    )

    @model_validator(mode="after")
    def _check_network(self) -> QueueNetworkParams:
        stations, classes = set(self.stations), set(self.classes)
        for name in (ENTRY, EXIT):
            if name in stations:
                raise ValueError(f"stations: {name!r} is reserved (a routing pseudo-station)")
        for sname, st in self.stations.items():
            for c in st.service_by_class:
                if c not in classes:
                    raise ValueError(
                        f"stations.{sname}.service_by_class: unknown class {c!r} "
                        f"(classes: {', '.join(sorted(classes))})"
                    )
        for cname, rows in self.routing.items():
            if cname not in classes:
                raise ValueError(
                    f"routing: unknown class {cname!r} (classes: {', '.join(sorted(classes))})"
                )
            for src, row in rows.items():
                where = f"routing.{cname}.{src}"
                if src != ENTRY and src not in stations:
                    raise ValueError(
                        f"{where}: unknown station {src!r} (a row starts at 'arrival' or one of "
                        f"{', '.join(sorted(stations))})"
                    )
                for dst, value in row.items():
                    if dst != EXIT and dst not in stations:
                        raise ValueError(
                            f"{where}.{dst}: unknown station {dst!r} (routes go to 'exit' or "
                            f"one of {', '.join(sorted(stations))})"
                        )
                    if isinstance(value, Route) and value.to_class not in classes:
                        raise ValueError(
                            f"{where}.{dst}.class: unknown class {value.to_class!r} "
                            f"(classes: {', '.join(sorted(classes))})"
                        )
                check_distribution({k: _p(v) for k, v in row.items()}, where)
        for cname, spec in self.classes.items():
            if spec.arrivals is not None and ENTRY not in self.routing.get(cname, {}):
                raise ValueError(
                    f"routing.{cname}: class {cname!r} arrives but has no 'arrival' row"
                )
        self._check_reachable()
        return self

    def _check_reachable(self) -> None:
        """Walk (class, station) pairs from every arrival stream: each pair reached needs a
        routing row, and each station must be reached by some class."""
        todo = deque((c, ENTRY) for c, spec in self.classes.items() if spec.arrivals is not None)
        seen = set(todo)
        while todo:
            cname, src = todo.popleft()
            row = self.routing.get(cname, {}).get(src)
            if row is None:
                raise ValueError(
                    f"routing.{cname}.{src}: missing (customers of class {cname!r} reach "
                    f"station {src!r} but have no route out of it)"
                )
            for dst, value in row.items():
                nxt = (value.to_class if isinstance(value, Route) else cname, dst)
                if dst != EXIT and _p(value) > 0 and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reached = {s for _, s in seen}
        missing = [s for s in self.stations if s not in reached]
        if missing:
            raise ValueError(
                f"stations: {', '.join(repr(s) for s in missing)} unreachable (no route with "
                "p > 0 leads there from any arrival stream)"
            )


class Surge(StrictModel):
    """A window in which every Poisson arrival stream runs ``multiplier`` times faster."""

    at: NonNegativeDuration = Field(description="start, from the scenario's start")
    duration: Duration = Field(description="length of the surge")
    multiplier: PositiveFloat = Field(description="factor on every Poisson class's rate")


class QueueNetworkRareEvents(StrictModel):
    """The ``rare_events:`` section: arrival surges (breakdowns are per station, in params)."""

    surges: list[Surge] = Field(
        default_factory=list, description="surge windows; their arrivals are labelled 'surge'"
    )
