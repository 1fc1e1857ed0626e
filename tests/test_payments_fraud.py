"""payments fraud and decoy planners: kernels vs references, the shape of every episode (one tree
rooted at its start, causes earlier and within the episode, key and last step, accounts, types,
channels, merchants, devices), the ranges of counts, amounts and fractions, the draw order the
docstrings state, and the parameters' means at a fixed seed.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from eventforge.simulators.agent_based import payments_fraud_reference as reference
from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.payments_fraud import (
    PLANNERS,
    online_merchants,
    paydays,
    plan_account_takeover,
    plan_bust_out,
    plan_card_testing,
    plan_family_fan_out,
    plan_invoice_fan_in,
)
from eventforge.simulators.agent_based.payments_fraud_kernels import FAN_OUT_HOUR
from eventforge.simulators.agent_based.payments_model import PaymentsModel
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from eventforge.simulators.agent_based.payments_planning import SECOND
from eventforge.simulators.agent_based.payments_typologies import (
    EpisodeDraw,
    EpisodeRows,
    PlanContext,
    plan_context,
)
from eventforge.simulators.agent_based.payments_typology_params import DECOYS, TYPOLOGIES
from eventforge.simulators.base import NoRareEvents
from tests.simulate import START

HOURS = {"time_unit_s": 3600.0}
N = 2000
DAYS = 60  # from January 1: each segment's payday falls twice
CODE = 3
PARAMS: dict[str, Any] = {
    "currency": "EUR",
    "customers": {
        "size": N,
        "segments": {
            "worker": {
                "share": 0.6, "salary": {"mean": 2500, "cv": 0.3}, "payday": 25,
                "card_per_day": 1.0, "categories": {"grocery": 3, "web": 1}, "overdraft": 500,
                "opening_balance": {"mean": 2000, "cv": 1.0},
            },
            "saver": {
                "share": 0.4, "salary": {"mean": 1500, "cv": 0.3}, "payday": 1,
                "card_per_day": 1.0, "categories": {"shop": 1}, "overdraft": 100,
                "opening_balance": {"mean": 5000, "cv": 1.0},
            },
        },
    },
    "merchants": {
        "categories": {
            "grocery": {"count": 30, "amount": {"median": 25, "sigma": 0.8},
                        "channels": {"pos": 0.9, "mobile": 0.1}},
            "shop": {"count": 20, "amount": {"median": 40, "sigma": 1.0},
                     "channels": {"pos": 0.5, "online": 0.5}},
            "web": {"count": 10, "amount": {"median": 30, "sigma": 0.9},
                    "channels": {"online": 0.7, "mobile": 0.3}},
            "housing": {"count": 5},
        }
    },
}  # fmt: skip
KINDS = {**TYPOLOGIES, **DECOYS}
PLANS: dict[str, Callable[..., EpisodeRows]] = {
    "account_takeover": plan_account_takeover,
    "card_testing": plan_card_testing,
    "bust_out": plan_bust_out,
    "family_fan_out": plan_family_fan_out,
    "invoice_fan_in": plan_invoice_fan_in,
}


@pytest.fixture(scope="module")
def ctx() -> PlanContext:
    p = PaymentsParams.model_validate(PARAMS, context=HOURS)
    model = PaymentsModel(p, NoRareEvents(), np.random.default_rng(1), 24.0, START)
    context = plan_context(model, DAYS)
    model.release()
    return context


def _params(kind: str, **fields: Any) -> Any:
    return KINDS[kind].model_validate({"share": 0.01, **fields}, context=HOURS)


def _draw(n: int, counts: tuple[int, int], seed: int, *, distinct: bool = False) -> EpisodeDraw:
    """``n`` episodes with ``counts`` other accounts each (uniform), starting uniformly in the
    first ``DAYS - 10`` days. The subject and accounts of an episode are distinct; with
    ``distinct`` every account of every episode is (as the model draws them)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(counts[0], counts[1] + 1, n)
    if distinct:
        people = np.split(rng.permutation(N)[: int(k.sum()) + n], np.cumsum(k + 1)[:-1])
    else:
        people = [rng.choice(N, 1 + int(m), replace=False) for m in k]
    return EpisodeDraw(
        subject=np.array([p[0] for p in people], dtype=np.int64),
        start=rng.random(n) * (DAYS - 10),
        ptr=np.concatenate(([0], np.cumsum(k))).astype(np.int64),
        accounts=np.concatenate([p[1:] for p in people]).astype(np.int64),
    )


def _roots(out: EpisodeRows) -> np.ndarray:
    """Each row's root, by following causes (checked to stay in range first)."""
    cause = out.rows[:, K.C_CAUSE]
    assert ((cause >= -1) & (cause < len(cause))).all()
    root = np.arange(len(cause))
    for _ in range(len(cause) + 1):
        up = np.where(cause[root] >= 0, cause[root], root)
        if np.array_equal(up, root):
            return root
        root = up
    raise AssertionError("causes form a cycle")


def _episode_rows(ctx: PlanContext, out: EpisodeRows, ep: EpisodeDraw, *, decoy: bool = False,
                  rooted_at_start: bool = True) -> list[np.ndarray]:  # fmt: skip
    """Check what every kind's rows share; return each episode's rows (empty where it has
    none). Episodes' rows come episode after episode, each one tree whose root is the first
    row written."""
    n, rows, time = len(out.time), out.rows, out.time
    assert rows.shape == (n, K.N_COLS) and out.key.shape == out.last.shape == (len(ep),)
    assert (rows[:, K.C_STEP] == -1).all()
    assert (rows[:, K.C_DECOY if decoy else K.C_RARE] == CODE).all()
    assert (rows[:, K.C_RARE if decoy else K.C_DECOY] == -1).all()
    cause = rows[:, K.C_CAUSE]
    caused = cause >= 0
    assert (time[cause[caused]] < time[caused]).all()  # strictly earlier
    root = _roots(out)
    assert (np.diff(root) >= 0).all()  # one tree per episode, its rows together
    firsts = np.flatnonzero(cause < 0)
    with_rows = np.flatnonzero(out.last >= 0)
    assert len(firsts) == len(with_rows)
    per_episode = [np.zeros(0, dtype=np.int64) for _ in range(len(ep))]
    for e, r0 in zip(with_rows, firsts, strict=True):
        mine = np.flatnonzero(root == r0)
        per_episode[e] = mine
        assert mine[0] == r0
        if rooted_at_start:
            assert time[r0] == ep.start[e]
        # The last step: the latest row, the later-written on a tie (the assembly's sort is
        # stable), i.e. the last maximum.
        assert out.last[e] == mine[::-1][np.argmax(time[mine][::-1])]
    # Amounts: a fixed amount of at least a cent, or a fraction with no amount.
    frac = rows[:, K.C_FRAC]
    assert (rows[frac == 0, K.C_CENTS] >= 1).all() and (rows[frac != 0, K.C_CENTS] == 0).all()
    _check_types(ctx, rows)
    return per_episode


def _check_types(ctx: PlanContext, rows: np.ndarray) -> None:
    kind, channel, device = rows[:, K.C_TYPE], rows[:, K.C_CHANNEL], rows[:, K.C_DEVICE]
    p2p, atm, card = kind == K.P2P, kind == K.ATM, kind == K.CARD
    assert (p2p | atm | card).all()
    none = (rows[:, K.C_MERCHANT] == -1) & (rows[:, K.C_CATEGORY] == -1) & (device == -1)
    assert (none[p2p] & (channel[p2p] == K.TRANSFER)).all()
    assert (rows[p2p, K.C_FROM] != rows[p2p, K.C_TO]).all()
    assert (none[atm] & (channel[atm] == K.CH_ATM) & (rows[atm, K.C_TO] == -1)).all()
    m = rows[card, K.C_MERCHANT]
    assert (rows[card, K.C_TO] == ctx.n_customers + m).all()
    np.testing.assert_array_equal(rows[card, K.C_CATEGORY], ctx.merchant_cat[m])
    assert np.isin(channel[card], (K.POS, K.ONLINE, K.MOBILE)).all()
    assert ((device[card] == -1) == (channel[card] == K.POS)).all()
    payers = rows[:, K.C_FROM]
    assert ((payers >= 0) & (payers < ctx.n_customers)).all()


def _drained(fracs: np.ndarray, available: int) -> int:
    """What applying the fractions ``fracs`` (ppm of the available funds) in order takes from
    ``available`` cents when nothing else moves, as the ledger computes each amount."""
    left = available
    for f in fracs:
        left -= left * int(f) // K.PPM
    return available - left


# --- kernels vs references --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "counts", "fields"),
    [
        ("account_takeover", (1, 4), {}),
        ("card_testing", (0, 0), {}),
        ("card_testing", (0, 0), {"tests": [25, 40]}),  # some with replacement
        ("bust_out", (0, 0), {}),
        ("family_fan_out", (1, 5), {}),
        ("invoice_fan_in", (2, 8), {}),
    ],
)
def test_kernels_equal_their_references(
    ctx: PlanContext, kind: str, counts: tuple[int, int], fields: dict[str, Any]
) -> None:
    ep = _draw(60, counts, seed=11, distinct=True)
    fast, slow = np.random.default_rng(4), np.random.default_rng(4)
    a = PLANS[kind](ctx, _params(kind, **fields), ep, CODE, fast)
    b = PLANS[kind](ctx, _params(kind, **fields), ep, CODE, slow, kernels=reference)
    assert len(a.time) > 60
    for name in ("time", "rows", "key", "last"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.new_devices == b.new_devices
    assert fast.bit_generator.state == slow.bit_generator.state


def test_planners_are_exported_by_kind() -> None:
    assert PLANNERS == PLANS


def test_episodes_without_their_accounts_are_refused(ctx: PlanContext) -> None:
    with pytest.raises(ValueError, match=r"account_takeover: episode 0 has 0 other accounts"):
        plan_account_takeover(ctx, _params("account_takeover"), _draw(3, (0, 0), 1), CODE,
                              np.random.default_rng(0))  # fmt: skip
    with pytest.raises(ValueError, match=r"invoice_fan_in: .* has 1 other accounts \(needs >= 2"):
        plan_invoice_fan_in(ctx, _params("invoice_fan_in"), _draw(3, (1, 1), 1), CODE,
                            np.random.default_rng(0))  # fmt: skip
    no_online = replace(ctx, channel_cum=np.ones_like(ctx.channel_cum))  # every merchant pos
    with pytest.raises(ValueError, match="card_testing: no merchant category has an online"):
        plan_card_testing(no_online, _params("card_testing"), _draw(3, (0, 0), 1), CODE,
                          np.random.default_rng(0))  # fmt: skip


# --- the kinds ----------------------------------------------------------------------------------

A = 500_000  # available funds (cents) the fractions are applied to
MINUTE, HOUR = 1.0 / 1440.0, 1.0 / 24.0
EPS = 1e-9  # days: float error of a time difference (~1e-14 at 60 days), far below a second


def _within(x: np.ndarray, lo: float, hi: float) -> bool:
    return bool(((x >= lo - EPS) & (x <= hi + EPS)).all())


def _uniform_mean_ok(x: list[float], lo: float, hi: float) -> bool:
    # U(lo, hi): mean (lo + hi) / 2, SD (hi - lo) / sqrt(12); SE = SD / sqrt(n).
    se = (hi - lo) / math.sqrt(12.0 * len(x))
    return abs(float(np.mean(x)) - (lo + hi) / 2) < 4 * se


def _count_mean_ok(x: list[int], lo: int, hi: int) -> bool:
    # Uniform on lo..hi: mean (lo + hi) / 2, variance ((hi - lo + 1)^2 - 1) / 12.
    se = math.sqrt(((hi - lo + 1) ** 2 - 1) / 12.0 / len(x))
    return abs(float(np.mean(x)) - (lo + hi) / 2) < 4 * se


def test_account_takeover_drains_to_each_mule_then_cashes_out(ctx: PlanContext) -> None:
    # Defaults: mules 1-3, drain [0.5, 0.95], gap 1m-30m, cash_out 0.8, delay 30m-12h.
    ep = _draw(300, (1, 4), seed=21, distinct=True)
    out = plan_account_takeover(ctx, _params("account_takeover"), ep, CODE,
                                np.random.default_rng(5))  # fmt: skip
    rows, time = out.rows, out.time
    assert out.new_devices == 0
    drained, cashed, n_mules = [], 0, 0
    for e, mine in enumerate(_episode_rows(ctx, out, ep)):
        mules = ep.accounts[ep.ptr[e] : ep.ptr[e + 1]]
        k = len(mules)
        drains = mine[rows[mine, K.C_TYPE] == K.P2P]
        atms = mine[rows[mine, K.C_TYPE] == K.ATM]
        assert len(drains) + len(atms) == len(mine) and out.key[e] == mules[0]
        assert (rows[drains, K.C_FROM] == ep.subject[e]).all()
        np.testing.assert_array_equal(rows[drains, K.C_TO], mules)  # one drain each, in order
        np.testing.assert_array_equal(rows[drains[1:], K.C_CAUSE], drains[:-1])
        assert _within(np.diff(time[drains]), MINUTE, 30 * MINUTE)
        fracs = rows[drains, K.C_FRAC]
        assert ((fracs > 0) & (fracs <= K.PPM)).all()
        drain = rows[atms, K.C_CAUSE]
        assert np.isin(drain, drains).all() and len(set(drain.tolist())) == len(atms)
        np.testing.assert_array_equal(rows[atms, K.C_FROM], rows[drain, K.C_TO])
        assert _within(time[atms] - time[drain], 30 * MINUTE, 12 * HOUR)
        cash = -rows[atms, K.C_FRAC]
        assert ((cash >= 900_000) & (cash <= K.PPM)).all()
        # Applied in order to A, each drain takes A f / k: ppm rounding errs by <= 0.5e-6 of
        # the funds (0.25 cent at A) and the floor by < 1 cent, per drain, errors carried on.
        amounts = np.diff(np.array([_drained(fracs[:j], A) for j in range(k + 1)]))
        assert amounts.max() - amounts.min() <= 2.5 * k
        drained.append(amounts.sum() / A)
        cashed += len(atms)
        n_mules += k
    tol = 4 * 1.25 / A  # k <= 4 drains' rounding, as a fraction of A
    assert _within(np.array(drained), 0.5 - tol, 0.95 + tol)
    assert _uniform_mean_ok(drained, 0.5, 0.95)
    # Cash-outs: Binomial(n_mules, 0.8), SE sqrt(0.8 * 0.2 / n_mules).
    assert abs(cashed / n_mules - 0.8) < 4 * math.sqrt(0.16 / n_mules)
    # The draw order: f is the first draw of the first episode.
    f = 0.5 + (0.95 - 0.5) * np.random.default_rng(5).random()
    assert abs(drained[0] - f) <= 4 * 1.25 / A


def _card_episodes(ctx: PlanContext, out: EpisodeRows, ep: EpisodeDraw) -> list[np.ndarray]:
    """Every row a CARD payment online from the subject with the episode's new device."""
    per = _episode_rows(ctx, out, ep)
    for e, mine in enumerate(per):
        r = out.rows[mine]
        assert (r[:, K.C_TYPE] == K.CARD).all() and (r[:, K.C_CHANNEL] == K.ONLINE).all()
        assert (r[:, K.C_FROM] == ep.subject[e]).all() and out.key[e] == ep.subject[e]
        assert (r[:, K.C_DEVICE] == -2 - e).all()
        np.testing.assert_array_equal(r[1:, K.C_CAUSE], mine[:-1])
    assert out.new_devices == len(ep)
    return per


def test_card_testing_bursts_small_payments_at_distinct_online_merchants(
    ctx: PlanContext,
) -> None:
    # Defaults: tests 5-30, amount [0.5, 5], gap 5s-3m, cash_out 0.5 of median 400 (sigma
    # 0.6) 10m-6h after: a gap over 3 minutes marks the cash-out.
    online = online_merchants(ctx)
    np.testing.assert_array_equal(online, np.arange(30, 60))  # shop and web
    ep = _draw(400, (0, 0), seed=22, distinct=True)
    out = plan_card_testing(ctx, _params("card_testing"), ep, CODE, np.random.default_rng(6))
    counts, cash_logs = [], []
    for mine in _card_episodes(ctx, out, ep):
        gaps = np.diff(out.time[mine])
        cash = len(gaps) > 0 and gaps[-1] > 3 * MINUTE
        tests = mine[:-1] if cash else mine
        counts.append(len(tests))
        assert _within(gaps[: len(tests) - 1], 5 / 86400, 3 * MINUTE)
        m = out.rows[mine, K.C_MERCHANT]
        assert np.isin(m, online).all() and len(set(m[: len(tests)].tolist())) == len(tests)
        cents = out.rows[tests, K.C_CENTS]
        assert ((cents >= 50) & (cents <= 500)).all()
        if cash:
            assert _within(gaps[-1:], 10 * MINUTE, 6 * HOUR)
            cash_logs.append(math.log(out.rows[mine[-1], K.C_CENTS] / 100))
    assert min(counts) >= 5 and max(counts) <= 30 and _count_mean_ok(counts, 5, 30)
    # Cash-outs: Binomial(400, 0.5), SE sqrt(0.25 / 400); log-amounts: Normal(log 400, 0.6),
    # SE 0.6 / sqrt(n) (cent rounding moves a log by < 1e-5).
    assert abs(len(cash_logs) / len(ep) - 0.5) < 4 * math.sqrt(0.25 / len(ep))
    assert abs(np.mean(cash_logs) - math.log(400)) < 4 * 0.6 / math.sqrt(len(cash_logs))


def test_card_testing_reuses_merchants_when_too_few_sell_online(ctx: PlanContext) -> None:
    ep = _draw(50, (0, 0), seed=23, distinct=True)
    params = _params("card_testing", tests=[31, 40], cash_out=0.0)
    out = plan_card_testing(ctx, params, ep, CODE, np.random.default_rng(7))
    for mine in _card_episodes(ctx, out, ep):
        m = out.rows[mine, K.C_MERCHANT]
        assert 31 <= len(mine) <= 40 and np.isin(m, online_merchants(ctx)).all()
        assert len(set(m.tolist())) < len(m)  # 30 merchants for 31+ tests


def test_bust_out_spends_the_available_funds_like_its_subject(ctx: PlanContext) -> None:
    # Defaults: purchases 3-12, spend [0.9, 1.0], window 1d-5d.
    ep = _draw(400, (0, 0), seed=24, distinct=True)
    out = plan_bust_out(ctx, _params("bust_out"), ep, CODE, np.random.default_rng(8))
    rows, time = out.rows, out.time
    counts, spent = [], []
    for e, mine in enumerate(_episode_rows(ctx, out, ep)):
        i = ep.subject[e]
        r = rows[mine]
        counts.append(len(mine))
        assert (r[:, K.C_TYPE] == K.CARD).all() and (r[:, K.C_FROM] == i).all()
        assert out.key[e] == i
        np.testing.assert_array_equal(r[1:, K.C_CAUSE], mine[:-1])
        assert (np.diff(time[mine]) >= SECOND - EPS).all()
        assert time[mine[-1]] - ep.start[e] <= 5.0 + len(mine) * SECOND + EPS
        # Chosen like the subject's own purchases: its segment's categories, their channels,
        # its own devices.
        cats = np.flatnonzero(np.diff(ctx.cat_cum[ctx.seg[i]], prepend=0.0) > 0)
        assert np.isin(r[:, K.C_CATEGORY], cats).all()
        channel_weight = np.diff(ctx.channel_cum, prepend=0.0, axis=1)
        assert (channel_weight[r[:, K.C_CATEGORY], r[:, K.C_CHANNEL]] > 0).all()
        own = ctx.dev_ids[ctx.dev_ptr[i] : ctx.dev_ptr[i + 1]]
        online = r[:, K.C_CHANNEL] != K.POS
        assert np.isin(r[online, K.C_DEVICE], own).all()
        fracs = r[:, K.C_FRAC]
        assert ((fracs >= 1) & (fracs <= K.PPM)).all()
        spent.append(_drained(fracs, A) / A)
    assert min(counts) >= 3 and max(counts) <= 12 and _count_mean_ok(counts, 3, 12)
    # Each purchase's fraction errs by <= 0.5 ppm of the funds and its floor by < 1 cent.
    tol = 12 * 1.25 / A
    assert _within(np.array(spent), 0.9 - tol, 1.0 + tol)
    assert _uniform_mean_ok(spent, 0.9, 1.0)
    # The draw order: k, W, s are the first three draws of the first episode.
    u = np.random.default_rng(8).random(3)
    assert counts[0] == 3 + int(u[0] * 10)
    assert time[out.last[0]] - ep.start[0] <= 1.0 + 4.0 * u[1] + counts[0] * SECOND
    assert abs(spent[0] - (0.9 + (1.0 - 0.9) * u[2])) <= counts[0] * 1.25 / A


def test_family_fan_out_sends_part_of_each_salary_to_the_relatives(ctx: PlanContext) -> None:
    # Defaults: relatives 2-5, part [0.2, 0.5], gap 10m-6h.
    pay_ptr, pay_days = paydays(ctx)
    np.testing.assert_array_equal(pay_ptr, [0, 2, 5])
    np.testing.assert_array_equal(pay_days, [24, 55, 0, 31, 59])  # the 25th, then the 1st
    ep = _draw(200, (2, 5), seed=25, distinct=True)
    out = plan_family_fan_out(ctx, _params("family_fan_out"), ep, CODE, np.random.default_rng(9))
    rows, time = out.rows, out.time
    parts = []
    per = _episode_rows(ctx, out, ep, decoy=True, rooted_at_start=False)
    for e, mine in enumerate(per):
        i, relatives = ep.subject[e], ep.accounts[ep.ptr[e] : ep.ptr[e + 1]]
        k, s = len(relatives), ctx.seg[i]
        days = pay_days[pay_ptr[s] : pay_ptr[s + 1]]
        assert len(mine) == k * len(days) and out.key[e] == i
        assert (rows[mine, K.C_TYPE] == K.P2P).all() and (rows[mine, K.C_FROM] == i).all()
        np.testing.assert_array_equal(rows[mine, K.C_TO], np.tile(relatives, len(days)))
        np.testing.assert_array_equal(rows[mine[1:], K.C_CAUSE], mine[:-1])
        cents = rows[mine, K.C_CENTS].reshape(len(days), k).astype(float)
        t = time[mine].reshape(len(days), k)
        assert _within(t[:, 0] - (days + FAN_OUT_HOUR / 24), 10 * MINUTE, 6 * HOUR)
        assert _within(np.diff(t, axis=1), 10 * MINUTE, 6 * HOUR)
        # Each payday the same split w of a new part p: sums over the salary are the parts
        # (each transfer rounded by <= half a cent), shares equal across paydays.
        total = cents.sum(axis=1)
        p = total / ctx.salary[i]
        assert _within(p, 0.2 - k / ctx.salary[i], 0.5 + k / ctx.salary[i])
        share = cents / total[:, None]
        assert np.abs(share - share[0]).max() <= 2 * k / total.min()
        parts.extend(p.tolist())
    assert _uniform_mean_ok(parts, 0.2, 0.5)


def test_family_fan_out_without_a_payday_has_no_rows(ctx: PlanContext) -> None:
    short = replace(ctx, days=10)  # January 1-10: the savers' payday (1st), not the workers'
    ep = _draw(100, (1, 3), seed=26, distinct=True)
    out = plan_family_fan_out(short, _params("family_fan_out"), ep, CODE,
                              np.random.default_rng(10))  # fmt: skip
    per = _episode_rows(short, out, ep, decoy=True, rooted_at_start=False)
    saver = short.seg[ep.subject] == 1
    assert saver.any() and (~saver).any()
    assert (out.last[~saver] == -1).all() and (out.last[saver] >= 0).all()
    assert all(len(per[e]) == 0 for e in np.flatnonzero(~saver))
    assert (out.time < 1.0 + 5 * 6 * HOUR).all()  # day 0's transfers only


def test_invoice_fan_in_collects_invoices_then_pays_the_supplier(ctx: PlanContext) -> None:
    # Defaults: invoices 300 median (sigma 0.8), window 1d-10d, forward [0.6, 0.95], gap 1h-3d.
    ep = _draw(300, (6, 26), seed=27)  # 5-25 payers and the supplier
    out = plan_invoice_fan_in(ctx, _params("invoice_fan_in"), ep, CODE,
                              np.random.default_rng(11))  # fmt: skip
    rows, time = out.rows, out.time
    logs, forward, counts = [], [], []
    for e, mine in enumerate(_episode_rows(ctx, out, ep, decoy=True)):
        i, acc = ep.subject[e], ep.accounts[ep.ptr[e] : ep.ptr[e + 1]]
        k = len(acc) - 1
        invoices, pay = mine[:k], mine[-1]
        assert len(mine) == k + 1 and out.key[e] == i and out.last[e] == pay
        assert (rows[mine, K.C_TYPE] == K.P2P).all()
        np.testing.assert_array_equal(rows[invoices, K.C_FROM], acc[:k])
        assert (rows[invoices, K.C_TO] == i).all()
        assert rows[pay, K.C_FROM] == i and rows[pay, K.C_TO] == acc[-1]
        np.testing.assert_array_equal(rows[mine[1:], K.C_CAUSE], mine[:-1])
        assert (np.diff(time[invoices]) >= SECOND - EPS).all()
        assert time[invoices[-1]] - ep.start[e] <= 10.0 + k * SECOND + EPS
        assert _within(time[pay : pay + 1] - time[invoices[-1]], HOUR, 3.0)
        total = rows[invoices, K.C_CENTS].sum()
        f = rows[pay, K.C_CENTS] / total
        assert 0.6 - 0.5 / total <= f <= 0.95 + 0.5 / total  # rounded to the cent
        forward.append(f)
        logs.extend(np.log(rows[invoices, K.C_CENTS] / 100).tolist())
        counts.append(k)
    # log(invoice) ~ Normal(log 300, 0.8): SE 0.8 / sqrt(n) (cent rounding: < 1e-4 in a log).
    assert abs(np.mean(logs) - math.log(300)) < 4 * 0.8 / math.sqrt(len(logs))
    # Rounding moves f by < 0.5 / 500 cents at most, far below the SE (~0.006).
    assert _uniform_mean_ok(forward, 0.6, 0.95)


@pytest.mark.parametrize("kind", list(PLANS))
def test_no_episodes_no_rows(ctx: PlanContext, kind: str) -> None:
    none = EpisodeDraw(np.zeros(0, np.int64), np.zeros(0), np.zeros(1, np.int64),
                       np.zeros(0, np.int64))  # fmt: skip
    rng = np.random.default_rng(12)
    before = rng.bit_generator.state
    out = PLANS[kind](ctx, _params(kind), none, CODE, rng)
    assert out.rows.shape == (0, K.N_COLS) and out.time.shape == out.key.shape == (0,)
    assert out.new_devices == 0 and rng.bit_generator.state == before
