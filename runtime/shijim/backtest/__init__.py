"""Backtests of the live strategies on recorded data, with hftbacktest as the matching venue
(docs/backtest.md): ``HftBacktestAdapter`` runs the runtime's engine, runner, strategy and risk
gateway unchanged and swaps the venue for ``HftVenue``."""

from __future__ import annotations

from shijim.backtest.adapter import BacktestError, BacktestResult, BacktestSpec, HftBacktestAdapter
from shijim.backtest.models import LatencyModel, ModelError, QueueModel, VenueModels
from shijim.backtest.venue import HftAsset, HftVenue

__all__ = [
    "BacktestError",
    "BacktestResult",
    "BacktestSpec",
    "HftAsset",
    "HftBacktestAdapter",
    "HftVenue",
    "LatencyModel",
    "ModelError",
    "QueueModel",
    "VenueModels",
]
