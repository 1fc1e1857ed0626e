"""The event-log contract: batch building hands out seq, maps time to timestamps, refuses bugs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from eventforge.events import (
    COMMON_FIELDS,
    BatchBuilder,
    EventSpec,
    Lifecycle,
    categorical,
    masked,
)

SPEC = EventSpec(
    vocabulary=("open", "close"),
    rare_kinds=("burst",),
    columns=(pa.field("amount", pa.float64()),),
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def builder() -> BatchBuilder:
    return BatchBuilder(SPEC, replication=3, start=START, time_unit_s=3600.0)


def test_schema_is_common_columns_then_model_columns() -> None:
    schema = SPEC.schema()
    assert schema.names[: len(COMMON_FIELDS)] == [f.name for f in COMMON_FIELDS]
    assert schema.names[-1] == "amount"
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")


def test_seq_counts_up_across_batches_and_timestamps_follow_time() -> None:
    b = builder()
    first = b.build(np.array([0.0, 0.5]), np.array([1, 2]), np.array([0, 1]))
    second = b.build(
        np.array([1.25]),
        np.array([1]),
        np.array([1]),
        cause=np.array([0]),
        rare_kind=np.array([0]),
        columns={"amount": np.array([9.5])},
    )
    table = pa.Table.from_batches([first, second])
    assert table.column("seq").to_pylist() == [0, 1, 2]
    assert table.column("replication").to_pylist() == [3, 3, 3]
    stamps = table.column("timestamp").to_pylist()
    assert stamps[1] == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert stamps[2] == datetime(2026, 1, 1, 1, 15, tzinfo=UTC)
    assert table.column("cause").to_pylist() == [None, None, 0]
    assert table.column("rare").to_pylist() == [False, False, True]
    assert table.column("rare_kind").to_pylist() == [None, None, "burst"]
    assert table.column("event").to_pylist() == ["open", "close", "close"]
    assert table.column("amount").to_pylist() == [None, None, 9.5]
    assert table.column("weight").to_pylist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time": np.array([1.0, 0.5])}, "out of time order"),
        ({"time": np.array([0.0, np.nan])}, "non-finite time"),
        # Wherever the bad value sits: the order check alone lets infinities at the ends and a
        # NaN through, so each end and the middle are tried.
        ({"time": np.array([np.nan, 1.0])}, "non-finite time"),
        ({"time": np.array([-np.inf, 1.0])}, "non-finite time"),
        ({"time": np.array([0.0, np.inf])}, "non-finite time"),
        ({"time": np.array([0.0, np.nan, 1.0]), "entity_id": [0] * 3, "event": [0] * 3}, "non-f"),
        ({"time": np.array([np.nan]), "entity_id": [0], "event": [0]}, "non-finite time"),
        ({"time": np.array([2.0, np.nan, 1.0]), "entity_id": [0] * 3, "event": [0] * 3}, "non-f"),
        ({"time": np.array([0.0, 2.0, 1.0]), "entity_id": [0] * 3, "event": [0] * 3}, "order"),
        ({"event": np.array([0, 2])}, "outside its vocabulary"),
        ({"cause": np.array([-1, 1])}, "does not precede"),
        ({"columns": {"nope": np.array([1.0, 2.0])}}, "undeclared columns"),
    ],
)
def test_simulator_bugs_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "time": np.array([0.0, 1.0]),
        "entity_id": np.array([0, 0]),
        "event": np.array([0, 1]),
    }
    args.update(kwargs)
    with pytest.raises(RuntimeError, match=message):
        builder().build(**args)  # type: ignore[arg-type]


def test_time_may_not_go_back_across_batches() -> None:
    b = builder()
    b.build(np.array([2.0]), np.array([0]), np.array([0]))
    with pytest.raises(RuntimeError, match="out of time order"):
        b.build(np.array([1.0]), np.array([0]), np.array([0]))


def test_columns_kept_between_batches_depend_on_nothing_but_the_size() -> None:
    # The columns kept for the largest batch (replication, weight, no cause, not rare, no kind)
    # must give way to the events' own wherever a batch has them, grow with a larger batch and
    # be cut to a smaller one.
    b = builder()
    plain = b.build(np.array([0.0, 1.0]), np.array([1, 2]), np.array([0, 1]))
    labelled = b.build(
        np.array([2.0, 3.0]),
        np.array([1, 2]),
        np.array([1, 1]),
        cause=np.array([1, -1]),
        rare_kind=np.array([-1, 0]),
        weight=np.array([0.5, 2.0]),
    )
    forced = b.build(np.array([4.0, 5.0]), np.array([1, 2]), np.array([0, 0]), rare=[True, False])
    again = b.build(np.array([6.0, 7.0]), np.array([3, 4]), np.array([0, 0]))
    longer = b.build(np.array([8.0, 9.0, 10.0]), np.array([1, 2, 3]), np.array([0, 1, 0]))
    shorter = b.build(np.array([11.0]), np.array([4]), np.array([1]), rare_kind=np.array([0]))
    batches = [plain, labelled, forced, again, longer, shorter]
    for batch in batches:
        batch.validate(full=True)
    table = pa.Table.from_batches(batches)
    assert [len(x) for x in batches] == [2, 2, 2, 2, 3, 1]
    assert table.column("replication").to_pylist() == [3] * 12
    assert table.column("cause").to_pylist() == [None, None, 1, None] + [None] * 8
    assert table.column("rare").to_pylist() == [False] * 3 + [True, True] + [False] * 6 + [True]
    assert table.column("rare_kind").to_pylist() == [None] * 3 + ["burst"] + [None] * 7 + ["burst"]
    assert table.column("weight").to_pylist() == [1.0, 1.0, 0.5, 2.0] + [1.0] * 8
    with pytest.raises(ValueError, match="length"):
        b.build(np.array([11.0, 12.0]), np.array([1, 2]), np.array([0, 0]), rare=[False])


def test_categorical_negative_code_is_null() -> None:
    arr = categorical(np.array([1, -1, 0]), ["a", "b"])
    arr.validate(full=True)
    assert arr.to_pylist() == ["b", None, "a"]


def test_categorical_refuses_a_code_past_its_values() -> None:
    with pytest.raises(ValueError, match="code 2 >= 2 values"):
        categorical(np.array([0, 2, -1]), ["a", "b"])


@pytest.mark.parametrize("arrow_type", [pa.int32(), pa.int64(), pa.float64(), None])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000])
def test_masked_equals_pyarrow_mask(arrow_type: pa.DataType | None, n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(-3, 100, n)
    for null in (values < 0, np.zeros(n, dtype=bool), np.ones(n, dtype=bool)):
        got = masked(values, null, arrow_type)
        got.validate(full=True)
        want = pa.array(values, type=arrow_type, mask=null)
        assert got.equals(want)
        assert got.null_count == int(null.sum())


def test_masked_refuses_non_number_types() -> None:
    with pytest.raises(TypeError, match="number columns"):
        masked(np.array([True]), np.array([False]), pa.bool_())


def test_spec_refuses_shadowing_and_duplicates() -> None:
    with pytest.raises(ValueError, match="shadow"):
        EventSpec(vocabulary=("a",), columns=(pa.field("time", pa.float64()),))
    with pytest.raises(ValueError, match="duplicate"):
        EventSpec(vocabulary=("a", "a"))


def test_lifecycle_states_start_with_initial() -> None:
    life = Lifecycle("ok", {("ok", "fail"): "down", ("down", "repair"): "ok"})
    assert life.states() == ("ok", "down")
