"""``--feed replay:PATH``: raw JSONL or SBE recordings replayed into ingestion.

PATH is one file or a directory of ``<trading day>_<code>.jsonl`` files (the recorder's layout)
and/or their ``.sbe`` encodings (``python -m shijim.tools.sbe encode``); the files are merged by
exchange time (ties keep file-name order). A file is SBE if it starts with a SOFH frame header
of SBE 1.0 or is named ``.sbe``. Lines are read with the canonical reader (``shijim.events``),
frames with the core's frame decoder (no text parsing; ``shijim.events.frames``): a bad line or
frame is counted (``shijim_md_bad_input_total{cause="bad_json"|"malformed"}``), logged once per
cause with its file and line (or byte offset), and dropped. Every good entry then meets the
ingestor's one set of rules (the live feed's: clock, time order, duplicates, book shape); an
entry it drops is logged with its file:line (``file: byte N``) too.

Both paces read rows, not records (``shijim.events.rows``): the core turns runs of plain tick
and book lines into numpy rows; snapshots, events and lines the reference reader took are
records at their place. Pace ``fast`` publishes as fast as lines can be read, a batch at a
time through ``Ingestor.interleaved``. Pace ``realtime`` keeps the recorded spacing of exchange
times (times ``speed``; gaps longer than ``max_gap_s``, e.g. between sessions, are shortened to
it), one entry at a time; an entry the ingestor would drop is dropped at once and never sets the
pace (validated before paced: one line dated 2100 cannot stall or rush the replay). Both paces
admit the same entries with the same drop counts. Files of a directory are merged in the order
``heapq.merge`` gives the per-record path (see ``merge_batches``); ``by_rows=False`` keeps that
per-record path for pace fast (the reference the row path is checked against; JSONL only).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.bus.ingestion import Ingestor
from shijim.bus.validation import BadInputCause, ClockCheck
from shijim.events import MarketRecord, RecordError, read_records
from shijim.events.frames import is_sbe_file
from shijim.events.rows import (
    BIDASK,
    RECORD,
    TICK,
    RowBatch,
    concat_rows,
    read_row_batches,
    read_sbe_row_batches,
    take_rows,
)
from shijim.gateway.feed import run_feed_for
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)

NS = 1_000_000_000


class ReplayPace(StrEnum):
    REALTIME = "realtime"  # the recorded spacing of exchange times
    FAST = "fast"


def replay_files(path: str | Path, codes: Iterable[str] | None = None) -> list[Path]:
    """The JSONL and SBE files to replay (sorted by name), optionally only those of ``codes``."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"replay: {p} is neither a file nor a directory")
    files = sorted(f for f in p.iterdir() if f.suffix in (".jsonl", ".sbe") and f.is_file())
    if codes is not None:
        # "" too: the recorder's shard-wide events (feed gaps, reconnects, sessions) are in
        # <trading day>_.jsonl, and a replay must know where the data has holes.
        wanted = {*codes, ""}
        # <trading day>_<code>.jsonl|.sbe; a code may itself contain '_', so split once.
        files = [f for f in files if f.stem.partition("_")[2] in wanted]
    stems = [f.stem for f in files]
    both = sorted({s for s in stems if stems.count(s) > 1})
    if both:
        # A recording and its SBE encoding side by side would replay every event twice.
        raise ValueError(
            f"replay: {p} holds both the .jsonl and the .sbe file of {', '.join(both)}; "
            "keep one format per recording"
        )
    return files


@dataclass(frozen=True, slots=True)
class Entries:
    """Entries to publish in this order: rows and records of one or more files."""

    ticks: np.ndarray
    books: np.ndarray
    kinds: np.ndarray  # TICK, BIDASK or RECORD per entry
    lines: np.ndarray  # file line per entry
    files: np.ndarray  # file index per entry
    exch_ts: np.ndarray  # exchange time per entry
    records: list[MarketRecord]

    @classmethod
    def of(cls, batch: RowBatch, k: int) -> Entries:
        return cls(
            batch.ticks,
            batch.books,
            batch.kinds,
            batch.lines,
            np.full(batch.kinds.size, k, dtype=np.int64),
            batch.exch_ts,
            batch.records,
        )


def _cut(e: Entries, at: int) -> tuple[Entries, Entries]:
    """The first `at` entries and the rest."""
    head = e.kinds[:at]
    t = int(np.count_nonzero(head == TICK))
    b = int(np.count_nonzero(head == BIDASK))
    r = at - t - b
    first = Entries(
        e.ticks[:t], e.books[:b], head, e.lines[:at], e.files[:at], e.exch_ts[:at], e.records[:r]
    )  # fmt: skip
    rest = Entries(
        e.ticks[t:], e.books[b:], e.kinds[at:], e.lines[at:], e.files[at:], e.exch_ts[at:],
        e.records[r:],
    )  # fmt: skip
    return first, rest


def _ordered(parts: list[tuple[Entries, np.ndarray]]) -> Entries:
    """Entries of several files (each part in its file's order, parts in file-index order)
    sorted by (key, file index), stable, so each file keeps its own order."""
    kinds = np.concatenate([e.kinds for e, _ in parts])
    keys = np.concatenate([key for _, key in parts])
    files = np.concatenate([e.files for e, _ in parts])
    # Each part's keys are already sorted (a running maximum) and the parts come in file-index
    # order: a stable sort by key alone is the (key, file) order, and timsort merges the runs
    # in linear time (a lexsort sorts twice from scratch).
    order = np.argsort(keys, kind="stable")
    ticks = concat_rows([e.ticks for e, _ in parts], TICK_DTYPE)
    books = concat_rows([e.books for e, _ in parts], BIDASK_DTYPE)
    records = [r for e, _ in parts for r in e.records]
    k = kinds[order]
    pick = {}
    for kind in (TICK, BIDASK, RECORD):
        index = np.cumsum(kinds == kind) - 1  # entry -> its row in the concatenated array
        pick[kind] = index[order][k == kind]
    lines = np.concatenate([e.lines for e, _ in parts])
    exch_ts = np.concatenate([e.exch_ts for e, _ in parts])
    return Entries(
        take_rows(ticks, pick[TICK]),
        take_rows(books, pick[BIDASK]),
        k,
        lines[order],
        files[order],
        exch_ts[order],
        [records[i] for i in pick[RECORD].tolist()],
    )


def merge_batches(streams: list[Iterator[RowBatch]]) -> Iterator[Entries]:
    """Entries of several files merged as ``heapq.merge`` merges their records by
    (exch_ts, file index): an entry of a file is published after every earlier entry of its
    file, so its merge key is the newest exch_ts of its file so far (its own, unless the file
    went back in time); entries are sorted by (that key, file index), stable. A batch of
    entries is released once every file still open has read past it."""
    pending: list[Entries | None] = [None] * len(streams)
    keys: list[np.ndarray] = [np.empty(0, np.int64)] * len(streams)
    newest = [np.iinfo(np.int64).min] * len(streams)
    open_ = [True] * len(streams)
    while True:
        for k, stream in enumerate(streams):
            if open_[k] and (pending[k] is None or not pending[k].kinds.size):  # type: ignore[union-attr]
                batch = next(stream, None)
                if batch is None:
                    open_[k] = False
                    continue
                key = np.maximum.accumulate(np.maximum(batch.exch_ts, newest[k]))
                newest[k] = int(key[-1])
                pending[k], keys[k] = Entries.of(batch, k), key
        live = [(int(keys[k][-1]), k) for k in range(len(streams)) if open_[k]]
        mark = min(live) if live else None
        parts: list[tuple[Entries, np.ndarray]] = []
        for k, e in enumerate(pending):
            if e is None or not e.kinds.size:
                continue
            if mark is None:
                at = e.kinds.size
            else:
                # (key, k) <= mark: entries with later keys wait for the other files.
                at = int(
                    np.searchsorted(keys[k], mark[0], side="right" if k <= mark[1] else "left")
                )
            if at:
                first, pending[k] = _cut(e, at)
                parts.append((first, keys[k][:at]))
                keys[k] = keys[k][at:]
        if parts:
            yield parts[0][0] if len(parts) == 1 else _ordered(parts)
        elif mark is None:
            return


class ReplayFeed:
    name = "replay"

    def __init__(
        self,
        path: str | Path,
        pace: ReplayPace = ReplayPace.FAST,
        speed: float = 1.0,
        codes: Iterable[str] | None = None,
        keep_local_ts: bool = False,
        max_gap_s: float = 5.0,
        batch: int = 4096,
        by_rows: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: ShardMetrics | None = None,
        max_ahead_s: float = 2.0,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected > 0, got {speed!r}")
        if not max_ahead_s >= 0:
            raise ValueError(f"max_ahead_s: expected >= 0, got {max_ahead_s!r}")
        # A recorded line's exchange time may be at most this far ahead of its recorded receive
        # time (now when it has none): the rule of the live feed it was recorded from.
        self.clock_check = ClockCheck(max_ahead_ns=int(max_ahead_s * NS))
        self.files = replay_files(path, codes)
        if not self.files:
            raise FileNotFoundError(
                f"replay: no .jsonl files (nor .sbe) for this shard under {path}"
            )
        self._sbe = [is_sbe_file(f) for f in self.files]
        if not by_rows and any(self._sbe):
            raise ValueError("by_rows=False (the per-record reference path) reads JSONL only")
        self.pace = ReplayPace(pace)
        self.speed = speed
        self.keep_local_ts = keep_local_ts
        self.max_gap_ns = int(max_gap_s * NS)
        self.batch = batch
        # Pace fast publishes rows (see the module doc); False: record by record, as realtime.
        self.by_rows = by_rows
        self._entries: Iterator[Entries] | None = None
        self._held: Entries | None = None  # the rest of entries cut at `batch`
        self._sources = [str(f) for f in self.files]
        # How an entry's place is named: file:line (JSONL) or "file: byte N" (SBE).
        self._at = [
            f"{f}: byte " if sbe else f"{f}:" for f, sbe in zip(self.files, self._sbe, strict=True)
        ]
        self.monotonic = monotonic
        self.metrics = metrics
        self.ingestor: Ingestor | None = None
        self._records: Iterator[tuple[MarketRecord, str]] | None = None
        # Realtime: the next entry (screened and, if it will be admitted, scheduled).
        self._head: Entries | None = None
        self._due: float | None = None
        self._anchor: tuple[float, int] | None = None  # (wall, exch_ts) at the anchor
        self._last_ts: int | None = None
        self._done = False
        self._stopped = False
        self.published = 0
        self.read = 0

    def _on_bad(self, error: RecordError) -> None:
        assert self.ingestor is not None
        cause = (
            BadInputCause.BAD_JSON
            if error.reason.startswith(("not valid JSON", "not a JSON object"))
            else BadInputCause.MALFORMED
        )
        self.ingestor.bad.report(cause, error.where, error.field, error.reason)

    def _stream(self, k: int, path: Path) -> Iterator[tuple[int, int, MarketRecord, str]]:
        src = str(path)
        for rec in read_records(path, on_bad=self._on_bad):
            yield rec.exch_ts, k, rec, src

    def _single(self, path: Path) -> Iterator[tuple[MarketRecord, str]]:
        src = str(path)
        for rec in read_records(path, on_bad=self._on_bad):
            yield rec, src

    def _batches(self, k: int) -> Iterator[RowBatch]:
        # Rows keep the recorded local_ts: the receive time their exchange time is checked
        # against; they are stamped at publication unless ``keep_local_ts``.
        read = read_sbe_row_batches if self._sbe[k] else read_row_batches
        return read(self.files[k], on_bad=self._on_bad, limit=self.batch, keep_local_ts=True)

    def start(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        ingestor.set_clock_check(self.clock_check)
        if self.pace is ReplayPace.REALTIME or self.by_rows:
            if len(self.files) == 1:
                self._entries = (Entries.of(b, 0) for b in self._batches(0))
            else:
                self._entries = merge_batches([self._batches(k) for k in range(len(self.files))])
        elif len(self.files) == 1:
            self._records = self._single(self.files[0])  # nothing to merge
        else:
            streams = [self._stream(k, f) for k, f in enumerate(self.files)]
            # (exch_ts, file index) decides; the index is unique per stream, so the record
            # itself is never compared.
            merged = heapq.merge(*streams)
            self._records = ((rec, src) for _ts, _k, rec, src in merged)
        log.info("replay: %d file(s), pace %s", len(self.files), self.pace.value)
        self._set_connected(True)

    def _set_connected(self, up: bool) -> None:
        # "Connected" while there is recorded data left to replay.
        if self.metrics is not None:
            self.metrics.feed_connected(up)

    def stop(self) -> None:
        self._stopped = True
        self._set_connected(False)

    @property
    def finished(self) -> bool:
        return self._stopped or self._done

    def run_for(self, seconds: float | None = None, max_events: int | None = None) -> int:
        return run_feed_for(self, seconds, max_events)

    def _schedule(self, ts: int) -> float:
        if self.pace is ReplayPace.FAST:
            return 0.0
        if self._anchor is None or self._last_ts is None:
            self._anchor = (self.monotonic(), ts)
        elif ts - self._last_ts > self.max_gap_ns:
            # A long gap (e.g. closed hours): due max_gap after the previous record.
            self._anchor = (self._wall_of(self._last_ts) + self.max_gap_ns / NS / self.speed, ts)
        due = self._wall_of(ts)
        self._last_ts = ts if self._last_ts is None else max(ts, self._last_ts)
        return due

    def _wall_of(self, ts: int) -> float:
        assert self._anchor is not None
        wall0, ts0 = self._anchor
        return wall0 + (ts - ts0) / NS / self.speed

    def _poll_fast(self, ingestor: Ingestor) -> int:
        """Pace fast: up to `batch` records straight from the reader, no scheduling."""
        assert self._records is not None
        n = taken = 0
        publish = ingestor.record
        keep = self.keep_local_ts
        for rec, src in itertools.islice(self._records, self.batch):
            taken += 1
            self.read += 1
            if publish(rec, src, keep_local_ts=keep) is not None:
                n += 1
        if taken < self.batch:
            self._done = True
            self._set_connected(False)
        return n

    def _place(self, e: Entries, kind: str, row: int, *, t0: int, b0: int) -> str:
        """file:line (or byte) of row `row` of kind `kind` in the run starting at tick t0 / book
        b0."""
        at = np.flatnonzero(e.kinds == (TICK if kind == "tick" else BIDASK))
        i = int(at[row + (t0 if kind == "tick" else b0)])
        return f"{self._at[int(e.files[i])]}{int(e.lines[i])}"

    def _publish_entries(self, ingestor: Ingestor, e: Entries) -> int:
        """Rows through ``interleaved`` in runs between records; records one by one."""
        n = t0 = b0 = r0 = start = 0
        kinds = e.kinds
        stops = np.flatnonzero(kinds == RECORD).tolist() if e.records else []
        for stop in [*stops, kinds.size]:
            if stop > start:
                run = kinds[start:stop]
                t1 = t0 + int(np.count_nonzero(run == TICK))
                b1 = b0 + (stop - start) - (t1 - t0)
                where = functools.partial(self._place, e, t0=t0, b0=b0)
                src = self._sources[int(e.files[start])]
                keep = self.keep_local_ts
                n += ingestor.interleaved(
                    e.ticks[t0:t1], e.books[b0:b1], run, src, where, False, restamp=not keep
                )
                t0, b0 = t1, b1
            if stop < kinds.size:
                rec = e.records[r0]
                r0 += 1
                src = f"{self._at[int(e.files[stop])]}{int(e.lines[stop])}"
                if ingestor.record(rec, src, keep_local_ts=self.keep_local_ts) is not None:
                    n += 1
            start = stop + 1
        return n

    def _next_entries(self) -> Entries | None:
        """The rest held back by the last cut, else the next entries; None (done, and the
        feed disconnected) at the end of the recording."""
        assert self._entries is not None
        e, self._held = self._held, None
        if e is None:
            e = next(self._entries, None)
        if e is None:
            self._done = True
            self._set_connected(False)
        return e

    def _poll_rows(self, ingestor: Ingestor) -> int:
        """Up to `batch` entries, as the per-record path takes up to `batch` records a poll
        (what a consumer sees between polls stays the same)."""
        n = taken = 0
        while taken < self.batch:
            e = self._next_entries()
            if e is None:
                break
            if taken + e.kinds.size > self.batch:
                e, self._held = _cut(e, self.batch - taken)
            taken += int(e.kinds.size)
            n += self._publish_entries(ingestor, e)
        self.read += taken
        return n

    def _admissible(self, ingestor: Ingestor, one: Entries) -> bool:
        """Whether the ingestor would admit this one entry now (nothing counted yet)."""
        kind = int(one.kinds[0])
        if kind == TICK:
            return ingestor.row_problem("tick", one.ticks, 0) is None
        if kind == BIDASK:
            return ingestor.row_problem("bidask", one.books, 0) is None
        return ingestor.record_problem(one.records[0]) is None

    def _poll_realtime(self, ingestor: Ingestor) -> int:
        """Entries one by one at their recorded spacing. An entry the ingestor will drop is
        published (so counted and dropped) at once: it never sets the pace, so one outlier
        cannot make the replay sleep or skip (validated before paced)."""
        n = taken = 0
        while taken < self.batch:
            if self._head is None:
                e = self._next_entries()
                if e is None:
                    break
                self._head, rest = _cut(e, 1)
                self._held = rest if rest.kinds.size else None
                self._due = None
                if self._admissible(ingestor, self._head):
                    self._due = self._schedule(int(self._head.exch_ts[0]))
            if self._due is not None and self._due > self.monotonic():
                break
            n += self._publish_entries(ingestor, self._head)
            self._head = None
            taken += 1
        self.read += taken
        return n

    def poll(self) -> int:
        if self.ingestor is None or self.finished:
            return 0
        if self.pace is ReplayPace.REALTIME:
            n = self._poll_realtime(self.ingestor)
        elif self._entries is not None:
            n = self._poll_rows(self.ingestor)
        else:
            n = self._poll_fast(self.ingestor)
        self.published += n
        return n
