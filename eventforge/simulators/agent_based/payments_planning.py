"""Draws and helpers shared by the typology planners of the payments model
(:mod:`payments_fraud_kernels`, :mod:`payments_laundering_kernels`), as inlined Numba helpers.

One definition of each convention, so that the families cannot drift apart: a uniform on
``[lo, hi]`` is ``lo + (hi - lo) * U``; a count ``lo + floor(U * (hi - lo + 1))``; a gap is a
uniform at least :data:`SECOND`, so that a step is always strictly later than its cause; a split
is normalised exponentials; an episode's last step is its latest row, the later-written on a tie
(the assembly's sort is stable, so that row is the episode's last in the log).
:mod:`payments_planning_reference` holds their plain versions, which draw the same numbers.
Decorating compiles nothing: importing this module stays cheap.
"""

from __future__ import annotations

import numpy as np

from eventforge._numba import inline
from eventforge.simulators.agent_based.epidemic_kernels import pick

__all__ = ["SECOND", "count", "gap", "latest", "split", "spread", "uniform"]

#: One second in days: the least time between a step and its cause (a drawn gap of 0 becomes it).
SECOND = 1.0 / 86400.0


@inline
def uniform(lo: float, hi: float, rng: np.random.Generator) -> float:
    """One draw: ``lo + (hi - lo) * U``, in ``[lo, hi)`` (``lo`` itself when the range is a
    point)."""
    return lo + (hi - lo) * rng.random()


@inline
def count(lo: int, hi: int, rng: np.random.Generator) -> int:
    """One draw: a uniform integer in ``[lo, hi]``, ``lo + floor(U * (hi - lo + 1))``."""
    return lo + pick(hi - lo + 1, rng)


@inline
def gap(lo: float, hi: float, rng: np.random.Generator) -> float:
    """One draw: a uniform gap in days on ``[lo, hi)``, at least :data:`SECOND`."""
    return max(SECOND, uniform(lo, hi, rng))


@inline
def split(k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` draws: weights summing to 1, ``k`` Exp(1) normalised by their sum (a flat
    Dirichlet: a uniform point of the simplex, so every split is equally likely)."""
    w = np.empty(k)
    total = 0.0  # summed in order, as the reference does (NumPy's sum is pairwise)
    for j in range(k):
        w[j] = rng.exponential(1.0)
        total += w[j]
    return w / total


@inline
def spread(k: int, start: float, window: float, rng: np.random.Generator) -> np.ndarray:
    """``k - 1`` draws: ``k`` times over a window, the first at ``start``, time ``j`` at
    ``start + window * u_(j)`` (``u_(1..k-1)`` sorted uniforms, i.e. the order statistics of
    ``k - 1`` arrivals in the window), each at least :data:`SECOND` after the previous."""
    u = np.empty(k - 1)
    for j in range(k - 1):
        u[j] = rng.random()
    u.sort()
    times = np.empty(k)
    times[0] = start
    for j in range(1, k):
        times[j] = max(start + window * u[j - 1], times[j - 1] + SECOND)
    return times


@inline
def latest(time: np.ndarray, lo: int, hi: int) -> int:
    """No draw: the latest of rows ``lo .. hi - 1`` (the later-written on a tie); -1 if none."""
    best = -1
    for r in range(lo, hi):
        if best < 0 or time[r] >= time[best]:
            best = r
    return best
