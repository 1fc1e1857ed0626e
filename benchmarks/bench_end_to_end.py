"""End-to-end figures of the `arrivals` model, each measured in this one run.

1. events/s of ``eventforge.run`` (simulate + write Parquet, serial) vs pyarrow alone writing the
   same table with the same settings (target >= 70%), each the best of ``REPEAT`` runs (a run
   is ~1.5 s, and single runs on a shared 2-core machine spread over +-10%);
2. peak RSS of a run at horizon H = 90 days and 10H, each in a fresh process (target: within
   20%). H holds ~10 batches of ``batch_events``: what a run holds in flight (the writer's queue
   of ``write_ahead`` batches, the sink's unfinished row group with the batch it was cut from,
   the row group being encoded, the batch being built) is full from then on, so the ratio shows
   growth with the horizon, not the pipeline filling up. At 30 days (~3 batches) the pipeline
   never fills, and the same flat memory read as 1.27x;
3. wall time of a warm ``eventforge run`` of a small scenario, as a user types it (target < 2 s).

Run: ``python benchmarks/bench_end_to_end.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ceiling import pyarrow_alone

import eventforge as ef

SCENARIO = "arrivals"
# About 10 M events: the built-in shop scaled to 150,000 customers over 60 days.
BIG = ["horizon=60d", "params.entities=150000"]
REPEAT = 3
#: H of the peak-RSS figure (see the module doc).
HORIZON = "90d"


def _events_per_second(tmp: Path) -> None:
    # Warm: load the compiled kernels once, as any long run has (the start-up is figure 3).
    ef.simulate(ef.load_scenario(SCENARIO, overrides=["horizon=1d"], seed=1))
    scenario = ef.load_scenario(SCENARIO, overrides=BIG, seed=1)
    runs = [ef.run(scenario, tmp / "e2e", executor="serial", overwrite=True) for _ in range(REPEAT)]
    result = min(runs, key=lambda r: r.seconds)
    e2e = result.rows / result.seconds
    table = ef.read_table(result.root).drop_columns(["point"])
    alone, size = max(
        pyarrow_alone(table, scenario, tmp / f"alone{i}.parquet") for i in range(REPEAT)
    )
    print(f"end to end, {result.rows:,} events: {e2e / 1e6:.2f} M events/s")
    print(f"pyarrow alone, same table, same settings: {alone / 1e6:.2f} M rows/s")
    print(f"ratio end to end / pyarrow alone: {e2e / alone:.0%} (target >= 70%)")
    print(f"bytes/event (all columns): {size / table.num_rows:.1f}")


# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child of this
# (large) process would report the parent's peak.
_RSS_PROBE = """
import re, sys, tempfile
import eventforge as ef
sc = ef.load_scenario({scenario!r}, overrides=["horizon=" + sys.argv[1]], seed=1)
with tempfile.TemporaryDirectory() as tmp:
    r = ef.run(sc, tmp + "/out", executor="serial")
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(r.rows, hwm)
"""


def _peak_rss() -> None:
    figures = {}
    for horizon in (HORIZON, f"{10 * int(HORIZON[:-1])}d"):
        out = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE.format(scenario=SCENARIO), horizon],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        figures[horizon] = (int(out[0]), int(out[1]) / 1024)
        print(
            f"peak RSS at horizon {horizon}: {figures[horizon][1]:.0f} MiB ({int(out[0]):,} events)"
        )
    low, high = figures.values()
    ratio = high[1] / low[1]
    print(f"peak RSS 10H / H: {ratio:.2f} (target <= 1.20)")


def _warm_cli(tmp: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "eventforge",
        "run",
        SCENARIO,
        "--set",
        "horizon=1d",
        "-o",
        str(tmp / "small"),
        "--overwrite",
        "--quiet",
        "--executor",
        "serial",
    ]
    subprocess.run(cmd, check=True)  # warm: Numba's cache and the OS page cache
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - t0)
    print(
        f"warm `eventforge run {SCENARIO} --set horizon=1d`: best {min(times):.2f} s (target < 2 s)"
    )


def main() -> None:
    """Print the three figures."""
    with tempfile.TemporaryDirectory() as tmp:
        _events_per_second(Path(tmp))
        _peak_rss()
        _warm_cli(Path(tmp))


if __name__ == "__main__":
    main()
