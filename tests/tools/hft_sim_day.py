"""Recorded-like raw files from the simulated market (shijim.gateway.sim_market): the records a
recorder would have written, with local_ts = exch_ts + a constant feed latency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from shijim.events import (
    BidAskRecord,
    EventKind,
    EventRecord,
    MarketRecord,
    SessionState,
    TickRecord,
    TickType,
)
from shijim.gateway.sim_market import NS, SimulatedMarket, default_instruments
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns

# Tuesday 2026-11-24, 08:44:57 Asia/Taipei: three seconds of TAIFEX pre-open (trial matching,
# simtrade records), then the day session.
PRE_OPEN_END = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 45))
START = PRE_OPEN_END - 3 * NS
LATENCY_NS = 200_000


def _price(x: float) -> Decimal:
    return Decimal(repr(float(x)))


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
    market = SimulatedMarket(instruments, seed, start)
    out: list[MarketRecord] = []
    end = start + int(seconds * NS)
    seq = 0
    while market.clock_ns < end:
        chunk = market.next_chunk()
        for kind, i in zip(chunk.kinds.tolist(), chunk.index.tolist(), strict=True):
            seq += 1
            if kind == 0:
                ts, code, state = chunk.sessions[i]
                out.append(EventRecord(
                    code, ts, ts + LATENCY_NS, seq, EventKind.SESSION_STATE, SessionState(state),
                    None, 0, "",
                ))  # fmt: skip
            elif kind == 1:
                t = chunk.ticks[i]
                ts = int(t["exch_ts"])
                out.append(TickRecord(
                    t["code"].decode(), ts, ts + LATENCY_NS, seq, _price(t["price"]),
                    int(t["volume"]), int(t["total_volume"]), TickType(int(t["tick_type"])),
                    bool(t["simtrade"]),
                ))  # fmt: skip
            else:
                b = chunk.bidasks[i]
                ts = int(b["exch_ts"])
                out.append(BidAskRecord(
                    b["code"].decode(), ts, ts + LATENCY_NS, seq,
                    tuple(map(_price, b["bid_px"])), tuple(map(int, b["bid_qty"])),
                    tuple(map(_price, b["ask_px"])), tuple(map(int, b["ask_qty"])),
                    bool(b["simtrade"]),
                ))  # fmt: skip
    return [r for r in out if r.exch_ts < end]
