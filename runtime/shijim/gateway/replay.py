"""``--feed replay:PATH``: raw JSONL recordings replayed into ingestion.

PATH is one ``.jsonl`` file or a directory of ``<trading day>_<code>.jsonl`` files (the
recorder's layout); the files are merged by exchange time (ties keep file-name order). Lines are
read with the canonical reader (``shijim.events``): a bad line is counted
(``shijim_md_bad_input_total{cause="bad_json"|"malformed"}``), logged once per cause with its
file and line, and dropped. Pace ``realtime`` keeps the recorded spacing of exchange times
(times ``speed``; gaps longer than ``max_gap_s``, e.g. between sessions, are shortened to it);
pace ``fast`` publishes as fast as lines can be read.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from shijim.bus.ingestion import Ingestor
from shijim.bus.validation import BadInputCause
from shijim.events import MarketRecord, RecordError, read_records
from shijim.gateway.feed import run_feed_for
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)

NS = 1_000_000_000


class ReplayPace(StrEnum):
    REALTIME = "realtime"  # the recorded spacing of exchange times
    FAST = "fast"


def replay_files(path: str | Path, codes: Iterable[str] | None = None) -> list[Path]:
    """The JSONL files to replay (sorted by name), optionally only those of ``codes``."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"replay: {p} is neither a file nor a directory")
    files = sorted(f for f in p.iterdir() if f.suffix == ".jsonl" and f.is_file())
    if codes is not None:
        wanted = set(codes)
        # <trading day>_<code>.jsonl; a code may itself contain '_', so split once.
        files = [f for f in files if f.stem.partition("_")[2] in wanted]
    return files


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
        monotonic: Callable[[], float] = time.monotonic,
        metrics: ShardMetrics | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected > 0, got {speed!r}")
        self.files = replay_files(path, codes)
        if not self.files:
            raise FileNotFoundError(f"replay: no .jsonl files for this shard under {path}")
        self.pace = ReplayPace(pace)
        self.speed = speed
        self.keep_local_ts = keep_local_ts
        self.max_gap_ns = int(max_gap_s * NS)
        self.batch = batch
        self.monotonic = monotonic
        self.metrics = metrics
        self.ingestor: Ingestor | None = None
        self._records: Iterator[tuple[MarketRecord, str]] | None = None
        self._next: tuple[MarketRecord, str, float] | None = None
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
        where = f"{error.source}:{error.line_no}" if error.line_no else error.source
        self.ingestor.bad.report(cause, where, error.field, error.reason)

    def _stream(self, k: int, path: Path) -> Iterator[tuple[int, int, MarketRecord, str]]:
        src = str(path)
        for rec in read_records(path, on_bad=self._on_bad):
            yield rec.exch_ts, k, rec, src

    def _single(self, path: Path) -> Iterator[tuple[MarketRecord, str]]:
        src = str(path)
        for rec in read_records(path, on_bad=self._on_bad):
            yield rec, src

    def start(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        if len(self.files) == 1:
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

    def _take(self) -> tuple[MarketRecord, str, float] | None:
        """The next record, its source and the wall time at which it is due."""
        if self._next is not None:
            item, self._next = self._next, None
            return item
        assert self._records is not None
        try:
            rec, src = next(self._records)
        except StopIteration:
            self._done = True
            self._set_connected(False)
            return None
        self.read += 1
        return rec, src, self._schedule(rec.exch_ts)

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

    def poll(self) -> int:
        if self.ingestor is None or self.finished:
            return 0
        if self.pace is ReplayPace.FAST and self._next is None:
            n = self._poll_fast(self.ingestor)
            self.published += n
            return n
        n = 0
        for _ in range(self.batch):
            item = self._take()
            if item is None:
                break
            rec, src, due = item
            if self.pace is ReplayPace.REALTIME and due > self.monotonic():
                self._next = item
                break
            if self.ingestor.record(rec, src, keep_local_ts=self.keep_local_ts) is not None:
                n += 1
        self.published += n
        return n
