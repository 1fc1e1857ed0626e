"""The Parquet sink's write speed and size on a realistic event log, against the alternatives.

Run: ``python benchmarks/bench_sink.py [ROWS]`` (default 5,000,000). Builds one replication's log
of the ten common columns with ``BatchBuilder`` in simulator-sized batches, then prints, each
measured in this run (best of three, files on local disk; wall and CPU time):

1. rows/s and bytes/row of our sink (streaming the batches, fsync and sha256 included) against
   pyarrow's defaults and a few codec/encoding variants, so the defaults are justified by figures
   (targets: >= 5 M rows/s and <= 17 B/row);
2. pyarrow alone (``ParquetWriter`` with exactly our settings, one ``write_table``) against our
   sink streaming the same batches: the cost of buffering, fsync and hashing;
3. compressed bytes per row of each column under each candidate encoding, the figures behind
   :func:`eventforge.sinks.parquet.column_encodings`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eventforge.events import BatchBuilder, EventSpec
from eventforge.sinks.parquet import ParquetOptions, ParquetPartSink, writer_options

BATCH = 65_536
SPEC = EventSpec(
    vocabulary=("arrive", "start", "finish", "leave", "renege"),
    rare_kinds=("surge", "outage"),
)


def event_log(rows: int, seed: int = 7) -> list[pa.RecordBatch]:
    """Batches like a queueing model's: ~1e5 entities, ~10% of events with a cause, rare 0.2%."""
    rng = np.random.default_rng(seed)
    builder = BatchBuilder(SPEC, 3, datetime(2024, 1, 1, tzinfo=UTC), 3600.0)
    t = 0.0
    batches = []
    for lo in range(0, rows, BATCH):
        n = min(BATCH, rows - lo)
        time_ = t + np.cumsum(rng.exponential(0.01, n))  # ~100 events per hour
        t = float(time_[-1])
        seq = np.arange(lo, lo + n)
        cause = np.where(rng.random(n) < 0.1, seq - rng.integers(1, 500, n), -1)
        rare_kind = np.where(rng.random(n) < 0.002, rng.integers(0, 2, n), -1)
        batches.append(
            builder.build(
                time=time_,
                entity_id=rng.integers(0, 100_000, n),
                event=rng.integers(0, len(SPEC.vocabulary), n),
                cause=np.maximum(cause, -1),
                rare_kind=rare_kind,
            )
        )
    return batches


def best_of(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeats`` calls.

    CPU time (all threads of this process) is printed too because it does not depend on what
    else the machine runs; wall time alone includes the sink's fsync wait, which CPU time omits.
    """
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def pyarrow_write(table: pa.Table, path: Path, **kwargs: Any) -> Callable[[], None]:
    def run() -> None:
        with pq.ParquetWriter(path, table.schema, **kwargs) as w:
            w.write_table(table, row_group_size=ParquetOptions().row_group_rows)

    return run


def sink_write(
    batches: list[pa.RecordBatch], root: Path, options: ParquetOptions
) -> Callable[[], None]:
    def run() -> None:
        sink = ParquetPartSink(root, 0, 3, options, {"eventforge.seed": "7"})
        sink.open(batches[0].schema)
        for b in batches:
            sink.write(b)
        sink.commit({"events": sum(b.num_rows for b in batches)})

    return run


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    batches = event_log(rows)
    table = pa.Table.from_batches(batches)
    ours = writer_options(table.schema, ParquetOptions())
    dictionary, encoding = ours["use_dictionary"], ours["column_encoding"]
    no_encodings = {k: v for k, v in ours.items() if k not in ("use_dictionary", "column_encoding")}
    print(f"{rows:,} rows, {table.num_columns} columns, {table.nbytes / rows:.1f} B/row in Arrow")
    print(f"our encodings: dictionary on {dictionary}, {encoding}\n")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "x.parquet"
        no_level = {"compression_level": None}
        alternatives: list[tuple[str, dict[str, Any]]] = [
            ("pyarrow alone, exactly our settings", ours),
            ("pyarrow defaults (snappy, dictionary on all)", {}),
            ("zstd 3 + our encodings", {**ours, "compression_level": 3}),
            ("snappy + our encodings", {**ours, "compression": "snappy", **no_level}),
            ("lz4 + our encodings", {**ours, "compression": "lz4"}),
            ("no codec + our encodings", {**ours, "compression": "NONE", **no_level}),
            ("zstd 1, dictionary on all, no encodings", no_encodings),
            ("zstd 1, no dictionary, no encodings", {**no_encodings, "use_dictionary": False}),
        ]
        variants: list[tuple[str, Callable[[], None], Path]] = [
            (
                "our sink, defaults (zstd 1 + encodings)",
                sink_write(batches, root, ParquetOptions()),
                root / "point=0/rep-00003.parquet",
            ),
            *((name, pyarrow_write(table, out, **kw), out) for name, kw in alternatives),
        ]
        print(f"{'variant':48s} {'M rows/s':>9s} {'M rows/CPU-s':>13s} {'B/row':>7s}")
        seconds: dict[str, tuple[float, float]] = {}
        for name, run, path in variants:
            wall, cpu = seconds[name] = best_of(run)
            per_row = path.stat().st_size / rows
            print(f"{name:48s} {rows / wall / 1e6:9.2f} {rows / cpu / 1e6:13.2f} {per_row:7.2f}")
        (sink_wall, sink_cpu), (alone_wall, alone_cpu) = (seconds[v[0]] for v in variants[:2])
        print(
            f"\nour sink streaming {len(batches)} batches / pyarrow one write_table: "
            f"{sink_wall / alone_wall:.2f}x the wall time, {sink_cpu / alone_cpu:.2f}x the CPU time"
        )

        print("\ncompressed B/row per column and encoding (zstd 1):")
        candidates = ["PLAIN", "DICTIONARY", "DELTA_BINARY_PACKED", "BYTE_STREAM_SPLIT"]
        print(f"{'column':12s}" + "".join(f"{c[:12]:>14s}" for c in candidates))
        for field in table.schema:
            cells = []
            for enc in candidates:
                kwargs: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
                if enc == "DICTIONARY":
                    kwargs["use_dictionary"] = True
                else:
                    kwargs["use_dictionary"] = False
                    kwargs["column_encoding"] = {field.name: enc}
                try:
                    pq.write_table(
                        table.select([field.name]),
                        out,
                        row_group_size=ParquetOptions().row_group_rows,
                        **kwargs,
                    )
                except (pa.ArrowException, OSError):
                    cells.append(f"{'-':>14s}")  # encoding not defined for this type
                    continue
                meta = pq.read_metadata(out)
                size = sum(
                    meta.row_group(g).column(0).total_compressed_size
                    for g in range(meta.num_row_groups)
                )
                cells.append(f"{size / rows:14.3f}")
            print(f"{field.name:12s}" + "".join(cells))


if __name__ == "__main__":
    main()
