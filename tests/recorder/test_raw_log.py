"""The raw JSONL write-ahead log, recorded from a real ring: files by trading day and code,
gap records with the exact loss, bad ring rows, torn lines and unacknowledged batches cut at
restart."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from recorder_fixtures import START_NS, recorder_config, sample
from shijim.events import (
    EventRecord,
    TickRecord,
    format_record,
    read_records,
    record_from_dict,
    record_to_dict,
)
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns
from shijim.metrics import ShardMetrics
from shijim.recorder.recording import Recorder, RecorderError
from shijim.recorder.wal import STATE_DIR, WalState

import shijim_core


def jsonl_only(tmp_path: Path) -> object:
    cfg = recorder_config(tmp_path, "unused")
    import dataclasses

    return dataclasses.replace(cfg, clickhouse=dataclasses.replace(cfg.clickhouse, enabled=False))


def record_all(rec: Recorder) -> None:
    while rec.step():
        pass


def all_records(raw: Path) -> list:
    out = []
    for path in sorted(raw.glob("*.jsonl")):
        out.extend(read_records(path))
    return out


def test_files_by_trading_day_and_code_night_session_is_next_day(make_ring, tmp_path: Path) -> None:
    import datetime as dt

    ring = make_ring()
    metrics = ShardMetrics(0)
    rec = Recorder(jsonl_only(tmp_path), ring.name, metrics, {})
    rec.attach()
    stamps = {  # Taipei wall time -> the trading day its file must be
        dt.datetime(2026, 1, 5, 14, 59, 59): "20260105",  # Monday day session
        dt.datetime(2026, 1, 5, 15, 0, 0): "20260106",  # Monday night -> Tuesday
        dt.datetime(2026, 1, 6, 4, 59, 59): "20260106",  # Tuesday 04:59, same night
        dt.datetime(2026, 1, 9, 23, 0, 0): "20260110",  # Friday night (ends Saturday 05:00)
    }
    for t in stamps:
        ns = taipei_naive_to_utc_ns(t)
        ring.writer.publish_tick("TXFL6", ns, ns, 22000, 1, 1, 0)
        ring.writer.publish_tick("2330", ns, ns, 1000, 1, 1, 0)
    record_all(rec)
    rec._finish()
    raw = Path(rec.cfg.raw_dir)
    names = sorted(p.name for p in raw.glob("*.jsonl"))
    days = sorted(set(stamps.values()))
    assert names == sorted(f"{d}_{c}.jsonl" for d in days for c in ("2330", "TXFL6"))
    for t, day in stamps.items():
        ns = taipei_naive_to_utc_ns(t)
        got = [r.exch_ts for r in read_records(raw / f"{day}_TXFL6.jsonl")]
        assert ns in got
    assert sample(metrics, "shijim_recorder_rows_total", sink="jsonl") == 8


def test_lapped_recorder_writes_a_gap_record_with_the_exact_loss(make_ring, tmp_path) -> None:
    ring = make_ring(slots=1024)
    metrics = ShardMetrics(0)
    rec = Recorder(jsonl_only(tmp_path), ring.name, metrics, {}, max_messages=100)
    rec.attach()
    ring.publish_mixed(5000)  # five rings' worth before the recorder reads anything
    record_all(rec)
    ring.publish_mixed(10, t0=START_NS + 10**10)
    record_all(rec)
    rec._finish()
    recs = all_records(Path(rec.cfg.raw_dir))
    gaps = [r for r in recs if isinstance(r, EventRecord) and r.event == "feed_gap"]
    data = [r for r in recs if not isinstance(r, EventRecord)]
    assert len(gaps) == 1 and gaps[0].code == "" and gaps[0].reason == "recorder lapped"
    seqs = sorted(r.seq for r in data)
    assert seqs == sorted(set(seqs)), "no message twice"
    # Every message published is either in the files or counted by a gap record.
    assert len(data) + gaps[0].count == 5010
    assert gaps[0].seq == gaps[0].count  # lost before its seq: 0 .. count-1
    assert sample(metrics, "shijim_recorder_gap_messages_total") == gaps[0].count
    assert sample(metrics, "shijim_ring_lost_messages_total", reader="recorder") == gaps[0].count
    # The shard-wide file the replay feed reads too.
    assert (Path(rec.cfg.raw_dir) / "20260105_.jsonl").exists()


def test_bad_ring_rows_are_named_counted_and_dropped_good_ones_kept(
    make_ring, tmp_path, caplog
) -> None:
    ring = make_ring()
    metrics = ShardMetrics(0)
    rec = Recorder(jsonl_only(tmp_path), ring.name, metrics, {})
    rec.attach()
    ring.publish_mixed(3)
    ring.writer.publish_bytes(b"\x01\x02 not an SBE message")
    tick = shijim_core.sbe_encode(
        record_to_dict(TickRecord("TXFL6", START_NS, START_NS, 0, 22000, 1, 1, 0, False))
    )
    empty_code = tick[:32] + b"\x00" * 16 + tick[48:]  # SBE-valid, but a tick needs a code
    ring.writer.publish_bytes(empty_code)
    ring.publish_mixed(3, t0=START_NS + 10**9)
    with caplog.at_level(logging.WARNING):
        record_all(rec)
    rec._finish()
    data = all_records(Path(rec.cfg.raw_dir))
    assert len(data) == 6
    assert sample(metrics, "shijim_recorder_errors_total", cause="bad_row") == 2
    text = caplog.text
    assert f"ring {ring.name}: seq 4: field 'code'" in text  # names ring, seq and field
    assert "not an SBE message" in text or "seq 3" in text


def test_torn_last_line_is_cut_at_restart_counted_and_named(make_ring, tmp_path, caplog) -> None:
    ring = make_ring()
    raw = tmp_path / "raw"
    raw.mkdir()
    good = all_lines_of(ring, 4)
    path = raw / "20260105_TXFL6.jsonl"
    torn = b'{"type":"tick","code":"TXF'  # a kill -9 inside a write
    path.write_bytes(good + torn)
    metrics = ShardMetrics(0)
    rec = Recorder(jsonl_only(tmp_path), ring.name, metrics, {})
    with caplog.at_level(logging.WARNING):
        rec.attach()
    assert path.read_bytes() == good
    assert sample(metrics, "shijim_recorder_errors_total", cause="torn_tail") == 1
    assert f"{path}: torn last line at byte {len(good)} cut ({len(torn)} bytes)" in caplog.text
    rec._finish()


def all_lines_of(ring, n: int) -> bytes:
    return b"".join(
        (format_record(TickRecord("TXFL6", START_NS + i, START_NS + i, i, 22000, 1, 1, 0, False))
         + "\n").encode()
        for i in range(n)
    )  # fmt: skip


def test_an_unacknowledged_batch_is_rolled_back_and_recorded_again(make_ring, tmp_path) -> None:
    """What a crash between a batch's intent and its done mark leaves: a partly written batch.
    The restart (same ring) cuts it back and reads it again from the ring: nothing twice."""
    ring = make_ring()
    cfg = jsonl_only(tmp_path)
    rec = Recorder(cfg, ring.name, ShardMetrics(0), {})
    rec.attach()
    ring.publish_mixed(100)
    record_all(rec)
    wal = rec.wal
    raw = Path(cfg.raw_dir)
    sizes = {p.name: p.stat().st_size for p in raw.glob("*.jsonl")}
    ring.publish_mixed(50, t0=START_NS + 10**9)
    # The crash: the intent of the next batch is stored, half of its lines are written.
    wal._write_state(WalState(wal.ring, wal.next, "writing", sizes))
    frames = shijim_core.RingReader(ring.name, start="oldest").read_records(1 << 16)
    half = [r for r in frames if r["seq"] >= 100][:25]
    with (raw / "20260105_TXFL6.jsonl").open("ab") as f:
        for r in half:
            if r["code"] == "TXFL6":
                f.write((format_record(record_from_dict(r)) + "\n").encode())
        f.write(b'{"type":"bid')
    rec.wal.close()  # the process dies: no done mark
    rec2 = Recorder(cfg, ring.name, ShardMetrics(0), {})
    rec2.attach()
    assert rec2.resume == 100
    record_all(rec2)
    rec2._finish()
    seqs = [r.seq for r in all_records(raw)]
    assert sorted(seqs) == list(range(150))


def test_restart_on_the_same_ring_resumes_and_counts_what_the_ring_lost(make_ring, tmp_path):
    ring = make_ring(slots=1024)
    cfg = jsonl_only(tmp_path)
    rec = Recorder(cfg, ring.name, ShardMetrics(0), {})
    rec.attach()
    ring.publish_mixed(500)
    record_all(rec)
    rec._finish()  # the recorder stops; the shard goes on publishing
    ring.publish_mixed(3000, t0=START_NS + 10**10)
    metrics = ShardMetrics(0)
    rec2 = Recorder(cfg, ring.name, metrics, {})
    rec2.attach()
    assert rec2.resume == 500
    record_all(rec2)
    rec2._finish()
    recs = all_records(Path(cfg.raw_dir))
    gaps = [r for r in recs if isinstance(r, EventRecord)]
    data = sorted(r.seq for r in recs if not isinstance(r, EventRecord))
    assert data == sorted(set(data))
    assert len(gaps) == 1 and gaps[0].reason == "recorder restart"
    assert gaps[0].count == data[500] - 500  # exactly the seqs between
    assert len(data) + gaps[0].count == 3500
    assert sample(metrics, "shijim_recorder_gap_messages_total") == gaps[0].count


def test_a_missing_ring_or_an_unwritable_dir_is_a_clear_start_error(make_ring, tmp_path):
    cfg = jsonl_only(tmp_path)
    with pytest.raises(RecorderError, match="--ring"):
        Recorder(cfg, "no-such-ring-here", ShardMetrics(0), {}).attach()
    ring = make_ring()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    import dataclasses

    bad = dataclasses.replace(cfg, raw_dir=str(blocker / "raw"))
    with pytest.raises(RecorderError, match=r"recorder\.raw_dir"):
        Recorder(bad, ring.name, ShardMetrics(0), {}).attach()
    with pytest.raises(RecorderError, match="CLICKHOUSE_DSN") as err:
        on = recorder_config(tmp_path, "x")
        Recorder(
            on, ring.name, ShardMetrics(0), {"CLICKHOUSE_DSN": "mysql://u:hunter2@h/db"}
        ).attach()
    assert "hunter2" not in str(err.value)


def test_state_dir_is_invisible_to_replay(make_ring, tmp_path):
    from shijim.gateway.replay import replay_files

    ring = make_ring()
    rec = Recorder(jsonl_only(tmp_path), ring.name, ShardMetrics(0), {})
    rec.attach()
    ring.publish_mixed(10)
    record_all(rec)
    rec._finish()
    raw = Path(rec.cfg.raw_dir)
    assert (raw / STATE_DIR / "wal.state").exists()
    assert {p.name for p in replay_files(raw, ["TXFL6", "MXFL6"])} == {
        "20260105_MXFL6.jsonl",
        "20260105_TXFL6.jsonl",
    }
    assert np.all(np.diff([r.seq for r in all_records(raw) if r.code == "TXFL6"]) > 0)


def test_read_frames_gives_each_code_in_ring_order_with_the_ring_seq(make_ring) -> None:
    ring = make_ring(slots=1024)
    reader = shijim_core.RingReader(ring.name, start="oldest")
    ring.publish_mixed(9, codes=("TXFL6", "MXFL6", "2330"))
    frames, n, lost, restarted, _epoch, bad = reader.read_frames(100, by_code=True)
    assert (n, lost, restarted, bad) == (9, 0, False, 0)
    lines = shijim_core.sbe_decode_jsonl(frames)[0].splitlines()
    got = [(r.code, r.seq) for r in map(record_from_dict_line, lines)]
    assert [c for c, _ in got] == ["2330"] * 3 + ["MXFL6"] * 3 + ["TXFL6"] * 3
    assert [s for _, s in got] == [2, 5, 8, 1, 4, 7, 0, 3, 6]
    ring.publish_mixed(3000)  # laps a 1024-slot ring
    _, n, lost, *_ = reader.read_frames(4096)
    assert n + lost == 3000 and lost > 0


def record_from_dict_line(line: bytes):
    from shijim.events import parse_line

    return parse_line(line)


def test_recorders_sharing_a_directory_check_it_at_the_same_moment(tmp_path: Path) -> None:
    """Shards on one host may share the raw and fallback directories and start together: each
    writability check uses its own probe file, so none fails for another's; an unwritable
    directory is still refused, naming the setting."""
    import threading

    from shijim.recorder.recording import writable_dir

    shared = tmp_path / "raw"
    errors: list[Exception] = []

    def check() -> None:
        for _ in range(200):
            try:
                writable_dir("raw_dir", shared)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list(shared.iterdir()) == []  # no probe left behind
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory should be
    with pytest.raises(RecorderError, match=r"recorder\.fallback_dir"):
        writable_dir("fallback_dir", blocked / "fb")
