"""Sinks: where a replication's record batches go.

:class:`Sink` is the protocol the runner writes to; :class:`ParquetPartSink` streams a part of a
Parquet dataset atomically, :class:`MemorySink` keeps it in memory for tests.
"""

from eventforge.sinks.base import PartInfo, Sink, part_relpath
from eventforge.sinks.memory import MemorySink
from eventforge.sinks.parquet import ParquetOptions, ParquetPartSink, read_part_info

__all__ = [
    "MemorySink",
    "ParquetOptions",
    "ParquetPartSink",
    "PartInfo",
    "Sink",
    "part_relpath",
    "read_part_info",
]
