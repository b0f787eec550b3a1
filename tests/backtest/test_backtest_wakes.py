"""Nothing calls Python between two due decisions, yet a fill in hftbacktest reaches the
strategy at the event it happens on: the market-making demo gives exactly the same order actions
and fills whether its standby answers most events in the engine or every event goes to Python
(where hftbacktest is looked at after each one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from backtest_data import write
from hft_sim_day import sim_records
from shijim.app.config import parse_config
from shijim.app.strategies import STRATEGIES, StrategySpec
from shijim.backtest import BacktestResult, BacktestSpec, HftBacktestAdapter, VenueModels
from shijim.backtest.models import LatencyModel, QueueModel
from shijim.strategy.base import StandBy
from shijim.strategy.market_making import MarketMaking, MarketMakingParams


class NoStandBy:
    """The strategy with its standbys dropped: every due event is decided in Python."""

    def __init__(self, strategy: Any) -> None:
        self._s = strategy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)

    def on_market(self, view: Any, ctx: Any) -> Any:
        actions = self._s.on_market(view, ctx)
        return [a for a in actions if not isinstance(a, StandBy)] if actions else actions


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("day")
    recs = sim_records(codes=("TXFL6", "MXFL6"), seconds=25.0, seed=5, rate_scale=0.5)
    return [write(tmp, [r for r in recs if r.code in (c, "")], c) for c in ("TXFL6", "MXFL6")]


def backtest(data: Sequence[Path], name: str, latency: str, queue: str) -> BacktestResult:
    cfg = parse_config({"strategy": {"name": name, "params": {"min_requote_ms": 300.0}}})
    models = VenueModels(LatencyModel.parse(latency), QueueModel.parse(queue))
    return HftBacktestAdapter(BacktestSpec(tuple(map(str, data)), cfg, models)).run()


@pytest.mark.parametrize(
    ("latency", "queue"),
    [("zero", "risk_averse"), ("constant:5ms,3ms", "power:2"), ("constant:20ms", "log")],
)
def test_the_standby_changes_nothing_but_the_number_of_python_calls(
    day: list[Path], monkeypatch: pytest.MonkeyPatch, latency: str, queue: str
) -> None:
    monkeypatch.setitem(
        STRATEGIES,
        "mm_no_standby",
        StrategySpec(MarketMakingParams, lambda p, ladders: NoStandBy(MarketMaking(p, ladders))),
    )
    fast = backtest(day, "market_making", latency, queue)
    slow = backtest(day, "mm_no_standby", latency, queue)
    assert slow.summary.standby_answers == 0
    assert fast.summary.standby_answers > fast.summary.decisions // 2  # most events, in Rust
    assert fast.summary.decisions == slow.summary.decisions
    assert len(fast.journal.fills) >= 20, "a stream with fills of both codes"
    assert {f.code for f in fast.journal.fills} == {"TXFL6", "MXFL6"}
    assert fast.journal.actions == slow.journal.actions
    assert fast.journal.fills == slow.journal.fills
    assert fast.summary.counts() | {"standby_answers": 0} == slow.summary.counts()
    # Every fill reached the strategy at the event its answer arrived with, never later.
    response = LatencyModel.parse(latency).response_ns
    for f in fast.journal.fills:
        assert f.exec_ns + response <= f.seen_ns < f.exec_ns + response + 50_000_000
