"""The plan of a run's fraud, laundering and decoy episodes, drawn once before the first day.

Planning ahead keeps each day's work to copying a slice of the plan into the day's rows: every
episode's steps (times, accounts, amounts or the fractions they are computed from, causes) are
drawn when the model is built, and the ledger applies them like any transaction
(:func:`payments_kernels.apply_day`): a step whose amount depends on a balance or on what an
earlier step moved carries a fraction (``C_FRAC``), resolved when it is applied.

The planning goes:

1. **Roles** (:func:`draw_roles`): every customer is the subject of one typology or decoy, a mule,
   or nothing, by the shares of ``rare_events`` (multinomial counts, then a permutation).
2. **Episodes** (:func:`draw_episodes`): one per subject, starting on a uniform day at an hour
   drawn from the legitimate hourly profile; its other accounts drawn without replacement from
   the mules (typologies) or from all customers but the subject (decoys; relatives are the
   subject's social neighbours where it has enough). Scripted episodes come after, as written.
3. **Steps**: each kind's planner (:data:`PLANNERS`) writes its episodes' rows
   (:class:`EpisodeRows`), a Numba kernel per kind.
4. **The bank's reaction**: per episode, with probability ``detection`` an alert on its key
   account after its last step, and for a typology with probability ``freeze`` a freeze after it.
5. **Assembly** (:func:`make_plan`): the rows of every kind, stable-sorted by time, cut at the
   run's end; causes renumbered to plan indices; new devices given ids.

Random numbers: all from the model's Generator, in the order above (roles; per kind in
``TYPOLOGIES`` then ``DECOYS`` order its episodes' starts, account counts and accounts; scripted
ones need none; then each kind's planner in the same order; then the reactions, per kind and
episode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.contacts import PopulationSpec, build_population
from eventforge.simulators.agent_based.payments_typology_params import (
    ACCOUNTS,
    DECOYS,
    TYPOLOGIES,
    Episodes,
    PaymentsRareEvents,
    least_accounts,
)

__all__ = [
    "EpisodeDraw",
    "EpisodeRows",
    "Plan",
    "PlanContext",
    "Planner",
    "draw_roles",
    "episode_arrays",
    "in_days",
    "make_plan",
    "plan_context",
    "planned_rows",
    "row_buffers",
]


@dataclass(frozen=True)
class PlanContext:
    """What planners read from the model: arrays by owner (customer ``i`` is owner ``i``,
    merchant ``m`` owner ``n_customers + m``) and by segment, as the model holds them (see
    :class:`~payments_model.PaymentsModel`); times in days from t = 0.

    Durations in the typologies' parameters are in scenario units: divide by ``day_units``.
    A step at or after ``days`` is cut by the assembly (planners need not check)."""

    n_customers: int
    days: int
    day_units: float
    start: datetime
    seg: np.ndarray  # int64 [N]: segment code of each customer
    salary: np.ndarray  # int64 [N]: monthly salary, cents
    payday: np.ndarray  # int64 [S]: day of month of each segment's salary
    limit: np.ndarray  # int64 [N + M]: overdraft, cents
    cat_cum: np.ndarray  # float64 [S, C]: each segment's cumulative category weights
    merch_ptr: np.ndarray  # int64 [C + 1]: merchants of category c: merch_ptr[c]..merch_ptr[c+1]
    merch_cum: np.ndarray  # float64 [M]: cumulative popularity within each category
    merchant_cat: np.ndarray  # int64 [M]: category of each merchant
    amount_mu: np.ndarray  # float64 [C]: log-mean of a card purchase by category
    amount_sigma: np.ndarray  # float64 [C]
    channel_cum: np.ndarray  # float64 [C, 3]: cumulative channel weights (pos, online, mobile)
    hour_cum: np.ndarray  # float64 [24]: cumulative hourly weights
    dev_ptr: np.ndarray  # int64 [N + 1]: customer i's devices dev_ids[dev_ptr[i]:dev_ptr[i+1]]
    dev_ids: np.ndarray  # int64: device ids
    atm_cum: np.ndarray  # float64 [S, W]: cumulative weights of each segment's ATM amounts
    atm_cents: np.ndarray  # int64 [S, W]: the ATM amounts, cents
    indptr: np.ndarray  # int64 [N + 1]: social CSR
    indices: np.ndarray  # int32: social neighbours


@dataclass(frozen=True)
class EpisodeDraw:
    """A kind's episodes: episode ``e`` has subject ``subject[e]`` (a customer), starts at
    ``start[e]`` (days; its first step happens then) and has the other accounts
    ``accounts[ptr[e]:ptr[e + 1]]`` (customers, distinct, never the subject), in the order the
    kind's parameters describe (e.g. scatter-gather's gatherer last)."""

    subject: np.ndarray  # int64 [E]
    start: np.ndarray  # float64 [E]
    ptr: np.ndarray  # int64 [E + 1]
    accounts: np.ndarray  # int64 [P]

    def __len__(self) -> int:
        return int(self.subject.shape[0])


@dataclass(frozen=True)
class EpisodeRows:
    """A kind's planned rows, episode after episode (the rows of one episode in any order).

    ``rows[k]`` has the columns ``payments_kernels.C_*`` with owners (not account ids) in
    ``C_FROM``/``C_TO`` (-1: outside the bank); ``C_CAUSE`` the index *in these rows* of the
    step it follows from (-1 only for an episode's first step, its root), which is strictly
    earlier in ``time``; ``C_RARE`` (typologies) or ``C_DECOY`` (decoys) the code the planner
    was given, the other -1; ``C_STEP`` -1; ``C_DEVICE`` a device id from ``ctx.dev_ids``, -1
    for none, or ``-2 - j`` for the ``j``-th new device of these rows (a fraudster's);
    ``C_CENTS`` the amount, or 0 with ``C_FRAC`` != 0 (see ``payments_kernels``).
    ``key[e]`` is the owner an alert on episode ``e`` is about and ``last[e]`` the row of its
    last step (the alert's cause)."""

    time: np.ndarray  # float64 [n], days
    rows: np.ndarray  # int64 [n, N_COLS]
    key: np.ndarray  # int64 [E]
    last: np.ndarray  # int64 [E]
    new_devices: int


#: A kind's planner: ``(ctx, params, episodes, code, rng) -> rows``.
Planner = Callable[[PlanContext, Any, EpisodeDraw, int, np.random.Generator], EpisodeRows]


def plan_context(model: Any, days: int) -> PlanContext:
    """The planners' view of a built :class:`~payments_model.PaymentsModel` for a run of
    ``days`` days."""
    m = model
    return PlanContext(
        n_customers=m.n_customers, days=days, day_units=m.day_units, start=m.start, seg=m.seg,
        salary=m.salary, payday=m.payday, limit=m.limit, cat_cum=m.cat_cum,
        merch_ptr=m.merch_ptr, merch_cum=m.merch_cum, merchant_cat=m.merchant_cat,
        amount_mu=m.amount_mu, amount_sigma=m.amount_sigma, channel_cum=m.channel_cum,
        hour_cum=m.hour_cum, dev_ptr=m.dev_ptr, dev_ids=m.dev_ids, atm_cum=m.atm_cum,
        atm_cents=m.atm_cents, indptr=m.indptr, indices=m.indices,
    )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """Every planned step of the run, sorted by time (stable), as rows for the day buffers:
    ``rows[s]`` has ``C_STEP = s`` and ``C_CAUSE`` the plan index of its cause (earlier), owners
    in ``C_FROM``/``C_TO``, final device ids. Day ``d``'s steps are ``day_ptr[d]:day_ptr[d+1]``.
    ``episodes[kind]`` counts the episodes of each typology and decoy with a step in the run;
    ``device_ids`` (when not None) is the permutation the model applies to its own device ids,
    so that the fraudsters' new devices are drawn from the same id space."""

    time: np.ndarray
    rows: np.ndarray
    day_ptr: np.ndarray
    episodes: dict[str, int]
    device_ids: np.ndarray | None

    def __len__(self) -> int:
        return int(self.time.shape[0])


#: Roles in the order of their codes: the typologies, the decoys, then the mules.
ROLES = (*TYPOLOGIES, *DECOYS, "mule")


def in_days(duration: list[float], ctx: PlanContext) -> tuple[float, float]:
    """A ``[low, high]`` duration range in scenario units, as ``(low, high)`` in days."""
    return float(duration[0]) / ctx.day_units, float(duration[1]) / ctx.day_units


def episode_arrays(
    kind: str, episodes: EpisodeDraw
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(subject, start, ptr, accounts)`` with the kernels' dtypes, after checking that every
    episode has the other accounts its kind needs (the kernels index them without looking):
    ``ValueError`` naming the first that has too few."""
    counts = np.diff(episodes.ptr)
    least = least_accounts(kind)
    short = np.flatnonzero(counts < least)
    if short.size:
        e = int(short[0])
        raise ValueError(
            f"{kind}: episode {e} has {int(counts[e])} other accounts (needs >= {least}; "
            f"subject {int(episodes.subject[e])})"
        )
    return (
        np.ascontiguousarray(episodes.subject, dtype=np.int64),
        np.ascontiguousarray(episodes.start, dtype=np.float64),
        np.ascontiguousarray(episodes.ptr, dtype=np.int64),
        np.ascontiguousarray(episodes.accounts, dtype=np.int64),
    )


def row_buffers(bound: int, episodes: int) -> tuple[np.ndarray, ...]:
    """A planner kernel's outputs for at most ``bound`` rows: ``(time, rows, key, last)``."""
    return (
        np.empty(bound),
        np.empty((bound, K.N_COLS), dtype=np.int64),
        np.empty(episodes, dtype=np.int64),
        np.empty(episodes, dtype=np.int64),
    )


def planned_rows(n: int, buffers: tuple[np.ndarray, ...], new_devices: int) -> EpisodeRows:
    """The ``n`` rows a planner kernel wrote into ``buffers`` (copied: the bound is loose)."""
    time, rows, key, last = buffers
    return EpisodeRows(time[:n].copy(), rows[:n].copy(), key, last, new_devices)


def planners() -> dict[str, Planner]:
    """Each kind's planner (imported on first use: the kernels compile only if a scenario has
    episodes)."""
    from eventforge.simulators.agent_based.payments_fraud import PLANNERS as FRAUD
    from eventforge.simulators.agent_based.payments_laundering import PLANNERS as LAUNDERING

    return {**FRAUD, **LAUNDERING}


def draw_roles(rare: PaymentsRareEvents, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each customer's role: a code into :data:`ROLES`, or ``len(ROLES)`` for none."""
    shares = [_share(rare, role) for role in ROLES]
    shares.append(max(0.0, 1.0 - sum(shares)))
    groups = {str(k): v for k, v in enumerate(shares)}
    return build_population(PopulationSpec.model_construct(size=n, age_groups=groups), rng)


def _share(rare: PaymentsRareEvents, role: str) -> float:
    if role == "mule":
        return rare.mules
    kind: Episodes | None = getattr(rare, role)
    return 0.0 if kind is None else kind.share


def _start_times(ctx: PlanContext, e: int, rng: np.random.Generator) -> np.ndarray:
    """``e`` starts: a uniform day of the run, an hour by the hourly profile, uniform within."""
    day = np.floor(rng.random(e) * ctx.days)
    hour = np.searchsorted(ctx.hour_cum, rng.random(e), side="right")
    return day + (hour + rng.random(e)) / 24.0


def _others(pool: np.ndarray, k: int, subject: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct members of ``pool`` other than ``subject`` (fewer if it has fewer)."""
    chosen = rng.choice(pool, size=min(k + 1, pool.shape[0]), replace=False)
    return chosen[chosen != subject][:k]


def draw_episodes(
    ctx: PlanContext,
    kind: str,
    params: Episodes,
    subjects: np.ndarray,
    mules: np.ndarray,
    rng: np.random.Generator,
) -> EpisodeDraw:
    """The random episodes of ``kind``: one per subject (see the module doc). An episode that
    cannot have the accounts it needs (too few mules) is left out."""
    start = _start_times(ctx, subjects.shape[0], rng)
    field, extra = ACCOUNTS[kind]
    if field is None:
        empty = np.zeros(subjects.shape[0] + 1, dtype=np.int64)
        return EpisodeDraw(subjects.astype(np.int64), start, empty, np.zeros(0, np.int64))
    lo, hi = getattr(params, field)
    counts = lo + np.floor(rng.random(subjects.shape[0]) * (hi - lo + 1)).astype(np.int64)
    everyone = np.arange(ctx.n_customers, dtype=np.int64)
    pool = mules if kind in TYPOLOGIES else everyone
    keep, lists = [], []
    for e, (i, k) in enumerate(zip(subjects.tolist(), (counts + extra).tolist(), strict=True)):
        friends = ctx.indices[ctx.indptr[i] : ctx.indptr[i + 1]]
        if kind == "family_fan_out" and friends.shape[0] >= k:
            chosen = rng.permutation(friends.astype(np.int64))[:k]
        else:
            chosen = _others(pool, k, i, rng)
        if chosen.shape[0] == k:
            keep.append(e)
            lists.append(chosen)
    return _draw(subjects[keep], start[keep], lists)


def _draw(subject: np.ndarray, start: np.ndarray, lists: list[np.ndarray]) -> EpisodeDraw:
    ptr = np.concatenate(([0], np.cumsum([a.shape[0] for a in lists]))).astype(np.int64)
    accounts = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)
    return EpisodeDraw(np.asarray(subject, np.int64), np.asarray(start, np.float64), ptr, accounts)


def _scripted(ctx: PlanContext, rare: PaymentsRareEvents, kind: str) -> EpisodeDraw:
    episodes = [s for s in rare.scripted if s.kind == kind]
    return _draw(
        np.array([s.subject for s in episodes], dtype=np.int64),
        np.array([s.start / ctx.day_units for s in episodes], dtype=np.float64),
        [np.array(s.accounts, dtype=np.int64) for s in episodes],
    )


def _join(a: EpisodeDraw, b: EpisodeDraw) -> EpisodeDraw:
    return EpisodeDraw(
        np.concatenate((a.subject, b.subject)),
        np.concatenate((a.start, b.start)),
        np.concatenate((a.ptr, b.ptr[1:] + a.ptr[-1])),
        np.concatenate((a.accounts, b.accounts)),
    )


def _reactions(
    ctx: PlanContext, params: Episodes, planned: EpisodeRows, code: int, typology: bool,
    rng: np.random.Generator,
) -> tuple[list[float], list[list[int]]]:  # fmt: skip
    """The bank's alerts (and, for typologies, freezes) on ``planned``'s episodes: times and
    rows, with causes indexing ``planned.rows`` followed by these rows."""
    times: list[float] = []
    rows: list[list[int]] = []
    base = planned.rows.shape[0]
    for key, last in zip(planned.key.tolist(), planned.last.tolist(), strict=True):
        if last < 0 or rng.random() >= params.detection:
            continue
        lo, hi = params.alert_delay
        t = float(planned.time[last]) + _delay(lo, hi, ctx, rng)
        times.append(t)
        rows.append(_bank_row(K.ALERT, key, last, code, typology))
        if typology and rng.random() < params.freeze:
            lo, hi = params.freeze_delay
            times.append(t + _delay(lo, hi, ctx, rng))
            rows.append(_bank_row(K.FREEZE, key, base + len(rows) - 1, code, typology))
    return times, rows


def _delay(lo: float, hi: float, ctx: PlanContext, rng: np.random.Generator) -> float:
    """A uniform delay in days, at least a second (a reaction follows what it reacts to)."""
    return max((lo + (hi - lo) * rng.random()) / ctx.day_units, 1.0 / 86400.0)


def _bank_row(kind: int, owner: int, cause: int, code: int, typology: bool) -> list[int]:
    row = [-1] * K.N_COLS
    row[K.C_TYPE], row[K.C_FROM], row[K.C_CENTS], row[K.C_FRAC] = kind, owner, 0, 0
    row[K.C_CAUSE] = cause
    row[K.C_RARE if typology else K.C_DECOY] = code
    return row


def make_plan(
    ctx: PlanContext, rare: PaymentsRareEvents, n_devices: int, rng: np.random.Generator
) -> Plan:
    """The run's plan (see the module doc); ``n_devices`` is how many device ids the model has."""
    roles = draw_roles(rare, ctx.n_customers, rng)
    mules = np.flatnonzero(roles == ROLES.index("mule")).astype(np.int64)
    kinds = rare.configured()
    draws = {}
    for kind in kinds:
        subjects = np.flatnonzero(roles == ROLES.index(kind)).astype(np.int64)
        randoms = draw_episodes(ctx, kind, getattr(rare, kind), subjects, mules, rng)
        draws[kind] = _join(randoms, _scripted(ctx, rare, kind))
    every = planners()
    times: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    offset = devices = 0
    counted: dict[str, EpisodeRows] = {}
    for kind in kinds:
        typology = kind in TYPOLOGIES
        code = list(TYPOLOGIES if typology else DECOYS).index(kind)
        planned = every[kind](ctx, getattr(rare, kind), draws[kind], code, rng)
        counted[kind] = planned
        more_t, more_rows = _reactions(ctx, getattr(rare, kind), planned, code, typology, rng)
        extra = np.array(more_rows, dtype=np.int64).reshape(len(more_rows), K.N_COLS)
        rows = np.concatenate((planned.rows, extra))
        linked = rows[:, K.C_CAUSE] >= 0
        rows[linked, K.C_CAUSE] += offset
        new = rows[:, K.C_DEVICE] <= -2
        rows[new, K.C_DEVICE] = n_devices + devices + (-2 - rows[new, K.C_DEVICE])
        devices += planned.new_devices
        times.append(np.concatenate((planned.time, np.array(more_t, dtype=np.float64))))
        blocks.append(rows)
        offset += rows.shape[0]
    return _assemble(ctx, times, blocks, counted, n_devices, devices, rng)


def _assemble(
    ctx: PlanContext,
    times: list[np.ndarray],
    blocks: list[np.ndarray],
    counted: dict[str, EpisodeRows],
    n_devices: int,
    new_devices: int,
    rng: np.random.Generator,
) -> Plan:
    """Sort every kind's rows by time, cut them at the run's end, renumber the causes."""
    time = np.concatenate(times) if times else np.zeros(0)
    rows = np.concatenate(blocks) if blocks else np.zeros((0, K.N_COLS), dtype=np.int64)
    order = np.argsort(time, kind="stable")
    keep = order[time[order] < ctx.days]  # a step's descendants are later: cut with it
    where = np.full(time.shape[0], -1, dtype=np.int64)
    where[keep] = np.arange(keep.shape[0])
    rows, time = rows[keep], time[keep]
    linked = rows[:, K.C_CAUSE] >= 0
    rows[linked, K.C_CAUSE] = where[rows[linked, K.C_CAUSE]]
    if bool((rows[:, K.C_CAUSE] >= np.arange(rows.shape[0])).any()):
        raise RuntimeError("payments: a planned step does not follow its cause")
    rows[:, K.C_STEP] = np.arange(rows.shape[0])
    device_ids = None
    if new_devices:
        device_ids = rng.permutation(n_devices + new_devices).astype(np.int64)
        mapped = rows[:, K.C_DEVICE] >= 0
        rows[mapped, K.C_DEVICE] = device_ids[rows[mapped, K.C_DEVICE]]
    day_ptr = np.searchsorted(time, np.arange(ctx.days + 1), side="left").astype(np.int64)
    # An episode has one root (its first step): count those in the run.
    episodes = {
        kind: int(np.count_nonzero((p.rows[:, K.C_CAUSE] < 0) & (p.time < ctx.days)))
        for kind, p in counted.items()
    }
    return Plan(time, np.ascontiguousarray(rows), day_ptr, episodes, device_ids)
