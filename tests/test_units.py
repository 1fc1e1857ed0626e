"""Units in scenario files: durations and rates convert to the scenario's time unit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eventforge.scenario.types import StrictModel
from eventforge.scenario.units import (
    Duration,
    NonNegativeRate,
    parse_duration,
    parse_rate,
    time_unit_seconds,
)


class _M(StrictModel):
    d: Duration
    r: NonNegativeRate = 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900.0), ("36h", 129600.0), ("90d", 7776000.0), ("1.5s", 1.5), ("2w", 1209600.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "per_second"), [("12/h", 12 / 3600), ("3/15m", 3 / 900), ("0/d", 0.0)]
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["15", "m15", "15 parsecs", "1e999h", "", "3/0h"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text) if "/" in text else parse_duration(text)


def test_conversion_uses_the_scenario_time_unit() -> None:
    ctx = {"time_unit_s": time_unit_seconds("h")}
    m = _M.model_validate({"d": "30m", "r": "12/d"}, context=ctx)
    assert m.d == pytest.approx(0.5)
    assert m.r == pytest.approx(0.5)
    # a bare number is already in the scenario's unit
    assert _M.model_validate({"d": 2}, context=ctx).d == 2.0


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), "-1h", 0])
def test_invalid_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        _M.model_validate({"d": bad}, context={"time_unit_s": 3600.0})


def test_unknown_time_unit_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: us, ms, s"):
        time_unit_seconds("fortnight")
