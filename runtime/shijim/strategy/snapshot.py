"""SystemSnapshot: what a dashboard (another process or thread) may show of a running shard.

Built by the runner on its own thread at a bounded rate and handed to a callback; the callback
must not block (it stores the reference: shijim.dashboard.channel). Every field is an immutable
copy (frozen rows, tuples, fresh dicts nobody else holds), so another thread may read or
serialise a snapshot while the trading thread goes on: the trading thread never serialises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from shijim.domain import Order, OrderStatus, Side, TradingState

# The tables' rows (books, working orders, holdings, rejections) are NamedTuples, not frozen
# dataclasses: as immutable, their fields are the wire's columns in order, and a row is one
# tuple allocation (the engine fills BookTops itself). A build runs on the trading thread ten
# times a second: with 50 books and 200 orders it took ~400 us back to back as dataclasses
# (~660 us after 50 ms away), ~120 us as rows (~330 us) (docs/dashboard.md).


class BookTop(NamedTuple):
    code: str
    bid: float
    bid_qty: int
    ask: float
    ask_qty: int
    microprice: float
    imbalance: float
    last_trade: float
    exch_ts: int
    ofi: float = 0.0  # folded MLOFI, summed since the start (docs/engine.md: `ofi_total`)
    ofi_best: float = 0.0  # OFI at the best level (e^0), summed since the start

    @property
    def spread(self) -> float:
        return self.ask - self.bid

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


class WorkingOrder(NamedTuple):
    """A copy of a working ``Order`` (the adapter mutates its own ``Order`` objects)."""

    order_id: str
    code: str
    side: Side
    qty: int
    remaining: int
    price: float
    status: OrderStatus
    created_ns: int
    tag: str = ""


# An order's values in WorkingOrder's field order, read in C (one call per order).
_order_values = attrgetter(*WorkingOrder._fields)
_make_order = WorkingOrder._make


def working_orders(orders: Mapping[str, Order]) -> tuple[WorkingOrder, ...]:
    """Copies of ``orders``' values (taken at once: the adapter may change the mapping)."""
    return tuple(map(_make_order, map(_order_values, tuple(orders.values()))))


class Holding(NamedTuple):
    """One code's position and PnL (TWD) in the engine's account."""

    code: str
    net: int
    avg_price: float
    realised: float  # before fees
    unrealised: float
    fees: float


@dataclass(frozen=True, slots=True)
class AccountTotals:
    """Shard PnL in TWD: gross = realised + unrealised; net = gross - fees (docs/risk.md)."""

    realised: float = 0.0
    unrealised: float = 0.0
    fees: float = 0.0

    @property
    def gross(self) -> float:
        return self.realised + self.unrealised

    @property
    def net(self) -> float:
        return self.gross - self.fees


@dataclass(frozen=True, slots=True)
class Demand:
    """One kill-switch source's demand (shijim.risk.state.TradingStateMachine)."""

    state: str  # TradingState name
    reason: str


class RecentReject(NamedTuple):
    at_ns: int  # wall clock
    reason: str  # RejectReason value
    subject: str  # the intent's code, or the order id of a refused amend or deferred cancel
    detail: str


@dataclass(frozen=True, slots=True)
class StrategyState:
    name: str
    decision: str  # the engine's decision policy
    fields: Mapping[str, str | int | float | bool] = field(default_factory=dict)  # describe()


@dataclass(frozen=True, slots=True)
class RingStatus:
    lag: int = 0  # messages the strategy's reader is behind the writer
    lost: int = 0
    resyncs: int = 0


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    ts_ns: int  # wall clock when the trading thread built it
    state: TradingState
    books: Mapping[str, BookTop]
    positions: Mapping[str, int]
    pnl: float  # net of fees
    working_orders: tuple[WorkingOrder, ...]
    counters: Mapping[str, int]
    account: AccountTotals = AccountTotals()
    holdings: tuple[Holding, ...] = ()
    demands: Mapping[str, Demand] = field(default_factory=dict)  # by KillSwitchSource value
    rejects: Mapping[str, int] = field(default_factory=dict)  # by RejectReason value
    recent_rejects: tuple[RecentReject, ...] = ()  # oldest first
    strategy: StrategyState = StrategyState("", "")
    ring: RingStatus = RingStatus()
    last_event_ns: int = 0  # wall receive stamp of the newest ingested event; 0 = none yet


DESCRIBE_MAX_FIELDS = 16


def described(fields: object) -> Mapping[str, str | int | float | bool]:
    """A strategy's optional ``describe() -> Mapping`` as a small flat copy of scalars (what a
    dashboard can show; anything else is shown as its ``str``, cut to 60 characters)."""
    if not isinstance(fields, Mapping):
        return {"describe": f"expected a mapping, got {type(fields).__name__}"}
    out: dict[str, str | int | float | bool] = {}
    for key, value in list(fields.items())[:DESCRIBE_MAX_FIELDS]:
        if isinstance(value, bool | int | str) or (
            isinstance(value, float) and math.isfinite(value)
        ):
            out[str(key)[:40]] = value if not isinstance(value, str) else value[:60]
        else:
            out[str(key)[:40]] = str(value)[:60]
    return out
