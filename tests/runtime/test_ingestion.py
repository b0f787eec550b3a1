"""Ingestion into the real shared-memory ring: checks, seq, timestamps, bad-input accounting."""

from __future__ import annotations

import logging
from decimal import Decimal

import numpy as np
import pytest
from prometheus_client import generate_latest
from ring_fixture import Ring, ring  # noqa: F401  (pytest fixture)
from shijim.bus import BIDASK_DTYPE, TICK_DTYPE, Ingestor
from shijim.events import parse_line
from shijim.metrics import ShardMetrics

BID = [Decimal("100"), Decimal("99.5"), Decimal("99"), Decimal("0"), Decimal("0")]
BQ = [1, 2, 3, 0, 0]
ASK = [Decimal("100.5"), Decimal("101"), Decimal("101.5"), Decimal("102"), Decimal("102.5")]
AQ = [4, 5, 6, 7, 8]


def _clock() -> int:
    return 1_700_000_000_000_000_000


def _metric(m: ShardMetrics, text: str) -> float:
    for line in generate_latest(m.registry).decode().splitlines():
        if line.startswith(text):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_tick_and_bidask_reach_the_ring_exactly(ring: Ring) -> None:  # noqa: F811
    m = ShardMetrics(0)
    ing = Ingestor(ring.writer, universe={"TXFL6"}, metrics=m, clock_ns=_clock)
    s1 = ing.tick("TXFL6", 10, Decimal("23001.25"), 2, 500, 1, False)
    s2 = ing.bidask("TXFL6", 11, BID, BQ, ASK, AQ, True, local_ts=99)
    assert (s1, s2) == (0, 1)
    tick, book = ring.records()
    assert tick["price"] == Decimal("23001.25") and tick["local_ts"] == _clock()
    assert (tick["exch_ts"], tick["volume"], tick["total_volume"], tick["tick_type"]) == (
        10, 2, 500, 1,
    )  # fmt: skip
    assert book["bid_price"] == BID and book["ask_volume"] == AQ and book["simtrade"] is True
    assert book["local_ts"] == 99 and book["seq"] == 1
    assert _metric(m, 'shijim_md_events_total{shard="0",type="tick"}') == 1


@pytest.mark.parametrize(
    ("kwargs", "cause"),
    [
        ({"price": float("nan")}, "nan_price"),
        ({"price": Decimal("NaN")}, "nan_price"),
        ({"price": 0}, "nonpositive_price"),
        ({"price": Decimal("-1")}, "nonpositive_price"),
        ({"volume": -1}, "bad_volume"),
        ({"tick_type": 7}, "malformed"),
        ({"price": "abc"}, "malformed"),
        ({"price": "23000"}, "malformed"),  # text is not a number on any path (was admitted)
        ({"price": None}, "malformed"),
        ({"volume": "x"}, "malformed"),
        ({"code": "2330"}, "unknown_code"),
    ],
)
def test_bad_ticks_are_counted_and_dropped(ring: Ring, kwargs: dict, cause: str) -> None:  # noqa: F811
    m = ShardMetrics(0)
    ing = Ingestor(ring.writer, universe={"TXFL6"}, metrics=m, clock_ns=_clock)
    args = {"code": "TXFL6", "exch_ts": 5, "price": Decimal("1"), "volume": 1,
            "total_volume": 1, "tick_type": 0, "simtrade": False} | kwargs  # fmt: skip
    assert ing.tick(**args) is None
    assert ing.bad.counts == {cause: 1}
    assert _metric(m, f'shijim_md_bad_input_total{{cause="{cause}",shard="0"}}') == 1
    assert ring.records() == []


@pytest.mark.parametrize(
    ("bid", "ask", "cause"),
    [
        ([Decimal("101"), *BID[1:]], ASK, "crossed_book"),
        ([Decimal("100.5"), *BID[1:]], ASK, "crossed_book"),
        (BID, [Decimal("100.5"), Decimal("100.4"), *ASK[2:]], "unordered_book"),
        ([Decimal("-100"), *BID[1:]], ASK, "nonpositive_price"),
        (BID, [Decimal("NaN"), *ASK[1:]], "nan_price"),
        (BID[:4], ASK, "missing_field"),
        ([*BID[:4], "x"], ASK, "malformed"),
    ],
)
def test_bad_books(ring: Ring, bid: list, ask: list, cause: str) -> None:  # noqa: F811
    ing = Ingestor(ring.writer, clock_ns=_clock)
    assert ing.bidask("TXFL6", 1, bid, BQ[: len(bid)], ask, AQ, False) is None
    assert ing.bad.counts == {cause: 1}


def test_values_the_ring_rejects_are_bad_input(
    ring: Ring,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    ing = Ingestor(ring.writer, clock_ns=_clock)
    with caplog.at_level(logging.WARNING):
        assert ing.tick("TXO23000L6-TOO-LONG", 1, 1, 1, 1, 0, False) is None  # > 16 bytes
        assert ing.tick("TXFL6", 1, Decimal("1.0000001"), 1, 1, 0, False) is None  # 7 decimals
        # Only the row the wire cannot carry is dropped (before: the whole run of 2).
        a = _tick_batch(["A", "A"], [1, 2], [1.0, 1e300])
        assert ing.ticks(a) == 1
    assert ing.bad.counts == {"malformed": 3}
    assert [(r["code"], r["exch_ts"]) for r in ring.records()] == [("A", 1)]
    assert "field code: " in caplog.text and "longer than 16" in caplog.text


def test_simtrade_books_may_cross(ring: Ring) -> None:  # noqa: F811
    # Trial matching before the open shows crossed books; they are kept (flagged simtrade).
    ing = Ingestor(ring.writer, clock_ns=_clock)
    assert ing.bidask("TXFL6", 1, [Decimal("101"), *BID[1:]], BQ, ASK, AQ, True) == 0


def test_time_backwards_per_code_and_kind(ring: Ring) -> None:  # noqa: F811
    ing = Ingestor(ring.writer, clock_ns=_clock)
    assert ing.tick("A", 100, 1, 1, 1, 0, False) is not None
    assert ing.tick("B", 50, 1, 1, 1, 0, False) is not None  # other code: own clock
    assert ing.bidask("A", 90, BID, BQ, ASK, AQ, False) is not None  # books: own stream
    assert ing.tick("A", 100, 1, 1, 2, 0, False) is not None  # equal time is fine
    assert ing.tick("A", 99, 1, 1, 3, 0, False) is None
    assert ing.bad.counts == {"time_backwards": 1}
    assert [r["exch_ts"] for r in ring.records()] == [100, 50, 90, 100]


def test_bad_input_logged_once_per_cause(ring: Ring, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    ing = Ingestor(ring.writer, universe={"A"}, clock_ns=_clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            ing.tick("Z", 1, 1, 1, 1, 0, False, source="unit test")
            ing.tick("A", 1, 0, 1, 1, 0, False, source="unit test")
    msgs = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(msgs) == 2
    assert "unknown_code" in msgs[0] and "unit test" in msgs[0] and "field code" in msgs[0]
    assert "'Z'" in msgs[0]  # the unknown code is named
    assert ing.bad.counts == {"unknown_code": 5, "nonpositive_price": 5}


def test_events_and_records(ring: Ring) -> None:  # noqa: F811
    ing = Ingestor(ring.writer, clock_ns=_clock)
    ing.event("reconnect", reason="broker session up", count=2)
    line = ('{"type":"tick","code":"TXFL6","exch_ts":7,"local_ts":3,"seq":9,"price":23000.5,'
            '"volume":1,"total_volume":8,"tick_type":2,"simtrade":false}')  # fmt: skip
    ing.record(parse_line(line), "file.jsonl:1")
    line2 = line.replace('"exch_ts":7', '"exch_ts":8').replace('"seq":9', '"seq":10')
    ing.record(parse_line(line2), "f:2", keep_local_ts=True)
    ev, t1, t2 = ring.records()
    assert ev["event"] == "reconnect" and ev["count"] == 2 and ev["reason"] == "broker session up"
    assert t1["price"] == Decimal("23000.5") and t1["local_ts"] == _clock() and t1["seq"] == 1
    assert t2["local_ts"] == 3


def _tick_batch(codes: list[str], ts: list[int], prices: list[float]) -> np.ndarray:
    a = np.zeros(len(codes), dtype=TICK_DTYPE)
    a["code"] = [c.encode() for c in codes]
    a["exch_ts"] = ts
    a["price"] = prices
    a["volume"] = 1
    return a


def test_batches_drop_only_bad_rows(ring: Ring) -> None:  # noqa: F811
    m = ShardMetrics(3)
    ing = Ingestor(ring.writer, universe={"A", "B"}, metrics=m, clock_ns=_clock)
    a = _tick_batch(
        ["A", "A", "B", "A", "Z", "B", "A"],
        [10, 12, 5, 11, 13, 6, 9],
        [1.0, float("nan"), 2.0, 1.0, 1.0, 0.0, 1.5],
    )
    # A@12 is NaN (dropped first, so it does not advance A's clock); A@11 is then in order;
    # A@9 is older than A@11: backwards.
    assert ing.ticks(a) == 3
    recs = ring.records()
    assert [(r["code"], r["exch_ts"]) for r in recs] == [("A", 10), ("B", 5), ("A", 11)]
    assert ing.bad.counts == {
        "nan_price": 1, "unknown_code": 1, "nonpositive_price": 1, "time_backwards": 1,
    }  # fmt: skip
    assert _metric(m, 'shijim_md_bad_input_total{cause="time_backwards",shard="3"}') == 1
    assert _metric(m, 'shijim_md_events_total{shard="3",type="tick"}') == 3
    assert recs[0]["local_ts"] == _clock()
    # Next batch continues the per-code clock: A at 11 is fine, A at 10 is backwards.
    assert ing.ticks(_tick_batch(["A", "A"], [11, 10], [2.0, 1.0])) == 1
    assert ing.bad.counts["time_backwards"] == 2


def test_bidask_batch(ring: Ring) -> None:  # noqa: F811
    ing = Ingestor(ring.writer, clock_ns=_clock)
    b = np.zeros(3, dtype=BIDASK_DTYPE)
    b["code"] = b"TXFL6"
    b["exch_ts"] = [1, 2, 3]
    b["bid_px"] = [100.0, 99.0, 98.0, 97.0, 96.0]
    b["ask_px"] = [101.0, 102.0, 103.0, 104.0, 105.0]
    b["bid_qty"] = 1
    b["ask_qty"] = 1
    b["bid_px"][1, 0] = 101.0  # crossed
    b["ask_px"][2, 4] = 0.0  # an empty level with volume: bad
    assert ing.bidasks(b) == 1
    assert ing.bad.counts == {"crossed_book": 1, "nonpositive_price": 1}
    (rec,) = ring.records()
    assert rec["bid_price"][0] == Decimal("100") and rec["seq"] == 0
