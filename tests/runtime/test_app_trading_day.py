"""The trading-day boundary at 15:00 Asia/Taipei (07:00 UTC) and the roll detector."""

from __future__ import annotations

from datetime import UTC, datetime

from shijim.trading_day import DayRoll, trading_day


def _ns(s: str) -> int:
    return int(datetime.fromisoformat(s).astimezone(UTC).timestamp()) * 1_000_000_000


def test_night_session_belongs_to_the_next_day() -> None:
    monday_day = trading_day(_ns("2026-01-05T09:00:00+08:00"))
    assert trading_day(_ns("2026-01-05T14:59:59+08:00")) == monday_day
    assert trading_day(_ns("2026-01-05T15:00:00+08:00")) == monday_day + 1
    assert trading_day(_ns("2026-01-06T04:59:00+08:00")) == monday_day + 1
    assert trading_day(_ns("2026-01-06T13:45:00+08:00")) == monday_day + 1


def test_roll_fires_once_per_boundary() -> None:
    roll = DayRoll()
    assert not roll.crossed(_ns("2026-01-05T14:00:00+08:00"))  # first sight: no roll
    assert not roll.crossed(_ns("2026-01-05T14:59:00+08:00"))
    assert roll.crossed(_ns("2026-01-05T15:00:01+08:00"))
    assert not roll.crossed(_ns("2026-01-05T20:00:00+08:00"))
    assert not roll.crossed(0)
