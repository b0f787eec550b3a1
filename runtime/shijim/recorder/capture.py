"""What the recorder takes from the ring: each message once, decoded into both forms it keeps.

The recorder reads the shard's ring as its own reader (`RingReader.read_frames`: the messages
exactly as the writer encoded them, SOFH-framed). The core's codecs turn the same frames into
canonical JSONL lines (`shijim_core.sbe_decode_jsonl`, the writer of `python -m
shijim.tools.sbe decode`) and into ring rows (`JsonlRecords.read_frames`, the row builder of the
replay feed), so the file and ClickHouse hold the same values by construction. A frame the core
does not take goes to the reference path (`shijim.events.frames.judge_frame`): accepted, or a
bad row named by ring and seq, counted and dropped.

A lapped reader, or a new writer taking the ring over, becomes a ``feed_gap`` record with the
exact number of messages lost (docs/formats.md: lost before this record's seq).
"""

from __future__ import annotations

import dataclasses
import io
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import shijim_core
from shijim.events import EventKind, EventRecord, MarketRecord, format_record
from shijim.events.frames import SOFH, FastFrames, FrameError, judge_frame, scan_frames
from shijim.events.jsonl import FAST_RECORDS
from shijim.events.rows import BIDASK, RECORD, TICK, concat_rows

_TICK = np.dtype(shijim_core.TICK_DTYPE)
_BIDASK = np.dtype(shijim_core.BIDASK_DTYPE)
_SEQ_AT = SOFH.size + 8  # a frame's seq: after the SOFH and the SBE message header
_ALL = 1 << 40  # no entry limit: a ring read is bounded already


@dataclass(frozen=True, slots=True)
class Captured:
    """Entries (ring messages), each code's in ring order: their text, and the same messages
    as rows (ticks, books) or records (snapshots, events), with per-entry columns.

    The text is the SOFH frames the entries were decoded from (``frames``, entry i at
    ``frame_at[i]:frame_at[i + 1]``), turned into canonical lines by the core per run of
    entries (``text``); or, for entries built here (gap records) or picked one by one, the
    lines themselves."""

    frames: bytes
    frame_at: np.ndarray  # int64, len + 1 offsets into frames (empty when ``lines`` is set)
    lines: list[bytes] | None  # canonical line per entry, '\n' included
    kinds: np.ndarray  # uint8: TICK, BIDASK or RECORD (shijim.events.rows)
    ticks: np.ndarray  # TICK_DTYPE rows, local_ts as received
    books: np.ndarray  # BIDASK_DTYPE rows
    records: list[MarketRecord]  # snapshots and events, in entry order
    seqs: np.ndarray  # uint64 per entry
    exch_ts: np.ndarray  # int64 per entry
    local_ts: np.ndarray  # int64 per entry
    codes: np.ndarray  # S16 per entry ("" for shard-wide events)

    def __len__(self) -> int:
        return int(self.kinds.size)

    def text(self, start: int, end: int) -> bytes:
        """The canonical lines of entries [start, end)."""
        if self.lines is not None:
            return b"".join(self.lines[start:end])
        data = self.frames[int(self.frame_at[start]) : int(self.frame_at[end])]
        text, stop, n = shijim_core.sbe_decode_jsonl(data)
        assert stop == len(data) and n == end - start, (stop, len(data), n, end - start)
        return bytes(text)

    def all_lines(self) -> list[bytes]:
        if self.lines is not None:
            return self.lines
        return self.text(0, len(self)).splitlines(keepends=True)

    @classmethod
    def of_records(cls, records: Sequence[MarketRecord]) -> Captured:
        """Entries of records built here (gap records), through the canonical writer."""
        return cls.of_rows(
            b"",
            _NO_OFFSETS,
            [(format_record(r) + "\n").encode("ascii") for r in records],
            np.full(len(records), RECORD, dtype=np.uint8),
            np.empty(0, _TICK),
            np.empty(0, _BIDASK),
            list(records),
            np.array([r.exch_ts for r in records], dtype=np.int64),
        )

    @classmethod
    def of_rows(
        cls,
        frames: bytes,
        frame_at: np.ndarray,
        lines: list[bytes] | None,
        kinds: np.ndarray,
        ticks: np.ndarray,
        books: np.ndarray,
        records: list[MarketRecord],
        exch_ts: np.ndarray,
    ) -> Captured:
        n = kinds.size
        seqs = np.empty(n, np.uint64)
        local_ts = np.empty(n, np.int64)
        codes = np.empty(n, "S16")
        for kind, rows in ((TICK, ticks), (BIDASK, books)):
            if rows.size:
                at = kinds == kind
                seqs[at] = rows["seq"]
                local_ts[at] = rows["local_ts"]
                codes[at] = rows["code"]
        if records:
            at = kinds == RECORD
            seqs[at] = [r.seq for r in records]
            local_ts[at] = [r.local_ts for r in records]
            codes[at] = [r.code.encode("ascii") for r in records]
        return cls(
            frames, frame_at, lines, kinds, ticks, books, records, seqs, exch_ts, local_ts, codes
        )

    def take(self, keep: np.ndarray) -> Captured:
        """The entries where ``keep`` (bool per entry) is true, in order (with their lines)."""
        kinds = self.kinds
        keep_rec = keep[kinds == RECORD]
        flags = keep.tolist()
        has_text = self.lines is not None or bool(self.frames)
        return Captured(
            b"",
            _NO_OFFSETS,
            [line for line, k in zip(self.all_lines(), flags, strict=True) if k]
            if has_text
            else None,
            kinds[keep],
            self.ticks[keep[kinds == TICK]],
            self.books[keep[kinds == BIDASK]],
            [r for r, k in zip(self.records, keep_rec.tolist(), strict=True) if k],
            self.seqs[keep],
            self.exch_ts[keep],
            self.local_ts[keep],
            self.codes[keep],
        )

    def without_text(self) -> Captured:
        """The same entries without their text (what the sink keeps: rows)."""
        return dataclasses.replace(self, frames=b"", frame_at=_NO_OFFSETS, lines=None)


_NO_OFFSETS = np.empty(0, np.int64)
OnBadRow = Callable[[str, int], None]  # (message, how many rows it stands for)


def decode_frames(frames: bytes, ring: str, on_bad: OnBadRow) -> Captured:
    """The entries of SOFH-framed messages read from ring ``ring``. A message that is not a
    valid record is reported to ``on_bad`` (ring, seq, field, reason) and dropped."""
    ticks, books, kinds, at, ts, records, stop = FAST_RECORDS.read_frames(frames, 0, _ALL, True)
    if stop == len(frames):  # the usual case: every frame a valid record
        frame_at = np.append(at, stop).astype(np.int64)
        return Captured.of_rows(frames, frame_at, None, kinds, ticks, books, records, ts)
    return _decode_slowly(frames, ring, on_bad)


def _fast(data: bytes, pos: int) -> tuple[tuple[object, ...], int]:
    ticks, books, kinds, _offsets, ts, records, stop = FAST_RECORDS.read_frames(
        data, pos, _ALL, True
    )
    text, stop_text, n = shijim_core.sbe_decode_jsonl(data, pos)
    # One rule decides where both codecs stop (a frame that is not a valid record).
    assert stop_text == stop and n == kinds.size, (stop, stop_text, n, kinds.size)
    return (ticks, books, kinds, ts, records, text), stop


def _decode_slowly(frames: bytes, ring: str, on_bad: OnBadRow) -> Captured:
    """Runs of good frames and, between them, the frames the core did not take, judged one by
    one by the reference path (a record, or a bad row reported and dropped)."""
    ticks_l, books_l, kinds_l, ts_l, lines = [], [], [], [], []
    records: list[MarketRecord] = []
    for item in scan_frames(io.BytesIO(frames), _fast, source=f"ring {ring}"):
        if isinstance(item, FastFrames):
            ticks, books, kinds, ts, recs, text = item.result  # type: ignore[misc]
            if kinds.size:
                ticks_l.append(ticks)
                books_l.append(books)
                kinds_l.append(kinds)
                ts_l.append(ts)
                records.extend(recs)
                lines.extend(text.splitlines(keepends=True))
            continue
        seq = struct.unpack_from("<Q", item.frame, _SEQ_AT)[0]
        try:
            rec = judge_frame(f"ring {ring}", item.offset, item.frame)
        except FrameError as exc:
            where = "(message)" if exc.field == "(frame)" else f"field {exc.field!r}"
            on_bad(f"ring {ring}: seq {seq}: {where}: {exc.reason}; dropped", 1)
            continue
        kinds_l.append(np.array([RECORD], np.uint8))
        ts_l.append(np.array([rec.exch_ts], np.int64))
        records.append(rec)
        lines.append((format_record(rec) + "\n").encode("ascii"))
    return Captured.of_rows(
        b"",
        _NO_OFFSETS,
        lines,
        np.concatenate(kinds_l) if kinds_l else np.empty(0, np.uint8),
        concat_rows(ticks_l, _TICK),
        concat_rows(books_l, _BIDASK),
        records,
        np.concatenate(ts_l) if ts_l else np.empty(0, np.int64),
    )


@dataclass(frozen=True, slots=True)
class RingRead:
    """One read: the gap before it (a feed_gap record, or None) and its entries."""

    gap: EventRecord | None
    entries: Captured
    lost: int
    bad: int  # messages the ring or the record rules refused (dropped, counted)


class RingTap:
    """The recorder's reader of a shard's ring, by name."""

    def __init__(
        self,
        name: str,
        *,
        start: str = "oldest",
        wait_s: float = 0.0,
        max_messages: int = 4096,
        on_bad: OnBadRow,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.name = name
        self.reader = shijim_core.RingReader(name, start=start, wait=wait_s)
        self.max_messages = max_messages
        self.on_bad = on_bad
        self.clock_ns = clock_ns
        self.last_exch_ts = 0  # of the newest entry read: a gap with nothing after it
        self.bad_rows = 0

    def identity(self) -> tuple[str, int, int]:
        """(path, device, inode) of the ring file: a ring re-created under the same name (the
        runtime removes it at a clean exit) is another ring, whose seqs start again."""
        import os

        st = os.stat(self.reader.path)
        return (self.reader.path, st.st_dev, st.st_ino)

    def read(self) -> RingRead:
        frames, n, lost, restarted, _epoch, bad = self.reader.read_frames(
            self.max_messages, by_code=True
        )
        refused = 0

        def on_bad(message: str, count: int) -> None:
            nonlocal refused
            refused += count
            self.on_bad(message, count)

        entries = decode_frames(frames, self.name, on_bad) if n else _EMPTY
        if bad:
            last = self.reader.last_bad or f"ring {self.name}: a slot that is not a message"
            self.on_bad(f"{last} ({bad} skipped in this read)", int(bad))
        gap = None
        if lost or restarted:
            first = int(np.argmin(entries.seqs)) if len(entries) else -1
            first_seq = int(entries.seqs[first]) if first >= 0 else int(self.reader.position)
            exch = int(entries.exch_ts[first]) if first >= 0 else self.last_exch_ts
            now = self.clock_ns()
            reason = "ring writer restarted" if restarted else "recorder lapped"
            gap = gap_record(first_seq, int(lost), exch or now, now, reason)
        if len(entries):
            self.last_exch_ts = int(entries.exch_ts[np.argmax(entries.seqs)])
        self.bad_rows += refused + int(bad)
        return RingRead(gap, entries, int(lost), refused + int(bad))

    @property
    def lag(self) -> int:
        return int(self.reader.lag)


def gap_record(seq: int, lost: int, exch_ts: int, local_ts: int, reason: str) -> EventRecord:
    """A ``feed_gap`` record: ``lost`` messages were never seen before ``seq``."""
    return EventRecord(
        code="",
        exch_ts=exch_ts,
        local_ts=local_ts,
        seq=seq,
        event=EventKind.FEED_GAP,
        session_state=None,
        trading_state=None,
        count=lost,
        reason=reason[:32],
    )


_EMPTY = Captured.of_records(())
