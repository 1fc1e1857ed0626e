"""Strict building blocks for the params models of simulators.

Pydantic's lax mode turns ``true`` into 1 and lets NaN and inf through float types; a scenario
file is a contract, so every model here is strict, finite and closed to unknown keys.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

__all__ = [
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "StrictModel",
    "check_distribution",
]

#: How far from 1 a list of probabilities may sum (rounding of decimal inputs).
_SUM_TOLERANCE = 1e-9


class StrictModel(BaseModel):
    """Base of every scenario model: strict types, no unknown keys, immutable once validated."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def horizon_problems(self, horizon: float) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that only the scenario's ``horizon`` (in time units) reveals, such as a date
        past its end, as (key path inside this model, message) pairs.

        A model cannot see the scenario's other keys while pydantic validates it, so scenario
        loading calls this on ``params`` and ``rare_events`` afterwards and reports each problem
        at its key's line; an empty path is reported at ``horizon`` (a horizon the model cannot
        run). None by default.
        """
        return []

    def scenario_problems(self, scenario: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that only the rest of the validated ``scenario`` reveals (its horizon, the
        other section), as (key path inside this model, message) pairs, reported like
        :meth:`horizon_problems`' (which this calls by default)."""
        return self.horizon_problems(scenario.horizon)


#: A finite probability in [0, 1].
Probability = Annotated[FiniteFloat, Field(ge=0.0, le=1.0)]
#: A finite float > 0.
PositiveFloat = Annotated[FiniteFloat, Field(gt=0.0)]
#: A finite float >= 0.
NonNegativeFloat = Annotated[FiniteFloat, Field(ge=0.0)]
#: An int >= 1 (booleans are refused: strict mode).
PositiveInt = Annotated[int, Field(ge=1)]
#: An int >= 0.
NonNegativeInt = Annotated[int, Field(ge=0)]


def check_distribution(probabilities: dict[str, float], what: str) -> None:
    """Raise ``ValueError`` unless ``probabilities`` is non-empty and sums to 1."""
    total = math.fsum(probabilities.values())
    if not probabilities or abs(total - 1.0) > _SUM_TOLERANCE:
        shown = ", ".join(f"{k}={v:g}" for k, v in probabilities.items())
        raise ValueError(f"{what} probabilities must sum to 1 (got {total:.12g}: {shown})")
