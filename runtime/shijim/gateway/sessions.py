"""Trading sessions of TAIFEX and TWSE, as UTC-nanosecond intervals (pure functions).

TAIFEX index futures: day session 08:45-13:45 and night session 15:00-05:00 (next morning),
Asia/Taipei, Monday to Friday (Friday's night session ends Saturday 05:00); pre-open (order
entry with trial matching, Shioaji's ``simtrade`` quotes) 08:30-08:45 and 14:50-15:00. TWSE
stocks: 09:00-13:30, pre-open 08:30-09:00, Monday to Friday. Exchange holidays are not
modelled (docs/feeds.md).
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
_PRE_OPEN: dict[Market, tuple[tuple[dt.time, dt.time, bool], ...]] = {
    Market.TAIFEX: (
        (dt.time(8, 30), dt.time(8, 45), False),
        (dt.time(14, 50), dt.time(15, 0), False),
    ),
    Market.TWSE: ((dt.time(8, 30), dt.time(9, 0), False),),
}


@lru_cache(maxsize=4096)
def _day_sessions(
    market: Market, day: dt.date, pre_open: bool = False
) -> tuple[tuple[int, int], ...]:
    """Sessions (or pre-opens) that START on ``day`` (a weekday), as (start_ns, end_ns)."""
    if day.weekday() >= 5:
        return ()
    out = []
    for start, end, next_day in (_PRE_OPEN if pre_open else _SESSIONS)[market]:
        a = taipei_naive_to_utc_ns(dt.datetime.combine(day, start))
        end_day = day + dt.timedelta(days=1) if next_day else day
        b = taipei_naive_to_utc_ns(dt.datetime.combine(end_day, end))
        out.append((a, b))
    return tuple(out)


def open_intervals(
    market: Market, t0: int, t1: int, pre_open: bool = False
) -> list[tuple[int, int]]:
    """The parts of [t0, t1) (UTC ns) during which ``market`` trades (or, with ``pre_open``,
    is in its pre-open), in time order."""
    out: list[tuple[int, int]] = []
    day = utc_ns_to_taipei(t0).date() - dt.timedelta(days=1)
    last = utc_ns_to_taipei(t1).date()
    while day <= last:
        for a, b in _day_sessions(market, day, pre_open):
            lo, hi = max(a, t0), min(b, t1)
            if lo < hi:
                out.append((lo, hi))
        day += dt.timedelta(days=1)
    return out


def is_open(market: Market, t: int) -> bool:
    return bool(open_intervals(market, t, t + 1))


def next_open(market: Market, t: int, pre_open: bool = False) -> int:
    """The first instant >= t at which ``market`` is open (with ``pre_open``: open or in its
    pre-open); t itself if it already is."""
    if is_open(market, t) or (pre_open and open_intervals(market, t, t + 1, pre_open=True)):
        return t
    day = utc_ns_to_taipei(t).date()
    for _ in range(10):  # at most a weekend away
        starts = [a for a, _b in _day_sessions(market, day)]
        if pre_open:
            starts += [a for a, _b in _day_sessions(market, day, True)]
        later = [a for a in starts if a >= t]
        if later:
            return min(later)
        day += dt.timedelta(days=1)
    raise AssertionError("no session within 10 days")  # unreachable with the table above
