"""The engine's Python bindings (docs/engine.md): due events from a real ring, read-only views
whose signals equal an independent reference of docs/engine.md's definitions, orders through the
paper venue, wire codes from Rust, SBE-file replay, clear errors, and the per-call overhead."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from itertools import count
from typing import NamedTuple

import numpy as np
import pytest
from shijim.domain import SignalSnapshot
from shijim.strategy.base import MarketView
from shijim.strategy.signals import mlofi_reference
from shijim.strategy.snapshot import BookTop

import shijim_core as sc

_ids = count()
S = 1_000_000_000
MS = 1_000_000


@pytest.fixture
def ring() -> Iterator[tuple[sc.RingWriter, sc.RingReader]]:
    name = f"test-engine-{os.getpid()}-{next(_ids)}"
    sc.ring_unlink(name)
    writer = sc.RingWriter(name, slots=1 << 16, create=True)
    reader = sc.RingReader(name, start="oldest")
    try:
        yield writer, reader
    finally:
        writer.close()
        sc.ring_unlink(name)


def book(
    w: sc.RingWriter, code: str, t: int, bid: float, ask: float, qb: list[int], qa: list[int]
) -> None:
    bids = [bid - m for m in range(5)]
    asks = [ask + m for m in range(5)]
    w.publish_bidask(code, t - 100, t, bids, qb, asks, qa)


def test_due_events_and_views_from_a_ring(ring: tuple[sc.RingWriter, sc.RingReader]) -> None:
    w, r = ring
    eng = sc.Engine(["TXFL4", "MXFL4"], "on_touch_change", latency="zero")
    book(w, "TXFL4", S, 100, 101, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2])
    book(w, "TXFL4", S + MS, 101, 102, [7, 4, 3, 2, 1], [6, 5, 4, 3, 2])
    w.publish_tick("TXFL4", S + 2 * MS - 100, S + 2 * MS, 102, 3, 10, tick_type=1)
    w.publish_tick("TXFL4", S + 3 * MS - 100, S + 3 * MS, 101, 1, 11, tick_type=2)

    due = eng.next_due(r)
    assert due is not None
    assert (due.kind, due.code, due.code_id, due.seq) == (sc.DUE_BOOK, "TXFL4", 0, 0)
    assert due.flags & sc.FLAG_TOUCH_PRICE and due.local_ts == S and due.exch_ts == S - 100
    assert due.event is None  # only system dues carry an event
    for expected_kind, expected_seq in ((sc.DUE_BOOK, 1), (sc.DUE_TRADE, 2), (sc.DUE_TRADE, 3)):
        due = eng.next_due(r)
        assert due is not None and (due.kind, due.seq) == (expected_kind, expected_seq)
    assert eng.next_due(r) is None and eng.idle

    v = eng.take_signals(0)
    assert v is not None
    assert (v.code, v.best_bid, v.best_ask, v.bid_qty, v.ask_qty) == ("TXFL4", 101.0, 102.0, 7, 6)
    assert v.mid == 101.5 and v.spread == 1.0
    assert v.microprice == (101 * 6 + 102 * 7) / 13
    assert v.imbalance_l1 == (7 - 6) / 13
    assert v.imbalance == (17 - 20) / 37
    # Every level up one tick: e^m = new bid qty + old ask qty per level.
    e = [7 + 6, 4 + 5, 3 + 4, 2 + 3, 1 + 2]
    assert v.mlofi == tuple(float(x) for x in e)
    assert v.ofi_best == 13.0
    assert v.ofi == sum(x * 0.5**m for m, x in enumerate(e))
    assert v.trade_flow == 3 - 1 and (v.books, v.trades) == (2, 2)
    assert (v.last_trade, v.last_trade_qty, v.last_trade_side) == (101.0, 1, sc.SIDE_SELL)
    assert v.bid_px == [101.0, 100.0, 99.0, 98.0, 97.0] and v.ask_qtys == [6, 5, 4, 3, 2]
    # Read-only, and a copy: taking the signals reset the flows, not this view.
    with pytest.raises(AttributeError):
        v.ofi = 0.0  # type: ignore[misc]
    after = eng.book(0)
    assert after is not None and after.ofi == 0.0 and after.trade_flow == 0.0
    assert after.ofi_total == v.ofi and v.ofi == sum(x * 0.5**m for m, x in enumerate(e))
    assert eng.book(1) is None  # no MXF book yet

    w.publish_event("feed_gap", S + 4 * MS, S + 4 * MS, code="TXFL4", count=3)
    due = eng.next_due(r)
    assert due is not None and due.kind == sc.DUE_SYSTEM and due.code == "TXFL4"
    assert sc.EVENT_NAMES[due.event] == "feed_gap" and due.count == 3
    assert eng.book(0) is None  # the gap reset the book
    c = eng.counters()
    assert (c["books"], c["trades"], c["system_events"], c["due_book"]) == (2, 2, 1, 2)


def _random_stream(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out: list[tuple] = []
    mid = 20000
    for k in range(n):
        t = S + k * MS
        if rng.random() < 0.2:
            out.append(
                (
                    "tick",
                    t,
                    mid + int(rng.integers(0, 2)),
                    int(rng.integers(1, 5)),
                    int(rng.integers(0, 3)),
                )
            )
            continue
        mid += int(rng.integers(-1, 2))
        spread = int(rng.integers(1, 3))
        depth = 5 if rng.random() < 0.9 else int(rng.integers(1, 5))
        bids = [float(mid - m) if m < depth else 0.0 for m in range(5)]
        asks = [float(mid + spread + m) if m < depth else 0.0 for m in range(5)]
        qb = [int(q) if m < depth else 0 for m, q in enumerate(rng.integers(0, 20, 5))]
        qa = [int(q) if m < depth else 0 for m, q in enumerate(rng.integers(0, 20, 5))]
        out.append(("book", t, bids, qb, asks, qa))
    return out


class _ReferenceSignals:
    """docs/engine.md's signal table for one code, written out plainly: the previous and current
    book, MLOFI by the paper's numpy formula over the depth both books have, flows summed since
    the last take."""

    def __init__(self, levels: int, level_decay: float) -> None:
        self.weights = [level_decay**m if m < levels else 0.0 for m in range(5)]
        self.book: tuple[list[float], list[int], list[float], list[int]] | None = None
        self.depth = 0
        self.last_trade, self.last_trade_qty, self.last_trade_side = math.nan, 0, 0
        self._reset_flows()

    def _reset_flows(self) -> None:
        self.ofi, self.ofi_best, self.mlofi, self.trade_flow = 0.0, 0.0, [0.0] * 5, 0

    def on_book(self, bids: list[float], qb: list[int], asks: list[float], qa: list[int]) -> None:
        depth = 0  # leading levels with a price on both sides
        while depth < 5 and bids[depth] > 0 and asks[depth] > 0:
            depth += 1
        if self.book is not None:  # the first book has no predecessor: no flow
            d = min(depth, self.depth)
            prev = self.book
            e = mlofi_reference(
                *(
                    np.array([p, c], dtype=np.float64)
                    for p, c in zip(prev, (bids, qb, asks, qa), strict=True)
                ),
                levels=d,
            )[1].tolist()
            folded = 0.0
            for m, x in enumerate(e):
                folded += x * self.weights[m]
                self.mlofi[m] += x
            if e:
                self.ofi_best += e[0]
            self.ofi += folded
        self.book, self.depth = (bids, qb, asks, qa), depth

    def on_trade(self, price: float, qty: int, tick_type: int) -> None:
        sign = {1: 1, 2: -1}.get(tick_type, 0)  # aggressor: 1 buyer, 2 seller, 0 unknown
        self.trade_flow += sign * qty
        self.last_trade, self.last_trade_qty = price, qty
        self.last_trade_side = (0, sc.SIDE_BUY, sc.SIDE_SELL)[tick_type]

    def take(self) -> dict[str, object]:
        assert self.book is not None
        bids, qb, asks, qa = self.book
        b, a = bids[0], asks[0]
        total = qb[0] + qa[0]
        # Each side's populated levels (price > 0; an empty level is 0 from there on).
        sb = sum(q for p, q in zip(bids, qb, strict=True) if p > 0)
        sa = sum(q for p, q in zip(asks, qa, strict=True) if p > 0)
        out: dict[str, object] = {
            "ofi": self.ofi,
            "ofi_best": self.ofi_best,
            "mlofi": tuple(self.mlofi),
            "mid": (b + a) * 0.5,
            "spread": a - b,
            "microprice": (b * qa[0] + a * qb[0]) / total if total > 0 else (b + a) * 0.5,
            "imbalance": (sb - sa) / (sb + sa) if sb + sa > 0 else 0.0,
            "imbalance_l1": (qb[0] - qa[0]) / total if total > 0 else 0.0,
            "trade_flow": self.trade_flow,
            "last_trade_qty": self.last_trade_qty,
            "last_trade_side": self.last_trade_side,
        }
        self._reset_flows()
        return out


def test_signals_equal_an_independent_reference(
    ring: tuple[sc.RingWriter, sc.RingReader],
) -> None:
    """The engine's signals are docs/engine.md's definitions (signs included), bit for bit, on a
    random stream with thin books and trades of every aggressor, against a plain reference."""
    w, r = ring
    # A trade before the first book: the engine decides on nothing yet, but the trade counts.
    stream = [("tick", S - MS, 20000, 2, 1), *_random_stream(3000, 5)]
    ref = _ReferenceSignals(levels=3, level_decay=0.5)
    eng = sc.Engine(["TXFL4"], "every_event", levels=3, level_decay=0.5, latency="zero")
    for item in stream:
        if item[0] == "tick":
            _, t, px, vol, tt = item
            w.publish_tick("TXFL4", t, t, px, vol, 0, tick_type=tt)
        else:
            _, t, bids, qb, asks, qa = item
            w.publish_bidask("TXFL4", t, t, bids, qb, asks, qa)
    checked = 0
    for item in stream:
        due = eng.next_due(r, 1)
        if item[0] == "tick":
            _, t, px, vol, tt = item
            ref.on_trade(float(px), vol, tt)
        else:
            _, t, bids, qb, asks, qa = item
            ref.on_book(bids, qb, asks, qa)
        if due is None:  # a trade before the first book: its flow waits for the first decision
            assert ref.book is None
            continue
        mine = eng.take_signals(0)
        assert mine is not None
        want = ref.take()
        got = {k: getattr(mine, k) for k in want}
        assert got == want, item
        assert mine.last_trade == ref.last_trade or (
            math.isnan(mine.last_trade) and math.isnan(ref.last_trade)
        )
        checked += 1
    assert checked > 2000


def test_orders_fills_and_account(ring: tuple[sc.RingWriter, sc.RingReader]) -> None:
    w, r = ring
    eng = sc.Engine(["TXFL4"], "every_event", latency="zero")
    book(w, "TXFL4", S, 100, 101, [5] * 5, [5] * 5)
    assert eng.next_due(r) is not None
    oid = eng.submit(0, sc.SIDE_BUY, 100, 1, sc.TIF_DAY)
    assert eng.working_count == 1
    [acc] = eng.drain_events()
    assert (acc.kind, acc.order_id) == (sc.VENUE_ACCEPTED, oid)
    w.publish_tick("TXFL4", S + MS, S + MS, 100, 6, 6, tick_type=2)  # 5 ahead of us, then us
    due = eng.next_due(r)
    assert due is not None and due.kind == sc.DUE_TRADE
    [fill] = eng.drain_events()
    assert (fill.kind, fill.qty, fill.price, fill.side, fill.maker) == (
        sc.VENUE_FILLED,
        1,
        100.0,
        sc.SIDE_BUY,
        True,
    )
    assert fill.fee == pytest.approx(60.4)  # TXF fees are on by default
    assert fill.exec_at == S + MS
    # The engine does not book its venue's fills: the owner (the risk gateway) does, paper and
    # live alike, through apply_fill.
    assert eng.position(0).net == 0
    eng.apply_fill(fill.code_id, fill.side, fill.price, fill.qty, fill.fee, fill.exec_at)
    pos = eng.position(0)
    assert (pos.net, pos.avg_price) == (1, 100.0)
    totals = eng.totals()
    assert totals["fees"] == pytest.approx(60.4)
    assert [m["horizon_ns"] for m in eng.markouts()] == [1 * S, 5 * S, 30 * S]
    # Cancel of an order that already filled: accepted as a request, answered by the venue.
    eng.cancel(oid)
    [rej] = eng.drain_events()
    assert rej.kind == sc.VENUE_CANCEL_REJECTED


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="policy"):
        sc.Engine(["TXFL4"], "sometimes")
    with pytest.raises(ValueError, match="interval_ms"):
        sc.Engine(["TXFL4"], "interval_ms:0")
    with pytest.raises(ValueError, match="levels"):
        sc.Engine(["TXFL4"], levels=6)
    with pytest.raises(ValueError, match="TXFL4"):
        sc.Engine(["TXFL4", "TXFL4"])
    with pytest.raises(ValueError, match=r"latency\[\"ack_ns\"\]"):
        sc.Engine(["TXFL4"], latency={"kind": "constant", "entry_ns": 1, "cancel_ns": 1})
    with pytest.raises(ValueError, match=r"instruments\[\"TXFL4\"\]\[\"multiplier\"\]"):
        sc.Engine(["TXFL4"], instruments={"TXFL4": {"multiplier": -1}})
    with pytest.raises(ValueError, match="not one of codes"):
        sc.Engine(["TXFL4"], instruments={"MXFL4": {"multiplier": 50}})
    eng = sc.Engine(["TXFL4"], "interval_ms:5", latency="zero")
    assert eng.policy == "interval_ms:5"
    with pytest.raises(ValueError, match="side"):
        eng.submit(0, 3, 100, 1)
    with pytest.raises(ValueError, match="tif"):
        eng.submit(0, sc.SIDE_BUY, 100, 1, 9)
    with pytest.raises(ValueError, match="price"):
        eng.submit(0, sc.SIDE_BUY, "abc", 1)
    with pytest.raises(ValueError, match="qty"):
        eng.submit(0, sc.SIDE_BUY, 100, 0)
    with pytest.raises(KeyError, match="code_id 1"):
        eng.book(1)
    with pytest.raises(KeyError, match="2330"):
        eng.code_id("2330")
    with pytest.raises(ValueError, match="never issued"):
        eng.cancel(99)


def test_wire_codes_come_from_rust() -> None:
    assert (sc.SIDE_BUY, sc.SIDE_SELL) == (1, 2)
    # The aggressor codes of trades are the sides.
    assert sc.TICK_TYPE_NAMES[sc.SIDE_BUY] == "buy" and sc.TICK_TYPE_NAMES[sc.SIDE_SELL] == "sell"
    assert sc.FLAG_TOUCH == sc.FLAG_TOUCH_PRICE | sc.FLAG_TOUCH_QTY
    assert len({sc.DUE_BOOK, sc.DUE_TRADE, sc.DUE_SYSTEM, sc.DUE_EXECUTION}) == 4
    assert len({sc.TIF_DAY, sc.TIF_IOC, sc.TIF_FOK}) == 3
    assert sc.SESSION_STATE_NAMES[2] == "OPEN" and sc.TRADING_STATE_NAMES[3] == "HALTED"
    assert "unknown_code" in sc.ENGINE_DROP_CAUSES
    assert set(sc.ENGINE_DROP_CAUSES) <= set(sc.Engine(["TXFL4"]).counters())


def test_sbe_file_replay_feeds_the_same_path(ring: tuple[sc.RingWriter, sc.RingReader]) -> None:
    w, r = ring
    book(w, "TXFL4", S, 100, 101, [5] * 5, [5] * 5)
    w.publish_tick("TXFL4", S + MS, S + MS, 101, 2, 2, tick_type=1)
    book(w, "NOPE", S + 2 * MS, 100, 101, [5] * 5, [5] * 5)
    book(w, "TXFL4", S + 3 * MS, 100, 101, [6] * 5, [5] * 5)
    records = sc.RingReader(w.name, start="oldest").read_records(100)
    frames = sc.SbeFrames(sc.sbe_encode_stream(records))

    def dues(eng: sc.Engine, step: Callable[[sc.Engine], sc.Due | None]) -> list[tuple]:
        out = []
        while (d := step(eng)) is not None:
            out.append((d.kind, d.code_id, d.seq))
        return out

    from_ring = dues(sc.Engine(["TXFL4"], latency="zero"), lambda e: e.next_due(r))
    eng = sc.Engine(["TXFL4"], latency="zero")
    from_file = dues(eng, lambda e: e.next_due_frames(frames))
    want = [(sc.DUE_BOOK, 0, 0), (sc.DUE_TRADE, 0, 1), (sc.DUE_BOOK, 0, 3)]
    assert from_file == from_ring == want
    assert frames.done and frames.error is None and eng.counters()["unknown_code"] == 1
    broken = sc.SbeFrames(b"\x00\x00\x00\x28\x12\x34")
    assert sc.Engine(["TXFL4"]).next_due_frames(broken) is None
    assert broken.done and "offset 4" in (broken.error or "")


def test_per_call_overhead(ring: tuple[sc.RingWriter, sc.RingReader]) -> None:
    """Deciding on every event from Python: next_due + take_signals per event. The engine's
    own work is ~0.1 us; what is measured is the binding overhead, bounded generously (a
    regression to a Python-side path would cost several us per event)."""
    w, r = ring
    n = 20_000
    rows = np.zeros(n, dtype=sc.BIDASK_DTYPE)
    rows["code"] = b"TXFL4"
    rows["local_ts"] = S + np.arange(n) * 1000
    rows["exch_ts"] = rows["local_ts"]
    base = 20000 + (np.arange(n) // 7) % 5
    for m in range(5):
        rows["bid_px"][:, m] = base - m
        rows["ask_px"][:, m] = base + 1 + m
    rows["bid_qty"] = 1 + np.arange(n)[:, None] % 11
    rows["ask_qty"] = 3
    w.publish_bidasks(rows)
    eng = sc.Engine(["TXFL4"], "every_event", latency="zero")
    t0 = time.perf_counter()
    decided = 0
    while (due := eng.next_due(r, 4096)) is not None:
        view = eng.take_signals(due.code_id)
        decided += view is not None
    per_event_us = (time.perf_counter() - t0) / n * 1e6
    assert decided == n
    assert per_event_us < 3.0, f"{per_event_us:.2f} us per decided event"


def test_take_view_fills_the_callers_view_types_with_take_signals_and_net_is_the_positions_net(
    ring: tuple[sc.RingWriter, sc.RingReader],
) -> None:
    """The runner's one-call view is the caller's NamedTuples holding exactly the BookView
    fields they stand for; the engine builds them without calling their __new__."""
    w, r = ring
    a = sc.Engine(["TXFL4"], "every_event", latency="zero")
    b = sc.Engine(["TXFL4"], "every_event", latency="zero")
    r2 = sc.RingReader(r.name, start="oldest")
    book(w, "TXFL4", S, 100, 101, [5, 4, 3, 2, 1], [2, 2, 2, 2, 2])
    w.publish_tick("TXFL4", S + MS, S + MS, 101, 3, 3, tick_type=1)
    book(w, "TXFL4", S + 2 * MS, 100, 102, [6, 4, 3, 2, 1], [1, 2, 2, 2, 2])
    for _ in range(3):
        assert a.next_due(r) is not None and b.next_due(r2) is not None
    peeked = a.peek_view(0, MarketView, SignalSnapshot)
    assert type(peeked) is MarketView and type(peeked.signals) is SignalSnapshot
    assert peeked.signals.ofi != 0.0  # flows there,
    assert a.peek_view(0, MarketView, SignalSnapshot) == peeked  # and left there
    view = a.take_view(0, MarketView, SignalSnapshot)
    assert view == peeked
    v = b.take_signals(0)
    assert view == MarketView(
        "TXFL4", v.exch_ts, v.local_ts, v.best_bid, v.best_ask, v.bid_qty, v.ask_qty,
        SignalSnapshot(v.ofi, v.microprice, v.mid, v.spread, v.imbalance, v.last_trade,
                       v.trade_flow),
    )  # fmt: skip
    assert view.code is a.take_view(0, MarketView, SignalSnapshot).code  # one str per code
    assert a.take_view(0, MarketView, SignalSnapshot).signals.ofi == 0.0  # taken: restarted
    assert a.peek_view(0, MarketView, SignalSnapshot).signals.ofi == 0.0
    assert a.net(0) == a.position(0).net == 0
    assert (
        a.risk_inputs(0) == (a.reference(0), 0, a.gross, a.net_pnl) == (101.0, 0, 0, 0.0)
    )  # the mid
    assert a.apply_fill(0, sc.SIDE_SELL, 102, 2, 0.0, S + 3 * MS) == -2  # the net after it
    assert a.net(0) == a.position(0).net == -2
    assert a.risk_inputs(0) == (a.reference(0), -2, 2, a.net_pnl)
    with pytest.raises(KeyError):
        a.net(7)
    with pytest.raises(KeyError, match="risk_inputs"):
        a.risk_inputs(7)


def test_take_view_refuses_a_type_that_is_not_a_tuple_and_a_short_type_fails_in_python(
    ring: tuple[sc.RingWriter, sc.RingReader],
) -> None:
    """Bad view types are a clear TypeError naming the call, never a bad read: a NamedTuple
    with more fields than the engine fills raises IndexError on the missing ones."""
    w, r = ring
    a = sc.Engine(["TXFL4"], "every_event", latency="zero")
    book(w, "TXFL4", S, 100, 101, [5, 4, 3, 2, 1], [2, 2, 2, 2, 2])
    assert a.next_due(r) is not None
    with pytest.raises(TypeError, match=r"take_view: dict: not a tuple type"):
        a.take_view(0, dict, SignalSnapshot)
    with pytest.raises(TypeError, match=r"peek_view: int: not a tuple type"):
        a.peek_view(0, MarketView, int)
    with pytest.raises(TypeError):
        a.take_view(0, "MarketView", SignalSnapshot)  # not a type at all

    class Wide(NamedTuple):
        code: str
        exch_ts: int
        local_ts: int
        best_bid: float
        best_ask: float
        bid_qty: int
        ask_qty: int
        signals: object
        extra: float

    wide = a.peek_view(0, Wide, tuple)
    assert wide.code == "TXFL4" and type(wide.signals) is tuple and len(wide.signals) == 7
    with pytest.raises(IndexError):
        _ = wide.extra
    with pytest.raises(KeyError, match="take_view"):
        a.take_view(3, MarketView, SignalSnapshot)
    assert a.take_view(0, tuple, tuple)[0] == "TXFL4"  # plain tuples are tuple types too


def test_book_tops_are_the_book_views_of_every_code_with_a_book(
    ring: tuple[sc.RingWriter, sc.RingReader],
) -> None:
    """The dashboard snapshot's one-call table: a BookTop per code with a book, in code-id
    order, holding the BookView getters' values (its totals, not the since-last-decision
    flows), and nothing for a code without one."""
    w, r = ring
    eng = sc.Engine(["TXFL4", "MXFL4", "TXFM4"], "every_event", latency="zero")
    assert eng.book_tops(BookTop) == []
    book(w, "TXFM4", S, 100, 101, [5, 4, 3, 2, 1], [2, 2, 2, 2, 2])
    book(w, "TXFL4", S + MS, 200, 202, [1, 4, 3, 2, 1], [3, 2, 2, 2, 2])
    w.publish_tick("TXFL4", S + 2 * MS, S + 2 * MS, 202, 3, 3, tick_type=1)
    book(w, "TXFL4", S + 3 * MS, 201, 202, [6, 4, 3, 2, 1], [1, 2, 2, 2, 2])
    while eng.next_due(r) is not None:
        pass
    eng.take_view(0, MarketView, SignalSnapshot)  # restarts the flows, not the totals
    tops = eng.book_tops(BookTop)
    assert [t.code for t in tops] == ["TXFL4", "TXFM4"] and type(tops[0]) is BookTop
    for top in tops:
        v = eng.book(eng.code_id(top.code))
        want = BookTop(
            v.code, v.best_bid, v.bid_qty, v.best_ask, v.ask_qty, v.microprice, v.imbalance,
            v.last_trade, v.exch_ts, v.ofi_total, v.ofi_best_total,
        )  # fmt: skip
        assert [None if x != x else x for x in top] == [None if x != x else x for x in want]
    assert tops[0].last_trade == 202.0 and tops[0].ofi != 0.0
    assert math.isnan(tops[1].last_trade)  # no trade yet
    with pytest.raises(TypeError, match=r"book_tops: dict: not a tuple type"):
        eng.book_tops(dict)
