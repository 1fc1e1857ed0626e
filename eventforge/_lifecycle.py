"""Invariant 3 at log speed: per-entity lifecycle state machines stepped by Numba kernels.

A part may hold 10^8 events about millions of entities with arbitrary ``int64`` ids, so the
check keeps one small integer state per entity and never the log. Two kernels do the per-event
work: :func:`intern_ids` maps entity ids to dense indices through an open-addressing hash table
held in plain arrays (a Python dict costs a hash-and-box per event), and :func:`step_lifecycle`
advances each entity's state through the transition table. Each has a plain reference below
(:func:`intern_ids_reference`, :func:`step_lifecycle_reference`) that tests compare it with;
:class:`LifecycleTracker` is the kernels' only caller and fixes their dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventforge._numba import kernel
from eventforge.events import Lifecycle

__all__ = [
    "AFTER_FINAL",
    "ILLEGAL",
    "OK",
    "LifecycleTables",
    "LifecycleTracker",
    "intern_ids",
    "intern_ids_reference",
    "step_lifecycle",
    "step_lifecycle_reference",
]

#: Per-event status codes written by :func:`step_lifecycle`.
OK, ILLEGAL, AFTER_FINAL = 0, 1, 2

# Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): multiply by 2^64 / golden ratio and keep the top
# bits, which spreads consecutive ids (the common case) evenly over the table.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = -1


@kernel
def intern_ids(
    keys: np.ndarray, slots: np.ndarray, bits: int, ids: np.ndarray, out: np.ndarray, known: int
) -> int:
    """Write into ``out[i]`` the dense index of ``ids[i]``, giving unseen ids ``known``,
    ``known + 1``, ... in order of first appearance; return the new number of known ids.

    ``keys`` (int64) and ``slots`` (int32), both of length ``2**bits``, are the hash table:
    ``slots[j]`` is the index of the id in ``keys[j]``, or -1 for an empty slot. The caller keeps
    the load below one half, so linear probing always finds a free slot and stays short.
    """
    shift = np.uint64(64 - bits)
    mask = (1 << bits) - 1
    for i in range(ids.shape[0]):
        key = ids[i]
        j = np.int64((np.uint64(key) * _GOLDEN) >> shift)
        while True:
            if slots[j] == _EMPTY:
                keys[j] = key
                slots[j] = known
                out[i] = known
                known += 1
                break
            if keys[j] == key:
                out[i] = slots[j]
                break
            j = (j + 1) & mask
    return known


def intern_ids_reference(seen: dict[int, int], ids: np.ndarray) -> np.ndarray:
    """What :func:`intern_ids` computes, with a dict ``id -> index`` (updated in place)."""
    out = np.empty(len(ids), dtype=np.int64)
    for i, key in enumerate(ids.tolist()):
        if key not in seen:
            seen[key] = len(seen)
        out[i] = seen[key]
    return out


@kernel
def step_lifecycle(
    state: np.ndarray,
    entity: np.ndarray,
    event: np.ndarray,
    table: np.ndarray,
    free: np.ndarray,
    final: np.ndarray,
    status: np.ndarray,
    before: np.ndarray,
) -> None:
    """Advance ``state[entity[i]]`` by ``event[i]`` for each event in order, in place.

    ``table[s, e]`` is the state after event ``e`` in state ``s`` (-1: no such transition),
    ``free[e]`` marks events allowed in any state without changing it, ``final[s]`` states after
    which no event may follow. Writes ``before[i]`` (the entity's state when the event came) and
    ``status[i]``: ``OK``, ``ILLEGAL`` or ``AFTER_FINAL``; a violating event leaves the state as it
    was. An event code < 0 (a value outside the vocabulary, reported elsewhere) is skipped as OK.
    A defined transition wins over ``free`` for the same event.
    """
    for i in range(event.shape[0]):
        e = event[i]
        s = state[entity[i]]
        before[i] = s
        if e < 0:
            status[i] = OK
        elif final[s]:
            status[i] = AFTER_FINAL
        elif table[s, e] >= 0:
            state[entity[i]] = table[s, e]
            status[i] = OK
        elif free[e]:
            status[i] = OK
        else:
            status[i] = ILLEGAL


def step_lifecycle_reference(
    state: np.ndarray,
    entity: np.ndarray,
    event: np.ndarray,
    table: np.ndarray,
    free: np.ndarray,
    final: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`step_lifecycle` computes, returning ``(status, before)``; updates ``state``."""
    status = np.zeros(len(event), dtype=np.int8)
    before = np.zeros(len(event), dtype=np.int32)
    for i, (ent, e) in enumerate(zip(entity.tolist(), event.tolist(), strict=True)):
        s = int(state[ent])
        before[i] = s
        if e < 0:
            continue
        if final[s]:
            status[i] = AFTER_FINAL
        elif table[s, e] >= 0:
            state[ent] = table[s, e]
        elif not free[e]:
            status[i] = ILLEGAL
    return status, before


@dataclass(frozen=True)
class LifecycleTables:
    """A :class:`~eventforge.events.Lifecycle` as the arrays :func:`step_lifecycle` reads.

    Event codes are indices into the model's vocabulary; state codes index ``states``
    (``initial`` is code 0). Lifecycle events outside the vocabulary can never occur, so they
    are left out.
    """

    states: tuple[str, ...]
    table: np.ndarray  # int32[n_states, n_events], -1 = no transition
    free: np.ndarray  # bool[n_events]
    final: np.ndarray  # bool[n_states]

    @classmethod
    def build(cls, lifecycle: Lifecycle, vocabulary: tuple[str, ...]) -> LifecycleTables:
        """Tables of ``lifecycle`` over the event codes of ``vocabulary``."""
        states = lifecycle.states()
        state_code = {s: i for i, s in enumerate(states)}
        event_code = {e: i for i, e in enumerate(vocabulary)}
        table = np.full((len(states), len(vocabulary)), -1, dtype=np.int32)
        for (src, ev), dst in lifecycle.transitions.items():
            if ev in event_code:
                table[state_code[src], event_code[ev]] = state_code[dst]
        free = np.array([e in lifecycle.free for e in vocabulary], dtype=np.bool_)
        final = np.array([s in lifecycle.final for s in states], dtype=np.bool_)
        return cls(states, table, free, final)


class LifecycleTracker:
    """The lifecycle state of every entity seen so far in one replication's log.

    Memory grows with the number of distinct entities (a hash table of at most four slots per
    entity, 12 bytes a slot, plus one state each), never with the number of events.
    """

    def __init__(self, tables: LifecycleTables) -> None:
        self.tables = tables
        self._bits = 10
        self._keys = np.zeros(1 << self._bits, dtype=np.int64)
        self._slots = np.full(1 << self._bits, _EMPTY, dtype=np.int32)
        self._known = 0
        self._state = np.zeros(1024, dtype=np.int32)  # initial state is code 0

    @property
    def entities(self) -> int:
        """Distinct entities seen so far."""
        return self._known

    def step(self, entity_id: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next events in ``seq`` order: ``(status, before)`` per event, as in
        :func:`step_lifecycle`. ``event`` holds vocabulary codes, -1 for an unknown value."""
        ids = np.ascontiguousarray(entity_id, dtype=np.int64)
        self._reserve(self._known + len(ids))
        index = np.empty(len(ids), dtype=np.int64)
        self._known = intern_ids(self._keys, self._slots, self._bits, ids, index, self._known)
        if self._known > len(self._state):
            grown = np.zeros(max(self._known, 2 * len(self._state)), dtype=np.int32)
            grown[: len(self._state)] = self._state
            self._state = grown
        status = np.empty(len(ids), dtype=np.int8)
        before = np.empty(len(ids), dtype=np.int32)
        t = self.tables
        step_lifecycle(
            self._state,
            index,
            np.ascontiguousarray(event, dtype=np.int32),
            t.table,
            t.free,
            t.final,
            status,
            before,
        )
        return status, before

    def _reserve(self, count: int) -> None:
        """Grow the hash table so ``count`` ids fill at most half of it."""
        bits = self._bits
        while (1 << bits) < 2 * count:
            bits += 1
        if bits == self._bits:
            return
        used = self._slots != _EMPTY
        # Re-inserting the known ids in index order gives each the index it already had.
        ordered = np.empty(self._known, dtype=np.int64)
        ordered[self._slots[used]] = self._keys[used]
        self._bits = bits
        self._keys = np.zeros(1 << bits, dtype=np.int64)
        self._slots = np.full(1 << bits, _EMPTY, dtype=np.int32)
        scratch = np.empty(len(ordered), dtype=np.int64)
        intern_ids(self._keys, self._slots, bits, ordered, scratch, 0)
