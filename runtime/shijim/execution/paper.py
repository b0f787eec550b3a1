"""The paper venue: the ``ExecutionAdapter`` over the Rust engine's paper venue.

Matching, queue position, latency and fees live in ``shijim_core`` (docs/execution.md, "The
engine's paper venue"); this adapter only translates. It turns ``OrderIntent``s into
``Engine.submit`` calls, keeps the domain ``Order`` objects (keyed by str ids ``P<engine id>``)
and turns the engine's venue events into ``OrderUpdate`` and ``Fill`` events:

- ``place`` returns the order in ``PENDING_SUBMIT`` (and emits that update, as the Shioaji
  adapter does); the venue's acknowledgement (``SUBMITTED``), fills and cancels arrive after the
  engine's latency legs, through ``pump()``. With ``latency="zero"`` they arrive within the call.
- An order changes only when the venue says so: an amend's new price or quantity and a cancel
  take effect on the venue's answer (a cancel in flight can still be filled).
- ``Fill.ts_ns`` is when the fill executed at the venue (markouts start there);
  ``OrderUpdate.ts_ns`` is when we learnt it. ``Fill.fee`` is the engine's fee (on by default).

Fills are not booked here: the risk gateway books every fill, paper and live alike, in the
engine's account (``Engine.apply_fill``). Market data reaches the venue inside the engine.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import shijim_core as sc
from shijim.domain import (
    ENGINE_SIDE,
    SIDE_OF_ENGINE,
    ExecutionEvent,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    TimeInForce,
)

_TIF_TO_ENGINE = {
    TimeInForce.ROD: sc.TIF_DAY,
    TimeInForce.IOC: sc.TIF_IOC,
    TimeInForce.FOK: sc.TIF_FOK,
}


class PaperVenue:
    """``PaperVenue(engine)``: orders go to ``engine``'s paper venue. One owner (the risk
    gateway, under its lock) calls it; ``pump()`` takes the engine's venue events."""

    def __init__(self, engine: Any, id_prefix: str = "P") -> None:
        self.engine = engine
        self.events: deque[ExecutionEvent] = deque()
        self._prefix = id_prefix
        self._working: dict[str, Order] = {}
        self._by_engine_id: dict[int, Order] = {}
        self._engine_id: dict[str, int] = {}
        self._cancelling: set[str] = set()
        self._code_ids: Mapping[str, int] = engine.code_ids  # the engine's, live
        self._fills = 0

    # -- ExecutionAdapter --------------------------------------------------------------------
    def working_orders(self) -> Mapping[str, Order]:
        return self._working

    def pump(self) -> None:
        engine = self.engine
        if engine.pending_events:  # the usual answer is none: no list is built for it
            for ev in engine.drain_events():
                self._on_event(ev)

    def place(self, intent: OrderIntent) -> Order | Rejection:
        qty, price = intent.qty, intent.price
        if type(qty) is not int or qty <= 0 or not math.isfinite(price) or price <= 0:
            return Rejection(RejectReason.ADAPTER, f"paper: bad qty {qty!r} or price {price!r}")
        code = intent.code
        code_id = self._code_ids.get(code)
        if code_id is None:
            return Rejection(RejectReason.UNKNOWN_CODE, f"paper: {code!r} is not an engine code")
        side = intent.side
        try:
            eid = self.engine.submit(
                code_id, ENGINE_SIDE[side], price, qty, _TIF_TO_ENGINE[intent.tif]
            )
        except ValueError as exc:  # e.g. a price with more than 6 decimals, a full backlog
            return Rejection(RejectReason.ADAPTER, f"paper: {exc}")
        ts = self._now()
        oid = f"{self._prefix}{eid}"
        pending = OrderStatus.PENDING_SUBMIT
        # Positional: keyword arguments cost measurably on the tick-to-order path.
        # (order_id, code, side, qty, price, tif, status, filled, cancelled, created, updated, tag)
        order = Order(oid, code, side, qty, price, intent.tif, pending, 0, 0, ts, ts, intent.tag)
        self._working[oid] = order
        self._by_engine_id[eid] = order
        self._engine_id[oid] = eid
        self.events.append(OrderUpdate(oid, code, pending, qty, 0, 0, price, ts, ""))
        self.pump()  # zero latency: accepted (and matched) within the call
        return order

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        """New price and/or open quantity ``qty`` (1 .. remaining-1); the order changes when the
        venue's answer arrives (``pump``)."""
        order = self._working.get(order_id)
        if order is None:
            return Rejection(RejectReason.UNKNOWN_ORDER, f"paper: order {order_id!r} not working")
        if qty is not None and (type(qty) is not int or not 0 < qty < order.remaining):
            return Rejection(RejectReason.ADAPTER, f"paper: amend qty {qty!r}")
        if price is not None and not (math.isfinite(price) and price > 0):
            return Rejection(RejectReason.ADAPTER, f"paper: amend price {price!r}")
        if price is None and qty is None:
            return Rejection(RejectReason.ADAPTER, "paper: amend of nothing")
        try:
            self.engine.amend(self._engine_id[order_id], price, qty)
        except ValueError as exc:
            return Rejection(RejectReason.ADAPTER, f"paper: {exc}")
        self.pump()
        return order

    def cancel(self, order_id: str) -> bool:
        """Sends the cancel (once: a cancel already in flight is not sent again); the order
        ends when the venue answers, and may fill meanwhile."""
        if order_id not in self._working:
            return False
        if order_id not in self._cancelling:
            self._cancelling.add(order_id)
            self.engine.cancel(self._engine_id[order_id])
            self.pump()
        return True

    def cancel_all(self) -> int:
        return sum(self.cancel(oid) for oid in list(self._working))

    # -- internals ---------------------------------------------------------------------------
    def _now(self) -> int:
        return max(0, self.engine.now)  # the engine's clock starts below 0 before any event

    def _on_event(self, ev: Any) -> None:
        order = self._by_engine_id.get(ev.order_id)
        if order is None:
            # An order that already ended (a late "cancel/amend refused": its end was
            # reported), or not ours. This adapter must be the engine's only event reader.
            return
        kind = ev.kind
        at = ev.at
        order.updated_ns = at
        if kind == sc.VENUE_FILLED:
            qty = ev.qty
            order.filled_qty += qty
            self._fills += 1
            self.events.append(
                Fill(
                    f"{self._prefix}F{self._fills}",
                    order.order_id,
                    order.code,
                    SIDE_OF_ENGINE[ev.side],
                    qty,
                    ev.price,
                    ev.exec_at,
                    ev.fee,
                )
            )
            if ev.remaining == 0:
                order.status = OrderStatus.FILLED
                self._end(order)
            else:
                order.status = OrderStatus.PART_FILLED
        elif kind == sc.VENUE_ACCEPTED:
            if order.status is OrderStatus.PENDING_SUBMIT:
                order.status = OrderStatus.SUBMITTED
        elif kind == sc.VENUE_CANCELLED:
            order.cancelled_qty += ev.qty
            order.status = OrderStatus.CANCELLED
            self._end(order)
        elif kind == sc.VENUE_AMENDED:
            order.price = ev.price
            # The venue's open quantity after the amend; the reduction counts as cancelled.
            order.cancelled_qty = order.qty - order.filled_qty - ev.remaining
        elif kind == sc.VENUE_REJECTED:
            order.status = OrderStatus.REJECTED
            order.reason = f"paper venue: {ev.reason}"
            order.cancelled_qty = order.qty - order.filled_qty
            self._end(order)
        elif kind == sc.VENUE_CANCEL_REJECTED:
            self._cancelling.discard(order.order_id)
            self.events.append(
                OrderUpdate.of(order, at)._replace(reason="cancel refused: the order had ended")
            )
            return
        elif kind == sc.VENUE_AMEND_REJECTED:
            self.events.append(
                OrderUpdate.of(order, at)._replace(reason="amend refused: the order had ended")
            )
            return
        self.events.append(OrderUpdate.of(order, at))

    def _end(self, order: Order) -> None:
        # Forgotten once ended, so a day of orders holds no memory.
        oid = order.order_id
        self._working.pop(oid, None)
        self._cancelling.discard(oid)
        eid = self._engine_id.pop(oid, None)
        if eid is not None:
            self._by_engine_id.pop(eid, None)
