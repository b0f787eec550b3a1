"""Strategies by name, each with a strictly validated parameter dataclass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shijim.app.config import RuntimeConfig
from shijim.app.schema import ConfigError, read_dataclass
from shijim.strategy.base import Strategy
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.ofi_momentum import OfiMomentum, OfiMomentumParams

TickOf = Callable[[str, float], float]


@dataclass(frozen=True)
class StrategySpec:
    params: type
    build: Callable[[Any, TickOf], Strategy]


STRATEGIES: dict[str, StrategySpec] = {
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
    strategy_params(cfg)


def build_strategy(cfg: RuntimeConfig, tick_of: TickOf) -> Strategy:
    params = strategy_params(cfg)
    try:
        return STRATEGIES[cfg.strategy.name].build(params, tick_of)
    except ValueError as exc:
        raise ConfigError("strategy.params", str(exc)) from exc
