"""The event-log contract: the common columns, model-declared columns, and batch building.

Every dataset eventforge writes has the columns of :data:`COMMON_FIELDS` first, then the columns
its model declares. ``seq`` is the total order of events within a replication and ``cause`` points
back along it, so a simulator must know the ``seq`` an event will get before it emits the events it
causes: :class:`BatchBuilder` hands out ``seq`` numbers in emission order and checks the order
invariant as batches are built, which is where a bug in a simulator is cheapest to catch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa

__all__ = [
    "COMMON_FIELDS",
    "BatchBuilder",
    "EventSpec",
    "Lifecycle",
    "categorical",
    "code_counts",
    "decoded",
    "dictionary_counts",
    "masked",
    "value_counts",
]

_DICT = pa.dictionary(pa.int32(), pa.string())

#: Columns every model writes, in this order.
COMMON_FIELDS: tuple[pa.Field, ...] = (
    pa.field("replication", pa.int32(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("time", pa.float64(), nullable=False),
    pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("entity_id", pa.int64(), nullable=False),
    pa.field("event", _DICT, nullable=False),
    pa.field("cause", pa.int64(), nullable=True),
    pa.field("rare", pa.bool_(), nullable=False),
    pa.field("rare_kind", _DICT, nullable=True),
    pa.field("weight", pa.float64(), nullable=False),
)
COMMON_NAMES: frozenset[str] = frozenset(f.name for f in COMMON_FIELDS)


@dataclass(frozen=True)
class Lifecycle:
    """The order each entity's events must follow (invariant 3), as a finite-state machine.

    ``transitions[(state, event)]`` is the state after ``event`` in ``state``; an event listed in
    ``free`` may happen in any state and changes nothing. Any other (state, event) pair is a
    violation, and so is any event after the entity reached a state in ``final``.
    """

    initial: str
    transitions: Mapping[tuple[str, str], str]
    free: frozenset[str] = frozenset()
    final: frozenset[str] = frozenset()

    def states(self) -> tuple[str, ...]:
        """All states, ``initial`` first, in a stable order."""
        seen = [self.initial]
        for (a, _), b in self.transitions.items():
            for s in (a, b):
                if s not in seen:
                    seen.append(s)
        return tuple(seen)


@dataclass(frozen=True)
class EventSpec:
    """What a model writes: its event vocabulary, rare-episode kinds and extra columns."""

    vocabulary: tuple[str, ...]
    rare_kinds: tuple[str, ...] = ()
    columns: tuple[pa.Field, ...] = ()
    lifecycle: Lifecycle | None = None
    #: Human descriptions of the extra columns, for ``eventforge list`` and the docs.
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = [f.name for f in self.columns if f.name in COMMON_NAMES]
        if clash:
            raise ValueError(f"model columns shadow common columns: {clash}")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError(f"duplicate event names in vocabulary {self.vocabulary}")

    def schema(self, metadata: Mapping[str, str] | None = None) -> pa.Schema:
        """The Arrow schema of this model's event log."""
        return pa.schema([*COMMON_FIELDS, *self.columns], metadata=metadata)

    def code(self, event: str) -> int:
        """The dictionary code of an event name (raises ``KeyError`` for an unknown one)."""
        return self.vocabulary.index(event)

    def rare_code(self, kind: str) -> int:
        """The dictionary code of a rare-episode kind."""
        return self.rare_kinds.index(kind)


def plain(values: np.ndarray, type: pa.DataType) -> pa.Array:
    """``values`` (a NumPy array of ``type``'s fixed-width dtype, or of bools for a boolean
    ``type``) as an Arrow array without nulls, over the values' own buffer.

    Not ``pa.array``: the first array pyarrow converts makes it import pandas (~0.35 s) to ask
    whether the values are pandas objects, a sixth of a short run's start-up.
    """
    if pa.types.is_boolean(type):
        bits = np.packbits(np.asarray(values, dtype=np.bool_), bitorder="little")
        return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(bits)])
    values = np.ascontiguousarray(values)
    if values.dtype != _numpy_dtype(type):
        raise TypeError(f"plain() needs {_numpy_dtype(type)} values for {type}, not {values.dtype}")
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(values)])


def _fixed_width(type: pa.DataType, dtype: np.dtype) -> bool:
    """Whether :func:`plain` takes NumPy ``dtype`` values for ``type``: bools, or fixed-width
    numbers stored as that very dtype."""
    if pa.types.is_boolean(type):
        return dtype == np.bool_
    numbers = pa.types.is_integer(type) or pa.types.is_floating(type)
    return (numbers or pa.types.is_timestamp(type)) and dtype == _numpy_dtype(type)


def _numpy_dtype(type: pa.DataType) -> np.dtype:
    """The NumPy dtype of a fixed-width Arrow type's values (int64 for timestamps)."""
    if pa.types.is_timestamp(type):
        return np.dtype(np.int64)
    return np.dtype(type.to_pandas_dtype())


def strings(values: Sequence[str]) -> pa.Array:
    """``values`` as an Arrow string array, built from its buffers (see :func:`plain`)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def masked(values: np.ndarray, null: np.ndarray, type: pa.DataType | None = None) -> pa.Array:
    """``values`` (cast to ``type``, a fixed-width number type) as an Arrow array that is null
    where ``null`` is true.

    Built from a packed validity bitmap and the values' own buffer: ``pa.array(values,
    mask=null)`` converts the mask element by element and takes ~10x longer (0.54 vs 0.06 ms per
    200k int32), which is a fifth of a compiled model's time per event.
    """
    arrow_type = pa.from_numpy_dtype(np.asarray(values).dtype) if type is None else type
    if not (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
        raise TypeError(f"masked() builds number columns, not {arrow_type}")
    values = np.ascontiguousarray(values, dtype=_numpy_dtype(arrow_type))
    null = np.asarray(null, dtype=np.bool_)
    if not null.any():
        return plain(values, arrow_type)
    validity = np.packbits(~null, bitorder="little")
    return pa.Array.from_buffers(
        arrow_type, len(values), [pa.py_buffer(validity), pa.py_buffer(values)]
    )


def categorical(codes: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    """A dictionary column from integer codes into ``values``; a negative code is null."""
    codes = np.asarray(codes)
    return _dictionary(masked(codes, codes < 0, pa.int32()), codes, strings(values))


def _dictionary(indices: pa.Array, codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    """``DictionaryArray.from_arrays`` with the range of ``codes`` checked by one NumPy max:
    pyarrow's own check visits every index through its null bitmap, ~1 ms per 262k rows, a
    tenth of a compiled model's time."""
    if codes.size and int(codes.max()) >= len(values):
        raise ValueError(f"dictionary code {int(codes.max())} >= {len(values)} values")
    return pa.DictionaryArray.from_arrays(indices, values, safe=False)


class BatchBuilder:
    """Builds record batches of one replication's log, handing out ``seq`` in order.

    ``time`` is in the scenario's time unit; ``timestamp`` is ``start + time`` rounded to the
    microsecond. Checks invariant 1 (time never decreases, across batches too) and that causes
    point backwards, raising ``RuntimeError`` (a simulator bug, not a user error).
    """

    def __init__(
        self,
        spec: EventSpec,
        replication: int,
        start: datetime,
        time_unit_s: float,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.schema = spec.schema(metadata)
        self.replication = replication
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._start_us = round(start.timestamp() * 1_000_000)
        self._unit_us = time_unit_s * 1_000_000
        self._vocab = strings(spec.vocabulary)
        self._kinds = strings(spec.rare_kinds)
        self.next_seq = 0
        self._last_time = -np.inf
        self.rows = 0
        self._const: _Constants | None = None

    def build(
        self,
        time: np.ndarray,
        entity_id: np.ndarray,
        event: np.ndarray,
        cause: np.ndarray | None = None,
        rare_kind: np.ndarray | None = None,
        rare: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        columns: Mapping[str, np.ndarray | pa.Array] | None = None,
    ) -> pa.RecordBatch:
        """One batch; ``event`` and ``rare_kind`` are codes (``rare_kind`` -1 = none), ``cause``
        is a ``seq`` or -1. ``rare`` defaults to ``rare_kind >= 0``."""
        time = np.ascontiguousarray(time, dtype=np.float64)
        n = time.shape[0]
        if n:
            self._check_times(time)
            self._last_time = float(time[-1])
        seq = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        event = np.asarray(event, dtype=np.int32)
        if n and (event.min() < 0 or event.max() >= len(self.spec.vocabulary)):
            raise RuntimeError("simulator emitted an event code outside its vocabulary")
        const = self._constants(n)
        if cause is None:
            cause_arr = const.no_cause
        else:
            cause = np.asarray(cause, dtype=np.int64)
            # A missing cause (-1) is below every seq, so one comparison checks the rest.
            if bool((cause >= seq).any()):
                raise RuntimeError("simulator emitted a cause that does not precede its effect")
            cause_arr = masked(cause, cause < 0)
        kind_codes = None if rare_kind is None else np.asarray(rare_kind, dtype=np.int32)
        if kind_codes is None:
            kind_arr = const.no_kind
        else:
            kind_arr = _dictionary(masked(kind_codes, kind_codes < 0), kind_codes, self._kinds)
        if rare is not None:
            rare_arr = _bools(np.asarray(rare, dtype=np.bool_), const.not_rare)
        elif kind_codes is not None:
            rare_arr = _bools(kind_codes >= 0, const.not_rare)
        else:
            rare_arr = const.not_rare
        arrays: list[pa.Array] = [
            const.replication,
            plain(seq, pa.int64()),
            plain(time, pa.float64()),
            plain(self._timestamps(time), pa.timestamp("us", tz="UTC")),
            plain(np.asarray(entity_id, dtype=np.int64), pa.int64()),
            _dictionary(plain(event, pa.int32()), event, self._vocab),
            cause_arr,
            rare_arr,
            kind_arr,
            const.weight if weight is None else plain(np.asarray(weight, np.float64), pa.float64()),
        ]
        columns = columns or {}
        unknown = set(columns) - {f.name for f in self.spec.columns}
        if unknown:
            raise RuntimeError(f"simulator emitted undeclared columns {sorted(unknown)}")
        for f in self.spec.columns:
            value = columns.get(f.name)
            if value is None:
                arrays.append(pa.nulls(n, f.type))
            elif isinstance(value, pa.Array):
                arrays.append(value if value.type == f.type else value.cast(f.type))
            elif isinstance(value, np.ndarray) and _fixed_width(f.type, value.dtype):
                arrays.append(plain(value, f.type))
            else:
                arrays.append(pa.array(value, type=f.type))
        self.next_seq += n
        self.rows += n
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _check_times(self, time: np.ndarray) -> None:
        """Refuse non-finite times and times that go back (within ``time`` or since the last
        batch), in one comparison pass over ``time`` when all is well.

        ``time[1:] >= time[:-1]`` everywhere means no NaN (a NaN compares false) and time never
        decreases, so an infinity could only be the first or last value: checking both ends
        completes the check. Only a batch that fails is looked at again, to say which rule it
        broke (non-finite first, as a NaN also breaks the order).
        """
        n = time.shape[0]
        ordered = n == 1 or bool((time[1:] >= time[:-1]).all())
        if ordered and math.isfinite(time[0]) and math.isfinite(time[-1]):
            if time[0] >= self._last_time:
                return
        elif not np.isfinite(time).all():
            raise RuntimeError("simulator emitted a non-finite time")
        raise RuntimeError("simulator emitted events out of time order")

    def _timestamps(self, time: np.ndarray) -> np.ndarray:
        """``start + time`` in microseconds, rounded half to even: the largest single cost of
        ``build`` (~5 of ~30 ms per million rows), so computed in two buffers, not four."""
        us = time * self._unit_us
        np.rint(us, out=us)
        ts = us.astype(np.int64)
        ts += self._start_us
        return ts

    def _constants(self, n: int) -> _Constants:
        """The columns that do not depend on the events, for a batch of ``n`` rows.

        They are built once for the largest batch so far and sliced (a view, no copy) for
        smaller ones: Arrow arrays are immutable, so batches may share them, and building them
        anew costs ~1 ms per million rows and column. They hold ~14 bytes per row of the
        largest batch, a fraction of what that batch held.
        """
        const = self._const
        if const is None or len(const.weight) < n:
            const = self._const = _Constants(
                replication=plain(np.full(n, self.replication, dtype=np.int32), pa.int32()),
                weight=plain(np.ones(n), pa.float64()),
                no_cause=pa.nulls(n, pa.int64()),
                not_rare=plain(np.zeros(n, dtype=np.bool_), pa.bool_()),
                no_kind=categorical(np.full(n, -1, dtype=np.int32), self.spec.rare_kinds),
            )
        if len(const.weight) == n:
            return const
        return _Constants(*(a.slice(0, n) for a in const))


class _Constants(NamedTuple):
    """Columns of a batch that depend only on its size (see :meth:`BatchBuilder._constants`)."""

    replication: pa.Array
    weight: pa.Array
    no_cause: pa.Array
    not_rare: pa.Array
    no_kind: pa.DictionaryArray


def _bools(values: np.ndarray, all_false: pa.Array) -> pa.Array:
    """``values`` (a bool array) as an Arrow array; ``all_false`` (of the same length) when
    none is set, the usual case of ground-truth labels, which skips packing them into bits."""
    if len(values) == len(all_false) and not values.any():
        return all_false
    return plain(values, pa.bool_())


def dictionary_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """Occurrences of each value of a dictionary column (nulls ignored), by name."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    counts: dict[str, int] = {}
    for chunk in chunks:
        codes = chunk.indices.fill_null(-1).to_numpy()
        tally = np.bincount(codes[codes >= 0], minlength=len(chunk.dictionary))
        for name, n in zip(chunk.dictionary.to_pylist(), tally.tolist(), strict=True):
            if n:
                counts[name] = counts.get(name, 0) + n
    return counts


def value_counts(values: np.ndarray) -> dict[str, int]:
    """Occurrences of each non-null value of an object array (a :func:`decoded` column), by
    name: a replay counts by name, so a sink's re-encoding of a dictionary cannot skew it."""
    names, n = np.unique(values[values != None].astype(str), return_counts=True)  # noqa: E711
    return dict(zip(names.tolist(), n.tolist(), strict=True))


def code_counts(codes: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    """Occurrences of each code >= 0 of ``codes``, by name (names never seen left out): the
    simulator-side twin of :func:`value_counts`."""
    tally = np.bincount(codes[codes >= 0], minlength=len(names))
    return {k: int(c) for k, c in zip(names, tally.tolist(), strict=True) if c}


def decoded(column: pa.Array) -> np.ndarray:
    """A dictionary column's values as an object array of str (None where null); reading by
    value, not by code, keeps a replay right when a sink re-encoded the dictionary."""
    return np.asarray(column.dictionary_decode().to_numpy(zero_copy_only=False), dtype=object)
