"""Checking a TradingShard's strategy name and parameters before any pod runs them (pure).

The rules come from ``strategy_parameters.json``, generated from the runtime's own parameter
dataclasses (``python -m shijim.tools.strategy_schema --write``; a test keeps it in sync), so
the operator and the runtime accept the same parameters without the operator importing the
runtime. The file uses the OpenAPI 3.0 subset of a CRD schema: type, enum, minimum (with
exclusiveMinimum: true), maximum, required, additionalProperties: false.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "strategy_parameters.json"


@cache
def parameter_schemas() -> Mapping[str, Mapping[str, Any]]:
    text = resources.files("shijim_operator").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)["strategies"]


def _type_problem(kind: str | None, value: object) -> str | None:
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {value!r}"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {value!r}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if kind == "string" and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    return None


def value_problem(rule: Mapping[str, Any], value: Any) -> str | None:
    if "enum" in rule and value not in rule["enum"]:
        return f"expected one of {rule['enum']}, got {value!r}"
    problem = _type_problem(rule.get("type"), value)
    if problem is not None or not isinstance(value, int | float) or isinstance(value, bool):
        return problem
    low, high = rule.get("minimum"), rule.get("maximum")
    if low is not None and rule.get("exclusiveMinimum") and value <= low:
        return f"must be > {low}, got {value!r}"
    if low is not None and value < low:
        return f"must be >= {low}, got {value!r}"
    if high is not None and value > high:
        return f"must be <= {high}, got {value!r}"
    return None


def strategy_problems(name: str, parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every problem of strategy ``name`` with ``parameters``; fields are
    relative to ``spec``."""
    schemas = parameter_schemas()
    schema = schemas.get(name)
    if schema is None:
        return [("strategy.name", f"unknown strategy {name!r} (known: {', '.join(schemas)})")]
    problems: list[tuple[str, str]] = []
    properties: Mapping[str, Any] = schema.get("properties", {})
    for key, value in parameters.items():
        path = f"strategy.parameters.{key}"
        rule = properties.get(key)
        if rule is None:
            problems.append((path, f"unknown parameter (known: {', '.join(sorted(properties))})"))
            continue
        problem = value_problem(rule, value)
        if problem is not None:
            problems.append((path, problem))
    for key in schema.get("required", ()):
        if key not in parameters:
            problems.append((f"strategy.parameters.{key}", "required parameter is missing"))
    return problems
