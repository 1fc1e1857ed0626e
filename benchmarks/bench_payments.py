"""Transactions per second of the ``payments`` model, each figure measured in this one run.

The scenario is the built-in retail bank (``scenarios/payments.yaml``: four segments, 3,278
merchants, a small-world social graph, 90 days) with its customers set to N.

1. At N = 100k and 1M customers (accounts: N + 3,278 merchants): ours end to end with Parquet
   (``eventforge.run``, serial executor: model, kernels, event log, writing), ours
   ``model.step()`` only (the daily steps of a built model: no arrays or graph construction, no
   log), and the plain Mesa model (``benchmarks/mesa_payments.py``) on its first
   ``MESA_DAYS[N]`` days only (a month at 100k, a few days at 1M: a full quarter would take
   minutes to an hour; its rate per transaction does not depend on the day). Ratios against the
   plain Mesa rate: ours with Parquet (target >= 50x) and ours step only over the same first
   days (the like-for-like comparison of the daily step).
2. Peak RSS of a 1M-customer, 90-day run written to Parquet, in a fresh process (target <= 4
   GiB), and per customer above a 1,000-customer run's (the interpreter and libraries).

Transactions = attempted transactions: ``transaction`` plus ``decline`` events (the
``account_open`` events at t = 0 are not counted). Every time is the best of ``REPEAT`` runs
(one at 1M; the plain Mesa model runs once). The kernels are warmed on a small run first
(Numba's cache), as in any long run.

Run from the repository root: ``python -m benchmarks.bench_payments`` (every figure), or with
sizes, e.g. ``python -m benchmarks.bench_payments 100000``, for the rates at those sizes only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import eventforge as ef
from benchmarks.mesa_payments import PlainPayments
from eventforge.simulators.agent_based.payments_model import PaymentsModel
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from eventforge.simulators.base import NoRareEvents

SEED = 1
REPEAT = 3
DAYS = 90
SIZES = [100_000, 1_000_000]
#: Days the plain Mesa model runs at each size.
MESA_DAYS = {100_000: 31, 1_000_000: 3}


def _scenario(n: int, days: int = DAYS) -> Any:
    return ef.load_scenario(
        "payments", overrides=[f"params.customers.size={n}", f"horizon={days}d"], seed=SEED
    )


def _params(scenario: Any) -> PaymentsParams:
    params = scenario.points[0].params
    assert isinstance(params, PaymentsParams)
    return params


def _accounts(params: PaymentsParams) -> int:
    return params.customers.size + sum(c.count for c in params.merchants.categories.values())


def _ours_e2e(scenario: Any, accounts: int, tmp: Path) -> tuple[int, float]:
    """Transactions and seconds of a serial run to Parquet."""
    result = ef.run(scenario, tmp / "e2e", executor="serial", overwrite=True)
    return result.rows - accounts, result.seconds


def _ours_step(params: PaymentsParams, start: Any) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds to build the model, and after each of the ``DAYS`` steps the transactions and
    the seconds of the steps so far."""
    t0 = time.perf_counter()
    model = PaymentsModel(params, NoRareEvents(), np.random.default_rng(SEED), 24.0, start)
    t1 = time.perf_counter()
    tx, seconds = np.zeros(DAYS, dtype=np.int64), np.zeros(DAYS)
    for d in range(DAYS):
        model.step()
        assert model.day_events is not None
        tx[d] = len(model.day_events)
        seconds[d] = time.perf_counter() - t1
    model.release()
    return t1 - t0, np.cumsum(tx), seconds


def _plain(params: PaymentsParams, start: Any, days: int) -> tuple[float, int, float]:
    """Seconds to build the plain Mesa model, its transactions over ``days`` steps and their
    seconds."""
    t0 = time.perf_counter()
    model = PlainPayments(params, np.random.default_rng(SEED), start)
    t1 = time.perf_counter()
    for _ in range(days):
        model.step()
    t2 = time.perf_counter()
    model.release()
    return t1 - t0, model.transactions, t2 - t1


def _rates(tmp: Path, sizes: list[int]) -> None:
    print(f"M transactions/s over {DAYS} days; best of {REPEAT} runs (1 at 1M)")
    print(
        f"{'customers':>9} | {'e2e Parquet':>11} | {'step':>7} | {'plain Mesa':>10} | "
        f"{'e2e/Mesa':>8} | {'step/Mesa':>9} | build s: ours, Mesa"
    )
    for n in sizes:
        repeat = 1 if n >= 1_000_000 else REPEAT
        scenario = _scenario(n)
        params = _params(scenario)
        accounts = _accounts(params)
        e2e = [_ours_e2e(scenario, accounts, tmp) for _ in range(repeat)]
        tx, e2e_s = e2e[0][0], min(s for _, s in e2e)
        steps = [_ours_step(params, scenario.start) for _ in range(repeat)]
        build = min(b for b, _, _ in steps)
        step_tx, step_s = steps[0][1], np.min([s for _, _, s in steps], axis=0)
        del steps
        mesa_days = MESA_DAYS.get(n, 3)
        mesa_build, mesa_tx, mesa_s = _plain(params, scenario.start, mesa_days)
        e2e_rate, mesa_rate = tx / e2e_s, mesa_tx / mesa_s
        step_rate = step_tx[-1] / step_s[-1]
        # The step's rate over the plain model's days: the like-for-like ratio.
        same_days = step_tx[mesa_days - 1] / step_s[mesa_days - 1]
        print(
            f"{n:>9,} | {e2e_rate / 1e6:11.2f} | {step_rate / 1e6:7.2f} | "
            f"{mesa_rate / 1e6:10.4f} | {e2e_rate / mesa_rate:7.0f}x | "
            f"{same_days / mesa_rate:8.0f}x | {build:.2f}, {mesa_build:.1f}"
        )
        print(
            f"{'':>9}   {accounts:,} accounts; {tx:,} transactions, {e2e_s:.1f} s end to end; "
            f"plain Mesa: first {mesa_days} days, {mesa_tx:,} transactions in {mesa_s:.1f} s; "
            f"step over those days {same_days / 1e6:.2f} M/s"
        )
    print(
        "build: ours = arrays + graph (no Mesa agents until used); Mesa = agents + graph.\n"
        "targets: e2e (Parquet) / plain Mesa >= 50x"
    )


# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child of this large
# process could report the parent's peak; VmHWM is the peak of the child's own address space.
_RSS_PROBE = """
import re, sys, tempfile, time
import eventforge as ef
overrides = ["params.customers.size=" + sys.argv[1], "horizon=" + sys.argv[2]]
sc = ef.load_scenario("payments", overrides=overrides, seed=1)
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    r = ef.run(sc, tmp + "/out", executor="serial")
    seconds = time.perf_counter() - t0
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(r.rows, hwm, seconds)
"""


def _probe(n: int, days: int) -> tuple[int, int, float]:
    """Events, peak RSS (KiB) and seconds of an ``n``-customer run to Parquet, fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(n), f"{days}d"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def _peak_rss() -> None:
    n, small = 1_000_000, 1_000
    rows, kib, seconds = _probe(n, DAYS)
    # The interpreter, NumPy, pyarrow, Mesa and the compiled kernels take the same memory at
    # any size: a 1,000-customer run measures them, the rest is per customer.
    _, base_kib, _ = _probe(small, DAYS)
    per_customer = (kib - base_kib) * 1024 / (n - small)
    print(
        f"1M customers x {DAYS} days to Parquet (fresh process): peak RSS {kib / 2**20:.2f} GiB "
        f"(target <= 4 GiB); {per_customer:.0f} bytes/customer above the "
        f"{base_kib / 1024:.0f} MiB of a {small:,}-customer run; {rows:,} events in "
        f"{seconds:.1f} s"
    )


def main() -> None:
    """Print every figure (the rates only at the sizes given as arguments, if any)."""
    sizes = [int(a) for a in sys.argv[1:]]
    ef.simulate(_scenario(2_000, 10))  # warm Numba's cache
    with tempfile.TemporaryDirectory() as tmp:
        _rates(Path(tmp), sizes or SIZES)
    if not sizes:
        _peak_rss()


if __name__ == "__main__":
    main()
