"""payments with fraud, laundering and decoys: roles and episodes against the configured shares,
every labelled episode one tree through ``cause``, the ledger replayed with alerts and freezes,
frozen accounts never paying, scripted episodes as written, and no label predictable from
generation artifacts.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from eventforge.simulators.agent_based.payments import Payments
from eventforge.simulators.agent_based.payments_typologies import ROLES, draw_roles
from eventforge.simulators.agent_based.payments_typology_params import (
    DECOYS,
    TYPOLOGIES,
    PaymentsRareEvents,
)
from tests.simulate import columns, run_simulator
from tests.test_payments import _params

DAY = 24.0
#: Every typology and decoy, at shares large enough to count.
RARE: dict[str, Any] = {
    "account_takeover": {"share": 0.004, "detection": 0.5, "freeze": 0.8},
    "card_testing": {"share": 0.004, "detection": 0.3},
    "bust_out": {"share": 0.003, "detection": 0.3, "freeze": 0.5},
    "mule_fan_in": {"share": 0.002, "detection": 0.4, "freeze": 0.5},
    "mule_fan_out": {"share": 0.002, "detection": 0.4},
    "cycle": {"share": 0.002},
    "scatter_gather": {"share": 0.002, "detection": 0.4, "freeze": 1.0},
    "family_fan_out": {"share": 0.01, "detection": 0.1},
    "invoice_fan_in": {"share": 0.005, "detection": 0.2},
    "mules": 0.03,
}


@pytest.fixture(scope="module")
def run() -> tuple[Payments, dict[str, np.ndarray], list[pa.RecordBatch]]:
    sim, batches = run_simulator(Payments, _params(20_000), RARE, horizon=60 * DAY, seed=11)
    return sim, columns(batches), batches


def test_roles_follow_the_shares() -> None:
    # Roles are multinomial(N, shares): each count within 4 SE = 4 sqrt(N p (1 - p)).
    rare = PaymentsRareEvents.model_validate(RARE, context={"time_unit_s": 3600.0})
    n = 200_000
    roles = draw_roles(rare, n, np.random.default_rng(2))
    counts = np.bincount(roles, minlength=len(ROLES) + 1)
    for code, role in enumerate(ROLES):
        p = RARE[role] if role == "mules" else RARE["mules" if role == "mule" else role]
        p = p if isinstance(p, float) else p["share"]
        assert abs(counts[code] - n * p) <= 4 * math.sqrt(n * p * (1 - p)), role


def test_episodes_and_labels_match_the_scenario(run: tuple[Any, ...]) -> None:
    sim, log, _ = run
    plan = sim.model.plan
    n = 20_000
    for kind in (*TYPOLOGIES, *DECOYS):
        p = RARE[kind]["share"]
        # Episodes of a kind ~ Binomial(N, share) (each subject starts one inside the run;
        # random ones that found too few mules are left out: none here, the pool is ~600).
        assert abs(plan.episodes[kind] - n * p) <= 4 * math.sqrt(n * p * (1 - p)), kind
    rare = log["rare_kind"]
    tx = np.isin(log["event"], ["transaction", "decline"])
    for kind in TYPOLOGIES:
        # One root per episode: steps of the kind with no cause (none is dropped here unless
        # its account had no funds, which leaves a root in its place).
        roots = tx & (rare == kind) & np.isnan(log["cause"].astype(float))
        assert roots.sum() >= plan.episodes[kind], kind
    share = np.mean(rare[tx] != None)  # noqa: E711
    assert 0.001 < share < 0.05


def _components(cause: np.ndarray) -> np.ndarray:
    """Each row's root (following ``cause`` back: causes precede, so one forward pass)."""
    root = np.arange(cause.shape[0])
    for i in range(cause.shape[0]):
        c = cause[i]
        if c >= 0:
            root[i] = root[c]
    return root


def test_every_labelled_episode_is_one_tree_of_one_kind(run: tuple[Any, ...]) -> None:
    log = run[1]
    seq = log["seq"]
    assert (seq == np.arange(seq.shape[0])).all()
    cause = np.nan_to_num(log["cause"].astype(float), nan=-1).astype(np.int64)
    root = _components(cause)
    label = np.where(log["rare_kind"] != None, log["rare_kind"], log["decoy"])  # noqa: E711
    linked = cause >= 0
    # A labelled step's cause is a step of the same kind: chains never leave their episode.
    assert linked[label != None].sum() > 1000  # noqa: E711
    assert (label[cause[linked]] == label[linked]).all()
    # Legitimate rows have no cause, and no cause points at them.
    assert not linked[label == None].any()  # noqa: E711
    # Alerts follow from a step of their episode; freezes from an alert.
    alerts, freezes = log["event"] == "alert", log["event"] == "account_freeze"
    assert alerts.sum() > 50 and freezes.sum() > 20
    assert (log["event"][cause[freezes]] == "alert").all()
    assert np.isin(log["event"][cause[alerts]], ["transaction", "decline"]).all()
    # The roots of labelled trees are labelled steps.
    assert (label[root[label != None]] != None).all()  # noqa: E711


def test_replay_matches_and_frozen_accounts_never_pay(run: tuple[Any, ...]) -> None:
    sim, log, batches = run
    summary = sim.summary()
    assert Payments.replay(batches) == summary
    assert summary["events.alert"] > 0 and summary["events.account_freeze"] > 0
    # Money is conserved: what came in from outside, less what left, is what the accounts
    # gained over their opening balances.
    gained = summary["balance.customers"] + summary["balance.merchants"]
    opened = int(np.rint(log["amount"][log["event"] == "account_open"] * 100).sum())
    flows = summary.get("cents.salary", 0) + summary.get("cents.cash_in", 0)
    assert gained - opened == flows - summary.get("cents.atm", 0)
    frozen_at = {}
    for t, a in zip(log["time"][log["event"] == "account_freeze"],
                    log["entity_id"][log["event"] == "account_freeze"], strict=True):  # fmt: skip
        assert a not in frozen_at  # frozen once
        frozen_at[a] = t
    paid = (log["event"] == "transaction") & ~np.isnan(log["from_account"].astype(float))
    for t, a in zip(log["time"][paid], log["from_account"][paid].astype(np.int64), strict=True):
        assert a not in frozen_at or t < frozen_at[a]


# --- no shortcut ------------------------------------------------------------------------------


def _auc(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The ROC AUC (ties counted half) and its standard error (Hanley & McNeil, Radiology 143,
    1982: from the AUC and the numbers of positives and negatives)."""
    ranks = _midranks(score)
    n1 = int(positive.sum())
    n0 = positive.shape[0] - n1
    auc = (ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return float(auc), math.sqrt(var)


def _midranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.shape[0])
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def _naive_bayes(features: list[np.ndarray], y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Scores of a naive Bayes classifier fitted on ``train``: the sum over features of
    log P(value | positive) / P(value | negative), with add-one smoothing."""
    score = np.zeros(y.shape[0])
    for f in features:
        _, code = np.unique(f, return_inverse=True)
        k = int(code.max()) + 1
        pos = np.bincount(code[train & y], minlength=k) + 1.0
        neg = np.bincount(code[train & ~y], minlength=k) + 1.0
        score += np.log(pos / pos.sum())[code] - np.log(neg / neg.sum())[code]
    return score


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values.astype(str), return_inverse=True)[1].astype(np.int64)


def test_labels_are_not_predictable_from_generation_artifacts(run: tuple[Any, ...]) -> None:
    # PaySim's frauds could be found from artifacts: balances zeroed, whole-balance amounts,
    # ids. Here a classifier given the artifact features on top of the honest ones (transaction
    # type, channel, declined or not) must do no better than with the honest ones alone: the
    # AUC gain on held-out rows within 4 SE of the AUC (Hanley-McNeil); and the artifacts
    # alone, each within its transaction type, no better than the type alone, within the same
    # 4 SE. Artifacts: account-id patterns (last digit, parity, decile of the id range), round
    # amounts (whole units, tens, hundreds), an amount repeating the payer's previous one,
    # balance_after zero or null. Accounts, not rows, are split into training and held-out
    # halves (a row is held out when all its accounts are): a mule is a mule in both halves,
    # and learning *who* it is is a detector's honest work, not an artifact of generation.
    log = run[1]
    tx = np.isin(log["event"], ["transaction", "decline"])
    y = (log["rare_kind"] != None)[tx]  # noqa: E711
    kind = _codes(log["tx_type"][tx])
    honest = [kind, _codes(log["channel"][tx]), _codes(log["event"][tx])]
    payer = np.nan_to_num(log["from_account"][tx].astype(float), nan=-1).astype(np.int64)
    payee = np.nan_to_num(log["to_account"][tx].astype(float), nan=-1).astype(np.int64)
    top = max(payer.max(), payee.max()) + 1
    cents = np.rint(log["amount"][tx].astype(float) * 100).astype(np.int64)
    entity = log["entity_id"][tx]
    order = np.lexsort((np.arange(entity.shape[0]), entity))  # each entity's rows in time order
    repeat = np.zeros(entity.shape[0], dtype=bool)
    repeat[order[1:]] = (entity[order][1:] == entity[order][:-1]) & (
        cents[order][1:] == cents[order][:-1]
    )
    after = log["balance_after"][tx].astype(float)
    artifacts = [
        payer % 10, payee % 10, payer % 2, (payer * 10) // top, (payee * 10) // top,
        cents % 100 == 0, cents % 1000 == 0, cents % 10000 == 0, repeat,
        np.isnan(after), after == 0,
    ]  # fmt: skip
    within = [kind * 100 + (a.astype(np.int64) + 1) for a in artifacts]  # by type
    side = np.random.default_rng(5).random(top) < 0.5
    train = np.where(payer >= 0, side[payer], True) & np.where(payee >= 0, side[payee], True)
    test = np.where(payer >= 0, ~side[payer], True) & np.where(payee >= 0, ~side[payee], True)
    assert y[test].sum() > 300 and y[train].sum() > 300
    base, _ = _auc(_naive_bayes(honest, y, train)[test], y[test])
    full, se = _auc(_naive_bayes(honest + within, y, train)[test], y[test])
    assert full - base < 4 * se, (base, full, se)
    typed, _ = _auc(_naive_bayes([kind], y, train)[test], y[test])
    alone, se_alone = _auc(_naive_bayes(within, y, train)[test], y[test])
    assert alone - typed < 4 * se_alone, (typed, alone, se_alone)
