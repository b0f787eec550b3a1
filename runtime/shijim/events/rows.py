"""Raw JSONL and SBE files as ring rows: many lines or frames -> numpy tick/book rows in one
core call.

The bulk form of `read_records` for replay: plain tick and book lines become TICK_DTYPE /
BIDASK_DTYPE rows in the core (`shijim_core.JsonlRecords.read_rows`), with no Python object per
line. Snapshots and events stay records (they are rare and go through the per-record path), and
every line the fast path leaves alone goes to the reference reader, which accepts it (then it is
one record entry) or names the file, line and field (then it is a bad line, dropped). Entries
keep line order, so an event stays where it was between ticks and books.

SBE files (`python -m shijim.tools.sbe encode`) give the same rows without text parsing:
`JsonlRecords.read_frames` decodes runs of frames with the same row builder, and each frame it
stops at goes to `shijim.events.frames.judge_frame` (accepted as a record entry, or a bad frame
named by file and byte offset).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import shijim_core
from shijim.events.frames import FastFrames, FrameError, judge_frame, scan_frames
from shijim.events.jsonl import (
    FAST_RECORDS,
    FastRun,
    OnBadLine,
    parse_line_reference,
    scan_lines,
)
from shijim.events.record import MarketRecord, RecordError

TICK = 1  # kinds: the next row of `ticks`
BIDASK = 2  # the next row of `books`
RECORD = 3  # the next of `records` (snapshot, event, or a line the reference reader took)

_TICK_DTYPE = np.dtype(shijim_core.TICK_DTYPE)
_BIDASK_DTYPE = np.dtype(shijim_core.BIDASK_DTYPE)


def concat_rows(arrays: Sequence[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Ring rows (``TICK_DTYPE`` / ``BIDASK_DTYPE``) concatenated as bytes. ``np.concatenate``
    of these padded structured arrays returns a *packed* dtype (another layout, which the ring's
    admission then converts back) and copies field by field, ~6x slower than the bytes."""
    dtype = np.dtype(dtype)
    raw = np.dtype((np.void, dtype.itemsize))
    parts = [np.ascontiguousarray(_as(a, dtype)).view(raw) for a in arrays]
    if not parts:
        return np.empty(0, dtype)
    return np.concatenate(parts).view(dtype)


def take_rows(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``rows[index]`` copied as bytes (numpy takes a structured dtype field by field, ~15x
    slower), in the same dtype."""
    raw = np.dtype((np.void, rows.dtype.itemsize))
    return np.ascontiguousarray(rows).view(raw)[index].view(rows.dtype)


def _as(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # Rows of another layout (a packed copy, a hand-built batch): converted once, field by field.
    return a if a.dtype == dtype else a.astype(dtype)


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Consecutive entries of one file, in file order."""

    source: str
    ticks: np.ndarray  # TICK_DTYPE, local_ts 0 (stamp at publish) unless kept
    books: np.ndarray  # BIDASK_DTYPE
    kinds: np.ndarray  # uint8: TICK, BIDASK or RECORD per entry
    lines: np.ndarray  # int64: the file line (from 1; JSONL) or frame byte offset (SBE) of each
    exch_ts: np.ndarray  # int64: the exchange time of each entry
    records: list[MarketRecord]

    @classmethod
    def of_record(cls, source: str, record: MarketRecord, line_no: int) -> RowBatch:
        return cls(
            source,
            np.empty(0, _TICK_DTYPE),
            np.empty(0, _BIDASK_DTYPE),
            np.array([RECORD], dtype=np.uint8),
            np.array([line_no], dtype=np.int64),
            np.array([record.exch_ts], dtype=np.int64),
            [record],
        )

    def __len__(self) -> int:
        return int(self.kinds.size)


def read_row_batches(
    path: str | Path,
    *,
    on_bad: OnBadLine | None = None,
    limit: int = 4096,
    keep_local_ts: bool = False,
) -> Iterator[RowBatch]:
    """Entries of one raw JSONL file in batches of up to `limit`, streamed. Same lines accepted
    and refused as `read_records`: a bad line raises RecordError naming file, line and field,
    or, with `on_bad`, is passed to it and dropped; blank lines are skipped. `local_ts` of the
    rows is 0 (stamped when published) unless `keep_local_ts`."""
    if limit < 1:
        raise ValueError(f"limit: expected >= 1, got {limit!r}")
    p = Path(path)
    source = str(p)
    read_rows = FAST_RECORDS.read_rows

    def rows(data: bytes, pos: int, last: bool) -> tuple[tuple[Any, ...], int, int]:
        ticks, books, kinds, lines, ts, records, pos, n = read_rows(
            data, pos, last, limit, keep_local_ts
        )
        return (ticks, books, kinds, lines, ts, records), pos, n

    def at_limit(batch: tuple[Any, ...]) -> bool:
        return bool(batch[2].size >= limit)  # kinds: as many entries as a batch may hold

    with p.open("rb") as f:
        for item in scan_lines(f, rows, full=at_limit):
            if isinstance(item, FastRun):
                ticks, books, kinds, lines, ts, records = item.result
                if kinds.size:
                    lines += item.lines_before  # the core counts from the first line it read
                    yield RowBatch(source, ticks, books, kinds, lines, ts, records)
                continue
            try:
                rec = parse_line_reference(item.line, source=source, line_no=item.line_no)
            except RecordError as exc:
                if on_bad is None:
                    raise
                on_bad(exc)
            else:
                yield RowBatch.of_record(source, rec, item.line_no)


def read_sbe_row_batches(
    path: str | Path,
    *,
    on_bad: OnBadLine | None = None,
    limit: int = 4096,
    keep_local_ts: bool = False,
) -> Iterator[RowBatch]:
    """Entries of one SOFH-framed SBE file in batches of up to `limit`, streamed, as
    `read_row_batches` gives a JSONL file's (`lines` holds each frame's byte offset). A bad
    frame raises FrameError naming file, byte offset and field or, with `on_bad`, is passed to
    it and dropped; a broken frame header or a torn last frame ends the file the same way.
    Runs of frames are joined across read chunks, so batches are full (`limit` entries) up to
    the next frame the core leaves to the reference decoder: one ingestion call per batch."""
    if limit < 1:
        raise ValueError(f"limit: expected >= 1, got {limit!r}")
    p = Path(path)
    source = str(p)
    read_frames = FAST_RECORDS.read_frames
    parts: list[tuple[Any, ...]] = []
    held = asked = 0  # entries in `parts`; the limit of the last core call

    def rows(data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        nonlocal asked
        asked = limit - held
        *batch, pos = read_frames(data, pos, asked, keep_local_ts)
        return tuple(batch), pos

    def at_limit(batch: tuple[Any, ...]) -> bool:
        return bool(batch[2].size >= asked)

    def joined() -> RowBatch:
        nonlocal held
        if len(parts) == 1:
            ticks, books, kinds, offsets, ts, records = parts[0]
        else:
            ticks = concat_rows([part[0] for part in parts], _TICK_DTYPE)
            books = concat_rows([part[1] for part in parts], _BIDASK_DTYPE)
            kinds, offsets, ts = (np.concatenate([part[i] for part in parts]) for i in (2, 3, 4))
            records = [r for part in parts for r in part[5]]
        parts.clear()
        held = 0
        return RowBatch(source, ticks, books, kinds, offsets, ts, records)

    with p.open("rb") as f:
        try:
            for item in scan_frames(f, rows, source=source, full=at_limit):
                if isinstance(item, FastFrames):
                    batch = item.result
                    if batch[2].size:
                        batch[3][:] += item.base  # the core counts from the data it was given
                        parts.append(batch)
                        held += int(batch[2].size)
                        if held >= limit:
                            yield joined()
                    continue
                if parts:
                    yield joined()  # file order: the rows before this frame first
                try:
                    rec = judge_frame(source, item.offset, item.frame)
                except FrameError as exc:
                    if on_bad is None:
                        raise
                    on_bad(exc)
                else:
                    yield RowBatch.of_record(source, rec, item.offset)
        except FrameError as exc:
            if on_bad is None or not exc.ends_file:
                raise
            if parts:
                yield joined()
            on_bad(exc)  # the rest of the file cannot be found: reported, not a crash
        if parts:
            yield joined()
