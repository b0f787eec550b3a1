"""hftbacktest as the matching venue: the ``ExecutionAdapter`` of a backtest.

``HftVenue`` submits, cancels and amends in one ``HashMapMarketDepthBacktest`` (one asset per
code, the converter's rows, the code's tick size, lot 1, its contract multiplier, the chosen
latency, queue and exchange models) and turns hftbacktest's order states into our ``Order``,
``OrderUpdate`` and ``Fill`` events, as the paper venue does with the engine's venue events:

- hftbacktest's clock follows the engine's (event time: exchange time in a backtest): every call
  first advances hftbacktest to ``engine.now`` (``sync``), so an order decided on an event
  enters hftbacktest at that event's time and sees the market as of it;
- ``place`` returns the order in ``PENDING_SUBMIT``; its acknowledgement, fills and cancels
  arrive when hftbacktest's answer has travelled back (the latency model's legs). With zero
  latency they arrive within the call, as with the paper venue's ``latency: zero``;
- a fill is what hftbacktest's order state says, read from the order itself (filled quantity =
  the open quantity we knew minus hftbacktest's ``leaves_qty``), never from hftbacktest's
  position: its ``partial_fill_exchange`` does not apply partial fills of resting orders to its
  position (hftbacktest issue 316); reading the order state books them all;
- fills are booked by the risk gateway in the engine's account (``Engine.apply_fill``), with
  the engine's own fee (``Engine.fee``): PnL, fees and markouts are the engine's, as in a run.

hftbacktest allows one request in flight per order; a cancel or amend sent while one is
travelling waits here and goes out when the answer arrives (a cancel replaces waiting amends).
``watch()`` tells the backtest loop when hftbacktest could next have news for us: the prices at
which a market event could fill one of our orders and the time the next answer arrives.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shijim.backtest.models import VenueModels
from shijim.domain import (
    ENGINE_SIDE,
    ExecutionEvent,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    Side,
    TimeInForce,
)

# hftbacktest's order statuses and time-in-force codes (hftbacktest.order).
H_NONE, H_NEW, H_EXPIRED, H_FILLED, H_CANCELED, H_PARTIAL = 0, 1, 2, 3, 4, 5
H_GTC, H_FOK, H_IOC, H_LIMIT = 0, 2, 3, 0
_TIF = {TimeInForce.ROD: H_GTC, TimeInForce.IOC: H_IOC, TimeInForce.FOK: H_FOK}
# Ended hftbacktest orders are dropped from its order map once this many have piled up.
_CLEAR_EVERY = 64


def _lots(qty: float) -> int:
    """hftbacktest keeps quantities as floats; ours are whole lots (lot size 1)."""
    return int(qty + 0.5)


@dataclass(frozen=True)
class HftAsset:
    """One code's data and facts for hftbacktest."""

    code: str
    rows: np.ndarray  # hftbacktest event_dtype rows (the converter's)
    tick_size: float
    multiplier: float
    lot_size: float = 1.0


@dataclass(frozen=True, eq=False)
class Reach:
    """The prices at which a market event could fill one of our orders: per asset, the
    highest price of our buys and the lowest of our sells that may rest or arrive (-inf / +inf:
    none). One object as long as they do not change (the loop keys its work on it)."""

    buy_max: tuple[float, ...]
    sell_min: tuple[float, ...]
    resting: bool  # any order that a market event could fill


@dataclass(frozen=True)
class Watch:
    """When hftbacktest could next have news: where a market event could fill us (``reach``)
    and when the next answer to one of our requests arrives (``NO_ANSWER``: none travelling)."""

    reach: Reach
    answer_at: int


NO_ANSWER = 2**63 - 1


@dataclass(slots=True)
class _Live:
    """One of our orders in hftbacktest, with what we know of it."""

    order: Order
    asset: int
    hid: int  # hftbacktest's order id
    tick: float
    code_id: int
    open_qty: int  # the open quantity hftbacktest holds, as of our last look
    request: str = "new"  # the request travelling: "new", "cancel", "amend" or ""
    answer_at: int = 0  # when its answer reaches us
    amend_price: float | None = None  # the travelling amend's new price
    waiting: list[tuple[str, float | None, int | None]] = field(default_factory=list)
    cancelling: bool = False


class HftVenue:
    """``HftVenue(engine, assets, models)``: our orders in hftbacktest. One owner (the risk
    gateway, under its lock) calls it; ``pump()`` brings hftbacktest to the engine's time and
    turns what changed into events."""

    def __init__(
        self,
        engine: Any,
        assets: Sequence[HftAsset],
        models: VenueModels | None = None,
        id_prefix: str = "H",
    ) -> None:
        from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

        if not assets:
            raise ValueError("HftVenue: assets: no code has hftbacktest data")
        self.engine = engine
        self.models = models or VenueModels()
        self.assets = tuple(assets)
        self.events: deque[ExecutionEvent] = deque()
        self._prefix = id_prefix
        built = []
        for a in self.assets:
            if a.rows.dtype.names is None or not a.rows.flags.c_contiguous:
                raise ValueError(f"HftVenue: {a.code}: rows must be contiguous event_dtype rows")
            asset = (
                BacktestAsset()
                .data([a.rows])  # a raw pointer: self.assets keeps the rows alive
                .linear_asset(a.multiplier)
                .tick_size(a.tick_size)
                .lot_size(a.lot_size)
            )
            asset = self.models.latency.apply(asset)
            asset = self.models.queue.apply(asset)
            asset = (
                asset.partial_fill_exchange()
                if self.models.partial_fills
                else (asset.no_partial_fill_exchange())
            )
            built.append(asset)
        self.hbt = HashMapMarketDepthBacktest(built)
        self._orders = [self.hbt.orders(i) for i in range(len(self.assets))]
        self._asset_of = {a.code: i for i, a in enumerate(self.assets)}
        self._code_ids = {a.code: engine.code_id(a.code) for a in self.assets}
        self._working: dict[str, Order] = {}
        self._live: dict[str, _Live] = {}
        self._ended = [0] * len(self.assets)
        self._next_hid = 1
        self._fills = 0
        self._started = False
        self.hbt_ts = -(2**63)  # the time hftbacktest was last brought to
        self.data_ended = False
        self._watch: Watch | None = None
        self._reach: Reach | None = None
        # Which assets hftbacktest may have news for since the last look (the backtest loop
        # knows: it stops the engine after every event that could fill us); None: look at
        # every order at every pump. Answers to our requests are looked for by their time.
        self.news: Callable[[], Collection[int]] | None = None
        self.counts = {"requests": 0, "refused": 0, "waited": 0, "looks": 0}

    # -- ExecutionAdapter --------------------------------------------------------------------
    def working_orders(self) -> Mapping[str, Order]:
        return self._working

    def pump(self) -> None:
        self.sync()
        if not self._live:
            return
        if self.news is None:
            self._look()
            return
        assets = self.news()
        now = self.hbt_ts
        for lv in list(self._live.values()):
            if lv.asset in assets or (lv.request and lv.answer_at <= now):
                self._look_at(lv)

    def place(self, intent: OrderIntent) -> Order | Rejection:
        qty, price = intent.qty, intent.price
        if type(qty) is not int or qty <= 0 or not math.isfinite(price) or price <= 0:
            return Rejection(
                RejectReason.ADAPTER, f"hftbacktest: bad qty {qty!r} or price {price!r}"
            )
        code = intent.code
        asset = self._asset_of.get(code)
        if asset is None:
            return Rejection(RejectReason.UNKNOWN_CODE, f"hftbacktest: no data for {code!r}")
        self.sync()
        hid = self._next_hid
        hbt = self.hbt
        submit = hbt.submit_buy_order if intent.side is Side.BUY else hbt.submit_sell_order
        rc = submit(asset, hid, price, float(qty), _TIF[intent.tif], H_LIMIT, False)
        if rc != 0:
            self.counts["refused"] += 1
            return Rejection(RejectReason.ADAPTER, f"hftbacktest: submit refused (code {rc})")
        self._next_hid += 1
        self.counts["requests"] += 1
        now = self.hbt_ts
        oid = f"{self._prefix}{hid}"
        pending = OrderStatus.PENDING_SUBMIT
        order = Order(
            oid, code, intent.side, qty, price, intent.tif, pending, 0, 0, now, now, intent.tag
        )
        lv = _Live(order, asset, hid, self.assets[asset].tick_size, self._code_ids[code], qty)
        lv.answer_at = now + self.models.latency.round_trip(now)
        self._working[oid] = order
        self._live[oid] = lv
        self._watch = None
        self.events.append(OrderUpdate(oid, code, pending, qty, 0, 0, price, now, ""))
        self._settle(lv)
        return order

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        """New price and/or open quantity ``qty`` (1 .. remaining-1); the order changes when
        hftbacktest's answer arrives."""
        lv = self._live.get(order_id)
        if lv is None:
            return Rejection(
                RejectReason.UNKNOWN_ORDER, f"hftbacktest: order {order_id!r} not working"
            )
        order = lv.order
        if qty is not None and (type(qty) is not int or not 0 < qty < order.remaining):
            return Rejection(RejectReason.ADAPTER, f"hftbacktest: amend qty {qty!r}")
        if price is not None and not (math.isfinite(price) and price > 0):
            return Rejection(RejectReason.ADAPTER, f"hftbacktest: amend price {price!r}")
        if price is None and qty is None:
            return Rejection(RejectReason.ADAPTER, "hftbacktest: amend of nothing")
        self.sync()
        if lv.request or lv.cancelling:
            if not lv.cancelling:
                lv.waiting.append(("amend", price, qty))
                self.counts["waited"] += 1
            return order
        self._send_amend(lv, price, qty)
        self._settle(lv)
        return order

    def cancel(self, order_id: str) -> bool:
        """Sends the cancel (once); the order ends when hftbacktest's answer arrives and may
        fill meanwhile."""
        lv = self._live.get(order_id)
        if lv is None:
            return False
        if lv.cancelling:
            return True
        self.sync()
        lv.cancelling = True
        if lv.request:
            # Waits for the travelling answer; amends that had not gone out never will.
            lv.waiting = [("cancel", None, None)]
            self.counts["waited"] += 1
            return True
        self._send_cancel(lv)
        self._settle(lv)
        return True

    def cancel_all(self) -> int:
        return sum(self.cancel(oid) for oid in list(self._working))

    # -- the clock ---------------------------------------------------------------------------
    def sync(self) -> None:
        """Brings hftbacktest to the engine's time (never backwards)."""
        t = self.engine.now
        if t <= self.hbt_ts:
            return
        hbt = self.hbt
        if not self._started:
            self._started = True
            hbt.elapse(0)  # hftbacktest's clock starts at its first event
        cur = hbt.current_timestamp
        if t > cur and hbt.elapse(t - cur) == 1:
            self.data_ended = True  # every asset's data is used up: nothing can fill now
        self.hbt_ts = t

    # -- what the backtest loop needs --------------------------------------------------------
    def watch(self) -> Watch:
        w = self._watch
        if w is None:
            n = len(self.assets)
            buy = [-math.inf] * n
            sell = [math.inf] * n
            answer = NO_ANSWER
            for lv in self._live.values():
                o = lv.order
                a = lv.asset
                amend = lv.amend_price
                if o.side is Side.BUY:
                    buy[a] = max(buy[a], o.price, -math.inf if amend is None else amend)
                else:
                    sell[a] = min(sell[a], o.price, math.inf if amend is None else amend)
                if lv.request:
                    answer = min(answer, lv.answer_at)
            reach = self._reach
            bt, st, resting = tuple(buy), tuple(sell), bool(self._live)
            if reach is None or (reach.buy_max, reach.sell_min, reach.resting) != (bt, st, resting):
                reach = self._reach = Reach(bt, st, resting)
            w = Watch(reach, answer)
            self._watch = w
        return w

    # -- internals ---------------------------------------------------------------------------
    def _send_cancel(self, lv: _Live) -> None:
        rc = self.hbt.cancel(lv.asset, lv.hid, False)
        if not self._sent(lv, "cancel", rc):
            lv.cancelling = False  # refused there: the order ended; its state says how
            self._look_at(lv)

    def _send_amend(self, lv: _Live, price: float | None, qty: int | None) -> None:
        o = lv.order
        new_price = o.price if price is None else price
        new_qty = lv.open_qty if qty is None else qty
        rc = self.hbt.modify(lv.asset, lv.hid, new_price, float(new_qty), False)
        if self._sent(lv, "amend", rc):
            lv.amend_price = new_price

    def _sent(self, lv: _Live, what: str, rc: int) -> bool:
        now = self.hbt_ts
        if rc != 0:  # hftbacktest refused it (the order ended there): the next look says why
            self.counts["refused"] += 1
            return False
        self.counts["requests"] += 1
        lv.request = what
        lv.answer_at = now + self.models.latency.round_trip(now)
        self._watch = None
        return True

    def _settle(self, lv: _Live) -> None:
        """An answer due by now (zero latency) is taken at once, within the call."""
        if lv.request and lv.answer_at <= self.hbt_ts:
            self.hbt.elapse(0)
            self._look_at(lv)

    def _look(self) -> None:
        if self._live:
            for lv in list(self._live.values()):
                self._look_at(lv)

    def _look_at(self, lv: _Live) -> None:
        """Reads the order's state in hftbacktest; what changed becomes events."""
        self.counts["looks"] += 1
        h = self._orders[lv.asset].get(lv.hid)
        if h is None:  # never accepted locally (cannot happen after a 0 return code)
            return
        status = h.status
        order = lv.order
        now = self.hbt_ts
        answered = bool(lv.request) and lv.answer_at <= now
        if status == H_FILLED or status == H_PARTIAL:
            leaves = _lots(h.leaves_qty)
            if leaves < lv.open_qty:
                self._fill(lv, h, lv.open_qty - leaves, leaves)
                if order.order_id not in self._live:
                    return  # ended: an answer still travelling is about an ended order
        if status == H_CANCELED or status == H_EXPIRED:
            order.cancelled_qty = order.qty - order.filled_qty
            order.status = OrderStatus.CANCELLED
            if status == H_EXPIRED:
                order.reason = "hftbacktest: expired (IOC/FOK not marketable)"
            order.updated_ns = self._answered_ns(h, now)
            self.events.append(OrderUpdate.of(order, order.updated_ns))
            self._end(lv)
            return
        if not answered:
            return
        what = lv.request
        lv.request = ""
        lv.answer_at = 0
        self._watch = None
        if what == "new":
            if status == H_NEW and order.status is OrderStatus.PENDING_SUBMIT:
                order.status = OrderStatus.SUBMITTED
                order.updated_ns = self._answered_ns(h, now)
                self.events.append(OrderUpdate.of(order, order.updated_ns))
        elif what == "amend":
            price = lv.amend_price
            lv.amend_price = None
            h_price = round(h.price_tick * lv.tick, 6)
            if price is not None and abs(h_price - price) < lv.tick * 1e-6:
                order.price = price
                open_qty = _lots(h.leaves_qty)
                order.cancelled_qty = order.qty - order.filled_qty - open_qty
                lv.open_qty = open_qty
                order.updated_ns = self._answered_ns(h, now)
                self.events.append(OrderUpdate.of(order, order.updated_ns))
            else:
                self._refused(order, now, "amend")
        # cancel answered without ending the order: hftbacktest refused it (already gone)
        elif what == "cancel" and status not in (H_CANCELED, H_EXPIRED):
            lv.cancelling = False
            self._refused(order, now)
        self._next_request(lv)

    def _next_request(self, lv: _Live) -> None:
        if lv.order.order_id not in self._live or not lv.waiting:
            return
        what, price, qty = lv.waiting.pop(0)
        if what == "cancel":
            self._send_cancel(lv)
        else:
            o = lv.order
            if qty is not None and not 0 < qty < o.remaining:
                return self._next_request(lv)  # a reduction a fill overtook
            self._send_amend(lv, price, qty)
        self._settle(lv)

    def _answered_ns(self, h: Any, now: int) -> int:
        """When the answer reached us: its exchange time plus the response leg (never later
        than hftbacktest's clock)."""
        exch = int(h.exch_timestamp)
        return min(now, exch + self.models.latency.response(exch)) if exch > 0 else now

    def _fill(self, lv: _Live, h: Any, qty: int, leaves: int) -> None:
        order = lv.order
        if order.status is OrderStatus.PENDING_SUBMIT:
            # Taken on arrival: hftbacktest answers with the fill; the acknowledgement it implies
            # is reported first, as the paper venue reports its accept before its fills.
            order.status = OrderStatus.SUBMITTED
            order.updated_ns = self._answered_ns(h, self.hbt_ts)
            self.events.append(OrderUpdate.of(order, order.updated_ns))
        price = round(h.exec_price_tick * lv.tick, 6)
        exec_ns = int(h.exch_timestamp)
        fee = self.engine.fee(lv.code_id, ENGINE_SIDE[order.side], price, qty)
        self._fills += 1
        order.filled_qty += qty
        lv.open_qty = leaves
        self.events.append(
            Fill(
                f"{self._prefix}F{self._fills}",
                order.order_id,
                order.code,
                order.side,
                qty,
                price,
                exec_ns,
                fee,
            )
        )
        order.updated_ns = self._answered_ns(h, self.hbt_ts)
        if order.remaining == 0 or leaves == 0:
            order.status = OrderStatus.FILLED
            self.events.append(OrderUpdate.of(order, order.updated_ns))
            self._end(lv)
        else:
            order.status = OrderStatus.PART_FILLED
            self.events.append(OrderUpdate.of(order, order.updated_ns))

    def _refused(self, order: Order, now: int, what: str = "cancel") -> None:
        verb = "cancel" if what == "cancel" else "amend"
        self.events.append(
            OrderUpdate.of(order, now)._replace(reason=f"{verb} refused: the order had ended")
        )

    def _end(self, lv: _Live) -> None:
        oid = lv.order.order_id
        self._working.pop(oid, None)
        self._live.pop(oid, None)
        self._watch = None
        self._ended[lv.asset] += 1
        if self._ended[lv.asset] >= _CLEAR_EVERY:
            self._ended[lv.asset] = 0
            # Ended orders leave hftbacktest's map: first read every order of the code, so no
            # end we have not seen is cleared away.
            for other in [o for o in self._live.values() if o.asset == lv.asset]:
                self._look_at(other)
            self.hbt.clear_inactive_orders(lv.asset)
