"""The ClickHouse sink in a process of its own, beside the capture (``python -m shijim record``).

Why: the embedded ClickHouse (chdb) holds the GIL for the whole of an insert, so in the
capture's process every insert would stop the ring reading and the JSONL writing; apart, the
two use two cores (bench/recorder.py). The link is a socket pair:

- capture -> sink: each acknowledged chunk as rows (the ring rows the capture decoded, numpy
  bytes: no text is parsed again) with its file ranges; ``acked`` sizes (at start, and for
  chunks that could not be sent); ``stop``. The capture never waits: a full link drops the
  chunk and the sink reads those ranges back from the files (what it does after any restart).
- sink -> capture: its metric values twice a second (applied to the capture's metrics, so one
  process exports everything), and ``stopped``.

A sink process that dies is started again; only one runs per cursor (a lock file), so an old
one still finishing cannot interleave with the new one.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import shijim_core
from shijim.events import parse_line_reference
from shijim.recorder.capture import _NO_OFFSETS, Captured
from shijim.recorder.settings import ClickHouseConfig, RecorderConfig
from shijim.recorder.wal import STATE_DIR, Appended

log = logging.getLogger(__name__)

_TICK = np.dtype(shijim_core.TICK_DTYPE)
_BIDASK = np.dtype(shijim_core.BIDASK_DTYPE)
CHUNK, CONTROL = b"C", b"J"  # the first byte of a message on the link
MAX_LINK_ROWS = 1_000_000  # rows waiting to be sent; beyond, chunks are read back from files
# The capture hands chunks over in batches: the sender wakes when LINK_BATCH_ROWS are queued or
# LINK_BATCH_S after it last sent, not for every millisecond's chunk. The sink batches ClickHouse
# inserts by 10k rows or 1 s anyway; a wake-up (a thread, a socket write, the sink process) per
# millisecond cost the recorder ~20 % of a core at 2000 events/s, and what runs beside the
# trading CPU slows it (docs/recorder.md#performance).
LINK_BATCH_ROWS = 8192
LINK_BATCH_S = 0.1
START_S = 60.0
STOP_S = 30.0


def encode_chunk(chunk: Appended) -> bytes:
    """One chunk for the link: a JSON head, then the row arrays' bytes."""
    e = chunk.entries
    head = {
        "files": chunk.files,
        "ranges": chunk.ranges,
        "n": len(e),
        "ticks": int(e.ticks.size),
        "books": int(e.books.size),
        "records": [(r.type.value, _record_line(r)) for r in e.records],
    }
    h = json.dumps(head).encode()
    arrays = (e.kinds, e.exch_ts, chunk.file_of.astype(np.int32), e.ticks, e.books)
    return b"".join([CHUNK, struct.pack("<I", len(h)), h, *(a.tobytes() for a in arrays)])


def _record_line(record: Any) -> str:
    from shijim.events import format_record

    return format_record(record)


def control(obj: Mapping[str, Any]) -> bytes:
    return CONTROL + json.dumps(obj).encode()


def decode_chunk(data: bytes) -> Appended:
    (hlen,) = struct.unpack_from("<I", data, 1)
    head = json.loads(data[5 : 5 + hlen])
    n, nt, nb = head["n"], head["ticks"], head["books"]
    at = 5 + hlen
    kinds = np.frombuffer(data, np.uint8, n, at)
    at += n
    exch = np.frombuffer(data, np.int64, n, at)
    at += 8 * n
    file_of = np.frombuffer(data, np.int32, n, at).astype(np.int64)
    at += 4 * n
    ticks = np.frombuffer(data, _TICK, nt, at)
    at += _TICK.itemsize * nt
    books = np.frombuffer(data, _BIDASK, nb, at)
    records = [parse_line_reference(line, source="sink link") for _t, line in head["records"]]
    entries = Captured.of_rows(b"", _NO_OFFSETS, None, kinds, ticks, books, records, exch)
    ranges = [tuple(r) for r in head["ranges"]]
    return Appended(entries, list(head["files"]), ranges, file_of)  # type: ignore[arg-type]


class SinkLink:
    """The capture's end: offers chunks (never blocking), supervises the sink process,
    relays its metrics. Same surface as ClickHouseSink for the recorder."""

    def __init__(
        self,
        cfg: RecorderConfig,
        shard: str,
        env: Mapping[str, str],
        acked: Callable[[], tuple[int, dict[str, int]]],
        apply_report: Callable[[Mapping[str, Any]], None],
        restarted: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.shard = shard
        self.env = dict(env)
        self.acked = acked
        self.apply_report = apply_report
        self.restarted = restarted
        self.queue: list[Appended] = []
        self.queued = 0
        self.cond = threading.Condition()
        self.missed: set[str] = set()  # files of dropped chunks: their sizes go in the next
        self.stopping = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.sent_rows = 0
        self.dropped_chunks = 0
        self._threads: list[threading.Thread] = []  # the report receivers
        self._sender: threading.Thread | None = None
        state = Path(cfg.raw_dir) / STATE_DIR
        state.mkdir(parents=True, exist_ok=True)
        self.config_file = state / "sink-config.yaml"

    def offer(self, chunk: Appended) -> None:
        n = len(chunk.entries)
        with self.cond:
            if self.queued + n > MAX_LINK_ROWS or self.conn is None:
                self.dropped_chunks += 1
                self.missed.update(chunk.files)
                return
            self.queue.append(chunk)
            self.queued += n
            if self.queued >= LINK_BATCH_ROWS:
                self.cond.notify()

    def start(self) -> None:
        import dataclasses

        self.config_file.write_text(yaml.safe_dump({"recorder": dataclasses.asdict(self.cfg)}))
        self._spawn()
        self._sender = threading.Thread(target=self._send_loop, name="shijim-sink-link",
                                        daemon=True)  # fmt: skip
        self._sender.start()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "shijim.recorder.sink_process", "--fd", str(theirs.fileno()),
                "--config", str(self.config_file), "--shard", self.shard,
                "--log-level", logging.getLevelName(logging.getLogger().level)]  # fmt: skip
        self.proc = subprocess.Popen(argv, env=self.env, pass_fds=(theirs.fileno(),),
                                     stdin=subprocess.DEVNULL)  # fmt: skip
        theirs.close()
        conn = Connection(ours.detach())
        _, sizes = self.acked()
        conn.send_bytes(control({"acked": sizes}))
        with self.cond:
            self.conn = conn
            self.missed.clear()
        t = threading.Thread(target=self._receive_loop, args=(conn, self.proc),
                             name="shijim-sink-reports", daemon=True)  # fmt: skip
        t.start()
        self._threads.append(t)

    def _send_loop(self) -> None:
        while True:
            with self.cond:
                # What is queued goes every LINK_BATCH_S, sooner when a batch is full or on a
                # stop (both notify).
                if not self.stopping and self.queued < LINK_BATCH_ROWS:
                    self.cond.wait(LINK_BATCH_S)
                if not self.queue:
                    if self.stopping:
                        return
                    continue
                batch, self.queue, self.queued = self.queue, [], 0
                missed, self.missed = self.missed, set()
                conn = self.conn
            if conn is None:
                continue
            try:
                if missed:
                    sizes = self.acked()[1]
                    conn.send_bytes(control({"acked": {f: sizes.get(f, 0) for f in missed}}))
                for chunk in batch:
                    conn.send_bytes(encode_chunk(chunk))
            except OSError:
                with self.cond:  # the sink is gone: the supervisor starts another
                    self.missed.update(f for c in batch for f in c.files)

    def _receive_loop(self, conn: Connection, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                report = json.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            if "rows" in report:
                self.apply_report(report)
                self.sent_rows = int(report["rows"].get("clickhouse", 0))
        code = proc.wait()
        with self.cond:
            if self.conn is conn:
                self.conn = None
            stopping = self.stopping
        conn.close()
        if stopping:
            return
        log.error("recorder sink process exited (status %s); starting it again", code)
        self.restarted()
        time.sleep(1.0)
        with self.cond:
            if self.stopping:
                return
        self._spawn()

    def stop(self, timeout: float = STOP_S) -> None:
        """Send what is queued, tell the sink to finish (send what is acknowledged), wait."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        if self._sender is not None:
            self._sender.join(timeout)
        with self.cond:
            conn, proc = self.conn, self.proc
            missed, self.missed = self.missed, set()
        if conn is not None:
            try:
                sizes = self.acked()[1]
                if missed:
                    conn.send_bytes(control({"acked": {f: sizes[f] for f in missed if f in sizes}}))
                conn.send_bytes(control({"stop": True}))
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("recorder sink still busy after %.0f s; killed (the files keep the"
                          " rest; the next start sends it)", timeout)  # fmt: skip
                proc.kill()
                proc.wait()
        for t in self._threads:
            t.join(2.0)


def _lock(path: Path, wait_s: float) -> int:
    """An exclusive lock on the sink's cursor (a sink of an earlier process may still be
    finishing); the fd holds it until the process ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            if not said:
                log.warning("recorder sink: waiting for the previous sink process to finish")
                said = True
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shijim.recorder.sink_process")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--shard", default="0")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    from shijim.metrics import ShardMetrics
    from shijim.recorder.beside import snapshot
    from shijim.recorder.dsn import target_from_env
    from shijim.recorder.settings import FsyncPolicy
    from shijim.recorder.sink import ClickHouseSink

    raw = dict(yaml.safe_load(Path(args.config).read_text())["recorder"])
    # Written by SinkLink from a checked RecorderConfig (dataclasses.asdict).
    cfg = RecorderConfig(**{**raw, "clickhouse": ClickHouseConfig(**raw["clickhouse"])})
    conn = Connection(args.fd)
    metrics = ShardMetrics(args.shard)
    target = target_from_env(os.environ, cfg.raw_dir)
    state = Path(cfg.raw_dir) / STATE_DIR
    lock = _lock(state / f"sink-{target.key}.lock", START_S)
    acked: dict[str, int] = {}
    version = [0]
    first = json.loads(conn.recv_bytes()[1:])
    acked.update(first.get("acked", {}))

    def report(cause: str, message: str, count: int = 1) -> None:
        if count:
            metrics.recorder_error(cause, count)
        if message:
            log.warning("recorder: %s", message)

    sink = ClickHouseSink(
        cfg.clickhouse,
        target,
        Path(cfg.raw_dir),
        Path(cfg.fallback_dir),
        lambda: (version[0], dict(acked)),
        report,
        durable=cfg.fsync_policy is not FsyncPolicy.OFF,
        on_rows=lambda s, n: metrics.recorder_rows(s, n),
        on_state=lambda active, rows, lag: (
            metrics.recorder_fallback(active),
            metrics.recorder_backlog(rows, lag),
        ),
    )
    sink.start()
    done = threading.Event()

    def reports() -> None:
        while not done.wait(0.5):
            try:
                conn.send_bytes(json.dumps(snapshot(metrics)).encode())
            except OSError:
                return

    threading.Thread(target=reports, name="shijim-sink-report", daemon=True).start()
    try:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                break  # the capture is gone: send what is acknowledged, then stop
            if data[:1] == CONTROL:
                msg = json.loads(data[1:])
                if msg.get("stop"):
                    break
                sizes = msg.get("acked", {})
                for name, size in sizes.items():
                    acked[name] = max(acked.get(name, 0), int(size))
                with sink._queue_lock:
                    sink.missed.update(sizes)
                version[0] += 1
                continue
            chunk = decode_chunk(data)
            for name, (_start, end) in zip(chunk.files, chunk.ranges, strict=True):
                acked[name] = max(acked.get(name, 0), end)
            version[0] += 1
            sink.offer(chunk)
    finally:
        sink.stop(STOP_S - 5)
        done.set()
        try:
            conn.send_bytes(json.dumps(snapshot(metrics)).encode())
        except OSError:
            pass
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
