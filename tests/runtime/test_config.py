"""Config validation: strict keys and types, errors naming the field path."""

from __future__ import annotations

from pathlib import Path

import pytest
from shijim.app.config import load_config, parse_config, with_overrides
from shijim.app.schema import ConfigError


def _err(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_defaults_and_a_full_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "universe: {codes: [TXFL6, '2330']}\n"
        "feed: {kind: sim, seed: 3, pace: fast}\n"
        "strategy: {name: market_making, params: {quote_qty: 2}}\n"
        "risk: {max_position_per_code: {TXFL6: 10}, max_daily_loss: 100000}\n"
        "metrics: {port: 9100}\nkubernetes: {grace_policy: REDUCING}\n"
    )
    cfg = load_config(f)
    assert cfg.universe.codes == ("TXFL6", "2330")
    assert cfg.risk.max_position_per_code["TXFL6"] == 10
    assert cfg.strategy.params["quote_qty"] == 2
    assert cfg.metrics.port == 9100 and cfg.admin.port is None
    assert parse_config(None).feed.kind == "auto"


def test_wrong_type_names_the_field_path() -> None:
    assert _err({"risk": {"max_position_per_code": {"TXFL5": "ten"}}}) == (
        'risk.max_position_per_code.TXFL5: expected integer, got "ten"'
    )
    assert _err({"risk": {"max_position_per_code": {"TXFL5": -1}}}) == (
        "risk.max_position_per_code.TXFL5: must be >= 0, got -1"
    )
    assert _err({"metrics": {"port": True}}) == "metrics.port: expected integer, got true"
    assert _err({"universe": {"codes": ["TXFL6", 2330]}}) == (
        "universe.codes[1]: expected string, got 2330"
    )


def test_unknown_keys_and_enums_and_ranges() -> None:
    assert _err({"risk": {"max_posn": 1}}).startswith("risk.max_posn: unknown key")
    assert _err({"riks": {}}).startswith("riks: unknown key")
    assert "feed.kind: expected one of" in _err({"feed": {"kind": "carrier-pigeon"}})
    assert _err({"shard": {"id": 2, "total": 2}}).startswith("shard.id: must be in [0, ")
    assert "duplicate" in _err({"universe": {"codes": ["A", "A"]}})
    assert _err({"feed": {"kind": "replay"}}).startswith("feed.replay_path: required")
    assert _err([1, 2]) == "<root>: expected a mapping, got a list"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("risk:\n  max_order_qty: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(f)
    f.write_text("risk: {max_order_qty: 0}\n")
    with pytest.raises(ConfigError, match=r"risk.max_order_qty: must be >= 1, got 0 \(in .*bad"):
        load_config(f)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_win_and_are_rechecked() -> None:
    cfg = with_overrides(parse_config({}), feed={"kind": "sim", "seed": None})
    assert cfg.feed.kind == "sim" and cfg.feed.seed == 7
    with pytest.raises(ConfigError, match=r"shard\.id"):
        with_overrides(cfg, shard={"id": 5})


def test_risk_section_is_the_gateway_limits() -> None:
    """The file's risk section is read straight into RiskLimits: one name and one default per
    limit, the same bounds in code and in the file."""
    from shijim.risk.limits import RiskLimits

    cfg = parse_config(
        {
            "risk": {
                "max_order_qty": 3,
                "max_position": 5,
                "max_position_per_code": {"TXFL6": 1},
                "max_price_deviation_pct": 1.5,
                "order_actions_per_10s": 100,
                "max_daily_loss": 7000,
            }
        }
    )
    lim = cfg.risk
    assert isinstance(lim, RiskLimits)
    assert lim.max_order_qty == 3 and lim.max_position == 5
    assert dict(lim.max_position_per_code) == {"TXFL6": 1}
    assert lim.max_price_deviation_pct == 1.5  # percent, in the file and in the rules
    assert lim.order_actions_per_10s == 100 and lim.rate_window_s == 10.0
    assert lim.cancel_reserve == 20  # derived: a fifth, for cancels (docs/risk.md)
    assert lim.max_daily_loss == 7000.0
    assert parse_config({}).risk == RiskLimits()  # one set of defaults
    # The old spellings are errors, not silently ignored (the default would apply).
    assert _err({"risk": {"default_max_position": 4}}).startswith(
        "risk.default_max_position: unknown key"
    )
    assert _err({"risk": {"max_position": {"TXFL6": 1}}}) == (
        "risk.max_position: expected integer, got a mapping"
    )


def test_startup_jitter_is_validated_and_spreads_logins() -> None:
    from shijim.universe import JitterMode, ShardSpec, startup_jitter_seconds

    cfg = parse_config({"shard": {"startup_jitter_seconds": 30, "startup_jitter_mode": "shard"}})
    assert cfg.shard.startup_jitter_seconds == 30.0
    assert _err({"shard": {"startup_jitter_seconds": -1}}).startswith(
        "shard.startup_jitter_seconds: must be a finite number >= 0"
    )
    assert _err({"shard": {"startup_jitter_mode": "sometimes"}}).startswith(
        "shard.startup_jitter_mode"
    )
    # Four pods of one deployment log in 0, 7.5, 15 and 22.5 s after start.
    waits = [startup_jitter_seconds(ShardSpec(k, 4), 30.0, JitterMode.SHARD) for k in range(4)]
    assert waits == [0.0, 7.5, 15.0, 22.5]


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("market_making", {"quote_qty": 0}, "strategy.params.quote_qty: must be >= 1, got 0"),
        ("ofi_momentum", {"threshold": 0.0}, "strategy.params.threshold: must be > 0, got 0.0"),
        ("ofi_momentum", {"levels": 9}, "strategy.params.levels: must be <= 5, got 9"),
    ],
)
def test_strategy_bounds_name_the_field(name: str, params: dict, expected: str) -> None:
    from shijim.app.strategies import check_strategy_config

    cfg = parse_config({"strategy": {"name": name, "params": params}})
    with pytest.raises(ConfigError) as info:
        check_strategy_config(cfg)
    assert str(info.value) == expected


def test_json_schema_refuses_what_it_cannot_express() -> None:
    import dataclasses

    from shijim.app.schema import json_schema

    @dataclasses.dataclass
    class Nested:
        codes: tuple[str, ...] = ()

    with pytest.raises(TypeError, match=r"Nested\.codes"):
        json_schema(Nested)
