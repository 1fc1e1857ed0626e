"""A parsed scenario file: plain data plus where each key came from.

Validation works on plain JSON-like data (dicts, lists, str, int, float, bool, None), but every
problem must point back at ``file:line``. A :class:`Document` keeps the two together: ``lines``
maps a key path to the 1-based line it was written on, and ``overridden`` records the paths a
``--set`` (or ``--seed``/``--replications``) replaced, whose problems have no line in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventforge.errors import Problem

__all__ = ["Document", "KeyPath", "assign", "dotted", "show"]

#: A path into the data: mapping keys (str) and sequence indices (int).
KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """``("params", "stations", 0, "rate")`` -> ``"params.stations.0.rate"``."""
    return ".".join(str(part) for part in path)


def show(value: Any) -> str:
    """A value as a user wrote it in YAML, for messages: ``true``, ``null``, ``'abc'``, ``-3.0``.

    Containers are named, not printed: a message must stay one line.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return repr(value)


@dataclass
class Document:
    """The top-level mapping of a scenario file and the line of every key in it."""

    file: str
    data: dict[str, Any]
    #: Key path -> 1-based line; ``()`` is the line of the top-level mapping.
    lines: dict[KeyPath, int] = field(default_factory=dict)
    #: Key path (steps as str) -> where its value came from instead of the file
    #: (e.g. ``"--set a.b=1"``); see :meth:`override`.
    overridden: dict[tuple[str, ...], str] = field(default_factory=dict)

    def override(self, path: KeyPath, value: Any, origin: str) -> str | None:
        """Set ``path`` to ``value`` as :func:`assign` does, recording ``origin`` for problems."""
        error = assign(self.data, path, value)
        if error is None:
            self.overridden[tuple(str(part) for part in path)] = origin
        return error

    def origin(self, path: KeyPath) -> str | None:
        """The override that set ``path`` or an ancestor of it; or, for a path the file does not
        hold, one that set a key below it (``--set a.b=1`` creates the mapping ``a``)."""
        steps = tuple(str(part) for part in path)
        for n in range(len(steps), -1, -1):
            found = self.overridden.get(steps[:n])
            if found is not None:
                return found
        if all(tuple(str(part) for part in written) != steps for written in self.lines):
            for key, found in self.overridden.items():
                if key[: len(steps)] == steps:
                    return found
        return None

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor written in the file.

        A missing key is thereby reported at its parent mapping's line; a value that came from
        an override has no line at all.
        """
        if self.origin(path) is not None:
            return None
        for n in range(len(path), -1, -1):
            found = self.lines.get(path[:n])
            if found is not None:
                return found
        return None

    def problem(self, path: KeyPath, message: str, *, line_of: KeyPath | None = None) -> Problem:
        """A :class:`Problem` at ``path``; ``line_of`` names another path whose line to report
        (a sweep point's value is reported at the line of that value in ``sweep:``)."""
        where = path if line_of is None else line_of
        origin = self.origin(where)
        if origin is not None:
            message = f"{message} (from {origin})"
        return Problem(self.file, self.line(where), dotted(path), message)


def assign(data: dict[str, Any], path: KeyPath, value: Any) -> str | None:
    """Set ``path`` in ``data`` to ``value``, creating missing mappings on the way.

    A digit-only step indexes a list. Returns why the path cannot be set (a step runs into a
    number, or an index out of range), or None once set.
    """
    node: Any = data
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        else:
            where = dotted(path[:depth]) or "<top>"
            if isinstance(node, list):
                reason = f"{where} is a list of {len(node)} (no item {part})"
                return f"cannot set {dotted(path)}: {reason}"
            return f"cannot set {dotted(path)}: {where} is {show(node)}, not a mapping"
    return None
