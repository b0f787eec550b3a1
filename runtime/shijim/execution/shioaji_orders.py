"""Shioaji order adapter: real ``sj.FuturesOrder`` / ``sj.Order`` objects through a logged-in
client (``shijim.gateway.shioaji_session.ShioajiSession.api``).

- ``place`` sends with ``timeout=0`` (non-blocking); the order's id is the broker trade id
  (``trade.order.id``), which order and deal events carry (``order.id`` / ``trade_id``).
- Broker callbacks (``set_order_callback(fn(state, msg))``) arrive on Shioaji's threads; they are
  only queued there. ``pump()`` applies them on the owner's thread (the risk gateway's lock).
- A deal may arrive before the order's acknowledgement, or for an order this process has not
  seen yet (placed before a restart): it is buffered by trade id and applied once the order is
  known; after ``orphan_after_s`` it is applied anyway as a fill of an adopted order, because a
  deal is real exposure. Deals are deduplicated by (ordno or seqno, exchange_seq).
- ``reconcile()`` (call once after login, before trading, and after a reconnect) refreshes
  working orders from ``update_status`` + ``list_trades`` and returns broker positions from
  ``list_positions``; deals already reflected there are marked seen so replays don't count twice.
- Bad events (missing keys, wrong types, lazy-parse panics) are counted, logged with the field,
  and dropped.
- Amend: ``qty`` is the new open quantity; Shioaji's ``update_order(qty=...)`` takes the quantity
  to *cancel*, so the adapter sends ``remaining - qty``. Local state changes only when the
  broker confirms (working exposure is over- rather than under-stated meanwhile).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import shioaji as sj

from shijim.domain import (
    ExecutionEvent,
    Fill,
    Instrument,
    InstrumentKind,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    Side,
    TimeInForce,
)

log = logging.getLogger(__name__)

_OK = "00"
_STATUS_MAP: dict[str, OrderStatus] = {
    "PendingSubmit": OrderStatus.PENDING_SUBMIT,
    "PreSubmitted": OrderStatus.PENDING_SUBMIT,
    "Submitted": OrderStatus.SUBMITTED,
    "PartFilled": OrderStatus.PART_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Failed": OrderStatus.FAILED,
    "Inactive": OrderStatus.REJECTED,
}
_TIF = {TimeInForce.ROD: sj.TimeInForce.ROD, TimeInForce.IOC: sj.TimeInForce.IOC}
_TIF[TimeInForce.FOK] = sj.TimeInForce.FOK


class BadOrderEvent(ValueError):
    """An order/deal event we cannot use; the message names the field."""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    code: str
    net: int  # signed, order units
    avg_price: float


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    positions: tuple[BrokerPosition, ...]
    working: int
    adopted: int  # working orders found at the broker that this process had not placed


def _field(msg: Any, *path: str) -> Any:
    cur = msg
    for key in path:
        try:
            cur = cur[key]
        except (KeyError, TypeError, IndexError):
            raise BadOrderEvent(f"missing field {'.'.join(path)}") from None
    return cur


def _side(value: Any, where: str) -> Side:
    v = getattr(value, "value", value)
    if v == "Buy":
        return Side.BUY
    if v == "Sell":
        return Side.SELL
    raise BadOrderEvent(f"{where}: action {v!r} is not Buy/Sell")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise BadOrderEvent(f"{where}: {value!r} is not an integer")
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise BadOrderEvent(f"{where}: {value!r} is not an integer") from None
    if out != value and not isinstance(value, str):
        raise BadOrderEvent(f"{where}: {value!r} is not an integer")
    return out


def _price(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BadOrderEvent(f"{where}: {value!r} is not a price") from None
    if not out > 0 or out == float("inf"):
        raise BadOrderEvent(f"{where}: {value!r} is not a positive finite price")
    return out


class ShioajiOrderAdapter:
    def __init__(
        self,
        api: Any,
        contract_of: Callable[[str], Any | None],
        instrument_of: Callable[[str], Instrument | None],
        futopt_account: Any = None,
        stock_account: Any = None,
        clock: Callable[[], int] = time.time_ns,
        orphan_after_s: float = 2.0,
        ack_timeout_s: float = 1.0,
    ) -> None:
        self.api = api
        self._contract_of = contract_of
        self._instrument_of = instrument_of
        self._futopt_account = futopt_account
        self._stock_account = stock_account
        self._clock = clock
        self._orphan_after_ns = int(orphan_after_s * 1e9)
        self._ack_timeout_ns = int(ack_timeout_s * 1e9)
        self.events: deque[ExecutionEvent] = deque()
        self._inbox: deque[tuple[Any, Any]] = deque()
        self._orders: dict[str, Order] = {}
        self._trades: dict[str, Any] = {}
        self._working: dict[str, Order] = {}
        self._seen_deals: set[tuple[str, str]] = set()
        self._early_deals: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        self._cancel_on_ack: dict[str, int] = {}  # trade id -> when the cancel was asked
        self.bad_events = 0
        self._last_bad_log_ns = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ReconcileReport:
        """Register the order callback and reconcile. Call after login, before trading."""
        self.api.set_order_callback(self.on_order_callback)
        return self.reconcile()

    def on_order_callback(self, state: Any, msg: Any) -> None:
        """Shioaji's thread: queue only (deque.append is thread-safe)."""
        self._inbox.append((state, msg))

    # -- ExecutionAdapter --------------------------------------------------------------------
    def working_orders(self) -> Mapping[str, Order]:
        return self._working

    def place(self, intent: OrderIntent) -> Order | Rejection:
        inst = self._instrument_of(intent.code)
        contract = self._contract_of(intent.code)
        if inst is None or contract is None:
            return Rejection(RejectReason.UNKNOWN_CODE, f"shioaji: no contract for {intent.code!r}")
        if type(intent.qty) is not int or intent.qty <= 0:
            return Rejection(RejectReason.INVALID_QTY, f"shioaji: qty {intent.qty!r}")
        try:
            order = self._broker_order(intent, inst)
            trade = self.api.place_order(contract, order, timeout=0)
            trade_id = str(trade.order.id)
        except Exception as exc:  # broker/network errors must not kill the strategy thread
            log.error("place_order %s %s failed: %s", intent.code, intent.side.name, exc)
            return Rejection(RejectReason.ADAPTER, f"shioaji place_order: {exc}")
        if not trade_id:
            log.error("place_order %s returned a trade without an id", intent.code)
            return Rejection(RejectReason.ADAPTER, "shioaji place_order: trade without id")
        now = self._clock()
        o = Order(
            trade_id,
            intent.code,
            intent.side,
            intent.qty,
            float(intent.price),
            intent.tif,
            OrderStatus.PENDING_SUBMIT,
            created_ns=now,
            updated_ns=now,
            tag=intent.tag,
            broker_ref=str(getattr(trade.order, "ordno", "") or ""),
        )
        self._register(o, trade)
        self.events.append(OrderUpdate.of(o, now))
        self._apply_early_deals(trade_id)
        return o

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        order = self._working.get(order_id)
        trade = self._trades.get(order_id)
        if order is None or trade is None:
            return Rejection(RejectReason.UNKNOWN_ORDER, f"shioaji: order {order_id!r}")
        try:
            if price is not None:
                self.api.update_order(trade, price=price, timeout=0)
            if qty is not None:
                if type(qty) is not int or not 0 < qty < order.remaining:
                    return Rejection(RejectReason.INVALID_QTY, f"shioaji: amend qty {qty!r}")
                self.api.update_order(trade, qty=order.remaining - qty, timeout=0)
        except Exception as exc:
            log.error("update_order %s failed: %s", order_id, exc)
            return Rejection(RejectReason.ADAPTER, f"shioaji update_order: {exc}")
        return order

    def cancel(self, order_id: str) -> bool:
        order = self._working.get(order_id)
        trade = self._trades.get(order_id)
        if order is None or trade is None:
            return False
        if order.status is OrderStatus.PENDING_SUBMIT and not order.broker_ref:
            # Not on the exchange yet: cancel as soon as it is acknowledged.
            self._cancel_on_ack.setdefault(order_id, self._clock())
            return True
        try:
            self.api.cancel_order(trade, timeout=0)
        except Exception as exc:
            log.error("cancel_order %s failed: %s", order_id, exc)
            return False
        return True

    def cancel_all(self) -> int:
        return sum(self.cancel(oid) for oid in list(self._working))

    def pump(self) -> None:
        inbox = self._inbox
        while inbox:
            state, msg = inbox.popleft()
            try:
                self._apply_event(state, msg)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # pyo3 PanicException derives from BaseException
                self._bad(state, exc)
        if self._early_deals:
            self._flush_orphans()
        if self._cancel_on_ack:
            self._overdue_cancels()

    def _overdue_cancels(self) -> None:
        """An acknowledgement that never comes must not keep a kill-switch cancel from going
        out: after ``ack_timeout_s`` the cancel is sent on the unacknowledged trade anyway."""
        now = self._clock()
        for trade_id, asked in list(self._cancel_on_ack.items()):
            if now - asked < self._ack_timeout_ns:
                continue
            del self._cancel_on_ack[trade_id]
            trade = self._trades.get(trade_id)
            if trade is None or trade_id not in self._working:
                continue
            log.warning("order %s: no acknowledgement after cancel request; cancelling", trade_id)
            try:
                self.api.cancel_order(trade, timeout=0)
            except Exception as exc:
                log.error("cancel_order %s failed: %s", trade_id, exc)
                self._cancel_on_ack[trade_id] = now  # try again after another timeout

    # -- reconciliation ----------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        accounts = [a for a in (self._futopt_account, self._stock_account) if a is not None]
        for acct in accounts:
            self.api.update_status(acct)
        adopted = 0
        for trade in self.api.list_trades():
            try:
                adopted += self._adopt_trade(trade)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # pyo3 PanicException derives from BaseException
                self._bad("list_trades", exc)
        positions: list[BrokerPosition] = []
        for acct in accounts:
            for p in self.api.list_positions(acct):
                try:
                    side = _side(p.direction, "position.direction")
                    qty = _int(p.quantity, "position.quantity")
                    positions.append(BrokerPosition(str(p.code), int(side) * qty, float(p.price)))
                except BadOrderEvent as exc:
                    self._bad("list_positions", exc)
        return ReconcileReport(tuple(positions), len(self._working), adopted)

    def _adopt_trade(self, trade: Any) -> int:
        trade_id = str(trade.order.id)
        st = trade.status
        status = _STATUS_MAP.get(getattr(st.status, "value", str(st.status)), OrderStatus.FAILED)
        for d in st.deals:
            self._seen_deals.add((str(trade.order.ordno or trade.order.seqno), str(d.seq)))
        code = str(getattr(trade.contract, "code", ""))
        known = self._orders.get(trade_id)
        qty = _int(trade.order.quantity, "trade.order.quantity")
        filled = _int(st.deal_quantity or 0, "trade.status.deal_quantity")
        cancelled = _int(st.cancel_quantity or 0, "trade.status.cancel_quantity")
        if known is None:
            if not status.is_working:
                return 0
            known = Order(
                trade_id,
                code,
                _side(trade.order.action, "trade.order.action"),
                qty,
                _price(trade.order.price, "trade.order.price"),
                status=status,
                tag="adopted",
                broker_ref=str(trade.order.ordno or ""),
            )
            self._register(known, trade)
            adopted = 1
        else:
            self._trades[trade_id] = trade
            adopted = 0
        known.filled_qty = filled
        known.cancelled_qty = cancelled
        self._set_status(known, status)
        self.events.append(OrderUpdate.of(known, self._clock()))
        return adopted

    # -- event application -------------------------------------------------------------------
    def _apply_event(self, state: Any, msg: Any) -> None:
        kind = getattr(state, "value", state)
        if kind in ("FORDER", "SORDER"):
            self._apply_order_event(msg)
        elif kind in ("FDEAL", "SDEAL"):
            self._apply_deal(msg)
        else:
            raise BadOrderEvent(f"unknown order-callback state {state!r}")

    def _apply_order_event(self, msg: Any) -> None:
        op_type = str(_field(msg, "operation", "op_type"))
        op_code = str(_field(msg, "operation", "op_code"))
        op_msg = str(msg["operation"].get("op_msg", ""))
        trade_id = str(_field(msg, "order", "id"))
        order = self._orders.get(trade_id)
        if order is None:
            order = self._adopt_from_event(trade_id, msg)
        now = self._clock()
        ordno = msg["order"].get("ordno")
        if ordno:
            order.broker_ref = str(ordno)
        status = msg.get("status") or {}
        if op_code != _OK:
            order.reason = f"{op_type} {op_code}: {op_msg}"
            if op_type == "New":
                order.cancelled_qty = order.qty - order.filled_qty
                self._set_status(order, OrderStatus.REJECTED)
            log.warning("broker refused %s of %s: %s %s", op_type, trade_id, op_code, op_msg)
        elif op_type == "New":
            if order.status is OrderStatus.PENDING_SUBMIT:
                self._set_status(order, OrderStatus.SUBMITTED)
        elif op_type in ("Cancel", "UpdateQty"):
            cq = _int(_field(msg, "status", "cancel_quantity"), "status.cancel_quantity")
            order.cancelled_qty = max(order.cancelled_qty, min(cq, order.qty - order.filled_qty))
            self._refresh_status(order)
        elif op_type == "UpdatePrice":
            order.price = _price(status.get("modified_price"), "status.modified_price")
        order.updated_ns = now
        self.events.append(OrderUpdate.of(order, now))
        if trade_id in self._cancel_on_ack and order.is_working and order.broker_ref:
            del self._cancel_on_ack[trade_id]
            self.cancel(trade_id)
        self._apply_early_deals(trade_id)

    def _adopt_from_event(self, trade_id: str, msg: Any) -> Order:
        contract = msg.get("contract") or {}
        code = str(contract.get("full_code") or contract.get("code") or "")
        if not code:
            raise BadOrderEvent("missing field contract.code")
        now = self._clock()
        order = Order(
            trade_id,
            code,
            _side(_field(msg, "order", "action"), "order.action"),
            _int(_field(msg, "order", "quantity"), "order.quantity"),
            _price(_field(msg, "order", "price"), "order.price"),
            status=OrderStatus.PENDING_SUBMIT,
            created_ns=now,
            updated_ns=now,
            tag="adopted",
        )
        log.warning("adopting order %s (%s) not placed by this process", trade_id, code)
        self._register(order, None)
        return order

    def _apply_deal(self, msg: Any) -> None:
        trade_id = str(_field(msg, "trade_id"))
        if trade_id in self._orders:
            self._deal_for(self._orders[trade_id], msg)
        else:
            self._early_deals.setdefault(trade_id, []).append((self._clock(), msg))

    def _deal_for(self, order: Order, msg: Mapping[str, Any]) -> None:
        key = self._deal_key(msg)
        if key in self._seen_deals:
            return
        qty = _int(_field(msg, "quantity"), "deal.quantity")
        if qty <= 0:
            raise BadOrderEvent(f"deal.quantity: {qty} must be > 0")
        price = _price(_field(msg, "price"), "deal.price")
        side = _side(_field(msg, "action"), "deal.action")
        if side is not order.side:
            raise BadOrderEvent(f"deal.action: {side.name} differs from order {order.order_id}")
        ts = msg.get("ts")
        ts_ns = int(float(ts) * 1e9) if ts else self._clock()
        self._seen_deals.add(key)
        order.filled_qty += qty
        if order.filled_qty > order.qty:  # broker knows best: grow rather than lose a fill
            log.error("order %s filled %d > qty %d", order.order_id, order.filled_qty, order.qty)
            order.qty = order.filled_qty
        order.updated_ns = ts_ns
        self._refresh_status(order)
        self.events.append(
            Fill(f"{key[0]}:{key[1]}", order.order_id, order.code, side, qty, price, ts_ns)
        )
        self.events.append(OrderUpdate.of(order, ts_ns))

    @staticmethod
    def _deal_key(msg: Mapping[str, Any]) -> tuple[str, str]:
        ref = msg.get("ordno") or msg.get("seqno")
        seq = msg.get("exchange_seq")
        if not ref or not seq:
            raise BadOrderEvent("deal: missing ordno/seqno or exchange_seq (dedupe key)")
        return str(ref), str(seq)

    def _apply_early_deals(self, trade_id: str) -> None:
        pending = self._early_deals.pop(trade_id, None)
        if not pending:
            return
        order = self._orders[trade_id]
        for _, msg in pending:
            try:
                self._deal_for(order, msg)
            except BadOrderEvent as exc:
                self._bad("deal", exc)

    def _flush_orphans(self) -> None:
        now = self._clock()
        for trade_id in list(self._early_deals):
            pending = self._early_deals[trade_id]
            if now - pending[0][0] < self._orphan_after_ns:
                continue
            _, msg = pending[0]
            try:
                code = str(msg.get("full_code") or _field(msg, "code"))
                order = Order(
                    trade_id,
                    code,
                    _side(_field(msg, "action"), "deal.action"),
                    sum(_int(m.get("quantity"), "deal.quantity") for _, m in pending),
                    _price(_field(msg, "price"), "deal.price"),
                    status=OrderStatus.PENDING_SUBMIT,
                    created_ns=now,
                    updated_ns=now,
                    tag="orphan",
                )
            except BadOrderEvent as exc:
                self._early_deals.pop(trade_id, None)
                self._bad("deal", exc)
                continue
            log.error("deal(s) for unknown order %s (%s): applying as an orphan", trade_id, code)
            self._register(order, None)
            self._apply_early_deals(trade_id)

    # -- helpers -----------------------------------------------------------------------------
    def _broker_order(self, intent: OrderIntent, inst: Instrument) -> Any:
        action = sj.Action.Buy if intent.side is Side.BUY else sj.Action.Sell
        tif = _TIF[intent.tif]
        if inst.kind is InstrumentKind.STOCK:
            return sj.StockOrder(  # sj.Order is deprecated in 1.7.9
                action=action,
                price=intent.price,
                quantity=intent.qty,
                price_type=sj.StockPriceType.LMT,
                time_in_force=tif,
                order_lot=sj.StockOrderLot.IntradayOdd if inst.odd_lot else sj.StockOrderLot.Common,
                account=self._stock_account,
            )
        return sj.FuturesOrder(
            action=action,
            price=intent.price,
            quantity=intent.qty,
            price_type=sj.FuturesPriceType.LMT,
            time_in_force=tif,
            octype=sj.FuturesOCType.Auto,
            account=self._futopt_account,
        )

    def _register(self, order: Order, trade: Any) -> None:
        self._orders[order.order_id] = order
        if trade is not None:
            self._trades[order.order_id] = trade
        if order.is_working:
            self._working[order.order_id] = order

    def _refresh_status(self, order: Order) -> None:
        if order.remaining > 0:
            if order.filled_qty > 0:
                self._set_status(order, OrderStatus.PART_FILLED)
            elif order.status is OrderStatus.PENDING_SUBMIT and order.broker_ref:
                self._set_status(order, OrderStatus.SUBMITTED)
            return
        # Nothing open: FILLED, or CANCELLED (possibly with filled_qty > 0: partly filled).
        self._set_status(
            order, OrderStatus.FILLED if order.cancelled_qty == 0 else OrderStatus.CANCELLED
        )

    def _set_status(self, order: Order, status: OrderStatus) -> None:
        order.status = status
        if status.is_working:
            self._working[order.order_id] = order
        else:
            self._working.pop(order.order_id, None)
            self._cancel_on_ack.pop(order.order_id, None)

    def _bad(self, where: Any, exc: BaseException) -> None:
        self.bad_events += 1
        now = self._clock()
        if now - self._last_bad_log_ns >= 1_000_000_000:
            self._last_bad_log_ns = now
            log.error("bad order event (%s) dropped: %s [%d so far]", where, exc, self.bad_events)
