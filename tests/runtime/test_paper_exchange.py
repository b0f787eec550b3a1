"""The paper venue adapter (``PaperVenue`` over the engine's paper venue): order ids, the
translation of venue events into OrderUpdate/Fill, IOC/FOK outcomes, latency, a cancel in
flight, fees on fills, bad input. The matching rules themselves are tested in Rust
(``cargo test --lib engine::venue``); market data reaches the venue through a real ring and
engine here, as in a run."""

from __future__ import annotations

import pytest
from engine_market import MS, T0, Market
from shijim.domain import (
    Fill,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    Side,
    TimeInForce,
)
from shijim.execution.adapter import ExecutionAdapter
from shijim.execution.paper import PaperVenue

import shijim_core as sc

CODE = "TXFL5"
BOOK_B = [(100.0, 5), (99.0, 6), (98.0, 7)]
BOOK_A = [(101.0, 2), (102.0, 3), (103.0, 4)]
CONSTANT = {"kind": "constant", "entry_ns": 10 * MS, "ack_ns": 5 * MS, "cancel_ns": 10 * MS}


def venue(market: Market, latency: object = "zero", **kw: object) -> PaperVenue:
    eng = sc.Engine([CODE], latency=latency, **kw)
    px = PaperVenue(eng)
    market.attach(eng, px)
    market.book(CODE, BOOK_B, BOOK_A)
    return px


def fills(px: PaperVenue) -> list[Fill]:
    out = [e for e in px.events if isinstance(e, Fill)]
    px.events.clear()
    return out


def statuses(px: PaperVenue) -> list[OrderStatus]:
    return [e.status for e in px.events if isinstance(e, OrderUpdate)]


def place(px: PaperVenue, side: Side, qty: int, price: float, tif=TimeInForce.ROD):
    o = px.place(OrderIntent(CODE, side, qty, price, tif))
    assert not isinstance(o, Rejection)
    return o


def test_the_venue_is_an_execution_adapter(market: Market) -> None:
    assert isinstance(venue(market), ExecutionAdapter)


def test_place_is_pending_then_acknowledged_with_str_ids(market: Market) -> None:
    px = venue(market)
    a = place(px, Side.BUY, 1, 99.0)
    b = place(px, Side.BUY, 1, 98.0)
    assert (a.order_id, b.order_id) == ("P1", "P2")
    # Zero latency: the venue's acknowledgement arrives within the call.
    assert a.status is OrderStatus.SUBMITTED
    assert statuses(px) == [OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED] * 2
    assert set(px.working_orders()) == {"P1", "P2"}


def test_marketable_buy_walks_the_asks_with_fees_and_execution_time(market: Market) -> None:
    px = venue(market)
    o = place(px, Side.BUY, 4, 102.0)
    got = fills(px)
    assert [(f.qty, f.price, f.side, f.order_id) for f in got] == [
        (2, 101.0, Side.BUY, o.order_id),
        (2, 102.0, Side.BUY, o.order_id),
    ]
    assert len({f.fill_id for f in got}) == 2
    assert all(f.ts_ns == T0 + MS for f in got)  # executed at the engine time of the order
    # TXF fees are on by default: 60 TWD/lot commission + 0.002 % tax on the notional.
    assert got[0].fee == pytest.approx(2 * 60 + 0.00002 * 101 * 2 * 200)
    assert o.status is OrderStatus.FILLED and o.filled_qty == 4 and not px.working_orders()


def test_configured_fees_are_the_engines(market: Market) -> None:
    px = venue(market, instruments={CODE: {"per_lot": 50.0, "rate": 0.00002}})
    place(px, Side.BUY, 2, 101.0)
    (f,) = fills(px)
    assert f.fee == pytest.approx(2 * 50 + 0.00002 * 101 * 2 * 200)
    free = PaperVenue(
        sc.Engine([CODE], latency="zero", instruments={CODE: {"per_lot": 0, "rate": 0}})
    )
    market.attach(free.engine, free).book(CODE, BOOK_B, BOOK_A)
    place(free, Side.BUY, 1, 101.0)
    assert [f.fee for f in fills(free)] == [0.0]


def test_ioc_and_fok_outcomes(market: Market) -> None:
    px = venue(market)
    ioc = place(px, Side.BUY, 4, 101.0, TimeInForce.IOC)
    assert [(f.qty, f.price) for f in fills(px)] == [(2, 101.0)]
    assert ioc.status is OrderStatus.CANCELLED and ioc.cancelled_qty == 2
    assert ioc.remaining == 0 and not px.working_orders()
    fok = place(px, Side.BUY, 8, 103.0, TimeInForce.FOK)  # 3 + 4 left visible < 8
    assert fills(px) == [] and fok.status is OrderStatus.CANCELLED and fok.filled_qty == 0
    fok2 = place(px, Side.BUY, 7, 103.0, TimeInForce.FOK)
    assert sum(f.qty for f in fills(px)) == 7 and fok2.status is OrderStatus.FILLED


def test_a_resting_order_fills_when_trades_eat_the_queue(market: Market) -> None:
    px = venue(market)
    o = place(px, Side.BUY, 3, 100.0)  # behind 5
    market.trade(CODE, 100.0, 4, sc.SIDE_SELL)
    assert fills(px) == []
    market.trade(CODE, 100.0, 3, sc.SIDE_SELL)  # 1 ahead left, 2 fill us
    (f,) = fills(px)
    assert (f.qty, f.price, f.ts_ns) == (2, 100.0, market.t)
    assert o.status is OrderStatus.PART_FILLED and o.remaining == 1


def test_latency_makes_acknowledgement_and_fills_asynchronous(market: Market) -> None:
    px = venue(market, latency=CONSTANT)
    px.events.clear()
    sent = market.t
    o = place(px, Side.BUY, 2, 101.0)  # marketable, but only when it arrives (10 ms)
    assert o.status is OrderStatus.PENDING_SUBMIT and statuses(px) == [OrderStatus.PENDING_SUBMIT]
    px.events.clear()
    market.quote(CODE, 100.0, 101.0, at_ms=12)  # arrived at 10 ms, not known before 15 ms
    assert not px.events and o.status is OrderStatus.PENDING_SUBMIT
    market.quote(CODE, 100.0, 101.0, at_ms=16)
    updates = [(u.status, u.ts_ns) for u in px.events if isinstance(u, OrderUpdate)]
    assert updates == [
        (OrderStatus.SUBMITTED, sent + 15 * MS),
        (OrderStatus.FILLED, sent + 15 * MS),
    ]
    (f,) = fills(px)
    assert (f.qty, f.price) == (2, 101.0)
    assert f.ts_ns == sent + 10 * MS  # executed on arrival, learnt 5 ms later
    assert o.status is OrderStatus.FILLED


def test_a_cancel_in_flight_can_still_be_filled(market: Market) -> None:
    px = venue(market, latency=CONSTANT)
    o = place(px, Side.BUY, 1, 100.0)  # behind 5 at 100
    market.quote(CODE, 100.0, 101.0, qty=5, at_ms=20)  # accepted
    assert o.status is OrderStatus.SUBMITTED
    assert px.cancel(o.order_id) and px.cancel(o.order_id)  # the second is not sent again
    # Before the cancel arrives (10 ms), a trade through our price fills us.
    market.trade(CODE, 99.0, 1, sc.SIDE_SELL, at_ms=25)
    market.quote(CODE, 99.0, 100.0, qty=5, at_ms=60)
    assert [f.qty for f in fills(px)] == [1]
    assert o.status is OrderStatus.FILLED and o.cancelled_qty == 0
    assert OrderStatus.CANCELLED not in statuses(px)
    assert not px.working_orders() and not px.cancel(o.order_id)


def test_cancel_ends_the_order_on_the_venues_answer(market: Market) -> None:
    px = venue(market)
    px.events.clear()
    live = px.working_orders()  # one live mapping for the adapter's life
    o = place(px, Side.BUY, 1, 99.0)
    assert live == {o.order_id: o}
    assert px.cancel(o.order_id) and not px.cancel(o.order_id)
    assert statuses(px) == [
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.SUBMITTED,
        OrderStatus.CANCELLED,
    ]
    assert o.cancelled_qty == 1 and not px.working_orders() and px.working_orders() is live
    market.trade(CODE, 98.0, 10)
    assert fills(px) == []
    assert px.cancel_all() == 0


def test_amend_takes_effect_on_the_venues_answer(market: Market) -> None:
    px = venue(market)
    o = place(px, Side.BUY, 3, 100.0)
    assert px.amend(o.order_id, qty=2) is o
    assert o.remaining == 2 and o.cancelled_qty == 1
    market.trade(CODE, 100.0, 6, sc.SIDE_SELL)  # 5 ahead, 1 fills us: priority was kept
    assert [f.qty for f in fills(px)] == [1]
    px.amend(o.order_id, price=101.0)  # now marketable against the ask
    assert [(f.qty, f.price) for f in fills(px)] == [(1, 101.0)]
    assert o.price == 101.0 and o.status is OrderStatus.FILLED
    assert isinstance(px.amend("nope", price=1.0), Rejection)


def test_bad_input_is_refused_and_nothing_is_sent(market: Market) -> None:
    px = venue(market)
    px.events.clear()
    for intent, reason in (
        (OrderIntent(CODE, Side.BUY, 0, 100.0), RejectReason.ADAPTER),
        (OrderIntent(CODE, Side.BUY, 1, float("nan")), RejectReason.ADAPTER),
        (OrderIntent(CODE, Side.BUY, 1, 100.0000001), RejectReason.ADAPTER),  # 7 decimals
        (OrderIntent("MXFL5", Side.BUY, 1, 100.0), RejectReason.UNKNOWN_CODE),
    ):
        r = px.place(intent)
        assert isinstance(r, Rejection) and r.reason is reason, (intent, r)
    o = place(px, Side.BUY, 2, 99.0)
    px.events.clear()
    assert isinstance(px.amend(o.order_id, qty=2), Rejection)
    assert isinstance(px.amend(o.order_id, price=-1.0), Rejection)
    assert not px.events and px.engine.working_count == 1


def test_same_seed_same_fills_with_random_latency() -> None:
    from ring_fixture import fresh_ring

    def run(seed: int) -> list[tuple[str, int, float, int]]:
        with fresh_ring() as r:
            m = Market(r)
            px = venue(m, latency="shioaji", seed=seed)
            for k in range(20):
                place(px, Side.BUY if k % 2 else Side.SELL, 1, 100.0 if k % 2 else 101.0)
                m.trade(CODE, 100.0 if k % 2 else 101.0, 3, at_ms=5 + 7 * k)
            m.quote(CODE, 100.0, 101.0, at_ms=1000)
            return [(f.fill_id, f.qty, f.price, f.ts_ns) for f in fills(px)]

    a = run(1)
    assert a and a == run(1)
    assert [f[3] for f in a] != [f[3] for f in run(2)]
