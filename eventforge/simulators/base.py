"""The simulator protocol: what every model family implements.

A simulator is built from validated params, a ``numpy.random.Generator`` of its own and a
:class:`RunContext`; ``run()`` yields Arrow record batches in time order, a bounded number of
events at a time, so memory does not grow with the horizon. It never learns where its batches go.

After ``run()`` is exhausted, ``summary()`` reports the model's own final state (counts, final
levels); ``replay(batches)`` reconstructs the same figures from the written log alone. Invariant 4
of the event-log contract is that the two agree, and ``eventforge check`` verifies it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import numpy as np
import pyarrow as pa

from eventforge.events import BatchBuilder, EventSpec
from eventforge.scenario.types import StrictModel

__all__ = ["NoRareEvents", "RunContext", "Simulator", "Summary"]

#: Final-state figures: name -> number. Integers compare exactly, floats to 1e-9 relative.
Summary = dict[str, float | int]


@dataclass(frozen=True)
class RunContext:
    """Where one replication sits in time: horizon in time units, and the wall-clock mapping."""

    horizon: float
    start: datetime
    time_unit_s: float
    replication: int
    #: Target number of events per yielded batch (memory is bounded by a few of these). As large
    #: as a row group: smaller batches cost more Python per event on both sides of the writer
    #: thread, and measured 25% slower end to end (benchmarks/bench_end_to_end.py).
    batch_events: int = 262_144


class NoRareEvents(StrictModel):
    """The ``rare_events`` section of a model that has none: must be empty."""


class Simulator(ABC):
    """Base class of every model. Subclasses set the class attributes and implement ``run``."""

    #: Registry name, as written in a scenario's ``model:``.
    name: ClassVar[str]
    #: One line for ``eventforge list``.
    description: ClassVar[str]
    #: The pydantic model of the scenario's ``params:`` section.
    Params: ClassVar[type[StrictModel]]
    #: The pydantic model of the scenario's ``rare_events:`` section.
    RareEvents: ClassVar[type[StrictModel]] = NoRareEvents
    #: Vocabulary, rare kinds, extra columns and lifecycle of the log.
    spec: ClassVar[EventSpec]
    #: Batches a run may hold for its writer thread before ``run`` waits. Two suffice for a
    #: model that yields batches at a steady pace; one that steps in large units (a day of a
    #: bank) yields a step's batches at once, and needs room for a whole step, or it waits for
    #: the writer through the step's batches and the writer idles through the next step. More
    #: room is more memory: a batch of the default ``batch_events`` is some tens of MB.
    write_ahead: ClassVar[int] = 2

    def __init__(
        self,
        params: StrictModel,
        rare_events: StrictModel,
        rng: np.random.Generator,
        ctx: RunContext,
    ) -> None:
        self.params = params
        self.rare_events = rare_events
        self.rng = rng
        self.ctx = ctx
        self.builder = BatchBuilder(self.spec, ctx.replication, ctx.start, ctx.time_unit_s)

    @abstractmethod
    def run(self) -> Iterator[pa.RecordBatch]:
        """Yield the replication's events in time order, in batches of bounded size."""

    @abstractmethod
    def summary(self) -> Summary:
        """The model's final state as it tracked it; valid once ``run()`` is exhausted."""

    @classmethod
    @abstractmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        """The same figures as :meth:`summary`, reconstructed from one replication's log.

        ``batches`` stream the log in ``seq`` order (with every column of the model's schema), so
        replaying a long log needs memory for the model's state, not for the log.
        """
