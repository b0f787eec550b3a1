"""The simulated market generated ahead in its own process: the same chunks as in this
process, taken without waiting, a failure raised with its traceback, nothing left running."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from ring_fixture import fresh_ring
from shijim.bus import Ingestor
from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
from shijim.gateway.sim_market import SimChunk, SimulatedMarket, default_instruments
from shijim.gateway.sim_process import MarketProcess
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns

# 08:59:58: the pre-open's last seconds, the open's session events, then the session.
TUE_0859 = taipei_naive_to_utc_ns(dt.datetime(2026, 11, 24, 8, 59, 58))


def _market(seed: int = 11) -> SimulatedMarket:
    return SimulatedMarket(default_instruments(0.3), seed, TUE_0859)


def _same(a: SimChunk, b: SimChunk) -> None:
    for name in ("ticks", "bidasks", "kinds", "index", "times"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
    assert a.sessions == b.sessions


@pytest.mark.parametrize("slot_bytes", [8 << 20, 4096])  # 4 KiB: every chunk goes pickled
def test_the_process_gives_the_same_chunks_as_this_one(slot_bytes: int) -> None:
    here, there = _market(), MarketProcess(_market(), slot_bytes=slot_bytes)
    there.start()
    try:
        sessions = 0
        for _ in range(6):  # more chunks than slots: every slot is freed and written again
            expected = here.next_chunk()
            got = there.next_chunk()
            _same(got, expected)
            assert there.clock_ns == here.clock_ns
            # A read-only view of the child's slot; pickled, the chunk's own copy.
            assert got.bidasks.flags.writeable == (slot_bytes == 4096)
            sessions += len(got.sessions)
        assert sessions > 0  # the open's session events went through as well
        assert there.pickled == (6 if slot_bytes == 4096 else 0)
    finally:
        there.close()


def test_prefetch_never_waits_and_takes_what_is_finished() -> None:
    m = MarketProcess(_market())
    m.start()
    try:
        t0 = time.perf_counter()
        m.prefetch()
        assert time.perf_counter() - t0 < 0.05
        deadline = time.monotonic() + 30
        while len(m._ready) < 3 and time.monotonic() < deadline:  # three slots, three ahead
            m.prefetch()
            time.sleep(0.01)
        assert len(m._ready) == 3
        time.sleep(0.2)
        m.prefetch()
        assert len(m._ready) == 3  # the child writes no slot that was not freed
    finally:
        m.close()


def test_a_failure_in_the_process_is_raised_with_its_traceback() -> None:
    broken = _market()
    broken._states = None  # type: ignore[assignment]  # next_chunk fails over it
    m = MarketProcess(broken)
    m.start()
    try:
        with pytest.raises(RuntimeError, match=r"(?s)simulated market process failed.*TypeError"):
            m.next_chunk()
    finally:
        m.close()


def test_close_ends_the_process() -> None:
    m = MarketProcess(_market())
    m.start()
    proc = m._proc
    m.next_chunk()
    m.close()
    assert proc.poll() is not None


def test_a_feed_over_the_process_publishes_what_a_feed_over_the_market_does() -> None:
    def publish(market: SimulatedMarket | MarketProcess) -> list[dict]:
        with fresh_ring() as ring:
            ing = Ingestor(ring.writer, universe=_market().codes)
            clock = [0.0]
            feed = SimFeed(market, Pace.REALTIME, local_clock=LocalClock.EXCHANGE,
                           monotonic=lambda: clock[0], max_sim_seconds=4)  # fmt: skip
            feed.start(ing)
            try:
                while not feed.finished:
                    clock[0] += 0.013  # a poll every 13 ms of simulated time
                    feed.poll()
            finally:
                feed.stop()
            return ring.records()

    here = publish(_market())
    assert len(here) > 1000
    assert publish(MarketProcess(_market())) == here


def test_the_process_gets_no_secret_of_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runtime's environment holds broker keys and DSNs; the generator has no use for them.
    secrets = {
        "SHIOAJI_API_KEY": "key-fragment-1234",
        "SHIOAJI_SECRET_KEY": "secret-fragment-5678",
        "CLICKHOUSE_DSN": "clickhouse://u:pw-fragment@db:9000/x",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    m = MarketProcess(_market())
    m.start()
    try:
        environ = (Path("/proc") / str(m._proc.pid) / "environ").read_bytes()
    finally:
        m.close()
    for value in secrets.values():
        assert value.encode() not in environ
    assert b"PATH=" in environ  # it still starts from what it needs
