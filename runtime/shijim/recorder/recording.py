"""The recorder: the ring -> raw JSONL (the write-ahead log) -> ClickHouse (docs/recorder.md).

Threads: capture (reads the ring as its own reader, writes the files, hands acknowledged chunks
to the sink), the sink (ClickHouse, fallback, retries), and under ``fsync: interval`` the syncer.
Nothing here is on the trading thread, and the ring's writer never waits for a reader: a
recorder that falls a ring behind loses messages, and writes a ``feed_gap`` record saying
exactly how many (``shijim_recorder_gap_messages_total``).

``python -m shijim record --ring NAME`` runs one in a process of its own (``Recorder.run``, the
ClickHouse sink in another: ``sink_process=True``); ``python -m shijim run ... --record`` starts
that command beside the trading process (shijim.recorder.beside). ``Recorder.start`` runs the
same on threads of the calling process (tests, tools).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shijim.metrics import RecorderErrorCause, RecorderSink, ShardMetrics
from shijim.recorder.capture import Captured, RingTap, gap_record
from shijim.recorder.dsn import DsnError, target_from_env
from shijim.recorder.settings import FsyncPolicy, RecorderConfig
from shijim.recorder.wal import Appended, RawLog

log = logging.getLogger(__name__)

READER = "recorder"  # the ring reader's label in shijim_ring_lag_messages / _lost_total
# The capture reads the ring in batches: after a read that was not full it sleeps for as long as
# a writer publishing at RING_PUBLISH_CEILING messages/s (above anything the runtime's feeds reach:
# ~2 M/s for the SBE replay, bench/runtime.py) could fill at most half the ring, capped at
# CAPTURE_IDLE_MAX_S: 4 ms with the default 65,536 slots. Reading every millisecond cost the
# recorder ~1000 wake-ups a second and ~20 % of a core at 2000 events/s (docs/recorder.md).
RING_PUBLISH_CEILING = 4_000_000
CAPTURE_IDLE_MAX_S = 0.004


def capture_idle_s(slots: int) -> float:
    """The capture's sleep between reads of a ring of ``slots`` that were not full."""
    return min(CAPTURE_IDLE_MAX_S, slots / 2 / RING_PUBLISH_CEILING)


DISK_RETRY_S = 1.0
DRAIN_S = 5.0


class RecorderError(ValueError):
    """The recorder cannot start; ``field`` names the setting (or env variable) at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def writable_dir(name: str, path: Path) -> None:
    """Create ``path`` if needed and check that files can be written there, or raise
    RecorderError naming ``recorder.<name>``. The probe file is this call's own: recorders of
    several shards on one host may share the directories and check them at the same moment."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".recorder-write-test-"):
            pass
    except OSError as exc:
        raise RecorderError(f"recorder.{name}", f"{path}: {exc.strerror}") from None


@dataclass
class _Throttle:
    """At most ``burst`` log lines per cause a minute; the rest are counted and summarised."""

    burst: int = 5
    window: float = 60.0
    seen: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def allow(self, cause: str) -> tuple[bool, int]:
        now = time.monotonic()
        start, shown, hidden = self.seen.get(cause, (now, 0, 0))
        if now - start >= self.window:
            self.seen[cause] = (now, 1, 0)
            return True, hidden
        if shown < self.burst:
            self.seen[cause] = (start, shown + 1, hidden)
            return True, 0
        self.seen[cause] = (start, shown, hidden + 1)
        return False, 0


@dataclass
class RecorderCounts:
    rows: int = 0  # entries written to the files (gap records included)
    gaps: int = 0  # gap records
    lost: int = 0  # messages the gap records count
    bad: int = 0  # ring messages refused


class Recorder:
    """One recorder of one ring. ``attach`` (fails fast: no ring, bad dirs, bad DSN), then
    ``start`` (threads) or ``run`` (the capture loop on the calling thread); ``stop`` drains."""

    def __init__(
        self,
        cfg: RecorderConfig,
        ring: str,
        metrics: ShardMetrics,
        env: Mapping[str, str],
        *,
        wait_s: float = 0.0,
        max_messages: int = 4096,
        clock_ns: Callable[[], int] = time.time_ns,
        sink_process: bool = False,
    ) -> None:
        self.cfg = cfg
        self.ring_name = ring
        self.metrics = metrics
        self.env = env
        self.wait_s = wait_s
        self.max_messages = max_messages
        self.clock_ns = clock_ns
        # The ClickHouse sink in a process of its own (``record``) or on a thread (tests).
        self.sink_process = sink_process
        self.counts = RecorderCounts()
        self.throttle = _Throttle()
        self.tap: RingTap | None = None
        self.wal: RawLog | None = None
        self.sink: Any = None  # ClickHouseSink (a thread) or SinkLink (a process)
        self.resume: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []  # sink-side helpers (the syncer)
        self._capture: threading.Thread | None = None
        self._stopped = False
        self.error: BaseException | None = None

    # -- reporting ---------------------------------------------------------------------------
    def report(self, cause: str, message: str, count: int = 1) -> None:
        """Count ``count`` errors of ``cause`` and log ``message`` (throttled per cause)."""
        if count:
            self.metrics.recorder_error(RecorderErrorCause(cause).value, count)
        if not message:
            return
        show, hidden = self.throttle.allow(cause)
        if show:
            more = f" ({hidden} more {cause} messages not shown)" if hidden else ""
            log.warning("recorder: %s%s", message, more)

    def _on_bad_row(self, message: str, count: int) -> None:
        self.counts.bad += count
        self.report("bad_row", message, count)

    # -- lifecycle ---------------------------------------------------------------------------
    def attach(self) -> None:
        import shijim_core

        cfg = self.cfg
        for name in ("raw_dir", "fallback_dir"):
            writable_dir(name, Path(getattr(cfg, name)))
        target = None
        if cfg.clickhouse.enabled:
            try:
                target = target_from_env(self.env, cfg.raw_dir)
            except DsnError as exc:
                raise RecorderError("env CLICKHOUSE_DSN", str(exc).partition(": ")[2]) from None
        try:
            self.tap = RingTap(
                self.ring_name,
                start="oldest",
                wait_s=self.wait_s,
                max_messages=self.max_messages,
                on_bad=self._on_bad_row,
                clock_ns=self.clock_ns,
            )
        except (shijim_core.RingError, ValueError) as exc:
            raise RecorderError("--ring", str(exc)) from None
        self.metrics.declare_reader(READER)
        self.wal = RawLog(cfg.raw_dir, cfg.fsync_policy, self.report)
        self.resume = self.wal.recover(self.tap.identity())
        if self.resume is not None:
            log.info("recorder: resuming ring %s at seq %d", self.ring_name, self.resume)
        if target is not None and self.sink_process:
            from shijim.recorder.beside import Relay
            from shijim.recorder.sink_process import SinkLink

            relay = Relay(self.metrics, sink_only=True)

            def restarted() -> None:
                relay.restart()
                self.metrics.recorder_error(RecorderErrorCause.RESTART.value)

            self.sink = SinkLink(
                cfg, self.metrics.shard, self.env, self.wal.acked_sizes, relay.apply, restarted
            )
        elif target is not None:
            from shijim.recorder.sink import ClickHouseSink  # pyarrow: the clickhouse extra

            self.sink = ClickHouseSink(
                cfg.clickhouse,
                target,
                Path(cfg.raw_dir),
                Path(cfg.fallback_dir),
                self.wal.acked_sizes,
                self.report,
                durable=cfg.fsync_policy is not FsyncPolicy.OFF,
                on_rows=lambda sink, n: self.metrics.recorder_rows(sink, n),
                on_state=self._sink_state,
            )
        log.info(
            "recorder on ring %s: %s, fsync %s%s",
            self.ring_name,
            cfg.raw_dir,
            cfg.fsync,
            f", {target.describe()} (database {cfg.clickhouse.database})" if target else "",
        )

    def _sink_state(self, active: bool, backlog: int, lag: float) -> None:
        self.metrics.recorder_fallback(active)
        self.metrics.recorder_backlog(backlog, lag)

    def start(self) -> None:
        """Capture (and the syncer) on threads of their own; the sink on its own."""
        self._start_helpers()
        self._capture = threading.Thread(
            target=self._capture_loop, name="shijim-recorder", daemon=True
        )
        self._capture.start()

    def _start_helpers(self) -> None:
        if self.sink is not None:
            self.sink.start()
        if self.cfg.fsync_policy is FsyncPolicy.INTERVAL:
            t = threading.Thread(target=self._sync_loop, name="shijim-recorder-fsync", daemon=True)
            t.start()
            self._threads.append(t)

    def run(self, stop: threading.Event, *, exit_on_close: bool = False) -> None:
        """The capture loop on this thread until ``stop`` (or, with ``exit_on_close``, until
        the writer closed the ring and all of it is recorded); then drain and stop."""
        self._start_helpers()
        try:
            self._loop(stop, exit_on_close)
        finally:
            self._finish()

    def stop(self) -> None:
        """Record what the ring still holds (bounded), send what is acknowledged, close."""
        self._stop.set()
        if self._capture is not None:
            self._capture.join(DRAIN_S + 5.0)
        self._finish()

    # -- capture -----------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        try:
            self._loop(self._stop, exit_on_close=False)
        except BaseException as exc:
            self.error = exc
            log.exception("recorder capture failed; the ring keeps running without it")

    def _loop(self, stop: threading.Event, exit_on_close: bool) -> None:
        next_check = 0.0
        while not stop.is_set():
            if self.step() >= self.max_messages:
                continue  # behind the writer: read on at once
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.5
                if self._writer_done(exit_on_close):
                    return
            time.sleep(capture_idle_s(self.tap.reader.slots))  # the ring followed now
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and self.step():
            pass

    def _writer_done(self, exit_on_close: bool) -> bool:
        """When idle: a closed ring ends the run (``exit_on_close``); a ring re-created under
        the same name (a restarted runtime) is attached again."""
        tap = self.tap
        assert tap is not None
        if tap.reader.writer_state() != "closed":
            return False
        if exit_on_close:
            return True
        if tap.reader.file_replaced:
            try:
                new = RingTap(
                    self.ring_name,
                    start="oldest",
                    max_messages=self.max_messages,
                    on_bad=self._on_bad_row,
                    clock_ns=self.clock_ns,
                )
            except Exception:  # the new ring is not ready yet: next time
                return False
            log.info("recorder: ring %s was created again; following the new one", tap.name)
            self.tap = new
            assert self.wal is not None
            self.wal.follow(new.identity())
            self.resume = None
        return False

    def step(self) -> int:
        """One ring read recorded; returns the messages read (0: nothing new)."""
        tap, wal = self.tap, self.wal
        assert tap is not None and wal is not None
        read = tap.read()
        self.metrics.ring_reader(READER, tap.lag, read.lost)
        if read.gap is not None:
            self._gap(read.gap.seq, read.lost, read.gap.exch_ts, read.gap.reason)
        entries = read.entries
        if self.resume is not None and len(entries):
            entries = self._resumed(entries)
        if len(entries):
            self._append(entries, int(entries.seqs.max()) + 1)
        return len(read.entries) + read.bad

    def _resumed(self, entries: Captured) -> Captured:
        """After a restart on the same ring: leave out what the files already hold, and count
        what the ring no longer holds as a gap."""
        resume = self.resume
        assert resume is not None
        keep = entries.seqs >= resume
        if not keep.all():
            entries = entries.take(keep)
        if len(entries):
            i = int(np.argmin(entries.seqs))
            first = int(entries.seqs[i])
            if first > resume:
                self._gap(first, first - resume, int(entries.exch_ts[i]), "recorder restart")
            self.resume = None
        return entries

    def _gap(self, seq: int, lost: int, exch_ts: int, reason: str) -> None:
        now = self.clock_ns()
        record = gap_record(seq, lost, exch_ts or now, now, reason)
        self.counts.gaps += 1
        self.counts.lost += lost
        if lost:
            self.metrics.recorder_gap(lost)
        log.warning("recorder: %d messages lost before seq %d (%s)", lost, seq, reason)
        self._append(Captured.of_records([record]), seq)

    def _append(self, entries: Captured, next_seq: int) -> None:
        wal = self.wal
        assert wal is not None
        while True:
            try:
                appended = wal.append(entries, next_seq)
                break
            except OSError as exc:
                self.report("disk", f"{wal.dir}: cannot write: {exc.strerror}; retrying", 1)
                if self._stop.wait(DISK_RETRY_S):
                    log.error("recorder: stopping with %d rows not written", len(entries))
                    return
        n = len(appended.entries)
        self.counts.rows += n
        self.metrics.recorder_rows(RecorderSink.JSONL.value, n)
        if self.sink is not None and n:
            self.sink.offer(
                Appended(
                    appended.entries.without_text(),
                    appended.files,
                    appended.ranges,
                    appended.file_of,
                )
            )

    def _sync_loop(self) -> None:
        interval = self.cfg.fsync_interval_ms / 1000
        while not self._stop.wait(interval):
            self._sync()

    def _sync(self) -> None:
        if self.wal is None:
            return
        try:
            self.wal.sync()
        except OSError as exc:
            self.report("disk", f"{self.wal.dir}: fsync failed: {exc.strerror}", 1)

    def _finish(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        if self.sink is not None:
            self.sink.stop()
        if self.wal is not None:
            self.wal.close()
        log.info(
            "recorder stopped: %d rows written (%d gap records, %d messages lost, %d bad rows)%s",
            self.counts.rows,
            self.counts.gaps,
            self.counts.lost,
            self.counts.bad,
            f", {self.sink.sent_rows} rows sent to ClickHouse" if self.sink is not None else "",
        )
