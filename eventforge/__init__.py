"""eventforge: synthetic event logs by simulation, streamed to Parquet.

The public API, re-exported flat; everything else is private. Importing the package compiles no
kernel and imports no model: models load on first use through the registry.
"""

from eventforge._version import __version__
from eventforge.check import CheckReport, Violation, check_dataset
from eventforge.dataset import open_dataset, read_manifest, read_table
from eventforge.errors import (
    DatasetIncompleteError,
    EventforgeError,
    OutputLockedError,
    Problem,
    ScenarioError,
    SinkError,
    UsageError,
)
from eventforge.events import COMMON_FIELDS, BatchBuilder, EventSpec, Lifecycle, categorical
from eventforge.runner import RunResult, Task, plan, run, simulate
from eventforge.scenario import Point, Scenario, load_scenario, scenario_json_schema
from eventforge.simulators import RunContext, Simulator, get_simulator, model_names

__all__ = [
    "COMMON_FIELDS",
    "BatchBuilder",
    "CheckReport",
    "DatasetIncompleteError",
    "EventSpec",
    "EventforgeError",
    "Lifecycle",
    "OutputLockedError",
    "Point",
    "Problem",
    "RunContext",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SinkError",
    "Task",
    "UsageError",
    "Violation",
    "__version__",
    "categorical",
    "check_dataset",
    "get_simulator",
    "load_scenario",
    "model_names",
    "open_dataset",
    "plan",
    "read_manifest",
    "read_table",
    "run",
    "scenario_json_schema",
    "simulate",
]
