"""Sensors: a fleet of sensors sampled on a fixed grid, with injected, labelled faults.

Sensors come in groups (``sensor_type``); sensor ``i`` (``entity_id = i``, numbered group by
group) reads, at every sampling instant ``t_k = k * interval`` before the horizon,

    value = level_i + amplitude * cos(2 pi (hour of day(t_k) - peak_hour) / 24) + x_k,
    x_k = phi x_{k-1} + sigma eps_k,   eps_k ~ N(0, 1),

with ``level_i ~ N(level, level_spread^2)`` drawn once per sensor, the hour of day read in UTC
from the scenario's ``start``, and ``x_0 ~ N(0, sigma^2 / (1 - phi^2))``: the AR(1) noise starts
in its stationary law, so there is no burn-in bias (``phi`` is per sampling interval).

Faults (the ``rare_events`` section) start at a Poisson rate per sensor while it is ok; one runs
at a time (lifecycle ``ok -> faulty -> ok``; readings are free). Magnitudes are in units of the
sensor's stationary noise sd ``s = sigma / sqrt(1 - phi^2)`` and drawn per episode, uniform on
``[magnitude_min, magnitude_max]`` with a random sign; durations are exponential:

- ``spike``: the first reading after the start is off by the magnitude; the fault ends at it.
- ``drift``: readings are offset by a linear drift reaching the magnitude at the fault's end.
- ``stuck``: readings repeat the value of the first reading of the episode.
- ``dropout``: *no reading events* at all during the fault (a gap in the log, not nulls).

Log conventions: ``fault_start`` / ``fault_end`` events (``rare_kind`` = the fault kind,
``fault_id`` numbered per replication, null ``value``; the end's ``cause`` is its start) bracket
exactly the readings the fault affects: those at times in ``[start, end)``, or the one reading a
spike hits. Those readings carry ``rare_kind``, ``fault_id`` and ``cause`` = the fault's start.

Time advances in blocks of sampling instants for all sensors (about ``batch_events`` readings),
carrying the noise and the running faults across blocks (kernel :func:`kernels.sensors_block`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Annotated, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, FiniteFloat, StringConstraints, model_validator

from eventforge.events import EventSpec, Lifecycle, categorical, decoded, masked
from eventforge.scenario.types import NonNegativeFloat, PositiveFloat, PositiveInt, StrictModel
from eventforge.scenario.units import Duration, NonNegativeRate
from eventforge.simulators.base import Simulator, Summary
from eventforge.simulators.monte_carlo import kernels

__all__ = ["Sensors", "SensorsParams", "SensorsRareEvents", "sensors_block"]

Name = Annotated[str, StringConstraints(min_length=1)]
#: Fault kinds, in the order of the kernel's codes (and of ``rare_kind``).
FAULT_KINDS = ("spike", "drift", "stuck", "dropout")
_READING, _START, _END = 0, 1, 2


class SensorGroup(StrictModel):
    """Sensors of one type sharing their signal's shape and noise."""

    name: Name = Field(description="Sensor type, unique; written in the `sensor_type` column.")
    count: PositiveInt = Field(description="Number of sensors of this type.")
    level: FiniteFloat = Field(description="Mean level of a sensor's readings.")
    level_spread: NonNegativeFloat = Field(
        default=0.0, description="Standard deviation of the per-sensor level around `level`."
    )
    amplitude: NonNegativeFloat = Field(
        default=0.0, description="Amplitude of the daily cycle (0: no seasonality)."
    )
    peak_hour: FiniteFloat = Field(
        default=15.0, ge=0.0, lt=24.0, description="UTC hour of day at which the daily cycle peaks."
    )
    phi: FiniteFloat = Field(
        gt=-1.0,
        lt=1.0,
        description="AR(1) coefficient of the noise per sampling interval (|phi| < 1).",
    )
    sigma: PositiveFloat = Field(description="Standard deviation of the AR(1) innovations.")


class SensorsParams(StrictModel):
    """The ``params:`` section of a sensors scenario."""

    interval: Duration = Field(description="Time between two readings of a sensor, e.g. 1m.")
    groups: list[SensorGroup] = Field(min_length=1, description="The sensor types of the fleet.")

    @model_validator(mode="after")
    def _unique(self) -> SensorsParams:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"groups: names must be unique (got {names})")
        return self


class _Fault(StrictModel):
    rate: NonNegativeRate = Field(description="Faults of this kind per sensor per time unit (ok).")


class _Magnitude(StrictModel):
    magnitude_min: PositiveFloat = Field(
        default=4.0, description="Smallest magnitude, in stationary noise standard deviations."
    )
    magnitude_max: PositiveFloat = Field(
        default=8.0, description="Largest magnitude, in stationary noise standard deviations."
    )

    @model_validator(mode="after")
    def _ordered(self) -> _Magnitude:
        if self.magnitude_min > self.magnitude_max:
            raise ValueError(
                f"magnitude_min must be <= magnitude_max (got {self.magnitude_min} > "
                f"{self.magnitude_max})"
            )
        return self


class _Lasting(StrictModel):
    mean_duration: Duration = Field(description="Mean duration of a fault (exponential).")


class SpikeFaults(_Fault, _Magnitude):
    """One reading far off."""


class DriftFaults(_Fault, _Magnitude, _Lasting):
    """A linear drift of the readings, reaching its magnitude at the fault's end."""


class StuckFaults(_Fault, _Lasting):
    """Readings frozen at the episode's first value."""


class DropoutFaults(_Fault, _Lasting):
    """No readings at all."""


class SensorsRareEvents(StrictModel):
    """The ``rare_events:`` section: the injected faults (each kind optional, default none)."""

    spike: SpikeFaults | None = Field(default=None, description="Spikes: one reading far off.")
    drift: DriftFaults | None = Field(default=None, description="Linear drifts.")
    stuck: StuckFaults | None = Field(default=None, description="Readings stuck at one value.")
    dropout: DropoutFaults | None = Field(default=None, description="Gaps without readings.")


class _Fleet:
    """The fleet's constants and state as the kernel wants them (contiguous arrays)."""

    def __init__(
        self,
        p: SensorsParams,
        f: SensorsRareEvents,
        start_hour: float,
        unit_s: float,
        rng: np.random.Generator,
    ) -> None:
        group = np.repeat(np.arange(len(p.groups)), [g.count for g in p.groups])
        n = group.shape[0]
        self.group = group
        self.interval = p.interval
        g = p.groups
        self.phi = np.array([g[k].phi for k in group])
        self.sigma = np.array([g[k].sigma for k in group])
        self.sd = self.sigma / np.sqrt(1.0 - self.phi**2)
        self.amplitude = np.array([g[k].amplitude for k in group])
        self.omega = 2.0 * math.pi * unit_s / 86400.0
        self.phase = np.array([2.0 * math.pi * (start_hour - g[k].peak_hour) / 24.0 for k in group])
        spread = np.array([g[k].level_spread for k in group])
        self.level = np.array([g[k].level for k in group]) + spread * rng.standard_normal(n)
        self.x = self.sd * rng.standard_normal(n)  # the stationary law: no burn-in
        faults = [getattr(f, name) for name in FAULT_KINDS]
        rates = np.array([0.0 if x is None else x.rate for x in faults])
        self.fault_rate = float(rates.sum())
        self.fault_cum = np.cumsum(rates) / self.fault_rate if self.fault_rate else np.ones(4)
        if self.fault_rate:
            self.fault_cum[np.flatnonzero(rates)[-1] :] = 1.0  # rounding slack to the last kind
        # Kinds without a magnitude or a duration get 0.0: the kernel never reads those slots.
        self.magnitude_lo = np.array([getattr(x, "magnitude_min", 0.0) for x in faults])
        self.magnitude_hi = np.array([getattr(x, "magnitude_max", 0.0) for x in faults])
        self.mean_duration = np.array([getattr(x, "mean_duration", 0.0) for x in faults])
        self.kind = np.full(n, -1, dtype=np.int64)
        self.next_time = (
            rng.exponential(1.0 / self.fault_rate, n) if self.fault_rate else np.full(n, np.inf)
        )
        self.fault_start = np.zeros(n)
        self.fault_param = np.zeros(n)
        self.fault_id = np.full(n, -1, dtype=np.int64)
        self.fault_seq = np.full(n, -1, dtype=np.int64)
        self.counter = np.zeros(1, dtype=np.int64)


def sensors_block(
    k0: int, k1: int, tail_until: float, seq0: int, fleet: _Fleet, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Typed wrapper of :func:`kernels.sensors_block`; updates the fleet's state in place."""
    return kernels.sensors_block(
        int(k0),
        int(k1),
        float(fleet.interval),
        float(tail_until),
        int(seq0),
        fleet.level,
        fleet.amplitude,
        float(fleet.omega),
        fleet.phase,
        fleet.phi,
        fleet.sigma,
        fleet.sd,
        fleet.fault_cum,
        fleet.fault_rate,
        fleet.magnitude_lo,
        fleet.magnitude_hi,
        fleet.mean_duration,
        fleet.x,
        fleet.kind,
        fleet.next_time,
        fleet.fault_start,
        fleet.fault_param,
        fleet.fault_id,
        fleet.fault_seq,
        fleet.counter,
        rng,
    )


def sampling_instants(horizon: float, interval: float) -> int:
    """The number of instants ``k * interval`` strictly before ``horizon`` (computed exactly as
    the kernel computes each instant, so no rounding adds or drops one)."""
    n = math.ceil(horizon / interval)
    while n > 0 and (n - 1) * interval >= horizon:
        n -= 1
    while n * interval < horizon:
        n += 1
    return n


class Sensors(Simulator):
    """A sensor fleet: daily cycle plus AR(1) noise, with spike, drift, stuck and dropout faults."""

    name: ClassVar[str] = "sensors"
    description: ClassVar[str] = (
        "sensor fleet on a sampling grid: daily cycle, AR(1) noise, labelled injected faults"
    )
    Params = SensorsParams
    RareEvents = SensorsRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=("reading", "fault_start", "fault_end"),
        rare_kinds=FAULT_KINDS,
        columns=(
            pa.field("sensor_type", pa.dictionary(pa.int32(), pa.string()), nullable=False),
            pa.field("value", pa.float64(), nullable=True),
            pa.field("fault_id", pa.int64(), nullable=True),
        ),
        lifecycle=Lifecycle(
            initial="ok",
            transitions={("ok", "fault_start"): "faulty", ("faulty", "fault_end"): "ok"},
            free=frozenset({"reading"}),
        ),
        descriptions={
            "sensor_type": "the sensor's group name",
            "value": "the reading (null for fault events)",
            "fault_id": "the fault affecting the event, numbered per replication (null: none)",
        },
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        p: SensorsParams = self.params  # type: ignore[assignment]
        f: SensorsRareEvents = self.rare_events  # type: ignore[assignment]
        ctx = self.ctx
        start = ctx.start if ctx.start.tzinfo else ctx.start.replace(tzinfo=UTC)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        start_hour = (start - midnight).total_seconds() / 3600.0
        fleet = _Fleet(p, f, start_hour, ctx.time_unit_s, self.rng)
        self._fleet = fleet
        self._types = [g.name for g in p.groups]
        self._events = np.zeros(3, dtype=np.int64)
        self._starts = np.zeros(len(FAULT_KINDS), dtype=np.int64)
        self._rare_readings = np.zeros(len(FAULT_KINDS), dtype=np.int64)
        n_steps = sampling_instants(ctx.horizon, p.interval)
        # Expected events per instant: a reading per sensor plus fault starts and ends.
        per_instant = fleet.group.shape[0] * (1.0 + 2.0 * fleet.fault_rate * p.interval)
        per_block = max(1, int(ctx.batch_events / per_instant))
        k0 = 0
        while True:
            k1 = min(n_steps, k0 + per_block)
            last = k1 == n_steps
            out = sensors_block(
                k0, k1, ctx.horizon if last else -math.inf, self.builder.next_seq, fleet, self.rng
            )
            time, entity, event, value, fault_id, rare_kind, cause = out
            self._events += np.bincount(event, minlength=3)
            self._starts += np.bincount(rare_kind[event == _START], minlength=len(FAULT_KINDS))
            faulty = (event == _READING) & (rare_kind >= 0)
            self._rare_readings += np.bincount(rare_kind[faulty], minlength=len(FAULT_KINDS))
            for a in range(0, time.shape[0], ctx.batch_events):
                b = a + ctx.batch_events
                yield self.builder.build(
                    time[a:b],
                    entity[a:b],
                    event[a:b],
                    cause=cause[a:b],
                    rare_kind=rare_kind[a:b],
                    columns={
                        "sensor_type": categorical(fleet.group[entity[a:b]], self._types),
                        "value": masked(value[a:b], np.isnan(value[a:b])),
                        "fault_id": masked(fault_id[a:b], fault_id[a:b] < 0),
                    },
                )
            if last:
                break
            k0 = k1

    def summary(self) -> Summary:
        """Events by type; per fault kind: faults started, readings labelled, faults still
        running at the horizon (the sensors' lifecycle state), as the model tracked them."""
        out: Summary = {
            f"events.{e}": int(c) for e, c in zip(self.spec.vocabulary, self._events, strict=True)
        }
        active = np.bincount(self._fleet.kind[self._fleet.kind >= 0], minlength=len(FAULT_KINDS))
        for j, kind in enumerate(FAULT_KINDS):
            out[f"faults.{kind}"] = int(self._starts[j])
            out[f"rare_readings.{kind}"] = int(self._rare_readings[j])
            out[f"active.{kind}"] = int(active[j])
        return out

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        """The summary recomputed from the log: counts by ``event`` and ``rare_kind``, and each
        sensor's running fault from its ``fault_start`` / ``fault_end`` events."""
        out: Summary = {f"events.{e}": 0 for e in cls.spec.vocabulary}
        for name in FAULT_KINDS:
            out[f"faults.{name}"] = out[f"rare_readings.{name}"] = 0
        running: dict[int, str] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            event = decoded(batch.column("event"))
            kind = decoded(batch.column("rare_kind"))
            for name in cls.spec.vocabulary:
                out[f"events.{name}"] += int(np.count_nonzero(event == name))
            for name in FAULT_KINDS:
                out[f"faults.{name}"] += int(
                    np.count_nonzero((event == "fault_start") & (kind == name))
                )
                out[f"rare_readings.{name}"] += int(
                    np.count_nonzero((event == "reading") & (kind == name))
                )
            faults = np.flatnonzero(event != "reading")
            entity = batch.column("entity_id").to_numpy()
            for k in faults:  # few: fault events are rare
                if event[k] == "fault_start":
                    running[int(entity[k])] = str(kind[k])
                else:
                    running.pop(int(entity[k]), None)
        for name in FAULT_KINDS:
            out[f"active.{name}"] = sum(1 for v in running.values() if v == name)
        return out
