"""Sharpe ratio and max drawdown of an equity series, checked by hand."""

from __future__ import annotations

import math

from shijim.backtest.equity import EquitySeries, max_drawdown, sharpe, stats, trading_days

DAY = 86_400 * 10**9
T = 1_795_482_000_000_000_000  # 2026-11-24 09:00 Asia/Taipei


def test_sharpe_is_the_annualised_ratio_of_bar_changes() -> None:
    # Changes from the start (0): 10, 10, -5, 15; mean 7.5, sample std sqrt(75); 4 bars a day.
    expected = 7.5 / math.sqrt(75) * math.sqrt(4 * 252)
    assert math.isclose(sharpe([10, 20, 15, 30], days=1), expected)
    assert math.isclose(sharpe([10, 20, 15, 30], days=2), expected / math.sqrt(2))
    assert sharpe([5, 5, 5, 5], days=1) is not None  # one change of 5, then nothing
    assert sharpe([0, 0, 0], days=1) is None  # no variation: undefined, not infinite
    assert sharpe([1, 2], days=1) is None


def test_max_drawdown_runs_from_the_peak_including_the_start() -> None:
    assert max_drawdown([10, 20, 15, 30, 12]) == 18
    assert max_drawdown([-5, -3, -8]) == 8  # the peak is the flat start
    assert max_drawdown([1, 2, 3]) == 0
    assert max_drawdown([]) == 0


def test_series_stats_count_trading_days_with_the_night_session_on_the_next_day() -> None:
    # 09:00 and 14:00 on one day, 16:00 (night session: the next trading day).
    ts = [T, T + 5 * 3600 * 10**9, T + 7 * 3600 * 10**9]
    assert trading_days(ts) == 2
    s = EquitySeries(("TXFL6",))
    for t, p in zip(ts, [100.0, -50.0, 25.0], strict=True):
        s.add(t, p, [1])
    st = stats(s)
    assert (st.bars, st.days, st.max_drawdown) == (3, 2, 150.0)
    assert EquitySeries.from_json(s.to_json()) == s
