"""The registry of models: name -> simulator class, loaded lazily.

Built-in models are named by dotted paths so that ``import eventforge`` imports no model (and so
compiles nothing); third-party models register through the ``eventforge.simulators`` entry-point
group with the same ``module:Class`` form.
"""

from __future__ import annotations

import difflib
import importlib
from functools import cache
from importlib.metadata import entry_points

from eventforge.errors import UsageError
from eventforge.simulators.base import RunContext, Simulator

__all__ = ["RunContext", "Simulator", "get_simulator", "model_names"]

_BUILTIN: dict[str, str] = {
    "arrivals": "eventforge.simulators.monte_carlo.arrivals:Arrivals",
    "hawkes": "eventforge.simulators.monte_carlo.hawkes:Hawkes",
    "prices": "eventforge.simulators.monte_carlo.prices:Prices",
    "sensors": "eventforge.simulators.monte_carlo.sensors:Sensors",
    "queue_network": "eventforge.simulators.discrete_event.queue_network:QueueNetwork",
    "epidemic": "eventforge.simulators.agent_based.epidemic:Epidemic",
    "payments": "eventforge.simulators.agent_based.payments:Payments",
}


@cache
def _plugins() -> tuple[tuple[str, str], ...]:
    # Scanning installed distributions for entry points costs ~8 ms: once per process is enough
    # (a plugin installed while a run is going is picked up by the next run).
    return tuple((ep.name, ep.value) for ep in entry_points(group="eventforge.simulators"))


def _registry() -> dict[str, str]:
    found = dict(_BUILTIN)
    for name, target in _plugins():
        found.setdefault(name, target)
    return found


def model_names() -> list[str]:
    """Every known model name, sorted."""
    return sorted(_registry())


def get_simulator(name: str) -> type[Simulator]:
    """The simulator class registered as ``name``; an unknown name lists the known ones."""
    registry = _registry()
    try:
        target = registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"unknown model {name!r}{hint}; known models: {', '.join(sorted(registry))}"
        ) from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Simulator)):
        raise TypeError(f"{target} is not a Simulator subclass")
    return cls
