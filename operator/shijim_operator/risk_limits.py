"""Checking a TradingShard's ``spec.risk`` and rendering it into the runtime config (pure).

The rules come from ``risk_limits.json``, generated from the runtime's one ``RiskLimits`` type
(``python -m shijim.tools.risk_schema --write``; a test keeps it in sync, another keeps the CRD's
``spec.risk`` block equal to it): names, types, bounds and defaults are the runtime's, spelled in
camelCase, so the operator refuses what the runtime would refuse and renders every limit (the
defaults filled in) for the pods' config. The CRD preserves unknown keys under ``spec.risk`` so
that a misspelt or renamed limit reaches this check and becomes InvalidSpec, instead of being
pruned by the API server and silently replaced by its default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from shijim_operator.strategies import value_problem

SCHEMA_FILE = "risk_limits.json"


@cache
def _document() -> Mapping[str, Any]:
    text = resources.files("shijim_operator").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def risk_schema() -> Mapping[str, Any]:
    """The JSON schema of ``spec.risk`` (CRD spelling)."""
    return _document()["schema"]


def _item_problems(path: str, rule: Mapping[str, Any], value: object) -> list[tuple[str, str]]:
    items = rule.get("additionalProperties")
    if not isinstance(items, Mapping):
        problem = value_problem(rule, value)
        return [] if problem is None else [(path, problem)]
    if not isinstance(value, Mapping):
        return [(path, f"expected a mapping, got {value!r}")]
    out = []
    for key, item in value.items():
        problem = value_problem(items, item)
        if problem is not None:
            out.append((f"{path}.{key}", problem))
    return out


def risk_problems(risk: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every problem of ``spec.risk``; fields are relative to ``spec``."""
    properties: Mapping[str, Any] = risk_schema()["properties"]
    problems: list[tuple[str, str]] = []
    for key, value in risk.items():
        path = f"risk.{key}"
        rule = properties.get(key)
        if rule is None:
            known = ", ".join(sorted(properties))
            problems.append((path, f"unknown limit (known: {known})"))
            continue
        problems.extend(_item_problems(path, rule, value))
    return problems


def runtime_risk(risk: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime config's ``risk`` section for a checked ``spec.risk``: every limit under its
    config name, defaults filled in, so the ConfigMap shows what the pods enforce."""
    config_keys: Mapping[str, str] = _document()["configKeys"]
    out: dict[str, Any] = {}
    for key, rule in risk_schema()["properties"].items():
        if key in risk:
            value = risk[key]
            out[config_keys[key]] = dict(value) if isinstance(value, Mapping) else value
        elif "default" in rule:
            out[config_keys[key]] = rule["default"]
    return out
