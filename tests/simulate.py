"""Running one simulator straight from params dicts, for the model tests.

The scenario loader is tested on its own; model tests build a simulator from plain dicts so
that each test states exactly the params it is about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import numpy as np
import pyarrow as pa

from eventforge.simulators.base import RunContext, Simulator

S = TypeVar("S", bound=Simulator)

START = datetime(2026, 1, 1, tzinfo=UTC)


def run_simulator(
    cls: type[S],
    params: dict,
    rare: dict | None = None,
    *,
    horizon: float,
    seed: int = 1,
    start: datetime = START,
    unit_s: float = 3600.0,
    batch_events: int = 65_536,
) -> tuple[S, list[pa.RecordBatch]]:
    """Validate ``params``/``rare`` as a scenario would, run the simulator to the end."""
    context = {"time_unit_s": unit_s}
    sim = cls(
        cls.Params.model_validate(params, context=context),
        cls.RareEvents.model_validate(rare or {}, context=context),
        np.random.default_rng(seed),
        RunContext(horizon, start, unit_s, replication=0, batch_events=batch_events),
    )
    return sim, list(sim.run())


def columns(batches: list[pa.RecordBatch]) -> dict[str, np.ndarray]:
    """Each column as a NumPy array, dictionary columns decoded to their values."""
    t = pa.Table.from_batches(batches)
    out = {}
    for name in t.column_names:
        col = t.column(name).combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        out[name] = col.to_numpy(zero_copy_only=False)
    return out
