"""Simulated customers per second of the ``queue_network`` model vs Ciw, each measured in this run.

1. An M/M/5 at load 0.9 (lambda = 4.5/h, mu = 1/h per server, ~10^5 customers): eventforge end
   to end (simulate + write Parquet, serial), eventforge generation only (in memory) and Ciw
   building its records in memory; the ratio end to end / Ciw (target >= 1.5x); the mean wait
   in queue of both next to Erlang C, to show the two simulate the same system.
2. The built-in ``emergency_department`` scenario: eventforge end to end vs Ciw on the closest
   network Ciw can express (see ``_ciw_network`` for what is approximated). Customers are
   counted as arrivals (batch members included; balked ones too).

Engines: ``ENGINES`` lists the eventforge engines measured, each selected by the override
``params.engine=<name>``. Every time is the best of ``REPEAT`` rounds, each round running every
measurement of a scenario once, in turn (:func:`_interleaved`).

Run: ``python benchmarks/bench_queue.py`` (needs the bench extra: ``pip install .[bench]``).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import ciw
import numpy as np
import pyarrow.compute as pc
from ceiling import pyarrow_alone

import eventforge as ef
from eventforge.runner import Task, task_rng
from eventforge.simulators.base import RunContext
from eventforge.simulators.discrete_event.network import (
    ENTRY,
    EXIT,
    Deterministic,
    Distribution,
    Exponential,
    GammaDist,
    Lognormal,
    PoissonArrivals,
    QueueNetworkParams,
    QueueNetworkRareEvents,
    Route,
    StationSpec,
    Weibull,
)
from eventforge.simulators.discrete_event.queue_network import QueueNetwork

#: eventforge engines to measure, each selected with --set params.engine=NAME.
ENGINES = ["simpy", "compiled"]

SEED = 1
# Best of 5, timeit's default: a process's first few calls of the compiled engine meet memory
# the allocator has not handed out before (page faults: ~40 MB of log for the M/M/5, up to half
# of a call), and single runs on a shared 2-core machine spread by +-20%.
REPEAT = 5
# Batches for the standard error of a mean wait: successive waits are strongly correlated at
# rho = 0.9, so the SE is that of 20 batch means (Law, Simulation Modeling and Analysis, 9.5.3).
BATCHES = 20
# M/M/5 at rho = lambda / (c mu) = 0.9; 22,000 h at 4.5/h is ~99,000 customers.
LAM, MU, C = 4.5, 1.0, 5
MMC_HORIZON = 22_000.0
# Waits of customers who join the queue before this time are left out of the means (the empty
# start biases them low): ~450 customers, over the relaxation time of the queue, roughly
# 1 / (c mu (1 - sqrt(rho))^2) = 76 h (Morse's M/M/1 relaxation time, with c mu as the rate).
WARMUP = 100.0

MMC_YAML = f"""\
name: mm5
description: M/M/5 at load 0.9 (benchmark)
model: queue_network
seed: {SEED}
replications: 1
start: "2026-01-05T00:00:00Z"
time_unit: h
horizon: {MMC_HORIZON:.0f}h
params:
  classes:
    customer:
      arrivals: {{process: poisson, rate: {LAM}/h}}
  stations:
    server:
      servers: {C}
      service: {{dist: exponential, mean: {1 / MU}h}}
  routing:
    customer:
      arrival: {{server: 1.0}}
      server: {{exit: 1.0}}
"""


def _engine_overrides(engine: str) -> list[str]:
    """Pin the engine: ``auto`` would hide which one was timed."""
    return [f"params.engine={engine}"]


def _interleaved(jobs: dict[str, Callable[[], Any]]) -> dict[str, tuple[Any, float]]:
    """Each job's result (of its last call) and best wall time over ``REPEAT`` rounds, a round
    calling every job once, in order (timeit's convention: the best is the least disturbed by
    other work on the machine). Interleaved rather than one job's runs after another's: the
    speed of a shared machine drifts over minutes (single figures moved by +-20%), and a drift
    then weighs on every job alike, so the ratios between them hold."""
    best = dict.fromkeys(jobs, math.inf)
    out: dict[str, Any] = {}
    for _ in range(REPEAT):
        for name, fn in jobs.items():
            t0 = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: (out[name], best[name]) for name in jobs}


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of an M/M/c: ``C(c, a) / (c mu - lambda)`` with ``a = lambda / mu``;
    ``C`` from the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))`` and
    ``C = c B / (c - a (1 - B))`` (Gross & Harris, Fundamentals of Queueing Theory, 2.3)."""
    a = lam / mu
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    erlang_c = c * b / (c - a * (1.0 - b))
    return erlang_c / (c * mu - lam)


def batch_mean(joined: np.ndarray, waits: np.ndarray, after: float) -> tuple[float, float]:
    """Mean wait of the visits that joined a queue after ``after``, and its batch-means standard
    error (visits in joining order, ``BATCHES`` contiguous batches)."""
    keep = joined >= after
    w = waits[keep][np.argsort(joined[keep], kind="stable")]
    means = [b.mean() for b in np.array_split(w, BATCHES)]
    return float(w.mean()), float(np.std(means, ddof=1) / math.sqrt(BATCHES))


def log_waits(table: Any) -> tuple[np.ndarray, np.ndarray]:
    """Queue-join times and waits (service_start time - queue_join time) of the customer visits
    in an eventforge log: each queue_join is paired with the same customer's next event, kept
    when that is a service_start (abandons and customers waiting at the horizon drop out)."""
    cust = table.filter(pc.greater_equal(table["entity_id"], 0))
    # Events of one customer are in seq order; sort by (customer, seq) to put each queue_join
    # right before the event that ends that wait.
    order = np.lexsort((cust["seq"].to_numpy(), cust["entity_id"].to_numpy()))
    entity = cust["entity_id"].to_numpy()[order]
    event = np.asarray(cust["event"].cast("string").to_numpy(zero_copy_only=False))[order]
    times = cust["time"].to_numpy()[order]
    join = np.flatnonzero(event[:-1] == "queue_join")
    served = join[(event[join + 1] == "service_start") & (entity[join + 1] == entity[join])]
    return times[served], times[served + 1] - times[served]


def _ciw_dist(d: Distribution) -> ciw.dists.Distribution:
    """The same distribution in Ciw's parameters (Ciw's Lognormal takes the normal's mu and
    sigma, its Gamma shape and scale, its Weibull scale and shape)."""
    if isinstance(d, Exponential):
        return ciw.dists.Exponential(rate=1.0 / d.mean)
    if isinstance(d, Deterministic):
        return ciw.dists.Deterministic(d.value)
    if isinstance(d, Lognormal):
        s2 = math.log1p(d.cv**2)
        return ciw.dists.Lognormal(math.log(d.mean) - 0.5 * s2, math.sqrt(s2))
    if isinstance(d, GammaDist):
        k = 1.0 / d.cv**2
        return ciw.dists.Gamma(k, d.mean / k)
    if isinstance(d, Weibull):
        return ciw.dists.Weibull(d.scale, d.shape)
    raise SystemExit(f"no Ciw counterpart for {d.dist!r} in this benchmark")


def _ciw_servers(st: StationSpec, hour0: float, unit_h: float) -> int | ciw.Schedule:
    """A fixed count, or the daily shift schedule as a cyclic Ciw schedule, rotated so that its
    time 0 is the scenario's start (hour of day ``hour0``)."""
    if isinstance(st.servers, int):
        return st.servers
    changes = sorted(((s.at - hour0) % 24.0, s.servers) for s in st.servers)
    on_duty = changes[-1][1] if changes[0][0] > 0.0 else changes[0][1]
    counts, ends = [on_duty], []
    for at, n in changes:
        if at > 0.0:
            ends.append(at / unit_h)
            counts.append(n)
    ends.append(24.0 / unit_h)
    return ciw.Schedule(numbers_of_servers=counts, shift_end_dates=ends)


def _ciw_arrivals(
    spec: PoissonArrivals, share: float, scenario: ef.Scenario, unit_h: float
) -> ciw.dists.Distribution:
    """The NHPP as Ciw's piecewise-constant Poisson process, hour by hour over the horizon:
    the same rate function as the SimPy engine (weekly x daily profile, each normalised to
    mean 1, times the trend at the hour's start and any surge overlapping the hour), thinned
    by the routing share ``share``.
    Exact when the scenario starts on the hour and surges start and end on the hour."""
    rare: QueueNetworkRareEvents = scenario.points[0].rare_events  # type: ignore[assignment]
    hours = math.ceil(scenario.horizon * unit_h)
    flat = spec.daily_profile is None and spec.weekly_profile is None and spec.trend is None
    if flat and not rare.surges:
        return ciw.dists.Exponential(rate=spec.rate * share)
    daily = np.asarray(spec.daily_profile or [1.0] * 24)
    weekly = np.asarray(spec.weekly_profile or [1.0] * 7)
    profile = np.repeat(weekly / weekly.mean(), 24) * np.tile(daily / daily.mean(), 7)
    start = scenario.start
    hour0 = start.weekday() * 24 + start.hour
    rates, ends = [], []
    for h in range(hours):
        a, b = h / unit_h, min((h + 1) / unit_h, scenario.horizon)
        # A surge covering part of the hour adds its share: the hour's mean rate is kept.
        mult = math.prod(
            1.0
            + (s.multiplier - 1.0) * max(0.0, min(b, s.at + s.duration) - max(a, s.at)) / (b - a)
            for s in rare.surges
        )
        if spec.trend is not None:
            mult *= (1.0 + spec.trend.growth) ** (a / spec.trend.per)
        rates.append(spec.rate * share * profile[(hour0 + h) % 168] * mult)
        ends.append(b)
    return ciw.dists.PoissonIntervals(rates, ends, scenario.horizon)


def _ciw_network(scenario: ef.Scenario) -> ciw.network.Network:
    """The scenario's network in Ciw. Exact: arrival rates hour by hour (profiles, surges),
    batch sizes, service distributions per station and class, servers and shifts, priority
    classes and preemptive-resume, per-queue patience, balking by number waiting at the entry
    station, probabilistic routing with feedback. Approximated:

    1. a class change on a route is none in Ciw (see ``_ciw_routing``): the customer keeps its
       class (priority, patience, service times) and follows the new class's routes; in the ED
       only the minor patients sent to a doctor (10%, 0.4/h) change class, and at the doctor
       they keep minor's priority and patience;
    2. Ciw's priorities apply at every station, so a FIFO station stays FIFO only if one class
       visits it (true of the ED's fast track);
    3. breakdowns are left out: Ciw has no random server outages (the ED's CT scanners are down
       about 1% of the time);
    4. at the end of a shift Ciw lets servers finish their customer, as the SimPy engine does.
    """
    p: QueueNetworkParams = scenario.points[0].params  # type: ignore[assignment]
    unit_h = scenario.time_unit_s / 3600.0  # hours per time unit
    stations = list(p.stations)
    classes = list(p.classes)
    n = len(stations)
    hour0 = scenario.start.hour + scenario.start.minute / 60.0
    arrivals, service, routing, renege, batch = {}, {}, {}, {}, {}
    baulk: dict[str, list[Callable[..., float] | None]] = {}
    for cname, cls in p.classes.items():
        rows = p.routing[cname]
        entry = {dst: _prob(v) for dst, v in rows[ENTRY].items()}
        spec = cls.arrivals
        if spec is not None and not isinstance(spec, PoissonArrivals):
            raise SystemExit("renewal arrivals are not translated to Ciw in this benchmark")
        arrivals[cname] = [
            _ciw_arrivals(spec, entry[s], scenario, unit_h)
            if spec is not None and entry.get(s, 0.0) > 0.0
            else None
            for s in stations
        ]
        service[cname] = [
            _ciw_dist(st.service_by_class.get(cname, st.service)) for st in p.stations.values()
        ]
        routing[cname] = _ciw_routing(p, cname, stations)
        renege[cname] = [
            None if cls.patience is None else _ciw_dist(cls.patience) for _ in stations
        ]
        baulk[cname] = [None] * n
        if cls.balk_probability is not None:
            probs = cls.balk_probability
            for s in entry:
                servers = p.stations[s].servers
                if not isinstance(servers, int):
                    raise SystemExit("balking at a station with shifts is not translated")
                baulk[cname][stations.index(s)] = _balk(probs, servers)
        sizes = spec.batch_size if spec is not None else None
        batch[cname] = [
            ciw.dists.Pmf(list(range(1, len(sizes) + 1)), list(sizes))
            if sizes is not None
            else ciw.dists.Deterministic(1)
            for _ in stations
        ]
    priorities = {c: p.classes[c].priority for c in classes}
    preempt = ["resume" if st.preemptive else False for st in p.stations.values()]
    return ciw.create_network(
        arrival_distributions=arrivals,
        service_distributions=service,
        number_of_servers=[_ciw_servers(st, hour0, unit_h) for st in p.stations.values()],
        routing=routing,
        priority_classes=(priorities, preempt),
        reneging_time_distributions=renege,
        baulking_functions=baulk,
        batching_distributions=batch,
    )


def _prob(v: float | Route) -> float:
    return v.p if isinstance(v, Route) else v


def _ciw_routing(p: QueueNetworkParams, cname: str, stations: list[str]) -> list[list[float]]:
    """Class ``cname``'s routing matrix for Ciw, without class changes: its own rows, then, for
    a route that changes the class, the new class's rows from the station it leads to onward
    (where ``cname`` has no row of its own). Ciw's class change on routing cannot be used: with
    reneging it removes a changed customer from the wrong priority queue (Ciw 3.2.7,
    ``Node.renege``) and the run fails."""
    matrix = [[0.0] * len(stations) for _ in stations]
    filled: set[str] = set()
    todo = [(cname, src) for src in p.routing[cname] if src != ENTRY]
    for cls, src in todo:
        if src in filled:
            continue
        filled.add(src)
        for dst, v in p.routing[cls][src].items():
            if dst == EXIT:
                continue
            matrix[stations.index(src)][stations.index(dst)] = _prob(v)
            # Appending while iterating visits the new class's stations after all own rows.
            todo.append((v.to_class if isinstance(v, Route) else cls, dst))
    return matrix


def _balk(probs: list[float], servers: int) -> Callable[..., float]:
    """Ciw passes the customers at the station (waiting + in service); SimPy's balking reads the
    number waiting, which is that minus the servers while they are all busy."""

    def balk(present: int, **_: Any) -> float:
        return probs[min(max(present - servers, 0), len(probs) - 1)]

    return balk


def _ciw_job(network: ciw.network.Network, horizon: float) -> Callable[[], ciw.Simulation]:
    """A run of Ciw from the same seed to ``horizon`` that builds the records list (what a user
    of Ciw analyses)."""

    def go() -> ciw.Simulation:
        ciw.seed(SEED)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(horizon)
        sim.records = sim.get_all_records()
        return sim

    return go


class _Run(NamedTuple):
    """One engine's figures on one scenario."""

    customers: int  # arrivals
    e2e: float  # customers/s end to end (Parquet, serial)
    gen: float  # customers/s of generation alone (in memory)
    events: float  # events/s end to end
    ceiling: float  # rows/s of pyarrow alone writing this very log
    table: Any  # the in-memory log


def _engine_job(scenario: ef.Scenario) -> Callable[[], int]:
    """The engine alone producing the log's columns (replication 0): no Arrow batches, no
    sink; what the compiled and SimPy engines themselves cost."""

    def go() -> int:
        point = scenario.points[0]
        ctx = RunContext(
            horizon=scenario.horizon,
            start=scenario.start,
            time_unit_s=scenario.time_unit_s,
            replication=0,
        )
        sim = QueueNetwork(
            point.params, point.rare_events, task_rng(scenario.seed, Task(0, 0)), ctx
        )
        return sum(len(cols["time"]) for cols in sim.columns())

    return go


def _measure(
    ciw_go: Callable[[], ciw.Simulation], scenarios: dict[str, ef.Scenario], tmp: Path
) -> tuple[ciw.Simulation, float, dict[str, _Run], dict[str, float]]:
    """Ciw's run and best seconds, then per engine its figures and the best seconds of the
    engine alone, all from one :func:`_interleaved` set of jobs. Each engine's jobs: the engine
    alone, generation in memory (``eventforge.simulate``), end to end (``eventforge.run``,
    serial) and pyarrow alone writing the log just generated (the sink's ceiling). A first
    round's compiling of kernels (paid once by a long run) does not count: best of rounds."""
    tables: dict[str, Any] = {}
    jobs: dict[str, Callable[[], Any]] = {"ciw": ciw_go}
    for engine, sc in scenarios.items():
        out = tmp / engine

        def gen(engine: str = engine, sc: ef.Scenario = sc) -> Any:
            tables[engine] = ef.simulate(sc)
            return tables[engine]

        def alone(engine: str = engine, sc: ef.Scenario = sc, out: Path = out) -> Any:
            return pyarrow_alone(tables[engine], sc, out.with_suffix(".alone"))

        jobs[f"{engine}.engine"] = _engine_job(sc)
        jobs[f"{engine}.gen"] = gen
        jobs[f"{engine}.e2e"] = lambda sc=sc, out=out: ef.run(
            sc, out, executor="serial", overwrite=True
        )
        jobs[f"{engine}.alone"] = alone
    res = _interleaved(jobs)
    sim, ciw_s = res["ciw"]
    runs, engine_s = {}, {}
    for engine in scenarios:
        table, gen_s = res[f"{engine}.gen"]
        result, e2e_s = res[f"{engine}.e2e"]
        arrivals = pc.sum(pc.equal(table["event"].cast("string"), "arrival")).as_py()
        runs[engine] = _Run(
            arrivals,
            arrivals / e2e_s,
            arrivals / gen_s,
            result.rows / e2e_s,
            table.num_rows / res[f"{engine}.alone"][1],
            table,
        )
        engine_s[engine] = res[f"{engine}.engine"][1]
    return sim, ciw_s, runs, engine_s


def _print_engine(engine: str, run: _Run, ciw_rate: float) -> None:
    print(f"eventforge {engine}: {run.customers:,} customers")
    print(f"  end to end (Parquet): {run.e2e:,.0f} customers/s, {run.e2e / ciw_rate:.2f}x Ciw")
    print(
        f"  generation only (in memory): {run.gen:,.0f} customers/s, {run.gen / ciw_rate:.2f}x Ciw"
    )
    target = " (target >= 70%)" if engine == "compiled" else ""
    print(
        f"  end to end {run.events / 1e6:.2f} M events/s; pyarrow alone writing this log "
        f"{run.ceiling / 1e6:.2f} M rows/s: {run.events / run.ceiling:.0%} of the sink's "
        f"ceiling{target}"
    )


def _print_vs_simpy(gen: dict[str, float], engine_s: dict[str, float]) -> None:
    """Generation-only speed of each other engine relative to SimPy (compiled: target >= 100x),
    through ``eventforge.simulate`` (Arrow batches in memory) and of the engines alone."""
    for engine, rate in gen.items():
        if engine != "simpy" and "simpy" in gen:
            print(
                f"{engine} / simpy, generation only: {rate / gen['simpy']:.1f}x in memory "
                f"(Arrow batches), {engine_s['simpy'] / engine_s[engine]:.1f}x engines alone "
                f"({engine_s[engine]:.3f} s vs {engine_s['simpy']:.3f} s)"
            )


def mm5(tmp: Path) -> None:
    """Figure 1: customers/s on the M/M/5 and the mean waits next to Erlang C."""
    path = tmp / "mm5.yaml"
    path.write_text(MMC_YAML)
    theory = erlang_c_wait(LAM, MU, C)
    print(f"== M/M/5, lambda={LAM}/h, mu={MU}/h, rho={LAM / (C * MU):.2f}, {MMC_HORIZON:.0f} h")
    print(f"Erlang C mean wait in queue: {theory:.3f} h")
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAM)],
        service_distributions=[ciw.dists.Exponential(rate=MU)],
        number_of_servers=[C],
    )
    scenarios = {e: ef.load_scenario(path, overrides=_engine_overrides(e)) for e in ENGINES}
    sim, ciw_s, runs, engine_s = _measure(_ciw_job(network, MMC_HORIZON), scenarios, tmp / "mm5")
    ciw_customers = sim.nodes[0].number_of_individuals
    ciw_rate = ciw_customers / ciw_s
    joined = np.array([r.arrival_date for r in sim.records])
    mean, se = batch_mean(joined, np.array([r.waiting_time for r in sim.records]), WARMUP)
    print(f"Ciw (records in memory): {ciw_customers:,} customers, {ciw_rate:,.0f} customers/s")
    print(f"  mean wait: {mean:.3f} +- {se:.3f} h (batch-means SE)")
    for engine, run in runs.items():
        _print_engine(engine, run, ciw_rate)
        if engine == "simpy":
            print("  target: end to end >= 1.5x Ciw")
        mean, se = batch_mean(*log_waits(run.table), WARMUP)
        print(f"  mean wait: {mean:.3f} +- {se:.3f} h (batch-means SE)")
    _print_vs_simpy({e: r.gen for e, r in runs.items()}, engine_s)


def emergency_department(tmp: Path) -> None:
    """Figure 2: customers (arrivals) per second on the ED scenario."""
    base = ef.load_scenario("emergency_department")
    hours = base.horizon * base.time_unit_s / 3600.0
    print(f"== emergency_department, {hours / 24:.0f} days")
    scenarios = {
        e: ef.load_scenario("emergency_department", overrides=_engine_overrides(e)) for e in ENGINES
    }
    ciw_go = _ciw_job(_ciw_network(base), base.horizon)
    sim, ciw_s, runs, engine_s = _measure(ciw_go, scenarios, tmp / "ed")
    ciw_customers = sim.nodes[0].number_of_individuals
    ciw_rate = ciw_customers / ciw_s
    print(
        f"Ciw (closest network, records in memory): {ciw_customers:,} customers, "
        f"{ciw_rate:,.0f} customers/s"
    )
    for engine, run in runs.items():
        _print_engine(engine, run, ciw_rate)
    _print_vs_simpy({e: r.gen for e, r in runs.items()}, engine_s)


def main() -> None:
    """Print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        mm5(Path(tmp))
        emergency_department(Path(tmp))


if __name__ == "__main__":
    main()
