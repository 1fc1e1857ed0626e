"""``--set KEY.PATH=VALUE``: change any key of a scenario from the command line.

The value is read by the same safe YAML rules as the file (``20/h`` is a string, ``3`` an int,
``[1, 2]`` a list, ``true`` a boolean), and is then validated with everything else, so an
override can create a key only for validation to reject it as unknown. Problems of an override
name the scenario file and the override's key, with no line: the value is not in the file.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventforge.errors import Problem
from eventforge.scenario.document import Document, KeyPath
from eventforge.scenario.loader import parse_value

__all__ = ["apply_overrides", "override_path"]

_EXAMPLE = "expected KEY.PATH=VALUE, e.g. params.arrivals.rate=20/h"


def override_path(key: str) -> KeyPath | None:
    """``"params.arrivals.rate"`` -> ``("params", "arrivals", "rate")``; None if malformed.

    Sweep keys are themselves dotted paths, so ``sweep.params.rate`` is the key ``params.rate``
    of ``sweep``, not a nested mapping.
    """
    head, _, rest = key.partition(".")
    if head == "sweep" and rest:
        steps = rest.split(".")
        return None if "" in steps else ("sweep", rest)
    steps = key.split(".")
    return None if "" in steps else tuple(steps)


def apply_overrides(doc: Document, overrides: Sequence[str]) -> list[Problem]:
    """Apply ``--set`` strings to ``doc`` in order (a later one wins); returns their problems."""
    problems: list[Problem] = []
    for text in overrides:
        key, sep, raw = text.partition("=")
        key = key.strip()
        origin = f"--set {text}"
        path = override_path(key) if sep else None
        if path is None:
            problems.append(Problem(doc.file, None, key or text, f"{origin}: {_EXAMPLE}"))
            continue
        value, found = parse_value(raw, doc.file)
        if found:
            problems.extend(Problem(doc.file, None, key, f"{origin}: {p.message}") for p in found)
            continue
        error = doc.override(path, value, origin)
        if error is not None:
            problems.append(Problem(doc.file, None, key, f"{origin}: {error}"))
    return problems
