"""Paper exchange: a deterministic fill simulator driven by the same book and trade events the
strategy sees. Rules (docs/execution.md has the worked examples):

- Acknowledgement is immediate (zero simulated latency): ``place`` emits SUBMITTED.
- Marketable orders (buy at/above the best ask, sell at/below the best bid) walk the displayed
  levels up to their limit, filling each level's displayed quantity at that level's price. The
  liquidity taken is removed from the local copy of the book until the next snapshot, so two
  orders never take the same displayed lots. IOC cancels the rest; FOK fills all or nothing.
- A resting order joins the back of its level: queue ahead = displayed quantity at its price
  (plus our own earlier orders there). Queue ahead shrinks by
  * trades at our price (all their volume, first against the queue, then filling us);
  * cancels ahead: a drop in the displayed quantity at our price not explained by trades is
    attributed pro rata (the share of the level ahead of us), and the queue ahead never exceeds
    the displayed quantity;
  * the level vanishing inside the displayed range (the price is no longer quoted while the
    opposite side has not reached it) empties the queue ahead.
- Trade-through: a trade strictly through our price, or the opposite best quote strictly
  through it, fills the whole remaining quantity at our price. The opposite best quote *at* our
  price fills up to its displayed quantity at our price (the queue ahead must have gone).
- Fees are optional (``FeeSchedule``), applied per fill.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shijim.domain import (
    ExecutionEvent,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Side,
    TimeInForce,
)
from shijim.risk.rules import Rejection, RejectReason

_EPS = 1e-9
_INF = math.inf


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """TWD fees per fill: ``per_unit * qty + rate * notional (+ sell_tax_rate * notional on
    sells)``; notional = price x qty x multiplier. Zero by default. Examples: TXF roughly
    per_unit=50 plus the futures transaction tax rate=0.00002; TWSE stocks rate=0.001425 and
    sell_tax_rate=0.003."""

    per_unit: float = 0.0
    rate: float = 0.0
    sell_tax_rate: float = 0.0
    multiplier: float = 1.0

    def fee(self, side: Side, qty: int, price: float) -> float:
        notional = price * qty * self.multiplier
        tax = self.sell_tax_rate * notional if side is Side.SELL else 0.0
        return self.per_unit * qty + self.rate * notional + tax


class _Book:
    __slots__ = ("ask_px", "ask_qty", "bid_px", "bid_qty", "ts")

    def __init__(self) -> None:
        self.bid_px: list[float] = []
        self.bid_qty: list[int] = []
        self.ask_px: list[float] = []
        self.ask_qty: list[int] = []
        self.ts = 0


class _Resting:
    __slots__ = ("level_qty", "order", "queue_ahead", "traded_at_px")

    def __init__(self, order: Order, queue_ahead: int, level_qty: int) -> None:
        self.order = order
        self.queue_ahead = queue_ahead
        self.level_qty = level_qty  # displayed qty at our price when last seen
        self.traded_at_px = 0  # volume traded at our price since the last snapshot


def _as_list(values: Any) -> list[Any]:
    """A private, mutable copy (the venue consumes displayed liquidity in place)."""
    t = type(values)
    if t is list:
        return values.copy()  # type: ignore[no-any-return]
    if t is np.ndarray:
        return values.tolist()  # type: ignore[no-any-return]
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)


def _level_qty(
    prices: Sequence[float], qtys: Sequence[int], price: float, side: Side
) -> int | None:
    """Displayed qty at ``price`` on one side (bids best-first for BUY, asks for SELL): the
    quantity if quoted, 0 if the price lies inside the displayed range (or better than the best)
    but is not quoted, None if it is deeper than the displayed levels or the side is empty."""
    if price in prices:  # exact hit first (prices usually come from the same book)
        q = qtys[prices.index(price)]
        if q > 0:
            return int(q)
    deepest: float | None = None
    for p, q in zip(prices, qtys, strict=False):
        if q <= 0:
            continue
        if abs(p - price) < _EPS:
            return int(q)
        deepest = p
    if deepest is None:
        return None
    beyond = price < deepest - _EPS if side is Side.BUY else price > deepest + _EPS
    return None if beyond else 0


class PaperExchange:
    def __init__(
        self,
        fees: Mapping[str, FeeSchedule] | None = None,
        id_prefix: str = "P",
    ) -> None:
        self.events: deque[ExecutionEvent] = deque()
        self._fees = dict(fees or {})
        self._books: dict[str, _Book] = {}
        self._working: dict[str, Order] = {}
        self._resting: dict[str, list[_Resting]] = {}  # by code, time priority
        self._ids = itertools.count(1)
        self._fill_ids = itertools.count(1)
        self._prefix = id_prefix

    # -- ExecutionAdapter --------------------------------------------------------------------
    def working_orders(self) -> Mapping[str, Order]:
        return self._working

    def pump(self) -> None:
        return None

    def place(self, intent: OrderIntent) -> Order | Rejection:
        qty, price = intent.qty, intent.price
        if type(qty) is not int or qty <= 0 or not math.isfinite(price) or price <= 0:
            return Rejection(RejectReason.ADAPTER, f"paper: bad qty {qty!r} or price {price!r}")
        code = intent.code
        book = self._books.get(code)
        ts = book.ts if book is not None else 0
        oid = f"{self._prefix}{next(self._ids)}"
        submitted = OrderStatus.SUBMITTED
        # Positional: keyword arguments cost measurably on the tick-to-order path.
        # (order_id, code, side, qty, price, tif, status, filled, cancelled, created, updated, tag)
        order = Order(
            oid, code, intent.side, qty, price, intent.tif, submitted, 0, 0, ts, ts, intent.tag
        )
        # OrderUpdate.of(order, ts) of the order just built.
        self.events.append(OrderUpdate(oid, code, submitted, qty, 0, 0, price, ts, ""))
        self._working[oid] = order
        self._enter(order, book, ts)
        return order

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        order = self._working.get(order_id)
        if order is None:
            return Rejection(RejectReason.UNKNOWN_ORDER, f"paper: order {order_id!r} not working")
        if qty is not None:
            if type(qty) is not int or not 0 < qty < order.remaining:
                return Rejection(RejectReason.ADAPTER, f"paper: amend qty {qty!r}")
            order.cancelled_qty += order.remaining - qty  # reduction keeps queue priority
        book = self._books.get(order.code)
        ts = book.ts if book is not None else order.updated_ns
        if price is not None and abs(price - order.price) > _EPS:
            # A price change is a cancel/replace at the exchange: back of the new level.
            self._unrest(order)
            order.price = price
            order.updated_ns = ts
            self.events.append(OrderUpdate.of(order, ts))
            self._enter(order, book, ts)
        else:
            order.updated_ns = ts
            self.events.append(OrderUpdate.of(order, ts))
        return order

    def cancel(self, order_id: str) -> bool:
        order = self._working.get(order_id)
        if order is None:
            return False
        book = self._books.get(order.code)
        self._finish_cancel(order, book.ts if book is not None else order.updated_ns)
        return True

    def cancel_all(self) -> int:
        return sum(self.cancel(oid) for oid in list(self._working))

    # -- market data -------------------------------------------------------------------------
    def on_bidask(
        self, code: str, ts: int, bid_px: Any, bid_qty: Any, ask_px: Any, ask_qty: Any
    ) -> None:
        book = self._books.get(code)
        if book is None:
            book = self._books[code] = _Book()
        book.bid_px = bp = _as_list(bid_px)
        book.bid_qty = bq = _as_list(bid_qty)
        book.ask_px = ap = _as_list(ask_px)
        book.ask_qty = aq = _as_list(ask_qty)
        book.ts = ts
        # A level with a NaN/inf/non-positive price or quantity is unusable: treat it as empty, so
        # bad input can never become a fill. The usual 5-level book is checked in one chained
        # comparison (the same condition per level as the loop; NaN fails it).
        if len(bp) == 5 and len(ap) == 5 and len(bq) == 5 and len(aq) == 5:
            b0, b1, b2, b3, b4 = bp
            a0, a1, a2, a3, a4 = ap
            q0, q1, q2, q3, q4 = bq
            r0, r1, r2, r3, r4 = aq
            clean = (
                0.0 < b0 < _INF
                and 0.0 < b1 < _INF
                and 0.0 < b2 < _INF
                and 0.0 < b3 < _INF
                and 0.0 < b4 < _INF
                and 0.0 < a0 < _INF
                and 0.0 < a1 < _INF
                and 0.0 < a2 < _INF
                and 0.0 < a3 < _INF
                and 0.0 < a4 < _INF
                and q0 > 0
                and q1 > 0
                and q2 > 0
                and q3 > 0
                and q4 > 0
                and r0 > 0
                and r1 > 0
                and r2 > 0
                and r3 > 0
                and r4 > 0
            )
        else:
            clean = False
        if not clean:
            for px, qty in ((bp, bq), (ap, aq)):
                for i, p in enumerate(px):
                    if not (0.0 < p < math.inf) or not qty[i] > 0:
                        qty[i] = 0
        resting = self._resting.get(code)
        if resting:
            for r in list(resting):
                self._requeue(r, book, ts)

    def on_trade(self, code: str, ts: int, price: float, volume: int) -> None:
        resting = self._resting.get(code)
        if not resting or not volume > 0 or not (0.0 < price < math.inf):
            return
        for r in list(resting):
            o = r.order
            through = price < o.price - _EPS if o.side is Side.BUY else price > o.price + _EPS
            if through:
                self._fill(o, o.remaining, o.price, ts)
            elif abs(price - o.price) < _EPS:
                r.traded_at_px += volume
                excess = volume - r.queue_ahead
                r.queue_ahead = max(0, r.queue_ahead - volume)
                if excess > 0:
                    self._fill(o, min(excess, o.remaining), o.price, ts)

    # -- internals ---------------------------------------------------------------------------
    def _enter(self, order: Order, book: _Book | None, ts: int) -> None:
        """Match a new (or re-priced) order against the book, then rest or cancel the rest."""
        buy = order.side is Side.BUY
        limit = order.price
        if book is not None:
            # sign * (level price - our price) <= 0 means the level crosses our limit.
            if buy:
                levels_px, levels_qty, sign = book.ask_px, book.ask_qty, 1.0
            else:
                levels_px, levels_qty, sign = book.bid_px, book.bid_qty, -1.0
            if order.tif is TimeInForce.FOK:
                avail = sum(
                    q
                    for p, q in zip(levels_px, levels_qty, strict=False)
                    if q > 0 and sign * (p - limit) <= _EPS
                )
                if avail < order.remaining:
                    self._finish_cancel(order, ts)
                    return
            for i, (p, q) in enumerate(zip(levels_px, levels_qty, strict=False)):
                if q <= 0:  # consumed earlier in this snapshot, or padding
                    continue
                if sign * (p - limit) > _EPS:
                    break  # the first live level does not cross: nothing further does
                rem = order.remaining
                if rem == 0:
                    break
                take = min(rem, int(q))
                levels_qty[i] = q - take
                self._fill(order, take, p, ts)
        # Order.remaining inlined (it is never negative here).
        if order.qty - order.filled_qty - order.cancelled_qty <= 0:
            return
        if order.tif is not TimeInForce.ROD:
            self._finish_cancel(order, ts)
            return
        displayed = 0
        if book is not None:
            if buy:
                displayed = _level_qty(book.bid_px, book.bid_qty, limit, order.side) or 0
            else:
                displayed = _level_qty(book.ask_px, book.ask_qty, limit, order.side) or 0
        code = order.code
        resting = self._resting.get(code)
        if resting is None:
            resting = self._resting[code] = []
        if resting:
            side = order.side
            displayed_ahead = displayed + sum(
                r.order.remaining
                for r in resting
                if r.order.side is side and abs(r.order.price - limit) < _EPS
            )
        else:
            displayed_ahead = displayed
        resting.append(_Resting(order, displayed_ahead, displayed))

    def _requeue(self, r: _Resting, book: _Book, ts: int) -> None:
        o = r.order
        if o.side is Side.BUY:
            opp_px, opp_qty, own_px, own_qty = book.ask_px, book.ask_qty, book.bid_px, book.bid_qty
        else:
            opp_px, opp_qty, own_px, own_qty = book.bid_px, book.bid_qty, book.ask_px, book.ask_qty
        # Opposite side at or through our price.
        if opp_px and opp_qty and opp_qty[0] > 0:
            best = opp_px[0]
            through = best < o.price - _EPS if o.side is Side.BUY else best > o.price + _EPS
            if through:
                self._fill(o, o.remaining, o.price, ts)
                return
            if abs(best - o.price) < _EPS:
                r.queue_ahead = 0
                self._fill(o, min(o.remaining, int(opp_qty[0])), o.price, ts)
                if o.remaining == 0:
                    return
        # Our side: cancels ahead of us.
        shown = _level_qty(own_px, own_qty, o.price, o.side)
        if shown is None:  # deeper than the displayed book: nothing to learn
            r.traded_at_px = 0
            return
        dropped = r.level_qty - shown - r.traded_at_px
        if dropped > 0 and r.level_qty > 0:
            share = r.queue_ahead / r.level_qty
            r.queue_ahead = max(0, r.queue_ahead - math.ceil(dropped * share - _EPS))
        r.queue_ahead = min(r.queue_ahead, shown)
        r.level_qty = shown
        r.traded_at_px = 0

    def _fill(self, order: Order, qty: int, price: float, ts: int) -> None:
        if qty <= 0:
            return
        sched = self._fees.get(order.code)
        fee = sched.fee(order.side, qty, price) if sched is not None else 0.0
        order.filled_qty += qty
        order.updated_ns = ts
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PART_FILLED
        self.events.append(
            Fill(
                f"{self._prefix}F{next(self._fill_ids)}",
                order.order_id,
                order.code,
                order.side,
                qty,
                float(price),
                ts,
                fee,
            )
        )
        self.events.append(OrderUpdate.of(order, ts))
        if order.remaining == 0:
            self._working.pop(order.order_id, None)
            self._unrest(order)

    def _finish_cancel(self, order: Order, ts: int) -> None:
        order.cancelled_qty += order.remaining
        order.status = OrderStatus.CANCELLED
        order.updated_ns = ts
        self._working.pop(order.order_id, None)
        self._unrest(order)
        self.events.append(OrderUpdate.of(order, ts))

    def _unrest(self, order: Order) -> None:
        resting = self._resting.get(order.code)
        if resting:
            for i, r in enumerate(resting):
                if r.order is order:
                    del resting[i]
                    break
