"""Hawkes: self-exciting bursts of events over many streams (e.g. security alerts per host).

Stream ``i`` has immigrant (baseline) rate ``mu_i``, gamma distributed around
``baseline_rate`` with the configured coefficient of variation (0: identical streams). Every
event excites further events through the kernel ``phi(t) = n beta exp(-beta t)``: branching
ratio ``n`` (the mean number of children) and ``1 / beta = mean_delay``. A child lands on another
stream with probability ``spread_probability`` (uniformly, or a ring neighbour: lateral movement).

Simulation uses the cluster (branching) representation, exact for this kernel: immigrants are a
Poisson process; each event has Poisson(n) children at Exp(beta) delays (kernel
:func:`kernels.hawkes_clusters`). Each cluster is generated whole when its immigrant is drawn;
its events wait in a pending pool until time reaches them, so causes always point backwards,
and memory holds the clusters in flight, not the log. Time advances in windows expected to hold
``batch_events`` events; batches never exceed ``batch_events`` rows.

Log conventions: every event is an ``alert`` with ``cause`` = its parent's seq (null for an
immigrant), ``generation`` (0 for an immigrant), ``cluster`` (a cluster number, increasing with
the immigrant's time) and ``cluster_size`` (events of the cluster before the horizon). All events
of a cluster of at least ``rare_events.cascade_threshold`` events are labelled
``rare_kind = "cascade"``. Marks: categorical ``severity`` and ``alert_type`` (a child keeps its
parent's type with probability ``type_inheritance``), lognormal ``score``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, FiniteFloat, ValidationInfo, field_validator

from eventforge.events import EventSpec, categorical, dictionary_counts
from eventforge.scenario.types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
    check_distribution,
)
from eventforge.scenario.units import Duration, Rate
from eventforge.simulators.base import Simulator, Summary
from eventforge.simulators.monte_carlo import kernels
from eventforge.simulators.monte_carlo.arrivals import Name
from eventforge.simulators.monte_carlo.sampling import cumulative

__all__ = ["Hawkes", "HawkesParams", "HawkesRareEvents", "hawkes_clusters"]

Columns = dict[str, np.ndarray]


class HawkesParams(StrictModel):
    """The ``params:`` section of a hawkes scenario."""

    streams: PositiveInt = Field(description="number of streams (hosts, accounts)")
    baseline_rate: Rate = Field(description="mean immigrant events per stream, e.g. '1/6h'")
    baseline_cv: NonNegativeFloat = Field(
        default=0.0, description="coefficient of variation of the gamma per-stream baseline"
    )
    branching_ratio: FiniteFloat = Field(
        ge=0.0, description="mean children per event, in [0, 1): the share of triggered events"
    )
    mean_delay: Duration = Field(description="mean parent-to-child delay (1 / beta), e.g. '10m'")
    spread_probability: Probability = Field(
        default=0.0, description="probability that a child lands on another stream"
    )
    spread_rule: Literal["uniform", "neighbour"] = Field(
        default="uniform",
        description="target of a spreading child: any other stream, or a ring neighbour (i +- 1)",
    )
    severities: dict[Name, Probability] = Field(
        default_factory=lambda: {"low": 0.7, "medium": 0.25, "high": 0.05},
        description="severity name -> probability",
    )
    alert_types: dict[Name, Probability] = Field(
        default_factory=lambda: {"alert": 1.0}, description="alert type name -> probability"
    )
    type_inheritance: Probability = Field(
        default=0.0, description="probability that a child keeps its parent's alert type"
    )
    score_median: PositiveFloat = Field(default=1.0, description="median of the lognormal score")
    score_sigma: NonNegativeFloat = Field(
        default=0.5, description="log-standard deviation of the score"
    )

    @field_validator("branching_ratio")
    @classmethod
    def _subcritical(cls, value: float) -> float:
        if value >= 1.0:
            raise ValueError(
                f"must be < 1 (got {value:g}): at n >= 1 an event has on average one child or "
                "more, so clusters are infinite with positive probability and the rate explodes"
            )
        return value

    @field_validator("spread_probability")
    @classmethod
    def _spread_needs_streams(cls, value: float, info: ValidationInfo) -> float:
        streams = info.data.get("streams")
        if value > 0 and streams == 1:
            raise ValueError(f"must be 0 with a single stream (got {value:g})")
        return value

    @field_validator("severities", "alert_types")
    @classmethod
    def _sum_to_one(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        check_distribution(value, str(info.field_name))
        return value


class HawkesRareEvents(StrictModel):
    """The ``rare_events:`` section of a hawkes scenario."""

    cascade_threshold: PositiveInt = Field(
        default=20, description="a cluster with at least this many events is a cascade"
    )


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
    """Typed wrapper of :func:`kernels.hawkes_clusters` (its only caller): fixes dtypes."""
    return kernels.hawkes_clusters(
        float(t0),
        float(t1),
        float(horizon),
        np.ascontiguousarray(stream_cum, dtype=np.float64),
        float(total_rate),
        float(branching),
        float(mean_delay),
        float(spread_p),
        bool(spread_neighbour),
        np.ascontiguousarray(severity_cum, dtype=np.float64),
        np.ascontiguousarray(type_cum, dtype=np.float64),
        float(inherit_type),
        float(score_log_median),
        float(score_sigma),
        rng,
    )


def _take(cols: Columns, index: np.ndarray) -> Columns:
    return {k: v[index] for k, v in cols.items()}


def _link(cols: Columns, uid: np.ndarray, seq: np.ndarray) -> None:
    """Set ``cause`` of the events of ``cols`` whose parent is among (``uid``, ``seq``)."""
    if not len(uid):
        return
    order = np.argsort(uid)
    sorted_uid = uid[order]
    parent = cols["parent_uid"]
    pos = np.minimum(np.searchsorted(sorted_uid, parent), len(uid) - 1)
    found = (parent >= 0) & (sorted_uid[pos] == parent)
    cols["cause"][found] = seq[order[pos[found]]]


class Hawkes(Simulator):
    """Self-exciting event streams by the cluster representation (see the module doc)."""

    name: ClassVar[str] = "hawkes"
    description: ClassVar[str] = (
        "self-exciting alert bursts over many streams, with spread and labelled cascades"
    )
    Params: ClassVar[type[StrictModel]] = HawkesParams
    RareEvents: ClassVar[type[StrictModel]] = HawkesRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=("alert",),
        rare_kinds=("cascade",),
        columns=(
            pa.field("severity", pa.dictionary(pa.int32(), pa.string()), nullable=False),
            pa.field("alert_type", pa.dictionary(pa.int32(), pa.string()), nullable=False),
            pa.field("score", pa.float64(), nullable=False),
            pa.field("generation", pa.int32(), nullable=False),
            pa.field("cluster", pa.int64(), nullable=False),
            pa.field("cluster_size", pa.int64(), nullable=False),
        ),
        descriptions={
            "severity": "severity of the alert",
            "alert_type": "type of the alert (children may inherit their parent's)",
            "score": "lognormal score of the alert",
            "generation": "0 for an immigrant, parent's generation + 1 for a triggered event",
            "cluster": "cluster number, increasing with the immigrant's time",
            "cluster_size": "events of the cluster before the horizon",
        },
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        p: HawkesParams = self.params  # type: ignore[assignment]
        threshold = self.rare_events.cascade_threshold  # type: ignore[attr-defined]
        ctx, rng = self.ctx, self.rng
        if p.baseline_cv > 0:
            shape = 1.0 / p.baseline_cv**2
            mu = p.baseline_rate * rng.gamma(shape, 1.0 / shape, size=p.streams)
        else:
            mu = np.full(p.streams, p.baseline_rate)
        total_rate = float(mu.sum())
        stream_cum = cumulative(mu)
        severities, types = list(p.severities), list(p.alert_types)
        severity_cum = cumulative(np.array(list(p.severities.values())))
        type_cum = cumulative(np.array(list(p.alert_types.values())))
        cascade = self.spec.rare_code("cascade")
        self._counts = {"events": 0, "immigrants": 0, "cascades": 0, "cascade_events": 0}
        self._counts |= {"max_cluster_size": 0, "max_generation": 0}
        self._severity = np.zeros(len(severities), dtype=np.int64)
        self._types = np.zeros(len(types), dtype=np.int64)
        self._score = 0.0
        self._names = severities, types

        # A window is expected to hold batch_events events: immigrants times mean cluster size.
        window = max(ctx.batch_events * (1.0 - p.branching_ratio) / total_rate, 1e-12)
        pending: Columns | None = None
        uid_next = cluster_next = 0
        t0 = 0.0
        while t0 < ctx.horizon:
            t1 = min(ctx.horizon, t0 + window)
            time, stream, parent, cl, gen, sev, atype, score = hawkes_clusters(
                t0, t1, ctx.horizon, stream_cum, total_rate, p.branching_ratio, p.mean_delay,
                p.spread_probability, p.spread_rule == "neighbour", severity_cum, type_cum,
                p.type_inheritance, float(np.log(p.score_median)), p.score_sigma, rng,
            )  # fmt: skip
            size = np.bincount(cl, minlength=1)[cl]
            new: Columns = {
                "time": time,
                "stream": stream,
                "uid": uid_next + np.arange(len(time), dtype=np.int64),
                "parent_uid": np.where(parent >= 0, uid_next + parent, -1),
                "cause": np.full(len(time), -1, dtype=np.int64),
                "cluster": cluster_next + cl,
                "size": size,
                "generation": gen,
                "severity": sev,
                "alert_type": atype,
                "score": score,
            }
            uid_next += len(time)
            cluster_next += int(cl.max()) + 1 if len(cl) else 0
            pool = (
                new if pending is None else {k: np.concatenate((pending[k], new[k])) for k in new}
            )
            due = pool["time"] < t1 if t1 < ctx.horizon else np.ones(len(pool["time"]), bool)
            out = _take(pool, np.flatnonzero(due)[np.argsort(pool["time"][due], kind="stable")])
            pending = _take(pool, ~due)
            seq = self.builder.next_seq + np.arange(len(out["time"]), dtype=np.int64)
            # A parent precedes its children in time, so an unlinked parent is in this batch.
            unlinked = (out["parent_uid"] >= 0) & (out["cause"] < 0)
            _link(out, out["uid"], seq)
            if bool((out["cause"][unlinked] < 0).any()):
                raise RuntimeError("hawkes: a child's parent was not emitted before it")
            _link(pending, out["uid"], seq)
            kind = np.where(out["size"] >= threshold, cascade, -1).astype(np.int32)
            self._tally(out, kind)
            for lo in range(0, len(seq), ctx.batch_events):
                sl = slice(lo, lo + ctx.batch_events)
                yield self.builder.build(
                    out["time"][sl],
                    out["stream"][sl],
                    np.zeros(len(seq[sl]), dtype=np.int32),
                    cause=out["cause"][sl],
                    rare_kind=kind[sl],
                    columns={
                        "severity": categorical(out["severity"][sl], severities),
                        "alert_type": categorical(out["alert_type"][sl], types),
                        "score": out["score"][sl],
                        "generation": out["generation"][sl],
                        "cluster": out["cluster"][sl],
                        "cluster_size": out["size"][sl],
                    },
                )
            t0 = t1

    def _tally(self, out: Columns, kind: np.ndarray) -> None:
        c = self._counts
        immigrant = out["generation"] == 0
        c["events"] += len(kind)
        c["immigrants"] += int(immigrant.sum())
        c["cascades"] += int((immigrant & (kind >= 0)).sum())
        c["cascade_events"] += int((kind >= 0).sum())
        if len(kind):
            c["max_cluster_size"] = max(c["max_cluster_size"], int(out["size"].max()))
            c["max_generation"] = max(c["max_generation"], int(out["generation"].max()))
        self._severity += np.bincount(out["severity"], minlength=len(self._severity))
        self._types += np.bincount(out["alert_type"], minlength=len(self._types))
        self._score += float(out["score"].sum())

    def summary(self) -> Summary:
        """Events, immigrants, cascades and their events, the largest cluster and generation,
        counts per severity and alert type, and the sum of scores."""
        out: Summary = dict(self._counts)
        for prefix, names, counts in zip(
            ("severity", "alert_type"), self._names, (self._severity, self._types), strict=True
        ):
            out |= {f"{prefix}.{k}": int(n) for k, n in zip(names, counts, strict=True) if n}
        out["score_sum"] = self._score
        return out

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        counts = {"events": 0, "immigrants": 0, "cascades": 0, "cascade_events": 0}
        counts |= {"max_cluster_size": 0, "max_generation": 0}
        marks: dict[str, int] = {}
        score = 0.0
        for batch in batches:
            gen = np.asarray(batch.column("generation"))
            labelled = np.asarray(batch.column("rare").to_numpy(zero_copy_only=False))
            counts["events"] += batch.num_rows
            counts["immigrants"] += int((gen == 0).sum())
            counts["cascades"] += int(((gen == 0) & labelled).sum())
            counts["cascade_events"] += int(labelled.sum())
            if batch.num_rows:
                size = int(np.asarray(batch.column("cluster_size")).max())
                counts["max_cluster_size"] = max(counts["max_cluster_size"], size)
                counts["max_generation"] = max(counts["max_generation"], int(gen.max()))
            for prefix in ("severity", "alert_type"):
                for k, n in dictionary_counts(batch.column(prefix)).items():
                    marks[f"{prefix}.{k}"] = marks.get(f"{prefix}.{k}", 0) + n
            score += float(np.asarray(batch.column("score")).sum())
        out: Summary = dict(counts)
        out |= marks
        out["score_sum"] = score
        return out
