"""Scenario files: safe loading, validation, ``--set`` overrides, sweeps and JSON Schema.

The implementation modules are private in spirit; this package's names are the API:
:func:`load_scenario` turns a path or built-in name into a validated :class:`Scenario` (or a
:class:`~eventforge.errors.ScenarioError` listing every problem at ``file:line: key: message``),
and :func:`scenario_json_schema` exports what editors need to check a scenario file.
"""

from eventforge.scenario.build import Point, Scenario, load_scenario
from eventforge.scenario.schema import DEFAULT_START, OutputSettings, scenario_json_schema

__all__ = [
    "DEFAULT_START",
    "OutputSettings",
    "Point",
    "Scenario",
    "load_scenario",
    "scenario_json_schema",
]
