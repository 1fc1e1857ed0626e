"""Agent-days per second of the ``epidemic`` model, each figure measured in this one run.

1. At N = 10k, 100k and 1M agents (households + an Erdos-Renyi community layer, static mean
   degree about 10, plus a random-mixing layer; 180 days): ours end to end in memory
   (``eventforge.simulate``: network, Mesa agents, kernels, event log), ours ``model.step()``
   only (the daily steps of a built model, no network or agent construction), the bare Numba
   kernel of the same rules (``benchmarks/bare_epidemic.py``) and the plain Mesa model
   (``benchmarks/mesa_epidemic.py``; at 1M only ``MESA_DAYS_1M`` days: a full run would take
   an hour). Ratios: ours (step) / plain Mesa (target >= 100x at 100k) and bare / ours (step)
   (target <= 2x: how far the model is from the bare kernel).
2. Peak RSS of a 1M-agent, 180-day run written to Parquet, in a fresh process (target <= 4 GiB),
   and per agent above a 1,000-agent run's (the interpreter and libraries).
3. The 50k flu town (``scenarios/flu_town.yaml``) end to end with Parquet writing (target >=
   2.4 M agent-days/s: Covasim's published 20k agents x 60 days in 0.5 s).

Agent-days = agents x days simulated. Every time is the best of ``REPEAT`` runs (one at 1M; the
plain Mesa model runs once). The kernels are warmed on a small run first (Numba's cache), as in
any long run.

Run from the repository root: ``python -m benchmarks.bench_epidemic``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import eventforge as ef
from benchmarks.bare_epidemic import run_bare
from benchmarks.mesa_epidemic import EpidemicRules, PlainEpidemic
from eventforge.simulators.agent_based.contacts import ContactNetwork
from eventforge.simulators.agent_based.epidemic_model import EpidemicModel
from eventforge.simulators.agent_based.epidemic_params import EpidemicParams, EpidemicRareEvents

SEED = 1
REPEAT = 5
DAYS = 180
SIZES = [10_000, 100_000, 1_000_000]
MESA_DAYS_1M = 5

SCENARIO_YAML = f"""\
name: epidemic_bench
description: SEIR on households + community + random mixing (benchmark)
model: epidemic
seed: {SEED}
replications: 1
start: "2026-01-01T00:00:00Z"
time_unit: d
horizon: {DAYS}d
params:
  population:
    size: 10000
    age_groups: {{children: 0.2, adults: 0.6, elderly: 0.2}}
  contacts:
    home: {{kind: household, transmission: 0.1, sizes: [0.28, 0.35, 0.16, 0.14, 0.07]}}
    community: {{kind: erdos_renyi, transmission: 0.05, mean_degree: 8}}
    market: {{kind: random, transmission: 0.05, contacts_per_day: 2}}
  disease:
    latent: {{dist: gamma, mean: 3d, cv: 0.5}}
    infectious: {{dist: gamma, mean: 5d, cv: 0.4}}
    onset_to_hospital: {{dist: lognormal, mean: 5d, cv: 0.5}}
    hospital_stay: {{dist: exponential, mean: 8d}}
    by_age:
      children: {{susceptibility: 0.7, p_asymptomatic: 0.5, p_hospital: 0.01, p_death: 0.01}}
      adults: {{p_asymptomatic: 0.4, p_hospital: 0.04, p_death: 0.05}}
      elderly: {{p_asymptomatic: 0.25, p_hospital: 0.2, p_death: 0.25}}
  initial_infected: 20
"""


def _best(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[Any, float]:
    """The result of ``fn`` and its best wall time over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def _scenario(path: Path, n: int, days: int = DAYS) -> Any:
    return ef.load_scenario(path, overrides=[f"params.population.size={n}", f"horizon={days}d"])


def _params(scenario: Any) -> EpidemicParams:
    params = scenario.points[0].params
    assert isinstance(params, EpidemicParams)
    return params


def _ours_step(params: EpidemicParams, days: int) -> tuple[float, float, EpidemicModel]:
    """Seconds to build the model (network, arrays, Mesa agents) and to run ``days`` steps, and
    the model (released: its network is lent to the other implementations)."""
    t0 = time.perf_counter()
    model = EpidemicModel(
        params, EpidemicRareEvents(), np.random.default_rng(SEED), params.day_units
    )
    t1 = time.perf_counter()
    for _ in range(days):
        model.step()
    t2 = time.perf_counter()
    model.release()
    return t1 - t0, t2 - t1, model


def _bare(network: ContactNetwork, age: np.ndarray, rules: EpidemicRules, days: int) -> float:
    """Seconds of the bare kernel's run on ``network``."""
    t0 = time.perf_counter()
    run_bare(network, age, rules, days, np.random.default_rng(SEED))
    return time.perf_counter() - t0


def _plain(
    network: ContactNetwork, age: np.ndarray, rules: EpidemicRules, days: int
) -> tuple[float, float]:
    """Seconds to build the plain Mesa model on ``network`` (agents and their contact lists),
    and to run its ``days`` daily steps."""
    t0 = time.perf_counter()
    model = PlainEpidemic(network, age, rules, np.random.default_rng(SEED), days)
    t1 = time.perf_counter()
    for _ in range(days):
        model.step()
    t2 = time.perf_counter()
    model.release()
    return t1 - t0, t2 - t1


def _rates(path: Path) -> None:
    print(f"M agent-days/s over {DAYS} days; best of {REPEAT} runs (1 at 1M)")
    print(
        f"{'N':>9} | {'ours e2e':>9} | {'ours step':>9} | {'bare':>9} | {'plain Mesa':>10} | "
        f"{'step/Mesa':>9} | {'bare/step':>9} | {'bare/e2e':>8} | build s: ours, Mesa"
    )
    for n in SIZES:
        repeat = 1 if n >= 1_000_000 else REPEAT
        scenario = _scenario(path, n)
        params = _params(scenario)
        table, e2e = _best(partial(ef.simulate, scenario), repeat)
        runs = [_ours_step(params, DAYS) for _ in range(repeat)]
        build, step = min(r[0] for r in runs), min(r[1] for r in runs)
        # The bare kernel and plain Mesa run on the very network the model built.
        network, age, rules = runs[0][2].network, runs[0][2].age, EpidemicRules.from_params(params)
        del runs
        bare = min(_bare(network, age, rules, DAYS) for _ in range(repeat))
        mesa_days = MESA_DAYS_1M if n >= 1_000_000 else DAYS
        mesa_build, mesa = _plain(network, age, rules, mesa_days)
        ours_rate, step_rate = n * DAYS / e2e / 1e6, n * DAYS / step / 1e6
        bare_rate, mesa_rate = n * DAYS / bare / 1e6, n * mesa_days / mesa / 1e6
        print(
            f"{n:>9,} | {ours_rate:9.2f} | {step_rate:9.2f} | {bare_rate:9.2f} | "
            f"{mesa_rate:10.3f} | {step_rate / mesa_rate:8.0f}x | {bare_rate / step_rate:8.2f}x | "
            f"{bare_rate / ours_rate:7.2f}x | {build:.2f}, {mesa_build:.1f}"
            + (f"  (plain Mesa: first {mesa_days} days only)" if mesa_days < DAYS else "")
        )
        print(f"{'':>9}   {table.num_rows:,} events; {e2e:.2f} s end to end")
    print(
        "build: ours = network + arrays + Mesa agents; Mesa = agents + contact lists on the "
        "model's network.\ntargets: step/Mesa >= 100x at 100k; bare/step <= 2x"
    )


# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child of this large
# process could report the parent's peak; VmHWM is the peak of the child's own address space.
_RSS_PROBE = """
import re, sys, tempfile, time
import eventforge as ef
overrides = ["params.population.size=" + sys.argv[2], "horizon=" + sys.argv[3]]
sc = ef.load_scenario(sys.argv[1], overrides=overrides)
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    r = ef.run(sc, tmp + "/out", executor="serial")
    seconds = time.perf_counter() - t0
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(r.rows, hwm, seconds)
"""


def _probe(path: Path, n: int, days: int) -> tuple[int, int, float]:
    """Events, peak RSS (KiB) and seconds of an ``n``-agent run to Parquet in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path), str(n), f"{days}d"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def _peak_rss(path: Path) -> None:
    n, small = 1_000_000, 1_000
    rows, kib, seconds = _probe(path, n, DAYS)
    # The interpreter, NumPy, pyarrow, Mesa and the compiled kernels take the same memory at
    # any size: a 1,000-agent run measures them, the rest is per agent.
    _, base_kib, _ = _probe(path, small, DAYS)
    per_agent = (kib - base_kib) * 1024 / (n - small)
    print(
        f"1M agents x {DAYS} days to Parquet (fresh process): peak RSS {kib / 2**20:.2f} GiB "
        f"(target <= 4 GiB); {per_agent:.0f} bytes/agent above the {base_kib / 1024:.0f} MiB "
        f"of a {small:,}-agent run; {rows:,} events in {seconds:.1f} s "
        f"({n * DAYS / seconds / 1e6:.1f} M agent-days/s with Parquet)"
    )


def _flu_town(tmp: Path) -> None:
    scenario = ef.load_scenario("flu_town")
    params = _params(scenario)
    n = params.population.size
    days = int(scenario.horizon // params.day_units)
    times = []
    for k in range(REPEAT):
        t0 = time.perf_counter()
        result = ef.run(scenario, tmp / f"flu{k}", executor="serial")
        times.append(time.perf_counter() - t0)
    rate = n * days / min(times)
    print(
        f"flu_town ({n:,} agents x {days} days, {result.rows:,} events, Parquet): "
        f"{rate / 1e6:.2f} M agent-days/s, {min(times):.2f} s (target >= 2.4 M)"
    )


def main() -> None:
    """Print every figure."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "epidemic_bench.yaml"
        path.write_text(SCENARIO_YAML)
        ef.simulate(_scenario(path, 2_000, 10))  # warm Numba's cache
        _rates(path)
        _peak_rss(path)
        _flu_town(Path(tmp))


if __name__ == "__main__":
    main()
