"""The top-level scenario model: one pydantic model per simulator, for validation and JSON Schema.

A scenario's ``params`` and ``rare_events`` are the simulator's own models, so the model of a
whole scenario file is built per simulator (:func:`scenario_model`) and is the single source of
both validation and the exported JSON Schema. Pydantic's errors are translated here into
messages that show the value and the rule (``must be > 0 (got -3.0)``), with a did-you-mean for
unknown keys, located by the key paths of the data the user wrote.
"""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from eventforge.scenario.document import KeyPath, show
from eventforge.scenario.types import PositiveInt, StrictModel
from eventforge.scenario.units import UNIT_SECONDS, Duration

if TYPE_CHECKING:
    from eventforge.simulators.base import Simulator

__all__ = [
    "DEFAULT_START",
    "MAX_SEED",
    "OutputSettings",
    "known_keys",
    "scenario_json_schema",
    "scenario_model",
    "translate_errors",
    "unknown_key_message",
    "walk_annotation",
]

#: The wall-clock time of simulation time 0 when a scenario gives no ``start``.
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
#: Seeds are 63-bit so they survive any signed 64-bit store (Parquet metadata, databases).
MAX_SEED = 2**63 - 1
_COMPRESSION_LEVELS = {"zstd": (1, 22), "gzip": (1, 9)}


class OutputSettings(StrictModel):
    """The optional ``output:`` section: where and how the dataset is written."""

    path: str | None = Field(
        default=None,
        description="Dataset directory; default: ./out/<name>. The -o option overrides it.",
    )
    row_group_rows: int = Field(
        default=262_144,
        ge=1024,
        le=1 << 24,
        description=(
            "Rows per Parquet row group: larger compresses better, needs more memory. A part's "
            "first four groups ramp up to it from a sixteenth, so that writing starts early."
        ),
    )
    compression: Literal["zstd", "snappy", "lz4", "gzip", "none"] = Field(
        default="zstd", description="Parquet compression codec."
    )
    compression_level: int | None = Field(
        default=None,
        validate_default=True,
        description="Codec level, for zstd (1-22, default 1) and gzip (1-9) only.",
    )

    @field_validator("compression_level")
    @classmethod
    def _level_fits_codec(cls, level: int | None, info: ValidationInfo) -> int | None:
        codec = info.data.get("compression")
        if codec is None:  # the codec itself was invalid and is reported on its own
            return level
        if level is None:
            return 1 if codec == "zstd" else None
        if codec not in _COMPRESSION_LEVELS:
            raise ValueError(f"a level applies to zstd and gzip only (got {level} with {codec!r})")
        low, high = _COMPRESSION_LEVELS[codec]
        if not low <= level <= high:
            raise ValueError(f"{codec} levels are {low}..{high} (got {level})")
        return level


def _parse_start(value: Any) -> Any:
    """An ISO date-time string -> an aware UTC datetime; a naive one means UTC."""
    if not isinstance(value, str):
        return value  # the strict datetime check reports the type
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO date-time: {value!r} (e.g. '2026-01-01T00:00:00Z')") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _not_dots(name: str) -> str:
    # The name becomes a directory (./out/<name>): "." and ".." would escape it.
    if set(name) == {"."}:
        raise ValueError(f"must not be only dots (got {name!r})")
    return name


_Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=128),
    AfterValidator(_not_dots),
]
_Start = Annotated[datetime, BeforeValidator(_parse_start)]
_Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
_SweepValues = Annotated[list[Any], Field(min_length=1)]


def scenario_model(model: str | None) -> type[StrictModel]:
    """The pydantic model of a whole scenario file for ``model`` (a registry name).

    ``None`` gives a model whose ``params`` and ``rare_events`` are free mappings: the top-level
    keys of a file whose model is unknown can still be checked and reported all at once.
    """
    # Imported here: the simulators import this package (for StrictModel and the units), so a
    # module-level import would be circular.
    from eventforge.simulators import get_simulator

    return _build_model(model, None if model is None else get_simulator(model))


@functools.cache
def _build_model(model: str | None, sim: type[Simulator] | None) -> type[StrictModel]:
    fields: dict[str, Any] = {
        "name": (_Name, Field(description="Scenario name ([A-Za-z0-9_.-]+); names the output.")),
        "description": (str, Field("", description="What the scenario is for, in words.")),
        "model": (
            Literal[model] if model is not None else str,
            Field(description="The simulator, by registry name (eventforge list)."),
        ),
        "seed": (
            _Seed | None,
            Field(None, description="Root seed (0..2**63-1); drawn at random when absent."),
        ),
        "replications": (
            PositiveInt,
            Field(1, description="Independent replications of every sweep point."),
        ),
        "start": (
            _Start,
            Field(DEFAULT_START, description="ISO date-time of time 0; naive means UTC."),
        ),
        "time_unit": (
            Literal[tuple(UNIT_SECONDS)],
            Field("h", description="Unit of simulation time and of bare numbers in durations."),
        ),
        "horizon": (Duration, Field(description="Simulated time span, e.g. '90d', '36h'.")),
        "sweep": (
            dict[str, _SweepValues],
            Field(
                default_factory=dict,
                description="Key paths under params/rare_events -> lists of values; the runs "
                "cover their grid (Cartesian product, in the order written).",
            ),
        ),
        "output": (
            OutputSettings,
            Field(default_factory=OutputSettings, description="How the dataset is written."),
        ),
    }
    for key, cls, text in (
        ("params", None if sim is None else sim.Params, "The model's parameters."),
        ("rare_events", None if sim is None else sim.RareEvents, "Rare-episode settings."),
    ):
        if cls is None:
            fields[key] = (dict[str, Any], Field(default_factory=dict, description=text))
        elif any(f.is_required() for f in cls.model_fields.values()):
            fields[key] = (cls, Field(description=text))
        else:
            fields[key] = (cls, Field(default_factory=cls, description=text))
    title = f"eventforge scenario ({model})" if model else "eventforge scenario"
    built: type[StrictModel] = create_model(
        f"Scenario_{model or 'any'}", __base__=StrictModel, __doc__=title, **fields
    )
    return built


def scenario_json_schema(model: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file for ``model``, for editors."""
    schema = scenario_model(model).model_json_schema()
    schema["title"] = f"eventforge scenario ({model})"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- walking the models by key path -------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to the type that holds keys."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def walk_annotation(tp: Any, part: str | int) -> Any:
    """The annotation of ``part`` inside a value of annotation ``tp``, or None when unknown
    (an unknown key, or a type this walk cannot see into, like ``Any``)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        found = tp.model_fields.get(str(part))
        return None if found is None else found.annotation
    origin, args = get_origin(tp), get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    if origin in (list, tuple, Sequence) and args:
        return args[0]
    if origin in (Union, types.UnionType):
        for member in args:
            child = walk_annotation(member, part)
            if child is not None:
                return child
    return None


def known_keys(tp: Any) -> list[str] | None:
    """The keys a value of annotation ``tp`` accepts, if it is a model (or a union of them)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    if get_origin(tp) in (Union, types.UnionType):
        keys = [known_keys(member) for member in get_args(tp)]
        if any(k is not None for k in keys):
            return sorted({key for k in keys if k is not None for key in k})
    return None


def unknown_key_message(key: str, known: Sequence[str] | None) -> str:
    """``unknown key 'rat' (did you mean 'rate'? known keys: burst, rate)``."""
    if not known:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r} ({hint}known keys: {', '.join(sorted(known))})"


# --- pydantic errors -> located messages ----------------------------------------------------

#: Rules by pydantic error type; ``{...}`` fields come from the error's context.
_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "string_pattern_mismatch": "must match {pattern}",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} items",
    "datetime_type": "must be an ISO date-time, e.g. '2026-01-01T00:00:00Z'",
}
#: Messages written by validators: they carry their own value, pydantic adds a prefix.
_OWN_MESSAGES = {"value_error": "Value error, ", "assertion_error": "Assertion failed, "}


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[KeyPath, Any, bool]:
    """Follow ``loc`` through the data as written: the path of the deepest node it reaches,
    that node, and whether every step of ``loc`` was found. Steps that are not in the data
    (pydantic's union-member tags, a missing key) are skipped."""
    path: list[str | int] = []
    node = data
    complete = True
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            complete = False
            continue
        path.append(part)
    return tuple(path), node, complete


def translate_errors(
    err: ValidationError, data: dict[str, Any], model_cls: type[BaseModel]
) -> list[tuple[KeyPath, str]]:
    """Pydantic's errors as (key path in ``data``, message) pairs."""
    out: list[tuple[KeyPath, str]] = []
    for error in err.errors(include_url=False):
        loc = tuple(error["loc"])
        path, node, complete = _data_path(data, loc)
        kind = error["type"]
        if kind == "missing":
            out.append(((*path, loc[-1]), "required key is missing"))
        elif kind == "extra_forbidden":
            parent: Any = model_cls
            for part in path[:-1]:
                parent = walk_annotation(parent, part)
            out.append((path, unknown_key_message(str(path[-1]), known_keys(parent))))
        elif kind in _OWN_MESSAGES:
            out.append((path, error["msg"].removeprefix(_OWN_MESSAGES[kind])))
        else:
            rule = _RULES.get(kind)
            if rule is None:
                message = error["msg"][:1].lower() + error["msg"][1:]
            else:
                message = rule.format(**error.get("ctx", {}))
            ctx = error.get("ctx", {})
            if ctx.get("actual_length"):  # a list's length says more than "a list"
                got = f"{ctx['actual_length']} items"
            else:
                got = show(node if complete else error.get("input"))
            out.append((path, f"{message} (got {got})"))
    return out
