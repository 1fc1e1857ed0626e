"""The sink's ceiling for a given log: pyarrow alone writing the same table with the settings
eventforge's sink uses, which no end-to-end run can beat. Benchmarks divide their end-to-end
events/s by it ("end to end >= 70% of the sink's own ceiling")."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import eventforge as ef
from eventforge.sinks.parquet import ParquetOptions, row_group_sizes, writer_options


def pyarrow_alone(table: pa.Table, scenario: ef.Scenario, path: Path) -> tuple[float, int]:
    """Rows/s of ``ParquetWriter`` writing ``table`` with the scenario's output settings,
    eventforge's encodings and the sink's row groups (one ``write_table`` per group of the
    ramp, then one for the rest), and the file's size in bytes."""
    opts = ParquetOptions(
        row_group_rows=scenario.output.row_group_rows,
        compression=scenario.output.compression,
        compression_level=scenario.output.compression_level,
    )
    t0 = time.perf_counter()
    with pq.ParquetWriter(path, table.schema, **writer_options(table.schema, opts)) as w:
        done = 0
        for size in row_group_sizes(opts.row_group_rows):  # the sink's row groups
            if done >= table.num_rows:
                break
            n = table.num_rows - done if size == opts.row_group_rows else size
            w.write_table(table.slice(done, n), row_group_size=size)
            done += n
    return table.num_rows / (time.perf_counter() - t0), path.stat().st_size
