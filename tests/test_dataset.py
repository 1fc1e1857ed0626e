"""The dataset directory: every refusal of prepare(), lock, overwrite, resume, commit, reading."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from eventforge.dataset import (
    LOCK,
    MANIFEST,
    PLAN,
    DatasetDir,
    open_dataset,
    read_manifest,
    read_table,
)
from eventforge.errors import DatasetIncompleteError, OutputLockedError, SinkError, UsageError
from eventforge.sinks import ParquetOptions, ParquetPartSink, PartInfo
from tests.test_sink_parquet import SPEC, make_batches

PLAN_DATA = {"points": 2, "replications": 2}
HEADER = {"eventforge_version": "0.1.0", "scenario": "demo"}


def write_part(root: Path, point: int, replication: int, rows: int = 120) -> PartInfo:
    """One committed part, as a worker would write it inside a prepared directory."""
    sink = ParquetPartSink(root, point, replication, ParquetOptions(row_group_rows=64))
    sink.open(SPEC.schema())
    for b in make_batches(
        [rows // 2, rows - rows // 2], seed=point * 100 + replication, replication=replication
    ):
        sink.write(b)
    return sink.commit({"events": rows, "point": point})


def full_dataset(root: Path, fingerprint: str = "fp1") -> list[PartInfo]:
    """A committed 2 x 2 dataset."""
    d = DatasetDir(root)
    assert d.prepare(fingerprint=fingerprint, plan=PLAN_DATA, overwrite=False, resume=False) == {}
    parts = [write_part(root, p, r, 100 + 10 * r) for p in (0, 1) for r in (0, 1)]
    d.commit(HEADER, parts[::-1])
    return parts


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def write_lock(root: Path, pid: int, host: str | None = None) -> None:
    (root / LOCK).write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid}))


# --- a run from start to finish -------------------------------------------------------------


def test_fresh_run_commits_a_dataset_every_reader_accepts(tmp_path: Path) -> None:
    root = tmp_path / "out" / "demo"  # parents are created
    parts = full_dataset(root)
    assert not (root / LOCK).exists()
    assert json.loads((root / PLAN).read_text()) == {"fingerprint": "fp1", "plan": PLAN_DATA}
    manifest = read_manifest(root)
    assert manifest["rows"] == 420 and manifest["scenario"] == "demo"
    assert [PartInfo.from_json(p) for p in manifest["parts"]] == parts  # sorted

    table = read_table(root)
    assert table.num_rows == 420
    assert table.schema.field("point").type == pa.int32()
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_dictionary(table.schema.field("event").type)
    # Parts come back in (point, replication) order, each in seq order.
    keys = list(zip(table["point"].to_pylist(), table["replication"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    only = read_table(root, columns=["seq", "point"], filter=ds.field("point") == 1)
    assert only.num_rows == 210 and set(only["point"].to_pylist()) == {1}

    frame = pd.read_parquet(root)  # hive discovery skips _manifest.json, _plan.json
    assert len(frame) == 420 and sorted(frame["point"].unique()) == [0, 1]
    assert ds.dataset(root, partitioning="hive").count_rows() == 420


def test_manifest_is_deterministic(tmp_path: Path) -> None:
    full_dataset(tmp_path / "a")
    full_dataset(tmp_path / "b")
    assert (tmp_path / "a" / MANIFEST).read_bytes() == (tmp_path / "b" / MANIFEST).read_bytes()


def test_parts_written_by_worker_processes(tmp_path: Path) -> None:
    d = DatasetDir(tmp_path)
    d.prepare(fingerprint="fp", plan=PLAN_DATA, overwrite=False, resume=False)
    jobs = [(tmp_path, p, r) for p in (0, 1) for r in (0, 1, 2)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(write_part, *zip(*jobs, strict=True)))
    d.commit(HEADER, parts)
    assert read_table(tmp_path).num_rows == 720


# --- refusals, all before anything is written ------------------------------------------------


def prepare(root: Path, *, overwrite: bool = False, resume: bool = False, fp: str = "fp1") -> dict:
    return DatasetDir(root).prepare(
        fingerprint=fp, plan=PLAN_DATA, overwrite=overwrite, resume=resume
    )


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SinkError, match="f: exists and is not a directory"):
        prepare(tmp_path / "f", overwrite=True)
    with pytest.raises(SinkError, match=r"cannot be created, .*f is not a directory"):
        prepare(tmp_path / "f" / "sub" / "out")


def test_refuses_a_foreign_folder_even_with_overwrite(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    for overwrite, resume in ((False, False), (True, False), (False, True)):
        with pytest.raises(SinkError, match=r"not an eventforge dataset .*even with --overwrite"):
            prepare(tmp_path, overwrite=overwrite, resume=resume)
    assert sorted(os.listdir(tmp_path)) == ["thesis.tex"]


def test_refuses_a_dataset_without_flags(tmp_path: Path) -> None:
    full_dataset(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(SinkError, match=r"already holds a dataset; use --overwrite .* or --resume"):
        prepare(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_refuses_overwrite_with_resume(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--overwrite and --resume cannot be used together"):
        prepare(tmp_path / "new", overwrite=True, resume=True)
    assert not (tmp_path / "new").exists()


def test_refuses_resume_of_another_scenario(tmp_path: Path) -> None:
    full_dataset(tmp_path, fingerprint="fp1")
    with pytest.raises(SinkError, match=r"scenario changed .*\'fp1\', now \'fp2\'.*--overwrite"):
        prepare(tmp_path, resume=True, fp="fp2")
    assert not (tmp_path / LOCK).exists() and (tmp_path / MANIFEST).exists()


def test_live_lock_refuses_and_stale_lock_is_taken_over(tmp_path: Path) -> None:
    first = DatasetDir(tmp_path)
    first.prepare(fingerprint="fp1", plan=PLAN_DATA, overwrite=False, resume=False)
    with pytest.raises(OutputLockedError, match=f"in use \\(locked by pid {os.getpid()} on"):
        prepare(tmp_path, resume=True)
    first.release()
    first.release()  # idempotent

    write_lock(tmp_path, os.getpid(), host="elsewhere.example")
    with pytest.raises(OutputLockedError, match=r"on elsewhere\.example"):
        prepare(tmp_path, resume=True)

    write_lock(tmp_path, dead_pid())
    assert prepare(tmp_path, resume=True) == {}
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()


def test_lone_stale_lock_in_an_otherwise_empty_directory_is_taken_over(tmp_path: Path) -> None:
    write_lock(tmp_path, dead_pid())
    assert prepare(tmp_path) == {}


# --- overwrite and resume ----------------------------------------------------------------------


def test_overwrite_removes_only_eventforge_files(tmp_path: Path) -> None:
    full_dataset(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "point=0" / "extra.csv").write_text("mine too")
    (tmp_path / "point=1" / ".rep-00002.parquet.tmp-99").write_bytes(b"half")
    assert prepare(tmp_path, overwrite=True, fp="fp2") == {}
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == [LOCK, PLAN, "notes.txt", "point=0", "point=0/extra.csv"]
    assert json.loads((tmp_path / PLAN).read_text())["fingerprint"] == "fp2"


def test_resume_keeps_committed_parts_and_drops_temp_and_corrupt_ones(tmp_path: Path) -> None:
    d = DatasetDir(tmp_path)
    d.prepare(fingerprint="fp1", plan=PLAN_DATA, overwrite=False, resume=False)
    good = [write_part(tmp_path, 0, 0), write_part(tmp_path, 1, 1)]
    corrupt = write_part(tmp_path, 1, 0)
    path = tmp_path / corrupt.path
    path.write_bytes(path.read_bytes()[:-100])  # a torn write
    (tmp_path / "point=0" / ".rep-00001.parquet.tmp-12345").write_bytes(b"PAR1")
    d.release()  # the run "crashed": no manifest

    with pytest.raises(DatasetIncompleteError, match=r"no _manifest\.json"):
        open_dataset(tmp_path)
    kept = DatasetDir(tmp_path).prepare(
        fingerprint="fp1", plan=PLAN_DATA, overwrite=False, resume=True
    )
    assert kept == {(0, 0): good[0], (1, 1): good[1]}
    assert sorted(p.name for p in (tmp_path / "point=0").iterdir()) == ["rep-00000.parquet"]
    assert not path.exists()


def test_resume_of_a_complete_dataset_returns_every_part(tmp_path: Path) -> None:
    parts = full_dataset(tmp_path)
    d = DatasetDir(tmp_path)
    kept = d.prepare(fingerprint="fp1", plan=PLAN_DATA, overwrite=False, resume=True)
    assert kept == {(p.point, p.replication): p for p in parts}
    assert not (tmp_path / MANIFEST).exists()  # rewritten by the commit that follows
    d.commit(HEADER, list(kept.values()))
    assert read_table(tmp_path).num_rows == 420


def test_resume_after_sigkill_mid_write(tmp_path: Path) -> None:
    """A run killed mid-part leaves its lock and a temp file; --resume takes both over."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from eventforge.dataset import DatasetDir
        from tests.test_dataset import write_part
        from test_sink_parquet import SPEC, make_batches  # tests/ is on sys.path under pytest
        from eventforge.sinks import ParquetOptions, ParquetPartSink
        root = Path({str(tmp_path)!r})
        DatasetDir(root).prepare(fingerprint="fp1", plan={{}}, overwrite=False, resume=False)
        write_part(root, 0, 0)
        sink = ParquetPartSink(root, 0, 1, ParquetOptions(row_group_rows=10))
        sink.open(SPEC.schema())
        sink.write(make_batches([50])[0])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / LOCK).exists()
    assert any(p.name.startswith(".rep-00001") for p in (tmp_path / "point=0").iterdir())
    kept = prepare(tmp_path, resume=True)
    assert list(kept) == [(0, 0)]
    assert [p.name for p in (tmp_path / "point=0").iterdir()] == ["rep-00000.parquet"]


# --- reading -------------------------------------------------------------------------------


def test_readers_refuse_incomplete_or_damaged_datasets(tmp_path: Path) -> None:
    parts = full_dataset(tmp_path)
    manifest = (tmp_path / MANIFEST).read_text()
    (tmp_path / MANIFEST).write_text(manifest[:50])
    with pytest.raises(DatasetIncompleteError, match="invalid manifest"):
        read_table(tmp_path)
    (tmp_path / MANIFEST).write_text(manifest)
    (tmp_path / parts[1].path).unlink()
    with pytest.raises(DatasetIncompleteError, match=r"rep-00001\.parquet: listed in"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetIncompleteError, match=r"no _manifest\.json"):
        read_manifest(tmp_path / "missing")


def test_open_dataset_reads_only_the_manifest_parts(tmp_path: Path) -> None:
    full_dataset(tmp_path)
    # A leftover that would break pyarrow's own discovery of the directory.
    (tmp_path / "point=0" / "rep-00009.parquet").write_bytes(b"not parquet at all")
    assert open_dataset(tmp_path).count_rows() == 420


def test_commit_requires_prepare_and_distinct_parts(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="without a successful prepare"):
        DatasetDir(tmp_path).commit(HEADER, [])
    d = DatasetDir(tmp_path)
    d.prepare(fingerprint="fp1", plan=PLAN_DATA, overwrite=False, resume=False)
    part = write_part(tmp_path, 0, 0)
    with pytest.raises(RuntimeError, match="same \\(point, replication\\) twice"):
        d.commit(HEADER, [part, part])
