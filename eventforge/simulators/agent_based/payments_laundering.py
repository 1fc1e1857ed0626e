"""The planners of the money-laundering typologies (:data:`PLANNERS`): typed wrappers that unpack
a kind's parameters (durations to days), size the buffers and call the kind's kernel in
:mod:`payments_laundering_kernels` (or, for the tests, :mod:`payments_laundering_reference`).

Rows per episode with ``k`` other accounts (the buffers' bound; every laundering step has a fixed
amount): mule fan-in ``2k + 1``, mule fan-out ``deposits_hi + 2k``, cycle ``k + 2``,
scatter-gather ``2k - 1`` (``k`` counting the gatherer). The kernels' docstrings give each kind's
steps and the order of its random draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from eventforge.simulators.agent_based import payments_laundering_kernels
from eventforge.simulators.agent_based.payments_kernels import N_COLS
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    Planner,
)
from eventforge.simulators.agent_based.payments_typology_params import (
    Cycle,
    MuleFanIn,
    MuleFanOut,
    ScatterGather,
)

__all__ = [
    "MIN_ACCOUNTS",
    "PLANNERS",
    "plan_cycle",
    "plan_mule_fan_in",
    "plan_mule_fan_out",
    "plan_scatter_gather",
]

#: The fewest other accounts an episode of each kind needs (a scatter-gather: one intermediary
#: and the gatherer); the random draw never gives fewer, a scripted episode must be checked.
MIN_ACCOUNTS = {"mule_fan_in": 1, "mule_fan_out": 1, "cycle": 1, "scatter_gather": 2}


def _counts(kind: str, episodes: EpisodeDraw) -> np.ndarray:
    """The number of other accounts of each episode; ``ValueError`` if one has too few."""
    k = np.diff(episodes.ptr)
    short = np.flatnonzero(k < MIN_ACCOUNTS[kind])
    if short.size:
        e = int(short[0])
        raise ValueError(
            f"{kind}: episode {e} (subject {int(episodes.subject[e])}) has {int(k[e])} other "
            f"accounts, needs at least {MIN_ACCOUNTS[kind]}"
        )
    return k


def _call(kernel: Callable[..., int], episodes: EpisodeDraw, bound: int, *args: Any) -> EpisodeRows:
    """Run a kind's kernel with buffers of ``bound`` rows over the episodes (dtypes fixed, as the
    compiled kernels are typed by them); ``args`` are the kind's parameters, code and rng."""
    n_ep = len(episodes)
    time = np.empty(bound)
    rows = np.empty((bound, N_COLS), dtype=np.int64)
    key = np.empty(n_ep, dtype=np.int64)
    last = np.empty(n_ep, dtype=np.int64)
    n = kernel(
        np.ascontiguousarray(episodes.subject, dtype=np.int64),
        np.ascontiguousarray(episodes.start, dtype=np.float64),
        np.ascontiguousarray(episodes.ptr, dtype=np.int64),
        np.ascontiguousarray(episodes.accounts, dtype=np.int64),
        *args, time, rows, key, last,
    )  # fmt: skip
    return EpisodeRows(time=time[:n], rows=rows[:n], key=key, last=last, new_devices=0)


def plan_mule_fan_in(
    ctx: PlanContext,
    params: MuleFanIn,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    kernels: ModuleType = payments_laundering_kernels,
) -> EpisodeRows:
    """Mule fan-in episodes (see :func:`payments_laundering_kernels.mule_fan_in`)."""
    k = _counts("mule_fan_in", episodes)
    days, amount = ctx.day_units, params.amount
    return _call(
        kernels.mule_fan_in, episodes, int((2 * k + 1).sum()),
        math.log(amount.median), float(amount.sigma),
        params.window[0] / days, params.window[1] / days,
        float(params.forward[0]), float(params.forward[1]),
        params.gap[0] / days, params.gap[1] / days, int(code), rng,
    )  # fmt: skip


def plan_mule_fan_out(
    ctx: PlanContext,
    params: MuleFanOut,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    kernels: ModuleType = payments_laundering_kernels,
) -> EpisodeRows:
    """Mule fan-out episodes (see :func:`payments_laundering_kernels.mule_fan_out`)."""
    k = _counts("mule_fan_out", episodes)
    days, amount, (d_lo, d_hi) = ctx.day_units, params.amount, params.deposits
    return _call(
        kernels.mule_fan_out, episodes, int((d_hi + 2 * k).sum()),
        math.log(amount.median), float(amount.sigma), int(d_lo), int(d_hi),
        float(params.forward[0]), float(params.forward[1]), float(params.cash_out),
        params.gap[0] / days, params.gap[1] / days, int(code), rng,
    )  # fmt: skip


def plan_cycle(
    ctx: PlanContext,
    params: Cycle,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    kernels: ModuleType = payments_laundering_kernels,
) -> EpisodeRows:
    """Cycle episodes (see :func:`payments_laundering_kernels.cycle`)."""
    k = _counts("cycle", episodes)
    days, amount = ctx.day_units, params.amount
    return _call(
        kernels.cycle, episodes, int((k + 2).sum()),
        math.log(amount.median), float(amount.sigma),
        float(params.forward[0]), float(params.forward[1]),
        params.gap[0] / days, params.gap[1] / days, int(code), rng,
    )  # fmt: skip


def plan_scatter_gather(
    ctx: PlanContext,
    params: ScatterGather,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    kernels: ModuleType = payments_laundering_kernels,
) -> EpisodeRows:
    """Scatter-gather episodes (see :func:`payments_laundering_kernels.scatter_gather`)."""
    k = _counts("scatter_gather", episodes)
    days, amount = ctx.day_units, params.amount
    return _call(
        kernels.scatter_gather, episodes, int((2 * k - 1).sum()),
        math.log(amount.median), float(amount.sigma),
        float(params.forward[0]), float(params.forward[1]),
        params.gap[0] / days, params.gap[1] / days, int(code), rng,
    )  # fmt: skip


#: The laundering typologies' planners, by the kind's name in ``TYPOLOGIES``.
PLANNERS: dict[str, Planner] = {
    "mule_fan_in": plan_mule_fan_in,
    "mule_fan_out": plan_mule_fan_out,
    "cycle": plan_cycle,
    "scatter_gather": plan_scatter_gather,
}
