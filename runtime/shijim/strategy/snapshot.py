"""SystemSnapshot: what a dashboard (another process or thread) may show of a running shard.

Built by the runner on its own thread at a bounded rate and handed to a callback; the callback
must not block (hand it to a queue). All fields are immutable copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shijim.domain import Order, TradingState


@dataclass(frozen=True, slots=True)
class BookTop:
    code: str
    bid: float
    bid_qty: int
    ask: float
    ask_qty: int
    microprice: float
    imbalance: float
    last_trade: float
    exch_ts: int
    ofi: float = 0.0  # folded MLOFI the strategy last saw


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    ts_ns: int
    state: TradingState
    books: Mapping[str, BookTop]
    positions: Mapping[str, int]
    pnl: float
    working_orders: tuple[Order, ...]
    counters: Mapping[str, int]
