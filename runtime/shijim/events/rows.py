"""Raw JSONL as ring rows: many canonical lines -> numpy tick/book rows in one core call.

The bulk form of `read_records` for replay: plain tick and book lines become TICK_DTYPE /
BIDASK_DTYPE rows in the core (`shijim_core.JsonlRecords.read_rows`), with no Python object per
line. Snapshots and events stay records (they are rare and go through the per-record path), and
every line the fast path leaves alone goes to the reference reader, which accepts it (then it is
one record entry) or names the file, line and field (then it is a bad line, dropped). Entries
keep line order, so an event stays where it was between ticks and books.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import shijim_core
from shijim.events.jsonl import FAST_RECORDS, READ_CHUNK, OnBadLine, parse_line_reference
from shijim.events.record import MarketRecord, RecordError

TICK = 1  # kinds: the next row of `ticks`
BIDASK = 2  # the next row of `books`
RECORD = 3  # the next of `records` (snapshot, event, or a line the reference reader took)

_TICK_DTYPE = np.dtype(shijim_core.TICK_DTYPE)
_BIDASK_DTYPE = np.dtype(shijim_core.BIDASK_DTYPE)


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Consecutive entries of one file, in line order."""

    source: str
    ticks: np.ndarray  # TICK_DTYPE, local_ts 0 (stamp at publish) unless kept
    books: np.ndarray  # BIDASK_DTYPE
    kinds: np.ndarray  # uint8: TICK, BIDASK or RECORD per entry
    lines: np.ndarray  # int64: the file line of each entry (from 1)
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
    with p.open("rb") as f:
        data = b""
        line_no = 0
        last = False
        while not last:
            chunk = f.read(READ_CHUNK)
            last = not chunk
            data += chunk  # the unfinished line of the previous chunk, then this chunk
            pos = 0
            while True:
                ticks, books, kinds, lines, ts, records, pos, n = read_rows(
                    data, pos, last, limit, keep_local_ts
                )
                if kinds.size:
                    lines += line_no
                    yield RowBatch(source, ticks, books, kinds, lines, ts, records)
                line_no += n
                if kinds.size >= limit:
                    continue  # stopped at the limit, not at a line it leaves alone
                end = data.find(b"\n", pos) + 1
                if not end:
                    if not (last and pos < len(data)):
                        break  # the rest of the line is in the next chunk
                    end = len(data)
                line_no += 1
                try:
                    rec = parse_line_reference(data[pos:end], source=source, line_no=line_no)
                except RecordError as exc:
                    if on_bad is None:
                        raise
                    on_bad(exc)
                else:
                    yield RowBatch.of_record(source, rec, line_no)
                pos = end
            data = data[pos:]
