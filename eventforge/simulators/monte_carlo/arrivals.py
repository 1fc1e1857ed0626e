"""Arrivals: a population of entities emitting events as non-homogeneous Poisson processes.

Entity ``i`` (a customer, a device) emits events at the rate

    rate_i(t) = rate * activity_i * daily(hour of day) * weekly(day of week) * trend(t) * shock(t)

where ``activity_i`` is gamma distributed with mean 1 and the configured coefficient of variation
(0: identical entities); ``daily`` (24 values, hour 0 first) and ``weekly`` (7 values, Monday
first) are normalised to mean 1, read in UTC wall-clock time from the scenario's ``start``, so
``rate`` is each entity's mean rate over a week; ``trend(t) = (1 + growth) ** (t / per)`` is
*exponential* growth (a constant relative change per ``per``); ``shock(t)`` is the product of the
multipliers of the active flash crowds, and 0 inside an outage.

Simulation is exact: the intensity is ``c_k * exp(g t)`` on pieces cut at every wall-clock hour
and episode boundary, so per piece a Poisson count and sorted times by inverse CDF (kernel
:func:`kernels.arrivals_events`); entities are drawn by activity weight (Poisson splitting)
from an alias table.
Time advances a week at a time, cut into batches of about ``batch_events`` expected events.

Log conventions: entity events are ``arrival`` with ``event_type``, ``channel`` and ``amount``
(lognormal per type); those inside a flash crowd are labelled ``rare_kind = "flash_crowd"``.
Outages are system events ``outage_start`` / ``outage_end`` with ``entity_id = -1`` and
``rare_kind = "outage"`` (the end's ``cause`` is its start); overlapping outages are merged into
one, and no entity event falls inside an outage. Episodes are few (their rate times the horizon),
so they are drawn up front; events are generated chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Annotated, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import AfterValidator, Field, StringConstraints, field_validator

from eventforge.events import EventSpec, Lifecycle, categorical, dictionary_counts, masked
from eventforge.scenario.types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
    check_distribution,
)
from eventforge.scenario.units import (
    Duration,
    NonNegativeDuration,
    NonNegativeRate,
    Rate,
    Trend,
)
from eventforge.simulators.base import Simulator, Summary
from eventforge.simulators.monte_carlo import kernels
from eventforge.simulators.monte_carlo.sampling import alias_table, cumulative, week_profile

__all__ = ["Arrivals", "ArrivalsParams", "ArrivalsRareEvents", "arrivals_events"]

Name = Annotated[str, StringConstraints(min_length=1)]


def _not_all_zero(values: list[float]) -> list[float]:
    if not any(values):
        raise ValueError("must not be all zero (the rate would be zero throughout)")
    return values


def _profile(length: int, what: str) -> object:
    return Field(
        default_factory=lambda: [1.0] * length,
        min_length=length,
        max_length=length,
        description=f"{length} non-negative multipliers, one per {what}; normalised to mean 1",
    )


Profile = Annotated[list[NonNegativeFloat], AfterValidator(_not_all_zero)]


class EventType(StrictModel):
    """One type of entity event and its amount distribution."""

    probability: Probability = Field(description="share of events of this type")
    median_amount: PositiveFloat = Field(description="median of the lognormal amount")
    amount_sigma: NonNegativeFloat = Field(
        default=1.0, description="log-standard deviation of the amount (0: always the median)"
    )


class ArrivalsParams(StrictModel):
    """The ``params:`` section of an arrivals scenario."""

    entities: PositiveInt = Field(description="population size (customers, devices)")
    rate: Rate = Field(description="mean events per entity per time unit, e.g. '2/d'")
    activity_cv: NonNegativeFloat = Field(
        default=0.0,
        description="coefficient of variation of the gamma per-entity activity (0: identical)",
    )
    daily_profile: Profile = _profile(24, "hour of the day (UTC, hour 0 first)")  # type: ignore[assignment]
    weekly_profile: Profile = _profile(7, "day of the week (UTC, Monday first)")  # type: ignore[assignment]
    trend: Trend | None = Field(default=None, description="exponential growth of every rate")
    types: dict[Name, EventType] = Field(description="event types: probability and amount")
    channels: dict[Name, Probability] = Field(
        default_factory=lambda: {"web": 1.0}, description="channel name -> probability"
    )

    @field_validator("types")
    @classmethod
    def _types_sum_to_one(cls, value: dict[str, EventType]) -> dict[str, EventType]:
        check_distribution({k: t.probability for k, t in value.items()}, "event type")
        return value

    @field_validator("channels")
    @classmethod
    def _channels_sum_to_one(cls, value: dict[str, float]) -> dict[str, float]:
        check_distribution(value, "channel")
        return value


class FlashWindow(StrictModel):
    """A flash crowd at a fixed time."""

    at: NonNegativeDuration = Field(description="start, from the scenario's start")
    duration: Duration = Field(description="length of the episode")
    multiplier: PositiveFloat = Field(description="factor applied to every entity's rate")


class RandomFlashCrowds(StrictModel):
    """Flash crowds starting as a Poisson process."""

    rate: NonNegativeRate = Field(description="episodes per time unit, e.g. '1/14d'")
    duration: Duration = Field(description="length of each episode")
    multiplier: PositiveFloat = Field(description="factor applied to every entity's rate")


class FlashCrowds(StrictModel):
    """Rate surges; their events are labelled ``flash_crowd``."""

    windows: list[FlashWindow] = Field(default_factory=list, description="fixed episodes")
    random: RandomFlashCrowds | None = Field(default=None, description="random episodes")


class OutageWindow(StrictModel):
    """An outage at a fixed time."""

    at: NonNegativeDuration = Field(description="start, from the scenario's start")
    duration: Duration = Field(description="length of the outage")


class RandomOutages(StrictModel):
    """Outages starting as a Poisson process."""

    rate: NonNegativeRate = Field(description="outages per time unit, e.g. '1/30d'")
    duration: Duration = Field(description="length of each outage")


class Outages(StrictModel):
    """Windows of zero rate, logged as ``outage_start`` / ``outage_end``."""

    windows: list[OutageWindow] = Field(default_factory=list, description="fixed outages")
    random: RandomOutages | None = Field(default=None, description="random outages")


class ArrivalsRareEvents(StrictModel):
    """The ``rare_events:`` section of an arrivals scenario."""

    flash_crowds: FlashCrowds = Field(default_factory=FlashCrowds, description="rate surges")
    outages: Outages = Field(default_factory=Outages, description="zero-rate windows")


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
    """Typed wrapper of :func:`kernels.arrivals_events` (its only caller): fixes dtypes."""

    def f64(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    return kernels.arrivals_events(
        f64(piece_start),
        f64(piece_end),
        f64(piece_mean),
        float(growth),
        f64(entity_prob),
        np.ascontiguousarray(entity_alias, dtype=np.int64),
        f64(type_cum),
        f64(type_log_median),
        f64(type_sigma),
        f64(channel_cum),
        rng,
    )


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals ``[starts, ends)`` as sorted disjoint intervals."""
    order = np.argsort(starts, kind="stable")
    merged: list[list[float]] = []
    for s, e in zip(starts[order].tolist(), ends[order].tolist(), strict=True):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out = np.array(merged, dtype=np.float64).reshape(-1, 2)
    return out[:, 0].copy(), out[:, 1].copy()


class Arrivals(Simulator):
    """Entities emitting events as non-homogeneous Poisson processes (see the module doc)."""

    name: ClassVar[str] = "arrivals"
    description: ClassVar[str] = (
        "customers or devices emitting events: daily/weekly profiles, trend, flash crowds, outages"
    )
    Params: ClassVar[type[StrictModel]] = ArrivalsParams
    RareEvents: ClassVar[type[StrictModel]] = ArrivalsRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=("arrival", "outage_start", "outage_end"),
        rare_kinds=("flash_crowd", "outage"),
        columns=(
            pa.field("event_type", pa.dictionary(pa.int32(), pa.string()), nullable=True),
            pa.field("channel", pa.dictionary(pa.int32(), pa.string()), nullable=True),
            pa.field("amount", pa.float64(), nullable=True),
        ),
        # Entity -1 (the system) alternates up/down; an arrival may happen in any state of its
        # own entity (customers have no states), but never inside an outage (tested).
        lifecycle=Lifecycle(
            initial="up",
            transitions={("up", "outage_start"): "down", ("down", "outage_end"): "up"},
            free=frozenset({"arrival"}),
        ),
        descriptions={
            "event_type": "configured event type of an arrival (null for system events)",
            "channel": "channel of an arrival (null for system events)",
            "amount": "lognormal amount of an arrival (null for system events)",
        },
    )

    _WEEK_HOURS = 168

    def run(self) -> Iterator[pa.RecordBatch]:
        p: ArrivalsParams = self.params  # type: ignore[assignment]
        rare: ArrivalsRareEvents = self.rare_events  # type: ignore[assignment]
        ctx, rng = self.ctx, self.rng
        horizon = ctx.horizon
        hour = 3600.0 / ctx.time_unit_s
        start = ctx.start.astimezone(UTC) if ctx.start.tzinfo else ctx.start
        week_hour0 = start.weekday() * 24 + start.hour
        # Time of the wall-clock hour boundary at or before t = 0.
        self._b0 = -(start.minute * 60 + start.second + start.microsecond / 1e6) / 3600.0 * hour
        self._hour, self._week_hour0 = hour, week_hour0
        self._profile = week_profile(p.daily_profile, p.weekly_profile)
        self._growth = 0.0 if p.trend is None else math.log1p(p.trend.growth) / p.trend.per

        if p.activity_cv > 0:
            shape = 1.0 / p.activity_cv**2
            activity = rng.gamma(shape, 1.0 / shape, size=p.entities)
        else:
            activity = np.ones(p.entities)
        self._total_rate = p.rate * float(activity.sum())
        # An alias table: O(1) entity draws, whatever the population (see alias_table).
        entity_prob, entity_alias = alias_table(activity)
        names = list(p.types)
        type_cum = cumulative(np.array([p.types[n].probability for n in names]))
        type_mu = np.log([p.types[n].median_amount for n in names])
        type_sigma = np.array([p.types[n].amount_sigma for n in names])
        channels = list(p.channels)
        channel_cum = cumulative(np.array([p.channels[c] for c in channels]))
        self._draw_episodes(rare, horizon, rng)

        self._counts = {"events": 0, "arrivals": 0, "flash_crowd_events": 0}
        self._counts |= {"outages": 0, "outages_ended": 0}
        self._by_type: dict[str, int] = {}
        self._by_channel: dict[str, int] = {}
        self._amount: dict[str, float] = {}
        self._seen = np.zeros(p.entities, dtype=bool)
        self._down = False
        self._start_seq = -1
        arrival, o_start, o_end = (self.spec.code(e) for e in self.spec.vocabulary)
        outage_kind = self.spec.rare_code("outage")
        flash_kind = self.spec.rare_code("flash_crowd")
        target = max(1.0, float(ctx.batch_events))

        window = self._WEEK_HOURS * hour
        a = 0.0
        while a < horizon:
            b = min(horizon, a + window)
            ps, pe, mean, flash = self._pieces(a, b, target)
            # Batches of about `target` expected events: cut where the running mean crosses.
            cum = np.cumsum(mean)
            group = np.floor((cum - mean) / (0.75 * target)).astype(np.int64)
            cuts = np.flatnonzero(np.diff(group)) + 1
            for idx in np.split(np.arange(len(ps)), cuts):
                ga, gb = ps[idx[0]], pe[idx[-1]]
                t, piece, ent, etype, chan, amount = arrivals_events(
                    ps[idx], pe[idx], mean[idx], self._growth, entity_prob, entity_alias,
                    type_cum, type_mu, type_sigma, channel_cum, rng,
                )  # fmt: skip
                sys_t, sys_e = self._system_events(ga, gb, horizon)
                n, m = len(t), len(sys_t)
                if n + m == 0:
                    continue
                # System events sit on piece edges, entity events strictly inside pieces.
                pos = np.searchsorted(t, sys_t, side="left") + np.arange(m)
                is_sys = np.zeros(n + m, dtype=bool)
                is_sys[pos] = True
                time = np.empty(n + m)
                time[is_sys], time[~is_sys] = sys_t, t
                event = np.full(n + m, arrival, dtype=np.int32)
                event[pos] = np.where(sys_e, o_start, o_end)
                kind = np.full(n + m, -1, dtype=np.int32)
                kind[~is_sys] = np.where(flash[idx][piece], flash_kind, -1)
                kind[pos] = outage_kind
                entity = np.full(n + m, -1, dtype=np.int64)
                entity[~is_sys] = ent
                cause = np.full(n + m, -1, dtype=np.int64)
                for j, is_start in zip(pos.tolist(), sys_e.tolist(), strict=True):
                    if is_start:
                        self._start_seq = self.builder.next_seq + j
                    else:
                        cause[j] = self._start_seq
                codes_t = np.full(n + m, -1, dtype=np.int32)
                codes_t[~is_sys] = etype
                codes_c = np.full(n + m, -1, dtype=np.int32)
                codes_c[~is_sys] = chan
                amounts = np.full(n + m, np.nan)
                amounts[~is_sys] = amount
                self._tally(names, channels, etype, chan, amount, ent, kind, sys_e)
                yield self.builder.build(
                    time,
                    entity,
                    event,
                    cause=cause,
                    rare_kind=kind,
                    columns={
                        "event_type": categorical(codes_t, names),
                        "channel": categorical(codes_c, channels),
                        "amount": masked(amounts, is_sys),
                    },
                )
            a = b

    def _draw_episodes(
        self, rare: ArrivalsRareEvents, horizon: float, rng: np.random.Generator
    ) -> None:
        """Flash crowds as (start, end, multiplier) arrays; outages merged into disjoint windows."""
        fc, out = rare.flash_crowds, rare.outages
        f = [(w.at, w.at + w.duration, w.multiplier) for w in fc.windows]
        if fc.random is not None:
            r = fc.random
            for s in np.sort(rng.uniform(0.0, horizon, rng.poisson(r.rate * horizon))).tolist():
                f.append((s, s + r.duration, r.multiplier))
        fa = np.array(f, dtype=np.float64).reshape(-1, 3)
        self._flash = fa[fa[:, 0] < horizon]
        o = [(w.at, w.at + w.duration) for w in out.windows]
        if out.random is not None:
            r2 = out.random
            for s in np.sort(rng.uniform(0.0, horizon, rng.poisson(r2.rate * horizon))).tolist():
                o.append((s, s + r2.duration))
        oa = np.array(o, dtype=np.float64).reshape(-1, 2)
        oa = oa[oa[:, 0] < horizon]
        self._out_start, self._out_end = _merge(oa[:, 0], oa[:, 1])

    def _pieces(
        self, a: float, b: float, target: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pieces of ``[a, b)`` on which the intensity is ``c exp(g t)``: their bounds, expected
        event count and whether a flash crowd is active. A piece expecting more than
        ``target / 4`` events is split evenly so that batches stay near ``target``."""
        hour, b0 = self._hour, self._b0
        k = np.arange(math.floor((a - b0) / hour) + 1, math.ceil((b - b0) / hour))
        fl, os_, oe = self._flash, self._out_start, self._out_end
        edges = np.concatenate(([a, b], b0 + k * hour, fl[:, 0], fl[:, 1], os_, oe))
        edges = np.unique(edges[(edges >= a) & (edges <= b)])
        ps, pe = edges[:-1], edges[1:]
        mid = 0.5 * (ps + pe)
        week_hour = (self._week_hour0 + np.floor((mid - b0) / hour).astype(np.int64)) % 168
        active = (fl[:, 0, None] <= mid) & (mid < fl[:, 1, None])
        mult = np.prod(np.where(active, fl[:, 2, None], 1.0), axis=0)
        down = ((os_[:, None] <= mid) & (mid < oe[:, None])).any(axis=0)
        level = self._total_rate * self._profile[week_hour] * mult * ~down
        parts = np.maximum(1, np.ceil(level * self._trend_integral(ps, pe) / (target / 4)))
        parts = parts.astype(np.int64)
        src = np.repeat(np.arange(len(ps)), parts)
        j = np.arange(len(src)) - np.repeat(np.cumsum(parts) - parts, parts)
        width = (pe - ps)[src] / parts[src]
        sub_s = ps[src] + j * width
        sub_e = np.where(j + 1 == parts[src], pe[src], sub_s + width)
        mean = level[src] * self._trend_integral(sub_s, sub_e)
        flash = np.asarray(active.any(axis=0))
        return sub_s, sub_e, mean, flash[src]

    def _trend_integral(self, s: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Integral of ``exp(g t)`` over ``[s, e)``."""
        g = self._growth
        if g == 0.0:
            return e - s
        return np.exp(g * s) * np.expm1(g * (e - s)) / g

    def _system_events(self, ga: float, gb: float, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """Outage starts and ends in ``[ga, gb)`` (before the horizon), in time order;
        the second array is True for a start."""
        s = self._out_start[(self._out_start >= ga) & (self._out_start < gb)]
        e = self._out_end[(self._out_end >= ga) & (self._out_end < min(gb, horizon))]
        times = np.concatenate((s, e))
        is_start = np.concatenate((np.ones(len(s), dtype=bool), np.zeros(len(e), dtype=bool)))
        order = np.argsort(times, kind="stable")
        return times[order], is_start[order]

    def _tally(
        self,
        names: list[str],
        channels: list[str],
        etype: np.ndarray,
        chan: np.ndarray,
        amount: np.ndarray,
        entity: np.ndarray,
        kind: np.ndarray,
        sys_start: np.ndarray,
    ) -> None:
        c = self._counts
        c["events"] += len(kind)
        c["arrivals"] += len(etype)
        c["flash_crowd_events"] += int((kind == self.spec.rare_code("flash_crowd")).sum())
        c["outages"] += int(sys_start.sum())
        c["outages_ended"] += int((~sys_start).sum())
        if len(sys_start):
            self._down = bool(sys_start[-1])
        for i, n in enumerate(np.bincount(etype, minlength=len(names)).tolist()):
            if n:
                self._by_type[names[i]] = self._by_type.get(names[i], 0) + n
                total = float(amount[etype == i].sum())
                self._amount[names[i]] = self._amount.get(names[i], 0.0) + total
        for i, n in enumerate(np.bincount(chan, minlength=len(channels)).tolist()):
            if n:
                self._by_channel[channels[i]] = self._by_channel.get(channels[i], 0) + n
        self._seen[entity] = True

    def summary(self) -> Summary:
        """Event counts (total, per type, per channel, flash-crowd labelled), amount totals per
        type, outages started and ended, whether the system is down at the end, and how many
        distinct entities emitted."""
        out: Summary = dict(self._counts)
        out |= {f"type.{k}": v for k, v in self._by_type.items()}
        out |= {f"amount.{k}": v for k, v in self._amount.items()}
        out |= {f"channel.{k}": v for k, v in self._by_channel.items()}
        out["down_at_end"] = int(self._down)
        out["active_entities"] = int(self._seen.sum())
        return out

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        counts = {"events": 0, "arrivals": 0, "flash_crowd_events": 0}
        counts |= {"outages": 0, "outages_ended": 0}
        by_type: dict[str, int] = {}
        by_channel: dict[str, int] = {}
        amount: dict[str, float] = {}
        seen: set[int] = set()
        down = False
        for batch in batches:
            events = dictionary_counts(batch.column("event"))
            counts["events"] += batch.num_rows
            counts["arrivals"] += events.get("arrival", 0)
            counts["outages"] += events.get("outage_start", 0)
            counts["outages_ended"] += events.get("outage_end", 0)
            rare = dictionary_counts(batch.column("rare_kind"))
            counts["flash_crowd_events"] += rare.get("flash_crowd", 0)
            for k, v in dictionary_counts(batch.column("event_type")).items():
                by_type[k] = by_type.get(k, 0) + v
            for k, v in dictionary_counts(batch.column("channel")).items():
                by_channel[k] = by_channel.get(k, 0) + v
            etype = batch.column("event_type")
            values = np.asarray(batch.column("amount").fill_null(0.0))
            codes = etype.indices.fill_null(-1).to_numpy()
            for i, name in enumerate(etype.dictionary.to_pylist()):
                if (codes == i).any():
                    amount[name] = amount.get(name, 0.0) + float(values[codes == i].sum())
            entity = np.asarray(batch.column("entity_id"))
            seen.update(np.unique(entity[entity >= 0]).tolist())
            names = batch.column("event").dictionary.to_pylist()
            sys_codes = [names.index(e) for e in ("outage_start", "outage_end") if e in names]
            ev = batch.column("event").indices.to_numpy()
            last = ev[np.isin(ev, sys_codes)]
            if len(last):
                down = names[last[-1]] == "outage_start"
        out: Summary = dict(counts)
        out |= {f"type.{k}": v for k, v in by_type.items()}
        out |= {f"amount.{k}": v for k, v in amount.items()}
        out |= {f"channel.{k}": v for k, v in by_channel.items()}
        out["down_at_end"] = int(down)
        out["active_entities"] = len(seen)
        return out
