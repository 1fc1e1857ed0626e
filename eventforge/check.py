"""``eventforge check DATASET``: verify a committed dataset against the event-log contract.

What is checked, per part listed in ``_manifest.json`` (each violation is tagged with its kind):

- ``"manifest"``: the part exists with the listed size, SHA-256 and row count, its path matches
  its point and replication, the parts cover every (point, replication) once, and no committed
  part file lies outside the manifest;
- ``"schema"``: the Arrow schema equals the model's (metadata aside), non-nullable columns hold
  no nulls, dictionary values come from the model's vocabulary and rare kinds, ``replication``
  is the part's and ``timestamp`` is ``start + time`` to the microsecond;
- ``"labels"``: ``rare`` is true exactly where ``rare_kind`` is set, ``weight`` finite and > 0;
- invariants 1 to 4 of the contract (DESIGN.md): time never decreases and ``seq`` counts 0, 1,
  2, ...; a cause precedes its effect; each entity follows the model's lifecycle; replaying the
  log gives the summary the simulator reported.

A part is read once, batch by batch, and the batches are handed on to the model's ``replay``, so
memory is bounded by the model's state (one lifecycle state per entity), not by the log.
"""

from __future__ import annotations

import json
import math
import numbers
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from eventforge._lifecycle import AFTER_FINAL, ILLEGAL, LifecycleTables, LifecycleTracker
from eventforge.dataset import FORMAT, MANIFEST
from eventforge.errors import DatasetIncompleteError, UsageError
from eventforge.events import EventSpec
from eventforge.scenario.types import NonNegativeInt
from eventforge.simulators import Simulator, get_simulator
from eventforge.sinks.base import hash_file, part_relpath

__all__ = ["CheckReport", "Violation", "check_dataset"]

#: Violations kept per (kind, part); the rest are only counted, so a broken 10^8-row part
#: cannot exhaust memory with messages.
_KEEP = 1000


@dataclass(frozen=True)
class Violation:
    """One breach of the contract: which rule (1-4, or "manifest"/"schema"/"labels"), which
    part (its path relative to the dataset) and a one-line message naming seq, entity, values."""

    invariant: int | str
    part: str
    message: str

    def __str__(self) -> str:
        kind = f"invariant {self.invariant}" if isinstance(self.invariant, int) else self.invariant
        return f"{self.part}: {kind}: {self.message}"


@dataclass
class CheckReport:
    """The outcome of :func:`check_dataset`: parts and rows read, and what was found.

    ``violations`` keeps at most 1000 per (kind, part); ``dropped`` counts the ones beyond.
    """

    dataset: str
    parts: int
    rows: int
    violations: list[Violation]
    dropped: dict[tuple[int | str, str], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the dataset breaks no rule."""
        return not self.violations

    def lines(self, limit_per_kind: int = 20) -> list[str]:
        """One line per violation, grouped by (kind, part) in order of first appearance; beyond
        ``limit_per_kind`` in a group, one ``... and N more`` line."""
        groups: dict[tuple[int | str, str], list[Violation]] = {}
        for v in self.violations:
            groups.setdefault((v.invariant, v.part), []).append(v)
        out: list[str] = []
        for key, found in groups.items():
            out.extend(str(v) for v in found[:limit_per_kind])
            more = len(found) - min(len(found), limit_per_kind) + self.dropped.get(key, 0)
            if more:
                out.append(str(Violation(key[0], key[1], f"... and {more} more")))
        return out


class _Point(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: NonNegativeInt


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: str
    point: NonNegativeInt
    replication: NonNegativeInt
    rows: int
    bytes: int
    sha256: str
    summary: dict[str, Any]


class _Manifest(BaseModel):
    """The fields of ``_manifest.json`` the check reads; others are allowed and ignored."""

    model_config = ConfigDict(extra="allow")
    format: str
    model: str
    replications: int
    time_unit_s: float
    start: datetime
    points: list[_Point]
    parts: list[_Part]
    rows: int


class _Collector:
    """Gathers violations: the first :data:`_KEEP` per (kind, part) kept, the rest counted."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.dropped: Counter[tuple[int | str, str]] = Counter()
        self._kept: Counter[tuple[int | str, str]] = Counter()

    def add(self, kind: int | str, part: str, message: str) -> None:
        self.rows(kind, part, np.zeros(1, dtype=np.int64), lambda _: message)

    def rows(
        self, kind: int | str, part: str, where: np.ndarray, message: Callable[[int], str]
    ) -> None:
        """Report the rows at indices ``where``; ``message(i)`` is only built for kept ones."""
        key = (kind, part)
        room = max(0, _KEEP - self._kept[key])
        for i in where[:room].tolist():
            self.violations.append(Violation(kind, part, message(i)))
        self._kept[key] += min(room, len(where))
        if len(where) > room:
            self.dropped[key] += len(where) - room


def check_dataset(root: str | Path, *, batch_rows: int = 65_536) -> CheckReport:
    """Check every part of the dataset at ``root`` (see the module docstring for the rules).

    Parts are read one row group at a time and checked in batches of at most ``batch_rows``
    rows, so memory is bounded by the writer's row-group size and the model's state. Raises
    :class:`~eventforge.errors.UsageError` when ``root`` is not a directory,
    :class:`~eventforge.errors.DatasetIncompleteError` when its manifest is missing or not a
    valid manifest, and ``UsageError`` when the manifest names an unknown model.
    """
    root = Path(root)
    if not root.exists():
        raise UsageError(f"{root}: no such dataset directory")
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory (a dataset is a directory with {MANIFEST})")
    manifest = _read_manifest(root)
    cls = get_simulator(manifest.model)
    found = _Collector()
    readable = _check_layout(root, manifest, found)
    rows = sum(_check_part(root, part, cls, manifest, batch_rows, found) for part in readable)
    return CheckReport(str(root), len(manifest.parts), rows, found.violations, dict(found.dropped))


def _read_manifest(root: Path) -> _Manifest:
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetIncompleteError(
            f"{root}: no {MANIFEST} (the dataset was never committed, or is still being written)"
        )
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DatasetIncompleteError(f"{path}: unreadable manifest: {exc}") from None
    try:
        return _Manifest.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()
        )
        raise DatasetIncompleteError(f"{path}: not a valid manifest: {where}") from None


def _check_layout(root: Path, m: _Manifest, found: _Collector) -> list[_Part]:
    """Manifest-level rules; returns the parts whose path is safe and as expected to read."""

    def flag(path: str, message: str) -> None:
        found.add("manifest", path, message)

    if m.format != FORMAT:
        flag(MANIFEST, f"format {m.format!r}, expected {FORMAT!r}")
    if m.rows != sum(p.rows for p in m.parts):
        flag(MANIFEST, f"rows {m.rows} != {sum(p.rows for p in m.parts)}, the sum over parts")
    points = {p.index for p in m.points}
    seen: set[tuple[int, int]] = set()
    readable = []
    for p in m.parts:
        expected = part_relpath(p.point, p.replication)
        if p.point not in points:
            flag(p.path, f"point {p.point} is not among the sweep points")
        if p.replication >= m.replications:
            flag(p.path, f"replication {p.replication} not in [0, {m.replications})")
        if (p.point, p.replication) in seen:
            flag(p.path, f"point {p.point} replication {p.replication} listed twice")
        seen.add((p.point, p.replication))
        if p.path != expected:
            # Never open a path the layout does not produce (it could point outside the dataset).
            flag(p.path, f"path does not match its point and replication: {expected}")
        else:
            readable.append(p)
    for point in sorted(points):
        for rep in range(m.replications):
            if (point, rep) not in seen:
                flag(part_relpath(point, rep), "no part listed for this replication")
    listed = {p.path for p in m.parts}
    for f in sorted(root.glob("point=*/rep-*.parquet")):
        if f.relative_to(root).as_posix() not in listed:
            flag(f.relative_to(root).as_posix(), "committed part not listed in the manifest")
    return readable


class _FeedError(Exception):
    """Wraps an error of the checker itself raised inside ``replay``'s loop, so it is not
    mistaken for a replay failure (it is a bug of ours and keeps its traceback)."""


def _check_part(
    root: Path, part: _Part, cls: type[Simulator], m: _Manifest, batch_rows: int, found: _Collector
) -> int:
    """Check one part; returns the rows read."""
    path = root / part.path
    if not path.is_file():
        found.add("manifest", part.path, "listed in the manifest but missing")
        return 0
    size = path.stat().st_size
    if size != part.bytes:
        found.add("manifest", part.path, f"size {size} bytes, manifest says {part.bytes}")
    digest, _ = hash_file(path, fsync=False)
    if digest != part.sha256:
        found.add("manifest", part.path, f"sha256 {digest}, manifest says {part.sha256}")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        found.add("manifest", part.path, f"not a readable Parquet file: {exc}")
        return 0
    if pf.metadata.num_rows != part.rows:
        found.add("manifest", part.path, f"{pf.metadata.num_rows} rows, manifest says {part.rows}")
    problems = _schema_problems(pf.schema_arrow, cls.spec.schema())
    for problem in problems:
        found.add("schema", part.path, problem)
    if problems:
        return 0  # the columns cannot be read as the model's: content checks would mislead
    checker = _PartCheck(cls.spec, part, m, found)

    def batches() -> Iterator[pa.RecordBatch]:
        # Row group by row group: pyarrow's iter_batches keeps memory growing with the file
        # (measured: +0.3 MiB per 64 Ki-row batch with pyarrow 26), a row group is bounded.
        for group in range(pf.num_row_groups):
            try:
                table = pf.read_row_group(group)
            except (pa.ArrowException, OSError) as exc:
                found.add("manifest", part.path, f"row group {group} unreadable: {exc}")
                return
            for batch in table.to_batches(max_chunksize=batch_rows):
                try:
                    checked = checker.feed(batch)
                except Exception as exc:
                    raise _FeedError from exc
                yield checked

    stream = batches()
    try:
        replayed = cls.replay(stream)
    except _FeedError as exc:
        assert exc.__cause__ is not None
        raise exc.__cause__ from None
    except Exception as exc:  # a log that breaks replay is a finding, not a crash of the check
        found.add(4, part.path, f"replay failed: {type(exc).__name__}: {exc}")
    else:
        for message in _summary_problems(replayed, part.summary):
            found.add(4, part.path, message)
    for _ in stream:  # finish the checks on whatever replay did not read
        pass
    return checker.rows


def _schema_problems(actual: pa.Schema, expected: pa.Schema) -> list[str]:
    """Differences between two schemas, metadata aside, one line each."""
    if actual.equals(expected, check_metadata=False):
        return []
    got = {f.name: f for f in actual}
    want = {f.name: f for f in expected}
    problems = [f"column {n!r} is missing ({want[n].type})" for n in want if n not in got]
    problems += [f"column {n!r} is not in the model's schema" for n in got if n not in want]
    for n, f in want.items():
        g = got.get(n)
        if g is not None and (g.type != f.type or g.nullable != f.nullable):
            problems.append(
                f"column {n!r} is {g.type}{'' if g.nullable else ' not null'}, "
                f"expected {f.type}{'' if f.nullable else ' not null'}"
            )
    if not problems:
        problems.append(f"columns in order {actual.names}, expected {expected.names}")
    return problems


def _summary_problems(replayed: Any, expected: dict[str, Any]) -> list[str]:
    """Invariant 4: ints equal exactly, floats to 1e-9 relative (NaN equals NaN), same keys."""
    if not isinstance(replayed, dict):
        return [f"replay returned {type(replayed).__name__}, not a summary dict"]
    problems = []
    if replayed.keys() != expected.keys():
        problems.append(
            f"summary keys differ: only in replay {sorted(replayed.keys() - expected.keys())}, "
            f"only in manifest {sorted(expected.keys() - replayed.keys())}"
        )
    for key in sorted(replayed.keys() & expected.keys()):
        a, b = replayed[key], expected[key]
        if not _same_figure(a, b):
            problems.append(f"summary {key!r}: replay gives {_show(a)}, manifest says {_show(b)}")
    return problems


def _same_figure(a: Any, b: Any) -> bool:
    # numbers.Real/Integral also cover NumPy scalars, which a replay may well return.
    if not (isinstance(a, numbers.Real) and isinstance(b, numbers.Real)):
        return bool(a == b)
    if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
        return int(a) == int(b)
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)


def _show(x: Any) -> str:
    """A value for a message: plain Python repr, not ``np.float64(...)``."""
    return repr(x.item() if isinstance(x, np.generic) else x)


def _numpy(arr: pa.Array, fill: Any) -> np.ndarray:
    """A column as NumPy, nulls (reported separately) replaced by ``fill``."""
    return (arr.fill_null(fill) if arr.null_count else arr).to_numpy(zero_copy_only=False)


class _PartCheck:
    """The row-level rules over one part's batches, carrying state across batch boundaries."""

    def __init__(self, spec: EventSpec, part: _Part, m: _Manifest, found: _Collector) -> None:
        self.spec = spec
        self.part = part
        self.found = found
        self.schema = spec.schema()
        start = m.start if m.start.tzinfo else m.start.replace(tzinfo=UTC)  # as BatchBuilder
        self._start_us = round(start.timestamp() * 1_000_000)
        self._unit_us = m.time_unit_s * 1_000_000
        self._vocab = pa.array(list(spec.vocabulary), type=pa.string())
        self._kinds = pa.array(list(spec.rare_kinds), type=pa.string())
        self._unknown: set[tuple[str, str]] = set()
        lifecycle = spec.lifecycle
        self._tracker = (
            LifecycleTracker(LifecycleTables.build(lifecycle, spec.vocabulary))
            if lifecycle is not None
            else None
        )
        self._last_seq = -1
        self._last_time = -math.inf
        self.rows = 0

    def _report(self, kind: int | str, where: np.ndarray, message: Callable[[int], str]) -> None:
        if len(where):
            self.found.rows(kind, self.part.path, where, message)

    def _codes(self, name: str, arr: pa.DictionaryArray, values: pa.Array) -> np.ndarray:
        """Dictionary codes of ``arr`` re-expressed as indices into ``values`` (-1: null or a
        value not in ``values``, which is reported once per part)."""
        known = {v: i for i, v in enumerate(values.to_pylist())}
        lut = np.array([known.get(v, -1) for v in arr.dictionary.to_pylist()] + [-1], np.int32)
        for v in arr.dictionary.to_pylist():
            if v not in known and (name, v) not in self._unknown:
                self._unknown.add((name, v))
                allowed = list(known)
                self.found.add("schema", self.part.path, f"{name} value {v!r} not in {allowed}")
        # Nulls index the extra -1 at the end of the lookup table.
        return lut[_numpy(arr.indices, len(lut) - 1)]

    def feed(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Check the next batch; return it with ``event`` and ``rare_kind`` re-encoded over the
        model's own dictionaries, so replay may read codes as vocabulary indices."""
        n = batch.num_rows
        for f in self.schema:
            nulls = batch.column(f.name).null_count
            if nulls and not f.nullable:
                self.found.add("schema", self.part.path, f"column {f.name!r} holds {nulls} nulls")
        seq = _numpy(batch.column("seq"), -1)
        time = _numpy(batch.column("time"), math.nan)
        event = self._codes("event", batch.column("event"), self._vocab)
        kind = self._codes("rare_kind", batch.column("rare_kind"), self._kinds)
        self._check_columns(batch, seq, time)
        self._check_order(seq, time)
        cause = batch.column("cause")
        if cause.null_count < n:
            c = _numpy(cause, -1)
            has = cause.is_valid().to_numpy(zero_copy_only=False)
            bad = np.flatnonzero(has & ((c < 0) | (c >= seq)))
            self._report(2, bad, lambda i: _cause_message(int(seq[i]), int(c[i])))
        if self._tracker is not None:
            self._check_lifecycle(batch, seq, event)
        self._last_seq = int(seq[-1]) if n else self._last_seq
        self._last_time = float(time[-1]) if n else self._last_time
        self.rows += n
        return self._canonical(batch, event, kind)

    def _check_columns(self, batch: pa.RecordBatch, seq: np.ndarray, time: np.ndarray) -> None:
        rep = _numpy(batch.column("replication"), -1)
        bad = np.flatnonzero(rep != self.part.replication)
        want = self.part.replication
        self._report("schema", bad, lambda i: f"seq {seq[i]}: replication {rep[i]}, not {want}")
        rare = _numpy(batch.column("rare"), False).astype(bool)
        kind_col = batch.column("rare_kind")
        has_kind = kind_col.is_valid().to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(rare != has_kind)
        self._report(
            "labels",
            bad,
            lambda i: (
                f"seq {seq[i]}: rare is {bool(rare[i])} but rare_kind is "
                f"{kind_col[i].as_py()!r} (rare must be true exactly where rare_kind is set)"
            ),
        )
        weight = _numpy(batch.column("weight"), math.nan)
        bad = np.flatnonzero(~(np.isfinite(weight) & (weight > 0)))
        self._report(
            "labels",
            bad,
            lambda i: f"seq {seq[i]}: weight {_show(weight[i])} (must be finite and > 0)",
        )
        ts = _numpy(batch.column("timestamp").cast(pa.int64()), 0)
        offset = time * self._unit_us
        # Beyond 2^62 us (146,000 years) the timestamp cannot be represented: report, not wrap.
        fits = np.isfinite(offset) & (np.abs(offset) < 2.0**62)
        expected = self._start_us + np.rint(np.where(fits, offset, 0.0)).astype(np.int64)
        # A non-finite time is invariant 1's finding; only a finite one must map to a timestamp.
        bad = np.flatnonzero((fits & (np.abs(ts - expected) > 1)) | (np.isfinite(offset) & ~fits))
        self._report(
            "schema",
            bad,
            lambda i: (
                f"seq {seq[i]}: timestamp {np.datetime64(int(ts[i]), 'us')} is not start + "
                f"time {_show(time[i])} ({np.datetime64(int(expected[i]), 'us')}) to 1 us"
            ),
        )

    def _check_order(self, seq: np.ndarray, time: np.ndarray) -> None:
        prev_seq = np.concatenate(([self._last_seq], seq[:-1]))
        prev_time = np.concatenate(([self._last_time], time[:-1]))
        bad = np.flatnonzero(seq != prev_seq + 1)
        self._report(
            1,
            bad,
            lambda i: (
                f"seq {seq[i]}: the log starts at seq {seq[i]}, not 0"
                if self.rows == 0 and i == 0
                else f"seq {seq[i]} follows seq {prev_seq[i]} (seq must count up by one)"
            ),
        )
        bad = np.flatnonzero(~np.isfinite(time))
        self._report(1, bad, lambda i: f"seq {seq[i]}: time {_show(time[i])} is not finite")
        bad = np.flatnonzero(time < prev_time)
        self._report(
            1,
            bad,
            lambda i: (
                f"seq {seq[i]}: time {_show(time[i])} is before time {_show(prev_time[i])} "
                f"of seq {prev_seq[i]} (time must not decrease)"
            ),
        )

    def _check_lifecycle(self, batch: pa.RecordBatch, seq: np.ndarray, event: np.ndarray) -> None:
        assert self._tracker is not None
        entity = _numpy(batch.column("entity_id"), 0)
        status, before = self._tracker.step(entity, event)
        t = self._tracker.tables
        vocab = self.spec.vocabulary

        def message(i: int) -> str:
            ev, state = vocab[event[i]], t.states[before[i]]
            where = f"seq {seq[i]}: entity {entity[i]}: {ev!r}"
            if status[i] == AFTER_FINAL:
                return f"{where} after final state {state!r} (no event may follow it)"
            allowed = [vocab[e] for e in np.flatnonzero((t.table[before[i]] >= 0) | t.free)]
            return f"{where} not allowed in state {state!r} (allowed there: {allowed})"

        bad = np.flatnonzero((status == ILLEGAL) | (status == AFTER_FINAL))
        self._report(3, bad, message)

    def _canonical(
        self, batch: pa.RecordBatch, event: np.ndarray, kind: np.ndarray
    ) -> pa.RecordBatch:
        """``batch`` with its dictionary columns over the model's dictionaries (a no-op for logs
        written by eventforge, whose dictionaries are the vocabulary itself)."""
        columns = list(batch.columns)
        for name, codes, values in (
            ("event", event, self._vocab),
            ("rare_kind", kind, self._kinds),
        ):
            j = batch.schema.get_field_index(name)
            arr = columns[j]
            if arr.dictionary.equals(values) or (codes < 0).sum() > arr.null_count:
                continue  # already canonical, or holds values outside the model's (reported)
            indices = pa.array(codes, type=pa.int32(), mask=codes < 0)
            columns[j] = pa.DictionaryArray.from_arrays(indices, values)
        return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _cause_message(seq: int, cause: int) -> str:
    if cause == seq:
        return f"seq {seq}: cause {cause} is the event itself (a cause must precede its effect)"
    if cause < 0:
        return f"seq {seq}: cause {cause} is negative (a cause is the seq of an earlier event)"
    return f"seq {seq}: cause {cause} does not precede it (a cause must be an earlier event)"
