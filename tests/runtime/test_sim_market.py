"""The simulated L5 market: determinism, tick ladders, valid books, trades, sessions, model."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from ring_fixture import Ring, ring  # noqa: F401  (pytest fixture)
from shijim.bus import Ingestor
from shijim.gateway.price_ladder import PriceLadder
from shijim.gateway.sessions import Market, is_open, next_open, open_intervals
from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
from shijim.gateway.sim_market import (
    NS,
    SimInstrument,
    SimulatedMarket,
    default_instruments,
    recorded,
)
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns, utc_ns_to_taipei

TUE_0900 = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 9, 0))


def _chunks(m: SimulatedMarket, n: int) -> list:
    return [m.next_chunk() for _ in range(n)]


def _all(m: SimulatedMarket, n: int) -> tuple[np.ndarray, np.ndarray]:
    cs = _chunks(m, n)
    return (np.concatenate([c.ticks for c in cs]), np.concatenate([c.bidasks for c in cs]))


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = _all(SimulatedMarket(default_instruments(), 42, TUE_0900), 5)
    b = _all(SimulatedMarket(default_instruments(), 42, TUE_0900), 5)
    c = _all(SimulatedMarket(default_instruments(), 43, TUE_0900), 5)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[1].size > 1000
    assert a[1].tobytes() != c[1].tobytes()


def _ring_bytes(ring_: Ring, seed: int, pace: Pace, polls: int) -> list[dict]:
    m = SimulatedMarket(default_instruments(0.2), seed, TUE_0900)
    ing = Ingestor(ring_.writer, universe=m.codes)
    clock = [0.0]
    feed = SimFeed(m, pace, local_clock=LocalClock.EXCHANGE, monotonic=lambda: clock[0],
                   max_sim_seconds=3)  # fmt: skip
    feed.start(ing)
    while not feed.finished and polls:
        clock[0] += 0.37  # realtime pace: odd steps, so batch boundaries differ from fast
        feed.poll()
        polls -= 1
    assert feed.finished
    return ring_.records()


def test_ring_content_is_identical_whatever_the_pace(ring: Ring) -> None:  # noqa: F811
    fast = _ring_bytes(ring, 9, Pace.FAST, 1000)
    ring.writer.close()
    import shijim_core

    shijim_core.ring_unlink(ring.name)
    ring.writer = shijim_core.RingWriter(ring.name, slots=1 << 16, create=True)
    ring.reader = shijim_core.RingReader(ring.name, start="oldest")
    paced = _ring_bytes(ring, 9, Pace.REALTIME, 1000)
    assert len(fast) > 500
    assert fast == paced


def test_prices_on_the_tick_ladders_and_books_valid() -> None:
    m = SimulatedMarket(default_instruments(), 1, TUE_0900)
    ticks, books = _all(m, 20)
    ladders = {i.code.encode(): i.ladder for i in m.instruments}
    for code, ladder in ladders.items():
        b = books[books["code"] == code]
        t = ticks[ticks["code"] == code]
        assert b.size > 100 and t.size > 10
        for px in (b["bid_px"].ravel(), b["ask_px"].ravel(), t["price"]):
            mant = np.rint(px * 1e6).astype(np.int64)
            assert np.isin(mant, ladder.mantissas).all(), code
        assert (np.diff(b["bid_px"], axis=1) < 0).all()  # bids strictly descending
        assert (np.diff(b["ask_px"], axis=1) > 0).all()
        assert (b["bid_px"][:, 0] < b["ask_px"][:, 0]).all()  # never crossed or locked
        assert (b["bid_qty"] >= 1).all() and (b["ask_qty"] >= 1).all()
        assert (t["volume"] >= 1).all()
        assert (np.diff(b["exch_ts"]) >= 0).all()
        # total_volume is the running sum of volume within the session.
        assert (t["total_volume"] == np.cumsum(t["volume"])).all()


def test_twse_ladder_crossing_a_band_edge() -> None:
    # 2888 lives around 9.85, near the 10.00 band edge: both 0.01 and 0.05 steps appear.
    m = SimulatedMarket(default_instruments(), 5, TUE_0900)
    _, books = _all(m, 30)
    b = books[books["code"] == b"2888"]
    steps = np.round(np.diff(np.concatenate([b["bid_px"][:, ::-1], b["ask_px"]], axis=1)), 6)
    assert set(np.unique(steps)) <= {0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.15}
    assert PriceLadder.twse_stock().tick_at("9.99") == Decimal("0.01")
    assert PriceLadder.twse_stock().tick_at("10") == Decimal("0.05")


def test_trades_happen_at_the_book() -> None:
    """A buy trades at or above the best ask shown just before it (within five levels), a sell
    at or below the best bid: what a paper exchange needs to fill resting orders."""
    m = SimulatedMarket(default_instruments(), 3, TUE_0900)
    for chunk in _chunks(m, 10):
        last_book: dict[bytes, np.void] = {}
        for kind, i in zip(chunk.kinds.tolist(), chunk.index.tolist(), strict=True):
            if kind == 2:
                row = chunk.bidasks[i]
                last_book[bytes(row["code"])] = row
            elif kind == 1:
                t = chunk.ticks[i]
                book = last_book.get(bytes(t["code"]))
                if book is None:
                    continue
                if t["tick_type"] == 1:
                    assert book["ask_px"][0] <= t["price"] <= book["ask_px"][4]
                else:
                    assert book["bid_px"][4] <= t["price"] <= book["bid_px"][0]


def test_pre_open_trial_matching_is_flagged_simtrade() -> None:
    tue_0829 = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 29, 50))
    m = SimulatedMarket(default_instruments(), 13, tue_0829, chunk_seconds=10)
    chunks = _chunks(m, 100)  # to 08:46:30
    ticks = np.concatenate([c.ticks for c in chunks])
    books = np.concatenate([c.bidasks for c in chunks])
    sessions = [(utc_ns_to_taipei(t).strftime("%H:%M"), code, st) for c in chunks
                for t, code, st in c.sessions]  # fmt: skip
    assert sessions[:2] == [("08:30", "TXFL6", "PRE_OPEN"), ("08:30", "MXFL6", "PRE_OPEN")]
    assert ("08:45", "TXFL6", "OPEN") in sessions
    open_ns = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 45))
    txf = ticks[ticks["code"] == b"TXFL6"]
    pre, live = txf[txf["exch_ts"] < open_ns], txf[txf["exch_ts"] >= open_ns]
    assert pre.size > 100 and live.size > 100
    assert pre["simtrade"].all() and (pre["tick_type"] == 0).all()
    assert (pre["total_volume"] == 0).all()  # trial matches are not volume
    assert not live["simtrade"].any()
    assert (live["total_volume"] == np.cumsum(live["volume"])).all()
    b = books[books["code"] == b"TXFL6"]
    assert b[b["exch_ts"] < open_ns]["simtrade"].all()
    assert not b[b["exch_ts"] >= open_ns]["simtrade"].any()


def test_trade_comes_just_before_its_book() -> None:
    m = SimulatedMarket(default_instruments(), 3, TUE_0900)
    c = m.next_chunk()
    k = c.kinds.tolist()
    for pos, kind in enumerate(k):
        if kind == 1:
            t = c.ticks[c.index[pos]]
            nxt = c.bidasks[c.index[pos + 1]]
            assert k[pos + 1] == 2 and nxt["exch_ts"] == t["exch_ts"] and nxt["code"] == t["code"]


def test_poisson_arrival_rate() -> None:
    fut = PriceLadder.uniform("1", "60000")
    ins = SimInstrument("TXFL6", Market.TAIFEX, fut, "23000", rate=200.0, sigma=1.0)
    m = SimulatedMarket([ins], 11, TUE_0900, chunk_seconds=10)
    _, books = _all(m, 10)  # 100 s
    expected = 200 * 100
    assert abs(books.size - expected) < 5 * expected**0.5


def test_mid_is_mean_reverting_with_the_ou_variance() -> None:
    fut = PriceLadder.uniform("1", "60000")
    kappa, sigma = 0.2, 1.5  # stationary variance sigma^2 / (2 kappa) = 5.625 ticks^2
    ins = SimInstrument("TXFL6", Market.TAIFEX, fut, "23000", rate=20.0, sigma=sigma,
                        kappa=kappa, spread_probs=(1.0,))  # fmt: skip
    m = SimulatedMarket([ins], 2, TUE_0900, chunk_seconds=10)
    _, books = _all(m, 400)  # 4000 s ~ 800 correlation times
    mid = (books["bid_px"][:, 0] + books["ask_px"][:, 0]) / 2 - 23000
    var = sigma**2 / (2 * kappa)
    assert abs(mid.mean()) < 0.6
    # Rounding to the tick grid adds ~1/12 tick^2.
    assert 0.8 * var < mid.var() < 1.25 * (var + 1 / 12)


def test_sessions_and_no_events_while_closed() -> None:
    fri_1329 = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 27, 13, 29))
    m = SimulatedMarket(default_instruments(0.001), 4, fri_1329, chunk_seconds=60)
    events, real, trial = [], {}, {}
    for _ in range(1000):  # Friday night session, then Monday (the weekend is skipped)
        c = m.next_chunk()
        events += [(utc_ns_to_taipei(t), code, s) for t, code, s in c.sessions]
        for arr in (c.ticks, c.bidasks):
            for code in np.unique(arr["code"]):
                rows = arr[arr["code"] == code]
                real.setdefault(code.decode(), []).extend(rows["exch_ts"][~rows["simtrade"]])
                trial.setdefault(code.decode(), []).extend(rows["exch_ts"][rows["simtrade"]])
    for ins in m.instruments:
        ts = real[ins.code]
        assert all(is_open(ins.market, int(t)) for t in ts[:: max(1, len(ts) // 500)])
        # Trial matching (simtrade) only in the pre-open.
        pre = trial[ins.code]
        assert pre and all(
            open_intervals(ins.market, int(t), int(t) + 1, pre_open=True) for t in pre
        )
    pre_opens = [(w.strftime("%a %H:%M"), code) for w, code, s in events if s == "PRE_OPEN"]
    assert ("Fri 14:50", "TXFL6") in pre_opens and ("Mon 08:30", "2330") in pre_opens
    closes = [(w.strftime("%a %H:%M"), code) for w, code, s in events if s == "CLOSED"]
    assert ("Fri 13:30", "2330") in closes and ("Fri 13:45", "TXFL6") in closes
    assert ("Sat 05:00", "TXFL6") in closes
    opens = [(w.strftime("%a %H:%M"), code) for w, code, s in events if s == "OPEN"]
    assert ("Fri 15:00", "MXFL6") in opens and ("Mon 08:45", "TXFL6") in opens
    assert ("Mon 08:30", "TXFL6") in pre_opens
    assert ("Mon 09:00", "2330") in opens


def test_session_calendar() -> None:
    mon = dt.datetime(2026, 11, 23)
    t = taipei_naive_to_utc_ns
    assert open_intervals(Market.TWSE, t(mon), t(mon + dt.timedelta(days=1))) == [
        (t(mon.replace(hour=9)), t(mon.replace(hour=13, minute=30)))
    ]
    assert next_open(Market.TAIFEX, t(mon.replace(hour=14))) == t(mon.replace(hour=15))
    # No session starts on Sunday: Monday 04:59 is closed; Saturday 04:59 is Friday's night.
    assert not is_open(Market.TAIFEX, t(mon.replace(hour=4, minute=59)))
    assert is_open(Market.TAIFEX, t(mon.replace(hour=4, minute=59) - dt.timedelta(days=2)))
    assert not is_open(Market.TWSE, t(mon.replace(hour=13, minute=30)))


def test_bad_parameters() -> None:
    fut = PriceLadder.uniform("1", "60000")
    ins = SimInstrument("TXFL6", Market.TAIFEX, fut, "23000", rate=1.0, sigma=1.0)
    with pytest.raises(ValueError, match="duplicate"):
        SimulatedMarket([ins, ins], 1, TUE_0900)
    with pytest.raises(ValueError, match="chunk_seconds"):
        SimulatedMarket([ins], 1, TUE_0900, chunk_seconds=0)
    with pytest.raises(ValueError, match="not on this tick ladder"):
        SimulatedMarket(
            [SimInstrument("2330", Market.TWSE, PriceLadder.twse_stock(), "1001", 1.0, 1.0)],
            1, TUE_0900,
        )  # fmt: skip


def test_realtime_pace_publishes_only_what_is_due(ring: Ring) -> None:  # noqa: F811
    m = SimulatedMarket(default_instruments(), 6, TUE_0900)
    ing = Ingestor(ring.writer, universe=m.codes)
    clock = [100.0]
    feed = SimFeed(m, Pace.REALTIME, monotonic=lambda: clock[0])
    feed.start(ing)
    n0 = feed.poll()  # t = 0: only what is stamped exactly at the open (session events)
    assert n0 == len(m.instruments)
    clock[0] += 0.25
    n1 = feed.poll()
    recs = ring.records()
    assert n0 + n1 == len(recs) and n1 > 100
    assert max(r["exch_ts"] for r in recs) <= TUE_0900 + NS // 4
    clock[0] += 0.25
    n2 = feed.poll()
    assert 0.5 * n1 < n2 < 2 * n1


def test_fast_pace_publishes_into_the_ring_without_bad_input(ring: Ring) -> None:  # noqa: F811
    m = SimulatedMarket(default_instruments(), 8, TUE_0900, chunk_seconds=5)
    ing = Ingestor(ring.writer, universe=m.codes)
    feed = SimFeed(m, Pace.FAST)
    feed.start(ing)
    n = feed.run_for(max_events=40_000)
    assert n >= 40_000 and ing.bad.counts == {}
    recs = ring.records()
    assert len(recs) == n
    assert [r["seq"] for r in recs] == list(range(n))
    assert recs[0]["type"] == "event" and recs[0]["session_state"] == "OPEN"


def test_queues_survive_price_moves() -> None:
    """Levels still in the book after a one-tick move keep their queues at their new level
    (what a paper exchange's queue-position estimate relies on)."""
    m = SimulatedMarket(default_instruments(), 12, TUE_0900, chunk_seconds=10)
    b = m.next_chunk().bidasks
    b = b[b["code"] == b"TXFL6"]
    bid_up = np.flatnonzero(np.diff(b["bid_px"][:, 0]) == 1)
    ask_up = np.flatnonzero(np.diff(b["ask_px"][:, 0]) == 1)
    assert bid_up.size > 20 and ask_up.size > 20
    for i in bid_up:
        assert (b["bid_qty"][i + 1, 1:] == b["bid_qty"][i, :4]).all()
    for i in ask_up:
        assert (b["ask_qty"][i + 1, :4] == b["ask_qty"][i, 1:]).all()


def test_recorded_is_the_chunks_as_raw_records_in_publication_order() -> None:
    from shijim.events import BidAskRecord, EventRecord, TickRecord

    codes = ("TXFL6", "2330")
    start = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 44, 57))  # pre-open first
    inst = [i for i in default_instruments() if i.code in codes]
    chunks = _chunks(SimulatedMarket(inst, 9, start), 4)
    recs = list(recorded(SimulatedMarket(inst, 9, start), start + 4 * NS, 250_000))
    assert len(recs) == sum(c.size for c in chunks)
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))  # every event counted
    assert all(r.local_ts == r.exch_ts + 250_000 for r in recs)
    flat = [(int(k), c, int(i)) for c in chunks for k, i in zip(c.kinds, c.index, strict=True)]
    for r, (kind, c, i) in zip(recs, flat, strict=True):
        if kind == 0:
            assert isinstance(r, EventRecord) and r.exch_ts == c.sessions[i][0]
        elif kind == 1:
            t = c.ticks[i]
            assert isinstance(r, TickRecord) and r.exch_ts == t["exch_ts"]
            assert r.price == Decimal(repr(float(t["price"])))  # exact on the tick grid
        else:
            b = c.bidasks[i]
            assert isinstance(r, BidAskRecord) and r.exch_ts == b["exch_ts"]
            assert r.bid_price == tuple(Decimal(repr(float(x))) for x in b["bid_px"])
    assert {type(r) for r in recs} == {EventRecord, TickRecord, BidAskRecord}
