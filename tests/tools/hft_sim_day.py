"""Recorded-like raw files from the simulated market (shijim.gateway.sim_market): the records a
recorder would have written, with local_ts = exch_ts + a constant feed latency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from shijim.events import MarketRecord
from shijim.gateway.sim_market import NS, SimulatedMarket, default_instruments, recorded
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns

# Tuesday 2026-11-24, 08:44:57 Asia/Taipei: three seconds of TAIFEX pre-open (trial matching,
# simtrade records), then the day session.
PRE_OPEN_END = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 45))
START = PRE_OPEN_END - 3 * NS
LATENCY_NS = 200_000


def sim_records(
    codes: Sequence[str] = ("TXFL6",),
    seconds: float = 6.0,
    seed: int = 3,
    rate_scale: float = 0.5,
    start: int = START,
) -> list[MarketRecord]:
    """Every tick, book and session event of `codes` for `seconds` of simulated time, in
    publication order."""
    instruments = [i for i in default_instruments(rate_scale) if i.code in codes]
    end = start + int(seconds * NS)
    out = recorded(SimulatedMarket(instruments, seed, start), end, LATENCY_NS)
    return [r for r in out if r.exch_ts < end]
