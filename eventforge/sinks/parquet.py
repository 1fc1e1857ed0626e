"""The streaming Parquet part writer: one file per (sweep point, replication), atomic on commit.

A part is written to a hidden temporary file next to its final name, in whole row groups of
``row_group_rows`` rows after a short ramp (:func:`row_group_sizes`; batches are buffered until a
row group is full, so the file's layout depends on the rows alone, not on how a simulator
happened to batch them). ``commit`` stores the simulator's summary in the footer, closes,
fsyncs, hashes and renames the file into place, then fsyncs the directory; ``abort`` (called
on any error) deletes the temporary file. A part is thus either complete at its final name or
absent: pyarrow alone would close a crashed writer with a valid footer and leave a truncated
log that looks whole.

Encodings matter more than the codec for event logs (see ``benchmarks/bench_sink.py``): they are
chosen per column from its Arrow type by :func:`column_encodings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eventforge.errors import SinkError
from eventforge.sinks.base import (
    PartInfo,
    SinkLifecycle,
    check_batch_schema,
    fsync_dir,
    hash_file,
    parse_part_relpath,
    part_relpath,
)

__all__ = [
    "POINT_KEY",
    "REPLICATION_KEY",
    "SUMMARY_KEY",
    "ParquetOptions",
    "ParquetPartSink",
    "column_encodings",
    "part_relpath",
    "read_part_info",
    "writer_options",
]

#: Footer key-value metadata keys; they let a resumed run rebuild a part's PartInfo from the file.
SUMMARY_KEY = "eventforge.summary"
POINT_KEY = "eventforge.point"
REPLICATION_KEY = "eventforge.replication"

_CODECS = ("zstd", "snappy", "lz4", "gzip", "none")
# Integer columns that hold one value per part: a dictionary of one entry costs nothing.
_CONSTANT_COLUMNS = frozenset({"replication"})
#: Columns in non-decreasing order within a part (the log's contract), or constant in it.
_SORTED_COLUMNS = frozenset({"replication", "seq", "time", "timestamp"})


#: Row groups that ramp up to ``row_group_rows`` at the start of a part (see
#: :func:`row_group_sizes`).
RAMP = 4


def row_group_sizes(row_group_rows: int) -> Iterator[int]:
    """Rows of a part's row groups, in order: ``row_group_rows / 2**RAMP``, doubling up to
    ``row_group_rows``, then ``row_group_rows`` for good.

    Why a ramp: pyarrow writes whole row groups only, so the writer thread can start a part only
    once its first row group is buffered, and a model's whole log may be about one row group
    (the emergency department's 90 days are ~1.1): the encoding then waited for all of the
    generation instead of overlapping it. Starting at a sixteenth lets writing begin after
    ~16k rows; the ramp holds about one full row group, so a large part's layout barely
    changes.
    """
    for k in range(RAMP, 0, -1):
        yield max(1, row_group_rows >> k)
    while True:
        yield row_group_rows


@dataclass(frozen=True)
class ParquetOptions:
    """How parts are written. The defaults come from ``benchmarks/bench_sink.py``'s figures.

    ``compression_level`` is ignored by codecs that have no levels (snappy, none).
    """

    row_group_rows: int = 262_144
    compression: str = "zstd"
    compression_level: int | None = 1

    def __post_init__(self) -> None:
        if self.row_group_rows < 1:
            raise ValueError(f"row_group_rows must be >= 1 (got {self.row_group_rows})")
        if self.compression not in _CODECS:
            raise ValueError(f"compression must be one of {_CODECS} (got {self.compression!r})")


def _is_integer_like(t: pa.DataType) -> bool:
    # Types stored as INT32/INT64 in Parquet, where DELTA_BINARY_PACKED applies.
    return (
        pa.types.is_integer(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_duration(t)
    )


def column_encodings(schema: pa.Schema) -> tuple[list[str], dict[str, str]]:
    """``(use_dictionary, column_encoding)`` arguments of ``ParquetWriter`` for ``schema``.

    Chosen from each field's type, because a sink knows nothing about models:

    - dictionary-typed columns (event names, categories) and ``replication`` (constant within a
      part): Parquet dictionary encoding;
    - integers and timestamps: DELTA_BINARY_PACKED, which shrinks increasing sequences (``seq``,
      ``timestamp``, ``cause``) to a few bits per row and, on random ids, matches plain and
      byte-stream-split encodings within a few percent while writing faster;
    - floats: BYTE_STREAM_SPLIT, which lets zstd find the shared exponent bytes;
    - anything else (bool, string, nested): the writer's default, without a dictionary (a
      dictionary on a high-cardinality column costs time and grows files).
    """
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for f in schema:
        t = f.type
        if pa.types.is_dictionary(t) or f.name in _CONSTANT_COLUMNS:
            dictionary.append(f.name)
        elif _is_integer_like(t):
            encoding[f.name] = "DELTA_BINARY_PACKED"
        elif pa.types.is_floating(t) and not pa.types.is_float16(t):
            encoding[f.name] = "BYTE_STREAM_SPLIT"
    return dictionary, encoding


def writer_options(schema: pa.Schema, options: ParquetOptions) -> dict[str, Any]:
    """Every keyword argument our sink gives ``pyarrow.parquet.ParquetWriter`` for ``schema``."""
    dictionary, encoding = column_encodings(schema)
    codec = "NONE" if options.compression == "none" else options.compression
    level = options.compression_level
    if codec == "NONE" or not pa.Codec.supports_compression_level(codec):
        level = None
    return {
        "compression": codec,
        "compression_level": level,
        "use_dictionary": dictionary,
        "column_encoding": encoding,
        # Min/max statistics where they prune: the columns in time order within a part and the
        # constant replication. On the others (ids, amounts, codes) every row group spans the
        # whole range, and computing them took ~a quarter of the payments log's writing time.
        "write_statistics": [f.name for f in schema if f.name in _SORTED_COLUMNS],
        # Restores Arrow types Parquet lacks: dictionary columns, the timestamp's time zone.
        "store_schema": True,
    }


def _plain_summary(summary: Mapping[str, float | int]) -> dict[str, float | int]:
    """``summary`` with NumPy scalars turned into Python numbers, so it is JSON-able and equal
    to what :func:`read_part_info` reads back; anything but a number is a ``TypeError``."""
    plain: dict[str, float | int] = {}
    for key, value in summary.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"summary[{key!r}] must be a number (got {value!r})")
        plain[str(key)] = value
    return plain


class _HashingFile:
    """The part's file as pyarrow writes it: hashed, counted and flushed to disk as it grows.

    Parquet is written front to back with no seeks, so the SHA-256 of the manifest is computed on
    the way (on the writer thread, overlapping simulation) instead of by re-reading the file at
    commit, and an ``fdatasync`` every 64 MiB spreads the cost of durability over the run. The
    sync runs in a thread of its own (one at a time): it is a wait for the disk, and on the
    writer's thread it took ~9% of a large run's writing time. pyarrow reaches this object
    through a large native buffer (:meth:`stream`): Parquet issues thousands of tiny writes (page
    headers), and each call into Python would have to take the GIL.
    """

    _SYNC_EVERY = 64 << 20
    _BUFFER = 8 << 20

    def __init__(self, path: Path) -> None:
        self._file = open(path, "xb")  # noqa: SIM115 - closed by close(), owned by the sink
        self._digest = hashlib.sha256()
        self.size = 0
        self._unsynced = 0
        self._syncer: threading.Thread | None = None
        self._sync_error: OSError | None = None
        #: The hex SHA-256 of everything written, once closed.
        self.sha256 = ""

    def stream(self) -> pa.NativeFile:
        """A buffered native stream over this file; closing it closes (and fsyncs) the file."""
        return pa.BufferedOutputStream(pa.PythonFile(self, mode="w"), buffer_size=self._BUFFER)

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, data: bytes | memoryview) -> int:
        if self._sync_error is not None:
            raise self._sync_error
        n = self._file.write(data)
        self._digest.update(data)
        self.size += n
        self._unsynced += n
        if self._unsynced >= self._SYNC_EVERY and (
            self._syncer is None or not self._syncer.is_alive()
        ):
            self._file.flush()
            self._syncer = threading.Thread(
                target=self._sync, args=(self._file.fileno(),), name="eventforge-fsync", daemon=True
            )
            self._syncer.start()
            self._unsynced = 0
        return n

    def _sync(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError as exc:  # raised on the writer's thread, at its next write or close
            self._sync_error = exc

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Flush, fsync and close (idempotent); sets :attr:`sha256`."""
        if self._file.closed:
            return
        try:
            if self._syncer is not None:
                self._syncer.join()  # before the descriptor it syncs is closed
            if self._sync_error is not None:
                raise self._sync_error
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        self.sha256 = self._digest.hexdigest()


class ParquetPartSink(SinkLifecycle):
    """Streams one part to ``root/point=P/rep-RRRRR.parquet``; implements :class:`Sink`.

    ``root`` must exist (a prepared :class:`eventforge.dataset.DatasetDir`); parts of different
    (point, replication) may be written concurrently by different processes. ``metadata``
    (scenario hash, seed, version, ...) is stored in the file's schema metadata, so same batches
    and metadata give byte-identical files: nothing here reads a clock.

    Any exception in ``open``/``write``/``commit`` aborts the part before propagating; used as a
    context manager, leaving the block without ``commit`` aborts too.
    """

    def __init__(
        self,
        root: Path,
        point: int,
        replication: int,
        options: ParquetOptions | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.point = point
        self.replication = replication
        self.options = options or ParquetOptions()
        self.metadata = dict(metadata or {})
        self.relpath = part_relpath(point, replication)
        self.path = self.root / self.relpath
        self.tmp_path = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.rows = 0
        self._state = "new"  # new -> open -> committed | aborted
        self._schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None
        self._file: _HashingFile | None = None
        self._stream: pa.NativeFile | None = None
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._sizes = row_group_sizes(self.options.row_group_rows)
        self._next_rows = next(self._sizes)

    def open(self, schema: pa.Schema) -> None:
        """Create the temporary file and its writer; every batch must then have ``schema``."""
        if self._state != "new":
            raise RuntimeError(f"open() on a sink that is {self._state}")
        self._state = "open"
        try:
            self._make_point_dir()
            # Schema metadata has bytes keys: the caller's must replace, not sit beside, them.
            metadata = dict(schema.metadata or {})
            metadata.update({k.encode(): v.encode() for k, v in self.metadata.items()})
            file_schema = schema.with_metadata(metadata)
            self._schema = schema
            self._file = _HashingFile(self.tmp_path)
            self._stream = self._file.stream()
            self._writer = pq.ParquetWriter(
                self._stream, file_schema, **writer_options(schema, self.options)
            )
        except BaseException:
            self.abort()
            raise

    def _make_point_dir(self) -> None:
        try:
            self.path.parent.mkdir()
        except FileExistsError:
            return
        # A new directory is durable only once its parent's entry is.
        fsync_dir(self.root)

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch`` and write every row group it completes."""
        if self._state != "open":
            raise RuntimeError(f"write() on a sink that is {self._state}")
        try:
            assert self._schema is not None
            check_batch_schema(self._schema, batch)
            if batch.num_rows == 0:
                return
            self._buffer.append(batch)
            self._buffered += batch.num_rows
            if self._buffered >= self._next_rows:
                self._flush(final=False)
        except BaseException:
            self.abort()
            raise

    def _flush(self, *, final: bool) -> None:
        """Write the buffered rows as whole row groups of :func:`row_group_sizes` (all of the
        rows when ``final``, the last group then short)."""
        if not self._buffered:
            return
        assert self._writer is not None
        table = pa.Table.from_batches(self._buffer, schema=self._schema)
        done = 0
        while self._buffered - done >= self._next_rows or (final and done < self._buffered):
            size = self._next_rows
            n = min(size, self._buffered - done)
            if size == self.options.row_group_rows:  # past the ramp: every whole group at once
                n = self._buffered - done if final else (self._buffered - done) // size * size
            else:
                self._next_rows = next(self._sizes)
            # write_table cuts a (multi-chunk) table into row groups of exactly `size` rows.
            self._writer.write_table(table.slice(done, n), row_group_size=size)
            done += n
        rest = table.slice(done)
        self._buffer = rest.to_batches()
        self._buffered = rest.num_rows
        self.rows += done

    def commit(self, summary: Mapping[str, float | int]) -> PartInfo:
        """Finish the file, store ``summary`` in its footer, and move it to its final name."""
        if self._state != "open":
            raise RuntimeError(f"commit() on a sink that is {self._state}")
        try:
            assert self._writer is not None
            plain = _plain_summary(summary)
            self._flush(final=True)
            self._writer.add_key_value_metadata(
                {
                    SUMMARY_KEY: json.dumps(plain, sort_keys=True),
                    POINT_KEY: str(self.point),
                    REPLICATION_KEY: str(self.replication),
                }
            )
            self._writer.close()
            self._writer = None
            assert self._stream is not None and self._file is not None
            self._stream.close()  # flushes the buffer, then closes and fsyncs the file
            sha256, size = self._file.sha256, self._file.size
            os.replace(self.tmp_path, self.path)
            fsync_dir(self.path.parent)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return PartInfo(
            path=self.relpath,
            point=self.point,
            replication=self.replication,
            rows=self.rows,
            bytes=size,
            sha256=sha256,
            summary=plain,
        )

    def abort(self) -> None:
        """Close the writer and delete the temporary file; idempotent, no-op after commit."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        writer, self._writer = self._writer, None
        stream, self._stream, self._file = self._stream, None, None
        self._buffer, self._buffered = [], 0
        # Closing writes a valid footer to a file deleted just below; closing now rather than in
        # pyarrow's __del__ keeps that out of garbage collection. A close that fails (the disk
        # that failed the write) must not hide the error that brought us here.
        for handle in (writer, stream):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        self.tmp_path.unlink(missing_ok=True)


def read_part_info(root: Path, relpath: str) -> PartInfo:
    """The :class:`PartInfo` of a committed part, rebuilt from its footer and bytes.

    Raises :class:`SinkError` naming the file if it is unreadable (truncated, not Parquet), was
    not written by this sink (no summary in its footer), or holds another part than its name says.
    """
    where = parse_part_relpath(relpath)
    path = Path(root) / relpath
    if where is None:
        raise SinkError(f"{path}: not a part name (expected point=P/rep-RRRRR.parquet)")
    point, replication = where
    try:
        meta = pq.read_metadata(path)
        kv = meta.metadata or {}
        summary = json.loads(kv[SUMMARY_KEY.encode()])
        found = (int(kv[POINT_KEY.encode()]), int(kv[REPLICATION_KEY.encode()]))
    except (OSError, pa.ArrowException, KeyError, ValueError) as e:
        raise SinkError(f"{path}: not a committed eventforge part ({type(e).__name__}: {e})") from e
    if found != where:
        raise SinkError(f"{path}: footer says point={found[0]} replication={found[1]}")
    sha256, size = hash_file(path, fsync=False)
    return PartInfo(
        path=relpath,
        point=point,
        replication=replication,
        rows=meta.num_rows,
        bytes=size,
        sha256=sha256,
        summary=summary,
    )
