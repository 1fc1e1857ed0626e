"""Shared fixtures.

``fake_model`` registers a small simulator named ``fake`` whose params exercise every kind of
field a scenario can hold (nested model, rate, duration, probability, int, list, dict), so the
scenario tests and the bad files in ``tests/data/bad_scenarios/`` stay valid whatever the real
models become.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pytest
from pydantic import Field

import eventforge.simulators
from eventforge.events import EventSpec
from eventforge.scenario.types import NonNegativeFloat, PositiveInt, Probability, StrictModel
from eventforge.scenario.units import NonNegativeDuration, Rate
from eventforge.simulators.base import Simulator, Summary


class FakeArrivals(StrictModel):
    """Arrivals of the fake model."""

    rate: Rate = Field(description="Mean arrival rate.")
    burst: Probability = Field(0.1, description="Chance an arrival brings a second one.")


class FakeStation(StrictModel):
    """A station of the fake model."""

    servers: PositiveInt = Field(1, description="Parallel servers.")
    service: NonNegativeDuration = Field(0.25, description="Mean service time.")


class FakeParams(StrictModel):
    """Params of the fake model."""

    arrivals: FakeArrivals = Field(description="How customers arrive.")
    servers: PositiveInt = Field(1, description="Servers at the desk.")
    levels: list[NonNegativeFloat] = Field(default_factory=list, description="Some levels.")
    stations: dict[str, FakeStation] = Field(default_factory=dict, description="By name.")


class FakeRareEvents(StrictModel):
    """Rare events of the fake model."""

    fraud_rate: Probability = Field(0.0, description="Share of fraudulent arrivals.")


class FakeSimulator(Simulator):
    """A simulator that emits nothing: only its scenario models matter here."""

    name = "fake"
    description = "a fake model for scenario tests"
    Params = FakeParams
    RareEvents = FakeRareEvents
    spec = EventSpec(vocabulary=("arrival",))

    def run(self) -> Iterator[pa.RecordBatch]:
        yield from ()

    def summary(self) -> Summary:
        return {}

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        return {}


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> type[Simulator]:
    """Register :class:`FakeSimulator` as model ``fake`` for the duration of a test."""
    module = types.ModuleType("eventforge_test_fake_model")
    module.FakeSimulator = FakeSimulator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(eventforge.simulators._BUILTIN, "fake", f"{module.__name__}:FakeSimulator")
    return FakeSimulator
