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
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    Planner,
    episode_arrays,
    in_days,
    planned_rows,
    row_buffers,
)
from eventforge.simulators.agent_based.payments_typology_params import (
    Cycle,
    MuleFanIn,
    MuleFanOut,
    ScatterGather,
)

__all__ = [
    "PLANNERS",
    "plan_cycle",
    "plan_mule_fan_in",
    "plan_mule_fan_out",
    "plan_scatter_gather",
]


def _call(
    kernel: Callable[..., int], kind: str, episodes: EpisodeDraw, bound: int, *args: Any
) -> EpisodeRows:
    """Run ``kind``'s kernel with buffers of ``bound`` rows over the episodes; ``args`` are the
    kind's parameters, code and rng."""
    out = row_buffers(bound, len(episodes))
    return planned_rows(kernel(*episode_arrays(kind, episodes), *args, *out), out, 0)


def plan_mule_fan_in(
    ctx: PlanContext,
    params: MuleFanIn,
    episodes: EpisodeDraw,
    code: int,
    rng: np.random.Generator,
    kernels: ModuleType = payments_laundering_kernels,
) -> EpisodeRows:
    """Mule fan-in episodes (see :func:`payments_laundering_kernels.mule_fan_in`)."""
    k = np.diff(episodes.ptr)
    amount = params.amount
    return _call(
        kernels.mule_fan_in, "mule_fan_in", episodes, int((2 * k + 1).sum()),
        math.log(amount.median), float(amount.sigma),
        *in_days(params.window, ctx),
        float(params.forward[0]), float(params.forward[1]),
        *in_days(params.gap, ctx), int(code), rng,
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
    k = np.diff(episodes.ptr)
    amount, (d_lo, d_hi) = params.amount, params.deposits
    return _call(
        kernels.mule_fan_out, "mule_fan_out", episodes, int((d_hi + 2 * k).sum()),
        math.log(amount.median), float(amount.sigma), int(d_lo), int(d_hi),
        float(params.forward[0]), float(params.forward[1]), float(params.cash_out),
        *in_days(params.gap, ctx), int(code), rng,
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
    k = np.diff(episodes.ptr)
    amount = params.amount
    return _call(
        kernels.cycle, "cycle", episodes, int((k + 2).sum()),
        math.log(amount.median), float(amount.sigma),
        float(params.forward[0]), float(params.forward[1]),
        *in_days(params.gap, ctx), int(code), rng,
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
    k = np.diff(episodes.ptr)
    amount = params.amount
    return _call(
        kernels.scatter_gather, "scatter_gather", episodes, int((2 * k - 1).sum()),
        math.log(amount.median), float(amount.sigma),
        float(params.forward[0]), float(params.forward[1]),
        *in_days(params.gap, ctx), int(code), rng,
    )  # fmt: skip


#: The laundering typologies' planners, by the kind's name in ``TYPOLOGIES``.
PLANNERS: dict[str, Planner] = {
    "mule_fan_in": plan_mule_fan_in,
    "mule_fan_out": plan_mule_fan_out,
    "cycle": plan_cycle,
    "scatter_gather": plan_scatter_gather,
}
