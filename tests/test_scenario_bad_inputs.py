"""Bad scenario files, paths and overrides: each refused with every problem at its line.

``BAD_CASES`` lists the files of ``tests/data/bad_scenarios/`` with the problem lines each must
produce, in the order :class:`ScenarioError` sorts them (file, line, key, message); each regex is
searched in its line. The files use the ``fake`` model of ``conftest.py`` (fixture
``fake_model``), so CLI tests can reuse the table: ``eventforge validate FILE`` must exit 2 with
these lines on stderr.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from eventforge.errors import ScenarioError, UsageError
from eventforge.scenario import load_scenario
from eventforge.scenario.loader import MAX_BYTES, MAX_DEPTH
from eventforge.simulators.base import Simulator

BAD_DIR = Path(__file__).parent / "data" / "bad_scenarios"

_TAG_RULE = r"is not allowed \(plain YAML only"
_TOP_KEYS = r"known keys: description, horizon, model, name, output, params, rare_events"

BAD_CASES: list[tuple[str, list[str]]] = [
    # --- the parser: safety -------------------------------------------------------------------
    ("anchor_alias.yaml", [
        r"anchor_alias\.yaml:5: params\.arrivals: anchors and aliases are not allowed \(got &a\)",
        r"anchor_alias\.yaml:7: rare_events: anchors and aliases are not allowed \(got \*a\)",
    ]),
    ("billion_laughs.yaml", [
        rf"billion_laughs\.yaml:{n}: lol{'' if n == 4 else n - 4}: anchors and aliases are not "
        rf"allowed \(got &l{n - 4}\)"
        for n in range(4, 14)
    ]),
    ("python_tag.yaml", [
        rf"python_tag\.yaml:6: params\.arrivals\.rate: tag !!python/object/apply:os\.system "
        rf"{_TAG_RULE}",
    ]),
    ("custom_tag.yaml", [rf"custom_tag\.yaml:7: description: tag !include {_TAG_RULE}"]),
    ("binary_tag.yaml", [rf"binary_tag\.yaml:7: description: tag !!binary {_TAG_RULE}"]),
    ("bad_explicit_int.yaml", [
        r"bad_explicit_int\.yaml:7: params\.servers: 'two' is not a valid !!int",
    ]),
    ("merge_key.yaml", [r"merge_key\.yaml:5: params: merge keys \(<<\) are not allowed"]),
    ("dup_key.yaml", [r"dup_key\.yaml:7: params: duplicate key \(first at line 4\)"]),
    ("dup_nested_key.yaml", [
        r"dup_nested_key\.yaml:8: params\.arrivals\.rate: duplicate key \(first at line 6\)",
    ]),
    ("deep_block.yaml", [
        rf"deep_block\.yaml:{MAX_DEPTH + 4}: params\.k0\.k1: nested deeper than {MAX_DEPTH} levels",
    ]),
    ("deep_flow.yaml", [rf"deep_flow\.yaml:4: params\.0\.0: nested deeper than {MAX_DEPTH}"]),
    ("non_string_keys.yaml", [
        r"non_string_keys\.yaml:7: params: keys must be strings \(got 1\)",
        r"non_string_keys\.yaml:8: params: keys must be strings \(got null\)",
        r"non_string_keys\.yaml:9: params: keys must be strings \(got true\)",
    ]),
    ("complex_key.yaml", [r"complex_key\.yaml:7: <top>: keys must be strings \(got a list\)"]),
    ("nan_inf.yaml", [
        r"nan_inf\.yaml:6: params\.arrivals\.rate: numbers must be finite \(got \.nan\)",
        r"nan_inf\.yaml:7: params\.arrivals\.burst: numbers must be finite \(got -\.inf\)",
        r"nan_inf\.yaml:8: params\.levels\.1: numbers must be finite \(got 1e999\)",
    ]),
    # --- the parser: text and structure ---------------------------------------------------------
    ("not_utf8.yaml", [r"not_utf8\.yaml:7: <top>: not UTF-8 text \(byte 0xe9 at offset 85\)"]),
    ("control_char.yaml", [
        r"control_char\.yaml:7: <top>: invalid YAML: unacceptable character #x0007",
    ]),
    ("empty.yaml", [r"empty\.yaml: <top>: the file is empty"]),
    ("comments_only.yaml", [r"comments_only\.yaml: <top>: the file is empty"]),
    ("top_list.yaml", [
        r"top_list\.yaml:1: <top>: the top level must be a mapping .*\(got a list\)",
    ]),
    ("top_scalar.yaml", [
        r"top_scalar\.yaml:2: <top>: the top level must be a mapping .*\(got 'just some words'\)",
    ]),
    ("syntax_error.yaml", [
        r"syntax_error\.yaml:6: params\.arrivals: invalid YAML: expected ',' or '}'",
    ]),
    ("bad_indent.yaml", [r"bad_indent\.yaml:7: params: invalid YAML: expected <block end>"]),
    ("two_documents.yaml", [r"two_documents\.yaml:7: <top>: a scenario file holds one YAML doc"]),
    ("yaml_1_1.yaml", [r"yaml_1_1\.yaml:2: <top>: only YAML 1\.2 is accepted \(got %YAML 1\.1\)"]),
    # --- top-level keys -------------------------------------------------------------------------
    ("missing_keys.yaml", [
        r"missing_keys\.yaml:1: horizon: required key is missing",
        r"missing_keys\.yaml:1: model: required key is missing",
        r"missing_keys\.yaml:1: name: required key is missing",
    ]),
    ("unknown_top_key.yaml", [
        r"unknown_top_key\.yaml:1: horizon: required key is missing",
        rf"unknown_top_key\.yaml:3: horizn: unknown key 'horizn' \(did you mean 'horizon'\? "
        rf"{_TOP_KEYS}",
    ]),
    ("unknown_model.yaml", [
        r"unknown_model\.yaml:2: model: unknown model 'fak' \(did you mean 'fake'\?\); known "
        r"models: .*fake",
        rf"unknown_model\.yaml:4: foo: unknown key 'foo' \({_TOP_KEYS}",
    ]),
    ("bad_name.yaml", [r"bad_name\.yaml:1: name: must match .* \(got 'my scenario'\)"]),
    ("bad_seed.yaml", [
        r"bad_seed\.yaml:4: seed: must be <= 9223372036854775807 \(got 9223372036854775808\)",
    ]),
    ("negative_seed.yaml", [
        r"negative_seed\.yaml:4: seed: must be >= 0 \(got -1\)",
        r"negative_seed\.yaml:5: replications: must be >= 1 \(got 0\)",
    ]),
    ("bad_start.yaml", [
        r"bad_start\.yaml:4: start: not an ISO date-time: 'tomorrow morning'",
    ]),
    ("bad_time_unit.yaml", [
        r"bad_time_unit\.yaml:4: time_unit: must be one of 'us', .* or 'w' \(got 'hours'\)",
    ]),
    ("zero_horizon.yaml", [r"zero_horizon\.yaml:3: horizon: must be > 0 \(got '0h'\)"]),
    ("bad_output.yaml", [
        r"bad_output\.yaml:8: output\.compression: must be one of 'zstd', .* \(got 'brotli'\)",
        r"bad_output\.yaml:9: output\.row_group_rows: must be >= 1024 \(got 10\)",
        r"bad_output\.yaml:10: output\.path: must be a string \(got 5\)",
    ]),
    ("bad_output_level.yaml", [
        r"bad_output_level\.yaml:9: output\.compression_level: a level applies to zstd and gzip "
        r"only \(got 3 with 'snappy'\)",
    ]),
    # --- params -----------------------------------------------------------------------------------
    ("params_not_mapping.yaml", [
        r"params_not_mapping\.yaml:4: params: must be a mapping \(got a list\)",
    ]),
    ("unknown_param_key.yaml", [
        r"unknown_param_key\.yaml:5: params\.arrivals\.rate: required key is missing",
        r"unknown_param_key\.yaml:6: params\.arrivals\.rat: unknown key 'rat' \(did you mean "
        r"'rate'\? known keys: burst, rate\)",
        r"unknown_param_key\.yaml:7: params\.server: unknown key 'server' \(did you mean "
        r"'servers'\?",
    ]),
    ("negative_rate.yaml", [
        r"negative_rate\.yaml:6: params\.arrivals\.rate: must be > 0 \(got '-3/h'\)",
    ]),
    ("bad_units.yaml", [
        r"bad_units\.yaml:6: params\.arrivals\.rate: not a rate: '3/fortnight'",
        r"bad_units\.yaml:9: params\.stations\.desk\.service: not a duration: '5 minutes'",
    ]),
    ("bool_for_int.yaml", [
        r"bool_for_int\.yaml:4: replications: must be an integer \(got true\)",
        r"bool_for_int\.yaml:8: params\.servers: must be an integer \(got false\)",
    ]),
    ("string_for_number.yaml", [
        r"string_for_number\.yaml:7: params\.arrivals\.burst: must be a number \(got '0\.5'\)",
        r"string_for_number\.yaml:8: params\.servers: must be an integer \(got '2'\)",
    ]),
    ("probability_range.yaml", [
        r"probability_range\.yaml:7: params\.arrivals\.burst: must be <= 1\.0 \(got 1\.5\)",
        r"probability_range\.yaml:9: rare_events\.fraud_rate: must be >= 0\.0 \(got -0\.1\)",
    ]),
    ("many_problems.yaml", [
        r"many_problems\.yaml:3: horizon: must be > 0 \(got '-1h'\)",
        r"many_problems\.yaml:4: replications: must be >= 1 \(got 0\)",
        r"many_problems\.yaml:7: params\.arrivals\.rate: must be > 0 \(got '0/h'\)",
        r"many_problems\.yaml:8: params\.arrivals\.burst: must be <= 1\.0 \(got 2\)",
        r"many_problems\.yaml:9: params\.servers: must be >= 1 \(got 0\)",
        r"many_problems\.yaml:10: params\.levels\.1: must be >= 0\.0 \(got -2\)",
        r"many_problems\.yaml:11: extra: unknown key 'extra'",
    ]),
    # --- sweeps -----------------------------------------------------------------------------------
    ("sweep_unsweepable.yaml", [
        r"sweep_unsweepable\.yaml:8: sweep\.seed: 'seed' cannot be swept: only keys under params",
        r"sweep_unsweepable\.yaml:9: sweep\.horizon: 'horizon' cannot be swept",
    ]),
    ("sweep_unknown_key.yaml", [
        r"sweep_unknown_key\.yaml:8: sweep\.params\.arrivals\.rte: unknown key 'rte' \(did you "
        r"mean 'rate'\? known keys: burst, rate\) in params\.arrivals",
    ]),
    ("sweep_empty_list.yaml", [
        r"sweep_empty_list\.yaml:8: sweep\.params\.servers: must have at least 1 item\(s\) \(got "
        r"an empty list\)",
    ]),
    ("sweep_bad_point.yaml", [
        r"sweep_bad_point\.yaml:10: params\.arrivals\.rate: sweep point 2 \(params\.arrivals\."
        r"rate=-1/h, params\.servers=1\): must be > 0 \(got '-1/h'\)",
        r"sweep_bad_point\.yaml:10: params\.arrivals\.rate: sweep point 3 \(params\.arrivals\."
        r"rate=-1/h, params\.servers=2\): must be > 0",
    ]),
    ("sweep_too_big.yaml", [
        r"sweep_too_big\.yaml:7: sweep: the grid has 100000 points \(at most 10000\)",
    ]),
]  # fmt: skip


def _assert_lines(err: ScenarioError, expected: list[str]) -> None:
    lines = err.lines()
    assert len(lines) == len(expected), "\n".join(lines)
    for line, pattern in zip(lines, expected, strict=True):
        assert re.search(pattern, line), f"{pattern!r} not in {line!r}"


@pytest.mark.parametrize(("name", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_reports_every_problem_at_its_line(
    fake_model: type[Simulator], name: str, expected: list[str]
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BAD_DIR / name)
    _assert_lines(info.value, expected)


def test_every_bad_file_is_in_the_table() -> None:
    on_disk = sorted(p.name for p in BAD_DIR.glob("*.yaml"))
    assert on_disk == sorted(name for name, _ in BAD_CASES)


def _write(tmp_path: Path, text: str | bytes, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD = "name: ok\nmodel: fake\nhorizon: 2d\nparams:\n  arrivals:\n    rate: 12/h\n"


# --- paths that are no scenario file ------------------------------------------------------------


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(UsageError, match=rf"{re.escape(str(missing))}: no such file"):
        load_scenario(missing)


def test_unknown_bare_name_lists_the_builtins() -> None:
    with pytest.raises(UsageError, match=r"no-such-scenario: no such file and no built-in"):
        load_scenario("no-such-scenario")


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"is a directory, not a scenario file"):
        load_scenario(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(UsageError, match=r"pipe\.yaml: not a regular file"):
        load_scenario(fifo)


def test_device_is_refused_without_reading_forever() -> None:
    with pytest.raises(UsageError, match=r"/dev/zero: not a regular file"):
        load_scenario("/dev/zero")


def test_file_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    # Valid YAML padded with a comment: the size alone must refuse it, before parsing.
    path = _write(tmp_path, GOOD + "#" + "x" * MAX_BYTES + "\n")
    with pytest.raises(ScenarioError, match=rf"bad\.yaml: <top>: file is larger than {MAX_BYTES}"):
        load_scenario(path)


def test_file_at_the_size_limit_is_read(tmp_path: Path, fake_model: type[Simulator]) -> None:
    path = _write(tmp_path, GOOD + "#" + "x" * (MAX_BYTES - len(GOOD) - 2) + "\n")
    assert path.stat().st_size == MAX_BYTES
    assert load_scenario(path).name == "ok"


# --- nesting far beyond the limit: refused at the limit, not by a RecursionError ----------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        "{a: " * 100_000 + "}" * 100_000,
        "".join(" " * i + "a:\n" for i in range(1_200)),  # 0.7 MB: under the size limit
        "- " * 50_000 + "x\n",
    ],
    ids=["flow-lists", "flow-maps", "block-maps", "block-lists"],
)
def test_deep_nesting_is_refused_cleanly(tmp_path: Path, body: str) -> None:
    with pytest.raises(ScenarioError, match=rf"nested deeper than {MAX_DEPTH} levels"):
        load_scenario(_write(tmp_path, body))


def test_problems_are_capped(tmp_path: Path) -> None:
    body = "".join(f"{i}: x\n" for i in range(500))  # 500 integer keys
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, body))
    lines = info.value.lines()
    assert len(lines) == 101
    assert any(
        re.search(r"bad\.yaml:100: <top>: too many problems; stopped here", x) for x in lines
    )


# --- overrides and arguments ----------------------------------------------------------------------


def test_override_problems_name_the_file_and_key_without_a_line(
    tmp_path: Path, fake_model: type[Simulator]
) -> None:
    path = _write(tmp_path, GOOD + "  levels: []\n")
    overrides = [
        "params.arrivals.rate=-3/h",  # invalid value
        "params.arrivals.rte=3/h",  # creates a key, then rejected as unknown
        "name.first=x",  # into a string
        "params.levels.2=1",  # into a list too short
        "no-equals-sign",
        "params..rate=1",
        "description=!!python/object:os.system x",
    ]
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides=overrides)
    _assert_lines(
        info.value,
        [
            r"bad\.yaml: description: --set description=!!python/object:os\.system x: tag "
            r"!!python/object:os\.system is not allowed",
            r"bad\.yaml: name\.first: --set name\.first=x: cannot set name\.first: name is 'ok', "
            r"not a mapping",
            r"bad\.yaml: no-equals-sign: --set no-equals-sign: expected KEY\.PATH=VALUE",
            r"bad\.yaml: params\.\.rate: --set params\.\.rate=1: expected KEY\.PATH=VALUE",
            r"bad\.yaml: params\.arrivals\.rate: must be > 0 \(got '-3/h'\) \(from --set "
            r"params\.arrivals\.rate=-3/h\)",
            r"bad\.yaml: params\.arrivals\.rte: unknown key 'rte' \(did you mean 'rate'\?.*\) "
            r"\(from --set params\.arrivals\.rte=3/h\)",
            r"bad\.yaml: params\.levels\.2: --set params\.levels\.2=1: cannot set params\.levels"
            r"\.2: params\.levels is a list of 0 \(no item 2\)",
        ],
    )


def test_bad_seed_and_replications_arguments(tmp_path: Path, fake_model: type[Simulator]) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, GOOD), seed=-5, replications=0)
    _assert_lines(
        info.value,
        [
            r"bad\.yaml: replications: must be >= 1 \(got 0\) \(from --replications 0\)",
            r"bad\.yaml: seed: must be >= 0 \(got -5\) \(from --seed -5\)",
        ],
    )


def test_a_mapping_created_by_an_override_is_blamed_on_it(
    tmp_path: Path, fake_model: type[Simulator]
) -> None:
    # params.levels is absent, so the override creates it as a mapping: wrong, and not the file's
    # fault, so the problem carries the override and no line.
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, GOOD), overrides=["params.levels.0=1"])
    _assert_lines(
        info.value,
        [
            r"bad\.yaml: params\.levels: must be a list \(got a mapping\) \(from --set "
            r"params\.levels\.0=1\)",
        ],
    )


def test_a_swept_value_set_by_override_has_no_line(
    tmp_path: Path, fake_model: type[Simulator]
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, GOOD), overrides=["sweep.params.servers=[2, 0]"])
    _assert_lines(
        info.value,
        [
            r"bad\.yaml: params\.servers: sweep point 1 \(params\.servers=0\): must be >= 1 \(got "
            r"0\) \(from --set sweep\.params\.servers=\[2, 0\]\)",
        ],
    )


def test_failing_sweep_points_are_capped(tmp_path: Path, fake_model: type[Simulator]) -> None:
    body = GOOD + "sweep:\n  params.servers: [" + ", ".join(["0"] * 50) + "]\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, body))
    lines = info.value.lines()
    assert len(lines) == 21
    assert re.search(r"bad\.yaml:7: sweep: 30 more points have problems \(not shown\)", lines[0])
    assert all(re.search(r"bad\.yaml:8: params\.servers: sweep point \d+ ", x) for x in lines[1:])
