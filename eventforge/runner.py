"""Planning, seeding and executing the tasks of a scenario.

A scenario becomes one task per (sweep point, replication). Each task's random stream is the
``SeedSequence`` child with ``spawn_key=(point, replication)`` of the scenario's seed: it depends
only on the seed and the task's coordinates, never on how many tasks there are, which executor
runs them or in which order, so the same scenario and seed give the same bytes whatever the
executor and worker count (and adding replications leaves the existing ones unchanged).

Each task streams its simulator's batches into one part writer; the parent commits the manifest
only when every task has committed its part. A failed task stops the run and leaves no manifest,
so the dataset cannot be mistaken for a complete one; ``resume`` redoes only the missing parts.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from eventforge._version import __version__
from eventforge.dataset import FORMAT, DatasetDir
from eventforge.errors import UsageError
from eventforge.scenario import Scenario
from eventforge.simulators import RunContext, get_simulator
from eventforge.sinks.base import PartInfo, Sink
from eventforge.sinks.memory import MemorySink
from eventforge.sinks.parquet import ParquetOptions, ParquetPartSink

__all__ = ["Executor", "RunResult", "Task", "plan", "run", "simulate", "task_rng"]

Executor = Literal["serial", "processes"]
#: Called in the parent process with (events written, tasks completed) since the last call;
#: the task count is fractional (simulated time / horizon of running tasks) so ETAs move smoothly.
ProgressCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class Task:
    """One replication of one sweep point."""

    point: int
    replication: int


@dataclass(frozen=True)
class RunResult:
    """What a run produced: the dataset folder, its parts (sorted) and the time it took."""

    root: Path
    parts: tuple[PartInfo, ...]
    rows: int
    seconds: float
    reused: int


def plan(scenario: Scenario) -> list[Task]:
    """Every task of the scenario, point-major: the order parts appear in the manifest."""
    return [Task(point.index, r) for point in scenario.points for r in range(scenario.replications)]


def task_rng(seed: int, task: Task) -> np.random.Generator:
    """The task's own generator: the ``(point, replication)`` child of ``SeedSequence(seed)``."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(task.point, task.replication)))
    )


def _file_metadata(scenario: Scenario) -> dict[str, str]:
    """Provenance in every part's footer: enough to know where a stray file came from."""
    return {
        "eventforge.version": __version__,
        "eventforge.model": scenario.model,
        "eventforge.scenario": scenario.name,
        "eventforge.fingerprint": scenario.fingerprint,
        "eventforge.seed": str(scenario.seed),
        "eventforge.time_unit": scenario.time_unit,
        "eventforge.start": scenario.start.isoformat(),
    }


def _parquet_options(scenario: Scenario) -> ParquetOptions:
    out = scenario.output
    return ParquetOptions(
        row_group_rows=out.row_group_rows,
        compression=out.compression,
        compression_level=out.compression_level,
    )


class _WriterThread:
    """Feeds a sink from a second thread, so Parquet encoding overlaps simulation.

    Numba kernels (``nogil``) and pyarrow's encoders release the GIL, so on two cores the two
    halves of a task run side by side. The queue holds the simulator's ``write_ahead`` batches:
    memory stays a few batches, and the order of batches, hence the bytes written, is that of
    the simulator.
    """

    def __init__(self, sink: Sink, depth: int = 2) -> None:
        self._sink = sink
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="eventforge-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:  # after a failure, drain so the producer never blocks
                try:
                    self._sink.write(batch)
                except BaseException as exc:
                    self._error = exc

    def put(self, batch: pa.RecordBatch) -> None:
        """Queue a batch; re-raises a write error of an earlier batch here."""
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every queued batch is written; re-raises a write error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _simulate_into(
    scenario: Scenario, task: Task, sink: Sink, report: ProgressCallback, *, overlap: bool = True
) -> PartInfo:
    """Run one task's simulator into ``sink``; on any failure the sink is aborted. With
    ``overlap``, the sink writes from a thread of its own (:class:`_WriterThread`)."""
    cls = get_simulator(scenario.model)
    point = scenario.points[task.point]
    ctx = RunContext(
        horizon=scenario.horizon,
        start=scenario.start,
        time_unit_s=scenario.time_unit_s,
        replication=task.replication,
    )
    sim = cls(point.params, point.rare_events, task_rng(scenario.seed, task), ctx)
    sink.open(sim.builder.schema)
    done = 0.0  # fraction of this task's horizon simulated so far
    writer = _WriterThread(sink, depth=sim.write_ahead) if overlap else None
    put = sink.write if writer is None else writer.put
    try:
        try:
            for batch in sim.run():
                put(batch)
                if batch.num_rows:
                    now = min(float(batch.column("time")[-1].as_py()) / scenario.horizon, 1.0)
                    report(batch.num_rows, max(now - done, 0.0))
                    done = max(done, now)
        finally:
            if writer is not None:
                writer.close()
        info = sink.commit(sim.summary())
    except BaseException:
        sink.abort()
        raise
    report(0, 1.0 - done)
    return info


def simulate(scenario: Scenario, point: int = 0, replication: int = 0) -> pa.Table:
    """One task's event log in memory, exactly as a run would write it (for notebooks, tests)."""
    if not 0 <= point < len(scenario.points):
        raise UsageError(f"point {point} out of range (the scenario has {len(scenario.points)})")
    if not 0 <= replication < scenario.replications:
        raise UsageError(
            f"replication {replication} out of range (the scenario has {scenario.replications})"
        )
    sink = MemorySink(point, replication, digest=False)
    # Keeping batches encodes nothing that a thread could overlap: the hand-offs to one would
    # be all it added (~3% of a compiled queue model's generation).
    _simulate_into(scenario, Task(point, replication), sink, lambda n, f: None, overlap=False)
    return sink.table()


# --- executors -------------------------------------------------------------------------------

_PROGRESS: Any = None  # the worker's progress queue, set by the pool initializer
_REPORT_EVERY = 1 << 18  # events between progress messages from a worker


def _init_worker(progress: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress


def _worker(scenario: Scenario, root: Path, task: Task) -> PartInfo:
    """A task in a worker process: writes its part, reports progress in coarse steps."""
    pending = [0, 0.0]

    def report(n: int, fraction: float) -> None:
        pending[0] += n
        pending[1] += fraction
        if pending[0] >= _REPORT_EVERY and _PROGRESS is not None:
            _PROGRESS.put((pending[0], pending[1]))
            pending[:] = [0, 0.0]

    sink = ParquetPartSink(
        root, task.point, task.replication, _parquet_options(scenario), _file_metadata(scenario)
    )
    info = _simulate_into(scenario, task, sink, report)
    if _PROGRESS is not None:
        _PROGRESS.put((pending[0], pending[1]))
    return info


def _run_serial(
    scenario: Scenario, root: Path, tasks: list[Task], progress: ProgressCallback
) -> Generator[PartInfo, None, None]:
    for task in tasks:
        sink = ParquetPartSink(
            root, task.point, task.replication, _parquet_options(scenario), _file_metadata(scenario)
        )
        yield _simulate_into(scenario, task, sink, progress)


def _run_processes(
    scenario: Scenario,
    root: Path,
    tasks: list[Task],
    workers: int,
    progress: ProgressCallback,
) -> Generator[PartInfo, None, None]:
    # spawn, not fork: the parent may hold pyarrow and Numba threads, which fork does not copy
    # safely. Workers load compiled kernels from Numba's cache.
    mp = multiprocessing.get_context("spawn")
    events: Any = mp.Queue()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                progress(*events.get(timeout=0.1))
            except queue.Empty:
                continue

    pump = threading.Thread(target=drain, name="eventforge-progress", daemon=True)
    pump.start()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=mp, initializer=_init_worker, initargs=(events,)
    )
    futures: list[Future[PartInfo]] = []
    try:
        futures = [pool.submit(_worker, scenario, root, task) for task in tasks]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                yield fut.result()  # re-raises a worker's exception here
    finally:
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        stop.set()
        pump.join()
        while True:  # progress sent just before the last task finished
            try:
                progress(*events.get_nowait())
            except queue.Empty:
                break
        events.close()


def run(
    scenario: Scenario,
    out: str | os.PathLike[str],
    *,
    executor: Executor = "processes",
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run every task of ``scenario`` and commit the dataset at ``out``.

    Every check (paths, flags, lock, a changed scenario on resume) happens before the first byte
    is written. ``workers`` defaults to all cores; it never changes the bytes written.
    Raises :class:`~eventforge.errors.EventforgeError` subclasses for user errors.
    """
    if executor not in ("serial", "processes"):
        raise UsageError(f"unknown executor {executor!r} (known: serial, processes)")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be >= 1 (got {workers})")
    get_simulator(scenario.model)  # an unknown plugin fails before anything is written
    root = Path(out)
    tasks = plan(scenario)
    header = _manifest_header(scenario)
    dataset = DatasetDir(root)
    committed = dataset.prepare(
        fingerprint=scenario.fingerprint, plan=header, overwrite=overwrite, resume=resume
    )
    todo = [t for t in tasks if (t.point, t.replication) not in committed]
    report: ProgressCallback = progress or (lambda n, f: None)
    started = time.perf_counter()
    parts = dict(committed)
    try:
        n_workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
        if executor == "serial" or n_workers == 1:
            produced = _run_serial(scenario, root, todo, report)
        else:
            produced = _run_processes(scenario, root, todo, n_workers, report)
        with closing(produced):  # stops the workers at once if the parent fails
            for info in produced:
                parts[(info.point, info.replication)] = info
        ordered = [parts[(t.point, t.replication)] for t in tasks]
        dataset.commit(header, ordered)
    except BaseException:
        dataset.release()
        raise
    return RunResult(
        root=root,
        parts=tuple(ordered),
        rows=sum(p.rows for p in ordered),
        seconds=time.perf_counter() - started,
        reused=len(committed),
    )


def _manifest_header(scenario: Scenario) -> dict[str, Any]:
    """The manifest's description of the run (no wall-clock times: same seed, same bytes)."""
    return {
        "format": FORMAT,
        "eventforge_version": __version__,
        "name": scenario.name,
        "model": scenario.model,
        "seed": scenario.seed,
        "seed_drawn": scenario.seed_drawn,
        "replications": scenario.replications,
        "fingerprint": scenario.fingerprint,
        "time_unit": scenario.time_unit,
        "time_unit_s": scenario.time_unit_s,
        "start": scenario.start.isoformat(),
        "horizon": scenario.horizon,
        "points": [{"index": p.index, "values": p.values} for p in scenario.points],
        "scenario": scenario.resolved,
    }
