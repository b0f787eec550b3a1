"""One set of admission rules on every path (issue 7): the same inputs through the simulator's
batch path, the Shioaji callbacks (real shioaji 1.7.9 objects) and
replay at pace fast and realtime give the same drops per cause and admit the same inputs; an
outlier timestamp drops itself only; a code whose data keeps being dropped is held in the risk
gateway until good data returns; every drop is logged with its input, position, field and
reason."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shioaji_objects as so
from ring_fixture import Ring, fresh_ring, records_of
from shijim.bus import BIDASK_DTYPE, TICK_DTYPE, Ingestor
from shijim.domain import Instrument, TradingState, fixed_tick
from shijim.events import BidAskRecord, TickRecord, TickType, format_record
from shijim.execution.paper import PaperVenue
from shijim.gateway.replay import ReplayFeed, ReplayPace
from shijim.gateway.taipei_time import utc_ns_to_taipei
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.runner import StrategyRunner
from test_shioaji_feed import _feed

import shijim_core

T0 = 1_795_482_000_000_000_000  # 2026-11-24 09:00 Asia/Taipei
S = 1_000_000_000
MS = 1_000_000
NOW = T0 + 86_400 * S  # replayed the day after it was recorded
Y2100 = 4_102_444_800_000_000_000  # 2100-01-01T00:00:00Z

BID = (23000, 22999, 22998, 22997, 22996)
ASK = (23001, 23002, 23003, 23004, 23005)
BQ = (5, 6, 7, 8, 9)
AQ = (4, 5, 6, 7, 8)

# Books the docs call bad (docs/feeds.md), each with the cause every path must give it.
BAD_BOOKS: list[tuple[str, tuple[Any, ...], str]] = [
    ("hole in the bids", ((23000, 0, 22998, 22997, 22996), (5, 0, 7, 8, 9), ASK, AQ),
     "unordered_book"),
    ("hole in the asks", (BID, BQ, (23001, 23002, 0, 23004, 23005), (4, 5, 0, 7, 8)),
     "unordered_book"),
    ("bids not descending", ((23000, 23000, 22998, 22997, 22996), BQ, ASK, AQ),
     "unordered_book"),
    ("crossed", ((23001, 22999, 22998, 22997, 22996), BQ, ASK, AQ), "crossed_book"),
    ("negative volume", (BID, (5, -1, 7, 8, 9), ASK, AQ), "bad_volume"),
    ("a price of 0 with volume", ((23000, 0, 0, 0, 0), (5, 3, 0, 0, 0), ASK, AQ),
     "nonpositive_price"),
]  # fmt: skip


def _stream() -> list[tuple[tuple[Any, ...], str | None]]:
    """Good and bad books alternating, one millisecond apart (each good one differs)."""
    out: list[tuple[tuple[Any, ...], str | None]] = []
    for i, (_, levels, cause) in enumerate(BAD_BOOKS):
        good = (BID, (5 + i, *BQ[1:]), ASK, AQ)
        out += [(good, None), (levels, cause)]
    return out


def _expected() -> tuple[Counter[str], list[tuple[Any, ...]]]:
    causes = Counter(c for _, c in _stream() if c)
    good = [(tuple(map(float, lv[0])), lv[1]) for lv, c in _stream() if c is None]
    return causes, good


def _books_of(recs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (tuple(map(float, r["bid_price"])), tuple(r["bid_volume"]))
        for r in recs
        if r["type"] == "bidask"
    ]


def _rows() -> np.ndarray:
    stream = _stream()
    a = np.zeros(len(stream), dtype=BIDASK_DTYPE)
    for i, ((bp, bq, ap, aq), _) in enumerate(stream):
        a[i]["code"] = b"TXFL6"
        a[i]["exch_ts"] = T0 + i * MS
        a[i]["local_ts"] = T0 + i * MS + 500
        a[i]["bid_px"], a[i]["bid_qty"], a[i]["ask_px"], a[i]["ask_qty"] = bp, bq, ap, aq
    return a


def _records() -> list[BidAskRecord]:
    d = Decimal
    return [
        BidAskRecord("TXFL6", T0 + i * MS, T0 + i * MS + 500, i + 1, tuple(map(d, bp)), bq,
                     tuple(map(d, ap)), aq, False)
        for i, ((bp, bq, ap, aq), _) in enumerate(_stream())
    ]  # fmt: skip


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _replay(path: Path, pace: ReplayPace, universe: Any = ("TXFL6", "MXFL6")) -> tuple[
    list[dict[str, Any]], dict[str, int]
]:  # fmt: skip
    bad: dict[str, int] = {}

    def fill(writer: Any) -> None:
        ing = Ingestor(writer, universe=universe, clock_ns=lambda: NOW)
        # Realtime: the wall clock runs an hour per look, so every entry is due when asked.
        wall = itertools.count(0.0, 3600.0)
        feed = ReplayFeed(path, pace, batch=4, monotonic=lambda: next(wall))
        feed.start(ing)
        feed.run_for()
        assert feed.finished
        bad.update(ing.bad.counts)

    return records_of(fill), bad


# -- item 3: one set of rules for books on every path ---------------------------------------


def test_bad_books_through_the_batch_path() -> None:
    counts: dict[str, int] = {}

    def fill(writer: Any) -> None:
        ing = Ingestor(writer, universe={"TXFL6"}, clock_ns=lambda: NOW)
        books = _rows()
        ing.interleaved(np.empty(0, TICK_DTYPE), books, np.full(books.size, 2, np.uint8), "sim")
        counts.update(ing.bad.counts)

    recs = records_of(fill)
    causes, good = _expected()
    assert counts == causes
    assert _books_of(recs) == good


def test_bad_books_through_the_shioaji_callbacks(ring: Ring) -> None:
    _, client, ing, _, clock = _feed(ring, ["TXFL6"])
    on_bidask = client.callbacks["set_on_bidask_fop_v1_callback"]
    clock.ns = T0 + S
    for i, ((bp, bq, ap, aq), _) in enumerate(_stream()):
        when = utc_ns_to_taipei(T0 + i * MS)
        bid, ask = tuple(map(str, bp)), tuple(map(str, ap))
        on_bidask(so.bidask_fop("TXFL6", when=when, bid_price=bid, bid_volume=bq,
                                ask_price=ask, ask_volume=aq))  # fmt: skip
    causes, good = _expected()
    # Shioaji's volumes are unsigned: the broker object itself cannot carry -1 (malformed).
    causes["malformed"], causes["bad_volume"] = causes.pop("bad_volume"), 0
    assert ing.bad.counts == +causes  # before: holes admitted, uncounted (20 such -> 2 orders)
    assert _books_of(ring.records()) == good


@pytest.mark.parametrize("pace", [ReplayPace.FAST, ReplayPace.REALTIME])
def test_bad_books_through_replay(tmp_path: Path, pace: ReplayPace) -> None:
    f = _write(tmp_path / "20261124_TXFL6.jsonl", [format_record(r) for r in _records()])
    recs, bad = _replay(f, pace)
    causes, good = _expected()
    assert bad == causes
    assert _books_of(recs) == good


@pytest.fixture
def ring() -> Any:
    with fresh_ring() as r:
        yield r


# -- item 2: an outlier timestamp is what is dropped, not everything after it -----------------


def _ticks(n: int, start: int = T0) -> list[TickRecord]:
    return [TickRecord("TXFL6", start + i * MS, start + i * MS + 300_000, i + 1,
                       Decimal(23000 + i % 3), 1, i + 1, TickType.BUY, False)
            for i in range(n)]  # fmt: skip


@pytest.mark.parametrize("pace", [ReplayPace.FAST, ReplayPace.REALTIME])
@pytest.mark.parametrize("forged_local", [False, True])
def test_one_line_dated_2100_drops_itself_only(
    tmp_path: Path, pace: ReplayPace, forged_local: bool
) -> None:
    lines = [format_record(r) for r in _ticks(900)]
    local = Y2100 + 1000 if forged_local else T0 + 4 * S
    lines[4] = lines[4].replace(f'"exch_ts":{T0 + 4 * MS},', f'"exch_ts":{Y2100},')
    lines[4] = lines[4].replace(f'"local_ts":{T0 + 4 * MS + 300_000},', f'"local_ts":{local},')
    recs, bad = _replay(_write(tmp_path / "20261124_TXFL6.jsonl", lines), pace)
    # Before: 895 ticks after it dropped as time_backwards (and a "new trading day").
    assert bad == {"future_timestamp": 1}
    assert [r["exch_ts"] for r in recs] == [T0 + i * MS for i in range(900) if i != 4]


@pytest.mark.parametrize("pace", [ReplayPace.FAST, ReplayPace.REALTIME])
def test_a_new_trading_day_is_replayed(tmp_path: Path, pace: ReplayPace) -> None:
    day2 = T0 + 23 * 3600 * S  # the next morning's session
    lines = [format_record(r) for r in _ticks(5) + _ticks(5, day2)]
    recs, bad = _replay(_write(tmp_path / "20261124_TXFL6.jsonl", lines), pace)
    assert bad == {}
    assert len(recs) == 10 and recs[-1]["exch_ts"] == day2 + 4 * MS


def test_realtime_replay_does_not_pace_on_lines_it_drops(tmp_path: Path) -> None:
    ticks = _ticks(3)
    outlier = ticks[1].__class__(**{**_fields(ticks[1]), "exch_ts": T0 + 1000 * S})
    lines = [format_record(r) for r in (ticks[0], outlier, ticks[2])]
    f = _write(tmp_path / "20261124_TXFL6.jsonl", lines)
    with fresh_ring() as r:
        ing = Ingestor(r.writer, universe={"TXFL6"}, clock_ns=lambda: NOW)
        wall = [100.0]
        feed = ReplayFeed(f, ReplayPace.REALTIME, max_gap_s=5, monotonic=lambda: wall[0])
        feed.start(ing)
        assert feed.poll() == 1  # the first tick; the outlier is dropped without waiting
        wall[0] += 0.0021  # the third tick is due 2 ms after the first
        # Before: the outlier set the pace (due max_gap = 5 s later), holding the third back.
        assert feed.poll() == 1 and feed.finished
        assert ing.bad.counts == {"future_timestamp": 1}
        assert [x["exch_ts"] for x in r.records()] == [T0, T0 + 2 * MS]


def _fields(rec: Any) -> dict[str, Any]:
    return {k: getattr(rec, k) for k in rec.__dataclass_fields__ if k != "type"}


# -- item 4: duplicates, prices as text; fast and realtime agree on a malformed file ----------


def _malformed_file(tmp_path: Path) -> Path:
    t = _ticks(40)
    lines = [format_record(r) for r in t]
    lines[5] = lines[4]  # the same line twice (same seq, same content)
    lines[9] = format_record(TickRecord(**{**_fields(t[8]), "seq": 99}))  # same content
    lines[12] = lines[12].replace('"seq":13', '"seq":12')  # same seq, other content
    lines[15] = lines[15].replace('"price":23000', '"price":"23000"')  # price as text
    lines[16] = lines[16].replace('"price":23001', '"price":"2.3e4"')
    lines[18] = lines[18].replace('"price":23000', '"price":2.3e4')  # a number: fine
    lines[20] = lines[20].replace(f'"exch_ts":{T0 + 20 * MS}', f'"exch_ts":{T0 + 10 * MS}')
    lines[22] = lines[22].replace('"TXFL6"', '"ZZZ"')
    lines[24] = lines[24].replace(f'"exch_ts":{T0 + 24 * MS}', f'"exch_ts":{Y2100}')
    lines[26] = "{not json"
    lines[28] = lines[28].replace('"volume":1', '"volume":9223372036854775808')
    book = _records()[1]  # a hole in the bids
    lines[30] = format_record(BidAskRecord(**{**_fields(book), "exch_ts": T0 + 30 * MS}))
    return _write(tmp_path / "20261124_TXFL6.jsonl", lines)


def test_fast_and_realtime_replay_agree_on_a_malformed_file(tmp_path: Path) -> None:
    f = _malformed_file(tmp_path)
    fast, fast_bad = _replay(f, ReplayPace.FAST)
    slow, slow_bad = _replay(f, ReplayPace.REALTIME)
    assert fast == slow
    assert fast_bad == slow_bad == {
        "duplicate": 3, "malformed": 3, "time_backwards": 1, "unknown_code": 1,
        "future_timestamp": 1, "bad_json": 1, "unordered_book": 1,
    }  # fmt: skip
    assert len(fast) == 40 - 11
    (line19,) = [r for r in fast if r["exch_ts"] == T0 + 18 * MS]
    assert line19["price"] == Decimal("23000")  # 2.3e4 as a JSON number is a number


def test_replay_messages_name_file_line_field_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = _malformed_file(tmp_path)
    for pace in (ReplayPace.FAST, ReplayPace.REALTIME):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            _replay(f, pace)
        msgs = "\n".join(r.getMessage() for r in caplog.records)
        # Before (fast path): "file:line: field (row): ;"; realtime: no line at all.
        for want in (
            f"(duplicate): {f}:6: field ",
            f"{f}:16: field price: expected a number, got str '23000'",
            f"{f}:21: field exch_ts: TXFL6 tick exch_ts {T0 + 10 * MS} < last",
            f"{f}:23: field code: 'ZZZ' is not in this shard's universe",
            f"{f}:25: field exch_ts: TXFL6 tick exch_ts {Y2100} is ",
            f"{f}:31: field bid_price[2]: price 22998.0 after an empty level",
        ):
            assert want in msgs, (pace, want, msgs)
        assert "(row)" not in msgs


# -- the data hold: a code whose data keeps being dropped is not traded ------------------------


def test_a_held_code_is_not_traded_until_good_data_returns() -> None:
    code = "TXFL6"
    with fresh_ring() as r:
        ing = Ingestor(r.writer, universe={code}, clock_ns=lambda: NOW)
        engine = shijim_core.Engine([code], "every_event", latency="zero")
        gw = RiskAwareGateway(
            PaperVenue(engine),
            InstrumentTable({code: Instrument.future(code, 200.0)}),
            RiskLimits(max_order_qty=10, max_position=10, max_price_deviation_pct=1e6),
            TradingStateMachine(),
            engine=engine,
        )
        mm = MarketMaking(MarketMakingParams(min_requote_ms=0.0), fixed_tick(1.0))
        runner = StrategyRunner(engine, r.reader, mm, gw, max_messages=64)
        good = _records()[0]
        ing.record(good, "f:1")
        runner.step()
        assert gw.working_orders()  # quoting around the book
        for k in range(5):  # five books in a row from a broken clock
            late = BidAskRecord(**{**_fields(good), "exch_ts": Y2100 + k, "seq": 10 + k})
            ing.record(late, f"f:{2 + k}")
        runner.step()
        assert gw.code_state(code) is TradingState.HALTED
        assert not gw.working_orders()  # cancelled
        assert ing.holds.held == {code: "data: future_timestamp"}
        back = BidAskRecord(**{**_fields(good), "exch_ts": T0 + S, "seq": 20})
        ing.record(back, "f:7")
        runner.step()
        assert gw.code_state(code) is TradingState.ACTIVE
        assert gw.working_orders()  # trading again on fresh data


def test_a_repeated_book_is_a_duplicate_on_the_batch_path() -> None:
    counts: dict[str, int] = {}

    def fill(writer: Any) -> None:
        ing = Ingestor(writer, universe={"TXFL6"}, clock_ns=lambda: NOW)
        books = _rows()[[0, 0, 2, 2, 2]]  # two books, each repeated (same time, same levels)
        books["seq"] = [0, 0, 7, 8, 7]  # recorded seqs: 0 is none; 8 is new, the content not
        ing.bidasks(books[:2])
        ing.bidasks(books[2:])
        ing.record(_records()[2], "f:3")  # the same book again through the record path
        counts.update(ing.bad.counts)

    recs = records_of(fill)
    assert counts == {"duplicate": 4}
    assert len(recs) == 2
