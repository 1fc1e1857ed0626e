"""The public surface: explicit, sorted, documented, and free of import-time side effects."""

from __future__ import annotations

import subprocess
import sys

import eventforge as ef


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert list(ef.__all__) == sorted(ef.__all__, key=_isort_key)
    for name in ef.__all__:
        assert hasattr(ef, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in ef.__all__:
        obj = getattr(ef, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_import_loads_no_model_and_compiles_nothing() -> None:
    code = (
        "import sys, eventforge\n"
        "models = [m for m in sys.modules if m.startswith('eventforge.simulators.')]\n"
        "assert models == ['eventforge.simulators.base'], models\n"
        "assert 'mesa' not in sys.modules and 'simpy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
