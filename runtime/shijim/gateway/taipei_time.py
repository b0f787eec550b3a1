"""Asia/Taipei wall time <-> UTC nanoseconds, exactly (integer arithmetic, no floats).

Shioaji stamps quotes with naive Asia/Taipei local times. Taiwan has kept UTC+08:00 without
daylight saving since 1980, so the conversion is a fixed offset; doing it with integer
``timedelta`` arithmetic keeps every microsecond (``datetime.timestamp()`` would go through a
float and can be off by one microsecond).
"""

from __future__ import annotations

import datetime as dt

TAIPEI_OFFSET_NS = 8 * 3600 * 1_000_000_000
TAIPEI = dt.timezone(dt.timedelta(hours=8), "Asia/Taipei")
_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def taipei_naive_to_utc_ns(local: dt.datetime) -> int:
    """Naive Asia/Taipei datetime -> ns since the Unix epoch (UTC)."""
    if local.tzinfo is not None:
        raise ValueError(f"expected a naive Asia/Taipei datetime, got tz-aware {local!r}")
    return (local - _EPOCH) // _US * 1000 - TAIPEI_OFFSET_NS


def utc_ns_to_taipei(ns: int) -> dt.datetime:
    """ns since the Unix epoch (UTC) -> naive Asia/Taipei datetime (truncated to µs)."""
    return _EPOCH + dt.timedelta(microseconds=(ns + TAIPEI_OFFSET_NS) // 1000)
