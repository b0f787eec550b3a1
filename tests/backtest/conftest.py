"""Fixtures of the backtest tests; the helpers are in backtest_data.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from backtest_data import Scripted, ScriptedParams
from shijim.app.strategies import STRATEGIES, StrategySpec

# The simulated recordings of the converter's tests (tests/tools/hft_sim_day.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(STRATEGIES, "scripted", StrategySpec(ScriptedParams, Scripted))
    yield
