"""The safe YAML layer: scalar types, key lines, ``--set`` values, locating sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventforge.errors import ScenarioError, UsageError
from eventforge.scenario import loader
from eventforge.scenario.loader import locate_source, parse_document, parse_value


def test_scalars_follow_yaml_1_2_core_types() -> None:
    doc = parse_document(
        "i: 12\nhex: 0x1f\noct: 0o17\nneg: -3\nf: 2.5\nexp: 1e3\nt: true\nT: True\nn: null\n"
        "tilde: ~\nempty:\nyes_is_text: yes\nquoted: '3'\nrate: 20/h\n"
        "when: 2026-01-01T00:00:00Z\nday: 2026-03-01\nforced: !!str 7\nfloat_tag: !!float 3\n",
        "f.yaml",
    )
    assert doc.data == {
        "i": 12,
        "hex": 31,
        "oct": 15,
        "neg": -3,
        "f": 2.5,
        "exp": 1000.0,
        "t": True,
        "T": True,
        "n": None,
        "tilde": None,
        "empty": None,
        "yes_is_text": "yes",  # YAML 1.1 would make it a boolean
        "quoted": "3",
        "rate": "20/h",
        "when": "2026-01-01T00:00:00Z",  # dates stay as written: the data stays JSON-able
        "day": "2026-03-01",
        "forced": "7",
        "float_tag": 3.0,
    }
    types = {k: type(v) for k, v in doc.data.items() if v is not None}
    # plain Python types only (no ruamel subclasses leak into validation or JSON)
    assert set(types.values()) <= {int, float, bool, str}


def test_lines_of_keys_and_items_block_and_flow() -> None:
    text = (
        "# header\nname: x\nparams:\n  arrivals:\n    rate: 1\n  levels: [1, 2]\n"
        "  steps:\n    - 3\n    - {a: 1}\n"
    )
    doc = parse_document(text, "f.yaml")
    assert doc.lines == {
        (): 2,
        ("name",): 2,
        ("params",): 3,
        ("params", "arrivals"): 4,
        ("params", "arrivals", "rate"): 5,
        ("params", "levels"): 6,
        ("params", "levels", 0): 6,
        ("params", "levels", 1): 6,
        ("params", "steps"): 7,
        ("params", "steps", 0): 8,
        ("params", "steps", 1): 9,
        ("params", "steps", 1, "a"): 9,
    }
    # a missing key is located at its parent mapping; an unknown path at the nearest ancestor
    assert doc.line(("params", "arrivals", "burst")) == 4
    assert doc.line(("nothing", "here")) == 2


def test_json_document_and_byte_order_mark_are_accepted() -> None:
    doc = parse_document('\ufeff{"name": "x", "params": {"rate": 3}}', "f.json")
    assert doc.data == {"name": "x", "params": {"rate": 3}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("20/h", "20/h"),
        ("3", 3),
        ("-3.5", -3.5),
        ("[1, 2]", [1, 2]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
        ("true", True),
        ("", None),
        ("'007'", "007"),
        ("2026-01-01", "2026-01-01"),
    ],
)
def test_override_values_are_parsed_as_yaml(text: str, value: object) -> None:
    assert parse_value(text, "f.yaml") == (value, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!!python/object:os.system x", "tag !!python/object:os.system is not allowed"),
        ("&a 1", "anchors and aliases are not allowed"),
        (".nan", "numbers must be finite"),
        ("[1, 2", "invalid YAML"),
    ],
)
def test_override_values_obey_the_file_rules(text: str, message: str) -> None:
    _, problems = parse_value(text, "f.yaml")
    assert [p.file for p in problems] == ["f.yaml"]
    assert message in problems[0].message


def test_locate_builtin_by_name_and_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    builtin = library / "queue.yaml"
    builtin.write_text("name: queue\n")
    monkeypatch.setattr(loader, "builtin_scenarios", lambda: {"queue": builtin})
    monkeypatch.chdir(tmp_path)
    assert locate_source("queue") == (builtin, str(builtin), "builtin:queue")
    (tmp_path / "queue").write_text("name: local\n")  # a file of that name shadows the built-in
    assert locate_source("queue") == (Path("queue"), "queue", "queue")
    with pytest.raises(UsageError, match=r"quue: no such file .*did you mean 'queue'\?"):
        locate_source("quue")
    with pytest.raises(UsageError, match=r"^sub/quue\.yaml: no such file$"):
        locate_source("sub/quue.yaml")  # a path is not looked up among the built-ins


def test_parse_problems_are_all_reported_together() -> None:
    text = "a: !x 1\nb: &y 2\nc: .inf\nc: 4\n"
    with pytest.raises(ScenarioError) as info:
        parse_document(text, "f.yaml")
    assert info.value.lines() == [
        "f.yaml:1: a: tag !x is not allowed (plain YAML only: strings, numbers, booleans, null, "
        "lists and mappings)",
        "f.yaml:2: b: anchors and aliases are not allowed (got &y)",
        "f.yaml:3: c: numbers must be finite (got .inf)",
        "f.yaml:4: c: duplicate key (first at line 3)",
    ]
