"""Tests of ``eventforge check``: a valid dataset passes, and each breach is found and located.

The datasets are built here by a small single-server queue (``Desk``) whose log has a lifecycle
(arrive -> start -> leave, plus a free ``note``) and a replay; each test breaks one thing in a
written part, rewrites the part with a matching manifest entry unless the manifest is the thing
broken, and checks that the report names the rule and the row.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pydantic import Field

import eventforge.check as check_module
from eventforge._lifecycle import (
    LifecycleTables,
    LifecycleTracker,
    intern_ids,
    intern_ids_reference,
    step_lifecycle,
    step_lifecycle_reference,
)
from eventforge.check import CheckReport, Violation, check_dataset
from eventforge.dataset import MANIFEST
from eventforge.errors import DatasetIncompleteError, UsageError
from eventforge.events import EventSpec, Lifecycle
from eventforge.scenario.types import PositiveFloat, StrictModel
from eventforge.simulators import _BUILTIN, RunContext, Simulator
from eventforge.simulators.base import Summary

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000
ARRIVE, BEGIN, LEAVE, NOTE = range(4)


class DeskParams(StrictModel):
    rate: PositiveFloat = Field(description="Arrivals per hour.")
    service: PositiveFloat = Field(description="Mean service time in hours.")


class Desk(Simulator):
    """M/M/1 FIFO desk: customers arrive, start service, leave; every third one gets a note
    at its service start; about one in ten is a VIP (a rare episode, weight 2)."""

    name = "desk"
    description = "test double: a single-server queue"
    Params = DeskParams
    spec = EventSpec(
        vocabulary=("arrive", "start", "leave", "note"),
        rare_kinds=("vip",),
        columns=(pa.field("desk", pa.int32()),),
        lifecycle=Lifecycle(
            initial="new",
            transitions={
                ("new", "arrive"): "waiting",
                ("waiting", "start"): "serving",
                ("serving", "leave"): "gone",
            },
            free=frozenset({"note"}),
            final=frozenset({"gone"}),
        ),
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        p, h = self.params, self.ctx.horizon
        assert isinstance(p, DeskParams)
        n = int(p.rate * h * 2) + 10
        arrive = np.cumsum(self.rng.exponential(1 / p.rate, n))
        service = self.rng.exponential(p.service, n)
        vip = self.rng.random(n) < 0.1
        begin, leave = np.empty(n), np.empty(n)
        free_at = 0.0
        for i in range(n):
            begin[i] = max(arrive[i], free_at)
            leave[i] = free_at = begin[i] + service[i]
        who = np.arange(n) * 7 + 1000  # entity ids need not be dense
        noted = np.arange(n) % 3 == 0
        time = np.concatenate([arrive, begin, leave, begin[noted]])
        phase = np.repeat([0, 1, 3, 2], [n, n, n, int(noted.sum())])
        person = np.concatenate([who, who, who, who[noted]])
        index = np.concatenate([np.arange(n)] * 3 + [np.flatnonzero(noted)])
        keep = time <= h
        order = np.lexsort((phase[keep], time[keep]))
        time, phase, person, index = (a[keep][order] for a in (time, phase, person, index))
        # Causes: start <- its arrive, leave <- its start, note <- its start.
        seq_of = {(int(i), int(ph)): s for s, (i, ph) in enumerate(zip(index, phase, strict=True))}
        cause = np.array(
            [
                -1 if ph == 0 else seq_of[(int(i), 0 if ph == 1 else 1)]
                for i, ph in zip(index, phase, strict=True)
            ]
        )
        event = np.array([ARRIVE, BEGIN, NOTE, LEAVE])[phase]
        kind = np.where(vip[index], 0, -1)
        self._summary: Summary = {
            "events": len(time),
            "arrived": int((phase == 0).sum()),
            "served": int((phase == 3).sum()),
            "total_wait": float(sum(begin[i] - arrive[i] for i in index[phase == 1])),
        }
        step = self.ctx.batch_events
        for lo in range(0, len(time), step):
            sl = slice(lo, lo + step)
            yield self.builder.build(
                time[sl],
                person[sl],
                event[sl],
                cause=cause[sl],
                rare_kind=kind[sl],
                weight=np.where(kind[sl] >= 0, 2.0, 1.0),
                columns={"desk": np.zeros(len(time[sl]), dtype=np.int32)},
            )

    def summary(self) -> Summary:
        return self._summary

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        # Reads event codes as vocabulary indices: relies on check handing canonical dictionaries.
        events = arrived = served = 0
        wait = 0.0
        arrived_at: dict[int, float] = {}
        for b in batches:
            codes = b.column("event").indices.to_pylist()
            for code, t, who in zip(
                codes, b.column("time").to_pylist(), b.column("entity_id").to_pylist(), strict=True
            ):
                events += 1
                if code == ARRIVE:
                    arrived += 1
                    arrived_at[who] = t
                elif code == BEGIN:
                    wait += t - arrived_at.pop(who)
                elif code == LEAVE:
                    served += 1
        return {"events": events, "arrived": arrived, "served": served, "total_wait": wait}


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``Desk`` as model ``desk`` through the real registry."""
    monkeypatch.setitem(_BUILTIN, "desk", f"{__name__}:Desk")


def _write_part(path: Path, batches: Iterable[pa.RecordBatch]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, Desk.spec.schema()) as w:
        for b in batches:
            w.write_batch(b)


def _entry(root: Path, rel: str, point: int, rep: int, summary: Summary) -> dict:
    data = (root / rel).read_bytes()
    return {
        "path": rel,
        "point": point,
        "replication": rep,
        "rows": pq.ParquetFile(root / rel).metadata.num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "summary": summary,
    }


def make_dataset(root: Path, points: int = 1, reps: int = 2, horizon: float = 40.0) -> Path:
    """Run ``Desk`` for each (point, replication) and write the parts and a manifest."""
    parts = []
    for point in range(points):
        for rep in range(reps):
            ctx = RunContext(horizon, START, 3600.0, rep, batch_events=50)
            params = DeskParams(rate=3.0, service=0.25)
            sim = Desk(params, Desk.RareEvents(), np.random.default_rng([7, point, rep]), ctx)
            rel = f"point={point}/rep-{rep:05d}.parquet"
            _write_part(root / rel, sim.run())
            parts.append(_entry(root, rel, point, rep, sim.summary()))
    manifest = {
        "format": "eventforge-dataset/1",
        "eventforge_version": "0.1.0",
        "name": "desk-test",
        "model": "desk",
        "seed": 7,
        "seed_drawn": False,
        "replications": reps,
        "fingerprint": "0" * 64,
        "time_unit": "h",
        "time_unit_s": 3600.0,
        "start": START.isoformat(),
        "horizon": horizon,
        "points": [{"index": p, "values": {}} for p in range(points)],
        "scenario": {},
        "parts": parts,
        "rows": sum(p["rows"] for p in parts),
    }
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def _save_manifest(root: Path, manifest: dict) -> None:
    (root / MANIFEST).write_text(json.dumps(manifest))


PART = "point=0/rep-00000.parquet"


def _read(root: Path) -> pa.Table:
    return pq.read_table(root / PART)


def _rewrite(root: Path, table: pa.Table) -> None:
    """Replace part 0 with ``table``, keeping its manifest entry consistent with the file."""
    pq.write_table(table, root / PART, row_group_size=50)
    m = _manifest(root)
    m["parts"][0] = _entry(root, PART, 0, 0, m["parts"][0]["summary"])
    m["rows"] = sum(p["rows"] for p in m["parts"])
    _save_manifest(root, m)


def _set(table: pa.Table, name: str, values: np.ndarray | pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().copy()


def _kinds(report: CheckReport) -> set[int | str]:
    return {v.invariant for v in report.violations}


def _first_with(table: pa.Table, code: int, after: int = 1) -> int:
    codes = table.column("event").combine_chunks().indices.to_numpy()
    return int(np.flatnonzero(codes == code)[np.flatnonzero(codes == code) >= after][0])


# --- the valid dataset ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [7, 65_536])
def test_valid_dataset_passes(desk: None, tmp_path: Path, batch_rows: int) -> None:
    root = make_dataset(tmp_path / "ds", points=2, reps=2)
    report = check_dataset(root, batch_rows=batch_rows)
    assert report.violations == []
    assert report.ok and report.lines() == []
    assert report.parts == 4
    assert report.rows == _manifest(root)["rows"] > 200


def test_permuted_dictionary_is_the_same_log(desk: None, tmp_path: Path) -> None:
    # The same events encoded over a reordered dictionary: a different file, the same log.
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    names = np.array(Desk.spec.vocabulary)[t.column("event").combine_chunks().indices.to_numpy()]
    perm = pa.array(["note", "leave", "start", "arrive"])
    codes = pc.index_in(pa.array(names), value_set=perm)
    t = _set(t, "event", pa.DictionaryArray.from_arrays(codes.cast(pa.int32()), perm))
    _rewrite(root, t)
    assert check_dataset(root).violations == []


# --- invariant 1 ------------------------------------------------------------------------------


def _with_time(table: pa.Table, time: np.ndarray) -> pa.Table:
    """``table`` with new times and the timestamps that go with them."""
    ts = int(START.timestamp() * 1e6) + np.rint(time * HOUR_US).astype(np.int64)
    return _set(_set(table, "time", time), "timestamp", ts)


def test_time_going_back_is_invariant_1(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    k = _first_with(t, NOTE)  # a note's time enters no summary figure
    time = _col(t, "time")
    time[k] = time[k - 1] - 0.5
    _rewrite(root, _with_time(t, time))
    report = check_dataset(root, batch_rows=10)
    assert _kinds(report) == {1}
    [v] = report.violations
    assert v.part == PART
    assert v.message.startswith(f"seq {k}: time {time[k]} is before time {time[k - 1]}")


def test_seq_gap_is_invariant_1(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    seq = _col(t, "seq")
    seq[60:] += 1  # across the 50-row row groups
    _rewrite(root, _set(t, "seq", seq))
    report = check_dataset(root, batch_rows=50)
    assert [str(v) for v in report.violations] == [
        f"{PART}: invariant 1: seq 61 follows seq 59 (seq must count up by one)"
    ]


def test_seq_not_starting_at_zero(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    _rewrite(root, _set(t, "seq", _col(t, "seq") + 1))
    [v] = check_dataset(root).violations
    assert (v.invariant, v.message) == (1, "seq 1: the log starts at seq 1, not 0")


# --- invariant 2 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "words"),
    [(5, "does not precede it"), (0, "is the event itself"), (None, "is negative")],
)
def test_bad_cause_is_invariant_2(
    desk: None, tmp_path: Path, shift: int | None, words: str
) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    k = _first_with(t, NOTE)
    cause = t.column("cause").to_numpy(zero_copy_only=False)
    cause = np.where(np.isnan(cause), -1, cause).astype(np.int64)
    cause[k] = -3 if shift is None else k + shift
    _rewrite(root, _set(t, "cause", pa.array(cause, mask=cause == -1)))
    [v] = check_dataset(root).violations
    assert v.invariant == 2
    assert v.message.startswith(f"seq {k}: cause {cause[k]} {words}")


# --- invariant 3 ------------------------------------------------------------------------------


def test_event_after_final_state_is_invariant_3(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    codes = t.column("event").combine_chunks().indices.to_numpy()
    who = _col(t, "entity_id")
    first_leave = int(np.flatnonzero(codes == LEAVE)[0])
    k = _first_with(t, NOTE, after=first_leave + 1)
    who[k] = who[first_leave]  # a note about a customer who has left
    _rewrite(root, _set(t, "entity_id", who))
    [v] = check_dataset(root, batch_rows=16).violations
    assert v.invariant == 3
    assert v.message == (
        f"seq {k}: entity {who[k]}: 'note' after final state 'gone' (no event may follow it)"
    )


def test_illegal_transition_is_invariant_3(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    codes = t.column("event").combine_chunks().indices.to_numpy().copy()
    k = _first_with(t, NOTE)
    codes[k] = ARRIVE  # the note's customer is being served: it cannot arrive again
    vocab = pa.array(Desk.spec.vocabulary)
    _rewrite(root, _set(t, "event", pa.DictionaryArray.from_arrays(codes, vocab)))
    report = check_dataset(root)
    # The extra arrival also changes the replayed counts: invariant 4 fires too.
    assert _kinds(report) == {3, 4}
    [v] = [v for v in report.violations if v.invariant == 3]
    who = t.column("entity_id")[k].as_py()
    assert v.message == (
        f"seq {k}: entity {who}: 'arrive' not allowed in state 'serving' "
        "(allowed there: ['leave', 'note'])"
    )


# --- invariant 4 ------------------------------------------------------------------------------


def test_replay_mismatch_is_invariant_4(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    m = _manifest(root)
    served = m["parts"][1]["summary"]["served"]
    m["parts"][1]["summary"]["served"] = served + 1
    _save_manifest(root, m)
    [v] = check_dataset(root).violations
    assert str(v) == (
        f"point=0/rep-00001.parquet: invariant 4: summary 'served': replay gives {served}, "
        f"manifest says {served + 1}"
    )


def test_float_summaries_compare_to_1e_9_relative(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    m = _manifest(root)
    m["parts"][0]["summary"]["total_wait"] *= 1 + 1e-12  # within tolerance
    m["parts"][1]["summary"]["total_wait"] *= 1 + 1e-7  # beyond it
    m["parts"][1]["summary"]["extra"] = 1
    _save_manifest(root, m)
    report = check_dataset(root)
    assert [(v.part, v.invariant) for v in report.violations] == [
        ("point=0/rep-00001.parquet", 4)
    ] * 2
    keys, wait = (v.message for v in report.violations)
    assert keys == "summary keys differ: only in replay [], only in manifest ['extra']"
    assert wait.startswith("summary 'total_wait': replay gives ")


def test_replay_failure_is_reported_not_raised(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    codes = t.column("event").combine_chunks().indices.to_numpy().copy()
    codes[0] = NOTE  # customer 0 never arrives: its 'start' is illegal and breaks the replay
    vocab = pa.array(Desk.spec.vocabulary)
    _rewrite(root, _set(t, "event", pa.DictionaryArray.from_arrays(codes, vocab)))
    report = check_dataset(root)
    assert _kinds(report) == {3, 4}
    assert any(v.message.startswith("replay failed: KeyError") for v in report.violations)
    assert report.rows == _manifest(root)["rows"]  # the rest of the part was still checked


# --- manifest ---------------------------------------------------------------------------------


def test_sha_and_size_mismatch(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    m = _manifest(root)
    m["parts"][0]["sha256"] = "f" * 64
    m["parts"][1]["bytes"] += 1
    _save_manifest(root, m)
    report = check_dataset(root)
    assert _kinds(report) == {"manifest"}
    sha, size = report.violations
    assert sha.part == PART and sha.message.endswith(f"manifest says {'f' * 64}")
    assert size.part == "point=0/rep-00001.parquet" and "bytes, manifest says" in size.message


def test_missing_part(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    (root / PART).unlink()
    assert [str(v) for v in check_dataset(root).violations] == [
        f"{PART}: manifest: listed in the manifest but missing"
    ]


def test_unlisted_part(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    m = _manifest(root)
    del m["parts"][1]
    m["rows"] = m["parts"][0]["rows"]
    _save_manifest(root, m)
    (root / "point=3").mkdir()
    shutil.copy(root / PART, root / "point=3/rep-00000.parquet")
    assert sorted(str(v) for v in check_dataset(root).violations) == [
        "point=0/rep-00001.parquet: manifest: committed part not listed in the manifest",
        "point=0/rep-00001.parquet: manifest: no part listed for this replication",
        "point=3/rep-00000.parquet: manifest: committed part not listed in the manifest",
    ]


def test_path_outside_the_layout_is_not_read(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    m = _manifest(root)
    m["parts"][0]["path"] = "../elsewhere.parquet"
    _save_manifest(root, m)
    report = check_dataset(root)
    assert report.rows == m["parts"][1]["rows"]
    assert "path does not match its point and replication: " + PART in report.lines()[0]


def test_missing_or_broken_manifest(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    text = (root / MANIFEST).read_text()
    (root / MANIFEST).write_text(text[:-10])
    with pytest.raises(DatasetIncompleteError, match="unreadable manifest"):
        check_dataset(root)
    (root / MANIFEST).write_text(json.dumps({**json.loads(text), "parts": 3}))
    with pytest.raises(DatasetIncompleteError, match=r"not a valid manifest: parts: "):
        check_dataset(root)
    broken = json.loads(text)
    broken["parts"][1]["replication"] = -1
    (root / MANIFEST).write_text(json.dumps(broken))
    with pytest.raises(DatasetIncompleteError, match=r"parts\.1\.replication: Input should be"):
        check_dataset(root)
    (root / MANIFEST).unlink()
    with pytest.raises(DatasetIncompleteError, match=r"no _manifest\.json"):
        check_dataset(root)
    with pytest.raises(UsageError, match="no such dataset directory"):
        check_dataset(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="not a directory"):
        check_dataset(root / PART)


# --- schema and labels ------------------------------------------------------------------------


def test_wrong_schema(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    t = t.set_column(9, pa.field("weight", pa.float32(), nullable=False), t["weight"].cast("f4"))
    _rewrite(root, t.drop_columns(["desk"]))
    report = check_dataset(root)
    assert [str(v) for v in report.violations] == [
        f"{PART}: schema: column 'desk' is missing (int32)",
        f"{PART}: schema: column 'weight' is float not null, expected double not null",
    ]
    assert report.rows == _manifest(root)["parts"][1]["rows"]  # part 0's content was skipped


def test_rare_without_kind(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    rare = _col(t, "rare")
    k = int(np.flatnonzero(~rare)[3])
    rare[k] = True
    _rewrite(root, _set(t, "rare", rare))
    [v] = check_dataset(root).violations
    assert str(v) == (
        f"{PART}: labels: seq {k}: rare is True but rare_kind is None "
        "(rare must be true exactly where rare_kind is set)"
    )


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_weight(desk: None, tmp_path: Path, bad: float) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    weight = _col(t, "weight")
    weight[42] = bad
    _rewrite(root, _set(t, "weight", weight))
    [v] = check_dataset(root).violations
    assert str(v) == f"{PART}: labels: seq 42: weight {bad!r} (must be finite and > 0)"


@pytest.mark.parametrize(("off_us", "found"), [(1, False), (-1, False), (2, True), (-5, True)])
def test_timestamp_must_be_start_plus_time(
    desk: None, tmp_path: Path, off_us: int, found: bool
) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    ts = t.column("timestamp").cast(pa.int64()).to_numpy().copy()
    ts[17] += off_us
    _rewrite(root, _set(t, "timestamp", ts))
    report = check_dataset(root)
    assert _kinds(report) == ({"schema"} if found else set())
    if found:
        assert report.violations[0].message.startswith("seq 17: timestamp ")


def test_replication_column_and_vocabulary(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    rep = _col(t, "replication")
    rep[5] = 1
    kinds = pa.DictionaryArray.from_arrays(
        t.column("rare_kind").combine_chunks().indices, pa.array(["surge"])
    )
    _rewrite(root, _set(_set(t, "replication", rep), "rare_kind", kinds))
    assert [v.message for v in check_dataset(root).violations] == [
        "rare_kind value 'surge' not in ['vip']",
        "seq 5: replication 1, not 0",
    ]


# --- the report -------------------------------------------------------------------------------


def test_lines_limit_and_dropped(
    desk: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_dataset(tmp_path / "ds")
    t = _read(root)
    _rewrite(root, _set(t, "weight", np.zeros(t.num_rows)))
    monkeypatch.setattr(check_module, "_KEEP", 10)  # keep 10 messages, count the rest
    report = check_dataset(root, batch_rows=4)
    assert len(report.violations) == 10
    assert report.dropped == {("labels", PART): t.num_rows - 10}
    lines = report.lines(limit_per_kind=3)
    assert lines[:3] == [
        f"{PART}: labels: seq {k}: weight 0.0 (must be finite and > 0)" for k in range(3)
    ]
    assert lines[3:] == [f"{PART}: labels: ... and {t.num_rows - 3} more"]
    assert not report.ok


def test_violation_str() -> None:
    assert str(Violation(2, "p", "m")) == "p: invariant 2: m"
    assert str(Violation("labels", "p", "m")) == "p: labels: m"


# --- kernels against their references ---------------------------------------------------------


def test_intern_ids_matches_dict_reference() -> None:
    rng = np.random.default_rng(11)
    pool = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 3000, dtype=np.int64)
    pool[:3] = [0, -1, np.iinfo(np.int64).min]
    ids = rng.choice(pool, 20_000)
    keys = np.zeros(1 << 13, dtype=np.int64)
    slots = np.full(1 << 13, -1, dtype=np.int32)
    seen: dict[int, int] = {}
    known = 0
    for chunk in np.array_split(ids, 7):
        out = np.empty(len(chunk), dtype=np.int64)
        known = intern_ids(keys, slots, 13, chunk, out, known)
        np.testing.assert_array_equal(out, intern_ids_reference(seen, chunk))
    assert known == len(seen) == len(np.unique(ids))


def test_step_lifecycle_matches_reference() -> None:
    rng = np.random.default_rng(5)
    n_states, n_events, n_entities, n = 5, 6, 40, 5000
    table = rng.integers(-1, n_states, (n_states, n_events)).astype(np.int32)
    free = rng.random(n_events) < 0.3
    final = np.array([False, False, False, True, True])
    entity = rng.integers(0, n_entities, n)
    event = rng.integers(-1, n_events, n).astype(np.int32)
    state = rng.integers(0, n_states, n_entities).astype(np.int32)
    ref_state = state.copy()
    status, before = np.empty(n, np.int8), np.empty(n, np.int32)
    step_lifecycle(state, entity, event, table, free, final, status, before)
    ref_status, ref_before = step_lifecycle_reference(ref_state, entity, event, table, free, final)
    np.testing.assert_array_equal(status, ref_status)
    np.testing.assert_array_equal(before, ref_before)
    np.testing.assert_array_equal(state, ref_state)
    assert set(np.unique(status)) == {0, 1, 2}  # every outcome exercised


def test_tracker_matches_reference_across_growth() -> None:
    # 4000 distinct ids in a random stream make the hash table and the state array grow
    # several times mid-log; every entity must keep its own state through each growth.
    assert Desk.spec.lifecycle is not None
    tables = LifecycleTables.build(Desk.spec.lifecycle, Desk.spec.vocabulary)
    tracker = LifecycleTracker(tables)
    rng = np.random.default_rng(3)
    pool = rng.integers(-(2**62), 2**62, 4000)
    ids = rng.choice(pool, 40_000)
    # Mostly the next step of the lifecycle, so entities spread over every state.
    events = rng.choice(4, 40_000, p=[0.3, 0.3, 0.3, 0.1]).astype(np.int32)
    seen: dict[int, int] = {}
    ref_state = np.zeros(len(pool), dtype=np.int32)
    for lo in range(0, len(ids), 300):
        chunk, codes = ids[lo : lo + 300], events[lo : lo + 300]
        status, before = tracker.step(chunk, codes)
        index = intern_ids_reference(seen, chunk)
        ref = step_lifecycle_reference(
            ref_state, index, codes, tables.table, tables.free, tables.final
        )
        np.testing.assert_array_equal(status, ref[0])
        np.testing.assert_array_equal(before, ref[1])
    assert tracker.entities == len(seen) == len(np.unique(ids))
    assert len(np.unique(ref_state)) == len(tables.states)


def test_truncated_part(desk: None, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds")
    data = (root / PART).read_bytes()
    (root / PART).write_bytes(data[: len(data) // 2])
    size, sha, unreadable = check_dataset(root).violations
    assert size.message == f"size {len(data) // 2} bytes, manifest says {len(data)}"
    assert sha.message.startswith("sha256 ")
    assert unreadable.message.startswith("not a readable Parquet file: ")
