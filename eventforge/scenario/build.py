"""From a scenario file to a validated :class:`Scenario`: overrides, sweep points, seed.

Every problem of a scenario is collected before anything is raised, so one ``validate`` shows
them all: parse problems first (nothing else can be checked without the data), then overrides,
the model name, the sweep's keys and every sweep point, each validated in full.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from eventforge.errors import Problem, ScenarioError, UsageError
from eventforge.scenario.document import Document, KeyPath, show
from eventforge.scenario.loader import load_document
from eventforge.scenario.overrides import apply_overrides
from eventforge.scenario.schema import OutputSettings, scenario_model, translate_errors
from eventforge.scenario.sweep import point_data, sweep_grid, sweep_steps
from eventforge.scenario.types import StrictModel
from eventforge.scenario.units import UNIT_SECONDS

__all__ = ["Point", "Scenario", "load_scenario"]

#: Sweep points whose problems are listed; beyond, one line counts the rest.
_MAX_FAILING_POINTS = 20


@dataclass(frozen=True)
class Point:
    """One point of the sweep grid (the only point when there is no sweep)."""

    index: int
    #: Sweep key path -> this point's value as written (``{}`` without a sweep).
    values: dict[str, Any]
    #: The model's ``Params``, validated for this point.
    params: StrictModel
    #: The model's ``RareEvents``, validated for this point.
    rare_events: StrictModel


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything a run needs, with units resolved to ``time_unit``."""

    name: str
    description: str
    model: str
    #: The root seed: given, or drawn from OS entropy when absent (then ``seed_drawn``).
    seed: int
    seed_drawn: bool
    replications: int
    #: Wall-clock time of simulation time 0 (aware, UTC).
    start: datetime
    time_unit: str
    time_unit_s: float
    #: Simulated span, in ``time_unit``s.
    horizon: float
    points: tuple[Point, ...]
    output: OutputSettings
    #: The path as given, or ``builtin:<name>``.
    source: str
    #: The scenario as JSON-able data after overrides and defaults, seed included; ``params``,
    #: ``rare_events`` and ``sweep`` as written. The manifest records it.
    resolved: dict[str, Any]
    #: sha256 (hex) of ``resolved`` as canonical JSON: equal for equal scenarios.
    fingerprint: str


def load_scenario(
    source: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    replications: int | None = None,
) -> Scenario:
    """Load, override and validate a scenario.

    ``source`` is a path, or the name of a built-in scenario (an existing path wins).
    ``overrides`` are ``KEY.PATH=VALUE`` strings (``--set``); ``seed`` and ``replications``
    replace the file's values. Raises :class:`~eventforge.errors.ScenarioError` listing every
    problem found, or :class:`~eventforge.errors.UsageError` for a path that is missing or
    not a readable regular file.
    """
    doc, label = load_document(source)
    problems = apply_overrides(doc, overrides)
    if seed is not None:
        doc.override(("seed",), seed, f"--seed {seed}")
    if replications is not None:
        doc.override(("replications",), replications, f"--replications {replications}")
    return _build(doc, label, problems)


def _related(path: KeyPath, keys: Sequence[str]) -> str | None:
    """The sweep key whose values decide ``path`` (one holds the other), if any."""
    steps = tuple(str(part) for part in path)
    if not steps:
        return None
    for key in keys:
        swept = tuple(str(part) for part in sweep_steps(key))
        n = min(len(steps), len(swept))
        if steps[:n] == swept[:n]:
            return key
    return None


def _build(doc: Document, source: str, problems: list[Problem]) -> Scenario:
    data = doc.data
    model = data.get("model")
    try:
        model_cls = scenario_model(model if isinstance(model, str) else None)
    except UsageError as err:  # an unknown model: check the rest with free params
        problems.append(doc.problem(("model",), str(err)))
        model_cls = scenario_model(None)
    unit = data.get("time_unit", "h")
    # An invalid unit is reported by validation; hours stand in so the rest is still checked.
    unit_s = UNIT_SECONDS.get(unit if isinstance(unit, str) else "h", UNIT_SECONDS["h"])
    keys, combos, found = sweep_grid(doc, model_cls)
    problems.extend(found)
    sweep = data.get("sweep", {})
    validated: list[Any] = []
    failing = 0
    for index, combo in enumerate(combos):
        values = {key: sweep[key][j] for key, j in zip(keys, combo, strict=True)}
        pdata, errors = point_data(data, values)
        if index == 0:  # a path that cannot be set fails at every point alike
            problems.extend(doc.problem(("sweep", key), error) for key, error in errors)
        try:
            valid: Any = model_cls.model_validate(pdata, context={"time_unit_s": unit_s})
        except ValidationError as err:
            located = translate_errors(err, pdata, model_cls)
        else:
            # (An unknown model's params are free data: there is nothing to ask.)
            sections = [(s, getattr(valid, s)) for s in ("params", "rare_events")]
            # An empty path is the horizon itself (e.g. too short for the model's time step).
            located = [
                ((section, *path) if path else ("horizon",), message)
                for section, model in sections
                if isinstance(model, StrictModel)
                for path, message in model.scenario_problems(valid)
            ]
            if not located:
                validated.append(valid)
                continue
        at_point: list[Problem] = []
        for path, message in located:
            key = _related(path, keys)
            if key is None:
                if index == 0:  # the same at every point: reported once, unprefixed
                    problems.append(doc.problem(path, message))
                continue
            shown = ", ".join(f"{k}={_scalar(v)}" for k, v in values.items())
            item = ("sweep", key, combo[keys.index(key)])
            message = f"sweep point {index} ({shown}): {message}"
            at_point.append(doc.problem(path, message, line_of=item))
        if at_point:
            failing += 1
            if failing <= _MAX_FAILING_POINTS:
                problems.extend(at_point)
    if failing > _MAX_FAILING_POINTS:
        more = failing - _MAX_FAILING_POINTS
        problems.append(doc.problem(("sweep",), f"{more} more points have problems (not shown)"))
    if problems:
        raise ScenarioError(problems)
    return _scenario(doc, source, keys, combos, validated)


def _scalar(value: Any) -> str:
    """A sweep value as written: ``-1/h`` rather than ``'-1/h'``."""
    return value if isinstance(value, str) else show(value)


def _scenario(
    doc: Document,
    source: str,
    keys: list[str],
    combos: list[tuple[int, ...]],
    validated: list[Any],
) -> Scenario:
    top = validated[0]
    data = doc.data
    seed_drawn = top.seed is None
    # OS entropy, never the clock: two runs started together must not share a seed.
    seed = secrets.randbits(63) if seed_drawn else top.seed
    sweep = data.get("sweep", {})
    points = tuple(
        Point(
            index=i,
            values={key: sweep[key][j] for key, j in zip(keys, combo, strict=True)},
            params=v.params,
            rare_events=v.rare_events,
        )
        for i, (combo, v) in enumerate(zip(combos, validated, strict=True))
    )
    resolved = {
        "name": top.name,
        "description": top.description,
        "model": top.model,
        "seed": seed,
        "replications": top.replications,
        "start": top.start.isoformat(),
        "time_unit": top.time_unit,
        "horizon": top.horizon,
        "params": data.get("params", {}),
        "rare_events": data.get("rare_events", {}),
        "sweep": sweep,
        "output": top.output.model_dump(mode="json"),
    }
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return Scenario(
        name=top.name,
        description=top.description,
        model=top.model,
        seed=seed,
        seed_drawn=seed_drawn,
        replications=top.replications,
        start=top.start,
        time_unit=top.time_unit,
        time_unit_s=UNIT_SECONDS[top.time_unit],
        horizon=top.horizon,
        points=points,
        output=top.output,
        source=source,
        resolved=resolved,
        fingerprint=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )
