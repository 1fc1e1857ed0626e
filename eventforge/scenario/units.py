"""Quantities with units in scenario files: durations (``15m``), rates (``12/h``).

Simulators work in plain floats in the scenario's time unit (``time_unit``, default hours), so
conversion happens once, at validation: the pydantic types below read the time unit from the
validation context (``{"time_unit_s": seconds}``) that
:func:`eventforge.scenario.load_scenario` passes.
A bare number is already in the scenario's time unit (a duration) or per time unit (a rate).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, FiniteFloat, ValidationInfo, WithJsonSchema

from eventforge.scenario.types import StrictModel

__all__ = [
    "UNIT_SECONDS",
    "Duration",
    "NonNegativeDuration",
    "NonNegativeRate",
    "Rate",
    "Trend",
    "parse_duration",
    "parse_rate",
    "time_unit_seconds",
]

#: Seconds per unit symbol accepted in durations and rates.
UNIT_SECONDS: dict[str, float] = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNITS = "|".join(sorted(UNIT_SECONDS, key=len, reverse=True))
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*({_UNITS})\s*$")
_RATE_RE = re.compile(rf"^\s*({_NUMBER})\s*/\s*({_NUMBER})?\s*({_UNITS})\s*$")
_DEFAULT_TIME_UNIT = "h"


def time_unit_seconds(unit: str) -> float:
    """Seconds in one scenario time unit; raises ``ValueError`` naming the known units."""
    try:
        return UNIT_SECONDS[unit]
    except KeyError:
        raise ValueError(f"unknown time unit {unit!r} (known: {', '.join(UNIT_SECONDS)})") from None


def parse_duration(text: str) -> float:
    """``'15m'`` -> 900.0 seconds. Raises ``ValueError`` showing the value and the form."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(
            f"not a duration: {text!r} (expected a number and a unit, e.g. '15m', '36h')"
        )
    value = float(m.group(1)) * UNIT_SECONDS[m.group(2)]
    if not math.isfinite(value):
        raise ValueError(f"duration {text!r} is not finite")
    return value


def parse_rate(text: str) -> float:
    """``'12/h'`` -> events per second (``'3/15m'`` is 3 per quarter hour)."""
    m = _RATE_RE.match(text)
    if not m:
        raise ValueError(f"not a rate: {text!r} (expected count/unit, e.g. '12/h', '3/15m')")
    per = float(m.group(2)) if m.group(2) else 1.0
    if per <= 0:
        raise ValueError(f"rate {text!r} has a non-positive period")
    value = float(m.group(1)) / (per * UNIT_SECONDS[m.group(3)])
    if not math.isfinite(value):
        raise ValueError(f"rate {text!r} is not finite")
    return value


def _unit_s(info: ValidationInfo) -> float:
    ctx = info.context or {}
    return float(ctx.get("time_unit_s", UNIT_SECONDS[_DEFAULT_TIME_UNIT]))


def _to_duration(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        return parse_duration(value) / _unit_s(info)
    return value  # numbers pass to the strict, finite float check


def _to_rate(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        return parse_rate(value) * _unit_s(info)
    return value


_DURATION_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": _DURATION_RE.pattern},
        ],
        "description": "a duration: a number in the scenario's time unit, or e.g. '15m', '36h'",
    }
)
_RATE_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": _RATE_RE.pattern},
        ],
        "description": "a rate: events per scenario time unit, or e.g. '12/h', '3/15m'",
    }
)

#: A strictly positive duration, converted to the scenario's time unit.
Duration = Annotated[FiniteFloat, BeforeValidator(_to_duration), Field(gt=0), _DURATION_SCHEMA]
#: A duration that may be zero.
NonNegativeDuration = Annotated[
    FiniteFloat, BeforeValidator(_to_duration), Field(ge=0), _DURATION_SCHEMA
]
#: A strictly positive rate, converted to events per scenario time unit.
Rate = Annotated[FiniteFloat, BeforeValidator(_to_rate), Field(gt=0), _RATE_SCHEMA]
#: A rate that may be zero (an outage).
NonNegativeRate = Annotated[FiniteFloat, BeforeValidator(_to_rate), Field(ge=0), _RATE_SCHEMA]


class Trend(StrictModel):
    """Exponential growth: a rate is multiplied by ``1 + growth`` every ``per``."""

    growth: FiniteFloat = Field(gt=-1.0, description="relative change per period, > -1")
    per: Duration = Field(description="the period of that change, e.g. '30d'")
