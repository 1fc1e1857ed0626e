"""The sink protocol: where one replication's batches go, and what a committed part reports.

A sink receives one *part* of a dataset (one sweep point, one replication) as a stream of record
batches. Its lifecycle is ``open(schema)``, any number of ``write(batch)``, then exactly one of
``commit(summary)`` (the part becomes visible, complete, and is described by a :class:`PartInfo`)
or ``abort()`` (nothing of the part remains). A sink knows nothing about models; the runner never
knows how a sink stores bytes.

This module also holds the pieces every durable sink and the dataset directory share: the naming
of parts inside a dataset, and the ``fsync`` dance that makes a rename survive a power cut.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import pyarrow as pa

__all__ = [
    "PartInfo",
    "Sink",
    "SinkLifecycle",
    "check_batch_schema",
    "dumps_json",
    "fsync_dir",
    "hash_file",
    "parse_part_relpath",
    "part_relpath",
    "write_atomic",
]

_PART_RE = re.compile(r"point=(\d+)/rep-(\d{5,})\.parquet")


def part_relpath(point: int, replication: int) -> str:
    """The relative posix path of a part inside a dataset: ``point=0/rep-00003.parquet``.

    ``point`` is a hive partition key (readers turn it into a column); the replication is not,
    because it is already a column of every file and pandas refuses a partition key that is also
    a file column.
    """
    if point < 0 or replication < 0:
        raise ValueError(f"point and replication must be >= 0 (got {point}, {replication})")
    return f"point={point}/rep-{replication:05d}.parquet"


def parse_part_relpath(relpath: str) -> tuple[int, int] | None:
    """``(point, replication)`` of a path written by :func:`part_relpath`, else ``None``."""
    m = _PART_RE.fullmatch(relpath)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


@dataclass(frozen=True)
class PartInfo:
    """A committed part: where it is, what it holds, and how to check it was not altered."""

    #: Relative posix path inside the dataset, e.g. ``point=0/rep-00003.parquet``.
    path: str
    point: int
    replication: int
    rows: int
    #: Size of the file in bytes.
    bytes: int
    #: Hex SHA-256 of the whole file.
    sha256: str
    #: The simulator's final-state summary (JSON-able numbers).
    summary: dict[str, float | int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the manifest's entry for this part)."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PartInfo:
        """The inverse of :meth:`to_json`; raises ``KeyError``/``TypeError`` on a malformed dict."""
        return cls(
            path=str(d["path"]),
            point=int(d["point"]),
            replication=int(d["replication"]),
            rows=int(d["rows"]),
            bytes=int(d["bytes"]),
            sha256=str(d["sha256"]),
            summary=dict(d["summary"]),
        )


@runtime_checkable
class Sink(Protocol):
    """Receives one part as record batches; commits it whole or leaves nothing behind."""

    def open(self, schema: pa.Schema) -> None:
        """Start the part; every batch written must have exactly this schema."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a batch (raises ``RuntimeError`` on a schema mismatch, after aborting)."""

    def commit(self, summary: dict[str, float | int]) -> PartInfo:
        """Make the part complete and visible; ``summary`` is stored with it."""
        ...

    def abort(self) -> None:
        """Discard the part; idempotent, and a no-op after a successful commit."""


class SinkLifecycle(ABC):
    """Context-manager behaviour shared by sinks: leaving the block uncommitted aborts.

    ``with sink: ...`` aborts when the block raises, and also when it ends without ``commit`` (a
    part that was never committed must not survive). Subclasses implement ``abort``.
    """

    @abstractmethod
    def abort(self) -> None:
        """Discard the part; idempotent, and a no-op after a successful commit."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def check_batch_schema(expected: pa.Schema, batch: pa.RecordBatch) -> None:
    """Raise ``RuntimeError`` showing both schemas unless ``batch`` has ``expected``'s fields.

    Metadata is ignored: it belongs to the file, not to each batch. A mismatch is a simulator bug,
    so the message shows everything needed to find it.
    """
    if not batch.schema.equals(expected, check_metadata=False):
        raise RuntimeError(
            "record batch schema differs from the part's schema:\n"
            f"batch:\n{batch.schema.remove_metadata()}\nexpected:\n{expected.remove_metadata()}"
        )


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries, so a rename or a new file in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: a reader sees the old or the new file, never half.

    Writes a hidden temporary file in the same directory (same filesystem, so the rename is
    atomic; a leading dot so dataset readers ignore it), fsyncs it, renames it over ``path`` and
    fsyncs the directory.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def dumps_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, fixed indent, trailing newline)."""
    return (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode()


def hash_file(path: Path, *, fsync: bool) -> tuple[str, int]:
    """``(hex sha256, size)`` of a file, read in 1 MiB chunks; optionally fsync it meanwhile."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(f.fileno())
    return digest.hexdigest(), size
