"""The one domain model of orders, fills and positions.

Strategies emit ``OrderIntent``; the risk gateway turns an accepted intent into an ``Order`` held
by an execution adapter (paper exchange, Shioaji, backtest). Adapters report ``OrderUpdate`` and
``Fill`` events. Quantities are integers in the instrument's *order unit*: contracts for futures
and options, board lots (1000 shares) for stocks traded with ``order_lot="Common"``, shares for
odd-lot instruments. ``Instrument.multiplier`` is the TWD value of one price point for one order
unit (TXF 200, MXF 50, board-lot stock 1000, odd-lot stock 1), so PnL is always
``qty * price_move * multiplier`` in TWD.

It is also the vocabulary every package shares (trading states, kill-switch sources, code holds,
risk rejections), so strategies, risk, execution and governance depend on this module rather
than on each other. It imports nothing from shijim (a test keeps it so).
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right as _bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import shijim_core


class Side(enum.IntEnum):
    """The value is the sign of the position change a fill of this side causes."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


# The engine's side codes (built in Rust; also its aggressor codes, 0 meaning unknown).
ENGINE_SIDE: dict[Side, int] = {Side.BUY: shijim_core.SIDE_BUY, Side.SELL: shijim_core.SIDE_SELL}
SIDE_OF_ENGINE: dict[int, Side] = {code: side for side, code in ENGINE_SIDE.items()}


class TradingState(enum.IntEnum):
    """What a shard (or one code) may do. Ordered by severity: a larger value is more
    restrictive, so the effective state of several demands is their ``max``."""

    ACTIVE = 0
    REDUCING = 1  # only position-reducing orders
    HALTED = 2  # no orders; working orders cancelled


class Vocabulary(enum.Enum):
    """The base of the domain's named-value enums. Members are singletons compared by identity,
    so they are hashed by identity too, in C: ``Enum.__hash__`` is a Python call, paid on every
    dict or set lookup (order statuses and times in force are looked up on the order path)."""

    __hash__ = object.__hash__


class KillSwitchSource(Vocabulary):
    """Who demands a trading state (shijim.risk.state.TradingStateMachine; docs/risk.md)."""

    CRD = "crd"
    ADMIN = "admin"
    DASHBOARD = "dashboard"
    FILE = "file"
    SIGNAL = "signal"
    LOSS_LIMIT = "loss_limit"
    API_GRACE = "api_grace"
    FEED = "feed"
    SHUTDOWN = "shutdown"


class CodeHold(enum.StrEnum):
    """Why one code must not be traded (shijim.risk.code_gate; metric label values)."""

    DATA = "data"  # its market data is being dropped: the book is frozen or untrustworthy
    UNOWNED = "unowned"  # resharding: another pod may own it


class RejectReason(Vocabulary):
    """Why an order was refused, by risk or by the venue (metric label values; docs/risk.md)."""

    HALTED = "halted"
    CODE_HELD = "code_held"  # this code is held (bad data, resharding); others may trade
    REDUCING_ONLY = "reducing_only"
    INVALID_QTY = "invalid_qty"
    INVALID_PRICE = "invalid_price"
    UNKNOWN_CODE = "unknown_code"
    UNKNOWN_ORDER = "unknown_order"
    FAT_FINGER_QTY = "fat_finger_qty"
    NO_REFERENCE_PRICE = "no_reference_price"
    FAT_FINGER_PRICE = "fat_finger_price"
    DAILY_LOSS = "daily_loss"
    POSITION_LIMIT = "position_limit"
    GROSS_LIMIT = "gross_limit"
    MAX_WORKING = "max_working"
    RATE_LIMIT = "rate_limit"
    ADAPTER = "adapter"  # the execution adapter refused (e.g. broker API error)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str

    def __bool__(self) -> bool:  # so `if result:` never mistakes a rejection for an order
        return False


class TimeInForce(Vocabulary):
    ROD = "ROD"  # rest of day (good for the session)
    IOC = "IOC"  # immediate or cancel
    FOK = "FOK"  # fill or kill


class OrderStatus(Vocabulary):
    PENDING_SUBMIT = "pending_submit"  # sent, no acknowledgement yet
    SUBMITTED = "submitted"  # acknowledged and working
    PART_FILLED = "part_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # refused by the venue/broker (risk rejections never become Orders)
    FAILED = "failed"  # transport failure; outcome reported by reconciliation

    @property
    def is_working(self) -> bool:
        return self in _WORKING


_WORKING = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED, OrderStatus.PART_FILLED})


class InstrumentKind(Vocabulary):
    FUTURE = "future"
    OPTION = "option"
    STOCK = "stock"


_STOCK = InstrumentKind.STOCK  # a global: Enum class attributes are slow on 3.11 (rules.py)

# TWSE/TPEx stock tick-size ladder: (upper price bound exclusive, tick).
_STOCK_TICKS: tuple[tuple[float, float], ...] = (
    (10.0, 0.01),
    (50.0, 0.05),
    (100.0, 0.1),
    (500.0, 0.5),
    (1000.0, 1.0),
    (math.inf, 5.0),
)
# The same ladder for one C call per lookup (bisect): its finite bounds, and the tick below
# each of them with the last tick beyond. A stock's tick is read several times per acting
# decision (the strategy's quotes, risk's grid check); the loop cost ~12 lines for a 600 TWD one.
_STOCK_BOUNDS = tuple(b for b, _ in _STOCK_TICKS[:-1])
_STOCK_TICK_AT = tuple(t for _, t in _STOCK_TICKS)


# A code's tick at a price (Instrument.tick_size: TWSE's ladder, one tick for futures), and how
# a strategy is given each code's (``ladder_of(code)``, asked once per code and kept).
TickLadder = Callable[[float], float]
LadderOf = Callable[[str], TickLadder]


def fixed_tick(tick: float) -> LadderOf:
    """Every code has this one tick at every price (tests, benches, a strategy config check)."""

    def ladder(_price: float) -> float:
        return tick

    return lambda _code: ladder


@dataclass(frozen=True, slots=True)
class Instrument:
    """Static facts about one tradable code (the contract's exchange code, e.g. ``TXFL5``)."""

    code: str
    kind: InstrumentKind
    multiplier: float  # TWD per price point per order unit
    tick: float = 1.0  # futures/options: fixed tick; stocks use the TWSE ladder
    odd_lot: bool = False  # stocks only: quantities are shares, not board lots

    def tick_size(self, price: float) -> float:
        if self.kind is not _STOCK:
            return self.tick
        # The first bound above the price (a bound itself takes the next tick up; NaN the last).
        return _STOCK_TICK_AT[_bisect_right(_STOCK_BOUNDS, price)]

    @staticmethod
    def future(code: str, multiplier: float, tick: float = 1.0) -> Instrument:
        return Instrument(code, InstrumentKind.FUTURE, multiplier, tick)

    @staticmethod
    def stock(code: str, odd_lot: bool = False) -> Instrument:
        return Instrument(code, InstrumentKind.STOCK, 1.0 if odd_lot else 1000.0, 0.01, odd_lot)


# Futures multipliers by product prefix (TAIFEX): TWD per index point per contract.
FUTURES_MULTIPLIERS: dict[str, float] = {"TXF": 200.0, "MXF": 50.0, "TMF": 10.0}


def instrument_for(code: str) -> Instrument:
    """Best guess from the code alone (futures by 3-letter product prefix, 4-6 digit codes are
    stocks). Production configs should list instruments explicitly; this keeps tests short."""
    prefix = code[:3]
    if prefix in FUTURES_MULTIPLIERS:
        return Instrument.future(code, FUTURES_MULTIPLIERS[prefix])
    if code.isdigit() or (code[:4].isdigit() and len(code) <= 6):
        return Instrument.stock(code)
    raise ValueError(f"instrument_for: unknown code {code!r}: configure its multiplier and tick")


class OrderIntent(NamedTuple):
    """What a strategy wants. Limit orders only: a marketable limit replaces market orders so the
    risk layer always has a price to check.

    Immutable; a NamedTuple, not a frozen dataclass: one is built per order on the
    tick-to-order path, ~3x faster (as MarketView and SignalSnapshot)."""

    code: str
    side: Side
    qty: int
    price: float
    tif: TimeInForce = TimeInForce.ROD
    tag: str = ""  # free text for the strategy (e.g. its name); echoed on the Order


@dataclass(slots=True)
class Order:
    """An order accepted by risk and handed to an adapter. Mutated only by its adapter."""

    order_id: str  # ours; the Shioaji adapter uses the broker's trade id (order.id)
    code: str
    side: Side
    qty: int  # current total quantity (after amends)
    price: float
    tif: TimeInForce = TimeInForce.ROD
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    filled_qty: int = 0
    cancelled_qty: int = 0
    created_ns: int = 0
    updated_ns: int = 0
    tag: str = ""
    broker_ref: str = ""  # broker order number (ordno) once known
    reason: str = ""  # rejection/failure text from the venue

    @property
    def remaining(self) -> int:
        return max(0, self.qty - self.filled_qty - self.cancelled_qty)

    @property
    def is_working(self) -> bool:
        return self.status.is_working


class Fill(NamedTuple):
    """One deal. ``fill_id`` is unique per venue and is the dedupe key. (Immutable events are
    NamedTuples: built on the tick-to-order path, ~3x cheaper than frozen dataclasses.)"""

    fill_id: str
    order_id: str
    code: str
    side: Side
    qty: int
    price: float
    ts_ns: int
    fee: float = 0.0  # TWD, fees + tax; 0 when the adapter does not model costs


class OrderUpdate(NamedTuple):
    """A snapshot of an order after a change (ack, amend, cancel, reject, fill)."""

    order_id: str
    code: str
    status: OrderStatus
    qty: int
    filled_qty: int
    cancelled_qty: int
    price: float
    ts_ns: int
    reason: str = ""

    @staticmethod
    def of(order: Order, ts_ns: int) -> OrderUpdate:
        return OrderUpdate(
            order.order_id,
            order.code,
            order.status,
            order.qty,
            order.filled_qty,
            order.cancelled_qty,
            order.price,
            ts_ns,
            order.reason,
        )


ExecutionEvent = OrderUpdate | Fill


@dataclass(frozen=True, slots=True)
class Position:
    """Snapshot of one code's position. ``net_qty`` > 0 long, < 0 short, in order units."""

    code: str
    net_qty: int
    avg_price: float  # average entry price of the open quantity; 0 when flat
    realised_pnl: float  # TWD, net of fees
    unrealised_pnl: float = 0.0  # TWD at the last mark price
    mark_price: float = math.nan
    fees: float = 0.0  # TWD paid so far today on this code


@dataclass(frozen=True, slots=True)
class SignalWeights:
    """Weights of the fused urgency score (docs/strategy.md). Each input is first squashed into
    [-1, 1]; the score is their weighted mean."""

    ofi: float = 0.5
    microprice: float = 0.3
    imbalance: float = 0.2
    ofi_scale: float = 20.0  # OFI (lots) that counts as a strong push: tanh(ofi / scale)
    level_decay: float = 0.5  # MLOFI level m weighted decay**m when folded into one OFI


class SignalSnapshot(NamedTuple):
    """Signals of one code after an event; plain floats so decisions stay cheap and pure.

    A NamedTuple, not a frozen dataclass: as immutable, and built ~4x faster (one per decision
    on the tick-to-order path)."""

    ofi: float = 0.0  # MLOFI folded over levels, accumulated since the strategy last looked
    microprice: float = math.nan
    mid: float = math.nan
    spread: float = math.nan
    imbalance: float = 0.0
    last_trade: float = math.nan  # last real trade (simtrade excluded)
    trade_flow: float = 0.0  # signed real-trade volume (buyer +, seller -) since last look


def fused_urgency(sig: SignalSnapshot, side_sign: int, w: SignalWeights) -> float:
    """How strongly the market pushes against a resting order of ``side_sign`` (+1 buy, -1 sell).

    Positive: prices likely to move away from us (a buyer should cross). In [-1, 1].
    """
    total = w.ofi + w.microprice + w.imbalance
    if total <= 0:
        return 0.0
    ofi_term = math.tanh(sig.ofi / w.ofi_scale) if w.ofi_scale > 0 else 0.0
    micro_term = 0.0
    if sig.spread > 0 and math.isfinite(sig.microprice) and math.isfinite(sig.mid):
        micro_term = max(-1.0, min(1.0, (sig.microprice - sig.mid) / (sig.spread * 0.5)))
    raw = w.ofi * ofi_term + w.microprice * micro_term + w.imbalance * sig.imbalance
    return side_sign * raw / total
