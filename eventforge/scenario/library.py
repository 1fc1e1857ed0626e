"""The built-in scenario library: the YAML files of ``scenarios/``, runnable by name.

In a source checkout the files are read from the top-level ``scenarios/`` folder; an installed
wheel carries the same files as the package data ``eventforge/_scenarios`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["builtin_scenarios", "scenario_dir"]

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def scenario_dir() -> Path:
    """The folder holding the built-in scenarios of this installation."""
    installed = _PACKAGE_ROOT / "_scenarios"
    if installed.is_dir():
        return installed
    return _PACKAGE_ROOT.parent / "scenarios"


def builtin_scenarios() -> dict[str, Path]:
    """Built-in scenario name (file stem) -> path, sorted by name."""
    folder = scenario_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}
