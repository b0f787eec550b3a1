"""The shared-memory ring from Python (single process): typed publish, numpy batches, loss and
restart reporting, and clear errors. Multi-process behaviour: test_ring_multiprocess.py."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from itertools import count
from pathlib import Path

import numpy as np
import pytest

import shijim_core as sc

_ids = count()


@pytest.fixture
def name() -> Iterator[str]:
    ring = f"test-ring-{os.getpid()}-{next(_ids)}"
    sc.ring_unlink(ring)
    yield ring
    sc.ring_unlink(ring)


def mantissa(px: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(px) * 1e6).astype(np.int64)


def test_dtypes_are_exported_with_the_contract_fields() -> None:
    assert sc.TICK_DTYPE.names == (
        "seq",
        "exch_ts",
        "local_ts",
        "code",
        "price",
        "volume",
        "total_volume",
        "tick_type",
        "simtrade",
    )
    assert sc.BIDASK_DTYPE["bid_px"].shape == (5,)
    assert sc.BIDASK_DTYPE["bid_px"].base == np.dtype("<f8")
    assert sc.BIDASK_DTYPE["ask_qty"].base == np.dtype("<i8")
    for dt in (sc.TICK_DTYPE, sc.BIDASK_DTYPE, sc.SNAPSHOT_DTYPE, sc.EVENT_DTYPE):
        assert dt.names[:4] == ("seq", "exch_ts", "local_ts", "code")
    assert {"open", "high", "low", "close", "bid_px", "ask_qty"} <= set(sc.SNAPSHOT_DTYPE.names)
    assert {"event", "count", "session_state", "trading_state", "reason"} <= set(
        sc.EVENT_DTYPE.names
    )


def test_each_message_type_round_trips_exactly(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    r = sc.RingReader(name)
    assert w.publish_tick("TXFL4", 10, 11, 17500.5, 3, 1000, 1, False) == 0
    assert (
        w.publish_bidask(
            "TXO17500L4",
            20,
            21,
            [Decimal("12.5"), Decimal("12")],
            [4, 5],
            np.array([13.0, 13.5, 14.0, 14.5, 15.0]),
            np.array([1, 2, 3, 4, 5]),
            True,
        )
        == 1
    )
    assert w.publish_event("trading_state", 30, 31, trading_state="HALTED", reason="kill") == 2
    snapshot = {
        "type": "snapshot",
        "code": "2330",
        "exch_ts": 40,
        "local_ts": 41,
        "open": Decimal("600"),
        "high": Decimal("612.5"),
        "low": Decimal("598"),
        "close": Decimal("610"),
        "volume": 7,
        "total_volume": 12345,
        "bid_price": Decimal("609.999999"),
        "bid_volume": 10,
        "ask_price": Decimal("610"),
        "ask_volume": 11,
    }
    assert w.publish_record(snapshot) == 3

    b = r.read(100)
    assert (len(b), b.lost, b.restarted, b.epoch, b.bad) == (4, 0, False, 1, 0)
    (t,) = b.ticks
    assert (t["seq"], t["exch_ts"], t["local_ts"], t["code"]) == (0, 10, 11, b"TXFL4")
    assert (t["price"], t["volume"], t["total_volume"], t["tick_type"]) == (17500.5, 3, 1000, 1)
    assert not t["simtrade"]
    (q,) = b.bidasks
    assert q["code"] == b"TXO17500L4" and q["seq"] == 1 and q["simtrade"]
    assert q["bid_px"].tolist() == [12.5, 12.0, 0.0, 0.0, 0.0]
    assert q["bid_qty"].tolist() == [4, 5, 0, 0, 0]
    assert q["ask_px"].tolist() == [13.0, 13.5, 14.0, 14.5, 15.0]
    (e,) = b.events
    assert e["event"] == 2 and sc.TRADING_STATE_NAMES[int(e["trading_state"])] == "HALTED"
    assert e["reason"] == b"kill" and e["code"] == b""
    (s,) = b.snapshots
    assert s["seq"] == 3 and s["total_volume"] == 12345
    assert mantissa(s["bid_px"]) == 609_999_999  # exact on the wire, recoverable from float64
    assert r.read(10).ticks.shape == (0,)


def test_batch_publish_round_trips_arrays(name: str) -> None:
    w = sc.RingWriter(name, slots=1024)
    r = sc.RingReader(name)
    n = 300
    ticks = np.zeros(n, sc.TICK_DTYPE)
    ticks["exch_ts"] = np.arange(n) * 1000
    ticks["local_ts"] = ticks["exch_ts"] + 7
    ticks["code"] = [f"C{i % 7}".encode() for i in range(n)]
    ticks["price"] = 100 + np.arange(n) * 0.05
    ticks["volume"] = np.arange(n) % 9 + 1
    ticks["total_volume"] = np.cumsum(ticks["volume"])
    ticks["tick_type"] = np.arange(n) % 3
    ticks["simtrade"] = np.arange(n) % 2 == 0
    assert w.publish_ticks(ticks) == n - 1
    quotes = np.zeros(5, sc.BIDASK_DTYPE)
    quotes["code"] = b"TXFL4"
    quotes["bid_px"] = 17500 - np.arange(5)
    quotes["ask_px"] = 17501 + np.arange(5)
    quotes["bid_qty"] = 2
    quotes["ask_qty"] = 3
    assert w.publish_bidasks(quotes) == n + 4
    assert w.publish_ticks(np.zeros(0, sc.TICK_DTYPE)) is None

    b = r.read(10_000)
    assert b.ticks["seq"].tolist() == list(range(n))
    for field in ("exch_ts", "local_ts", "code", "volume", "total_volume", "tick_type", "simtrade"):
        assert (b.ticks[field] == ticks[field]).all(), field
    assert (mantissa(b.ticks["price"]) == mantissa(ticks["price"])).all()
    assert b.bidasks["seq"].tolist() == list(range(n, n + 5))
    assert (b.bidasks["bid_px"] == quotes["bid_px"]).all()


def test_bad_rows_are_refused_before_anything_is_published(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    ticks = np.zeros(4, sc.TICK_DTYPE)
    ticks["code"] = b"TXFL4"
    ticks["price"] = [1.0, 2.0, np.nan, 4.0]
    with pytest.raises(ValueError, match=r"publish_ticks: row 2 field \"price\": NaN"):
        w.publish_ticks(ticks)
    ticks["price"][2] = 3.0
    ticks["tick_type"][3] = 9
    with pytest.raises(ValueError, match=r"row 3 field \"tick_type\": 9"):
        w.publish_ticks(ticks)
    ticks["tick_type"][3] = 0
    ticks["code"][1] = b"\xff\xfe"
    with pytest.raises(ValueError, match=r"row 1 field \"code\""):
        w.publish_ticks(ticks)
    quotes = np.zeros(2, sc.BIDASK_DTYPE)
    quotes["ask_px"][1, 3] = 1.0000001
    with pytest.raises(ValueError, match=r"row 1 field \"ask_px\": level 3: .*6 decimals"):
        w.publish_bidasks(quotes)
    assert w.next_seq == 0


@pytest.mark.parametrize(
    ("arr", "err", "pattern"),
    [
        (np.zeros(3, "f8"), TypeError, "1-D numpy array of TICK_DTYPE, got ndim=1 dtype float64"),
        (np.zeros((2, 2), "<u8"), TypeError, "ndim=2"),
        ([1, 2, 3], TypeError, "TICK_DTYPE"),
        (np.zeros(6, sc.TICK_DTYPE)[::2], ValueError, "not contiguous"),
    ],
)
def test_bad_arrays_are_clear_errors(name: str, arr: object, err: type, pattern: str) -> None:
    w = sc.RingWriter(name, slots=64)
    with pytest.raises(err, match=pattern):
        w.publish_ticks(arr)


def test_bad_values_name_the_field(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    cases = [
        (lambda: w.publish_tick("TXFL4", 1, 2, float("inf"), 1, 1), '"price": inf'),
        (lambda: w.publish_tick("TXFL4", 1, 2, "12.3456789", 1, 1), '"price"'),
        (lambda: w.publish_tick("TXFL4", 1, 2, 1e30, 1, 1), "out of range"),
        (lambda: w.publish_tick("X" * 17, 1, 2, 1.0, 1, 1), '"code"'),
        (lambda: w.publish_tick("TXFL4", 1, 2, 1.0, 1, 1, 5), '"tick_type": 5'),
        (lambda: w.publish_bidask("A", 1, 2, [1.0] * 6, [1], [1.0], [1]), "6 levels"),
        (lambda: w.publish_bidask("A", 1, 2, [1.0, "x"], [1], [1.0], [1]), r"bid_px\[1\]"),
        (lambda: w.publish_bidask("A", 1, 2, [1.0], [True], [1.0], [1]), r"bid_qty\[0\]"),
        (lambda: w.publish_event("bogus", 1, 2), '"event"'),
        (lambda: w.publish_event("session_state", 1, 2, session_state="LUNCH"), "session_state"),
        (lambda: w.publish_record({"type": "tick"}), "missing"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()
    with pytest.raises(TypeError, match="dict"):
        w.publish_record([1, 2])
    assert w.next_seq == 0  # nothing was published


def test_exact_prices_from_decimal_and_str(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    r = sc.RingReader(name)
    w.publish_tick("2330", 1, 2, Decimal("0.000001"), 1, 1)
    w.publish_tick("2330", 1, 2, "1234567.891011", 1, 1)
    w.publish_tick("2330", 1, 2, 42, 1, 1)
    assert mantissa(r.read().ticks["price"]).tolist() == [1, 1_234_567_891_011, 42_000_000]


def test_lapped_reader_reports_exact_loss(name: str) -> None:
    w = sc.RingWriter(name, slots=16)
    r = sc.RingReader(name)
    ticks = np.zeros(1000, sc.TICK_DTYPE)
    ticks["code"] = b"TXFL4"
    ticks["price"] = 1.0
    w.publish_ticks(ticks)
    assert r.lag == 1000
    b = r.read(10_000)
    assert len(b) + b.lost == 1000
    assert b.lost >= 1000 - 16 and r.lost_total == b.lost
    seqs = b.ticks["seq"]
    assert seqs[-1] == 999 and (np.diff(seqs.astype(np.int64)) == 1).all()
    assert r.lag == 0


def test_writer_restart_is_reported_and_never_mixed_into_a_batch(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    r = sc.RingReader(name)
    for i in range(3):
        w.publish_tick("TXFL4", i, i, 1.0, 1, 1)
    assert len(r.read(2)) == 2  # the first writer's third message is left unread
    with pytest.raises(sc.RingWriterExistsError, match="another writer"):
        sc.RingWriter(name, slots=64)
    w.close()
    assert r.writer_closed
    with pytest.raises(sc.RingError, match="closed"):
        w.publish_tick("TXFL4", 1, 1, 1.0, 1, 1)

    w2 = sc.RingWriter(name, slots=64)
    assert (w2.epoch, w2.next_seq) == (2, 3)  # seq continues: the recorder never sees it reset
    w2.publish_tick("TXFL4", 9, 9, 2.0, 1, 1)
    # The old writer's last message is still delivered, then the restart, in its own batch.
    b = r.read(100)
    assert (b.ticks["seq"].tolist(), b.restarted, b.epoch, b.lost) == ([2], False, 1, 0)
    b = r.read(100)
    assert (b.ticks["seq"].tolist(), b.restarted, b.epoch, b.lost) == ([3], True, 2, 0)
    assert (r.restarts, r.lost_total, r.epoch) == (1, 0, 2)

    # A restart right after messages already in a batch ends that batch; the next one is flagged.
    w2.publish_tick("TXFL4", 10, 10, 2.0, 1, 1)
    w2.close()
    w3 = sc.RingWriter(name, slots=64)
    w3.publish_tick("TXFL4", 11, 11, 3.0, 1, 1)
    first = r.read(100)
    second = r.read(100)
    assert (first.ticks["seq"].tolist(), first.restarted, first.epoch) == ([4], False, 2)
    assert (second.ticks["seq"].tolist(), second.restarted, second.epoch) == ([5], True, 3)
    w3.close()


def test_read_records_gives_dicts_with_the_ring_seq(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    r = sc.RingReader(name, start="oldest")
    w.publish_tick("TXFL4", 5, 6, 17500.25, 2, 3, 2, True)
    w.publish_record({"type": "event", "code": "", "exch_ts": 1, "local_ts": 2, "seq": 999,
                      "event": "feed_gap", "session_state": None, "trading_state": None,
                      "count": 4, "reason": "gap"})  # fmt: skip
    recs = r.read_records(10)
    assert [x["seq"] for x in recs] == [0, 1]
    assert recs[0]["type"] == "tick" and recs[0]["price"] == Decimal("17500.25")
    assert recs[1]["event"] == "feed_gap" and recs[1]["count"] == 4


def test_payloads_that_are_not_sbe_are_counted_and_dropped(name: str) -> None:
    w = sc.RingWriter(name, slots=64)
    r = sc.RingReader(name)
    w.publish_bytes(b"not an sbe message")
    w.publish_tick("TXFL4", 1, 1, 1.0, 1, 1)
    b = r.read()
    assert (b.bad, len(b), r.bad_total) == (1, 1, 1)
    with pytest.raises(sc.RingError, match="does not fit"):
        w.publish_bytes(bytes(249))


def test_payload_that_is_not_sbe_names_the_ring_and_slot(name: str) -> None:
    w = sc.RingWriter(name, slots=8)
    r = sc.RingReader(name)
    assert r.last_bad is None
    w.publish_bytes(b"x" * 5)
    w.publish_bytes(b"y" * 7)
    assert r.read().bad == 2
    assert r.last_bad.startswith(f"ring {sc.ring_path(name)}: slot 1 (seq 1): 7-byte payload")


# Slot words (docs/ring.md): ((seq + 1) << 8) | len, len 0xFF = being written.
def _word(seq: int, len_code: int) -> bytes:
    return struct.pack("=Q", ((seq + 1) << 8) | len_code)


# Runs in a child interpreter so that a reader spinning while holding the GIL (the bug: the
# whole runtime froze) fails the test on its timeout instead of hanging the suite. A second
# thread beats while the main thread reads: it must keep running.
_READ_CORRUPTED = """
import json, sys, threading, time
import shijim_core as sc
beats = 0
stop = False
def beat():
    global beats
    while not stop:
        beats += 1
        time.sleep(0.001)
t = threading.Thread(target=beat)
t.start()
r = sc.RingReader(sys.argv[1], start="oldest")
t0 = time.monotonic()
first = r.read(16)
recs = r.read_records(16)
slowest = time.monotonic() - t0
deadline = time.monotonic() + 0.3
calls = 0
while time.monotonic() < deadline:
    t1 = time.monotonic()
    r.read(4096)
    slowest = max(slowest, time.monotonic() - t1)
    calls += 1
stop = True
t.join()
print(json.dumps({"bad": first.bad, "lost": first.lost, "n": len(first), "records": len(recs),
                  "bad_total": r.bad_total, "last_bad": r.last_bad, "beats": beats,
                  "calls": calls, "slowest": slowest}))
"""


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda i: _word(5, 250), id="length-code-no-writer-writes"),
        pytest.param(lambda i: _word(i + 8 * (1 << 40), 20), id="seq-from-the-future"),
        pytest.param(lambda i: _word(i + 1, 20), id="seq-of-another-slot"),
        pytest.param(lambda i: _word(i + 8 * 1000, 0xFF), id="being-written-far-ahead"),
        pytest.param(lambda i: _word(i, 0xFF), id="being-written-forever"),
    ],
)
def test_corrupted_slot_words_never_hang_a_read(name: str, corrupt: object) -> None:
    w = sc.RingWriter(name, slots=8)
    for i in range(3):
        w.publish_tick("TXFL4", i, i, 1.0, 1, 1)
    path = Path(sc.ring_path(name))
    with path.open("r+b") as f:  # valid header; every slot word replaced
        for i in range(8):
            f.seek(4096 + 256 * i)
            f.write(corrupt(i))  # type: ignore[operator]
    proc = subprocess.run(
        [sys.executable, "-c", _READ_CORRUPTED, name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # Seqs 0..2 were published: each is a counted skip, nothing counts as a loss, no message.
    assert (out["n"], out["records"], out["lost"]) == (0, 0, 0), out
    assert out["bad_total"] == 3, out
    assert out["last_bad"].startswith(f"ring {path}: slot 2 (seq 2) holds word"), out
    # Every call returned at once and the other thread kept running throughout.
    assert out["slowest"] < 0.05 and out["calls"] > 10 and out["beats"] > 10, out
    w.close()


def test_another_thread_runs_while_a_reader_waits_for_its_ring(name: str) -> None:
    beats = 0
    stop = threading.Event()

    def beat() -> None:
        nonlocal beats
        while not stop.is_set():
            beats += 1
            time.sleep(0.001)

    t = threading.Thread(target=beat)
    t.start()
    try:
        with pytest.raises(sc.RingError, match="open for reading"):
            sc.RingReader(name, wait=0.3)
    finally:
        stop.set()
        t.join()
    assert beats > 50


def test_writer_state_tells_a_quiet_writer_from_a_closed_one(name: str) -> None:
    w = sc.RingWriter(name, slots=8)
    r = sc.RingReader(name)
    # Nothing published: a quiet market, but the writer is there.
    assert [r.writer_state() for _ in range(3)] == ["alive"] * 3
    assert len(r.read()) == 0
    w.close()
    assert r.writer_state() == "closed"
    # Probing never takes the writer's lock: a new writer gets in while readers probe.
    w2 = sc.RingWriter(name, slots=8)
    assert r.writer_state() == "alive"
    w2.close()
    # A writer that died without closing: the lock went with it, the header still says open.
    path = Path(sc.ring_path(name))
    data = bytearray(path.read_bytes())
    data[60:64] = (1).to_bytes(4, sys.byteorder)
    path.write_bytes(bytes(data))
    assert r.writer_state() == "gone"


def test_attach_errors_are_clear(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bad ring name .*position 1"):
        sc.RingWriter("a/b")
    with pytest.raises(ValueError, match="power of two"):
        sc.RingWriter(name, slots=1000)
    with pytest.raises(sc.RingError, match="open for reading"):
        sc.RingReader(name)
    with pytest.raises(ValueError, match="start="):
        sc.RingReader(name, start="middle")
    Path(sc.ring_path(name)).write_bytes(b"GIF89a" + bytes(8000))
    with pytest.raises(sc.RingError, match="not a shijim ring"):
        sc.RingReader(name)
    with pytest.raises(sc.RingError, match="not a shijim ring"):
        sc.RingWriter(name, slots=64)
    sc.ring_unlink(name)
    sc.RingWriter(name, slots=64).close()
    with pytest.raises(sc.RingError, match="slot_count is 64, expected 128"):
        sc.RingWriter(name, slots=128)
    with pytest.raises(sc.RingError, match="open for writing"):
        sc.RingWriter(name + "-missing", slots=64, create=False)


def test_wrong_layout_and_geometry_in_the_header_are_named(name: str) -> None:
    sc.RingWriter(name, slots=8).close()
    path = Path(sc.ring_path(name))
    good = path.read_bytes()
    for offset, value, pattern in [
        (8, (99).to_bytes(4, "little"), "layout_version is 99, this build reads 1"),
        (24, (128).to_bytes(4, "little"), "slot_size is 128, expected 256"),
        (16, (12).to_bytes(8, "little"), "slot_count is 12, not a power of two"),
        (16, (16).to_bytes(8, "little"), "file size is 6144, expected 8192"),
    ]:
        path.write_bytes(good[:offset] + value + good[offset + len(value) :])
        with pytest.raises(sc.RingError, match=pattern):
            sc.RingReader(name)
    path.write_bytes(good[: 4096 + 100])
    with pytest.raises(sc.RingError, match="file size is 4196"):
        sc.RingReader(name)
    path.write_bytes(good)
    assert sc.RingReader(name).slots == 8


def test_reader_can_wait_for_a_writer_that_is_starting(name: str) -> None:
    def start_writer() -> None:
        time.sleep(0.1)
        sc.RingWriter(name, slots=8).close()

    t = threading.Thread(target=start_writer)
    t.start()
    t0 = time.monotonic()
    r = sc.RingReader(name, wait=10.0)
    t.join()
    assert 0.05 < time.monotonic() - t0 < 5 and r.slots == 8
    t0 = time.monotonic()
    with pytest.raises(sc.RingError, match="open for reading"):
        sc.RingReader(name + "-never", wait=0.1)
    assert time.monotonic() - t0 >= 0.1
    with pytest.raises(ValueError, match="wait="):
        sc.RingReader(name, wait=-1)


def test_reader_learns_that_its_ring_file_was_replaced(name: str) -> None:
    sc.RingWriter(name, slots=8).close()
    r = sc.RingReader(name)
    assert not r.file_replaced
    sc.ring_unlink(name)
    assert r.file_replaced
    sc.RingWriter(name, slots=8).close()
    assert r.file_replaced and not sc.RingReader(name).file_replaced


def test_ring_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIJIM_RING_DIR", str(tmp_path))
    assert sc.ring_path("x") == str(tmp_path / "shijim-ring.x")
    with sc.RingWriter("x", slots=8) as w:
        w.publish_tick("TXFL4", 1, 1, 1.0, 1, 1)
    assert (tmp_path / "shijim-ring.x").stat().st_size == 4096 + 8 * 256


def test_wait_releases_the_gil_and_returns_when_a_python_thread_publishes(name: str) -> None:
    """The pinned trading loop's idle wait: another Python thread (a broker callback) must be
    able to run and publish while it waits; a wait holding the GIL would time out instead."""
    w = sc.RingWriter(name, slots=1024, create=True)
    r = sc.RingReader(name)
    try:
        t0 = time.perf_counter()
        assert r.wait(2_000_000) is False  # nothing published: the whole timeout
        assert time.perf_counter() - t0 >= 0.002

        def callback() -> None:
            time.sleep(0.02)
            w.publish_bidask("TXFL6", 1, time.time_ns(), [1.0] * 5, [1] * 5, [2.0] * 5, [1] * 5,
                             False)  # fmt: skip

        t = threading.Thread(target=callback)
        t0 = time.perf_counter()
        t.start()
        assert r.wait(900_000_000) is True
        assert time.perf_counter() - t0 < 0.5
        t.join()
        assert len(r.read(16)) == 1
        assert r.wait(0) is False  # read: nothing new
    finally:
        w.close()
