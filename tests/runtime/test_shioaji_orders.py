"""Shioaji order adapter with real shioaji order/contract/account objects.

The logged-in client is the one hand-written double (no broker here): it records the real
``sj.FuturesOrder`` / ``sj.Order`` objects it is given and returns Trade-shaped objects, because
``sj.Trade`` cannot be constructed offline. Order/deal events are plain dicts with the real keys
(``shioaji._core.pyi``: FuturesOrderEvent, FuturesDealEvent)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import shioaji as sj
import shioaji_objects as so
from engine_market import quote_once
from shijim.domain import (
    Fill,
    Instrument,
    KillSwitchSource,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    Side,
    TimeInForce,
)
from shijim.execution.shioaji_orders import ShioajiOrderAdapter
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine

import shijim_core

FUT_ACCOUNT = sj.Account(
    account_type=sj.AccountType.Future,
    person_id="A123456789",
    broker_id="F002000",
    account_id="1234567",
    signed=True,
    username="test",
)
STK_ACCOUNT = sj.Account(
    account_type=sj.AccountType.Stock,
    person_id="A123456789",
    broker_id="9A95",
    account_id="7654321",
    signed=True,
    username="test",
)
CONTRACTS: dict[str, Any] = {
    "TXFL5": sj.Future(code="TXFL5", category="TXF", delivery_month="202512", multiplier=200),
    "2330": sj.Stock(code="2330", exchange="TSE"),
}
INSTRUMENTS = InstrumentTable(
    {"TXFL5": Instrument.future("TXFL5", 200.0), "2330": Instrument.stock("2330")}
)


def trade_of(
    contract: Any,
    trade_id: str,
    *,
    seqno: str,
    ordno: str,
    action: Any,
    price: float,
    quantity: int,
    status: Any,
    deal_quantity: int = 0,
    deals: list[Any] | None = None,
) -> SimpleNamespace:
    """Trade-shaped, as ``place_order`` and ``list_trades`` return it (``sj.Trade`` cannot be
    constructed offline)."""
    return SimpleNamespace(
        contract=contract,
        order=SimpleNamespace(
            id=trade_id,
            seqno=seqno,
            ordno=ordno,
            action=action,
            price=price,
            quantity=quantity,
        ),
        status=SimpleNamespace(
            status=status,
            deal_quantity=deal_quantity,
            cancel_quantity=0,
            deals=[] if deals is None else deals,
        ),
    )


@so.real_signature_checked
class FakeApi:
    """Minimal stand-in for a logged-in ``sj.Shioaji``; records the real objects it gets."""

    def __init__(self) -> None:
        self.placed: list[tuple[Any, Any, Any]] = []
        self.updates: list[tuple[str, float | None, int | None]] = []
        self.cancels: list[str] = []
        self.callback: Any = None
        self.trades: list[Any] = []
        self.positions: dict[str, list[Any]] = {}
        self.status_updates: list[Any] = []
        self.fail_next = False

    def set_order_callback(self, fn: Any) -> None:
        self.callback = fn

    def place_order(self, contract: Any, order: Any, timeout: int = 30000) -> Any:
        assert timeout == 0, "orders must be sent non-blocking"
        if self.fail_next:
            self.fail_next = False
            raise sj.ShioajiConnectionError("offline")
        n = len(self.placed) + 1
        trade = trade_of(
            contract,
            f"tid{n}",
            seqno=f"{n:06d}",
            ordno="",
            action=order.action,
            price=order.price,
            quantity=order.quantity,
            status=sj.OrderStatus.PendingSubmit,
        )
        self.placed.append((contract, order, trade))
        return trade

    def update_order(
        self, trade: Any, price: float | None = None, qty: int | None = None, timeout: int = 30000
    ) -> Any:
        assert timeout == 0
        self.updates.append((trade.order.id, price, qty))
        return trade

    def cancel_order(self, trade: Any, timeout: int = 30000) -> Any:
        assert timeout == 0
        self.cancels.append(trade.order.id)
        return trade

    def update_status(self, account: Any = None) -> None:
        self.status_updates.append(account)

    def list_trades(self) -> list[Any]:
        return self.trades

    def list_positions(self, account: Any = None) -> list[Any]:
        return self.positions.get(account.account_id, [])


def order_event(
    trade_id: str,
    op_type: str = "New",
    op_code: str = "00",
    ordno: str = "kY001",
    cancel_quantity: int = 0,
    modified_price: float = 0.0,
    action: str = "Buy",
    price: float = 20000.0,
    quantity: int = 2,
) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "operation": {
            "op_type": op_type,
            "op_code": op_code,
            "op_msg": "" if op_code == "00" else "X",
        },
        "order": {
            "id": trade_id,
            "seqno": "000001",
            "ordno": ordno,
            "action": action,
            "price": price,
            "quantity": quantity,
            "time_in_force": "ROD",
            "price_type": "LMT",
            "oc_type": "Auto",
        },
        "status": {
            "id": trade_id,
            "exchange_ts": 1764000000.0,
            "modified_price": modified_price,
            "cancel_quantity": cancel_quantity,
            "order_quantity": quantity,
            "web_id": "Z",
        },
        "contract": {
            "security_type": "FUT",
            "code": "TXF",
            "exchange": "TAIFEX",
            "delivery_month": "202512",
            "full_code": "TXFL5",
            "delivery_date": "2025/12/17",
            "strike_price": 0.0,
            "option_right": "Future",
        },
    }


def deal_event(
    trade_id: str,
    exchange_seq: str = "1",
    quantity: int = 1,
    price: float = 20000.0,
    action: str = "Buy",
    ordno: str = "kY001",
) -> dict[str, Any]:
    return {
        "event_id": "d" + exchange_seq,
        "trade_id": trade_id,
        "seqno": "000001",
        "ordno": ordno,
        "exchange_seq": exchange_seq,
        "broker_id": "F002000",
        "account_id": "1234567",
        "action": action,
        "code": "TXF",
        "full_code": "TXFL5",
        "price": price,
        "quantity": quantity,
        "subaccount": "",
        "security_type": "FUT",
        "delivery_month": "202512",
        "strike_price": 0.0,
        "option_right": "Future",
        "market_type": "Day",
        "combo": False,
        "ts": 1764000000.5,
    }


class Clock:
    ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


def make() -> tuple[ShioajiOrderAdapter, FakeApi, Clock]:
    api = FakeApi()
    clock = Clock()
    adapter = ShioajiOrderAdapter(
        api, CONTRACTS.get, INSTRUMENTS.get, FUT_ACCOUNT, STK_ACCOUNT, clock=clock
    )
    adapter.start()
    return adapter, api, clock


def drain(adapter: ShioajiOrderAdapter) -> list[Any]:
    adapter.pump()
    out = list(adapter.events)
    adapter.events.clear()
    return out


def test_place_builds_a_real_futures_order() -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 2, 20000.0, TimeInForce.IOC))
    assert not isinstance(o, Rejection)
    contract, order, _ = api.placed[0]
    assert contract is CONTRACTS["TXFL5"]
    assert isinstance(order, sj.FuturesOrder)
    assert order.action == sj.Action.Buy and order.price == 20000.0 and order.quantity == 2
    assert order.price_type == sj.FuturesPriceType.LMT
    assert order.time_in_force == sj.TimeInForce.IOC
    assert order.octype == sj.FuturesOCType.Auto
    assert order.account.account_id == "1234567"
    assert o.order_id == "tid1" and o.status is OrderStatus.PENDING_SUBMIT


def test_place_builds_a_real_stock_order() -> None:
    adapter, api, _ = make()
    adapter.place(OrderIntent("2330", Side.SELL, 1, 600.0))
    _, order, _ = api.placed[0]
    assert isinstance(order, sj.StockOrder)
    assert order.action == sj.Action.Sell and order.quantity == 1
    assert order.order_lot == sj.StockOrderLot.Common
    assert order.price_type == sj.StockPriceType.LMT
    assert order.account.account_id == "7654321"


def test_ack_then_deals_then_filled() -> None:
    adapter, api, _ = make()
    live = adapter.working_orders()  # one live mapping for the adapter's life
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 2, 20000.0))
    assert live == {"tid1": o}
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1"))
    ev = drain(adapter)
    assert o.status is OrderStatus.SUBMITTED and o.broker_ref == "kY001"
    api.callback(sj.OrderState.FuturesDeal, deal_event("tid1", "1"))
    api.callback(sj.OrderState.FuturesDeal, deal_event("tid1", "2"))
    ev = drain(adapter)
    fills = [e for e in ev if isinstance(e, Fill)]
    assert [(f.fill_id, f.qty, f.price, f.side) for f in fills] == [
        ("kY001:1", 1, 20000.0, Side.BUY),
        ("kY001:2", 1, 20000.0, Side.BUY),
    ]
    assert fills[0].ts_ns == 1764000000_500000000
    assert o.status is OrderStatus.FILLED and not adapter.working_orders()
    assert adapter.working_orders() is live


def test_deal_before_ack_is_applied_once() -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 2, 20000.0))
    api.callback(sj.OrderState.FuturesDeal, deal_event("tid1", "1"))
    api.callback(sj.OrderState.FuturesDeal, deal_event("tid1", "1"))  # duplicate delivery
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1"))
    ev = drain(adapter)
    assert sum(e.qty for e in ev if isinstance(e, Fill)) == 1
    assert o.status is OrderStatus.PART_FILLED and o.filled_qty == 1
    assert o.order_id in adapter.working_orders()


def test_deal_for_an_order_not_yet_known_waits_for_it() -> None:
    adapter, api, _ = make()
    # Deal for a trade this process has not seen: buffered, not dropped, not counted yet.
    api.callback(sj.OrderState.FuturesDeal, deal_event("other", "7", ordno="kZ9"))
    assert [e for e in drain(adapter) if isinstance(e, Fill)] == []
    api.callback(sj.OrderState.FuturesOrder, order_event("other", ordno="kZ9"))
    ev = drain(adapter)
    fills = [e for e in ev if isinstance(e, Fill)]
    assert [(f.order_id, f.code, f.qty) for f in fills] == [("other", "TXFL5", 1)]


def test_orphan_deal_is_applied_after_the_grace_time() -> None:
    adapter, api, clock = make()
    api.callback(sj.OrderState.FuturesDeal, deal_event("ghost", "3", ordno="kQ1", action="Sell"))
    assert not [e for e in drain(adapter) if isinstance(e, Fill)]
    clock.ns += 3_000_000_000
    fills = [e for e in drain(adapter) if isinstance(e, Fill)]
    assert [(f.order_id, f.code, f.side, f.qty) for f in fills] == [
        ("ghost", "TXFL5", Side.SELL, 1)
    ]


def test_cancel_before_ack_is_sent_on_ack() -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 2, 20000.0))
    assert adapter.cancel(o.order_id)
    assert api.cancels == []
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1"))
    drain(adapter)
    assert api.cancels == ["tid1"]
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1", "Cancel", cancel_quantity=2))
    drain(adapter)
    assert o.status is OrderStatus.CANCELLED and not adapter.working_orders()


def test_amend_translates_to_shioaji_update_order() -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 3, 20000.0))
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1", quantity=3))
    drain(adapter)
    adapter.amend(o.order_id, price=19999.0)
    adapter.amend(o.order_id, qty=1)  # new open qty 1 -> cancel 2
    assert api.updates == [("tid1", 19999.0, None), ("tid1", None, 2)]
    assert o.price == 20000.0 and o.remaining == 3  # unchanged until the broker confirms
    api.callback(
        sj.OrderState.FuturesOrder, order_event("tid1", "UpdatePrice", modified_price=19999.0)
    )
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1", "UpdateQty", cancel_quantity=2))
    drain(adapter)
    assert o.price == 19999.0 and o.remaining == 1 and o.is_working


def test_broker_rejection_of_new_order() -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 1, 20000.0))
    api.callback(sj.OrderState.FuturesOrder, order_event("tid1", op_code="88", quantity=1))
    ev = drain(adapter)
    assert o.status is OrderStatus.REJECTED and "88" in o.reason
    assert not adapter.working_orders()
    assert isinstance(ev[-1], OrderUpdate) and ev[-1].status is OrderStatus.REJECTED


def test_place_failure_is_a_rejection_not_a_crash() -> None:
    adapter, api, _ = make()
    api.fail_next = True
    r = adapter.place(OrderIntent("TXFL5", Side.BUY, 1, 20000.0))
    assert isinstance(r, Rejection) and r.reason is RejectReason.ADAPTER
    r = adapter.place(OrderIntent("NOPE", Side.BUY, 1, 1.0))
    assert isinstance(r, Rejection) and r.reason is RejectReason.UNKNOWN_CODE
    assert not adapter.working_orders()


@pytest.mark.parametrize(
    "msg",
    [
        {"trade_id": "tid1"},  # no dedupe key
        {**deal_event("tid1"), "quantity": 0},
        {**deal_event("tid1"), "quantity": "x"},
        {**deal_event("tid1"), "price": "nan?"},
        {**deal_event("tid1"), "action": "Hold"},
        "not a dict",
    ],
)
def test_bad_deal_events_are_counted_and_dropped(msg: Any) -> None:
    adapter, api, _ = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 2, 20000.0))
    api.callback(sj.OrderState.FuturesDeal, msg)
    ev = drain(adapter)
    assert not [e for e in ev if isinstance(e, Fill)]
    assert adapter.bad_events == 1 and o.filled_qty == 0


def test_bad_order_event_and_unknown_state() -> None:
    adapter, api, _ = make()
    api.callback(sj.OrderState.FuturesOrder, {"operation": {}})
    api.callback("WHAT", {})
    drain(adapter)
    assert adapter.bad_events == 2


def test_reconcile_adopts_working_orders_and_reads_positions() -> None:
    api = FakeApi()
    deal = SimpleNamespace(seq="5", price=20000.0, quantity=1, ts=1764000000.0)
    txf = CONTRACTS["TXFL5"]
    api.trades = [
        trade_of(
            txf,
            "old1",
            seqno="000009",
            ordno="kA1",
            action=sj.Action.Sell,
            price=20050.0,
            quantity=3,
            status=sj.OrderStatus.PartFilled,
            deal_quantity=1,
            deals=[deal],
        ),
        trade_of(
            txf,
            "old2",
            seqno="000010",
            ordno="kA2",
            action=sj.Action.Buy,
            price=1.0,
            quantity=1,
            status=sj.OrderStatus.Filled,
            deal_quantity=1,
        ),
    ]
    # FuturePosition cannot be built offline: same attributes.
    api.positions = {
        "1234567": [
            SimpleNamespace(code="TXFL5", direction=sj.Action.Sell, quantity=2, price=20010.0)
        ]
    }
    adapter = ShioajiOrderAdapter(api, CONTRACTS.get, INSTRUMENTS.get, FUT_ACCOUNT, STK_ACCOUNT)
    live = adapter.working_orders()  # one live mapping: the gateway keeps it
    sm = TradingStateMachine()
    gw = RiskAwareGateway(adapter, INSTRUMENTS, RiskLimits(), sm)
    report = gw.start()
    assert adapter.working_orders() is live and gw.working_orders() is live
    assert api.callback is not None
    assert [a.account_id for a in api.status_updates] == ["1234567", "7654321"]
    assert report.adopted == 1 and report.working == 1
    assert set(adapter.working_orders()) == {"old1"}
    assert adapter.working_orders()["old1"].remaining == 2
    assert gw.positions.net("TXFL5") == -2
    # the deal already in list_trades (and in positions) is not counted again on replay
    api.callback(sj.OrderState.FuturesDeal, deal_event("old1", "5", ordno="kA1", action="Sell"))
    gw.poll()
    assert gw.positions.net("TXFL5") == -2
    # a new deal on the adopted order is
    api.callback(sj.OrderState.FuturesDeal, deal_event("old1", "6", ordno="kA1", action="Sell"))
    gw.poll()
    assert gw.positions.net("TXFL5") == -3
    # the kill switch cancels the adopted order too
    sm.engage(KillSwitchSource.ADMIN, "test")
    assert api.cancels == ["old1"]


def test_gateway_blocks_bad_input_before_shioaji() -> None:
    adapter, api, _ = make()
    # Live: the engine gives the reference prices (its venue is unused).
    engine = shijim_core.Engine(["TXFL5"])
    gw = RiskAwareGateway(adapter, INSTRUMENTS, RiskLimits(), engine=engine)
    quote_once(gw, "TXFL5", 20000.0, 20001.0)
    for intent in (
        OrderIntent("TXFL5", Side.BUY, 0, 20000.0),
        OrderIntent("TXFL5", Side.BUY, 1, float("nan")),
        OrderIntent("ZZZ", Side.BUY, 1, 20000.0),
    ):
        assert isinstance(gw.place(intent), Rejection)
    assert api.placed == []
    assert not isinstance(gw.place(OrderIntent("TXFL5", Side.BUY, 1, 20000.0)), Rejection)
    assert len(api.placed) == 1


def test_orphan_fill_in_an_unconfigured_code_is_tracked_with_its_multiplier() -> None:
    api = FakeApi()
    clock = Clock()
    table = InstrumentTable({"TXFL5": Instrument.future("TXFL5", 200.0)})
    adapter = ShioajiOrderAdapter(api, CONTRACTS.get, table.get, FUT_ACCOUNT, None, clock=clock)
    gw = RiskAwareGateway(adapter, table, RiskLimits(), clock=clock)
    gw.start()
    msg = {**deal_event("ghost", "1", ordno="kG1"), "full_code": "MXFL5"}
    api.callback(sj.OrderState.FuturesDeal, msg)
    gw.poll()
    assert gw.positions.net("MXFL5") == 0  # still waiting for its order event
    clock.ns += 3_000_000_000
    gw.poll()
    assert gw.positions.net("MXFL5") == 1
    # Adopted by the account with MXF's 50 TWD/point (no book in this shard: not marked).
    assert gw.instruments.require("MXFL5").multiplier == 50.0
    assert gw.summary()["positions"]["MXFL5"]["net"] == 1


def test_cancel_goes_out_even_if_the_ack_never_comes() -> None:
    adapter, api, clock = make()
    o = adapter.place(OrderIntent("TXFL5", Side.BUY, 1, 20000.0))
    adapter.cancel(o.order_id)
    drain(adapter)
    assert api.cancels == []
    clock.ns += 1_500_000_000
    drain(adapter)
    assert api.cancels == ["tid1"]


def test_orders_found_at_reconcile_while_halted_are_cancelled() -> None:
    api = FakeApi()
    api.trades = [
        trade_of(
            CONTRACTS["TXFL5"],
            "old9",
            seqno="000019",
            ordno="kB9",
            action=sj.Action.Buy,
            price=19000.0,
            quantity=1,
            status=sj.OrderStatus.Submitted,
        )
    ]
    adapter = ShioajiOrderAdapter(api, CONTRACTS.get, INSTRUMENTS.get, FUT_ACCOUNT, None)
    sm = TradingStateMachine()
    sm.engage(KillSwitchSource.CRD, "halted before start")
    gw = RiskAwareGateway(adapter, INSTRUMENTS, RiskLimits(), sm)
    gw.start()
    assert api.cancels == ["old9"]
