"""Valid scenarios: units, defaults, overrides, sweeps, seeds, fingerprints and the JSON Schema."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventforge.errors import UsageError
from eventforge.scenario import (
    DEFAULT_START,
    OutputSettings,
    Scenario,
    load_scenario,
    scenario_json_schema,
)
from eventforge.scenario.schema import MAX_SEED
from eventforge.simulators.base import Simulator

BASE = "name: demo\nmodel: fake\nhorizon: 2d\nparams:\n  arrivals:\n    rate: 12/h\n"


def _load(tmp_path: Path, text: str, name: str = "s.yaml", **kwargs: object) -> Scenario:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path, **kwargs)  # type: ignore[arg-type]


def test_defaults_and_units(tmp_path: Path, fake_model: type[Simulator]) -> None:
    sc = _load(tmp_path, BASE + "  stations:\n    desk: {service: 15m}\nseed: 7\n")
    assert (sc.name, sc.model, sc.description, sc.seed, sc.seed_drawn) == (
        "demo",
        "fake",
        "",
        7,
        False,
    )
    assert (sc.replications, sc.start, sc.time_unit, sc.time_unit_s) == (
        1,
        DEFAULT_START,
        "h",
        3600.0,
    )
    assert sc.horizon == 48.0
    (point,) = sc.points
    assert (point.index, point.values) == (0, {})
    assert point.params.arrivals.rate == 12.0  # type: ignore[attr-defined]
    assert point.params.stations["desk"].service == 0.25  # 15m in hours  # type: ignore[attr-defined]
    assert point.rare_events.fraud_rate == 0.0  # type: ignore[attr-defined]
    assert sc.output == OutputSettings(path=None, row_group_rows=262_144, compression="zstd")
    assert sc.output.compression_level == 1
    assert sc.source == str(tmp_path / "s.yaml")


def test_time_unit_scales_durations_and_rates(tmp_path: Path, fake_model: type[Simulator]) -> None:
    sc = _load(tmp_path, BASE.replace("2d", "90") + "time_unit: m\nseed: 1\n")
    assert (sc.time_unit, sc.time_unit_s, sc.horizon) == ("m", 60.0, 90.0)  # bare number: minutes
    assert sc.points[0].params.arrivals.rate == pytest.approx(0.2)  # 12/h = 0.2/min  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-03-01T06:30:00Z", datetime(2026, 3, 1, 6, 30, tzinfo=UTC)),
        ("'2026-03-01 06:30:00'", datetime(2026, 3, 1, 6, 30, tzinfo=UTC)),  # naive means UTC
        ("2026-03-01T08:30:00+02:00", datetime(2026, 3, 1, 6, 30, tzinfo=UTC)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_start_is_utc(
    tmp_path: Path, fake_model: type[Simulator], written: str, expected: datetime
) -> None:
    sc = _load(tmp_path, BASE + f"start: {written}\nseed: 1\n")
    assert sc.start == expected and sc.start.utcoffset() == timedelta(0)


def test_output_settings(tmp_path: Path, fake_model: type[Simulator]) -> None:
    text = (
        BASE + "seed: 1\noutput:\n  path: data/demo\n  compression: gzip\n  row_group_rows: 1024\n"
    )
    out = _load(tmp_path, text).output
    assert (out.path, out.compression, out.compression_level, out.row_group_rows) == (
        "data/demo",
        "gzip",
        None,
        1024,
    )


def test_seed_drawn_when_absent(tmp_path: Path, fake_model: type[Simulator]) -> None:
    first, second = _load(tmp_path, BASE), _load(tmp_path, BASE)
    assert first.seed_drawn and second.seed_drawn
    assert 0 <= first.seed <= MAX_SEED and 0 <= second.seed <= MAX_SEED
    # Two draws of 63 bits collide with probability 2**-63: equal seeds would mean no entropy.
    assert first.seed != second.seed
    assert first.resolved["seed"] == first.seed
    assert _load(tmp_path, BASE, seed=5).seed_drawn is False


def test_overrides_of_nested_keys_and_lists(tmp_path: Path, fake_model: type[Simulator]) -> None:
    sc = _load(
        tmp_path,
        BASE + "  levels: [1, 2]\nseed: 1\n",
        overrides=[
            "params.arrivals.rate=20/h",
            "params.arrivals.burst=0.5",
            "params.levels=[3, 4.5, 6]",
            "params.levels.0=0",  # an item of the list set just before: overrides apply in order
            "params.stations.desk.servers=4",  # creates the nested mappings
            "horizon=1d",
            "description=a b",
        ],
        replications=3,
        seed=99,
    )
    params = sc.points[0].params
    assert params.arrivals.rate == 20.0 and params.arrivals.burst == 0.5  # type: ignore[attr-defined]
    assert params.levels == [0, 4.5, 6]  # type: ignore[attr-defined]
    assert params.stations["desk"].servers == 4  # type: ignore[attr-defined]
    assert (sc.horizon, sc.description, sc.replications, sc.seed) == (24.0, "a b", 3, 99)
    assert sc.resolved["params"]["levels"] == [0, 4.5, 6]


def test_sweep_grid_size_and_order(tmp_path: Path, fake_model: type[Simulator]) -> None:
    text = BASE + (
        "seed: 1\nsweep:\n  params.arrivals.rate: [6/h, 12/h, 24/h]\n  params.servers: [1, 2]\n"
        "  rare_events.fraud_rate: [0.0, 0.01]\n"
    )
    sc = _load(tmp_path, text)
    assert len(sc.points) == 3 * 2 * 2
    assert [p.index for p in sc.points] == list(range(12))
    # the first key varies slowest, the last fastest: the product in the order written
    assert [p.values for p in sc.points[:3]] == [
        {"params.arrivals.rate": "6/h", "params.servers": 1, "rare_events.fraud_rate": 0.0},
        {"params.arrivals.rate": "6/h", "params.servers": 1, "rare_events.fraud_rate": 0.01},
        {"params.arrivals.rate": "6/h", "params.servers": 2, "rare_events.fraud_rate": 0.0},
    ]
    rates = [p.params.arrivals.rate for p in sc.points]  # type: ignore[attr-defined]
    assert rates == [6.0] * 4 + [12.0] * 4 + [24.0] * 4
    assert [p.params.servers for p in sc.points] == [1, 1, 2, 2] * 3  # type: ignore[attr-defined]
    assert [p.rare_events.fraud_rate for p in sc.points] == [0.0, 0.01] * 6  # type: ignore[attr-defined]
    assert sc.resolved["sweep"]["params.servers"] == [1, 2]  # as written


def test_sweep_into_dicts_lists_and_absent_sections(
    tmp_path: Path, fake_model: type[Simulator]
) -> None:
    text = BASE + (
        "  levels: [1, 2]\nseed: 1\nsweep:\n  params.stations.desk.service: [5m, 1h]\n"
        "  params.levels.1: [7, 8]\n  rare_events.fraud_rate: [0.5]\n"
    )
    sc = _load(tmp_path, text)
    services = [p.params.stations["desk"].service for p in sc.points]  # type: ignore[attr-defined]
    assert services == pytest.approx([5 / 60, 5 / 60, 1.0, 1.0])
    assert [p.params.levels for p in sc.points] == [[1, 7], [1, 8]] * 2  # type: ignore[attr-defined]


def test_fingerprint_ignores_key_order_and_tracks_content(
    tmp_path: Path, fake_model: type[Simulator]
) -> None:
    a = _load(tmp_path, BASE + "seed: 3\n", "a.yaml")
    reordered = (
        "seed: 3\nparams:\n  arrivals:\n    rate: 12/h\nhorizon: 48h\nmodel: fake\nname: demo\n"
    )
    b = _load(tmp_path, reordered, "b.yaml")
    assert a.fingerprint == b.fingerprint  # same meaning (2d == 48h), other order and file
    assert len(a.fingerprint) == 64 and int(a.fingerprint, 16) >= 0
    assert _load(tmp_path, BASE + "seed: 4\n").fingerprint != a.fingerprint
    assert (
        _load(tmp_path, BASE + "seed: 3\n", overrides=["params.servers=2"]).fingerprint
        != a.fingerprint
    )
    # resolved is plain JSON (no NaN, no Python objects)
    assert json.loads(json.dumps(a.resolved, allow_nan=False)) == a.resolved
    assert a.resolved["start"] == "2026-01-01T00:00:00+00:00" and a.resolved["horizon"] == 48.0


def test_scenario_pickles_for_worker_processes(tmp_path: Path, fake_model: type[Simulator]) -> None:
    sc = _load(tmp_path, BASE + "seed: 1\nsweep:\n  params.servers: [1, 2]\n")
    assert pickle.loads(pickle.dumps(sc)) == sc


def test_json_schema_describes_every_key(fake_model: type[Simulator]) -> None:
    schema = scenario_json_schema("fake")
    json.dumps(schema)  # serialisable as is
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    top = {"name", "description", "model", "seed", "replications", "start", "time_unit"}
    top |= {"horizon", "params", "rare_events", "sweep", "output"}
    assert set(schema["properties"]) == top
    assert set(schema["required"]) == {"name", "model", "horizon", "params"}
    assert schema["properties"]["model"]["const"] == "fake"
    assert all(prop.get("description") for prop in schema["properties"].values())

    def resolve(prop: dict[str, object]) -> dict[str, object]:
        ref = prop.get("$ref")
        return schema["$defs"][str(ref).rsplit("/", 1)[-1]] if ref else prop

    params = resolve(schema["properties"]["params"])
    assert params["additionalProperties"] is False
    assert set(params["properties"]) == {"arrivals", "servers", "levels", "stations"}  # type: ignore[arg-type]
    arrivals = resolve(params["properties"]["arrivals"])  # type: ignore[index]
    assert arrivals["required"] == ["rate"]
    output = resolve(schema["properties"]["output"])
    assert output["properties"]["compression"]["enum"] == ["zstd", "snappy", "lz4", "gzip", "none"]  # type: ignore[index]


def test_json_schema_of_unknown_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown model 'nope'"):
        scenario_json_schema("nope")
