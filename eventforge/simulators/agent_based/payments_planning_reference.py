"""Plain Python versions of the planning helpers (:mod:`payments_planning`), for the references
of the typology planners (:mod:`payments_fraud_reference`, :mod:`payments_laundering_reference`).

Each draws the same numbers in the same order as its helper and returns the same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eventforge.simulators.agent_based.payments_planning import SECOND
from eventforge.simulators.agent_based.payments_reference import pick

__all__ = ["count", "gap", "latest", "split", "spread", "uniform"]


def uniform(lo: float, hi: float, rng: np.random.Generator) -> float:
    """Reference of :func:`payments_planning.uniform`."""
    return lo + (hi - lo) * rng.random()


def count(lo: int, hi: int, rng: np.random.Generator) -> int:
    """Reference of :func:`payments_planning.count`."""
    return lo + pick(hi - lo + 1, rng)


def gap(lo: float, hi: float, rng: np.random.Generator) -> float:
    """Reference of :func:`payments_planning.gap`."""
    return max(SECOND, uniform(lo, hi, rng))


def split(k: int, rng: np.random.Generator) -> list[float]:
    """Reference of :func:`payments_planning.split`."""
    w = [rng.exponential(1.0) for _ in range(k)]
    total = 0.0
    for x in w:  # left to right, like the kernel (sum() compensates from Python 3.12)
        total += x
    return [x / total for x in w]


def spread(k: int, start: float, window: float, rng: np.random.Generator) -> list[float]:
    """Reference of :func:`payments_planning.spread`."""
    times = [start]
    for x in sorted(rng.random() for _ in range(k - 1)):
        times.append(max(start + window * x, times[-1] + SECOND))
    return times


def latest(times: Sequence[float]) -> int:
    """Reference of :func:`payments_planning.latest`: the index of the latest of ``times`` (the
    later on a tie); -1 if there are none."""
    best = -1
    for r, t in enumerate(times):
        if best < 0 or t >= times[best]:
            best = r
    return best
