"""Bad-scenario cases written as edits of one valid base file, and the check every such case
must pass: the loader reports each expected problem at its key's line, and ``eventforge
validate`` exits 2 printing those same lines (no traceback)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventforge.cli import main
from eventforge.errors import ScenarioError
from eventforge.scenario import load_scenario


def write_edited(base: str, tmp_path: Path, name: str, edits: dict[str, str]) -> Path:
    """``base`` with each whole line ``old`` replaced by ``new``, written to ``NAME.yaml``."""
    lines = base.splitlines()
    for old, new in edits.items():
        assert old in lines, old
        lines[lines.index(old)] = new
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_refused(path: Path, expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Loading ``path`` raises exactly the ``expected`` problem lines (regexes searched after
    the file name, in order), and ``eventforge validate`` prints them and exits 2."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = info.value.lines()
    assert len(lines) == len(expected), "\n".join(lines)
    for line, pattern in zip(lines, expected, strict=True):
        assert re.search(re.escape(str(path)) + pattern, line), f"{pattern!r} not in {line!r}"
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == lines and "Traceback" not in err
