"""Replay of raw JSONL recordings into the real ring: merge by time, pace, bad lines."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest
from ring_fixture import Ring, records_of, ring  # noqa: F401  (pytest fixture)
from shijim.bus import Ingestor
from shijim.events import BidAskRecord, TickRecord, TickType, format_record, write_records
from shijim.gateway.replay import ReplayFeed, ReplayPace, replay_files
from shijim.metrics import ShardMetrics

T0 = 1_795_482_000_000_000_000  # 2026-11-24 09:00 Asia/Taipei
S = 1_000_000_000
NOW = T0 + 86_400 * S  # replayed the day after it was recorded


def tick(code: str, ts: int, price: str = "23000", vol: int = 1, total: int = 1) -> TickRecord:
    return TickRecord(code, ts, ts + 1000, 0, Decimal(price), vol, total, TickType.BUY, False)


def book(code: str, ts: int) -> BidAskRecord:
    d = Decimal
    return BidAskRecord(
        code, ts, ts + 500, 0,
        (d("100"), d("99"), d("98"), d("97"), d("96")), (1, 2, 3, 4, 5),
        (d("101"), d("102"), d("103"), d("104"), d("105")), (5, 4, 3, 2, 1), False,
    )  # fmt: skip


@pytest.fixture
def day(tmp_path: Path) -> Path:
    write_records(
        tmp_path / "20261124_TXFL6.jsonl",
        [tick("TXFL6", T0), tick("TXFL6", T0 + 2 * S), tick("TXFL6", T0 + 4 * S)],
    )
    write_records(tmp_path / "20261124_2330.jsonl",
                  [book("2330", T0 + S), book("2330", T0 + 3 * S)])  # fmt: skip
    (tmp_path / "notes.txt").write_text("not a recording")
    return tmp_path


def test_directory_merged_by_time(ring: Ring, day: Path) -> None:  # noqa: F811
    m = ShardMetrics(0)
    ing = Ingestor(ring.writer, universe={"TXFL6", "2330"}, clock_ns=lambda: NOW)
    feed = ReplayFeed(day, ReplayPace.FAST, metrics=m)
    feed.start(ing)
    assert m.registry.get_sample_value("shijim_feed_connected", {"shard": "0"}) == 1
    assert feed.run_for() == 5 and feed.finished
    assert m.registry.get_sample_value("shijim_feed_connected", {"shard": "0"}) == 0
    recs = ring.records()
    assert [(r["code"], r["exch_ts"] - T0) for r in recs] == [
        ("TXFL6", 0), ("2330", S), ("TXFL6", 2 * S), ("2330", 3 * S), ("TXFL6", 4 * S),
    ]  # fmt: skip
    assert [r["seq"] for r in recs] == [0, 1, 2, 3, 4]
    assert all(r["local_ts"] == NOW for r in recs)  # stamped at (re)ingestion
    assert recs[1]["bid_price"][0] == Decimal("100") and recs[0]["price"] == Decimal("23000")


def test_keep_recorded_local_ts(ring: Ring, day: Path) -> None:  # noqa: F811
    feed = ReplayFeed(day / "20261124_TXFL6.jsonl", keep_local_ts=True)
    feed.start(Ingestor(ring.writer))
    feed.run_for()
    assert [r["local_ts"] - r["exch_ts"] for r in ring.records()] == [1000, 1000, 1000]


def test_only_the_shards_files(ring: Ring, day: Path) -> None:  # noqa: F811
    assert [f.name for f in replay_files(day, ["2330"])] == ["20261124_2330.jsonl"]
    feed = ReplayFeed(day, codes=["2330"])
    feed.start(Ingestor(ring.writer, universe={"2330"}))
    assert feed.run_for() == 2
    with pytest.raises(FileNotFoundError, match=r"no \.jsonl files"):
        ReplayFeed(day, codes=["NOPE"])
    with pytest.raises(FileNotFoundError, match="neither a file nor a directory"):
        ReplayFeed(day / "missing")


def test_bad_lines_counted_logged_once_per_cause_and_dropped(
    ring: Ring,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = [format_record(tick("TXFL6", T0 + i * S, total=i + 1)) for i in range(4)]
    lines = [
        good[0],
        "{not json",
        good[1],
        good[1].replace('"price":23000', '"price":"abc"'),
        "[1, 2]",
        good[2].replace(',"volume":1', ""),
        "",
        good[2].replace('"price":23000', '"price":0'),  # valid record, bad market data
        good[3],
        good[1],  # time goes backwards for TXFL6
    ]
    f = tmp_path / "20261124_TXFL6.jsonl"
    f.write_text("\n".join(lines) + "\n")
    ing = Ingestor(ring.writer)
    feed = ReplayFeed(f)
    with caplog.at_level(logging.WARNING):
        feed.start(ing)
        assert feed.run_for() == 3
    assert ing.bad.counts == {
        "bad_json": 2, "malformed": 2, "nonpositive_price": 1, "time_backwards": 1,
    }  # fmt: skip
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 4  # once per cause
    assert any(f"{f}:2" in m and "bad_json" in m for m in msgs)
    assert any(f"{f}:4" in m and "field price" in m for m in msgs)
    assert [r["exch_ts"] - T0 for r in ring.records()] == [0, S, 3 * S]


def test_recorded_pace_and_long_gaps(ring: Ring, tmp_path: Path) -> None:  # noqa: F811
    f = tmp_path / "20261124_TXFL6.jsonl"
    hour = 3600 * S
    write_records(f, [tick("TXFL6", T0), tick("TXFL6", T0 + S), tick("TXFL6", T0 + 2 * S),
                      tick("TXFL6", T0 + 2 * S + hour)])  # fmt: skip
    clock = [50.0]
    feed = ReplayFeed(f, ReplayPace.REALTIME, speed=2.0, max_gap_s=4, monotonic=lambda: clock[0])
    feed.start(Ingestor(ring.writer))
    assert feed.poll() == 1  # the first record is due at once
    clock[0] += 0.49
    assert feed.poll() == 0  # 1 s recorded = 0.5 s at speed 2
    clock[0] += 0.02
    assert feed.poll() == 1
    clock[0] += 0.5
    assert feed.poll() == 1
    clock[0] += 1.9  # the 1-hour gap is shortened to max_gap 4 s = 2 s at speed 2
    assert feed.poll() == 0 and not feed.finished
    clock[0] += 0.2
    assert feed.poll() == 1
    feed.poll()
    assert feed.finished


def test_bad_speed(day: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayFeed(day, speed=0)


def test_feeds_implement_the_interface(day: Path) -> None:
    from shijim.gateway import MarketDataFeed
    from shijim.gateway.shioaji_feed import ShioajiMarketData
    from shijim.gateway.shioaji_session import ShioajiSession
    from shijim.gateway.sim_feed import SimFeed
    from shijim.gateway.sim_market import SimulatedMarket, default_instruments

    sim = SimFeed(SimulatedMarket(default_instruments(), 1, T0))
    live = ShioajiMarketData(ShioajiSession(), ["TXFL6"])
    for feed in (ReplayFeed(day), sim, live):
        assert isinstance(feed, MarketDataFeed)


def test_sim_recorded_then_replayed_gives_the_same_ring(tmp_path: Path) -> None:
    """sim -> ring -> JSONL per code (the recorder's layout) -> replay -> ring: same records."""
    from shijim.events import raw_file_name, record_from_dict
    from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
    from shijim.gateway.sim_market import SimulatedMarket, default_instruments

    def from_sim(writer) -> None:
        m = SimulatedMarket(default_instruments(0.2), 21, T0)
        feed = SimFeed(m, Pace.FAST, local_clock=LocalClock.EXCHANGE, max_sim_seconds=2)
        feed.start(Ingestor(writer, universe=m.codes))
        feed.run_for()

    original = records_of(from_sim)
    assert len(original) > 500
    by_code: dict[str, list] = {}
    for rec in original:
        by_code.setdefault(rec["code"], []).append(record_from_dict(rec))
    for code, recs in by_code.items():
        write_records(tmp_path / raw_file_name("20261124", code), recs)

    def from_replay(writer) -> None:
        feed = ReplayFeed(tmp_path, keep_local_ts=True)
        feed.start(Ingestor(writer, universe=list(by_code)))
        feed.run_for()

    replayed = records_of(from_replay)

    def per_code(recs: list[dict]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in recs:
            out.setdefault(r["code"], []).append({k: v for k, v in r.items() if k != "seq"})
        return out

    # Each code's stream is identical (order, exact prices, both timestamps); across codes the
    # merge keeps exchange-time order (ties between codes may interleave differently).
    assert per_code(replayed) == per_code(original)
    assert len(replayed) == len(original)
    times = [r["exch_ts"] for r in replayed]
    assert times == sorted(times)
    assert [r["seq"] for r in replayed] == list(range(len(original)))
