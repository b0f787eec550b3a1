"""Market-making demo strategy: quote both sides around the microprice with an inventory skew.

- fair value = microprice of the best level;
- reservation price = fair - skew_ticks_per_lot * position * tick (long => quote lower, to sell);
- bid = reservation - half_spread_ticks ticks, rounded down to the tick; ask rounded up;
  never crossing the opposite touch;
- no bid while long ``max_inventory`` lots, no ask while short it;
- a quote is moved (amended) only when its target is ``requote_ticks`` or more away and at least
  ``min_requote_ns`` of event time passed since that side last moved (the broker allows ~20 order
  actions per second per account: re-quoting on every tick would hit the limit).
The decisions are pure functions (``desired_quotes``, ``quote_actions``); the class keeps only the
order ids of its two quotes per code. It never works around risk: rejected quotes are simply
re-tried on a later event.

Most events cannot change anything: both quotes rest, neither side may move yet
(``min_requote_ms``) and the position keeps both sides wanted. ``quiet`` recognises that case
before any price arithmetic and the strategy then answers with a ``StandBy`` until the earlier
side may move again, as long as the bid stays above the positivity margin: the engine answers
the events in between without calling Python (docs/engine.md#standby). A fill, an order update
or a trading-state change ends the standby. The standby is exactly what the full computation
would return on each of those events (no action), which a test checks on a random stream. The
margin is computed with the tick at the current bid; a higher bid is assumed to keep
``c * tick(p) < p`` (true on the TAIFEX and TWSE ladders for any realistic parameters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from shijim.domain import (
    Fill,
    LadderOf,
    Order,
    OrderIntent,
    OrderUpdate,
    Side,
    TickLadder,
    TradingState,
)
from shijim.strategy.base import (
    FOREVER_NS,
    Amend,
    Cancel,
    MarketView,
    Place,
    StandBy,
    StrategyAction,
    StrategyContext,
)
from shijim.strategy.snapshot import DESCRIBE_MAX_FIELDS


@dataclass(frozen=True)
class MarketMakingParams:
    # Bounds are field metadata: checked when the config is read, and exported to the operator.
    quote_qty: int = field(default=1, metadata={"ge": 1})
    half_spread_ticks: float = field(default=1.0, metadata={"ge": 0})
    skew_ticks_per_lot: float = field(default=0.5, metadata={"ge": 0})
    max_inventory: int = field(default=3, metadata={"ge": 0})
    requote_ticks: int = field(default=1, metadata={"ge": 1})
    # 4 codes x 2 sides x 1/s = 8 actions/s: well inside the broker's 25/s (risk: 20/s).
    min_requote_ms: float = field(default=1000.0, metadata={"ge": 0})


# Enum members as globals: a class-attribute read of an Enum is slow on 3.11 (risk/rules.py),
# and these run on every decision.
_BUY, _SELL = Side.BUY, Side.SELL
_ACTIVE, _HALTED, _REDUCING = TradingState.ACTIVE, TradingState.HALTED, TradingState.REDUCING
_SIDE_NAME = {_BUY: "BUY", _SELL: "SELL"}  # Side.name is a slow property on 3.11


class Quotes(NamedTuple):
    """Immutable; a NamedTuple because one is built per decision (as MarketView)."""

    bid: float | None  # None: no bid wanted
    ask: float | None


# How k ticks become a price, by tick: n > 0 when the tick is exactly 1/n (every TAIFEX and
# TWSE tick below 1: 0.01, 0.05, 0.1, 0.5), then k/n is the double nearest the decimal k*tick,
# which round(k * tick, 10) gives at five times the cost (the product alone can be off the grid,
# 0.1 + 0.2 style); -1 for a whole tick (the product is exact); 0 for any other tick (rounded).
_GRID: dict[float, int] = {}


def _grid(tick: float) -> int:
    if float(tick).is_integer():
        n = -1
    else:
        n = round(1.0 / tick) if 0.0 < tick < 1.0 else 0
        n = n if n and n * tick == 1.0 else 0
    _GRID[tick] = n
    return n


def _price_of(k: int, tick: float) -> float:
    """k ticks as a price on the grid."""
    n = _GRID.get(tick)
    if n is None:
        n = _grid(tick)
    if n > 0:
        return k / n
    if n:
        return k * tick
    return round(k * tick, 10)


def _floor_tick(price: float, tick: float) -> float:
    return _price_of(math.floor(price / tick + 1e-9), tick)


def _ceil_tick(price: float, tick: float) -> float:
    return _price_of(math.ceil(price / tick - 1e-9), tick)


def desired_quotes(
    view: MarketView,
    position: int,
    tick: float,
    p: MarketMakingParams,
    tick_at: TickLadder | None = None,
) -> Quotes:
    """Pure: the two quote prices for this book and inventory.

    ``tick`` (the tick at the touch) sizes the spread and skew; ``tick_at(price)`` snaps each
    quote to the tick grid at its own price (TWSE's ladder changes tick at 10, 50, 100, 500,
    1000: every bound is a multiple of the coarser tick, so snapping with the tick at the
    rounded price stays on the grid)."""
    fair = view.signals.microprice
    if not math.isfinite(fair):
        fair = (view.best_bid + view.best_ask) * 0.5
    return _quotes(fair, view.best_bid, view.best_ask, position, tick, p, tick_at)


def _quotes(
    fair: float,
    best_bid: float,
    best_ask: float,
    position: int,
    tick: float,
    p: MarketMakingParams,
    tick_at: TickLadder | None,
) -> Quotes:
    """desired_quotes on the view's numbers (``fair``: the microprice, or the mid without
    one): ``_steady`` asks it at the edges of a microprice band without building views.
    ``tick_at`` None: every price has ``tick`` (a fixed whole tick, where snapping a grid price
    again is the identity)."""
    n = _GRID.get(tick)
    if n is None:
        n = _grid(tick)
    reservation = fair - p.skew_ticks_per_lot * position * tick
    half = p.half_spread_ticks * tick
    floor, ceil = math.floor, math.ceil
    # In ticks, as _floor_tick/_ceil_tick count them: k -> price is non-decreasing, so the
    # clamps (never cross: we want to rest) are taken on k and one price is built per side;
    # the same doubles as clamping the prices, one call per price less (the acting path).
    kb = min(floor((reservation - half) / tick + 1e-9), floor((best_ask - tick) / tick + 1e-9))
    ka = max(ceil((reservation + half) / tick - 1e-9), ceil((best_bid + tick) / tick - 1e-9))
    if n > 0:
        bid, ask = kb / n, ka / n
    elif n:
        bid, ask = kb * tick, ka * tick
    else:
        bid, ask = round(kb * tick, 10), round(ka * tick, 10)
    if bid >= ask:  # a one-tick book with a heavy skew: keep the side that reduces inventory
        if position > 0:
            bid = ask - tick
        else:
            ask = bid + tick
    if tick_at is not None:
        bid = _floor_tick(bid, tick_at(bid)) if bid > 0 else bid
        ask = _ceil_tick(ask, tick_at(ask))
    return Quotes(
        bid if position < p.max_inventory and bid > 0 else None,
        ask if position > -p.max_inventory else None,
    )


_LONG_AGO = -(10**18)  # a side that never moved may move now


@dataclass(slots=True)
class QuoteSlot:
    order_id: str | None = None
    price: float = math.nan
    moved_ns: int = _LONG_AGO
    pending: bool = False  # a place is in flight (ids arrive in on_placed)


@dataclass(slots=True)
class CodeQuotes:
    bid: QuoteSlot = field(default_factory=QuoteSlot)
    ask: QuoteSlot = field(default_factory=QuoteSlot)


def _slot_actions(
    code: str,
    side: Side,
    want: float | None,
    slot: QuoteSlot,
    working: dict[str, Order] | object,
    ts_ns: int,
    tick: float,
    p: MarketMakingParams,
    qty: int,
) -> list[StrategyAction]:
    if slot.order_id is not None and slot.order_id not in working:  # type: ignore[operator]
        slot.order_id = None  # filled or cancelled meanwhile
        slot.price = math.nan
    if slot.pending:
        return []
    if want is None:
        if slot.order_id is not None:
            oid = slot.order_id
            slot.order_id = None
            slot.price = math.nan
            return [Cancel(oid)]
        return []
    if slot.order_id is None:
        slot.pending = True
        slot.price = want
        slot.moved_ns = ts_ns
        return [Place(OrderIntent(code, side, qty, want, tag=f"mm:{code}:{_SIDE_NAME[side]}"))]
    far_enough = abs(want - slot.price) >= p.requote_ticks * tick - 1e-9
    if far_enough and ts_ns - slot.moved_ns >= p.min_requote_ms * 1e6:
        slot.price = want
        slot.moved_ns = ts_ns
        return [Amend(slot.order_id, want)]
    return []


class MarketMaking:
    name = "market_making"

    def __init__(self, params: MarketMakingParams, ladder_of: LadderOf) -> None:
        self.params = params
        self._ladder_of = ladder_of
        self._quotes: dict[str, CodeQuotes] = {}
        # code -> (its tick if fixed and whole, else 0; its ladder), asked for once per code
        self._ticks: dict[str, tuple[float, TickLadder]] = {}
        # An int: for integer ns, d >= ceil(x) exactly when d >= x (StandBy times stay exact).
        self._requote_ns = math.ceil(params.min_requote_ms * 1e6)

    def _ticks_of(self, code: str) -> tuple[float, TickLadder]:
        """The code's ladder, and its tick if that is the same at every price and a whole
        number (TAIFEX index futures: 1 point), else 0. A ladder is non-decreasing in price (as
        the snapping in ``_quotes`` assumes), so equal ticks at both ends mean one tick
        throughout. Such a code's quotes need no tick lookup per price and no second snap (the
        acting path is shorter); a ladder's are computed as before."""
        ladder = self._ladder_of(code)
        lo, hi = ladder(0.0), ladder(math.inf)
        whole = lo if lo == hi and float(lo).is_integer() and lo > 0 else 0.0
        ticks = self._ticks[code] = (whole, ladder)
        return ticks

    def quiet(
        self, view: MarketView, position: int, working: object, q: CodeQuotes, tick: float
    ) -> float:
        """The positivity margin for the bid (> -inf) when no action can come of this view: both
        quotes rest, neither may move yet, and both sides stay wanted (the position is inside
        the inventory bounds and the bid is far enough above zero that it stays positive); NaN
        otherwise. Then the full decision returns nothing until either side may move or the bid
        falls to the margin. ``tick``: the code's tick at the best bid."""
        b, a = q.bid, q.ask
        ts = view.exch_ts
        if b.pending or a.pending or b.order_id is None or a.order_id is None:
            return math.nan
        if ts - b.moved_ns >= self._requote_ns or ts - a.moved_ns >= self._requote_ns:
            return math.nan
        p = self.params
        if not -p.max_inventory < position < p.max_inventory:
            return math.nan
        if b.order_id not in working or a.order_id not in working:  # type: ignore[operator]
            return math.nan
        floor = (p.skew_ticks_per_lot * abs(position) + p.half_spread_ticks + 1.0) * tick
        return floor if view.best_bid > floor else math.nan

    def rehearse(self, view: MarketView, ctx: StrategyContext) -> Sequence[StrategyAction]:
        """Both acting paths on ``view``, on scratch quote state: both quotes placed from
        nothing, and, when this code's quotes rest, both moved as a re-quote would move them
        (the same orders, free to move and far from their targets); then, on a copy of this
        code's quote state, the decision the next event would take now (mostly a standby: the
        decision a trade's event takes before the fill it brought is booked and the re-quote
        after it). What a pinned runner runs in idle turns to keep them warm; ``self`` is not
        changed (Strategy.rehearse)."""
        actions = list(self._decide(view, ctx, {}))
        code = view.code
        q = self._quotes.get(code)
        if q is not None:
            if ctx.state is _ACTIVE:
                scratch = CodeQuotes(
                    QuoteSlot(q.bid.order_id, 0.0, _LONG_AGO),
                    QuoteSlot(q.ask.order_id, 0.0, _LONG_AGO),
                )
                actions.extend(self._decide(view, ctx, {code: scratch}))
            b, a = q.bid, q.ask
            copy = CodeQuotes(
                QuoteSlot(b.order_id, b.price, b.moved_ns, b.pending),
                QuoteSlot(a.order_id, a.price, a.moved_ns, a.pending),
            )
            actions.extend(self._decide(view, ctx, {code: copy}))
        return actions

    def _decide(
        self,
        view: MarketView,
        ctx: StrategyContext,
        quotes: dict[str, CodeQuotes] | None = None,
    ) -> Sequence[StrategyAction]:
        """The decision on ``view`` (``on_market``). ``quotes``: the quote state it reads and
        moves, this strategy's own unless given (``rehearse`` passes scratch state)."""
        if quotes is None:
            quotes = self._quotes
        state = ctx.state
        code = view.code
        if state is _HALTED:
            # The gateway has cancelled everything and refuses new orders: nothing to decide
            # until the state changes (which ends the standby).
            return (StandBy(code, FOREVER_NS),)
        if not (view.best_bid > 0 and view.best_ask > view.best_bid):
            return ()
        position = ctx.positions.get(code, 0)
        qty = self.params.quote_qty
        if state is _REDUCING:
            if position == 0:
                # Nothing to reduce; any quote would add exposure. A fill or a state change
                # ends the standby.
                return (StandBy(code, FOREVER_NS),)
            qty = min(qty, abs(position))
        whole, ladder = self._ticks.get(code) or self._ticks_of(code)
        tick = whole or ladder(view.best_bid)
        q = quotes.get(code)
        if q is None:
            q = quotes[code] = CodeQuotes()
        elif state is _ACTIVE:
            floor = self.quiet(view, position, ctx.working, q, tick)
            if floor == floor:  # not NaN: no action until a side may move (tested)
                until = min(q.bid.moved_ns, q.ask.moved_ns) + self._requote_ns
                return (StandBy(code, until, bid_floor=floor),)
        tick_at = None if whole else ladder
        quotes = want = desired_quotes(view, position, tick, self.params, tick_at)
        if state is _REDUCING:
            # Only the side that brings the position toward zero.
            want = Quotes(None, want.ask) if position > 0 else Quotes(want.bid, None)
        ts = view.exch_ts
        p = self.params
        working = ctx.working
        buy = _slot_actions(code, _BUY, want.bid, q.bid, working, ts, tick, p, qty)
        sell = _slot_actions(code, _SELL, want.ask, q.ask, working, ts, tick, p, qty)
        if not buy:
            if sell:
                return sell
            standby = self._steady(view, position, tick, quotes, q, tick_at)
            return (standby,) if standby is not None else ()
        if sell:
            buy.extend(sell)
        return buy

    # The decision itself, not a wrapper over it: one Python call less per decision.
    on_market = _decide

    def _steady(
        self,
        view: MarketView,
        position: int,
        tick: float,
        quotes: Quotes,
        q: CodeQuotes,
        tick_at: TickLadder | None,
    ) -> StandBy | None:
        """After a decision without action: the standby for as long as the same inputs give the
        same quotes, so the decision stays "no action". The touch prices must stay (bands of
        half a tick), and the microprice must stay where the quotes' tick rounding gives the same
        prices. That microprice band is where ``floor``/``ceil`` keep their bucket, shrunk by a
        millionth of a tick. Then it is checked at both edges: the quotes are non-decreasing in
        the microprice, so equal quotes at both edges mean equal quotes inside. It lasts until
        the first resting side that may not move yet may move. None when no band holds (no
        microprice, a place in flight)."""
        m = view.signals.microprice
        b, a = q.bid, q.ask
        if not math.isfinite(m) or b.pending or a.pending:
            return None
        p = self.params
        off_bid = -p.skew_ticks_per_lot * position - p.half_spread_ticks
        off_ask = -p.skew_ticks_per_lot * position + p.half_spread_ticks
        k_bid = math.floor(m / tick + off_bid + 1e-9)
        k_ask = math.ceil(m / tick + off_ask - 1e-9)
        margin = 1e-6 * tick
        lo = max((k_bid - off_bid) * tick, (k_ask - 1 - off_ask) * tick) + margin
        hi = min((k_bid + 1 - off_bid) * tick, (k_ask - off_ask) * tick) - margin
        if not lo < m < hi:
            return None
        bid, ask = view.best_bid, view.best_ask
        for edge in (lo, hi):
            if _quotes(edge, bid, ask, position, tick, p, tick_at) != quotes:
                return None
        until = FOREVER_NS
        ts, wait = view.exch_ts, self._requote_ns
        for slot in (b, a):
            if slot.order_id is not None and ts - slot.moved_ns < wait:
                until = min(until, slot.moved_ns + wait)
        half = tick / 2
        return StandBy(view.code, until, bid - half, bid + half, ask - half, ask + half, lo, hi)

    def on_placed(self, tag: str, order: Order | None) -> None:
        _, code, side = tag.split(":")
        q = self._quotes.get(code)
        if q is None:  # not setdefault: it would build a CodeQuotes on every answer
            q = self._quotes[code] = CodeQuotes()
        slot = q.bid if side == "BUY" else q.ask
        slot.pending = False
        if order is None or not order.is_working:
            slot.order_id = None
            slot.price = math.nan
        else:
            slot.order_id = order.order_id
            slot.price = order.price

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> Sequence[StrategyAction]:
        if not update.status.is_working:
            for q in self._quotes.values():
                for slot in (q.bid, q.ask):
                    if slot.order_id == update.order_id:
                        slot.order_id = None
                        slot.price = math.nan
        return ()

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Sequence[StrategyAction]:
        return ()  # the next market view re-skews the quotes with the new position

    def describe(self) -> dict[str, str]:
        """The dashboard's strategy panel: the quoting rule in words, how many codes are quoted
        on both sides, and each code's resting quotes (bid / ask; ``-`` none, ``?`` a place
        in flight), as many codes as the panel's fields allow, in code order."""
        p = self.params
        out = {
            "quote": f"{p.quote_qty} lot(s) at fair -/+ {p.half_spread_ticks:g} ticks,"
            f" skew {p.skew_ticks_per_lot:g} ticks/lot",
            "limits": f"inventory {p.max_inventory} lots; re-quote at {p.requote_ticks}+ ticks,"
            f" {p.min_requote_ms:g}+ ms apart",
        }
        sides = [sum(s.order_id is not None for s in (q.bid, q.ask)) for q in self._quotes.values()]
        out["quoted"] = (
            f"{sides.count(2)} codes both sides, {sides.count(1)} one side, {sides.count(0)} none"
        )
        room = DESCRIBE_MAX_FIELDS - len(out)
        for code in sorted(self._quotes)[:room]:
            q = self._quotes[code]
            out[code] = f"{_slot_text(q.bid)} / {_slot_text(q.ask)}"
        return out


def _slot_text(slot: QuoteSlot) -> str:
    if slot.pending:
        return "?"
    return "-" if slot.order_id is None else f"{slot.price:g}"
