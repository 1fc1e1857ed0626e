"""The runner: seeding, executors, determinism, interruption and resume, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import eventforge as ef
from eventforge.runner import Task, task_rng
from eventforge.sinks.parquet import read_part_info

SMALL = ["horizon=2d"]


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_task_streams_depend_only_on_seed_and_coordinates() -> None:
    a = task_rng(5, Task(1, 2)).random(4)
    assert np.array_equal(a, task_rng(5, Task(1, 2)).random(4))
    assert not np.array_equal(a, task_rng(5, Task(2, 1)).random(4))
    assert not np.array_equal(a, task_rng(6, Task(1, 2)).random(4))


def test_plan_is_points_times_replications() -> None:
    sc = ef.load_scenario("arrivals", overrides=SMALL, replications=3)
    tasks = ef.plan(sc)
    assert len(tasks) == 3 * len(sc.points)
    assert tasks[0] == Task(0, 0) and tasks[-1] == Task(len(sc.points) - 1, 2)


def test_serial_and_two_processes_write_identical_bytes(tmp_path: Path) -> None:
    sc = ef.load_scenario("arrivals", overrides=SMALL, replications=3, seed=11)
    serial = ef.run(sc, tmp_path / "serial", executor="serial")
    procs = ef.run(sc, tmp_path / "procs", executor="processes", workers=2)
    assert serial.rows == procs.rows > 0
    a, b = _files(serial.root), _files(procs.root)
    assert a.keys() == b.keys()
    assert len([k for k in a if k.endswith(".parquet")]) == 3
    for name in a:
        assert a[name] == b[name], name


def test_more_replications_leave_the_first_ones_unchanged(tmp_path: Path) -> None:
    one = ef.run(
        ef.load_scenario("arrivals", overrides=SMALL, replications=1, seed=3),
        tmp_path / "one",
        executor="serial",
    )
    two = ef.run(
        ef.load_scenario("arrivals", overrides=SMALL, replications=2, seed=3),
        tmp_path / "two",
        executor="serial",
    )
    # the rows are the same; the footers differ only in the scenario fingerprint
    part = "point=0/rep-00000.parquet"
    assert pq.read_table(one.root / part).equals(pq.read_table(two.root / part))


def test_simulate_equals_the_written_part(tmp_path: Path) -> None:
    sc = ef.load_scenario("arrivals", overrides=SMALL, replications=2, seed=4)
    table = ef.simulate(sc, point=0, replication=1)
    result = ef.run(sc, tmp_path / "d", executor="serial")
    on_disk = pq.read_table(result.root / "point=0" / "rep-00001.parquet")
    assert on_disk.equals(table.cast(on_disk.schema))


def test_failing_simulator_leaves_no_manifest_and_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventforge.simulators.monte_carlo.arrivals import Arrivals

    original = Arrivals.run

    def broken(self):  # type: ignore[no-untyped-def]
        for i, batch in enumerate(original(self)):
            if i == 1:
                raise RuntimeError("boom")
            yield batch

    monkeypatch.setattr(Arrivals, "run", broken)
    sc = ef.load_scenario("arrivals", overrides=["horizon=20d"], seed=1)
    with pytest.raises(RuntimeError, match="boom"):
        ef.run(sc, tmp_path / "d", executor="serial")
    left = [p.name for p in (tmp_path / "d").rglob("*") if p.is_file()]
    assert "_manifest.json" not in left
    assert not [n for n in left if n.endswith(".parquet") and not n.startswith(".")]
    with pytest.raises(ef.DatasetIncompleteError):
        ef.open_dataset(tmp_path / "d")


class _FailingSink:
    """A sink whose second write fails, as a full disk would."""

    def __init__(self) -> None:
        self.writes = 0
        self.aborted = False
        self.committed = False

    def open(self, schema: object) -> None:
        pass

    def write(self, batch: object) -> None:
        self.writes += 1
        if self.writes == 2:
            raise OSError("no space left on device")

    def commit(self, summary: object) -> None:
        self.committed = True

    def abort(self) -> None:
        self.aborted = True


def test_a_write_error_on_the_writer_thread_reaches_the_caller() -> None:
    from eventforge.runner import _simulate_into

    sc = ef.load_scenario("arrivals", overrides=["horizon=20d"], seed=1)
    sink = _FailingSink()
    with pytest.raises(OSError, match="no space"):
        _simulate_into(sc, Task(0, 0), sink, lambda n, f: None)  # type: ignore[arg-type]
    assert sink.aborted and not sink.committed


KILL_ARGS = ["--set", "horizon=20d", "--replications", "6", "--seed", "9", "--quiet"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "eventforge", *args]


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli("run", "arrivals", "-o", str(out), "--executor", "serial", *KILL_ARGS)
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(out.glob("point=0/rep-*.parquet"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "_manifest.json").exists()
    with pytest.raises(ef.DatasetIncompleteError):
        ef.open_dataset(out)
    committed = sorted(out.glob("point=0/rep-*.parquet"))
    assert 2 <= len(committed) < 6
    # what looks committed is complete: a valid footer carrying the simulator's summary
    for part in committed:
        assert read_part_info(out, part.relative_to(out).as_posix()).rows > 0
    # without --resume the folder is refused, with it the run completes
    refused = subprocess.run(_cli("run", "arrivals", "-o", str(out), *KILL_ARGS))
    assert refused.returncode == 2
    subprocess.run(
        _cli("run", "arrivals", "-o", str(out), "--resume", "--workers", "2", *KILL_ARGS),
        check=True,
    )
    clean = tmp_path / "clean"
    subprocess.run(_cli("run", "arrivals", "-o", str(clean), *KILL_ARGS), check=True)
    assert _files(out) == _files(clean)
    assert json.loads((out / "_manifest.json").read_text())["rows"] > 0


def test_a_sweep_writes_one_partition_per_point(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: sweep\nmodel: arrivals\nseed: 2\nhorizon: 1d\nreplications: 2\n"
        "params:\n  entities: 50\n  rate: 1/h\n"
        "  types: {buy: {probability: 1.0, median_amount: 9.0, amount_sigma: 0.5}}\n"
        "sweep:\n  params.rate: [1/h, 4/h]\n"
    )
    sc = ef.load_scenario(path)
    result = ef.run(sc, tmp_path / "out", executor="processes", workers=2)
    assert [p.path for p in result.parts] == [
        "point=0/rep-00000.parquet",
        "point=0/rep-00001.parquet",
        "point=1/rep-00000.parquet",
        "point=1/rep-00001.parquet",
    ]
    assert ef.check_dataset(result.root).ok
    table = ef.read_table(result.root, columns=["point", "replication"])
    counts = table.group_by("point").aggregate([("replication", "count")]).to_pydict()
    by_point = dict(zip(counts["point"], counts["replication_count"], strict=True))
    # four times the rate: Poisson counts over 50 entities x 24 h, mean 1200 vs 4800 per
    # replication; the sum of two replications is 2400 +/- 4 x 49 against 9600 +/- 4 x 98
    assert abs(by_point[0] - 2400) < 4 * 49 and abs(by_point[1] - 9600) < 4 * 98
    manifest = json.loads((result.root / "_manifest.json").read_text())
    assert [p["values"] for p in manifest["points"]] == [
        {"params.rate": "1/h"},
        {"params.rate": "4/h"},
    ]
