"""The command line end to end: every built-in scenario, exit codes, bad input, the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

import eventforge as ef
from eventforge.cli import main
from eventforge.scenario.library import builtin_scenarios

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = sorted(builtin_scenarios())


def test_every_model_has_a_builtin_scenario() -> None:
    assert set(ef.model_names()) <= set(BUILTIN)


#: Built-in scenarios too large to run in full here, shortened (the full runs are the
#: benchmarks'): payments writes ~1.3 x 10^7 events in 90 days.
SHORTER = {
    "payments": ["--set", "horizon=10d"],
    "mobile_money": ["--set", "horizon=10d"],
    "aml_network": ["--set", "horizon=7d", "--set", "params.customers.size=20000"],
}


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_scenario_runs_checks_and_reads_back(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    assert main(["run", name, "-o", str(out), "--workers", "2", *SHORTER.get(name, [])]) == 0
    assert "events in" in capsys.readouterr().out
    assert main(["check", str(out)]) == 0
    assert "ok" in capsys.readouterr().out
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    frame = pd.read_parquet(out)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert table.num_rows == len(frame) == manifest["rows"] > 0
    sc = ef.load_scenario(name)
    if sc.resolved.get("rare_events"):
        # a built-in scenario that configures rare episodes shows them, labelled
        assert frame["rare"].any(), "rare episodes configured but none labelled"
        assert frame.loc[frame["rare"], "rare_kind"].notna().all()
    assert set(frame["event"].astype(str)) <= set(ef.get_simulator(sc.model).spec.vocabulary)


def test_validate_list_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *[str(p) for p in builtin_scenarios().values()]]) == 0
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in [*ef.model_names(), *BUILTIN]:
        assert re.search(rf"^\s+{re.escape(name)}\s", listed, re.M), name
    for model in ef.model_names():
        assert main(["schema", model]) == 0
        schema = json.loads(capsys.readouterr().out)
        assert "params" in schema["properties"]
    assert main(["schema"]) == 0
    assert len(json.loads(capsys.readouterr().out)["oneOf"]) == len(ef.model_names())


def test_unknown_model_and_unknown_scenario_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "arrivalz"]) == 2
    assert "did you mean 'arrivals'" in capsys.readouterr().err
    assert main(["run", "no-such-scenario-or-file"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-scenario-or-file" in err[0]


def test_existing_outputs_are_protected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    args = ["run", "arrivals", "-o", str(out), "--set", "horizon=1d", "--quiet"]
    assert main(args) == 0
    manifest = (out / "_manifest.json").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "_manifest.json").read_bytes() == manifest
    assert main([*args, "--overwrite"]) == 0
    # a folder that is not a dataset is never replaced, even with --overwrite
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["run", "arrivals", "-o", str(foreign), "--overwrite", "--quiet"]) == 2
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_check_reports_a_tampered_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    assert main(["run", "arrivals", "-o", str(out), "--set", "horizon=1d", "--quiet"]) == 0
    part = next(out.glob("point=0/rep-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    assert main(["check", str(out)]) == 1
    assert "sha256" in capsys.readouterr().out
    (out / "_manifest.json").unlink()
    assert main(["check", str(out)]) == 1
    assert "incomplete" in capsys.readouterr().err


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", quick)


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    install_and_run, test = _readme_commands()
    assert "eventforge run" in install_and_run
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_generate_command_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_and_run = _readme_commands()[0]
    argv = install_and_run.split("python -m eventforge ", 1)[1].split()
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--quiet"]) == 0
    assert (tmp_path / argv[argv.index("-o") + 1] / "_manifest.json").is_file()


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.+?)```", text, re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    report = namespace["report"]
    assert isinstance(report, ef.CheckReport) and report.ok
