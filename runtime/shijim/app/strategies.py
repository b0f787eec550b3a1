"""Strategies by name, each with a strictly validated parameter dataclass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shijim.app.config import RuntimeConfig
from shijim.app.schema import ConfigError, json_schema, read_dataclass
from shijim.domain import LadderOf, fixed_tick
from shijim.strategy.base import Strategy
from shijim.strategy.fused_signals import FusedSignals, FusedSignalsParams
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.ofi_momentum import OfiMomentum, OfiMomentumParams


@dataclass(frozen=True)
class StrategySpec:
    params: type
    build: Callable[[Any, LadderOf], Strategy]


STRATEGIES: dict[str, StrategySpec] = {
    "fused_signals": StrategySpec(FusedSignalsParams, FusedSignals),
    "market_making": StrategySpec(MarketMakingParams, MarketMaking),
    "ofi_momentum": StrategySpec(OfiMomentumParams, OfiMomentum),
}


def strategy_params(cfg: RuntimeConfig) -> Any:
    spec = STRATEGIES.get(cfg.strategy.name)
    if spec is None:
        raise ConfigError(
            "strategy.name",
            f'unknown strategy "{cfg.strategy.name}" (known: {", ".join(STRATEGIES)})',
        )
    return read_dataclass(spec.params, dict(cfg.strategy.params), "strategy.params")


def check_strategy_config(cfg: RuntimeConfig) -> None:
    """Every field's type and bounds, and the rules across fields that only the constructor
    knows (building a strategy is pure: no orders, no I/O)."""
    build_strategy(cfg, fixed_tick(1.0))


def parameter_schemas() -> dict[str, dict[str, Any]]:
    """Each strategy's parameter schema (types, defaults, bounds): exported for the operator,
    which checks a TradingShard's strategy before any pod runs it."""
    return {name: json_schema(spec.params) for name, spec in sorted(STRATEGIES.items())}


def build_strategy(cfg: RuntimeConfig, ladder_of: LadderOf) -> Strategy:
    """``ladder_of(code)``: the code's tick at a price (InstrumentTable.ladder)."""
    params = strategy_params(cfg)
    try:
        return STRATEGIES[cfg.strategy.name].build(params, ladder_of)
    except ValueError as exc:
        raise ConfigError("strategy.params", str(exc)) from exc
