"""The raw JSONL files: the recorder's write-ahead log (docs/recorder.md).

Every entry goes to ``<raw_dir>/<trading day>_<code>.jsonl`` (``shijim.events.raw_file_name``;
shard-wide events, whose code is "", to ``<trading day>_.jsonl``), the trading day of its
exchange time (``shijim.trading_day``: TAIFEX's night session, 15:00-05:00 Taipei, belongs to
the next day, so one file holds one whole trading day). Lines are canonical and in ring order.

Crash safety. Before a batch is written, an intent (the first seq of the batch, the size of
every file it will touch) is stored in ``<raw_dir>/.recorder/wal.state``; after it, a done mark
(the next seq to record). A restart on the same ring finding an intent without its done mark
cuts those files back to their sizes (a torn last line included) and reads the batch again from
the ring; without a usable state (first start, another ring), it cuts every file's unfinished
last line. Either way every cut is counted and logged with the file and the offset. Only
acknowledged data (done) goes on to ClickHouse.

Durability (``FsyncPolicy``): a killed process loses nothing it wrote (the page cache keeps
it); a power cut loses at most the unacknowledged batch (every_batch), the last
``fsync_interval_ms`` (interval) or what the kernel had not written back (off: up to
vm.dirty_expire_centisecs, 30 s by default).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shijim.events import raw_file_name
from shijim.recorder.capture import Captured
from shijim.recorder.settings import FsyncPolicy
from shijim.trading_day import trading_day

log = logging.getLogger(__name__)

STATE_DIR = ".recorder"
# <trading day>_<code>.jsonl; the code may be empty (shard-wide events) and never holds '/'.
RAW_FILE = re.compile(r"(?P<day>\d{8})_(?P<code>[\x20-\x7e]{0,16})\.jsonl")
_TAIL_CHUNK = 1 << 16

# (cause, message, count): the recorder counts and logs what the log reports.
Report = Callable[[str, str, int], None]


def day_text(day: int) -> str:
    """YYYYMMDD of a trading-day number (days since 1970-01-01)."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).strftime("%Y%m%d")


def day_number(text: str) -> int:
    return (dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) - dt.date(1970, 1, 1)).days


@dataclass(slots=True)
class _File:
    fd: int
    size: int
    day: int


@dataclass(frozen=True, slots=True)
class Appended:
    """One acknowledged batch: the byte range it added to each file, and its entries with the
    index (into ``files``) of the file each went to."""

    entries: Captured
    files: list[str]
    ranges: list[tuple[int, int]]  # per file: [start, end)
    file_of: np.ndarray  # per entry: index into files


@dataclass
class WalState:
    """What ``wal.state`` holds: the ring the log follows and where it is."""

    ring: list[Any] | None
    next: int | None  # the next ring seq to record
    phase: str = "done"  # "writing": the batch after ``next`` may be partly written
    sizes: dict[str, int] = field(default_factory=dict)  # before that batch

    def encode(self) -> bytes:
        body = json.dumps(
            {"ring": self.ring, "next": self.next, "phase": self.phase, "sizes": self.sizes},
            separators=(",", ":"),
        )
        return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()

    @classmethod
    def decode(cls, data: bytes) -> WalState:
        line = data.split(b"\n", 1)[0].decode("ascii")
        crc, _, body = line.partition(" ")
        if f"{zlib.crc32(body.encode()):08x}" != crc:
            raise ValueError("checksum mismatch")
        obj = json.loads(body)
        return cls(obj["ring"], obj["next"], obj["phase"], dict(obj["sizes"]))


class RawLog:
    """Appends entries to the day files; one writer (the recorder's capture thread)."""

    def __init__(
        self, raw_dir: str | Path, policy: FsyncPolicy, report: Report, max_open: int = 512
    ) -> None:
        self.dir = Path(raw_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / STATE_DIR).mkdir(exist_ok=True)
        self.policy = policy
        self.report = report
        self.max_open = max_open
        self.files: dict[str, _File] = {}
        self.lock = threading.Lock()  # files/dirty vs the fsync thread; acked vs the sink
        self.dirty: set[int] = set()
        self.acked: dict[str, int] = {}  # file -> bytes acknowledged (whole lines)
        self.acked_version = 0
        self.ring: list[Any] | None = None
        self.next: int | None = None
        self._state_path = self.dir / STATE_DIR / "wal.state"
        self._state_fd = os.open(self._state_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.rows = 0

    # -- restart -----------------------------------------------------------------------------
    def recover(self, ring: tuple[str, int, int]) -> int | None:
        """Repair the files after a crash; returns the next seq to record when the log
        follows this very ring (then the ring is read again from there), else None."""
        ring_id = list(ring)
        state = self._read_state()
        resume = None
        if state is not None and state.ring == ring_id and state.next is not None:
            resume = int(state.next)
            if state.phase == "writing":
                for name, size in sorted(state.sizes.items()):
                    self._cut(self.dir / name, int(size), rollback=True)
        for path in sorted(self.dir.glob("*.jsonl")):
            if path.is_file():
                self._cut_torn_tail(path)
        self.ring, self.next = ring_id, resume
        with self.lock:
            for path in sorted(self.dir.glob("*.jsonl")):
                if not path.is_file():
                    continue
                if RAW_FILE.fullmatch(path.name):
                    self.acked[path.name] = path.stat().st_size
                else:
                    self.report(
                        "bad_file",
                        f"{path}: not <day>_<code>.jsonl; left alone (not sent to ClickHouse)",
                        1,
                    )
            self.acked_version += 1
        self._write_state(WalState(self.ring, self.next))
        return resume

    def follow(self, ring: tuple[str, int, int]) -> None:
        """The log now follows another ring (re-attached after the runtime re-created it)."""
        self.ring, self.next = list(ring), None
        self._write_state(WalState(self.ring, self.next))

    def _read_state(self) -> WalState | None:
        data = os.pread(self._state_fd, 1 << 20, 0)
        if not data:
            return None
        try:
            return WalState.decode(data)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            self.report(
                "bad_state",
                f"{self._state_path}: unreadable ({exc}); not resuming: every file's"
                " unfinished last line is cut instead",
                1,
            )
            return None

    def _cut(self, path: Path, size: int, *, rollback: bool) -> None:
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            return
        if actual <= size:
            return
        with path.open("rb+") as f:
            f.seek(size)
            tail = f.read()
            f.truncate(size)
            os.fsync(f.fileno())
        if not tail.endswith(b"\n"):
            line_start = size + tail.rfind(b"\n") + 1
            self.report(
                "torn_tail",
                f"{path}: torn last line at byte {line_start} cut"
                f" ({size + len(tail) - line_start} bytes)",
                1,
            )
        if rollback:
            log.warning(
                "%s: %d bytes after byte %d rolled back (a batch not acknowledged before the"
                " restart; read again from the ring)",
                path,
                len(tail),
                size,
            )

    def _cut_torn_tail(self, path: Path) -> None:
        with path.open("rb+") as f:
            end = f.seek(0, os.SEEK_END)
            if end == 0:
                return
            f.seek(end - 1)
            if f.read(1) == b"\n":
                return
            pos = end
            keep = 0
            while pos > 0:
                start = max(0, pos - _TAIL_CHUNK)
                f.seek(start)
                chunk = f.read(pos - start)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = start + nl + 1
                    break
                pos = start
            f.truncate(keep)
            os.fsync(f.fileno())
        cut = end - keep
        self.report("torn_tail", f"{path}: torn last line at byte {keep} cut ({cut} bytes)", 1)

    # -- writing -----------------------------------------------------------------------------
    def append(self, entries: Captured, next_seq: int) -> Appended:
        """Write ``entries`` (each code's in ring order) to their files and acknowledge them;
        ``next_seq`` is the ring seq to record after them. On an OSError the files are cut
        back to where they were (the batch can be written again) and the error is raised."""
        days = trading_day(entries.exch_ts)
        runs = _runs(entries.codes, days)
        if any("/" in name for name, _, _ in runs):
            entries, days = self._drop_bad_codes(entries, days)
            runs = _runs(entries.codes, days)
        names = sorted({name for name, _, _ in runs})
        sizes = {}
        for name, start, _end in runs:
            if name not in sizes:
                sizes[name] = self._open(name, int(days[start])).size
        self._write_state(WalState(self.ring, self.next, "writing", sizes))
        try:
            for name, start, end in runs:
                f = self.files[name]
                data = entries.text(start, end)
                _write_all(f.fd, data)
                f.size += len(data)
            with self.lock:
                self.dirty.update(self.files[n].fd for n in names)
            if self.policy is FsyncPolicy.EVERY_BATCH:
                for name in names:
                    os.fsync(self.files[name].fd)
        except OSError:
            for name, size in sizes.items():
                f = self.files[name]
                try:
                    os.ftruncate(f.fd, size)
                    f.size = size
                except OSError:
                    f.size = os.fstat(f.fd).st_size
            raise
        self.next = next_seq
        self._write_state(WalState(self.ring, self.next))
        ranges = [(sizes[n], self.files[n].size) for n in names]
        with self.lock:
            for name, (_start, end) in zip(names, ranges, strict=True):
                self.acked[name] = end
            self.acked_version += 1
        self.rows += len(entries)
        index = {name: i for i, name in enumerate(names)}
        file_of = np.empty(len(entries), np.int64)
        for name, start, end in runs:
            file_of[start:end] = index[name]
        self._rotate(int(days.max()) if days.size else None)
        return Appended(entries, names, ranges, file_of)

    def _drop_bad_codes(self, entries: Captured, days: np.ndarray) -> tuple[Captured, np.ndarray]:
        bad = np.array([b"/" in c for c in entries.codes.tolist()], dtype=bool)
        shown = np.flatnonzero(bad)[:5].tolist()
        for i in shown:
            code = entries.codes[i].decode("ascii", "replace")
            self.report(
                "bad_row",
                f"seq {int(entries.seqs[i])}: field 'code': {code!r} cannot name a file; dropped",
                1,
            )
        if int(bad.sum()) > len(shown):
            more = int(bad.sum()) - len(shown)
            self.report("bad_row", f"{more} more rows with such codes dropped", more)
        return entries.take(~bad), days[~bad]

    def _open(self, name: str, day: int) -> _File:
        f = self.files.get(name)
        if f is not None:
            return f
        if len(self.files) >= self.max_open:
            self._close_oldest()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.dir / name, flags, 0o644)
        f = self.files[name] = _File(fd, os.fstat(fd).st_size, day)
        return f

    def _rotate(self, newest_day: int | None) -> None:
        """Close the files of earlier trading days once a later day has begun (a late entry
        of such a day opens its file again)."""
        if newest_day is None:
            return
        old = [n for n, f in self.files.items() if f.day < newest_day]
        for name in old:
            self._close(name)

    def _close_oldest(self) -> None:
        for name in sorted(self.files, key=lambda n: self.files[n].day)[: len(self.files) // 4]:
            self._close(name)

    def _close(self, name: str) -> None:
        with self.lock:
            f = self.files.pop(name)
            self.dirty.discard(f.fd)
            try:
                if self.policy is not FsyncPolicy.OFF:
                    os.fsync(f.fd)
            finally:
                os.close(f.fd)

    def _write_state(self, state: WalState) -> None:
        data = state.encode()
        os.pwrite(self._state_fd, data, 0)
        if self.policy is FsyncPolicy.EVERY_BATCH:
            os.fdatasync(self._state_fd)
        else:
            with self.lock:
                self.dirty.add(self._state_fd)

    def sync(self) -> None:
        """fsync what was written since the last call (the interval policy's thread). The fds
        are duplicated under the lock, so a file closed meanwhile is still synced correctly."""
        with self.lock:
            fds = [os.dup(fd) for fd in self.dirty]
            self.dirty.clear()
        for fd in fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def acked_sizes(self) -> tuple[int, dict[str, int]]:
        with self.lock:
            return self.acked_version, dict(self.acked)

    def close(self) -> None:
        for name in list(self.files):
            self._close(name)
        if self.policy is not FsyncPolicy.OFF:
            os.fsync(self._state_fd)
        os.close(self._state_fd)


def _runs(codes: np.ndarray, days: np.ndarray) -> list[tuple[str, int, int]]:
    """(file name, start, end) of each run of consecutive entries of one (code, trading day):
    entries come grouped by code (``read_frames(by_code=True)``), so a batch has about one run
    per code, and a run's text is one call of the core's JSONL writer."""
    n = codes.size
    if n == 0:
        return []
    change = np.flatnonzero((codes[1:] != codes[:-1]) | (days[1:] != days[:-1])) + 1
    bounds = [0, *change.tolist(), n]
    out = []
    names: dict[tuple[bytes, int], str] = {}
    for start, end in itertools.pairwise(bounds):
        key = (bytes(codes[start]), int(days[start]))
        name = names.get(key)
        if name is None:
            name = names[key] = raw_file_name(day_text(key[1]), key[0].decode("ascii"))
        out.append((name, start, end))
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
