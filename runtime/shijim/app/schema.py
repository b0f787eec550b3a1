"""Strict validation of plain data (parsed YAML) into typed, frozen dataclasses.

A small reader driven by dataclass type hints: unknown keys and wrong types are errors naming the
field path (``risk.max_position_per_code.TXFL5: expected integer, got "ten"``). Used for the
runtime config (its risk section is ``RiskLimits`` itself) and for each strategy's parameters, so
one rule set applies everywhere.

Numeric bounds live in the dataclass field's metadata (``field(default=1, metadata={"ge": 1})``;
keys ``ge``, ``gt``, ``le``; shijim.bounds), so a params or limits class states its own ranges
without importing this module, and ``json_schema`` exports them (with the field's ``doc``) for the
operator to check before any pod starts.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from shijim.bounds import BOUND_KEYS, bound_problem

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<root>'}: {message}")
        self.path = path
        self.message = message


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def read_dataclass(cls: type[T], data: object, path: str = "") -> T:
    """Build ``cls`` from ``data`` (a mapping); missing keys take the dataclass defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {_show(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = _join(path, key)
        if not isinstance(key, str) or key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(where, f"unknown key (known: {known})")
        kwargs[key] = read_value(hints[key], value, where)
        check_bounds(fields[key], kwargs[key], where)
    for name, f in fields.items():
        if name in kwargs:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(_join(path, name), "required key is missing")
    return cls(**kwargs)


def check_bounds(f: dataclasses.Field[Any], value: object, path: str) -> None:
    """Enforce the field's ``ge``/``gt``/``le`` metadata (shijim.bounds) on a value that passed
    its type: a number, or each value of a mapping (per-code limits)."""
    if isinstance(value, collections.abc.Mapping):
        for key, item in value.items():
            check_bounds(f, item, _join(path, key))
        return
    problem = bound_problem(f.metadata, value)
    if problem is not None:
        raise ConfigError(path, problem)


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _scalar_schema(tp: Any, owner: str) -> dict[str, Any]:
    if get_origin(tp) is Literal:
        return {"enum": list(get_args(tp))}
    if tp in _JSON_TYPES:
        return {"type": _JSON_TYPES[tp]}
    raise TypeError(f"{owner}: no JSON schema for {tp!r}")


def _bounds_schema(f: dataclasses.Field[Any]) -> dict[str, Any]:
    ge, gt, le = (f.metadata.get(k) for k in BOUND_KEYS)
    out: dict[str, Any] = {}
    if ge is not None:
        out["minimum"] = ge
    if gt is not None:  # OpenAPI 3.0 spelling, as in a CRD schema
        out["minimum"] = gt
        out["exclusiveMinimum"] = True
    if le is not None:
        out["maximum"] = le
    return out


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema (the OpenAPI subset Kubernetes uses) of a flat dataclass of scalars and
    mappings of scalars: types, defaults, bounds, descriptions (metadata ``doc``), no unknown
    keys. What ``read_dataclass`` accepts, as data."""
    hints = get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        owner = f"{cls.__name__}.{f.name}"
        if get_origin(tp) in (dict, typing.Mapping, collections.abc.Mapping):
            key_tp, val_tp = get_args(tp)
            if key_tp is not str:
                raise TypeError(f"{owner}: no JSON schema for {tp!r}")
            prop: dict[str, Any] = {"type": "object"}
            prop["additionalProperties"] = {**_scalar_schema(val_tp, owner), **_bounds_schema(f)}
        else:
            prop = {**_scalar_schema(tp, owner), **_bounds_schema(f)}
        if f.default is not dataclasses.MISSING:
            prop["default"] = f.default
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        if "doc" in f.metadata:
            prop["description"] = f.metadata["doc"]
        properties[f.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    return schema


def read_value(tp: Any, value: object, path: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it converted (lists -> tuples)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors: list[ConfigError] = []
        for option in options:
            if option is type(None):
                continue
            try:
                return read_value(option, value, path)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        names = " or ".join(_name(o) for o in options)
        raise ConfigError(path, f"expected {names}, got {_show(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(path, f"expected one of {list(allowed)}, got {_show(value)}")
        return value
    if origin in (tuple, list) or tp in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"expected a list, got {_show(value)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(read_value(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, typing.Mapping, collections.abc.Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {_show(value)}")
        args = get_args(tp)
        key_tp, val_tp = args if args else (Any, Any)
        out = {}
        for k, v in value.items():
            key = read_value(key_tp, k, _join(path, k))
            out[key] = read_value(val_tp, v, _join(path, k))
        return types.MappingProxyType(out)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return read_dataclass(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or value == member.name:
                return member
        allowed_values = [m.value for m in tp]
        raise ConfigError(path, f"expected one of {allowed_values}, got {_show(value)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected boolean, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected number, got {_show(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(path, f"expected a finite number, got {_show(value)}")
        return float(value)
    if tp is str:
        # YAML reads codes like 2330 as integers; a code list may hold them, names may not.
        if not isinstance(value, str):
            raise ConfigError(path, f"expected string, got {_show(value)}")
        return value
    raise TypeError(f"{path}: unsupported type hint {tp!r}")  # a bug in a schema, not input


def _name(tp: Any) -> str:
    return _JSON_TYPES.get(tp, getattr(tp, "__name__", str(tp)))


def to_plain(obj: object) -> object:
    """A dataclass tree back to plain data (for dumping the effective config)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, typing.Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
