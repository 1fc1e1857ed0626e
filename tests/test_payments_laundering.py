"""payments: the laundering planners (mule fan-in, mule fan-out, cycle, scatter-gather). Kernels
against their plain references; the structure every planner promises (one root per episode at
its start, causes inside the episode and strictly earlier, key and last, accounts, row kinds);
each kind's own steps and ranges; and statistics against the parameters' ranges.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each. A
uniform draw on ``[lo, hi]`` has standard deviation ``(hi - lo) / sqrt(12)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based import (
    payments_laundering_kernels,
    payments_laundering_reference,
)
from eventforge.simulators.agent_based.payments_laundering import PLANNERS, plan_scatter_gather
from eventforge.simulators.agent_based.payments_model import PaymentsModel
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from eventforge.simulators.agent_based.payments_planning import SECOND
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    plan_context,
)
from eventforge.simulators.agent_based.payments_typology_params import TYPOLOGIES, least_accounts
from eventforge.simulators.base import NoRareEvents
from tests.simulate import START

HOURS = {"time_unit_s": 3600.0}
N = 2000
DAYS = 60
CODE = 3  # any typology code: the planners copy it to C_RARE
#: Each kind's parameters (scenario units: hours) and its other accounts' count range.
KINDS: dict[str, tuple[dict[str, Any], tuple[int, int]]] = {
    "mule_fan_in": ({"share": 0.01}, (5, 20)),
    "mule_fan_out": ({"share": 0.01}, (3, 12)),
    "cycle": ({"share": 0.01}, (2, 6)),
    "scatter_gather": ({"share": 0.01}, (4, 11)),  # 3..10 intermediaries and the gatherer
}


@pytest.fixture(scope="module")
def ctx() -> PlanContext:
    """A small bank's planning context (the planners read only its size and units)."""
    params = PaymentsParams.model_validate(
        {
            "currency": "EUR",
            "customers": {
                "size": N,
                "segments": {
                    "worker": {
                        "share": 1.0, "salary": {"mean": 2500, "cv": 0.3}, "payday": 25,
                        "card_per_day": 1.0, "categories": {"grocery": 1},
                        "overdraft": 500, "opening_balance": {"mean": 2000, "cv": 1.0},
                    },
                },
            },
            "merchants": {
                "categories": {"grocery": {"count": 20, "amount": {"median": 25, "sigma": 0.8}}}
            },
        },
        context=HOURS,
    )  # fmt: skip
    model = PaymentsModel(params, NoRareEvents(), np.random.default_rng(0), 24.0, START)
    context = plan_context(model, DAYS)
    model.release()
    return context


def _params(kind: str, **override: Any) -> Any:
    return TYPOLOGIES[kind].model_validate({**KINDS[kind][0], **override}, context=HOURS)


def _episodes(kind: str, n_ep: int, seed: int) -> EpisodeDraw:
    """``n_ep`` episodes of ``kind``: subject and accounts distinct, counts uniform in the kind's
    range, starts uniform over the first half of the run."""
    rng = np.random.default_rng(seed)
    lo, hi = KINDS[kind][1]
    k = rng.integers(lo, hi + 1, size=n_ep)
    ptr = np.concatenate(([0], np.cumsum(k))).astype(np.int64)
    subject = np.empty(n_ep, dtype=np.int64)
    accounts = np.empty(int(ptr[-1]), dtype=np.int64)
    for e in range(n_ep):
        ids = rng.choice(N, size=k[e] + 1, replace=False)
        subject[e], accounts[ptr[e] : ptr[e + 1]] = ids[0], ids[1:]
    return EpisodeDraw(subject, rng.uniform(0.0, DAYS / 2, size=n_ep), ptr, accounts)


def _plan(ctx: PlanContext, kind: str, ep: EpisodeDraw, seed: int = 7, **kw: Any) -> EpisodeRows:
    return PLANNERS[kind](ctx, _params(kind, **kw), ep, CODE, np.random.default_rng(seed))


def _blocks(out: EpisodeRows, ep: EpisodeDraw) -> list[np.ndarray]:
    """Each episode's rows (episodes are written one after another, each from its root)."""
    roots = np.flatnonzero(out.rows[:, K.C_CAUSE] == -1)
    assert roots.shape[0] == len(ep) and roots[0] == 0
    bounds = [*roots.tolist(), out.time.shape[0]]
    return [np.arange(bounds[e], bounds[e + 1]) for e in range(len(ep))]


def _check_structure(out: EpisodeRows, ep: EpisodeDraw) -> list[np.ndarray]:
    """The promises of :class:`EpisodeRows` for laundering rows; returns the episodes' rows."""
    rows, time = out.rows, out.time
    blocks = _blocks(out, ep)
    assert out.new_devices == 0
    np.testing.assert_array_equal(time[[b[0] for b in blocks]], ep.start)
    assert (rows[:, K.C_RARE] == CODE).all() and (rows[:, K.C_FRAC] == 0).all()
    for col in (K.C_DECOY, K.C_STEP, K.C_MERCHANT, K.C_CATEGORY, K.C_DEVICE):
        assert (rows[:, col] == -1).all()
    assert (rows[:, K.C_CENTS] > 0).all()
    kind, frm, to, ch = (rows[:, c] for c in (K.C_TYPE, K.C_FROM, K.C_TO, K.C_CHANNEL))
    cash_in, p2p, atm = kind == K.CASH_IN, kind == K.P2P, kind == K.ATM
    assert (cash_in | p2p | atm).all()
    assert ((frm[cash_in] == -1) & (to[cash_in] >= 0) & (ch[cash_in] == K.BRANCH)).all()
    assert ((frm[p2p] >= 0) & (to[p2p] >= 0) & (frm[p2p] != to[p2p])).all()
    assert (ch[p2p] == K.TRANSFER).all()
    assert ((frm[atm] >= 0) & (to[atm] == -1) & (ch[atm] == K.CH_ATM)).all()
    assert (rows[atm, K.C_CENTS] % K.NOTE_CENTS == 0).all()
    for e, b in enumerate(blocks):
        cause = rows[b[1:], K.C_CAUSE]
        assert ((cause >= b[0]) & (cause <= b[-1])).all()
        assert (time[cause] < time[b[1:]]).all()
        assert out.last[e] in b and time[out.last[e]] == time[b].max()
        owners = set(frm[b].tolist()) | set(to[b].tolist())
        allowed = {-1, int(ep.subject[e]), *ep.accounts[ep.ptr[e] : ep.ptr[e + 1]].tolist()}
        assert owners <= allowed
    return blocks


def _gaps(out: EpisodeRows, rows: np.ndarray) -> np.ndarray:
    """The time from each of ``rows``' cause to it."""
    return out.time[rows] - out.time[out.rows[rows, K.C_CAUSE]]


def _assert_uniform_mean(x: np.ndarray, lo: float, hi: float) -> None:
    """Mean of i.i.d. U(lo, hi) draws within 4 SE, SE = (hi - lo) / sqrt(12 n)."""
    assert lo <= x.min() and x.max() <= hi
    se = (hi - lo) / math.sqrt(12 * x.shape[0])
    assert abs(x.mean() - (lo + hi) / 2) < 4 * se


# --- kernels vs references ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_kernels_equal_their_references(ctx: PlanContext, kind: str) -> None:
    ep = _episodes(kind, 60, seed=1)
    out: list[EpisodeRows] = []
    rngs = [np.random.default_rng(11), np.random.default_rng(11)]
    for module, rng in zip(
        (payments_laundering_kernels, payments_laundering_reference), rngs, strict=True
    ):
        planner: Any = PLANNERS[kind]
        out.append(planner(ctx, _params(kind), ep, CODE, rng, kernels=module))
    fast, slow = out
    for name in ("time", "rows", "key", "last"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    assert fast.new_devices == slow.new_devices
    assert rngs[0].random() == rngs[1].random()  # both drew the same count of numbers


# --- each kind's steps --------------------------------------------------------------------------


def test_mule_fan_in(ctx: PlanContext) -> None:
    params = _params("mule_fan_in")
    ep = _episodes("mule_fan_in", 400, seed=2)
    out = _plan(ctx, "mule_fan_in", ep)
    rows, time = out.rows, out.time
    ratios, log_deposits, transfers, spans = [], [], [], []
    for e, b in enumerate(_check_structure(out, ep)):
        src, i = ep.accounts[ep.ptr[e] : ep.ptr[e + 1]], int(ep.subject[e])
        k = src.shape[0]
        assert out.key[e] == i and b.shape[0] == 2 * k + 1
        dep, tr, cash = b[0 : 2 * k : 2], b[1 : 2 * k : 2], b[-1]
        assert (rows[dep, K.C_TYPE] == K.CASH_IN).all() and (rows[dep, K.C_TO] == src).all()
        assert (rows[tr, K.C_FROM] == src).all() and (rows[tr, K.C_TO] == i).all()
        assert (rows[tr, K.C_CAUSE] == dep).all()
        # deposit j follows source j-1's transfer when that is earlier, else its deposit
        earlier = time[tr[:-1]] < time[dep[1:]]
        np.testing.assert_array_equal(
            rows[dep[1:], K.C_CAUSE], np.where(earlier, tr[:-1], dep[:-1])
        )
        spans.append((time[dep[-1]] - time[dep[0]]) * 24.0)  # hours
        assert rows[cash, K.C_TYPE] == K.ATM and rows[cash, K.C_FROM] == i
        latest = tr[np.argmax(time[tr])]
        assert rows[cash, K.C_CAUSE] == latest and out.last[e] == cash
        total = rows[tr, K.C_CENTS].sum()
        lo, hi = params.forward
        assert total * lo - K.NOTE_CENTS < rows[cash, K.C_CENTS] <= total * hi
        ratios.extend((rows[tr, K.C_CENTS] / rows[dep, K.C_CENTS]).tolist())
        log_deposits.extend(np.log(rows[dep, K.C_CENTS] / 100.0).tolist())
        transfers.extend(tr.tolist())
    # the window bounds the deposits' span (plus a second per deposit at most)
    assert max(spans) <= params.window[1] + 20 / 3600.0
    # rounding to the cent moves a ratio by < 0.5 / 100 cents of a deposit: far under the SE
    _assert_uniform_mean(np.array(ratios), *params.forward)
    _assert_uniform_mean(_gaps(out, np.array(transfers)) * 24.0, *params.gap)
    # log(amount) ~ N(log median, sigma): SE = sigma / sqrt(n)
    se = params.amount.sigma / math.sqrt(len(log_deposits))
    assert abs(np.mean(log_deposits) - math.log(params.amount.median)) < 4 * se


def test_mule_fan_out(ctx: PlanContext) -> None:
    params = _params("mule_fan_out")
    ep = _episodes("mule_fan_out", 400, seed=3)
    out = _plan(ctx, "mule_fan_out", ep)
    rows, time = out.rows, out.time
    d_lo, d_hi = params.deposits
    counts, forwards, eligible, withdrawn, chain = [], [], 0, 0, []
    for e, b in enumerate(_check_structure(out, ep)):
        mules, i = ep.accounts[ep.ptr[e] : ep.ptr[e + 1]], int(ep.subject[e])
        assert out.key[e] == i
        kind = rows[b, K.C_TYPE]
        dep, tr, atm = b[kind == K.CASH_IN], b[kind == K.P2P], b[kind == K.ATM]
        d = dep.shape[0]
        assert d_lo <= d <= d_hi and b.shape[0] <= d_hi + 2 * mules.shape[0]
        np.testing.assert_array_equal(dep, b[:d])  # the deposits come first, at the subject
        assert (rows[dep, K.C_TO] == i).all()
        np.testing.assert_array_equal(rows[dep[1:], K.C_CAUSE], dep[:-1])
        assert (rows[tr, K.C_FROM] == i).all() and (rows[tr, K.C_TO] == mules).all()
        np.testing.assert_array_equal(rows[tr, K.C_CAUSE], [dep[-1], *tr[:-1]])
        assert (time[tr[1:]] > time[tr[:-1]]).all()
        # each withdrawal: by the mule it follows, its transfer in notes
        cause = rows[atm, K.C_CAUSE]
        assert (rows[atm, K.C_FROM] == rows[cause, K.C_TO]).all()
        np.testing.assert_array_equal(
            rows[atm, K.C_CENTS], rows[cause, K.C_CENTS] // K.NOTE_CENTS * K.NOTE_CENTS
        )
        counts.append(d)
        # the transfers pay out f * the placement; each amount is rounded to the cent
        paid, placed = rows[tr, K.C_CENTS].sum(), rows[dep, K.C_CENTS].sum()
        f = paid / placed
        slack = (d + mules.shape[0]) / placed
        assert params.forward[0] - slack <= f <= params.forward[1] + slack
        forwards.append(f)
        eligible += int((rows[tr, K.C_CENTS] >= K.NOTE_CENTS).sum())
        withdrawn += atm.shape[0]
        chain.extend(b[1:].tolist())
    # d uniform on d_lo..d_hi: variance ((hi - lo + 1)^2 - 1) / 12
    se = math.sqrt(((d_hi - d_lo + 1) ** 2 - 1) / 12 / len(counts))
    assert abs(np.mean(counts) - (d_lo + d_hi) / 2) < 4 * se
    # rounding moves f by < (d + k) cents / placement (~1e-5): far under the SE
    _assert_uniform_mean(np.clip(forwards, *params.forward), *params.forward)
    # a mule whose transfer covers a note withdraws with probability cash_out: binomial SE
    p = params.cash_out
    assert abs(withdrawn / eligible - p) < 4 * math.sqrt(p * (1 - p) / eligible)
    _assert_uniform_mean(_gaps(out, np.array(chain)) * 24.0, *params.gap)


def test_cycle(ctx: PlanContext) -> None:
    params = _params("cycle")
    ep = _episodes("cycle", 400, seed=4)
    out = _plan(ctx, "cycle", ep)
    rows = out.rows
    ratios, hops = [], []
    for e, b in enumerate(_check_structure(out, ep)):
        ring, i = ep.accounts[ep.ptr[e] : ep.ptr[e + 1]], int(ep.subject[e])
        assert out.key[e] == i and out.last[e] == b[-1] and b.shape[0] == ring.shape[0] + 2
        assert rows[b[0], K.C_TYPE] == K.CASH_IN and rows[b[0], K.C_TO] == i
        h = b[1:]
        assert (rows[h, K.C_TYPE] == K.P2P).all()
        np.testing.assert_array_equal(rows[h, K.C_FROM], [i, *ring])
        np.testing.assert_array_equal(rows[h, K.C_TO], [*ring, i])
        np.testing.assert_array_equal(rows[h, K.C_CAUSE], b[:-1])
        ratios.extend((rows[h, K.C_CENTS] / rows[b[:-1], K.C_CENTS]).tolist())
        hops.extend(h.tolist())
    # each hop is the previous amount * U(forward) rounded to the cent (amounts ~5000 EUR: the
    # rounding moves a ratio by < 1e-6, far under the SE)
    r = np.array(ratios)
    lo, hi = params.forward
    assert lo - 1e-5 <= r.min() and r.max() <= hi + 1e-5
    _assert_uniform_mean(np.clip(r, lo, hi), lo, hi)
    _assert_uniform_mean(_gaps(out, np.array(hops)) * 24.0, *params.gap)


def test_scatter_gather(ctx: PlanContext) -> None:
    params = _params("scatter_gather")
    ep = _episodes("scatter_gather", 400, seed=5)
    out = _plan(ctx, "scatter_gather", ep)
    rows = out.rows
    ratios, scatters = [], []
    for e, b in enumerate(_check_structure(out, ep)):
        *middle, gatherer = ep.accounts[ep.ptr[e] : ep.ptr[e + 1]].tolist()
        i, k = int(ep.subject[e]), len(middle)
        assert out.key[e] == gatherer and b.shape[0] == 2 * k + 1
        dep, sc, ga = b[0], b[1::2], b[2::2]
        assert rows[dep, K.C_TYPE] == K.CASH_IN and rows[dep, K.C_TO] == i
        assert (rows[sc, K.C_FROM] == i).all() and (rows[sc, K.C_TO] == middle).all()
        np.testing.assert_array_equal(rows[sc, K.C_CAUSE], [dep, *sc[:-1]])
        assert (rows[ga, K.C_FROM] == middle).all() and (rows[ga, K.C_TO] == gatherer).all()
        np.testing.assert_array_equal(rows[ga, K.C_CAUSE], sc)
        # the scatters split the placement: each rounded to the cent (< 1 cent off each)
        assert abs(rows[sc, K.C_CENTS].sum() - rows[dep, K.C_CENTS]) <= k + 1
        ratios.extend((rows[ga, K.C_CENTS] / rows[sc, K.C_CENTS]).tolist())
        scatters.extend(sc.tolist())
    # a scatter is >= a few EUR almost surely; rounding moves a ratio by < 1e-3 at worst
    r = np.array(ratios)
    lo, hi = params.forward
    assert lo - 1e-3 <= r.min() and r.max() <= hi + 1e-3
    _assert_uniform_mean(np.clip(r, lo, hi), lo, hi)
    _assert_uniform_mean(_gaps(out, np.array(scatters)) * 24.0, *params.gap)


# --- edge cases ---------------------------------------------------------------------------------


def test_gaps_of_zero_become_a_second(ctx: PlanContext) -> None:
    """With no window and no gaps, every step is one second after its cause: deposits one after
    another (a transfer at the same time as the next deposit cannot be its cause)."""
    ep = _episodes("mule_fan_in", 20, seed=6)
    out = _plan(ctx, "mule_fan_in", ep, window=[0, 0], gap=[0, 0])
    blocks = _check_structure(out, ep)
    later = np.concatenate([b[1:] for b in blocks])
    np.testing.assert_allclose(_gaps(out, later), SECOND, rtol=1e-6)
    deposits = later[out.rows[later, K.C_TYPE] == K.CASH_IN]
    assert (out.rows[out.rows[deposits, K.C_CAUSE], K.C_TYPE] == K.CASH_IN).all()


def test_notes_under_one_are_not_withdrawn(ctx: PlanContext) -> None:
    """Placements of ~1 EUR: no transfer covers a note, so no mule withdraws."""
    ep = _episodes("mule_fan_out", 30, seed=8)
    out = _plan(ctx, "mule_fan_out", ep, amount={"median": 1.0, "sigma": 0.1}, cash_out=1.0)
    _check_structure(out, ep)
    assert not (out.rows[:, K.C_TYPE] == K.ATM).any()


def test_too_few_accounts_are_refused(ctx: PlanContext) -> None:
    one = np.array([5], dtype=np.int64)
    ep = EpisodeDraw(np.array([1]), np.array([0.5]), np.array([0, 1]), one)
    assert least_accounts("scatter_gather") == 2
    refused = r"scatter_gather: episode 0 has 1 other accounts \(needs >= 2"
    with pytest.raises(ValueError, match=refused):
        plan_scatter_gather(ctx, _params("scatter_gather"), ep, CODE, np.random.default_rng(0))


def test_planners_cover_the_laundering_typologies() -> None:
    assert set(PLANNERS) == set(KINDS)
    assert set(PLANNERS) <= set(TYPOLOGIES)
