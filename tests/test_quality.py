"""The repository's own gate: lint, format and types, pinned in the test extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_check() -> None:
    _run("ruff", "check", "eventforge", "tests", "benchmarks")


def test_ruff_format() -> None:
    _run("ruff", "format", "--check", "eventforge", "tests", "benchmarks")


def test_mypy() -> None:
    _run("mypy", "eventforge")
