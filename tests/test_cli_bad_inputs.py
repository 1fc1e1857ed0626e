"""Bad input at the command line: exit 2, one located line per problem, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventforge.cli import main
from eventforge.simulators.base import Simulator
from tests.test_scenario_bad_inputs import BAD_CASES, BAD_DIR


def _run_refused(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main([*argv, "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert not out.exists(), "a refused run wrote something"
    return captured.err.strip().splitlines()


@pytest.mark.parametrize(("name", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scenario_file(
    name: str,
    expected: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_model: type[Simulator],
) -> None:
    lines = _run_refused(["run", str(BAD_DIR / name)], tmp_path / "out", capsys)
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.search(pattern, line), (pattern, line)
    assert main(["validate", str(BAD_DIR / name)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == lines


GOOD_ARRIVALS = """\
name: shop
model: arrivals
seed: 1
horizon: 2d
params:
  entities: 100
  rate: 2/h
  types:
    view: {probability: 0.9, median_amount: 10.0, amount_sigma: 1.0}
    buy: {probability: 0.1, median_amount: 50.0, amount_sigma: 0.5}
"""

# (replacement of a line of GOOD_ARRIVALS, the problem line it must produce)
MODEL_CASES = [
    ("  rate: 2/h", "  rate: -2/h", r"shop\.yaml:7: params\.rate: .*(> 0|greater than 0)"),
    ("  rate: 2/h", "  rate: .nan", r"shop\.yaml:7: params\.rate: .*nan"),
    ("  rate: 2/h", "  rate: 2 per hour", r"shop\.yaml:7: params\.rate: .*not a rate"),
    ("  entities: 100", "  entities: 0", r"shop\.yaml:6: params\.entities: .*(>= 1|1)"),
    ("  entities: 100", "  entities: true", r"shop\.yaml:6: params\.entities: .*integer"),
    (
        "  rate: 2/h",
        "  rate: 2/h\n  activty_cv: 1",
        r"shop\.yaml:8: params\.activty_cv: .*mean 'activity_cv'",
    ),
    ("probability: 0.1,", "probability: 0.3,", r"shop\.yaml:8: params\.types: .*sum to 1"),
    (
        "  rate: 2/h",
        "  rate: 2/h\n  daily_profile: [1, 2]",
        r"shop\.yaml:8: params\.daily_profile: must have at least 24 item\(s\) \(got 2 items\)",
    ),
    ("horizon: 2d", "horizon: -2d", r"shop\.yaml:4: horizon: .*(> 0|greater than 0)"),
    ("model: arrivals", "model: arivals", r"shop\.yaml:2: model: .*did you mean 'arrivals'"),
]


@pytest.mark.parametrize(("old", "new", "pattern"), MODEL_CASES, ids=[c[1] for c in MODEL_CASES])
def test_bad_value_for_a_real_model(
    old: str, new: str, pattern: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.yaml"
    assert old in GOOD_ARRIVALS
    path.write_text(GOOD_ARRIVALS.replace(old, new))
    lines = _run_refused(["run", str(path)], tmp_path / "out", capsys)
    assert len(lines) == 1, lines
    assert re.search(pattern, lines[0]), (pattern, lines[0])


def test_the_good_file_runs(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD_ARRIVALS)
    assert main(["run", str(path), "-o", str(tmp_path / "out"), "--quiet"]) == 0


def test_several_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.yaml"
    text = GOOD_ARRIVALS.replace("rate: 2/h", "rate: -2/h").replace("entities: 100", "entities: 0")
    path.write_text(text.replace("horizon: 2d", "horizon: soon"))
    lines = _run_refused(["run", str(path)], tmp_path / "out", capsys)
    assert [line.split(":")[1] for line in lines] == ["4", "6", "7"]


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["run", "arrivals", "--set", "params.rate"], r"KEY=VALUE|="),
        (["run", "arrivals", "--set", "params.nope=1"], r"params\.nope"),
        (["run", "arrivals", "--workers", "0"], r"--workers must be >= 1"),
        (["run", "arrivals", "--replications", "0"], r"replications"),
        (["run", "arrivals", "--seed", "-1"], r"seed"),
        (["run", "arrivals", "--executor", "threads"], r"invalid choice"),
        (["run", "arrivals", "--overwrite", "--resume"], r"not allowed with"),
    ],
)
def test_bad_arguments(
    argv: list[str], pattern: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    try:
        code = main([*argv, "-o", str(out)])
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(pattern, err[0]), err
    assert not out.exists()


def test_output_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["run", "arrivals", "-o", str(target), "--quiet"]) == 2
    assert "taken" in capsys.readouterr().err
    assert target.read_text() == "x"
