"""One RiskLimits: the runtime's type is the source of the operator's checks, the CRD's spec.risk
block (test_crd.py) and the config the operator renders; they accept the same limits."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest
import yaml
from shijim.app.config import decision_problem, parse_config
from shijim.app.schema import ConfigError
from shijim.risk.limits import RiskLimits
from shijim.tools import risk_schema
from shijim_operator import builders, risk_limits
from shijim_operator.spec import read_spec
from test_operator_builders import OWNER, checked, example_spec

SCHEMA_FILE = pathlib.Path(risk_limits.__file__).with_name(risk_limits.SCHEMA_FILE)
FIELDS = [f.name for f in dataclasses.fields(RiskLimits)]


def test_operator_schema_file_is_generated_from_the_runtime() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == risk_schema.render(), (
        "stale: python -m shijim.tools.risk_schema --write " + str(SCHEMA_FILE)
    )
    assert risk_schema.main(["--check", str(SCHEMA_FILE)]) == 0


def test_a_new_limit_shows_up_in_the_export_and_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Wider(RiskLimits):
        max_notional_per_order: float = dataclasses.field(
            default=5e6, metadata={"gt": 0, "doc": "TWD per order."}
        )

    current = tmp_path / "risk_limits.json"
    assert risk_schema.main(["--write", str(current)]) == 0
    monkeypatch.setattr(risk_schema, "RiskLimits", Wider)
    rule = risk_schema.schema()["properties"]["maxNotionalPerOrder"]
    assert rule == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "default": 5e6,
        "description": "TWD per order.",
    }
    assert '"maxNotionalPerOrder": "max_notional_per_order"' in risk_schema.render()
    assert risk_schema.main(["--check", str(current)]) == 1  # the shipped copy is now stale


def test_one_name_per_limit() -> None:
    keys = risk_schema.render()
    for name in FIELDS:  # the config key, and its camelCase spelling in the CRD
        assert f'"{risk_schema.crd_name(name)}": "{name}"' in keys
    assert risk_schema.crd_name("order_actions_per_10s") == "orderActionsPer10s"


def test_rendered_defaults_are_the_runtime_defaults() -> None:
    spec = example_spec()
    spec.pop("risk")
    cm = builders.build_config_map(OWNER, checked(spec))
    rendered = yaml.safe_load(cm["data"]["config.yaml"])["risk"]
    assert set(rendered) == set(FIELDS) - {"max_position_per_code"}  # every limit, spelled out
    assert parse_config({"risk": rendered}).risk == RiskLimits()


# Probe values around every bound and of every wrong type: both sides must agree on each.
PROBES = (-1, 0, 0.5, 1, 2, 3, 1e9, True, "1", None, float("inf"), float("nan"), [1], {"X": 1})


def runtime_accepts(name: str, value: object) -> bool:
    try:
        parse_config({"risk": {name: value}})
    except ConfigError:
        return False
    return True


def operator_accepts(name: str, value: object) -> bool:
    spec = example_spec()
    spec["risk"] = {risk_schema.crd_name(name): value}
    _, problems = read_spec(spec)
    return not any(p.field.startswith("risk.") for p in problems)


@pytest.mark.parametrize("name", FIELDS)
def test_operator_and_runtime_agree_on_every_limit(name: str) -> None:
    probes = (*PROBES, {"TXFL6": -1}, {"TXFL6": 0}, {"TXFL6": 1.5}, {"TXFL6": "2"})
    for value in probes:
        assert runtime_accepts(name, value) == operator_accepts(name, value), (name, value)


@pytest.mark.parametrize(
    "text",
    [
        "every_event",
        "on_touch_change",
        "interval_ms:1",
        "interval_ms:250",
        "interval_ms:86400000",
        "interval_ms:86400001",
        "interval_ms:0",
        "interval_ms:-1",
        "interval_ms:x",
        "always",
        "",
    ],
)
def test_operator_and_runtime_agree_on_the_decision_policy(text: str) -> None:
    spec = example_spec()
    spec["strategy"]["decision"] = text
    _, problems = read_spec(spec)
    operator_ok = not any(p.field == "strategy.decision" for p in problems)
    assert operator_ok == (decision_problem(text) is None), text
