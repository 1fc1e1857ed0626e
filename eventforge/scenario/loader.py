"""Reading scenario files safely: bounded, plain YAML 1.2 data, every key with its line.

Loading a scenario must never run code, hang, or exhaust memory, whatever the file holds. So:

* the path must be a regular file (a FIFO or ``/dev/zero`` would block or never end), checked
  with ``os.stat`` before opening and again with ``fstat`` on the descriptor, opened
  non-blocking, and read up to :data:`MAX_BYTES` + 1 bytes;
* the text is walked as ruamel.yaml's *event stream* and the data is built here, iteratively,
  instead of by ruamel's composer and constructor. The composer recurses once per nesting level
  (a ``RecursionError`` near depth 1000) and resolves aliases (a billion-laughs file expands
  exponentially), and the round-trip constructor accepts any ``!tag``. Walking events lets every
  check happen *before* a node exists: nesting beyond :data:`MAX_DEPTH` stops the walk at the
  first level too deep (ruamel's scanner and parser are iterative and lazy: they read about a
  kilobyte past that point at most, so no raw-text pre-scan is needed, and nothing here
  recurses, so no ``RecursionError`` can arise), anchors and aliases are refused outright (a
  scenario never needs them), only the core YAML 1.2 tags are accepted, keys must be strings
  and unique, and numbers must be finite (``.nan``/``.inf`` would slip through any plain
  ``float`` field).

Scalars are typed by ruamel's YAML 1.2 resolver; dates are kept as the text written (``start``
parses ISO date-times itself), so the data is JSON-able as it stands.
"""

from __future__ import annotations

import difflib
import io
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError

from eventforge.errors import Problem, ScenarioError, UsageError
from eventforge.scenario.document import Document, KeyPath, dotted, show
from eventforge.scenario.library import builtin_scenarios

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "load_document",
    "locate_source",
    "parse_document",
    "parse_value",
]

#: Largest scenario file accepted; real ones are a few kilobytes.
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and lists accepted; real scenarios nest about 5 deep.
MAX_DEPTH = 64
#: The walk stops after this many problems: a broken generated file must not flood the terminal.
_MAX_PROBLEMS = 100

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP = _CORE + "timestamp"
_MERGE = _CORE + "merge"
_MAP, _SEQ = _CORE + "map", _CORE + "seq"
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})
#: Explicit tags a value may carry -> the implicit types its text must resolve to.
_TAG_ACCEPTS = {_INT: {_INT}, _FLOAT: {_INT, _FLOAT}, _BOOL: {_BOOL}, _NULL: {_NULL}}


def locate_source(source: str | os.PathLike[str]) -> tuple[Path, str, str]:
    """The file to read for ``source``, the name to report its problems under, and its label
    for :attr:`Scenario.source` (the path as given, or ``builtin:<name>``).

    An existing path wins over a built-in scenario of the same name; a bare name that is neither
    raises :class:`UsageError` listing the built-ins.
    """
    text = os.fspath(source)
    path = Path(text)
    if os.path.lexists(text):
        return path, text, text
    builtins = builtin_scenarios()
    if text in builtins:
        return builtins[text], str(builtins[text]), f"builtin:{text}"
    hint = ""
    if os.sep not in text and not path.suffix:
        close = difflib.get_close_matches(text, builtins, n=1)
        known = ", ".join(builtins) or "none"
        did_you_mean = f"did you mean {close[0]!r}? " if close else ""
        hint = f" and no built-in scenario of that name ({did_you_mean}built-ins: {known})"
    raise UsageError(f"{text}: no such file{hint}")


def _read_text(path: Path, file: str) -> str:
    """The file's text; :class:`UsageError` for anything that is not a readable regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except OSError as err:
        raise UsageError(f"{file}: cannot read: {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{file}: is a directory, not a scenario file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{file}: not a regular file (a FIFO, device or socket is no scenario)")
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since stat(), open() must not wait
        # for a writer; fstat below then refuses it.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags)
    except OSError as err:
        raise UsageError(f"{file}: cannot read: {err.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{file}: not a regular file")
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ScenarioError(
            [Problem(file, None, "", f"file is larger than {MAX_BYTES} bytes; is it a scenario?")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        byte = raw[err.start]
        raise ScenarioError(
            [Problem(file, line, "", f"not UTF-8 text (byte 0x{byte:02x} at offset {err.start})")]
        ) from None


def load_document(source: str | os.PathLike[str]) -> tuple[Document, str]:
    """Locate, read and parse a scenario; returns the document and its ``source`` label
    (the path as given, or ``builtin:<name>``)."""
    path, file, label = locate_source(source)
    return parse_document(_read_text(path, file), file), label


def parse_document(text: str, file: str) -> Document:
    """Parse a scenario's text; raises :class:`ScenarioError` with every problem found."""
    walk = _Walk(file)
    walk.run(text)
    if not walk.problems and not walk.has_root:
        walk.problems.append(
            Problem(file, None, "", "the file is empty (expected a mapping of scenario keys)")
        )
    elif not walk.problems and not isinstance(walk.root, dict):
        walk.problems.append(
            Problem(
                file,
                walk.lines.get(()),
                "",
                f"the top level must be a mapping of scenario keys (got {show(walk.root)})",
            )
        )
    if walk.problems:
        raise ScenarioError(walk.problems)
    return Document(file, walk.root, walk.lines)


def parse_value(text: str, file: str) -> tuple[Any, list[Problem]]:
    """A ``--set`` value parsed by the same rules: ``"20/h"`` -> str, ``"3"`` -> int,
    ``"[1, 2]"`` -> list, ``"true"`` -> bool, ``""`` -> None."""
    walk = _Walk(file)
    walk.run(text)
    return walk.root, walk.problems


class _Skip:
    """The pending key of a mapping whose key was refused: its value is parsed, then dropped."""


_SKIP = _Skip()


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: KeyPath
    #: For a mapping: the key whose value comes next, or None while a key is expected.
    key: str | _Skip | None = None
    first_line: dict[str, int] = field(default_factory=dict)


class _Stop(Exception):
    """Raised inside the walk when going on would be unsafe or pointless."""


class _Walk:
    """Builds plain data from ruamel's event stream, checking each event as it arrives."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[KeyPath, int] = {}
        self.root: Any = None
        self.has_root = False
        self._stack: list[_Frame] = []
        self._documents = 0
        self._anchor_lines: set[int] = set()
        self._yaml = YAML(typ="safe", pure=True)

    def run(self, text: str) -> None:
        try:
            self._consume(self._yaml.parse(io.StringIO(text)))
        except _Stop:
            pass
        except MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            detail = err.problem or err.context or "syntax error"
            self._problem(None if mark is None else mark.line + 1, f"invalid YAML: {detail}")
        except ReaderError as err:
            line = text[: err.position].count("\n") + 1
            self._problem(line, f"invalid YAML: {str(err).splitlines()[0]}")
        except YAMLError as err:
            self._problem(None, f"invalid YAML: {str(err).splitlines()[0]}")

    def _problem(self, line: int | None, message: str, path: KeyPath | None = None) -> None:
        where = self._here() if path is None else path
        self.problems.append(Problem(self.file, line, dotted(where), message))
        if len(self.problems) >= _MAX_PROBLEMS:
            self.problems.append(Problem(self.file, line, "", "too many problems; stopped here"))
            raise _Stop

    def _here(self) -> KeyPath:
        """The path the next node will get."""
        if not self._stack:
            return ()
        top = self._stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if isinstance(top.key, str):
            return (*top.path, top.key)
        return top.path

    def _consume(self, events: Iterable[Event]) -> None:
        for event in events:
            line = event.start_mark.line + 1
            if isinstance(event, DocumentStartEvent):
                self._documents += 1
                if self._documents > 1:
                    self._problem(line, "a scenario file holds one YAML document; found another")
                    raise _Stop
                if event.version not in (None, (1, 2)):
                    version = ".".join(map(str, event.version))
                    self._problem(line, f"only YAML 1.2 is accepted (got %YAML {version})")
                    raise _Stop
            elif isinstance(event, NodeEvent):
                self._node(event, line)
            elif isinstance(event, CollectionEndEvent):
                self._end()

    def _node(self, event: NodeEvent, line: int) -> None:
        if event.anchor is not None and line not in self._anchor_lines:
            # One problem per line: a line of aliases is one mistake, not many.
            self._anchor_lines.add(line)
            sign = "*" if isinstance(event, AliasEvent) else "&"
            self._problem(line, f"anchors and aliases are not allowed (got {sign}{event.anchor})")
        if isinstance(event, AliasEvent):
            self._place(None, line)
        elif isinstance(event, ScalarEvent):
            self._scalar(event, line)
        elif isinstance(event, CollectionStartEvent):
            self._start(event, line)

    def _check_tag(self, tag: str | None, allowed: frozenset[str], line: int) -> None:
        if tag is not None and tag not in allowed:
            written = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
            self._problem(
                line,
                f"tag {written} is not allowed (plain YAML only: strings, numbers, booleans, "
                "null, lists and mappings)",
            )

    def _start(self, event: CollectionStartEvent, line: int) -> None:
        is_map = isinstance(event, MappingStartEvent)
        self._check_tag(event.tag, frozenset({_MAP if is_map else _SEQ}), line)
        if len(self._stack) >= MAX_DEPTH:
            # Named by its first levels only: the full path would be a line of 64 keys.
            self._problem(line, f"nested deeper than {MAX_DEPTH} levels", self._here()[:3])
            raise _Stop
        container: dict[str, Any] | list[Any] = {} if is_map else []
        top = self._stack[-1] if self._stack else None
        if top is not None and isinstance(top.container, dict) and top.key is None:
            # A mapping or list used as a key (``? [a, b]``): refused, its contents skipped.
            self._problem(line, f"keys must be strings (got {'a mapping' if is_map else 'a list'})")
            top.key = _SKIP
            self._stack.append(_Frame(container, top.path, _SKIP))
            return
        path = self._place(container, line)
        self._stack.append(_Frame(container, path))

    def _end(self) -> None:
        self._stack.pop()

    def _scalar(self, event: ScalarEvent, line: int) -> None:
        tag = event.tag
        self._check_tag(tag, _SCALAR_TAGS, line)
        value = self._construct(event, line)
        top = self._stack[-1] if self._stack else None
        if top is None or not isinstance(top.container, dict) or top.key is not None:
            self._place(value, line)
            return
        # A key.
        if not isinstance(value, str) or self._resolve(event) == _MERGE:
            rule = "merge keys (<<) are not allowed" if value == "<<" else "keys must be strings"
            self._problem(line, f"{rule} (got {show(value)})")
            top.key = _SKIP
        elif value in top.first_line:
            self._problem(
                line,
                f"duplicate key (first at line {top.first_line[value]})",
                (*top.path, value),
            )
            top.key = _SKIP
        else:
            top.first_line[value] = line
            top.key = value

    def _resolve(self, event: ScalarEvent) -> str:
        if event.tag is not None:
            return event.tag
        return self._implicit(event.value, event.implicit)

    def _implicit(self, text: str, implicit: tuple[bool, bool]) -> str:
        # ruamel returns a Tag object; str() it, since Tags do not hash like their text.
        return str(self._yaml.resolver.resolve(ScalarNode, text, implicit))

    def _construct(self, event: ScalarEvent, line: int) -> Any:
        """The Python value of a scalar; only core types reach here (tags checked first)."""
        text: str = event.value
        tag = self._resolve(event)
        explicit = event.tag
        if (
            explicit in _TAG_ACCEPTS
            and self._implicit(text, (True, False)) not in _TAG_ACCEPTS[explicit]
        ):
            self._problem(line, f"{text!r} is not a valid !!{explicit[len(_CORE) :]}")
            return text
        if tag == _NULL:
            return None
        node = ScalarNode(tag, text)
        try:
            if tag == _BOOL:
                return bool(self._yaml.constructor.construct_yaml_bool(node))
            if tag == _INT:
                return int(self._yaml.constructor.construct_yaml_int(node))
            if tag == _FLOAT:
                number = float(self._yaml.constructor.construct_yaml_float(node))
                if not math.isfinite(number):
                    self._problem(line, f"numbers must be finite (got {text})")
                return number
        except ValueError as err:  # e.g. an int of more digits than Python converts
            self._problem(line, f"not a valid number: {str(err)[:80]}")
            return text
        return text  # str, timestamps (kept as written), merge-key text (refused as a key)

    def _place(self, value: Any, line: int) -> KeyPath:
        """Store a finished node where the stack expects it; returns its path."""
        if not self._stack:
            self.root, self.has_root = value, True
            self.lines[()] = line
            return ()
        top = self._stack[-1]
        if isinstance(top.container, list):
            path = (*top.path, len(top.container))
            top.container.append(value)
            self.lines[path] = line
            return path
        key, top.key = top.key, None
        if not isinstance(key, str):
            return top.path  # the value of a refused key: dropped
        path = (*top.path, key)
        top.container[key] = value
        self.lines[path] = top.first_line[key]
        return path
