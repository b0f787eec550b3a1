"""The ClickHouse sink: follows the raw JSONL log into ClickHouse, block by block, idempotently.

What is in ClickHouse is always a prefix of each file: the cursor (``sent``: file -> byte
offset, ``<raw_dir>/.recorder/sink-<target>.cursor``) says how far. A block covers a byte range
of one or more files; its ranges are stored in the cursor (``pending``) before it is sent, and
its insert carries ``insert_deduplication_token`` = hash of those ranges + table, so a block
sent again after a crash (rebuilt from the same bytes of the files) is dropped by the server
instead of doubled (the tables keep ``non_replicated_deduplication_window`` blocks).

Rows usually arrive from the capture thread with their ranges (decoded once from the ring);
a range the sink has not seen (a restart, a chunk dropped while the queue was full) is read
back from the file with the canonical reader. The capture thread never waits for the sink.

ClickHouse down or failing: the block is written to the fallback directory (Arrow IPC files
and a manifest) and counted as sent; later blocks follow it there, in order; the oldest spilled
block is retried with exponential backoff (0.5 s doubling to 30 s) and the spill drains in
order once the server answers. ``shijim_recorder_fallback_active`` is 1 while anything is
spilled. Errors are counted and logged with the DSN scrubbed (shijim.recorder.dsn).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import shijim_core
from shijim.events import MarketRecord, RecordError
from shijim.events.jsonl import FAST_RECORDS, FastRun, parse_line_reference, scan_lines
from shijim.events.rows import concat_rows
from shijim.recorder.dsn import ClickHouseTarget
from shijim.recorder.settings import ClickHouseConfig
from shijim.recorder.tables import block_tables, ddl
from shijim.recorder.wal import RAW_FILE, STATE_DIR, Appended, day_number

log = logging.getLogger(__name__)

READ_SLICE = 8 << 20  # bytes of a file read back at once
MAX_QUEUED_ROWS = 1_000_000  # beyond this the capture thread drops chunks (read back later)
# Under load a block grows past batch_rows until MIN_INSERT_GAP_S after the previous insert:
# about ten inserts a second at most, each larger (MergeTree wants few large inserts, and an
# insert costs chdb a fixed time besides its rows), up to MAX_BLOCK_ROWS.
MIN_INSERT_GAP_S = 0.2
MAX_BLOCK_ROWS = 100_000  # ~20 MB of rows: under glibc's 32 MB mmap threshold, buffers are reused
BACKOFF_S = (0.5, 30.0)
ROW_BYTES_GUESS = 200  # for the backlog of ranges not read yet (a book line is ~230 bytes)
_ALL = 1 << 40

Report = Callable[[str, str, int], None]


@dataclass
class SinkCursor:
    """How far each file is in ClickHouse (or safely spilled), and the block being sent."""

    path: Path
    sent: dict[str, int] = field(default_factory=dict)
    # Trading-day number: every file of an earlier day is entirely sent (they leave ``sent``).
    horizon: int = 0
    pending: dict[str, Any] | None = None  # {"id": n, "ranges": {file: [start, end]}}
    next_id: int = 1
    durable: bool = True  # fsync on save

    @classmethod
    def load(cls, path: Path, durable: bool, report: Report) -> SinkCursor:
        try:
            obj = json.loads(path.read_text(encoding="ascii"))
            return cls(
                path,
                {str(k): int(v) for k, v in obj["sent"].items()},
                int(obj["horizon"]),
                obj["pending"],
                int(obj["next_id"]),
                durable,
            )
        except FileNotFoundError:
            return cls(path, durable=durable)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            report(
                "bad_state",
                f"{path}: unreadable ({exc}); the sink starts over from the beginning of"
                " every file (ClickHouse drops blocks it has seen lately; run record-check)",
                1,
            )
            return cls(path, durable=durable)

    def save(self) -> None:
        data = json.dumps(
            {
                "sent": self.sent,
                "horizon": self.horizon,
                "pending": self.pending,
                "next_id": self.next_id,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            if self.durable:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def start_of(self, name: str) -> int:
        """Where the sink starts in a file it meets for the first time: its beginning, or -1
        (all of it is sent) when the file's day is before the horizon."""
        if name in self.sent:
            return self.sent[name]
        day = day_of(name)
        return -1 if day is None or day < self.horizon else 0

    def prune(self, sizes: dict[str, int]) -> None:
        """Move the horizon to the day before the newest once every file of the days before
        it is entirely sent, and forget those files."""
        days = [d for n in sizes if (d := day_of(n)) is not None]
        if not days:
            return
        limit = max(days) - 1
        if limit <= self.horizon:
            return
        for name, size in sizes.items():
            day = day_of(name)
            if day is not None and self.horizon <= day < limit and self.sent.get(name, 0) < size:
                return
        for name in [n for n in self.sent if (d := day_of(n)) is not None and d < limit]:
            del self.sent[name]
        self.horizon = limit


@functools.lru_cache(maxsize=1 << 16)
def day_of(name: str) -> int | None:
    """The trading-day number of a raw file name, None if it is not one."""
    m = RAW_FILE.fullmatch(name)
    return None if m is None else day_number(m["day"])


@dataclass
class Block:
    """Rows of byte ranges of files, sent as one insert per table."""

    id: int
    ranges: dict[str, list[int]] = field(default_factory=dict)
    # (ticks, books, records) of each part: the Arrow tables are built once per block, when
    # it is sent (per-column work then runs over the whole block, not per ring read).
    parts: list[tuple[np.ndarray, np.ndarray, list[MarketRecord]]] = field(default_factory=list)
    rows: int = 0
    oldest_local_ts: int = 0  # ns; 0: none
    opened: float = 0.0  # monotonic seconds of the first row

    def add(self, name: str, start: int, end: int) -> None:
        got = self.ranges.get(name)
        if got is None:
            self.ranges[name] = [start, end]
        else:
            assert got[1] == start, (name, got, start)
            got[1] = end

    def add_rows(
        self,
        ticks: np.ndarray,
        books: np.ndarray,
        records: list[MarketRecord],
        rows: int,
        oldest_local_ts: int,
    ) -> None:
        if not rows:
            return
        if not self.rows:
            self.opened = time.monotonic()
        self.parts.append((ticks, books, records))
        self.rows += rows
        if oldest_local_ts and (not self.oldest_local_ts or oldest_local_ts < self.oldest_local_ts):
            self.oldest_local_ts = oldest_local_ts

    def tables(self) -> dict[str, pa.Table]:
        if not self.parts:
            return {}
        ticks = concat_rows([p[0] for p in self.parts], shijim_core.TICK_DTYPE)
        books = concat_rows([p[1] for p in self.parts], shijim_core.BIDASK_DTYPE)
        return block_tables(ticks, books, [r for p in self.parts for r in p[2]])

    def token(self, table: str) -> str:
        """The deduplication token: the ranges of the files (not the rows), so the same bytes
        sent twice carry the same token whatever path built the rows."""
        text = "\n".join(f"{n}:{s}-{e}" for n, (s, e) in sorted(self.ranges.items()))
        return f"{hashlib.sha256(text.encode()).hexdigest()[:32]}-{table}"


def rows_of_range(
    path: Path, start: int, data: bytes, report: Report
) -> tuple[np.ndarray, np.ndarray, list[MarketRecord], int]:
    """Ticks, books, records (and how many) of whole lines read back from a file, with the
    canonical reader (core fast path, reference reader for the rest); a bad line is reported
    (file, line counted from byte ``start``, field) and left out."""
    ticks_l, books_l, records, n = [], [], [], 0
    source = f"{path} (line counted from byte {start})"

    def fast(buf: bytes, pos: int, last: bool) -> tuple[Any, int, int]:
        t, b, kinds, _lines, _ts, recs, pos, lines = FAST_RECORDS.read_rows(
            buf, pos, last, _ALL, True
        )
        return (t, b, kinds, recs), pos, lines

    for item in scan_lines(io.BytesIO(data), fast):
        if isinstance(item, FastRun):
            t, b, kinds, recs = item.result
            if kinds.size:
                ticks_l.append(t)
                books_l.append(b)
                records.extend(recs)
                n += int(kinds.size)
            continue
        try:
            records.append(parse_line_reference(item.line, source=source, line_no=item.line_no))
            n += 1
        except RecordError as exc:
            report("bad_line", f"{exc}; not sent to ClickHouse (the line stays in the file)", 1)
    ticks = concat_rows(ticks_l, shijim_core.TICK_DTYPE)
    books = concat_rows(books_l, shijim_core.BIDASK_DTYPE)
    return ticks, books, records, n


def _oldest_local(ticks: np.ndarray, books: np.ndarray, records: list[MarketRecord]) -> int:
    values = [int(a["local_ts"].min()) for a in (ticks, books) if a.size]
    values += [r.local_ts for r in records]
    values = [v for v in values if v > 0]
    return min(values) if values else 0


class Spill:
    """Blocks kept in the fallback directory while ClickHouse fails, oldest first."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifests: collections.deque[Path] = collections.deque(
            sorted(self.dir.glob("*.block.json"))
        )
        self.rows = 0
        self.oldest_local_ts: list[int] = []
        for m in self.manifests:
            try:
                obj = json.loads(m.read_text())
                self.rows += int(obj["rows"])
                self.oldest_local_ts.append(int(obj["oldest_local_ts"]))
            except (OSError, ValueError, KeyError):
                self.oldest_local_ts.append(0)

    def __bool__(self) -> bool:
        return bool(self.manifests)

    def put(self, block: Block, tables: dict[str, pa.Table]) -> None:
        stem = f"{block.id:012d}"
        for table, data in tables.items():
            tmp = self.dir / f"{stem}.{table}.arrow.tmp"
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, data.schema) as w:
                w.write_table(data)
            _fsync_path(tmp)
            os.replace(tmp, self.dir / f"{stem}.{table}.arrow")
        manifest = {
            "id": block.id,
            "ranges": block.ranges,
            "tables": sorted(tables),
            "tokens": {t: block.token(t) for t in tables},
            "rows": block.rows,
            "oldest_local_ts": block.oldest_local_ts,
        }
        tmp = self.dir / f"{stem}.block.json.tmp"
        tmp.write_text(json.dumps(manifest, sort_keys=True))
        _fsync_path(tmp)
        path = self.dir / f"{stem}.block.json"
        os.replace(tmp, path)
        _fsync_path(self.dir)
        self.manifests.append(path)
        self.rows += block.rows
        self.oldest_local_ts.append(block.oldest_local_ts)

    def has(self, block_id: int) -> bool:
        return (self.dir / f"{block_id:012d}.block.json").exists()

    def oldest(self) -> tuple[dict[str, Any], dict[str, pa.Table]]:
        path = self.manifests[0]
        obj = json.loads(path.read_text())
        stem = path.name.removesuffix(".block.json")
        tables = {}
        for table in obj["tables"]:
            with pa.memory_map(str(self.dir / f"{stem}.{table}.arrow")) as src:
                tables[table] = pa.ipc.open_file(src).read_all()
        return obj, tables

    def drop_oldest(self) -> int:
        path = self.manifests.popleft()
        obj = json.loads(path.read_text())
        stem = path.name.removesuffix(".block.json")
        for table in obj["tables"]:
            (self.dir / f"{stem}.{table}.arrow").unlink(missing_ok=True)
        path.unlink()
        self.rows -= int(obj["rows"])
        self.oldest_local_ts.pop(0)
        return int(obj["rows"])


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ClickHouseSink:
    """The sink's thread: takes acknowledged chunks from the capture thread, reads back what
    it missed, sends blocks, spills and retries. ``offer`` never blocks."""

    def __init__(
        self,
        cfg: ClickHouseConfig,
        target: ClickHouseTarget,
        raw_dir: Path,
        fallback_dir: Path,
        acked: Callable[[], tuple[int, dict[str, int]]],
        report: Report,
        *,
        durable: bool = True,
        connect: Callable[[ClickHouseTarget], Any] | None = None,
        on_rows: Callable[[str, int], None] | None = None,
        on_state: Callable[[bool, int, float], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.target = target
        self.raw_dir = raw_dir
        self.acked = acked
        self.report = report
        self.connect_fn = connect or connect_sink
        self.on_rows = on_rows or (lambda sink, n: None)
        self.on_state = on_state or (lambda active, backlog, lag: None)
        state_dir = raw_dir / STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        self.cursor = SinkCursor.load(state_dir / f"sink-{target.key}.cursor", durable, report)
        self.spill = Spill(fallback_dir / target.key)
        self.queue: collections.deque[Appended] = collections.deque()
        self._queued = 0
        self._queue_lock = threading.Lock()
        self.dropped_chunks = 0
        self.missed: set[str] = set()  # files of dropped chunks: read back from the files
        self.behind: list[str] = []  # files with acknowledged bytes the sink has not taken
        self.end: dict[str, int] = {}  # file -> bytes taken (sent, spilled or in the block)
        self.block = Block(self.cursor.next_id)
        self.stuck: Block | None = None  # neither sent nor spilled yet
        self.client: Any = None
        self.backoff = BACKOFF_S[0]
        self.retry_at = 0.0
        self.sent_rows = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bad_names: set[str] = set()
        self._last_state = 0.0
        self._prune_at = 0.0
        self.flushed = 0.0  # monotonic time of the last block sent

    # -- the capture thread's side -----------------------------------------------------------
    def offer(self, chunk: Appended) -> None:
        """Hand over an acknowledged chunk (never blocks; over the bound it is dropped and the
        sink reads those ranges back from the files)."""
        n = len(chunk.entries)
        with self._queue_lock:
            if self._queued + n > MAX_QUEUED_ROWS:
                self.dropped_chunks += 1
                self.missed.update(chunk.files)
                return
            self._queued += n
        self.queue.append(chunk)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shijim-recorder-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Send what is acknowledged (bounded by ``timeout``), then stop; what is not sent
        stays in the files and the cursor says where to resume."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("recorder sink still busy after %.0f s; the rest is sent at the"
                            " next start (it is in the files)", timeout)  # fmt: skip

    def _run(self) -> None:
        try:
            try:
                self._client()  # the client's imports and the tables, before the first block
            except Exception as exc:
                self._failed(exc, "connection")
            self._recover()
            while not self._stop.is_set():
                self._turn(time.monotonic())
            self._finish()
        except Exception:  # a bug: the files keep everything; say so loudly
            log.exception("recorder sink failed; the raw files keep every row")
        finally:
            self._close_client()

    def _turn(self, now: float) -> None:
        if self.stuck is not None or (self.spill and now >= self.retry_at):
            self._retry(now)
        if self.stuck is not None:
            self._stop.wait(0.05)
            return
        chunk = self._pop()
        if chunk is not None:
            # Everything queued goes into the block first: under load blocks grow beyond
            # batch_rows (fewer, larger inserts) instead of the queue growing.
            while chunk is not None:
                self._take(chunk)
                if self.block.rows >= MAX_BLOCK_ROWS or self.stuck is not None:
                    break
                chunk = self._pop()
        elif not self._catch_up():
            self._stop.wait(0.01)
        now = time.monotonic()
        if self.block.rows and (
            (self.block.rows >= self.cfg.batch_rows and now - self.flushed >= MIN_INSERT_GAP_S)
            or now - self.block.opened >= self.cfg.batch_ms / 1000
        ):
            self._flush()
        self._publish_state()

    def _finish(self) -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and self.stuck is None:
            chunk = self._pop()
            if chunk is not None:
                self._take(chunk)
            elif not self._catch_up():
                break
            if self.block.rows >= self.cfg.batch_rows:
                self._flush()
        if self.block.rows and self.stuck is None:
            self._flush()
        if self.stuck is not None:
            self._deliver(self.stuck, final=True)
        self._publish_state(force=True)

    def _pop(self) -> Appended | None:
        try:
            chunk = self.queue.popleft()
        except IndexError:
            return None
        with self._queue_lock:
            self._queued -= len(chunk.entries)
        return chunk

    # -- ClickHouse --------------------------------------------------------------------------
    def _client(self) -> Any:
        if self.client is None:
            client = self.connect_fn(self.target)
            for statement in ddl(self.cfg.database):
                client.command(statement)
            self.client = client
            log.info("recorder sink connected to %s", self.target.describe())
        return self.client

    def _close_client(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # closing a broken client: nothing to do
                log.debug("closing the ClickHouse client failed", exc_info=True)
            self.client = None

    def _insert(self, tables: dict[str, pa.Table], tokens: dict[str, str]) -> None:
        client = self._client()
        for table, data in tables.items():
            client.insert_arrow(
                f"{self.cfg.database}.{table}",
                data,
                settings={"insert_deduplication_token": tokens[table]},
            )

    def _failed(self, exc: Exception, what: str) -> None:
        self._close_client()  # a fresh connection next time
        message = self.target.scrub(f"{type(exc).__name__}: {exc}")[:500]
        self.report("clickhouse", f"ClickHouse {what} failed: {message}", 1)

    # -- blocks ------------------------------------------------------------------------------
    def _recover(self) -> None:
        _, sizes = self.acked()
        for name, size in sizes.items():
            if day_of(name) is None:
                continue  # reported by the log (shijim.recorder.wal)
            start = self.cursor.start_of(name)
            if start > size:
                self.report(
                    "bad_file",
                    f"{self.raw_dir / name}: {size} bytes, but {start} were sent to ClickHouse"
                    " (the file lost its end, e.g. a power cut under fsync: off); going on"
                    " from its end",
                    1,
                )
                start = size
            self.end[name] = size if start < 0 else start
            if self.end[name] < size:
                self.behind.append(name)
        pending = self.cursor.pending
        if pending is not None:
            block = Block(int(pending["id"]))
            if self.spill.has(block.id):
                block.ranges = {k: list(v) for k, v in pending["ranges"].items()}
                self._commit(block)
            else:
                for name, (start, end) in sorted(pending["ranges"].items()):
                    self._read_into_all(block, name, start, end)
                log.info("recorder sink: sending again block %d (after a restart)", block.id)
                self._deliver(block)
            for name, (_start, end) in pending["ranges"].items():
                self.end[name] = max(self.end.get(name, 0), int(end))
            self.behind = [n for n in self.behind if self.end[n] < sizes.get(n, 0)]
            self.block = Block(self.cursor.next_id)
        if self.spill:
            self.on_rows("fallback", 0)

    def _take(self, chunk: Appended) -> None:
        """Add a chunk from the capture thread; parts already taken are left out, ranges the
        sink missed are read back from the files first."""
        skip = []
        for i, (name, (start, end)) in enumerate(zip(chunk.files, chunk.ranges, strict=True)):
            taken = self._end_of(name)
            if end <= taken:
                skip.append(i)
            elif start > taken:
                self._catch_up_file(name, start)
        entries = chunk.entries
        if skip:
            entries = entries.take(~np.isin(chunk.file_of, skip))
        for i, (name, (start, end)) in enumerate(zip(chunk.files, chunk.ranges, strict=True)):
            if i not in skip:
                self.block.add(name, start, end)
                self.end[name] = end
        if len(entries):
            oldest = int(entries.local_ts.min()) if entries.local_ts.size else 0
            self.block.add_rows(entries.ticks, entries.books, entries.records, len(entries), oldest)
        if self.block.rows >= MAX_BLOCK_ROWS:
            self._flush()

    def _end_of(self, name: str) -> int:
        taken = self.end.get(name)
        if taken is None:
            start = self.cursor.start_of(name)
            taken = self.end[name] = start if start >= 0 else self.acked()[1].get(name, 0)
        return taken

    def _catch_up(self) -> bool:
        """Read back one slice of a file the sink is behind in; False when none is."""
        if not self.behind:
            with self._queue_lock:
                self.behind, self.missed = sorted(self.missed), set()
        if not self.behind:
            return False
        _, sizes = self.acked()
        while self.behind:
            name = self.behind[0]
            if name not in self._bad_names and self._end_of(name) < sizes.get(name, 0):
                self._catch_up_file(name, sizes[name], slices=1)
                return True
            self.behind.pop(0)
        return False

    def _catch_up_file(self, name: str, until: int, slices: int | None = None) -> None:
        while self._end_of(name) < until and self.stuck is None and slices != 0:
            start = self.end[name]
            end = self._read_into(self.block, name, start, until)
            if end == start:
                return  # unreadable (reported)
            self.end[name] = end
            if self.block.rows >= MAX_BLOCK_ROWS:
                self._flush()
            if slices is not None:
                slices -= 1

    def _read_into(self, block: Block, name: str, start: int, until: int) -> int:
        """Read whole lines of ``name`` from ``start``, at most READ_SLICE bytes of them unless
        one line is longer, up to ``until`` (a line boundary), into ``block``; returns where
        the last line read ends."""
        path = self.raw_dir / name
        try:
            with path.open("rb") as f:
                f.seek(start)
                data = f.read(min(until - start, READ_SLICE))
                while b"\n" not in data and start + len(data) < until:
                    more = f.read(min(until - start - len(data), READ_SLICE))
                    if not more:
                        break
                    data += more
        except OSError as exc:
            self.report("bad_file", f"{path}: cannot read: {exc.strerror}", 1)
            self._bad_names.add(name)
            return start
        cut = data.rfind(b"\n") + 1
        data = data[:cut]
        if not data:
            self.report("bad_file", f"{path}: no whole line after byte {start}", 1)
            self._bad_names.add(name)
            return start
        ticks, books, records, n = rows_of_range(path, start, data, self.report)
        block.add(name, start, start + cut)
        block.add_rows(ticks, books, records, n, _oldest_local(ticks, books, records))
        return start + cut

    def _read_into_all(self, block: Block, name: str, start: int, end: int) -> None:
        while start < end:
            got = self._read_into(block, name, start, end)
            if got == start:
                return
            start = got

    def _flush(self) -> None:
        self.flushed = time.monotonic()
        block, self.block = self.block, Block(self.block.id + 1)
        self.cursor.pending = {"id": block.id, "ranges": block.ranges}
        self.cursor.next_id = block.id + 1
        self.cursor.save()
        self._deliver(block)

    def _deliver(self, block: Block, final: bool = False) -> None:
        """Insert, or spill when the spill is not empty (order) or the insert fails; a block
        that can be neither stays ``stuck`` and is retried."""
        tables = block.tables()
        if not self.spill:
            try:
                self._insert(tables, {t: block.token(t) for t in tables})
            except Exception as exc:
                self._failed(exc, f"insert of block {block.id} ({block.rows} rows)")
                self.retry_at = time.monotonic() + self.backoff
            else:
                self._commit(block)
                self.sent_rows += block.rows
                self.on_rows("clickhouse", block.rows)
                self.stuck = None
                return
        try:
            self.spill.put(block, tables)
        except OSError as exc:
            self.report(
                "fallback_io",
                f"{self.spill.dir}: cannot spill block {block.id}: {exc.strerror}; kept"
                " (the rows are in the raw files)",
                1,
            )
            self.stuck = block
            if not final:
                self.retry_at = time.monotonic() + self.backoff
            return
        self._commit(block)
        self.on_rows("fallback", block.rows)
        self.stuck = None
        self._publish_state(force=True)

    def _commit(self, block: Block) -> None:
        for name, (_start, end) in block.ranges.items():
            self.cursor.sent[name] = max(self.cursor.sent.get(name, 0), end)
        self.cursor.pending = None
        self.cursor.next_id = max(self.cursor.next_id, block.id + 1)
        if time.monotonic() >= self._prune_at:
            self._prune_at = time.monotonic() + 60.0
            self.cursor.prune(self.acked()[1])
        self.cursor.save()

    def _retry(self, now: float) -> None:
        if now < self.retry_at:
            return
        if self.stuck is not None:
            self._deliver(self.stuck)
            if self.stuck is not None:
                self.backoff = min(self.backoff * 2, BACKOFF_S[1])
                self.retry_at = now + self.backoff
            return
        while self.spill and not self._stop.is_set():
            try:
                manifest, tables = self.spill.oldest()
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                self.report("fallback_io", f"{self.spill.dir}: cannot read the oldest"
                            f" spilled block: {exc}", 1)  # fmt: skip
                self.retry_at = now + BACKOFF_S[1]
                return
            try:
                self._insert(tables, manifest["tokens"])
            except Exception as exc:
                self._failed(exc, f"retry of spilled block {manifest['id']}")
                self.backoff = min(self.backoff * 2, BACKOFF_S[1])
                self.retry_at = now + self.backoff
                return
            rows = self.spill.drop_oldest()
            self.sent_rows += rows
            self.on_rows("clickhouse", rows)
            self.backoff = BACKOFF_S[0]
            log.info("recorder sink: spilled block %s sent (%d rows)", manifest["id"], rows)
        if not self.spill:
            log.info("recorder sink: the fallback is empty; sending directly again")
            self._publish_state(force=True)

    # -- metrics -----------------------------------------------------------------------------
    def backlog(self) -> tuple[int, float]:
        """(rows not in ClickHouse yet, seconds since the oldest of them was received)."""
        with self._queue_lock:
            queued = self._queued
        rows = queued + self.block.rows + self.spill.rows
        if self.stuck is not None:
            rows += self.stuck.rows
        if self.behind or self.missed:
            _, sizes = self.acked()
            with self._queue_lock:
                names = set(self.behind) | self.missed
            unread = sum(max(0, sizes.get(n, 0) - self.end.get(n, 0)) for n in names)
            rows += unread // ROW_BYTES_GUESS
        oldest = [t for t in (*self.spill.oldest_local_ts, self.block.oldest_local_ts) if t]
        if self.stuck is not None and self.stuck.oldest_local_ts:
            oldest.append(self.stuck.oldest_local_ts)
        if queued:
            try:
                head = self.queue[0].entries.local_ts
                if head.size:
                    oldest.append(int(head.min()))
            except IndexError:
                pass
        lag = max(0.0, (time.time_ns() - min(oldest)) / 1e9) if oldest and rows else 0.0
        return rows, lag

    def _publish_state(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_state < 0.5:
            return
        self._last_state = now
        rows, lag = self.backlog()
        self.on_state(bool(self.spill) or self.stuck is not None, rows, lag)


def connect_sink(target: ClickHouseTarget) -> Any:
    """The sink's writer: chdb's own connection for the embedded engine (blocks inserted where
    they lie, shijim.recorder.embedded), clickhouse-connect for a server."""
    if target.embedded:
        from shijim.recorder.dsn import SCRUB_LOGS
        from shijim.recorder.embedded import ChdbSession

        SCRUB_LOGS.cover(target)
        return ChdbSession(target.path)
    return connect_client(target)


def connect_client(target: ClickHouseTarget) -> Any:
    """The query client (record-check, record-query): one client library for both,
    clickhouse-connect's in-process chdb mode or HTTP(S)."""
    import clickhouse_connect

    from shijim.recorder.dsn import SCRUB_LOGS

    SCRUB_LOGS.cover(target)
    if target.embedded:
        return clickhouse_connect.get_client(dsn=target.dsn)
    return clickhouse_connect.get_client(dsn=target.dsn, connect_timeout=5, send_receive_timeout=60)
