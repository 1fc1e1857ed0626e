"""``sweep:``: run a grid of parameter values.

``sweep`` maps dotted key paths under ``params`` or ``rare_events`` to non-empty lists of
values; the points are their Cartesian product, the first key varying slowest, in the order the
keys are written. Only model settings vary between points: ``seed``, ``horizon``, ``start`` and
the other top-level keys describe the whole dataset (one manifest, one clock), so they are not
sweepable.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

from pydantic import BaseModel

from eventforge.errors import Problem
from eventforge.scenario.document import Document, KeyPath, assign
from eventforge.scenario.schema import known_keys, unknown_key_message, walk_annotation

__all__ = ["MAX_POINTS", "SWEEPABLE", "point_data", "sweep_grid", "sweep_steps"]

#: Most points a grid may have: beyond, a scenario is more likely a typo than a plan.
MAX_POINTS = 10_000
#: The top-level sections whose keys may be swept.
SWEEPABLE = ("params", "rare_events")


def sweep_steps(key: str) -> KeyPath:
    """The steps of a sweep key: ``"params.stations.0.rate"`` -> ``("params", "stations", 0,
    "rate")`` (digit-only steps index lists, as in the data's key paths)."""
    return tuple(int(s) if s.isdigit() else s for s in key.split("."))


def _check_key(key: str, model_cls: type[BaseModel]) -> str | None:
    """Why ``key`` cannot be swept, or None. Follows the model's fields as far as it can see."""
    steps = key.split(".")
    if steps[0] not in SWEEPABLE:
        return (
            f"{steps[0]!r} cannot be swept: only keys under params and rare_events vary "
            "between points"
        )
    if len(steps) < 2 or "" in steps:
        return "must be a dotted key path under params or rare_events, e.g. params.rate"
    tp: Any = model_cls
    for depth, step in enumerate(steps):
        known = known_keys(tp)
        if known is not None and step not in known:
            where = ".".join(steps[:depth]) or "<top>"
            return f"{unknown_key_message(step, known)} in {where}"
        tp = walk_annotation(tp, step)
        if tp is None:
            break
    return None


def sweep_grid(
    doc: Document, model_cls: type[BaseModel]
) -> tuple[list[str], list[tuple[int, ...]], list[Problem]]:
    """The sweep's keys, its points as one value index per key (``[()]`` without a sweep), and
    the problems of its keys and size.

    A malformed ``sweep`` (not a mapping, a value that is not a non-empty list) gives no points
    to vary and no problem here: the model's validation reports those.
    """
    sweep = doc.data.get("sweep")
    if not isinstance(sweep, dict) or not sweep:
        return [], [()], []
    problems = [
        doc.problem(("sweep", key), error)
        for key in sweep
        if (error := _check_key(key, model_cls)) is not None
    ]
    lists = list(sweep.values())
    if problems or not all(isinstance(v, list) and v for v in lists):
        return [], [()], problems
    size = math.prod(len(v) for v in lists)
    if size > MAX_POINTS:
        message = f"the grid has {size} points (at most {MAX_POINTS})"
        return [], [()], [doc.problem(("sweep",), message)]
    return list(sweep), list(itertools.product(*(range(len(v)) for v in lists))), []


def point_data(
    data: dict[str, Any], values: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A copy of ``data`` with one point's values set; only the swept sections are copied.

    Returns the copy and (key, reason) for each value that cannot be set.
    """
    out = dict(data)
    copied: set[str] = set()
    errors: list[tuple[str, str]] = []
    for key, value in values.items():
        steps = sweep_steps(key)
        section = str(steps[0])
        if section not in copied:
            out[section] = copy.deepcopy(data.get(section, {}))
            copied.add(section)
        error = assign(out, steps, copy.deepcopy(value))
        if error is not None:
            errors.append((key, error))
    return out, errors
