"""Paper exchange fill rules: marketable walk, queue position, trade-through, IOC/FOK, amends."""

from __future__ import annotations

import numpy as np
import pytest
from shijim.domain import Fill, OrderIntent, OrderStatus, OrderUpdate, Side, TimeInForce
from shijim.execution.paper import FeeSchedule, PaperExchange
from shijim.risk.rules import Rejection

CODE = "TXFL5"


def snap(
    px: PaperExchange,
    bids: list[tuple[float, int]],
    asks: list[tuple[float, int]],
    ts: int = 1,
) -> None:
    bids = bids + [(0.0, 0)] * (5 - len(bids))
    asks = asks + [(0.0, 0)] * (5 - len(asks))
    px.on_bidask(
        CODE,
        ts,
        [p for p, _ in bids],
        [q for _, q in bids],
        [p for p, _ in asks],
        [q for _, q in asks],
    )


def fills(px: PaperExchange) -> list[Fill]:
    out = [e for e in px.events if isinstance(e, Fill)]
    px.events.clear()
    return out


def place(px: PaperExchange, side: Side, qty: int, price: float, tif=TimeInForce.ROD):
    o = px.place(OrderIntent(CODE, side, qty, price, tif))
    assert not isinstance(o, Rejection)
    return o


BOOK_B = [(100.0, 5), (99.0, 6), (98.0, 7)]
BOOK_A = [(101.0, 2), (102.0, 3), (103.0, 4)]


def test_marketable_buy_walks_the_asks() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 4, 102.0)
    got = [(f.qty, f.price) for f in fills(px)]
    assert got == [(2, 101.0), (2, 102.0)]
    assert o.status is OrderStatus.FILLED and not px.working_orders()
    # the taken liquidity is gone until the next snapshot
    o2 = place(px, Side.BUY, 2, 102.0)
    assert [(f.qty, f.price) for f in fills(px)] == [(1, 102.0)]
    assert o2.status is OrderStatus.PART_FILLED and o2.remaining == 1


def test_marketable_sell_rests_remainder_at_limit() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.SELL, 8, 100.0)
    assert [(f.qty, f.price) for f in fills(px)] == [(5, 100.0)]
    assert o.remaining == 3 and o.order_id in px.working_orders()


def test_ioc_and_fok() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    ioc = place(px, Side.BUY, 4, 101.0, TimeInForce.IOC)
    assert [(f.qty, f.price) for f in fills(px)] == [(2, 101.0)]
    assert ioc.status is OrderStatus.CANCELLED and ioc.cancelled_qty == 2
    fok = place(px, Side.BUY, 8, 103.0, TimeInForce.FOK)  # 3 + 4 available < 8
    assert fills(px) == [] and fok.status is OrderStatus.CANCELLED
    fok2 = place(px, Side.BUY, 7, 103.0, TimeInForce.FOK)
    assert sum(f.qty for f in fills(px)) == 7 and fok2.status is OrderStatus.FILLED


def test_queue_ahead_is_consumed_by_trades_at_our_price() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 3, 100.0)  # joins behind 5
    px.on_trade(CODE, 2, 100.0, 4)
    assert fills(px) == []
    px.on_trade(CODE, 3, 100.0, 3)  # 1 ahead left, 2 fill us
    got = fills(px)
    assert [(f.qty, f.price, f.ts_ns) for f in got] == [(2, 100.0, 3)]
    px.on_trade(CODE, 4, 100.0, 5)
    assert [f.qty for f in fills(px)] == [1]
    assert o.status is OrderStatus.FILLED


def test_trade_through_fills_everything_at_our_price() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 3, 99.0)
    px.on_trade(CODE, 2, 98.0, 1)
    assert [(f.qty, f.price) for f in fills(px)] == [(3, 99.0)]
    assert o.status is OrderStatus.FILLED


def test_quote_through_our_price_fills() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.SELL, 2, 102.0)
    snap(px, [(103.0, 1), (102.0, 4)], [(104.0, 5)], ts=2)  # bid above our ask
    assert [(f.qty, f.price) for f in fills(px)] == [(2, 102.0)]
    assert o.status is OrderStatus.FILLED


def test_quote_at_our_price_fills_up_to_displayed_qty() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 3, 100.0)
    snap(px, [(99.0, 6)], [(100.0, 2), (101.0, 2)], ts=2)  # the bid level at 100 is gone
    assert [(f.qty, f.price) for f in fills(px)] == [(2, 100.0)]
    assert o.remaining == 1


def test_cancels_ahead_reduce_queue_pro_rata() -> None:
    px = PaperExchange()
    snap(px, [(100.0, 10)], BOOK_A)
    place(px, Side.BUY, 1, 100.0)  # queue ahead 10, level 10
    # 10 more join behind us, then 10 cancel: half of the drop is attributed ahead of us
    snap(px, [(100.0, 20)], BOOK_A, ts=2)
    snap(px, [(100.0, 10)], BOOK_A, ts=3)
    # ahead: 10 * (1 - 10/20) = 5 -> a trade of 5 leaves us at the front, 6 fills us
    px.on_trade(CODE, 4, 100.0, 5)
    assert fills(px) == []
    px.on_trade(CODE, 5, 100.0, 1)
    assert [f.qty for f in fills(px)] == [1]


def test_queue_ahead_never_exceeds_the_displayed_qty() -> None:
    px = PaperExchange()
    snap(px, [(100.0, 10)], BOOK_A)
    place(px, Side.BUY, 1, 100.0)
    snap(px, [(100.0, 2)], BOOK_A, ts=2)
    px.on_trade(CODE, 3, 100.0, 3)
    assert [f.qty for f in fills(px)] == [1]


def test_price_better_than_best_has_no_queue() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    place(px, Side.BUY, 1, 100.0)  # behind 5
    # our level disappears inside the displayed range (best bid moved down, ask unchanged)
    snap(px, [(99.0, 6), (98.0, 7)], BOOK_A, ts=2)
    px.on_trade(CODE, 3, 100.0, 1)
    assert [f.qty for f in fills(px)] == [1]


def test_our_earlier_orders_count_in_the_queue() -> None:
    px = PaperExchange()
    snap(px, [(100.0, 1)], BOOK_A)
    a = place(px, Side.BUY, 1, 100.0)  # ahead 1
    b = place(px, Side.BUY, 1, 100.0)  # ahead 1 + our 1
    px.on_trade(CODE, 2, 100.0, 2)
    got = fills(px)
    assert [(f.order_id, f.qty) for f in got] == [(a.order_id, 1)]
    px.on_trade(CODE, 3, 100.0, 1)
    assert [(f.order_id, f.qty) for f in fills(px)] == [(b.order_id, 1)]


def test_amend_price_loses_priority_qty_keeps_it() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 3, 100.0)
    px.amend(o.order_id, qty=2)
    assert o.remaining == 2 and o.cancelled_qty == 1
    px.on_trade(CODE, 2, 100.0, 6)  # 5 ahead, 1 fills us
    assert [f.qty for f in fills(px)] == [1]
    px.amend(o.order_id, price=101.0)  # now marketable against the ask
    assert [(f.qty, f.price) for f in fills(px)] == [(1, 101.0)]
    assert isinstance(px.amend("nope", price=1.0), Rejection)


def test_cancel_and_events() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    o = place(px, Side.BUY, 1, 99.0)
    assert px.cancel(o.order_id) and not px.cancel(o.order_id)
    statuses = [e.status for e in px.events if isinstance(e, OrderUpdate)]
    assert statuses == [OrderStatus.SUBMITTED, OrderStatus.CANCELLED]
    px.on_trade(CODE, 2, 98.0, 10)
    assert fills(px) == []


def test_numpy_rows_are_accepted_and_fees_applied() -> None:
    px = PaperExchange(fees={CODE: FeeSchedule(per_unit=50.0, rate=0.00002, multiplier=200.0)})
    px.on_bidask(
        CODE,
        7,
        np.array([100.0, 99, 98, 97, 96]),
        np.array([5, 5, 5, 5, 5], dtype=np.int64),
        np.array([101.0, 102, 103, 104, 105]),
        np.array([5, 5, 5, 5, 5], dtype=np.int64),
    )
    place(px, Side.BUY, 2, 101.0)
    (f,) = fills(px)
    assert f.price == 101.0 and type(f.price) is float and f.ts_ns == 7
    assert f.fee == pytest.approx(2 * 50 + 0.00002 * 101 * 2 * 200)


def test_bad_input_is_refused_by_the_paper_venue_too() -> None:
    px = PaperExchange()
    snap(px, BOOK_B, BOOK_A)
    assert isinstance(px.place(OrderIntent(CODE, Side.BUY, 0, 100.0)), Rejection)
    assert isinstance(px.place(OrderIntent(CODE, Side.BUY, 1, float("nan"))), Rejection)
    assert not px.working_orders() and not px.events


def test_deterministic() -> None:
    def run() -> list[tuple[str, int, float]]:
        px = PaperExchange()
        snap(px, BOOK_B, BOOK_A)
        place(px, Side.BUY, 3, 100.0)
        place(px, Side.SELL, 2, 101.0)
        px.on_trade(CODE, 2, 100.0, 7)
        snap(px, [(101.0, 1)], [(102.0, 1)], ts=3)
        return [(f.fill_id, f.qty, f.price) for f in fills(px)]

    assert run() == run()


def test_nan_or_bad_levels_never_fill() -> None:
    px = PaperExchange()
    snap(px, [(100.0, 5)], [(float("nan"), 5), (float("inf"), 5), (-1.0, 5), (102.0, -3)])
    o = place(px, Side.BUY, 1, 103.0)
    assert fills(px) == [] and o.remaining == 1
    px.on_trade(CODE, 2, float("nan"), 5)
    px.on_trade(CODE, 3, 50.0, 0)
    px.on_trade(CODE, 4, 50.0, -5)
    assert fills(px) == []
    r = place(px, Side.SELL, 1, 104.0)
    px.on_trade(CODE, 5, float("inf"), 1)
    assert fills(px) == [] and r.remaining == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_one_bad_deep_level_of_a_full_book_never_fills(bad: float) -> None:
    # Full 5-level books take the venue's one-comparison check; one bad level must still be
    # emptied (numpy rows, as the runner passes them).
    px = PaperExchange()
    asks = np.array([101.0, 102.0, 103.0, bad, 105.0])
    bids = np.array([100.0, 99.0, 98.0, 97.0, 96.0])
    qty = np.array([1, 1, 1, 1, 1])
    px.on_bidask(CODE, 1, bids, qty, asks, qty)
    o = place(px, Side.BUY, 5, 105.0)
    got = [(f.price, f.qty) for f in fills(px)]
    assert got == [(101.0, 1), (102.0, 1), (103.0, 1), (105.0, 1)] and o.remaining == 1
