"""Trading sessions of TAIFEX and TWSE, as UTC-nanosecond intervals (pure functions).

TAIFEX index futures: day session 08:45-13:45 and night session 15:00-05:00 (next morning),
Asia/Taipei, Monday to Friday (Friday's night session ends Saturday 05:00). TWSE stocks:
09:00-13:30, Monday to Friday. Exchange holidays are not modelled (docs/feeds.md).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from functools import lru_cache

from shijim.gateway.taipei_time import taipei_naive_to_utc_ns, utc_ns_to_taipei


class Market(StrEnum):
    TAIFEX = "TAIFEX"
    TWSE = "TWSE"


# (start, end, end is next day) in Asia/Taipei wall time.
_SESSIONS: dict[Market, tuple[tuple[dt.time, dt.time, bool], ...]] = {
    Market.TAIFEX: (
        (dt.time(8, 45), dt.time(13, 45), False),
        (dt.time(15, 0), dt.time(5, 0), True),
    ),
    Market.TWSE: ((dt.time(9, 0), dt.time(13, 30), False),),
}


@lru_cache(maxsize=4096)
def _day_sessions(market: Market, day: dt.date) -> tuple[tuple[int, int], ...]:
    """Sessions that START on ``day`` (a weekday), as (open_ns, close_ns)."""
    if day.weekday() >= 5:
        return ()
    out = []
    for start, end, next_day in _SESSIONS[market]:
        a = taipei_naive_to_utc_ns(dt.datetime.combine(day, start))
        end_day = day + dt.timedelta(days=1) if next_day else day
        b = taipei_naive_to_utc_ns(dt.datetime.combine(end_day, end))
        out.append((a, b))
    return tuple(out)


def open_intervals(market: Market, t0: int, t1: int) -> list[tuple[int, int]]:
    """The parts of [t0, t1) (UTC ns) during which ``market`` trades, in time order."""
    out: list[tuple[int, int]] = []
    day = utc_ns_to_taipei(t0).date() - dt.timedelta(days=1)
    last = utc_ns_to_taipei(t1).date()
    while day <= last:
        for a, b in _day_sessions(market, day):
            lo, hi = max(a, t0), min(b, t1)
            if lo < hi:
                out.append((lo, hi))
        day += dt.timedelta(days=1)
    return out


def is_open(market: Market, t: int) -> bool:
    return bool(open_intervals(market, t, t + 1))


def next_open(market: Market, t: int) -> int:
    """The first instant >= t at which ``market`` is open (t itself if it is open)."""
    if is_open(market, t):
        return t
    day = utc_ns_to_taipei(t).date()
    for _ in range(10):  # at most a weekend away
        for a, _b in _day_sessions(market, day):
            if a >= t:
                return a
        day += dt.timedelta(days=1)
    raise AssertionError("no session within 10 days")  # unreachable with the table above
