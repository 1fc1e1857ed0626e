"""The streaming Parquet part writer and the in-memory sink: lifecycle, layout, atomicity."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventforge.errors import SinkError
from eventforge.events import BatchBuilder, EventSpec
from eventforge.sinks import (
    MemorySink,
    ParquetOptions,
    ParquetPartSink,
    PartInfo,
    Sink,
    part_relpath,
    read_part_info,
)
from eventforge.sinks import parquet as parquet_module
from eventforge.sinks.parquet import SUMMARY_KEY, column_encodings

SPEC = EventSpec(
    vocabulary=("arrive", "serve", "leave"),
    rare_kinds=("surge",),
    columns=(
        pa.field("amount", pa.float64()),
        pa.field("station", pa.dictionary(pa.int32(), pa.string())),
        pa.field("queue", pa.int32()),
        pa.field("vip", pa.bool_()),
        pa.field("note", pa.string()),
    ),
)
META = {"eventforge.scenario": "abc123", "eventforge.seed": "42"}


def make_batches(sizes: list[int], seed: int = 1, replication: int = 3) -> list[pa.RecordBatch]:
    """Batches of one replication's log, with every kind of model column filled."""
    rng = np.random.default_rng(seed)
    builder = BatchBuilder(SPEC, replication, datetime(2024, 5, 1, tzinfo=UTC), 3600.0)
    t = 0.0
    out = []
    for n in sizes:
        time = t + np.cumsum(rng.exponential(0.1, n))
        t = float(time[-1]) if n else t
        seq = np.arange(builder.next_seq, builder.next_seq + n)
        cause = np.where(rng.random(n) < 0.3, seq - 1, -1)
        out.append(
            builder.build(
                time=time,
                entity_id=rng.integers(0, 50, n),
                event=rng.integers(0, 3, n),
                cause=cause,
                rare_kind=np.where(rng.random(n) < 0.05, 0, -1),
                columns={
                    "amount": rng.lognormal(2.0, 1.0, n),
                    "station": pa.DictionaryArray.from_arrays(
                        pa.array(rng.integers(0, 2, n), type=pa.int32()),
                        pa.array(["triage", "doctor"]),
                    ),
                    "queue": rng.integers(0, 9, n),
                    "vip": rng.random(n) < 0.1,
                    "note": [f"n{i % 7}" for i in range(n)],
                },
            )
        )
    return out


def write_part(
    root: Path,
    batches: list[pa.RecordBatch],
    options: ParquetOptions | None = None,
    summary: dict[str, float | int] | None = None,
    point: int = 0,
    replication: int = 3,
) -> PartInfo:
    root.mkdir(exist_ok=True)  # a prepared dataset directory
    sink = ParquetPartSink(root, point, replication, options, META)
    sink.open(SPEC.schema())
    for b in batches:
        sink.write(b)
    return sink.commit(summary or {"served": 7, "mean_wait": 0.25})


def test_part_relpath_names_point_and_five_digit_replication() -> None:
    assert part_relpath(0, 3) == "point=0/rep-00003.parquet"
    assert part_relpath(12, 123456) == "point=12/rep-123456.parquet"
    with pytest.raises(ValueError, match="must be >= 0"):
        part_relpath(-1, 0)


def test_round_trip_preserves_rows_and_arrow_types(tmp_path: Path) -> None:
    batches = make_batches([500, 0, 1200, 37])
    info = write_part(tmp_path, batches)
    path = tmp_path / "point=0/rep-00003.parquet"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    table = pq.read_table(path)
    expected = pa.Table.from_batches(batches, schema=SPEC.schema())
    # Dictionary columns and the UTC time zone come back as written (store_schema).
    assert table.schema.remove_metadata() == SPEC.schema()
    assert table.equals(expected)
    assert table.schema.metadata[b"eventforge.seed"] == b"42"
    assert info == PartInfo(
        path="point=0/rep-00003.parquet",
        point=0,
        replication=3,
        rows=1737,
        bytes=path.stat().st_size,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        summary={"served": 7, "mean_wait": 0.25},
    )


def test_caller_metadata_joins_and_overrides_the_schema_metadata(tmp_path: Path) -> None:
    sink = ParquetPartSink(tmp_path, 0, 0, metadata=META)
    sink.open(SPEC.schema({"eventforge.seed": "stale", "model": "queue"}))
    sink.write(make_batches([10])[0])  # batches carry no metadata: it belongs to the file
    info = sink.commit({})
    meta = pq.read_schema(tmp_path / info.path).metadata
    assert (meta[b"eventforge.seed"], meta[b"model"]) == (b"42", b"queue")


def test_row_groups_are_whole_and_bounded(tmp_path: Path) -> None:
    sizes = [333] * 10 + [2500, 1]  # 5831 rows in batches that straddle row groups
    write_part(tmp_path, make_batches(sizes), ParquetOptions(row_group_rows=1000))
    meta = pq.read_metadata(tmp_path / "point=0/rep-00003.parquet")
    rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    # The ramp (1000 // 16, doubling), then whole groups, then the rest.
    assert rows == [62, 125, 250, 500] + [1000] * 4 + [894]


def test_a_part_shorter_than_the_ramp_ends_in_one_short_group(tmp_path: Path) -> None:
    write_part(tmp_path, make_batches([100, 50]), ParquetOptions(row_group_rows=1000))
    meta = pq.read_metadata(tmp_path / "point=0/rep-00003.parquet")
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [62, 88]


def test_same_rows_give_identical_bytes_whatever_the_batching(tmp_path: Path) -> None:
    one = make_batches([3000])
    table = pa.Table.from_batches(one)
    rebatched = [table.slice(0, 1), table.slice(1, 1700), table.slice(1701)]
    options = ParquetOptions(row_group_rows=1024)
    infos = [
        write_part(tmp_path / name, batches, options)
        for name, batches in (("a", one), ("b", one), ("c", [b.to_batches()[0] for b in rebatched]))
    ]
    files = [(tmp_path / n / infos[0].path).read_bytes() for n in "abc"]
    assert files[0] == files[1] == files[2]
    assert len({i.sha256 for i in infos}) == 1


def test_exception_mid_stream_leaves_nothing(tmp_path: Path) -> None:
    batches = make_batches([800] * 5)
    with (
        pytest.raises(ZeroDivisionError),
        ParquetPartSink(tmp_path, 1, 0, ParquetOptions(row_group_rows=1024)) as sink,
    ):
        sink.open(SPEC.schema())
        for b in batches[:4]:  # six row groups (the ramp, two whole) are in the temp file
            sink.write(b)
        assert sink.tmp_path.exists() and sink.rows == 64 + 128 + 256 + 512 + 2 * 1024
        _ = 1 / 0
    assert list((tmp_path / "point=1").iterdir()) == []


def test_leaving_the_block_uncommitted_aborts(tmp_path: Path) -> None:
    with ParquetPartSink(tmp_path, 0, 0) as sink:
        sink.open(SPEC.schema())
        sink.write(make_batches([10])[0])
    assert list((tmp_path / "point=0").iterdir()) == []


def test_schema_mismatch_prints_both_schemas_and_aborts(tmp_path: Path) -> None:
    sink = ParquetPartSink(tmp_path, 0, 0, ParquetOptions(row_group_rows=100))
    sink.open(SPEC.schema())
    sink.write(make_batches([250])[0])
    wrong = pa.record_batch({"seq": pa.array([1], type=pa.int64())})
    with pytest.raises(RuntimeError, match=r"(?s)batch:\nseq: int64\nexpected:\nreplication"):
        sink.write(wrong)
    assert list((tmp_path / "point=0").iterdir()) == []
    with pytest.raises(RuntimeError, match="write\\(\\) on a sink that is aborted"):
        sink.write(make_batches([1])[0])
    sink.abort()  # idempotent


def test_abort_after_commit_keeps_the_part(tmp_path: Path) -> None:
    sink = ParquetPartSink(tmp_path, 0, 0)
    sink.open(SPEC.schema())
    sink.write(make_batches([5])[0])
    info = sink.commit({})
    sink.abort()
    assert (tmp_path / info.path).is_file()
    with pytest.raises(RuntimeError, match="commit\\(\\) on a sink that is committed"):
        sink.commit({})


def test_empty_part_is_a_valid_file(tmp_path: Path) -> None:
    info = write_part(tmp_path, [], summary={"served": 0})
    table = pq.read_table(tmp_path / info.path)
    assert info.rows == 0 and table.num_rows == 0
    assert table.schema.remove_metadata() == SPEC.schema()


def test_footer_summary_rebuilds_the_part_info(tmp_path: Path) -> None:
    summary: dict[str, float | int] = {"served": 12, "mean_wait": 1 / 3, "max_queue": 4}
    info = write_part(tmp_path, make_batches([100, 50]), summary=summary, point=2, replication=7)
    assert read_part_info(tmp_path, "point=2/rep-00007.parquet") == info
    kv = pq.read_metadata(tmp_path / info.path).metadata
    assert json.loads(kv[SUMMARY_KEY.encode()]) == summary


def test_numpy_summary_values_become_python_numbers(tmp_path: Path) -> None:
    summary = {"served": np.int64(3), "mean_wait": np.float32(0.5)}
    info = write_part(tmp_path, make_batches([10]), summary=summary)  # type: ignore[arg-type]
    assert info.summary == {"served": 3, "mean_wait": 0.5}
    assert type(info.summary["served"]) is int
    assert read_part_info(tmp_path, info.path) == info
    with pytest.raises(TypeError, match=r"summary\['state'\] must be a number \(got 'done'\)"):
        write_part(tmp_path / "b", make_batches([10]), summary={"state": "done"})  # type: ignore[dict-item]
    assert list((tmp_path / "b" / "point=0").iterdir()) == []


def test_read_part_info_refuses_truncated_or_misnamed_parts(tmp_path: Path) -> None:
    info = write_part(tmp_path, make_batches([300]))
    path = tmp_path / info.path
    data = path.read_bytes()
    (tmp_path / "point=0/rep-00004.parquet").write_bytes(data)
    with pytest.raises(SinkError, match="footer says point=0 replication=3"):
        read_part_info(tmp_path, "point=0/rep-00004.parquet")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SinkError, match=r"rep-00003\.parquet: not a committed eventforge part"):
        read_part_info(tmp_path, info.path)
    with pytest.raises(SinkError, match="not a part name"):
        read_part_info(tmp_path, "point=0/data.parquet")


def test_encodings_follow_column_types(tmp_path: Path) -> None:
    dictionary, encoding = column_encodings(SPEC.schema())
    assert dictionary == ["replication", "event", "rare_kind", "station"]
    assert encoding == {
        "seq": "DELTA_BINARY_PACKED",
        "time": "BYTE_STREAM_SPLIT",
        "timestamp": "DELTA_BINARY_PACKED",
        "entity_id": "DELTA_BINARY_PACKED",
        "cause": "DELTA_BINARY_PACKED",
        "weight": "BYTE_STREAM_SPLIT",
        "amount": "BYTE_STREAM_SPLIT",
        "queue": "DELTA_BINARY_PACKED",
    }
    info = write_part(tmp_path, make_batches([2000]))
    group = pq.read_metadata(tmp_path / info.path).row_group(0)
    used = {group.column(i).path_in_schema: group.column(i).encodings for i in range(15)}
    assert "RLE_DICTIONARY" in used["event"] and "RLE_DICTIONARY" in used["station"]
    assert "DELTA_BINARY_PACKED" in used["seq"] and "BYTE_STREAM_SPLIT" in used["time"]
    assert "RLE_DICTIONARY" not in used["entity_id"] and "RLE_DICTIONARY" not in used["note"]
    # Statistics where they prune (the sorted columns, the constant replication), not elsewhere.
    stats = {group.column(i).path_in_schema: group.column(i).is_stats_set for i in range(15)}
    assert stats["replication"] and stats["seq"] and stats["time"] and stats["timestamp"]
    assert not stats["entity_id"] and not stats["amount"] and not stats["event"]


def test_options_are_checked_and_levels_ignored_where_codecs_have_none(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row_group_rows must be >= 1"):
        ParquetOptions(row_group_rows=0)
    with pytest.raises(ValueError, match="compression must be one of"):
        ParquetOptions(compression="brotli")
    for codec in ("snappy", "none", "gzip", "lz4"):
        info = write_part(tmp_path / codec, make_batches([100]), ParquetOptions(compression=codec))
        assert pq.read_table(tmp_path / codec / info.path).num_rows == 100


def test_sinks_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(ParquetPartSink(tmp_path, 0, 0), Sink)
    assert isinstance(MemorySink(), Sink)


def test_memory_sink_keeps_rows_and_follows_the_same_lifecycle() -> None:
    batches = make_batches([40, 60])
    sink = MemorySink(point=1, replication=3)
    sink.open(SPEC.schema())
    with pytest.raises(RuntimeError, match="not committed"):
        sink.table()
    for b in batches:
        sink.write(b)
    info = sink.commit({"served": 5})
    assert sink.table().equals(pa.Table.from_batches(batches))
    assert (info.path, info.rows, info.summary) == ("point=1/rep-00003.parquet", 100, {"served": 5})
    again = MemorySink(point=1, replication=3)
    again.open(SPEC.schema())
    for b in batches:
        again.write(b)
    assert again.commit({"served": 5}) == info  # same batches, same checksum
    plain = MemorySink(point=1, replication=3, digest=False)
    plain.open(SPEC.schema())
    for b in batches:
        plain.write(b)
    undigested = plain.commit({"served": 5})
    assert (undigested.sha256, undigested.rows) == ("", 100)
    assert undigested.bytes == sum(b.nbytes for b in batches)
    assert plain.table().equals(sink.table())

    with MemorySink() as failing:
        failing.open(SPEC.schema())
        with pytest.raises(RuntimeError, match="schema differs"):
            failing.write(pa.record_batch({"x": [1]}))
    assert failing.rows == 0
    with pytest.raises(RuntimeError, match="commit\\(\\) on a sink that is aborted"):
        failing.commit({})


def test_part_info_json_round_trip() -> None:
    info = PartInfo("point=0/rep-00001.parquet", 0, 1, 10, 999, "ab" * 32, {"n": 1, "x": 0.5})
    assert PartInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_syncs_in_the_background_keep_the_bytes_and_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = make_batches([3000] * 4)
    options = ParquetOptions(row_group_rows=1024, compression="none")
    plain = write_part(tmp_path / "a", batches, options)
    synced: list[int] = []
    real = parquet_module.os.fdatasync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    # A sync every 4 KiB: the part's ~hundred KB start many background syncs.
    monkeypatch.setattr(parquet_module._HashingFile, "_SYNC_EVERY", 4096)
    monkeypatch.setattr(parquet_module._HashingFile, "_BUFFER", 4096)
    monkeypatch.setattr(parquet_module.os, "fdatasync", counting)
    info = write_part(tmp_path / "b", batches, options)
    assert len(synced) >= 2
    assert (
        info.sha256
        == plain.sha256
        == hashlib.sha256((tmp_path / "b" / info.path).read_bytes()).hexdigest()
    )


def test_a_failed_background_sync_fails_the_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(parquet_module._HashingFile, "_SYNC_EVERY", 4096)
    monkeypatch.setattr(parquet_module._HashingFile, "_BUFFER", 4096)
    monkeypatch.setattr(parquet_module.os, "fdatasync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        write_part(tmp_path, make_batches([3000] * 4), ParquetOptions(row_group_rows=1024))
    assert list((tmp_path / "point=0").iterdir()) == []  # nothing half-written
