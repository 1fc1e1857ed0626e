"""An in-memory sink, the test double of the Parquet sink: same lifecycle, no files.

It enforces the same contract (one schema, commit or abort, nothing left after abort), so a test
of a runner or simulator that passes with it exercises the same calls the Parquet sink receives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pyarrow as pa

from eventforge.sinks.base import PartInfo, SinkLifecycle, check_batch_schema, part_relpath

__all__ = ["MemorySink"]


class MemorySink(SinkLifecycle):
    """Keeps one part's batches in memory; implements :class:`eventforge.sinks.base.Sink`.

    After ``commit``, :meth:`table` returns the rows. ``PartInfo.bytes`` and ``sha256`` describe
    the part's Arrow IPC stream, which is deterministic for the same batches. With
    ``digest=False`` no stream is made (``bytes`` is the batches' Arrow buffer size and
    ``sha256`` is empty): serialising and hashing cost as much as generating a compiled model's
    log, so a caller that only wants the table (:func:`eventforge.simulate`) skips them.
    """

    def __init__(self, point: int = 0, replication: int = 0, *, digest: bool = True) -> None:
        self.point = point
        self.replication = replication
        self.digest = digest
        self.rows = 0
        self.info: PartInfo | None = None
        self._state = "new"  # new -> open -> committed | aborted
        self._schema: pa.Schema | None = None
        self._batches: list[pa.RecordBatch] = []

    def open(self, schema: pa.Schema) -> None:
        """Start the part; every batch must have ``schema``."""
        if self._state != "new":
            raise RuntimeError(f"open() on a sink that is {self._state}")
        self._state = "open"
        self._schema = schema

    def write(self, batch: pa.RecordBatch) -> None:
        """Keep ``batch`` (aborts and raises ``RuntimeError`` on a schema mismatch)."""
        if self._state != "open":
            raise RuntimeError(f"write() on a sink that is {self._state}")
        assert self._schema is not None
        try:
            check_batch_schema(self._schema, batch)
        except BaseException:
            self.abort()
            raise
        self._batches.append(batch)
        self.rows += batch.num_rows

    def commit(self, summary: Mapping[str, float | int]) -> PartInfo:
        """Seal the part and describe it."""
        if self._state != "open":
            raise RuntimeError(f"commit() on a sink that is {self._state}")
        self._state = "committed"
        if self.digest:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, self._schema) as writer:
                for batch in self._batches:
                    writer.write_batch(batch)
            data = sink.getvalue()
            size, sha256 = data.size, hashlib.sha256(data).hexdigest()
        else:
            size, sha256 = sum(b.nbytes for b in self._batches), ""
        self.info = PartInfo(
            path=part_relpath(self.point, self.replication),
            point=self.point,
            replication=self.replication,
            rows=self.rows,
            bytes=size,
            sha256=sha256,
            summary=dict(summary),
        )
        return self.info

    def abort(self) -> None:
        """Drop the batches; idempotent, no-op after commit."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        self._batches = []
        self.rows = 0

    def table(self) -> pa.Table:
        """The committed rows, in write order (``RuntimeError`` before commit)."""
        if self._state != "committed":
            raise RuntimeError(f"table() on a sink that is {self._state}, not committed")
        return pa.Table.from_batches(self._batches, schema=self._schema)
