"""Trading-day boundaries for the daily loss limit.

TAIFEX's night session (15:00 to 05:00 Asia/Taipei) belongs to the NEXT trading day, and TWSE
trades 09:00-13:30, so one boundary at 15:00 Taipei (07:00 UTC; Taiwan has no daylight saving)
serves both markets: a timestamp at or after 15:00 local belongs to the next day.
"""

from __future__ import annotations

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
# UTC -> Taipei (+8 h), then 15:00 local -> midnight (+9 h).
_SHIFT = 17 * NS_PER_HOUR


def trading_day(ts_ns: int) -> int:
    """Day number (days since 1970-01-01 of the trading day) of a UTC timestamp in ns."""
    return (ts_ns + _SHIFT) // NS_PER_DAY


class DayRoll:
    """Tells when event time crosses into a new trading day (the first call never does)."""

    def __init__(self) -> None:
        self.day: int | None = None

    def crossed(self, ts_ns: int) -> bool:
        if ts_ns <= 0:
            return False
        day = trading_day(ts_ns)
        if self.day is None:
            self.day = day
            return False
        if day > self.day:
            self.day = day
            return True
        return False
