"""The ``eventforge`` command: parses arguments, calls the API, prints. Nothing else lives here.

Exit codes: 0 success, 1 a check failed, 2 bad input (scenario, arguments, paths); any other code
is an internal error and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from eventforge._version import __version__
from eventforge.errors import DatasetIncompleteError, EventforgeError

if TYPE_CHECKING:
    from eventforge.runner import ProgressCallback

__all__ = ["main"]

_EPILOG = """\
examples:
  eventforge list
  eventforge run arrivals                         # a built-in scenario, to ./out/arrivals
  eventforge run my.yaml -o data/run1 --replications 8 --workers 2
  eventforge run arrivals --set params.rate=2/d --set horizon=30d --seed 7
  eventforge run my.yaml --resume                 # finish an interrupted run
  eventforge validate scenarios/*.yaml
  eventforge check out/arrivals
  eventforge schema hawkes > hawkes.schema.json

exit codes: 0 success, 1 a check failed, 2 bad input (scenario, arguments, paths)
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="eventforge",
        description="Generate synthetic event logs by simulation, streamed to Parquet.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"eventforge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser(
        "run",
        help="run a scenario and write its dataset",
        epilog="example: eventforge run arrivals -o out/a --set params.rate=2/d",
    )
    r.add_argument("scenario", help="a scenario file, or the name of a built-in scenario")
    r.add_argument("-o", "--out", help="output folder (default: output.path or ./out/<name>)")
    r.add_argument("--seed", type=int, help="master seed (overrides the file's seed)")
    r.add_argument("--replications", type=int, help="replications per sweep point")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a key of the scenario (repeatable)",
    )
    r.add_argument("--executor", choices=("serial", "processes"), default="processes")
    r.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    mode.add_argument("--resume", action="store_true", help="finish an interrupted run")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")

    v = sub.add_parser("validate", help="validate scenario files (exit 2 listing problems)")
    v.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    c = sub.add_parser("check", help="check a dataset against the event-log invariants")
    c.add_argument("dataset", metavar="DATASET")

    sub.add_parser("list", help="models and built-in scenarios, one line each")

    s = sub.add_parser("schema", help="JSON Schema of a scenario file")
    s.add_argument("model", nargs="?", help="a model name (default: any model)")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from eventforge.runner import run
    from eventforge.scenario import load_scenario

    scenario = load_scenario(
        args.scenario, overrides=args.overrides, seed=args.seed, replications=args.replications
    )
    out = Path(args.out or scenario.output.path or Path("out") / scenario.name)
    if scenario.seed_drawn and not args.quiet:
        print(
            f"no seed given: drew seed {scenario.seed} (recorded in the manifest)", file=sys.stderr
        )
    show = not args.quiet and sys.stderr.isatty()
    with _progress(show, len(scenario.points) * scenario.replications) as report:
        result = run(
            scenario,
            out,
            executor=args.executor,
            workers=args.workers,
            overwrite=args.overwrite,
            resume=args.resume,
            progress=report,
        )
    if not args.quiet:
        rate = result.rows / result.seconds if result.seconds > 0 else 0.0
        reused = f", {result.reused} reused" if result.reused else ""
        parts = f"{len(result.parts)} part{'s' if len(result.parts) != 1 else ''}"
        print(
            f"wrote {result.rows:,} events in {parts}{reused} to {result.root} "
            f"({result.seconds:.2f} s, {rate:,.0f} events/s, seed {scenario.seed})"
        )
    return 0


@contextmanager
def _progress(show: bool, tasks: int) -> Iterator[ProgressCallback]:
    """A rich progress bar (events/s, ETA) on a terminal; a silent callback otherwise."""
    if not show:
        yield lambda n, f: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} events"),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("run", total=tasks, events=0, rate=0.0)
        counted = [0]

        def report(n: int, fraction: float) -> None:
            counted[0] += n
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = counted[0] / elapsed if elapsed > 0 else 0.0
            bar.update(task, advance=fraction, events=counted[0], rate=rate)

        yield report


def _cmd_validate(args: argparse.Namespace) -> int:
    from eventforge.scenario import load_scenario

    failed = False
    for source in args.scenarios:
        try:
            sc = load_scenario(source, overrides=args.overrides)
        except EventforgeError as exc:
            failed = True
            for line in exc.lines():
                print(line, file=sys.stderr)
            continue
        print(
            f"{source}: ok (model {sc.model}, {len(sc.points)} point(s) x "
            f"{sc.replications} replication(s), horizon {sc.horizon:g} {sc.time_unit})"
        )
    return 2 if failed else 0


def _cmd_check(args: argparse.Namespace) -> int:
    from eventforge.check import check_dataset

    try:
        report = check_dataset(args.dataset)
    except DatasetIncompleteError as exc:
        print(f"{args.dataset}: incomplete: {exc}", file=sys.stderr)
        return 1
    if report.ok:
        parts = f"{report.parts} part{'s' if report.parts != 1 else ''}"
        print(f"{args.dataset}: ok ({parts}, {report.rows:,} events, 4 invariants)")
        return 0
    for line in report.lines():
        print(line)
    print(f"{args.dataset}: {len(report.violations)} violation(s)", file=sys.stderr)
    return 1


def _cmd_list(args: argparse.Namespace) -> int:
    from eventforge.scenario.library import builtin_scenarios
    from eventforge.simulators import get_simulator, model_names

    print("models:")
    for name in model_names():
        print(f"  {name:<12} {get_simulator(name).description}")
    print("built-in scenarios (eventforge run NAME):")
    for name, path in builtin_scenarios().items():
        print(f"  {name:<12} {_first_description_line(path)}")
    return 0


def _first_description_line(path: Path) -> str:
    """The first line of a scenario's ``description``; an invalid built-in file says so."""
    from eventforge.scenario import load_scenario

    try:
        return load_scenario(path).description.strip().splitlines()[0]
    except (EventforgeError, IndexError):
        return "(invalid: run eventforge validate)"


def _cmd_schema(args: argparse.Namespace) -> int:
    from eventforge.scenario import scenario_json_schema
    from eventforge.simulators import get_simulator, model_names

    if args.model is not None:
        get_simulator(args.model)  # unknown model -> UsageError listing the known ones
        schema = scenario_json_schema(args.model)
    else:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "eventforge scenario",
            "oneOf": [scenario_json_schema(m) for m in model_names()],
        }
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


_COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "check": _cmd_check,
    "list": _cmd_list,
    "schema": _cmd_schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except EventforgeError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no manifest written; finish with --resume", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
