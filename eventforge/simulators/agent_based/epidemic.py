"""Epidemic: an age-structured SEIR agent model over layered contacts, with interventions.

The model (:class:`~epidemic_model.EpidemicModel`, a Mesa model whose agents are views of its
arrays) steps in days; this simulator runs it to the horizon (``floor(horizon / day)`` days),
scales event times to the scenario's unit and yields each day's events (sorted by time, causes
as ``seq`` numbers) in batches of at most ``ctx.batch_events`` rows, accumulating days.

Log conventions:

- Agent events: ``exposure`` (``layer``: the contact layer, ``gathering``, ``import`` or
  ``seed``; ``infector``; ``cause``: the infector's latest exposure, null for seeds and imports),
  ``onset`` (symptomatic cases only: an asymptomatic case goes from exposure to recovery with no
  event in between), ``test``, ``positive``, ``isolation``, ``hospitalisation``, ``recovery``,
  ``death``, ``vaccination``. ``cause`` of onset, hospitalisation, recovery and death is the
  agent's previous disease event; test -> onset, positive -> test, isolation -> positive.
- System events (``entity_id`` = -1, no state): ``lockdown_start``/``_end``,
  ``school_closure_start``/``_end``, at the start of the day they take effect.
- ``state`` is the agent's compartment after the event (null for tests and system events);
  ``rare_kind`` is ``superspreading`` on exposures at gatherings and ``hospital_overflow`` on
  admissions beyond ``rare_events.hospital_capacity``.

Immunity waning and the end of the latent period of an asymptomatic case have no event, so the
log's compartments are coarser than the model's: the summary reports, per state, the agents
whose *last event* left them there (``last_state.E`` counts exposed and asymptomatic agents,
``last_state.R`` includes those whose immunity waned; agents with no event are not counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa

from eventforge.events import (
    EventSpec,
    Lifecycle,
    categorical,
    code_counts,
    decoded,
    dictionary_counts,
    value_counts,
)
from eventforge.scenario.types import StrictModel
from eventforge.simulators.agent_based import epidemic_kernels as K
from eventforge.simulators.agent_based.epidemic_params import EpidemicParams, EpidemicRareEvents
from eventforge.simulators.base import Simulator, Summary

if TYPE_CHECKING:
    from eventforge.simulators.agent_based.epidemic_model import DayEvents, EpidemicModel

__all__ = ["Epidemic", "EpidemicParams", "EpidemicRareEvents"]

AGENT_EVENTS = (
    "exposure",
    "onset",
    "test",
    "positive",
    "isolation",
    "hospitalisation",
    "recovery",
    "death",
    "vaccination",
)
#: System events (entity_id -1), after the nine agent events in the vocabulary.
SYSTEM_EVENTS = ("lockdown_start", "lockdown_end", "school_closure_start", "school_closure_end")
RARE_KINDS = ("superspreading", "hospital_overflow")
_DICT = pa.dictionary(pa.int32(), pa.string())
_FIELDS = ("time", "entity", "event", "cause", "rare", "layer", "infector", "state")

#: The log's per-agent states (E covers asymptomatic agents: see the module doc).
LIFECYCLE = Lifecycle(
    initial="S",
    transitions={
        ("S", "exposure"): "E",
        ("R", "exposure"): "E",  # after waning immunity
        ("E", "onset"): "I",
        ("E", "recovery"): "R",  # asymptomatic
        ("I", "hospitalisation"): "H",
        ("I", "recovery"): "R",
        ("H", "recovery"): "R",
        ("H", "death"): "D",
    },
    # System events (entity -1) are free too: they are about no agent.
    free=frozenset({"test", "positive", "isolation", "vaccination", *SYSTEM_EVENTS}),
    final=frozenset({"D"}),
)


class Epidemic(Simulator):
    """Agent-based epidemic (see the module doc)."""

    name: ClassVar[str] = "epidemic"
    description: ClassVar[str] = (
        "age-structured SEIR agents over household, school, work and random contacts, with "
        "testing, vaccination, lockdowns, superspreading and hospital overflow"
    )
    Params: ClassVar[type[StrictModel]] = EpidemicParams
    RareEvents: ClassVar[type[StrictModel]] = EpidemicRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=(*AGENT_EVENTS, *SYSTEM_EVENTS),
        rare_kinds=RARE_KINDS,
        columns=(
            pa.field("age_group", _DICT, nullable=True),
            pa.field("layer", _DICT, nullable=True),
            pa.field("infector", pa.int64(), nullable=True),
            pa.field("state", _DICT, nullable=True),
        ),
        lifecycle=LIFECYCLE,
        descriptions={
            "age_group": "the agent's age group (null for system events)",
            "layer": "where an exposure happened: a contact layer, gathering, import or seed",
            "infector": "the agent who caused an exposure (null for seeds and imports)",
            "state": "the agent's compartment after the event (S/E/A/I/H/R/D)",
        },
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        p: EpidemicParams = self.params  # type: ignore[assignment]
        rare: EpidemicRareEvents = self.rare_events  # type: ignore[assignment]
        day_units = 86400.0 / self.ctx.time_unit_s
        days = math.floor(self.ctx.horizon / day_units + 1e-9)
        if days < 1:
            raise ValueError(f"horizon {self.ctx.horizon:g} is under one day")
        # Mesa (with SciPy, pandas and networkx: ~0.8 s) is imported by runs of Mesa models
        # only, not by every command that lists or validates models.
        from eventforge.simulators.agent_based.epidemic_model import EpidemicModel

        model = EpidemicModel(p, rare, self.rng, day_units)
        self.model = model
        tally = _Tally()
        self._summary: Summary = {}
        pending: list[dict[str, np.ndarray]] = []
        held = 0
        try:
            for _ in range(days):
                model.step()  # Mesa's step wrapper drops the return value
                day = model.day_events
                assert day is not None
                tally.add_day(day, model.layer_labels)
                if day.first_seq != self.builder.next_seq + held:
                    raise RuntimeError("epidemic: the model's seq numbers and the log's disagree")
                pending.append({f: getattr(day, f) for f in _FIELDS})
                held += len(day)
                if held >= self.ctx.batch_events:
                    cat = {f: np.concatenate([chunk[f] for chunk in pending]) for f in _FIELDS}
                    full = held - held % self.ctx.batch_events
                    yield from self._batches(cat, full, model, day_units)
                    pending = [{f: v[full:] for f, v in cat.items()}]
                    held -= full
            if held:
                cat = {f: np.concatenate([chunk[f] for chunk in pending]) for f in _FIELDS}
                yield from self._batches(cat, held, model, day_units)
            self._summary = tally.finish()
        finally:
            model.release()

    def _batches(
        self, cat: dict[str, np.ndarray], rows: int, model: EpidemicModel, day_units: float
    ) -> Iterator[pa.RecordBatch]:
        """The first ``rows`` events of ``cat`` as batches of at most ``ctx.batch_events``."""
        entity = cat["entity"]
        age = np.where(entity >= 0, model.age[np.maximum(entity, 0)], -1)
        step = self.ctx.batch_events
        for lo in range(0, rows, step):
            s = slice(lo, min(lo + step, rows))
            infector = cat["infector"][s]
            yield self.builder.build(
                cat["time"][s] * day_units,
                entity[s],
                cat["event"][s],
                cause=cat["cause"][s],
                rare_kind=cat["rare"][s],
                columns={
                    "age_group": categorical(age[s], model.age_groups),
                    "layer": categorical(cat["layer"][s], model.layer_labels),
                    "infector": pa.array(infector, mask=infector < 0),
                    "state": categorical(cat["state"][s], K.STATES),
                },
            )

    def summary(self) -> Summary:
        """Events by type, rare events by kind, exposures by layer, agents ever infected, and
        agents by the state their last event left them in (see the module doc)."""
        return self._summary

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        tally = _Tally()
        for batch in batches:
            event = decoded(batch.column("event"))
            exposure = event == "exposure"
            state = decoded(batch.column("state"))
            names, inverse = np.unique(state.astype(str), return_inverse=True)
            lookup = np.array([K.STATES.index(x) if x in K.STATES else -1 for x in names])
            tally.add(
                np.asarray(batch.column("entity_id")),
                exposure,
                lookup[inverse.reshape(-1)].astype(np.int8),
                {
                    "events": value_counts(event),
                    "rare": dictionary_counts(batch.column("rare_kind")),
                    "exposures": value_counts(decoded(batch.column("layer"))[exposure]),
                },
            )
        return tally.finish()


class _Tally:
    """The summary's figures, accumulated from the model's days or from a log's batches.

    The counts go by name (a replay reads names, not codes, so a sink's re-encoding of a
    dictionary cannot skew it); per-agent state is one int8 and one bool per entity id."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last = np.full(0, -1, dtype=np.int8)
        self.ever = np.zeros(0, dtype=np.bool_)

    def add_day(self, day: DayEvents, layers: tuple[str, ...]) -> None:
        """One day of the model's events (codes)."""
        exposure = day.event == K.EXPOSURE
        self.add(
            day.entity,
            exposure,
            day.state.astype(np.int8),
            {
                "events": code_counts(day.event, Epidemic.spec.vocabulary),
                "rare": code_counts(day.rare, RARE_KINDS),
                "exposures": code_counts(day.layer[exposure], layers),
            },
        )

    def add(
        self,
        entity: np.ndarray,
        exposure: np.ndarray,
        state: np.ndarray,
        counts: dict[str, dict[str, int]],
    ) -> None:
        """Events in ``seq`` order: their entities, which are exposures, the state after each
        (code, -1 none), and counts by group -> name."""
        for group, named in counts.items():
            for name, c in named.items():
                key = f"{group}.{name}"
                self.counts[key] = self.counts.get(key, 0) + c
        has = (state >= 0) & (entity >= 0)
        if not has.any():
            return
        ids = entity[has].astype(np.int64)
        top = int(ids.max()) + 1
        if top > len(self.last):
            size = max(top, 2 * len(self.last))
            self.last = np.concatenate((self.last, np.full(size - len(self.last), -1, np.int8)))
            self.ever = np.concatenate((self.ever, np.zeros(size - len(self.ever), np.bool_)))
        # An entity's last event in the chunk sets its state: its first in reverse order.
        uniq, first_rev = np.unique(ids[::-1], return_index=True)
        self.last[uniq] = state[has][::-1][first_rev]
        self.ever[entity[exposure & (entity >= 0)]] = True

    def finish(self) -> Summary:
        """The summary: counts, agents ever infected, agents by last state."""
        out: Summary = dict(sorted(self.counts.items()))
        out["ever_infected"] = int(self.ever.sum())
        tally = np.bincount(self.last[self.last >= 0], minlength=len(K.STATES))
        for name, c in zip(K.STATES, tally.tolist(), strict=True):
            out[f"last_state.{name}"] = int(c)
        return out
