"""`python -m shijim.tools.hft_converter`: raw records -> hftbacktest rows. Round trips on
simulated days, checked by running the real hftbacktest 2.4.4 on the output; malformed,
unsorted, snapshot-only and simtrade files; SBE input equal to JSONL input; the out-of-window
rule shown on hftbacktest's own queue model."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import shijim.events.frames
import shijim.events.jsonl
from hft_sim_day import LATENCY_NS, START, sim_records
from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.order import FILLED, GTC, LIMIT, NEW
from hftbacktest.types import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    event_dtype,
)
from shijim.events import (
    BidAskRecord,
    MarketRecord,
    SnapshotRecord,
    TickRecord,
    TickType,
    format_record,
    raw_file_name,
    write_records,
)
from shijim.tools import hft_converter as hc
from shijim.tools.sbe import encode_file

S = 1_000_000_000
BOTH = EXCH_EVENT | LOCAL_EVENT


@pytest.fixture(scope="module")
def sim_day() -> list[MarketRecord]:
    return sim_records()


def books_of(recs: Sequence[MarketRecord]) -> list[BidAskRecord]:
    return [r for r in recs if isinstance(r, BidAskRecord) and not r.simtrade]


def book(
    ts: int, bids: Sequence[tuple[str, int]], asks: Sequence[tuple[str, int]], code: str = "TXFL5"
) -> BidAskRecord:
    """A five-level book (missing levels empty), local_ts = exch_ts + 1 ms."""

    def side(levels: Sequence[tuple[str, int]]) -> tuple[tuple[Decimal, ...], tuple[int, ...]]:
        full = list(levels) + [("0", 0)] * (5 - len(levels))
        return tuple(Decimal(p) for p, _ in full), tuple(q for _, q in full)

    bp, bq = side(bids)
    ap, aq = side(asks)
    return BidAskRecord(code, ts, ts + 1_000_000, ts, bp, bq, ap, aq, False)


def tick(ts: int, price: str, vol: int, side: TickType, code: str = "TXFL5") -> TickRecord:
    return TickRecord(code, ts, ts + 1_000_000, ts, Decimal(price), vol, 0, side, False)


def ladder(best: int, step: int, qty: int = 10) -> list[tuple[str, int]]:
    return [(str(best + step * i), qty) for i in range(5)]


def convert_one(*paths: Path, **options: object) -> hc.CodeRows:
    conv = hc.convert(paths, hc.ConvertOptions(**options))  # type: ignore[arg-type]
    assert len(conv.codes) == 1, conv.codes.keys()
    return next(iter(conv.codes.values()))


# -- hftbacktest on the converted data ---------------------------------------------------------


def backtest(data: str | np.ndarray, tick_size: float = 1.0) -> HashMapMarketDepthBacktest:
    asset = (
        BacktestAsset()
        .data(data)
        .linear_asset(200.0)
        .constant_order_latency(1_000, 1_000)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .tick_size(tick_size)
        .lot_size(1.0)
    )
    return HashMapMarketDepthBacktest([asset])


def held_levels(hbt: HashMapMarketDepthBacktest) -> tuple[dict[float, float], dict[float, float]]:
    """Every level hftbacktest's book holds, per side (px -> qty)."""
    depth = hbt.depth(0)
    snap = depth.snapshot()
    rows = snap.copy()
    depth.snapshot_free(snap)
    bids = {float(r["px"]): float(r["qty"]) for r in rows if r["ev"] & BUY_EVENT}
    asks = {float(r["px"]): float(r["qty"]) for r in rows if r["ev"] & SELL_EVENT}
    return bids, asks


def visible(b: BidAskRecord) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    def side(px: tuple[Decimal, ...], qty: tuple[int, ...]) -> list[tuple[float, float]]:
        return [(float(p), float(q)) for p, q in zip(px, qty, strict=True) if q > 0]

    return side(b.bid_price, b.bid_volume), side(b.ask_price, b.ask_volume)


def inside_window(
    held: dict[float, float], shown: list[tuple[float, float]], ask: bool
) -> list[tuple[float, float]]:
    """The held levels inside the snapshot's visible window, best first."""
    levels = sorted(held.items(), reverse=not ask)
    if len(shown) < 5:
        return levels
    worst = shown[-1][0]
    return [(p, q) for p, q in levels if (p <= worst if ask else p >= worst)]


def test_hftbacktest_book_matches_every_checked_snapshot(
    tmp_path: Path, sim_day: list[MarketRecord]
) -> None:
    src = tmp_path / raw_file_name("2026-11-24", "TXFL6")
    write_records(src, sim_day)
    out = tmp_path / "2026-11-24_TXFL6.npz"
    assert hc.main([str(src), str(out)]) == 0
    hbt = backtest(str(out))
    assert hbt.wait_next_feed(False, 60 * S) == 2  # time starts at the first row
    books = books_of(sim_day)
    local_times = sorted({r.local_ts for r in sim_day})
    checked = 0
    for k in [0, 1, 2, 3, *range(10, len(books) - 1, max(1, len(books) // 40))]:
        b = books[k]
        later = [t for t in local_times if t > b.local_ts]
        target = (b.local_ts + later[0]) // 2 if later else b.local_ts + 1
        assert hbt.elapse(target - hbt.current_timestamp) == 0
        depth = hbt.depth(0)
        bids_shown, asks_shown = visible(b)
        assert depth.best_bid == bids_shown[0][0] and depth.best_ask == asks_shown[0][0], k
        assert depth.best_bid_qty == bids_shown[0][1] and depth.best_ask_qty == asks_shown[0][1]
        bids, asks = held_levels(hbt)
        assert inside_window(bids, bids_shown, ask=False) == bids_shown, k
        assert inside_window(asks, asks_shown, ask=True) == asks_shown, k
        checked += 1
    assert checked > 30


def test_round_trip_rows_counts_and_manifest(tmp_path: Path, sim_day: list[MarketRecord]) -> None:
    src = tmp_path / raw_file_name("2026-11-24", "TXFL6")
    write_records(src, sim_day)
    outdir = tmp_path / "out"
    assert hc.main([str(src), str(outdir)]) == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["2026-11-24_TXFL6.npz", "manifest.json"]
    with np.load(outdir / "2026-11-24_TXFL6.npz") as z:
        assert list(z.keys()) == ["data"]
        rows = z["data"]
    assert rows.dtype == event_dtype
    again = convert_one(src)
    assert np.array_equal(rows, again.rows)
    ticks = [r for r in sim_day if isinstance(r, TickRecord)]
    real = [t for t in ticks if not t.simtrade]
    sim = [r for r in sim_day if getattr(r, "simtrade", False)]
    trades = rows[rows["ev"] & 0xFF == TRADE_EVENT]
    assert len(trades) == len(real) and len(real) > 50
    assert np.array_equal(trades["px"], [float(t.price) for t in real])
    assert np.array_equal(trades["qty"], [t.volume for t in real])
    buys = [t.tick_type is TickType.BUY for t in real]
    assert np.array_equal(trades["ev"] & BUY_EVENT != 0, buys)
    assert np.all(rows["local_ts"] - rows["exch_ts"] == LATENCY_NS)  # no shift needed
    # The first book: a clear and five snapshot levels per side, nothing before but trades.
    kinds = rows["ev"] & 0xFF
    first = int(np.argmax(kinds != TRADE_EVENT))
    assert (
        list(kinds[first : first + 12])
        == [DEPTH_CLEAR_EVENT]
        + [DEPTH_SNAPSHOT_EVENT] * 5
        + [DEPTH_CLEAR_EVENT]
        + [DEPTH_SNAPSHOT_EVENT] * 5
    )
    assert np.count_nonzero(kinds == DEPTH_SNAPSHOT_EVENT) == 10
    m = json.loads((outdir / "manifest.json").read_text())
    c = m["codes"]["TXFL6"]
    assert c["file"] == "2026-11-24_TXFL6.npz" and c["rows"] == rows.size
    assert c["drops"]["simtrade"] == len(sim) > 0
    assert c["counts"]["trades_buy"] + c["counts"]["trades_sell"] == len(real)
    assert c["tick_size"] == 1.0 and c["lot_size"] == 1.0 and c["multiplier"] == 200.0
    assert c["off_tick_prices"] == 0
    assert c["time_range"]["first_exch_ts"] == int(rows["exch_ts"][0])
    assert c["time_range"]["last_exch_ts"] == int(rows["exch_ts"][-1])
    assert m["skipped"]["events"] == 2  # the session events
    assert m["local_ts_shift_ns"] == 0 and m["bad_lines"]["count"] == 0


def test_the_seed_command_writes_exactly_that_file(
    tmp_path: Path, sim_day: list[MarketRecord]
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    write_records(raw / "2023-10-27_TXFL5.jsonl", [replace(r, code="TXFL5") for r in sim_day])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "shijim.tools.hft_converter",
            "raw/2023-10-27_TXFL5.jsonl",
            "out/2023-10-27_TXFL5.npz",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert [p.name for p in out.iterdir()] == ["2023-10-27_TXFL5.npz"]
    assert "TXFL5: " in run.stderr and "simtrade" in run.stderr


# -- the out-of-window rule ----------------------------------------------------------------------


def queue_day() -> list[MarketRecord]:
    """A bid at 96 (fifth level) leaves the window, comes back unchanged, becomes the best bid,
    and a sell trade of 2 lots (fewer than the 10 ahead of us) hits it."""
    t = START
    down = ladder(96, -1)
    return [
        book(t + 1 * S, ladder(100, -1), ladder(101, 1)),
        book(t + 2 * S, ladder(101, -1), ladder(102, 1)),  # 96 is beyond the window
        book(t + 3 * S, ladder(100, -1), ladder(101, 1)),  # back, still 10
        book(t + 4 * S, down, ladder(97, 1)),
        tick(t + 5 * S, "96", 2, TickType.SELL),
        book(t + 5 * S, [("96", 8), *down[1:]], ladder(97, 1)),
    ]


def resting_bid_fill(data: np.ndarray) -> tuple[int, float]:
    """Status and position after a buy of 1 at 96 placed just after the first book."""
    hbt = backtest(data)
    assert hbt.wait_next_feed(False, 60 * S) == 2
    assert hbt.elapse(S // 2) == 0
    assert hbt.submit_buy_order(0, 1, 96.0, 1.0, GTC, LIMIT, False) == 0
    hbt.elapse(10 * S)
    order = hbt.orders(0).get(1)
    return int(order.status), float(hbt.position(0))


def test_levels_beyond_the_window_keep_their_queue(tmp_path: Path) -> None:
    src = tmp_path / "q.jsonl"
    write_records(src, queue_day())
    c = convert_one(src)
    rows = c.rows
    levels = rows[(rows["ev"] & 0xFF != DEPTH_CLEAR_EVENT) & (rows["ev"] & BUY_EVENT != 0)]
    at96 = levels[levels["px"] == 96.0]
    # Only the snapshot level and the decrease after the trade: 96 was never deleted.
    assert list(at96["qty"]) == [10.0, 8.0]
    assert c.stats["levels_left_window"] >= 1
    status, position = resting_bid_fill(rows)
    assert (status, position) == (NEW, 0.0), "10 lots ahead, 2 traded: still queued"
    # What deleting the level when it leaves the window would do: the order jumps to the front
    # of the queue (every queue model takes qty 0 as an empty level) and the 2-lot trade fills
    # it. That is why the converter keeps such levels.
    t1, t2 = START + 2 * S, START + 3 * S
    gone = np.array([(DEPTH_EVENT | BUY_EVENT | BOTH, t1, t1 + 1_000_000, 96.0, 0.0, 0, 0, 0.0)],
                    dtype=event_dtype)  # fmt: skip
    back = np.array([(DEPTH_EVENT | BUY_EVENT | BOTH, t2, t2 + 1_000_000, 96.0, 10.0, 0, 0, 0.0)],
                    dtype=event_dtype)  # fmt: skip
    i1 = int(np.searchsorted(rows["exch_ts"], t1, side="right"))
    i2 = int(np.searchsorted(rows["exch_ts"], t2, side="right"))
    deleting = np.concatenate([rows[:i1], gone, rows[i1:i2], back, rows[i2:]])
    hc.check_rows(deleting, "deleting")
    assert resting_bid_fill(deleting) == (FILLED, 1.0)


# -- bad and odd input ------------------------------------------------------------------------


def test_malformed_lines_are_named_counted_and_dropped(tmp_path: Path) -> None:
    t = START
    good = [
        format_record(book(t, ladder(100, -1), ladder(101, 1))),
        format_record(tick(t + 1, "101", 1, TickType.BUY)),
        format_record(book(t + 2, ladder(100, -1, 3), ladder(101, 1))),
    ]
    lines = [
        good[0],
        "{not json",
        good[1].replace('"price":101', '"price":"101"'),  # text, not a number
        good[1].replace('"volume":1,', ""),  # missing field
        "",
        format_record(book(t + 1, ladder(101, -1), ladder(101, 1))),  # crossed
        good[1],
        good[2][: len(good[2]) // 2],  # torn
        good[2],
    ]
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n")
    conv = hc.convert([src])
    assert conv.bad_lines.count == 4
    named = [str(e) for e in conv.bad_lines.first]
    assert [n.split(": field")[0] for n in named] == [f"{src}:{i}" for i in (2, 3, 4, 8)]
    assert "expected a number, got str" in named[1] and "'volume': missing" in named[2]
    c = conv.codes["TXFL5"]
    assert c.drops["crossed_book"] == 1
    assert c.dropped == [f"{src}:6: crossed_book: best bid 101 is not below best ask 101"]
    assert c.stats["trade_rows"] == 1 and c.stats["depth_rows"] == 5  # 100..96 became 3 lots
    run = subprocess.run(
        [sys.executable, "-m", "shijim.tools.hft_converter", str(src), str(tmp_path / "o.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "skipped 4 bad lines" in run.stderr and f"{src}:2" in run.stderr


def test_bad_books_and_trades_are_dropped_by_cause(tmp_path: Path) -> None:
    t = START
    recs: list[MarketRecord] = [
        book(t, ladder(100, -1), ladder(101, 1)),
        book(t + 1, [("100", 1), ("0", 0), ("98", 1)], ladder(101, 1)),  # gap
        book(t + 2, [("100", 1), ("100", 2)], ladder(101, 1)),  # not falling
        book(t + 3, [("100", -1)], ladder(101, 1)),  # negative
        tick(t + 4, "101", 0, TickType.BUY),  # no volume
        tick(t + 5, "101", 1, TickType.UNKNOWN),  # no side: kept, unflagged
    ]
    src = tmp_path / "x.jsonl"
    write_records(src, recs)
    c = convert_one(src)
    assert c.drops["bad_book"] == 3 and c.drops["bad_trade"] == 1
    assert c.stats["trades_unknown_side"] == 1
    last = c.rows[-1]
    assert last["ev"] == TRADE_EVENT | BOTH  # neither BUY nor SELL
    assert [d.split(": ", 1)[0] for d in c.dropped] == [f"{src}:{i}" for i in (2, 3, 4, 5)]


def test_unsorted_file_gives_the_rows_of_the_sorted_one(
    tmp_path: Path, sim_day: list[MarketRecord]
) -> None:
    real = [r for r in sim_day if not getattr(r, "simtrade", True)]
    shuffled = real[:]
    random.Random(5).shuffle(shuffled)
    a, b = tmp_path / "sorted.jsonl", tmp_path / "shuffled.jsonl"
    write_records(a, real)
    write_records(b, shuffled)
    ra, rb = convert_one(a), convert_one(b)
    assert np.array_equal(ra.rows, rb.rows)
    assert ra.stats["out_of_order"] == 0 < rb.stats["out_of_order"]
    # Local order follows the exchange order: nothing was raised (constant latency).
    assert rb.stats["local_ts_raised"] == 0


def test_book_only_file_and_snapshot_record_only_file(
    tmp_path: Path, sim_day: list[MarketRecord]
) -> None:
    books = books_of(sim_day)
    src = tmp_path / "books.jsonl"
    write_records(src, books)
    c = convert_one(src)
    assert not np.any(c.rows["ev"] & 0xFF == TRADE_EVENT)
    assert c.stats["books"] == len(books) and c.rows.size > len(books) // 2
    px, bid, ask = Decimal(100), Decimal(99), Decimal(101)
    snaps = [
        SnapshotRecord("TXFL5", START + i, START + i + 1, i, px, px, px, px, 1, 2, bid, 1, ask, 1)
        for i in range(3)
    ]
    only = tmp_path / "snapshots.jsonl"
    write_records(only, snaps)
    conv = hc.convert([only])
    assert conv.codes == {} and conv.skipped["snapshot_records"] == 3
    out = tmp_path / "none.npz"
    run = subprocess.run(
        [sys.executable, "-m", "shijim.tools.hft_converter", str(only), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "exactly one code with trades or books" in run.stderr and "(none)" in run.stderr
    assert not out.exists()


def test_simtrade_records_are_dropped_and_counted(tmp_path: Path) -> None:
    t = START
    recs: list[MarketRecord] = [
        replace(book(t, ladder(100, -1), ladder(101, 1)), simtrade=True),
        replace(tick(t + 1, "100", 5, TickType.UNKNOWN), simtrade=True),
        book(t + 2, ladder(99, -1), ladder(100, 1)),
    ]
    src = tmp_path / "pre.jsonl"
    write_records(src, recs)
    c = convert_one(src)
    assert c.drops["simtrade"] == 2
    # The first real book is the snapshot: the trial-match book left nothing behind.
    assert list(c.rows["px"][:6]) == [95.0, 99.0, 98.0, 97.0, 96.0, 95.0]
    assert c.rows[0]["ev"] == DEPTH_CLEAR_EVENT | BUY_EVENT | BOTH


def test_local_clock_behind_is_shifted_once_for_all_codes(tmp_path: Path) -> None:
    t = START
    recs: list[MarketRecord] = [
        book(t, ladder(100, -1), ladder(101, 1)),
        replace(tick(t + 10, "101", 1, TickType.BUY), local_ts=t - 5_000),  # 5 us behind
        replace(tick(t + 20, "101", 1, TickType.BUY, code="MXFL5"), local_ts=t + 30),
        replace(tick(t + 30, "101", 1, TickType.BUY), local_ts=t - 3 * S),  # far behind
    ]
    src = tmp_path / "clock.jsonl"
    write_records(src, recs)
    conv = hc.convert([src])
    assert conv.local_ts_shift_ns == 5_011  # smallest latency -5010 ns, then 1 ns
    assert conv.min_feed_latency_ns == -5_010
    txf, mxf = conv.codes["TXFL5"], conv.codes["MXFL5"]
    assert txf.drops["clock_skew"] == 1 and f"{src}:4: clock_skew" in txf.dropped[0]
    assert int(mxf.rows["local_ts"][0]) == t + 30 + 5_011
    # The trade's local time is raised to the book's: local order follows exchange order.
    assert txf.stats["local_ts_raised"] == 1
    for c in (txf, mxf):
        assert np.all(c.rows["local_ts"] > c.rows["exch_ts"])
    out = tmp_path / "out"
    assert hc.main([str(src), str(out), "--base-latency-ns", "1000"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["local_ts_shift_ns"] == 6_010 and m["options"]["base_latency_ns"] == 1000


# -- SBE, directories, several codes ------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Read chunks of a few hundred bytes: lines and frames straddle every chunk boundary."""
    monkeypatch.setattr(shijim.events.jsonl, "READ_CHUNK", 701)
    monkeypatch.setattr(shijim.events.frames, "READ_CHUNK", 503)
    yield


@pytest.mark.parametrize("chunks", ["default", "small"])
def test_sbe_input_equals_jsonl_input(
    tmp_path: Path, sim_day: list[MarketRecord], chunks: str, request: pytest.FixtureRequest
) -> None:
    if chunks == "small":
        request.getfixturevalue("small_chunks")
    src = tmp_path / "day.jsonl"
    write_records(src, sim_day)
    sbe = tmp_path / "day.sbe"
    encode_file(src, sbe, skip_bad=False)
    a, b = convert_one(src), convert_one(sbe)
    assert np.array_equal(a.rows, b.rows)
    assert a.stats == b.stats
    # Places: lines for JSONL, byte offsets for SBE (the first simtrade record is the second).
    assert a.dropped[0] == f"{src}:2: simtrade: trial-match trade"
    frame = 6 + 8 + 83  # the first record, the session event: SOFH + header + event block
    assert b.dropped[0] == f"{sbe}: byte {frame}: simtrade: trial-match trade"


def test_bad_sbe_frames_are_named_by_byte(tmp_path: Path) -> None:
    t = START
    src = tmp_path / "d.jsonl"
    write_records(
        src, [book(t, ladder(100, -1), ladder(101, 1)), tick(t + 1, "101", 1, TickType.BUY)]
    )
    sbe = tmp_path / "d.sbe"
    encode_file(src, sbe, skip_bad=False)
    data = bytearray(sbe.read_bytes())
    data[6 + 2] = 42  # the first frame's templateId
    sbe.write_bytes(bytes(data) + data[:10])  # and a torn last frame
    conv = hc.convert([sbe])
    assert conv.bad_lines.count == 2
    named = [str(e) for e in conv.bad_lines.first]
    assert named[0].startswith(f"{sbe}: byte 8: unknown templateId 42")
    assert "truncated" in named[1]
    assert conv.codes["TXFL5"].stats["trade_rows"] == 1


def test_directory_of_codes_gives_one_file_each_and_a_manifest(tmp_path: Path) -> None:
    recs = sim_records(("TXFL6", "2330"), seconds=8, rate_scale=0.3, start=START + 15 * 60 * S)
    raw = tmp_path / "raw"
    raw.mkdir()
    for code in ("TXFL6", "2330"):
        write_records(raw / raw_file_name("2026-11-24", code), [r for r in recs if r.code == code])
    # The same day again as SBE in the same directory: read, and every record is a duplicate
    # (simtrade records are dropped before, as simtrade, twice).
    encode_file(raw / "2026-11-24_2330.jsonl", raw / "2026-11-24_2330.sbe", skip_bad=False)
    out = tmp_path / "out"
    assert hc.main([str(raw), str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2026-11-24_2330.npz", "2026-11-24_TXFL6.npz", "manifest.json"]
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["codes"]) == {"2330", "TXFL6"} and len(m["inputs"]) == 3
    stock = m["codes"]["2330"]
    stock_recs = [r for r in recs if r.code == "2330" and r.type.value in ("tick", "bidask")]
    n_sim = sum(1 for r in stock_recs if getattr(r, "simtrade", False))
    assert stock["drops"]["duplicate"] == len(stock_recs) - n_sim
    assert stock["drops"]["simtrade"] == 2 * n_sim > 0
    assert stock["multiplier"] == 1000.0 and stock["tick_size"] in (0.5, 1.0, 5.0)
    assert stock["off_tick_prices"] == 0
    for code, c in m["codes"].items():
        with np.load(out / c["file"]) as z:
            assert z["data"].size == c["rows"] > 0, code
    # One output file for a multi-code input: refused, unless one code is chosen.
    one = tmp_path / "one.npz"
    assert hc.main([str(raw), str(one)]) == 1 and not one.exists()
    assert hc.main([str(raw), str(one), "--code", "TXFL6"]) == 0
    with np.load(one) as z, np.load(out / "2026-11-24_TXFL6.npz") as y:
        assert np.array_equal(z["data"], y["data"])


def test_missing_input_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hc.main([str(tmp_path / "nope.jsonl"), str(tmp_path / "o.npz")]) == 1
    assert "nope.jsonl: no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert hc.main([str(tmp_path / "empty"), str(tmp_path / "o.npz")]) == 1


def test_parsing_threads_change_nothing(tmp_path: Path, sim_day: list[MarketRecord]) -> None:
    lines = [format_record(r) for r in sim_day]
    lines[len(lines) // 3] = "{broken"  # the reference reader's turn inside a parallel read
    lines[len(lines) // 2] = lines[len(lines) // 2].replace('"simtrade":false', '"simtrade":0')
    src = tmp_path / "day.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert src.stat().st_size > 4 * 64 * 1024  # several pieces per read
    one, four = (hc.convert([src], hc.ConvertOptions(threads=t)) for t in (1, 4))
    a, b = one.codes["TXFL6"], four.codes["TXFL6"]
    assert np.array_equal(a.rows, b.rows) and a.stats == b.stats and a.dropped == b.dropped
    assert one.bad_lines.count == four.bad_lines.count == 1
    assert str(four.bad_lines.first[0]).startswith(f"{src}:{len(lines) // 3 + 1}: ")


def test_at_equal_exchange_time_the_trade_comes_before_the_book(tmp_path: Path) -> None:
    t = START
    after = ladder(101, 1)
    after[0] = ("101", 7)
    recs: list[MarketRecord] = [
        book(t, ladder(100, -1), ladder(101, 1)),
        book(t + S, ladder(100, -1), after),  # recorded first, made by the trade below
        tick(t + S, "101", 3, TickType.BUY),
    ]
    src = tmp_path / "same_time.jsonl"
    write_records(src, recs)
    c = convert_one(src)
    tail = c.rows[12:]
    assert [int(k) for k in tail["ev"] & 0xFF] == [TRADE_EVENT, DEPTH_EVENT]
    assert (tail[0]["px"], tail[0]["qty"], tail[1]["qty"]) == (101.0, 3.0, 7.0)
    assert c.stats["out_of_order"] == 1
