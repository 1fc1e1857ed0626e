"""The exception tree of eventforge.

Every error a user can cause derives from one root, so that the command line can turn it into
one line per problem and exit code 2 instead of a traceback::

    EventforgeError
    ├── ScenarioError           a scenario file or override is invalid (carries every problem)
    ├── UsageError              bad command-line arguments or paths
    ├── SinkError               the output directory cannot be written as asked
    │   └── OutputLockedError   another run holds the directory's lock
    └── DatasetIncompleteError  a dataset has no valid manifest (a crashed or running write)

Internal errors (bugs) are not in this tree and keep their traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DatasetIncompleteError",
    "EventforgeError",
    "OutputLockedError",
    "Problem",
    "ScenarioError",
    "SinkError",
    "UsageError",
]


class EventforgeError(Exception):
    """Root of every error a user can cause; the CLI maps it to exit code 2."""

    def lines(self) -> list[str]:
        """The error as one line per problem, for stderr."""
        return [str(self)]


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a scenario: ``file:line: key.path: message``.

    ``line`` is 1-based, or ``None`` when the key is absent from the file (a missing required
    key is reported at its parent's line) or the value came from ``--set``.
    """

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = self.key or "<top>"
        return f"{where}: {key}: {self.message}"


class ScenarioError(EventforgeError):
    """A scenario is invalid; carries *all* its problems, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.key, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class UsageError(EventforgeError):
    """Bad command-line arguments or paths (exit code 2)."""


class SinkError(EventforgeError):
    """The output directory cannot be written as asked (exists, not a dataset, unwritable)."""


class OutputLockedError(SinkError):
    """Another live run holds the lock of the output directory."""


class DatasetIncompleteError(EventforgeError):
    """A dataset lacks a valid ``_manifest.json``: never committed, or still being written."""
