"""Pace-fast replay by rows (core parse into numpy rows + ``Ingestor.interleaved``) against the
per-record path: the same ring, the same bad-input counts, bad lines named by file:line."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ring_fixture import records_of
from shijim.bus import Ingestor
from shijim.events import (
    BidAskRecord,
    EventKind,
    EventRecord,
    MarketRecord,
    RecordError,
    SessionState,
    SnapshotRecord,
    TickRecord,
    TickType,
    format_record,
    raw_file_name,
    read_records,
    record_from_dict,
    write_records,
)
from shijim.events.rows import BIDASK, RECORD, TICK, read_row_batches
from shijim.gateway.replay import ReplayFeed, ReplayPace

T0 = 1_795_482_000_000_000_000
S = 1_000_000_000
NOW = T0 + 86_400 * S  # replayed the day after it was recorded


def tick(code: str, ts: int, price: str = "23000.5", vol: int = 1) -> TickRecord:
    return TickRecord(code, ts, ts + 1000, 0, Decimal(price), vol, vol, TickType.BUY, False)


def book(code: str, ts: int, top: str = "100.25") -> BidAskRecord:
    d = Decimal(top)
    return BidAskRecord(
        code, ts, ts + 500, 0,
        tuple(d - i for i in range(5)), (1, 2, 3, 4, 5),
        tuple(d + 1 + i for i in range(5)), (5, 4, 3, 2, 1), False,
    )  # fmt: skip


def session(code: str, ts: int, state: SessionState) -> EventRecord:
    return EventRecord(code, ts, ts, 0, EventKind.SESSION_STATE, state, None, 0, "")


def snapshot(code: str, ts: int) -> SnapshotRecord:
    d = Decimal
    return SnapshotRecord(
        code, ts, ts, 0, d("10"), d("11"), d("9"), d("10.5"), 3, 30, d("10.4"), 2, d("10.6"), 1
    )


def replay(
    path: Path, by_rows: bool, batch: int = 4096, universe: Any = None, keep: bool = False
) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    out: dict[str, Any] = {}

    def fill(writer: Any) -> None:
        ing = Ingestor(writer, universe=universe, clock_ns=lambda: NOW)
        feed = ReplayFeed(path, ReplayPace.FAST, batch=batch, by_rows=by_rows, keep_local_ts=keep)
        feed.start(ing)
        out["n"] = feed.run_for()
        assert feed.finished
        out["bad"] = dict(ing.bad.counts)

    recs = records_of(fill)
    assert out["n"] == len(recs)
    return recs, out["bad"], out["n"]


# -- the reader ------------------------------------------------------------------------------


def test_row_batches_hold_what_read_records_reads(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    recs: list[MarketRecord] = [
        tick("TXFL6", T0),
        book("TXFL6", T0 + 1, "0.000001"),
        session("TXFL6", T0 + 2, SessionState.OPEN),
        tick("TXFL6", T0 + 3, "123456.789012", vol=9),
        snapshot("2330", T0 + 4),
    ]
    lines = [format_record(r) for r in recs]
    lines.insert(2, "")  # blank: skipped, still counted as a line
    lines.insert(4, lines[0].replace('"TXFL6"', '"TXF\\u004cL6"'))  # escape: reference reader
    f.write_text("\n".join(lines))  # no final newline
    batches = list(read_row_batches(f, limit=2))
    kinds = [int(k) for b in batches for k in b.kinds]
    assert kinds == [TICK, BIDASK, RECORD, RECORD, TICK, RECORD]
    assert [int(n) for b in batches for n in b.lines] == [1, 2, 4, 5, 6, 7]
    assert all(len(b) <= 2 for b in batches)
    ticks = [t for b in batches for t in b.ticks]
    assert [float(t["price"]) for t in ticks] == [23000.5, 123456.789012]
    assert all(int(t["local_ts"]) == 0 for t in ticks)  # stamped when published
    (b0,) = [b for b in batches if b.books.size]
    assert b0.books["bid_px"][0].tolist() == [float(Decimal("0.000001") - i) for i in range(5)]
    others = [r for b in batches for r in b.records]
    reference = list(read_records(f))
    assert others == [reference[2], reference[3], reference[5]]
    kept = [t for b in read_row_batches(f, keep_local_ts=True) for t in b.ticks]
    assert [int(t["local_ts"]) for t in kept] == [T0 + 1000, T0 + 3 + 1000]
    with pytest.raises(ValueError, match="limit"):
        next(read_row_batches(f, limit=0))


def test_row_batches_raise_or_report_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    good = format_record(tick("TXFL6", T0))
    f.write_text(
        "\n".join([good, good, good.replace('"tick_type":1', '"tick_type":9'), good]) + "\n"
    )
    with pytest.raises(RecordError, match=r"x\.jsonl:3: field 'tick_type'"):
        list(read_row_batches(f))
    seen: list[RecordError] = []
    got = [int(n) for b in read_row_batches(f, on_bad=seen.append) for n in b.lines]
    assert got == [1, 2, 4]
    assert [(e.line_no, e.field) for e in seen] == [(3, "tick_type")]


# -- replay: bad lines inside a batch --------------------------------------------------------


@pytest.mark.parametrize("batch", [4096, 9])
def test_bad_lines_inside_a_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, batch: int
) -> None:
    f = tmp_path / "20261124_TXFL6.jsonl"
    lines = [format_record(tick("TXFL6", T0 + i * S)) for i in range(60)]
    lines[24] = "{not json"  # line 25
    lines[29] = lines[29].replace('"price":23000.5', '"price":"abc"')  # line 30
    lines[39] = format_record(tick("TXFL6", T0))  # line 40: time goes backwards
    lines[44] = format_record(tick("OTHER", T0 + 44 * S))  # line 45: not in this shard
    lines[49] = format_record(tick("TXFL6", T0 + 49 * S, price="0"))  # line 50: bad price
    lines[54] = lines[54].replace('"total_volume":1', '"total_volume":-1')  # line 55
    f.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        recs, bad, n = replay(f, by_rows=True, batch=batch, universe={"TXFL6"})
    assert n == 54
    assert bad == {
        "bad_json": 1, "malformed": 1, "time_backwards": 1, "unknown_code": 1,
        "nonpositive_price": 1, "bad_volume": 1,
    }  # fmt: skip
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 6  # once per cause
    for line_no, cause in [(25, "bad_json"), (30, "malformed"), (40, "time_backwards"),
                           (45, "unknown_code"), (50, "nonpositive_price"),
                           (55, "bad_volume")]:  # fmt: skip
        assert any(f"{f}:{line_no}" in m and f"({cause})" in m for m in msgs), (line_no, msgs)
    dropped = {24, 29, 39, 44, 49, 54}
    assert [r["exch_ts"] for r in recs] == [T0 + i * S for i in range(60) if i not in dropped]
    assert all(r["local_ts"] == NOW for r in recs)
    # The per-record path drops the same lines for the same causes.
    old, old_bad, _ = replay(f, by_rows=False, universe={"TXFL6"})
    assert old == recs and old_bad == bad


# -- replay: the same ring as the per-record path --------------------------------------------


def sim_records() -> list[dict[str, Any]]:
    from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
    from shijim.gateway.sim_market import SimulatedMarket, default_instruments

    def from_sim(writer: Any) -> None:
        m = SimulatedMarket(default_instruments(0.2), 5, T0)
        feed = SimFeed(m, Pace.FAST, local_clock=LocalClock.EXCHANGE, max_sim_seconds=2)
        feed.start(Ingestor(writer, universe=m.codes))
        feed.run_for()

    recs = records_of(from_sim)
    assert len(recs) > 500
    return recs


@pytest.fixture(scope="module")
def sim_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, set[str]]]:
    root = tmp_path_factory.mktemp("sim")
    recs = [record_from_dict(r) for r in sim_records()]
    one = root / "one" / "20261124_ALL.jsonl"
    one.parent.mkdir()
    write_records(one, recs)
    by_code: dict[str, list[MarketRecord]] = {}
    for r in recs:
        by_code.setdefault(r.code, []).append(r)
    day = root / "day"
    day.mkdir()
    for code, rs in by_code.items():
        write_records(day / raw_file_name("20261124", code or "ALL"), rs)
    yield one, day, set(by_code)


@pytest.mark.parametrize("batch", [4096, 37])
@pytest.mark.parametrize("keep", [False, True])
def test_sim_recorded_file_same_ring_as_per_record_path(
    sim_day: tuple[Path, Path, set[str]], batch: int, keep: bool
) -> None:
    one, _day, codes = sim_day
    new, new_bad, n = replay(one, True, batch, codes, keep)
    old, old_bad, _ = replay(one, False, batch, codes, keep)
    assert n > 500 and new_bad == old_bad == {}
    assert new == old  # every field, seq included
    assert {r["type"] for r in new} >= {"tick", "bidask"}


@pytest.mark.parametrize("batch", [4096, 5])
def test_sim_recorded_directory_merge_same_ring(
    sim_day: tuple[Path, Path, set[str]], batch: int
) -> None:
    _one, day, codes = sim_day
    assert len(list(day.iterdir())) > 2
    new, _, _ = replay(day, True, batch, codes, keep=True)
    old, _, _ = replay(day, False, batch, codes, keep=True)
    assert new == old
    times = [r["exch_ts"] for r in new]
    assert times == sorted(times)


@pytest.mark.parametrize("seed", range(6))
def test_directory_merge_matches_heap_merge(tmp_path: Path, seed: int) -> None:
    """Random files with ties across files, times going back, events, snapshots, lines for
    the reference reader and bad lines: ring and counts equal to the per-record merge."""
    rng = random.Random(seed)
    codes = ["TXFL6", "2330", "MXFL6", "2317"]
    for code in codes[: rng.randint(2, 4)]:
        lines = []
        ts = T0
        for _ in range(rng.randint(0, 120)):
            ts += rng.choice([0, 0, 1, 2, 5]) * S
            r = rng.random()
            if r < 0.4:
                line = format_record(tick(code, ts, price=str(rng.randint(1, 99)) + ".5"))
            elif r < 0.8:
                line = format_record(book(code, ts, top=str(rng.randint(50, 99))))
            elif r < 0.85:
                line = format_record(session(code, ts, SessionState.OPEN))
            elif r < 0.88:
                line = format_record(snapshot(code, ts))
            elif r < 0.92:
                line = format_record(tick(code, ts - 3 * S))  # back in time
            elif r < 0.95:
                line = format_record(tick(code, ts)).replace('"code":"', '"code":"\\u0020')
            elif r < 0.96:
                line = format_record(tick(code, ts)).replace('"volume":1', '"volume":0')
            elif r < 0.97:
                bad = rng.choice(['"volume":-1,', '"total_volume":-1', '"price":-1'])
                key = bad.partition(":")[0]
                line = format_record(tick(code, ts, "1")).replace(key + ":1", bad.rstrip(","), 1)
            else:
                line = "{bad"
            lines.append(line)
        (tmp_path / raw_file_name("20261124", code)).write_text("\n".join(lines) + "\n")
    if not any(f.stat().st_size > 1 for f in tmp_path.iterdir()):
        pytest.skip("empty draw")
    batch = rng.choice([1, 3, 16, 4096])
    new, new_bad, _ = replay(tmp_path, True, batch)
    old, old_bad, _ = replay(tmp_path, False, batch)
    assert new == old and new_bad == old_bad


@pytest.mark.parametrize("batch", [4096, 4])
def test_kept_local_ts_of_zero_stays_as_recorded(tmp_path: Path, batch: int) -> None:
    f = tmp_path / "20261124_TXFL6.jsonl"
    recs = [tick("TXFL6", T0 + i * S) for i in range(40)] + [book("TXFL6", T0 + 40 * S)]
    lines = [format_record(r) for r in recs]
    for i in (3, 40):
        lines[i] = lines[i].replace(f'"local_ts":{recs[i].local_ts}', '"local_ts":0')
    f.write_text("\n".join(lines) + "\n")
    new, _, _ = replay(f, True, batch, keep=True)
    old, _, _ = replay(f, False, batch, keep=True)
    assert new == old
    assert [r["local_ts"] for r in new if r["local_ts"] == 0] == [0, 0]
