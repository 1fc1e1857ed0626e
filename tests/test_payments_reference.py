"""The ``payments`` model agrees with an independent plain Mesa model of the same rules.

``benchmarks/mesa_payments.py`` implements the legitimate-spending rules with Python agents (no
kernels, no shared code but the params models and the social-graph generator), so agreement of
the outcome distributions on one scenario is evidence that the kernels implement the rules. Each
side runs ``REPS`` independent replications (fresh segments, graph, salaries and balances each)
of ``N`` customers in two segments over ``DAYS`` days from mid-January: every day of the month
occurs once, so every salary and bill falls once, the salaried segment's payday window runs
across the month's end, and a student segment with no overdraft and a small opening balance
makes declines common. Compared per replication: the attempted transactions of each type per
customer-day, their mean amount, the decline rate and the customers' final mean balance. Both
sides are also held to the expected counts the rules give (Poisson counts, exact salaries and
bills), so that they cannot agree on a shared mistake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from benchmarks.mesa_payments import TX_TYPES, PlainPayments
from eventforge.simulators.agent_based import payments_kernels as K
from eventforge.simulators.agent_based.payments_model import PaymentsModel
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from eventforge.simulators.base import NoRareEvents

REPS = 10
N = 500
DAYS = 31
START = datetime(2026, 1, 15, tzinfo=UTC)  # a Thursday; the window ends on February 14

PARAMS: dict[str, Any] = {
    "currency": "EUR",
    "customers": {
        "size": N,
        "segments": {
            "salaried": {
                "share": 0.7,
                "salary": {"mean": 2200, "cv": 0.4},
                "payday": 28,
                "card_per_day": 2.0,
                "categories": {"grocery": 3, "restaurant": 1, "online": 1},
                "overdraft": 300,
                "opening_balance": {"mean": 1500, "cv": 1.0},
                "bills": [
                    {"category": "housing", "day": 1, "amount": {"mean": 700, "cv": 0.3}},
                    {"category": "utilities", "day": 10, "amount": {"mean": 100, "cv": 0.4}},
                ],
                "p2p_per_day": 0.1,
                "p2p_amount": {"mean": 50, "cv": 1.0},
                "atm_per_day": 0.1,
                "atm_amounts": [
                    {"amount": 20, "weight": 1},
                    {"amount": 50, "weight": 2},
                    {"amount": 100, "weight": 1},
                ],
                "cash_in_per_day": 0.02,
                "cash_in_amount": {"mean": 150, "cv": 0.8},
            },
            "student": {
                "share": 0.3,
                "salary": {"mean": 700, "cv": 0.4},
                "payday": 1,
                "card_per_day": 1.5,
                "categories": {"grocery": 2, "restaurant": 2, "online": 1},
                "overdraft": 0,
                "opening_balance": {"mean": 300, "cv": 1.0},
                "bills": [{"category": "utilities", "day": 5, "amount": {"mean": 20, "cv": 0.2}}],
                "p2p_per_day": 0.3,
                "p2p_amount": {"mean": 25, "cv": 1.0},
                "atm_per_day": 0.1,
                "atm_amounts": [{"amount": 20, "weight": 2}, {"amount": 50, "weight": 1}],
            },
        },
    },
    "merchants": {
        "categories": {
            "grocery": {
                "count": 40,
                "amount": {"median": 25, "sigma": 0.8},
                "popularity": 1.0,
                "channels": {"pos": 0.9, "online": 0.1},
            },
            "restaurant": {
                "count": 60,
                "amount": {"median": 18, "sigma": 0.6},
                "popularity": 0.5,
                "channels": {"pos": 0.8, "mobile": 0.2},
            },
            "online": {
                "count": 20,
                "amount": {"median": 40, "sigma": 1.0},
                "popularity": 1.5,
                "channels": {"online": 0.6, "mobile": 0.4},
            },
            "housing": {"count": 30, "popularity": 0.3},
            "utilities": {"count": 5},
        }
    },
    "social": {"kind": "watts_strogatz", "transmission": 0.0, "degree": 4, "rewire": 0.2},
    "seasonality": {
        "weekly": [0.9, 0.95, 1.0, 1.0, 1.2, 1.4, 0.6],
        "hourly": [0.1] * 7 + [1.0] * 5 + [3.0] * 2 + [1.0] * 4 + [2.0] * 4 + [0.5] * 2,
        "payday_boost": 1.5,
        "payday_days": 5,
    },
}
SEGMENTS = list(PARAMS["customers"]["segments"].values())
#: Transaction types whose count, given the segments and the graph, is a Poisson variable (the
#: others are fixed: one salary per customer, one payment per bill).
POISSON = {"card", "p2p", "atm", "cash_in"}


def _params() -> PaymentsParams:
    return PaymentsParams.model_validate(PARAMS, context={"time_unit_s": 3600.0})


def _card_days(segment: dict) -> float:
    """Sum over the days of ``weekly[day of week] x payday factor`` of ``segment``: the payday
    factor applies on the ``payday_days`` days from payday, payday included."""
    season = PARAMS["seasonality"]
    total = 0.0
    for d in range(DAYS):
        date = START + timedelta(days=d)
        window = {(date - timedelta(days=b)).day for b in range(season["payday_days"])}
        boost = season["payday_boost"] if segment["payday"] in window else 1.0
        total += season["weekly"][date.weekday()] * boost
    return total


def _expected(members: np.ndarray, with_friends: np.ndarray) -> np.ndarray:
    """Expected attempts of each type (``TX_TYPES`` order) given the customers per segment
    (``members``) and those with a social neighbour (``with_friends``): Poisson means for
    cards, transfers, withdrawals and deposits; exact counts for salaries and bills."""
    out = np.zeros(len(TX_TYPES))
    for s, seg in enumerate(SEGMENTS):
        n = members[s]
        out[TX_TYPES.index("card")] += n * seg["card_per_day"] * _card_days(seg)
        out[TX_TYPES.index("bill")] += n * len(seg["bills"])
        out[TX_TYPES.index("p2p")] += with_friends[s] * seg["p2p_per_day"] * DAYS
        out[TX_TYPES.index("salary")] += n
        out[TX_TYPES.index("atm")] += n * seg["atm_per_day"] * DAYS
        out[TX_TYPES.index("cash_in")] += n * seg.get("cash_in_per_day", 0.0) * DAYS
    return out


@dataclass(frozen=True)
class Run:
    """One replication's figures: attempts (transactions + declines) and attempted cents per
    type in ``TX_TYPES`` order, declines, the customers' final mean balance (currency) and the
    expected attempts given the replication's segments and graph."""

    attempts: np.ndarray
    cents: np.ndarray
    declines: int
    mean_balance: float
    expected: np.ndarray


def _ours(seed: int) -> Run:
    params = _params()
    model = PaymentsModel(params, NoRareEvents(), np.random.default_rng(seed), 24.0, START)
    attempts, cents, declines = np.zeros(len(TX_TYPES)), np.zeros(len(TX_TYPES)), 0
    for _ in range(DAYS):
        model.step()
        ev = model.day_events
        assert ev is not None
        attempts += np.bincount(ev.tx_type, minlength=len(TX_TYPES))
        cents += np.bincount(ev.tx_type, weights=ev.cents, minlength=len(TX_TYPES))
        declines += int(np.count_nonzero(ev.event == K.DECLINE))
    assert tuple(K.TX_TYPES) == TX_TYPES
    n_seg = len(SEGMENTS)
    members = np.bincount(model.seg, minlength=n_seg)
    has_friend = np.diff(model.indptr) > 0
    with_friends = np.bincount(model.seg[has_friend], minlength=n_seg)
    mean_balance = model.balance[:N].mean() / 100
    model.release()
    return Run(attempts, cents, declines, mean_balance, _expected(members, with_friends))


def _plain(seed: int) -> Run:
    model = PlainPayments(_params(), np.random.default_rng(seed), START)
    for _ in range(DAYS):
        model.step()
    names = list(PARAMS["customers"]["segments"])
    members, with_friends = np.zeros(len(names)), np.zeros(len(names))
    for c in model.customers:
        members[names.index(c.segment)] += 1
        with_friends[names.index(c.segment)] += bool(c.friends)
    run = Run(
        np.array([model.attempts[t] for t in TX_TYPES], dtype=np.float64),
        np.array([model.amounts[t] for t in TX_TYPES], dtype=np.float64),
        sum(model.declines.values()),
        sum(c.balance for c in model.customers) / N / 100,
        _expected(members, with_friends),
    )
    model.release()
    return run


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Run]]:
    """``REPS`` runs of each implementation, seeds disjoint between them."""
    return {
        "ours": [_ours(seed) for seed in range(REPS)],
        "plain": [_plain(1000 + seed) for seed in range(REPS)],
    }


def _metrics(run: Run) -> dict[str, float]:
    """The figures compared, of one replication."""
    out = {}
    for k, t in enumerate(TX_TYPES):
        out[f"{t} per customer-day"] = run.attempts[k] / (N * DAYS)
        out[f"{t} mean amount"] = run.cents[k] / run.attempts[k] / 100
    out["decline rate"] = run.declines / run.attempts.sum()
    out["final mean balance"] = run.mean_balance
    return out


METRICS = [
    *(f"{t} {what}" for t in TX_TYPES for what in ("per customer-day", "mean amount")),
    "decline rate",
    "final mean balance",
]


@pytest.mark.parametrize("metric", METRICS)
def test_agrees_with_plain_mesa(runs: dict[str, list[Run]], metric: str) -> None:
    # Two independent samples of REPS replications: the difference of the means has the
    # combined standard error sqrt(s1^2 / REPS + s2^2 / REPS) (sample standard deviations,
    # ddof=1); they must agree within 4 of it (false alarm rate ~6e-5 per metric if normal). A
    # figure fixed by the rules (salaries per customer-day) has no spread: it must be equal.
    ours = np.array([_metrics(r)[metric] for r in runs["ours"]])
    plain = np.array([_metrics(r)[metric] for r in runs["plain"]])
    se = math.sqrt(ours.var(ddof=1) / REPS + plain.var(ddof=1) / REPS)
    assert abs(ours.mean() - plain.mean()) <= 4 * se + 1e-12, (ours.mean(), plain.mean(), se)


@pytest.mark.parametrize("side", ["ours", "plain"])
@pytest.mark.parametrize("tx_type", TX_TYPES)
def test_counts_match_the_rules(runs: dict[str, list[Run]], side: str, tx_type: str) -> None:
    # Given each replication's segments and graph, the attempts of a Poisson type summed over
    # the replications are Poisson with mean the summed expectation mu: |count - mu| < 4
    # sqrt(mu). Salaries (one per customer on its payday) and bills (each due day occurs once
    # in the window) are exact.
    k = TX_TYPES.index(tx_type)
    count = sum(r.attempts[k] for r in runs[side])
    mu = sum(r.expected[k] for r in runs[side])
    assert mu > 0
    tolerance = 4 * math.sqrt(mu) if tx_type in POISSON else 0.0
    assert abs(count - mu) <= tolerance, (count, mu)


def test_scenario_declines(runs: dict[str, list[Run]]) -> None:
    # The comparison of decline rates and balances only means something if the overdraft
    # check bites: every replication of each side declines between 1% and 50% of attempts.
    for side in runs.values():
        for r in side:
            assert 0.01 < r.declines / r.attempts.sum() < 0.5
