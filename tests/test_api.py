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


def test_listing_and_validating_models_imports_neither_mesa_nor_pandas() -> None:
    # Mesa brings SciPy, pandas and networkx (~0.8 s): only runs of Mesa models need it, and
    # only reading a dataset needs pandas (through pyarrow.dataset).
    code = (
        "import sys, eventforge as ef\n"
        "from eventforge.simulators import get_simulator, model_names\n"
        "for name in model_names():\n"
        "    get_simulator(name)\n"
        "ef.load_scenario('payments')\n"
        "ef.load_scenario('epidemic')\n"
        "assert 'mesa' not in sys.modules and 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
