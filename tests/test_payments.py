"""payments: kernels vs references, the ledger replayed from the log (overdraft, balances, money
conservation, declines), summary vs replay, seasonality against the configured profiles, account
ids free of information, the Mesa agents, the built-in scenario through ``eventforge check``.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each.
"""

from __future__ import annotations

import copy
import gc
import math
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pyarrow as pa
import pytest

import eventforge as ef
from eventforge.check import check_dataset
from eventforge.scenario.types import StrictModel
from eventforge.simulators import get_simulator
from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based import payments_reference
from eventforge.simulators.agent_based.payments import Payments
from eventforge.simulators.agent_based.payments_model import Customer, Merchant, PaymentsModel
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from tests.simulate import START, columns, run_simulator

HOURS = {"time_unit_s": 3600.0}
FIELDS = (
    "time", "event", "entity", "tx_type", "from_account", "to_account", "merchant", "category",
    "channel", "device", "cents", "balance_after", "cause", "rare",
)  # fmt: skip


def _params(n: int = 2000, **override: Any) -> dict[str, Any]:
    """Every feature on; the 'tight' segment lives near its overdraft, so declines happen."""
    params: dict[str, Any] = {
        "currency": "EUR",
        "customers": {
            "size": n,
            "segments": {
                "worker": {
                    "share": 0.6, "salary": {"mean": 2500, "cv": 0.3}, "payday": 25,
                    "card_per_day": 1.2, "categories": {"grocery": 3, "shop": 1, "web": 1},
                    "overdraft": 500, "opening_balance": {"mean": 2000, "cv": 1.0},
                    "bills": [{"category": "housing", "day": 1, "amount": {"mean": 700, "cv": 0.3}},
                              {"category": "phone", "day": 12, "amount": {"mean": 40, "cv": 0.2}}],
                    "p2p_per_day": 0.2, "p2p_amount": {"mean": 50, "cv": 1.0},
                    "atm_per_day": 0.1,
                    "atm_amounts": [{"amount": 20, "weight": 1}, {"amount": 50, "weight": 2}],
                    "cash_in_per_day": 0.02, "cash_in_amount": {"mean": 100, "cv": 0.5},
                },
                "tight": {
                    "share": 0.4, "salary": {"mean": 600, "cv": 0.3}, "payday": 1,
                    "card_per_day": 1.5, "categories": {"grocery": 1, "web": 1},
                    "overdraft": 50, "opening_balance": {"mean": 100, "cv": 0.5},
                    "bills": [{"category": "phone", "day": 3, "amount": {"mean": 30, "cv": 0.2}}],
                    "p2p_per_day": 0.3, "p2p_amount": {"mean": 30, "cv": 1.0},
                    "atm_per_day": 0.1, "atm_amounts": [{"amount": 20, "weight": 1}],
                },
            },
        },
        "merchants": {
            "categories": {
                "grocery": {"count": 30, "amount": {"median": 25, "sigma": 0.8},
                            "popularity": 1.0, "channels": {"pos": 0.9, "mobile": 0.1}},
                "shop": {"count": 20, "amount": {"median": 40, "sigma": 1.0},
                         "channels": {"pos": 0.5, "online": 0.5}},
                "web": {"count": 10, "amount": {"median": 30, "sigma": 0.9},
                        "popularity": 1.5, "channels": {"online": 0.7, "mobile": 0.3}},
                "housing": {"count": 50, "popularity": 0.0},
                "phone": {"count": 3},
            }
        },
        "social": {"kind": "watts_strogatz", "transmission": 0.0, "degree": 4, "rewire": 0.2},
        "seasonality": {
            "weekly": [1.0, 1.0, 1.0, 1.0, 1.2, 1.3, 0.6],
            "hourly": [0.1] * 7 + [1, 2, 3, 3, 4, 5, 4, 3, 3, 3, 4, 5, 4, 2, 1, 0.5, 0.2],
            "payday_boost": 1.5,
            "payday_days": 3,
        },
    }  # fmt: skip
    params.update(override)
    return params


def _model(params: dict[str, Any], seed: int = 1, **kw: Any) -> PaymentsModel:
    p = PaymentsParams.model_validate(params, context=HOURS)
    return PaymentsModel(p, StrictModel(), np.random.default_rng(seed), 24.0, START, **kw)


# --- kernels vs references --------------------------------------------------------------------


def test_kernels_equal_their_references_day_by_day() -> None:
    fast, slow = _model(_params(600), seed=5), _model(_params(600), seed=5,
                                                      kernels=payments_reference)  # fmt: skip
    for name in ("seg", "acct", "dev_ids", "salary", "balance", "payee", "indices"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    kinds: set[int] = set()
    for _ in range(35):
        fast.step()  # Mesa's step wrapper drops the return value
        slow.step()
        a, b = fast.day_events, slow.day_events
        assert a is not None and b is not None
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        kinds |= set((a.tx_type + 10 * a.event).tolist())
    np.testing.assert_array_equal(fast.balance, slow.balance)
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state
    # Every type went through, and every debiting type was declined at least once.
    assert {10 * K.TRANSACTION + t for t in range(6)} <= kinds
    assert {10 * K.DECLINE + t for t in (K.CARD, K.P2P)} <= kinds


def _day_with_steps(rng: np.random.Generator, n: int, m: int, owners: int) -> tuple[Any, ...]:
    """A hand-made day: ``n`` legitimate rows (ties, a cluster) and ``m`` plan steps of every
    kind (fixed amounts, fractions of funds or of a cause, ATMs, alerts, freezes), each step
    caused by an earlier one or none, strictly later than its cause."""
    tx_time = np.round(rng.random(n + m) * 50) / 50
    tx_time[: n // 4] = 0.3 + rng.random(n // 4) * 1e-3
    tx_time[n:] = np.sort(rng.random(m)) + np.arange(m) * 1e-9
    tx = np.full((n + m, K.N_COLS), -1, dtype=np.int64)
    tx[:, K.C_TYPE] = rng.choice([K.CARD, K.P2P, K.ATM, K.CASH_IN], n + m)
    tx[:, K.C_FROM] = np.where(tx[:, K.C_TYPE] == K.CASH_IN, -1, rng.integers(0, owners, n + m))
    tx[:, K.C_TO] = np.where(tx[:, K.C_TYPE] == K.ATM, -1, rng.integers(0, owners, n + m))
    tx[:, K.C_CENTS] = rng.integers(1, 20_000, n + m)
    tx[:, K.C_FRAC] = 0
    steps = tx[n:]
    steps[:, K.C_STEP] = np.arange(m)
    steps[:, K.C_RARE] = rng.integers(-1, 3, m)
    linked = (rng.random(m) < 0.8) & (np.arange(m) > 0)
    steps[:, K.C_CAUSE] = np.where(linked, np.floor(rng.random(m) * np.arange(m)), -1)
    debit = steps[:, K.C_FROM] >= 0
    how = rng.integers(0, 3, m)
    steps[:, K.C_FRAC] = np.where(debit & (how == 1), rng.integers(1, K.PPM, m), 0)
    chained = debit & (how == 2) & (steps[:, K.C_CAUSE] >= 0)
    steps[:, K.C_FRAC] = np.where(chained, -rng.integers(1, K.PPM, m), steps[:, K.C_FRAC])
    bank = rng.random(m) < 0.1
    steps[bank, K.C_TYPE] = rng.choice([K.ALERT, K.FREEZE], int(bank.sum()))
    steps[bank, K.C_FROM] = rng.integers(0, owners, int(bank.sum()))
    steps[bank, K.C_TO] = -1
    steps[bank, K.C_FRAC] = 0
    return tx_time, tx


def test_apply_day_of_plan_steps_equals_its_reference() -> None:
    rng = np.random.default_rng(3)
    n, m, owners = 3000, 1000, 60
    tx_time, tx = _day_with_steps(rng, n, m, owners)
    start = rng.integers(-5_000, 50_000, owners)
    limit = rng.integers(0, 10_000, owners)
    acct = rng.permutation(owners)
    out = []
    for mod in (K, payments_reference):
        balance, frozen = start.copy(), np.zeros(owners, dtype=np.bool_)
        step_seq, step_cents = np.full(m, -7, dtype=np.int64), np.full(m, -7, dtype=np.int64)
        result = mod.apply_day(tx_time, tx, n + m, balance, limit, frozen, acct, 100,
                               step_seq, step_cents)  # fmt: skip
        out.append((*result, balance, frozen, step_seq, step_cents))
    for x, y in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(x, y)
    time, cols, event, _, entity, tally, _, frozen, step_seq, _ = out[0]
    codes = np.bincount(event, minlength=5)
    assert codes[K.DECLINE] > 100 and codes[K.TRANSACTION] > 100
    assert tally[K.T_DECLINED].sum() == codes[K.DECLINE]
    assert tally[K.T_WRITTEN, K.ALERT] == codes[K.ALERT_EVENT]
    assert codes[K.ALERT_EVENT] > 10 and 0 < codes[K.ACCOUNT_FREEZE] <= frozen.sum()
    assert len(time) < n + m  # some steps had nothing to move
    assert np.all(np.diff(time) >= 0) and (entity >= 0).all()
    seq = 100 + np.arange(len(time))
    assert np.all(cols[K.C_CAUSE] < seq)
    assert (step_seq >= -1).all() and (step_seq < 100 + len(time)).all()


def _one_day(rows: list[dict[str, int]], balance: list[int], limit: list[int]) -> tuple[Any, ...]:
    """Apply hand-written steps (in time order, step s = row s) to owners with ``balance``."""
    tx = np.full((len(rows), K.N_COLS), -1, dtype=np.int64)
    tx[:, K.C_FRAC] = 0
    tx[:, K.C_CENTS] = 0
    for s, row in enumerate(rows):
        tx[s, K.C_STEP] = s
        for col, value in row.items():
            tx[s, getattr(K, col)] = value
    bal = np.array(balance, dtype=np.int64)
    frozen = np.zeros(len(balance), dtype=np.bool_)
    step_seq, step_cents = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    _, cols, event, _, _, _ = K.apply_day(
        np.arange(len(rows), dtype=np.float64), tx, len(rows), bal, np.array(limit, np.int64),
        frozen, np.arange(len(balance), dtype=np.int64), 0, step_seq, step_cents,
    )  # fmt: skip
    return cols, event, bal, step_seq, step_cents


def test_plan_steps_take_fractions_drop_and_freeze_as_documented() -> None:
    half = K.PPM // 2
    cols, event, bal, step_seq, step_cents = _one_day(
        [
            # 0: half of owner 0's available funds (10,000 + 2,000 overdraft) to owner 1.
            {"C_TYPE": K.P2P, "C_FROM": 0, "C_TO": 1, "C_FRAC": half},
            # 1: owner 1 withdraws 90% of what step 0 moved (5,400 cents): notes of 20.00.
            {"C_TYPE": K.ATM, "C_FROM": 1, "C_CAUSE": 0, "C_FRAC": -900_000},
            # 2: owner 2 (no funds) gives all it has: nothing, dropped.
            {"C_TYPE": K.P2P, "C_FROM": 2, "C_TO": 1, "C_FRAC": K.PPM},
            # 3: follows from the dropped step 2: dropped too.
            {"C_TYPE": K.P2P, "C_FROM": 1, "C_TO": 0, "C_CAUSE": 2, "C_FRAC": -half},
            # 4: a fixed amount caused by dropped step 3: its cause is step 2's, none.
            {"C_TYPE": K.P2P, "C_FROM": 1, "C_TO": 0, "C_CAUSE": 3, "C_CENTS": 10},
            # 5, 6: owner 0 frozen; freezing it again is dropped.
            {"C_TYPE": K.FREEZE, "C_FROM": 0, "C_CAUSE": 0},
            {"C_TYPE": K.FREEZE, "C_FROM": 0, "C_CAUSE": 5},
            # 7: a frozen account's debit is declined; 8 follows from it: dropped.
            {"C_TYPE": K.P2P, "C_FROM": 0, "C_TO": 1, "C_CENTS": 5},
            {"C_TYPE": K.ATM, "C_FROM": 1, "C_CAUSE": 7, "C_FRAC": -K.PPM},
            # 9: an alert, caused by step 8 (dropped): by step 7's seq.
            {"C_TYPE": K.ALERT, "C_FROM": 1, "C_CAUSE": 8},
        ],
        balance=[10_000, 3_000, 0],
        limit=[2_000, 0, 0],
    )
    assert event.tolist() == [K.TRANSACTION, K.TRANSACTION, K.TRANSACTION, K.ACCOUNT_FREEZE,
                              K.DECLINE, K.ALERT_EVENT]  # fmt: skip
    assert cols[K.C_CENTS].tolist() == [6_000, 4_000, 10, 0, 5, 0]
    assert cols[K.C_CAUSE].tolist() == [-1, 0, -1, 0, -1, 4]
    assert step_seq.tolist() == [0, 1, -1, -1, 2, 3, 3, 4, 4, 5]
    assert step_cents.tolist() == [6_000, 4_000, 0, 0, 10, 0, 0, 0, 0, 0]
    assert bal.tolist() == [4_000 + 10, 3_000 + 6_000 - 4_000 - 10, 0]


def test_time_order_is_a_stable_argsort() -> None:
    rng = np.random.default_rng(6)
    clustered = np.concatenate((rng.random(3000), np.full(500, 0.25), 0.5 + rng.random(2000) / 1e6))
    cases = [np.empty(0), np.full(50, 3.0), rng.random(1000), np.round(rng.random(5000) * 10) / 10]
    for t in [*cases, clustered, clustered[::-1].copy()]:
        np.testing.assert_array_equal(K.time_order(t), np.argsort(t, kind="stable"))


# --- the log ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run() -> tuple[Payments, list[pa.RecordBatch], dict[str, np.ndarray]]:
    sim, batches = run_simulator(Payments, _params(), horizon=75 * 24.0, seed=3,
                                 batch_events=20_000)  # fmt: skip
    return sim, batches, columns(batches)


def test_batches_are_bounded_and_ordered(run: Any) -> None:
    sim, batches, c = run
    assert all(b.num_rows <= 20_000 for b in batches) and len(batches) > 5
    np.testing.assert_array_equal(c["seq"], np.arange(len(c["seq"])))
    assert np.all(np.diff(c["time"]) >= 0)
    n_accounts = sim.model.n_customers + sim.model.n_merchants
    assert (c["event"][:n_accounts] == "account_open").all()
    assert (c["event"][n_accounts:] != "account_open").all()
    assert set(c["currency"]) == {"EUR"}


def test_summary_equals_replay(run: Any) -> None:
    sim, batches, _ = run
    assert sim.summary() == Payments.replay(batches)
    s = sim.summary()
    assert s["declines.card"] > 0 and s["transactions.salary"] > 0


def test_replayed_balances_respect_overdrafts_and_match_the_model(run: Any) -> None:
    sim, _, c = run
    model = sim.model
    owner_of = np.empty_like(model.acct)
    owner_of[model.acct] = np.arange(len(model.acct))
    limit = model.limit[owner_of]  # by account id
    amount = np.rint(c["amount"] * 100).astype(np.int64)
    frm = np.nan_to_num(c["from_account"], nan=-1).astype(np.int64)
    to = np.nan_to_num(c["to_account"], nan=-1).astype(np.int64)
    after = np.rint(np.nan_to_num(c["balance_after"], nan=0) * 100).astype(np.int64)
    balance = np.zeros(len(model.acct), dtype=np.int64)
    declines = 0
    for k, ev in enumerate(c["event"].tolist()):
        a, b, x = int(frm[k]), int(to[k]), int(amount[k])
        if ev == "account_open":
            balance[b] = x
            continue
        if ev == "decline":
            # Declined exactly when the debit would break the payer's overdraft.
            assert balance[a] - x < -limit[a], k
            declines += 1
            continue
        if a >= 0:
            assert balance[a] - x >= -limit[a], k
            balance[a] -= x
            assert after[k] == balance[a], k
        if b >= 0:
            balance[b] += x
            if a < 0:
                assert after[k] == balance[b], k
    assert declines > 0
    np.testing.assert_array_equal(balance, model.balances())
    assert (balance >= -limit).all()


def test_money_is_conserved(run: Any) -> None:
    sim, _, _ = run
    s, model = sim.summary(), sim.model
    opened = int(model.opening.sum())
    change = s["balance.customers"] - opened
    money_in = s["cents.salary"] + s["cents.cash_in"]
    money_out = s["cents.atm"] + s["cents.card"] + s["cents.bill"]
    assert change == money_in - money_out  # p2p moves money between customers only
    assert s["balance.merchants"] == s["cents.card"] + s["cents.bill"]
    assert s["balance.customers"] == int(model.balance[: model.n_customers].sum())


def test_the_columns_follow_the_rules(run: Any) -> None:
    sim, _, c = run
    model = sim.model
    owner_of = np.empty_like(model.acct)
    owner_of[model.acct] = np.arange(len(model.acct))
    ev = c["event"] != "account_open"
    kind, channel = c["tx_type"], c["channel"]
    card = ev & (kind == "card")
    has_device = ~np.isnan(c["device"])
    assert not has_device[card & (channel == "pos")].any()
    assert has_device[card & (channel != "pos")].all() and not has_device[ev & ~card].any()
    # A device belongs to the payer.
    for k in np.flatnonzero(has_device)[:2000]:
        i = owner_of[int(c["from_account"][k])]
        assert int(c["device"][k]) in model.dev_ids[model.dev_ptr[i] : model.dev_ptr[i + 1]]
    # P2P goes to a social neighbour; a bill always to the same payee per customer and category.
    for k in np.flatnonzero(ev & (kind == "p2p"))[:2000]:
        i, j = owner_of[int(c["from_account"][k])], owner_of[int(c["to_account"][k])]
        assert j in model.indices[model.indptr[i] : model.indptr[i + 1]]
    bills = ev & (kind == "bill")
    pairs: dict[tuple[float, str], set[float]] = {}
    for a, cat, m in zip(c["from_account"][bills], c["category"][bills], c["merchant"][bills],
                         strict=True):  # fmt: skip
        pairs.setdefault((a, cat), set()).add(m)
    assert all(len(v) == 1 for v in pairs.values())
    # Outside money has no account on that side; ATM amounts are the configured round ones.
    assert np.isnan(c["from_account"][ev & np.isin(kind, ["salary", "cash_in"])]).all()
    assert np.isnan(c["to_account"][ev & (kind == "atm")]).all()
    assert set(c["amount"][ev & (kind == "atm")]) <= {20.0, 50.0}
    assert set(channel[ev]) == {"pos", "online", "mobile", "atm", "branch", "transfer"}


# --- seasonality ------------------------------------------------------------------------------


def _card_attempts_per_day(params: dict[str, Any], days: int, seed: int) -> np.ndarray:
    model = _model(params, seed=seed)
    counts = np.zeros(days)
    for d in range(days):
        model.step()
        day = model.day_events
        assert day is not None
        counts[d] = np.count_nonzero(day.tx_type == K.CARD)
    model.release()
    return counts


def test_payday_peak_matches_the_boost() -> None:
    params = _params(4000)
    params["customers"]["segments"]["tight"]["payday"] = 25  # one payday for everyone
    params["customers"]["segments"]["tight"]["opening_balance"] = {"mean": 1e6, "cv": 0.1}
    params["seasonality"]["weekly"] = [1.0] * 7
    days, boost = 60, 1.5
    counts = _card_attempts_per_day(params, days, seed=7)
    boosted = np.array([(START + timedelta(days=d)).day in (25, 26, 27) for d in range(days)])
    inside, outside = counts[boosted].mean(), counts[~boosted].mean()
    # Daily counts are Poisson sums: SE of log(ratio) = sqrt(1/A + 1/B) for the totals A, B.
    se = math.sqrt(1 / counts[boosted].sum() + 1 / counts[~boosted].sum())
    assert abs(math.log(inside / outside) - math.log(boost)) < 4 * se


def test_weekly_profile_matches_the_multipliers() -> None:
    params = _params(4000)
    params["seasonality"]["payday_boost"] = 1.0
    params["customers"]["segments"]["tight"]["opening_balance"] = {"mean": 1e6, "cv": 0.1}
    days = 56
    counts = _card_attempts_per_day(params, days, seed=8)
    model = _model(params, seed=8)
    n_seg = np.bincount(model.seg, minlength=2)
    per_day = float(n_seg @ model.card_per_day)
    weekly = params["seasonality"]["weekly"]
    dow = np.array([(START + timedelta(days=d)).weekday() for d in range(days)])
    for w in range(7):
        expected = per_day * weekly[w] * np.count_nonzero(dow == w)
        # A Poisson total: SE = sqrt(expected).
        assert abs(counts[dow == w].sum() - expected) < 4 * math.sqrt(expected), w
    weekend = counts[dow >= 5].mean() / counts[dow < 5].mean()
    assert weekend == pytest.approx(np.mean(weekly[5:]) / np.mean(weekly[:5]), rel=0.03)


def test_hour_of_day_follows_the_hourly_weights(run: Any) -> None:
    _, _, c = run
    hourly = np.array(_params()["seasonality"]["hourly"])
    p = hourly / hourly.sum()
    timed = np.isin(c["tx_type"], ["card", "p2p", "atm", "cash_in"])
    hour = np.floor(c["time"][timed] % 24.0).astype(int)
    n = hour.shape[0]
    share = np.bincount(hour, minlength=24) / n
    # Binomial share per hour: SE = sqrt(p (1 - p) / n).
    assert (np.abs(share - p) < 4 * np.sqrt(p * (1 - p) / n)).all(), share - p
    salary = c["time"][c["tx_type"] == "salary"] % 24.0
    assert ((salary >= 6) & (salary < 7)).all()


def test_account_ids_carry_no_segment_or_owner_information() -> None:
    model = _model(_params(40_000), seed=9)
    total = len(model.acct)
    assert sorted(model.acct.tolist()) == list(range(total))
    # Ids are a uniform permutation: the mean id of n accounts has SE sqrt((T^2 - 1) / 12 / n).
    mid = (total - 1) / 2
    groups = [model.acct[: model.n_customers][model.seg == s] for s in range(2)]
    groups.append(model.acct[model.n_customers :])  # merchants
    for ids in groups:
        se = math.sqrt((total**2 - 1) / 12 / len(ids))
        assert abs(ids.mean() - mid) < 4 * se
    model.release()


# --- Mesa -------------------------------------------------------------------------------------


def test_agents_are_mesa_views_of_the_arrays() -> None:
    model = _model(_params(300), seed=15)
    for _ in range(10):
        model.step()
    assert len(model.agents) == 300 + model.n_merchants
    customers = list(model.agents_by_type[Customer])
    merchants = list(model.agents_by_type[Merchant])
    assert len(customers) == 300 and len(merchants) == 113
    assert [c.balance for c in customers] == (model.balance[:300] / 100).tolist()
    assert {m.category for m in merchants} == {"grocery", "shop", "web", "housing", "phone"}
    balances = model.balances()
    assert all(balances[a.account] == round(a.balance * 100) for a in model.agents)
    c = customers[4]
    assert c.segment in ("worker", "tight") and 1 <= len(c.devices) <= 3 and c.salary > 0
    assert 4 not in c.contacts.tolist()
    ref = weakref.ref(model)
    model.release()
    del model, customers, merchants, c
    gc.collect()
    assert ref() is None


# --- the built-in scenario --------------------------------------------------------------------


def test_builtin_scenario_runs_and_passes_check(tmp_path: Path) -> None:
    assert get_simulator("payments") is Payments
    sc = ef.load_scenario("payments", overrides=["horizon=20d", "params.customers.size=3000"])
    ef.run(sc, tmp_path / "bank", executor="serial")
    report = check_dataset(tmp_path / "bank")
    assert report.violations == [], report.violations


def test_same_seed_same_log_and_the_time_unit_changes_nothing() -> None:
    params = _params(400)
    _, h = run_simulator(Payments, copy.deepcopy(params), horizon=20 * 24.0, seed=4)
    _, h2 = run_simulator(Payments, copy.deepcopy(params), horizon=20 * 24.0, seed=4)
    _, d = run_simulator(Payments, params, horizon=20.0, seed=4, unit_s=86400.0)
    a, b = pa.Table.from_batches(h), pa.Table.from_batches(d)
    assert a.equals(pa.Table.from_batches(h2))
    np.testing.assert_allclose(a.column("time").to_numpy(), b.column("time").to_numpy() * 24)
    assert a.drop_columns(["time"]).equals(b.drop_columns(["time"]))


# --- the kernels' random numbers ----------------------------------------------------------------


@numba.njit
def _draws(state: np.ndarray, n: int, what: int, a: float, b: float) -> np.ndarray:
    """``n`` kernel draws: uniforms (0), Poisson counts (1) in ``a`` parts of ``exp(-mean /
    a) = b``, lognormals (2) ``(mu a, sigma b)``."""
    out = np.empty(n)
    for j in range(n):
        if what == 0:
            out[j] = K.uniform(state)
        elif what == 1:
            out[j] = K.poisson(int(a), b, state)
        else:
            out[j] = K.lognormal(a, b, state)
    return out


def test_kernel_uniforms_are_numpys_sfc64() -> None:
    fast, slow = K.Uniforms(np.random.default_rng(4)), K.Uniforms(np.random.default_rng(4))
    numpy_sfc = np.random.SFC64()
    numpy_sfc.state = {"bit_generator": "SFC64", "state": {"state": fast.state.copy()},
                       "has_uint32": 0, "uinteger": 0}  # fmt: skip
    want = np.random.Generator(numpy_sfc).random(5000)
    np.testing.assert_array_equal(_draws(fast.state, 5000, 0, 0.0, 0.0), want)
    np.testing.assert_array_equal([slow.random() for _ in range(5000)], want)
    np.testing.assert_array_equal(slow.state, fast.state)


@pytest.mark.parametrize("lam", [0.3, 7.9, 20.0, 61.0])
def test_kernel_poisson_counts_have_the_poisson_law(lam: float) -> None:
    """Mean and variance within 4 SE; ``lam`` above 8 is drawn in parts."""
    n = 200_000
    parts, exp_neg = K.poisson_parts(lam)
    x = _draws(K.Uniforms(np.random.default_rng(5)).state, n, 1, parts, exp_neg)
    assert abs(x.mean() - lam) < 4 * math.sqrt(lam / n)
    # SE of a sample variance: sqrt((mu4 - var^2) / n), for a Poisson sqrt((lam + 2 lam^2) / n).
    assert abs(x.var(ddof=1) - lam) < 4 * math.sqrt((lam + 2 * lam * lam) / n)
    assert parts == max(1, math.ceil(lam / 8))


def test_kernel_lognormals_have_the_lognormal_law() -> None:
    n, mu, sigma = 200_000, 2.5, 0.7
    z = np.log(_draws(K.Uniforms(np.random.default_rng(6)).state, n, 2, mu, sigma))
    assert abs(z.mean() - mu) < 4 * sigma / math.sqrt(n)
    assert abs(z.std(ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * (n - 1))
    # The normal's shape: the share within one sigma, 0.6827, within 4 binomial SE.
    share = np.mean(np.abs(z - mu) < sigma)
    assert abs(share - 0.682689) < 4 * math.sqrt(0.682689 * 0.317311 / n)
