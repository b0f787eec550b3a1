"""The TradingShard CRD: a valid structural schema that accepts the example, rejects bad specs,
and agrees with what the operator reads and the runtime writes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from emulator import CRD_PATH, EXAMPLE, ROOT
from shijim.domain import TradingState
from shijim_operator import conditions, risk_limits
from shijim_operator import spec as spec_module

CRD = yaml.safe_load(CRD_PATH.read_text())
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")


def validator() -> jsonschema.Draft4Validator:
    # OpenAPI v3.0 schemas use Draft-4 style keywords (boolean exclusiveMinimum).
    return jsonschema.Draft4Validator(SCHEMA)


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def test_crd_is_a_valid_kubernetes_object() -> None:
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/kubernetes-validate"), "--strict", str(CRD_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_identity_and_presentation() -> None:
    spec = CRD["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == (
        "shijim.io",
        "Namespaced",
        "TradingShard",
    )
    assert VERSION["name"] == "v1alpha1" and VERSION["served"] and VERSION["storage"]
    assert VERSION["subresources"] == {"status": {}}
    assert spec["names"]["shortNames"] == ["tshard"]
    columns = {c["name"]: c["jsonPath"] for c in VERSION["additionalPrinterColumns"]}
    assert columns == {
        "Shards": ".spec.shards",
        "Ready": ".status.readyShards",
        "Kill": ".spec.killSwitch",
        "Phase": ".status.phase",
        "Age": ".metadata.creationTimestamp",
    }


def test_schema_is_structural() -> None:
    """Every node has a type (or an explicit escape hatch); no keywords the API server forbids."""
    for path, node in nodes(SCHEMA):
        escape = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        assert "type" in node or escape, f"{path}: no type"
        assert node.get("uniqueItems") is not True, path
        assert "$ref" not in node and "definitions" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
    metadata = SCHEMA["properties"]["metadata"]
    assert metadata == {"type": "object"}  # the API server owns metadata's schema


def test_defaults_are_valid_for_their_own_schema() -> None:
    for path, node in nodes(SCHEMA):
        if "default" in node:
            sub = {k: v for k, v in node.items() if k != "default"}
            try:
                jsonschema.Draft4Validator(sub).validate(node["default"])
            except jsonschema.ValidationError as exc:
                raise AssertionError(
                    f"{path}: default {node['default']!r}: {exc.message}"
                ) from None


def test_example_is_valid_and_uses_the_simulated_feed() -> None:
    doc = example()
    assert doc["apiVersion"] == "shijim.io/v1alpha1" and doc["kind"] == "TradingShard"
    validator().validate(doc)
    assert doc["spec"]["feed"] == "sim" and "brokerSecretRef" not in doc["spec"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shards": 0}, "shards"),
        ({"shards": 65}, "shards"),
        ({"feed": "tcp"}, "feed"),
        ({"killSwitch": "yes"}, "killSwitch"),
        ({"universe": {"codes": []}}, "codes"),
        ({"universe": {"codes": ["txf l6"]}}, "codes"),
        ({"apiServer": {"policy": "ACTIVE"}}, "policy"),
        ({"apiServer": {"gracePeriodSeconds": 0}}, "gracePeriodSeconds"),
        ({"risk": {"maxOrderQty": 0}}, "maxOrderQty"),
        ({"risk": {"maxDailyLoss": 0}}, "maxDailyLoss"),
        ({"risk": {"maxPositionPerCode": {"TXFL6": -1}}}, "maxPositionPerCode"),
        ({"strategy": {"name": "mm", "decision": "sometimes"}}, "decision"),
        ({"strategy": {"name": "mm", "decision": "interval_ms:0"}}, "decision"),
        ({"metrics": {"port": 80}}, "port"),
        ({"brokerSecretRef": {}}, "brokerSecretRef"),
        ({"strategy": {"name": ""}}, "name"),
    ],
)
def test_schema_rejects_bad_values(change: dict[str, Any], field: str) -> None:
    doc = example()
    doc["spec"].update(change)
    errors = list(validator().iter_errors(doc))
    assert errors, change
    assert any(field in "/".join(map(str, e.absolute_path)) + e.message for e in errors)


def test_required_fields() -> None:
    for missing in ("image", "universe", "feed", "strategy"):
        doc = example()
        del doc["spec"][missing]
        assert list(validator().iter_errors(doc)), missing


def test_status_schema_matches_what_operator_and_runtime_write() -> None:
    status = SCHEMA["properties"]["status"]["properties"]
    cond_types = status["conditions"]["items"]["properties"]["type"]["enum"]
    assert tuple(cond_types) == conditions.CONDITION_TYPES
    shard = status["shards"]["additionalProperties"]["properties"]
    assert set(shard["tradingState"]["enum"]) == {s.name for s in TradingState}
    assert set(shard) >= {
        "pod",
        "tradingState",
        "killSwitchAcknowledged",
        "lastHeartbeat",
        "observedGeneration",
    }
    phases = set(status["phase"]["enum"])
    src = (ROOT / "operator/shijim_operator/conditions.py").read_text()
    assert set(re.findall(r'phase = "(\w+)"', src)) == phases


def test_every_field_the_operator_reads_is_in_the_schema() -> None:
    src = (ROOT / "operator/shijim_operator/spec.py").read_text()
    paths = set(
        re.findall(r'r\.(?:string|choice|boolean|integer|positive|mapping|_get)\("([\w.]+)"', src)
    )
    assert len(paths) > 30
    spec_schema = SCHEMA["properties"]["spec"]
    for path in paths:
        node = spec_schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"spec.{path} is not in the CRD schema"
            node = node["properties"][part]


def test_risk_block_is_the_runtime_limits_schema() -> None:
    """spec.risk is RiskLimits' exported schema (which test_operator_risk keeps in sync with the
    runtime): same names, types, bounds, defaults and descriptions."""
    risk = SCHEMA["properties"]["spec"]["properties"]["risk"]
    expected = risk_limits.risk_schema()["properties"]
    assert risk["properties"] == expected, (
        "regenerate crds/tradingshard.yaml spec.risk.properties from "
        "operator/shijim_operator/risk_limits.json (python -m shijim.tools.risk_schema)"
    )
    # Unknown keys reach the operator, which refuses them, instead of being pruned.
    assert risk["x-kubernetes-preserve-unknown-fields"] is True


def test_decision_policy_field() -> None:
    decision = SCHEMA["properties"]["spec"]["properties"]["strategy"]["properties"]["decision"]
    assert decision["pattern"] == spec_module.DECISION_PATTERN
    assert decision["default"] == spec_module.DEFAULT_DECISION
    ok = jsonschema.Draft4Validator(decision)
    for text in ("every_event", "on_touch_change", "interval_ms:1", "interval_ms:86400000"):
        assert ok.is_valid(text), text
    for text in ("interval_ms:0", "interval_ms:-5", "interval_ms:", "every event", ""):
        assert not ok.is_valid(text), text


def test_chart_copy_is_identical_when_present() -> None:
    copy = ROOT / "charts" / "shijim" / "crds" / "tradingshard.yaml"
    if not copy.exists():
        pytest.skip("the chart has no CRD copy yet")
    assert yaml.safe_load(copy.read_text()) == CRD, "re-copy crds/tradingshard.yaml into the chart"
