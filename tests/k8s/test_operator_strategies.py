"""The operator's strategy checks agree with the runtime's, from one generated schema."""

from __future__ import annotations

import itertools
import pathlib

import pytest
from emulator import EXAMPLE
from shijim.app.config import parse_config
from shijim.app.schema import ConfigError
from shijim.app.strategies import STRATEGIES, check_strategy_config
from shijim.tools import strategy_schema
from shijim_operator import strategies
from shijim_operator.spec import read_spec
from test_operator_builders import example_spec

SCHEMA_FILE = pathlib.Path(strategies.__file__).with_name(strategies.SCHEMA_FILE)


def test_operator_schema_file_is_generated_from_the_runtime() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == strategy_schema.render(), (
        "stale: python -m shijim.tools.strategy_schema --write " + str(SCHEMA_FILE)
    )
    assert strategy_schema.main(["--check", str(SCHEMA_FILE)]) == 0


def test_check_mode_reports_a_stale_file(tmp_path: pathlib.Path) -> None:
    stale = tmp_path / "s.json"
    stale.write_text("{}\n")
    assert strategy_schema.main(["--check", str(stale)]) == 1
    assert strategy_schema.main(["--write", str(stale)]) == 0
    assert strategy_schema.main(["--check", str(stale)]) == 0


def test_every_runtime_strategy_is_known_to_the_operator() -> None:
    assert set(strategies.parameter_schemas()) == set(STRATEGIES)


# Probe values around every bound and of every wrong type: both sides must agree on each.
PROBES = (-1, 0, 0.5, 1, 2, 5, 6, 1e9, 1.5, True, "1", None, float("inf"), [1])


def runtime_accepts(name: str, params: dict[str, object]) -> bool:
    raw = {"strategy": {"name": name, "params": params}}
    try:
        check_strategy_config(parse_config(raw))
    except ConfigError:
        return False
    return True


def operator_accepts(name: str, params: dict[str, object]) -> bool:
    spec = example_spec()
    spec["strategy"] = {"name": name, "parameters": params}
    _, problems = read_spec(spec)
    return not any(p.field.startswith("strategy.") for p in problems)


@pytest.mark.parametrize(
    ("name", "key"),
    [(n, k) for n, s in sorted(STRATEGIES.items()) for k in s.params.__dataclass_fields__],
)
def test_operator_and_runtime_agree_on_every_parameter(name: str, key: str) -> None:
    for value in PROBES:
        params = {key: value}
        assert operator_accepts(name, params) == runtime_accepts(name, params), (key, value)
    assert not operator_accepts(name, {key + "_typo": 1})
    assert not runtime_accepts(name, {key + "_typo": 1})


def test_rules_across_fields_stay_in_the_runtime() -> None:
    zero = {"w_ofi": 0, "w_microprice": 0, "w_imbalance": 0}
    with pytest.raises(ConfigError, match="w_ofi \\+ w_microprice \\+ w_imbalance must be > 0"):
        check_strategy_config(parse_config({"strategy": {"name": "ofi_momentum", "params": zero}}))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (
            {"name": "grid"},
            "spec.strategy.name: unknown strategy 'grid' (known: fused_signals, market_making",
        ),
        (
            {"name": "market_making", "parameters": {"quote_qty": 0}},
            "spec.strategy.parameters.quote_qty: must be >= 1, got 0",
        ),
        (
            {"name": "market_making", "parameters": {"quote_qty": "2"}},
            "spec.strategy.parameters.quote_qty: expected an integer, got '2'",
        ),
        (
            {"name": "ofi_momentum", "parameters": {"threshold": 0}},
            "spec.strategy.parameters.threshold: must be > 0, got 0",
        ),
        (
            {"name": "ofi_momentum", "parameters": {"levels": 6}},
            "spec.strategy.parameters.levels: must be <= 5, got 6",
        ),
        (
            {"name": "ofi_momentum", "parameters": {"level": 3}},
            "spec.strategy.parameters.level: unknown parameter (known: levels, limit_ticks",
        ),
    ],
)
def test_strategy_problems_name_the_field(strategy: dict[str, object], expected: str) -> None:
    spec = example_spec()
    spec["strategy"] = strategy
    result, problems = read_spec(spec)
    assert result is None
    assert any(str(p).startswith(expected) for p in problems), [str(p) for p in problems]


def test_the_example_and_every_default_pass_both() -> None:
    assert read_spec(example_spec())[0] is not None, EXAMPLE
    for name in STRATEGIES:
        assert operator_accepts(name, {}) and runtime_accepts(name, {})


def test_probe_pairs_agree_too() -> None:
    # Two parameters at once, to catch a checker that stops at the first problem only on one side.
    keys = ("quote_qty", "max_inventory", "requote_ticks")
    for values in itertools.product((0, 1, -1), repeat=len(keys)):
        params = dict(zip(keys, values, strict=True))
        assert operator_accepts("market_making", params) == runtime_accepts("market_making", params)
