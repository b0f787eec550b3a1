"""`JsonlRecords.read_rows` / `read_row_batches` against the reference reader: every entry is
the reference record (as a ring row for ticks and books, prices as `float(Decimal)`), in line
order with its line number, and every bad line is reported with the reference's message."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shijim.events import (
    BidAskRecord,
    MarketRecord,
    RecordError,
    TickRecord,
    TickType,
    read_row_batches,
    write_records,
)
from shijim.events import jsonl as jsonl_module
from shijim.events.rows import concat_rows, take_rows
from test_events_fast import _file_lines, _reference_read, _same

import shijim_core


def _entries(path: Path, limit: int, keep: bool) -> tuple[list[tuple[int, Any]], list[str]]:
    """(line, tick row | book row | record) per entry, and the bad lines' messages."""
    errors: list[RecordError] = []
    out: list[tuple[int, Any]] = []
    for b in read_row_batches(path, on_bad=errors.append, limit=limit, keep_local_ts=keep):
        assert 1 <= len(b) <= limit
        t = k = r = 0
        entries = zip(b.kinds.tolist(), b.lines.tolist(), b.exch_ts.tolist(), strict=True)
        for kind, line, ts in entries:
            if kind == 1:
                row, t = b.ticks[t], t + 1
            elif kind == 2:
                row, k = b.books[k], k + 1
            else:
                row, r = b.records[r], r + 1
            assert int(row["exch_ts"] if kind != 3 else row.exch_ts) == ts
            out.append((line, row))
        assert (t, k, r) == (b.ticks.size, b.books.size, len(b.records))
    return out, [str(e) for e in errors]


def _check_row(row: Any, rec: MarketRecord, keep: bool) -> None:
    assert row["code"].decode() == rec.code
    assert int(row["exch_ts"]) == rec.exch_ts
    assert int(row["local_ts"]) == (rec.local_ts if keep else 0)
    assert bool(row["simtrade"]) == rec.simtrade
    if isinstance(rec, TickRecord):
        assert float(row["price"]) == float(rec.price)  # what Ingestor.tick publishes
        assert (int(row["volume"]), int(row["total_volume"])) == (rec.volume, rec.total_volume)
        assert int(row["tick_type"]) == int(rec.tick_type)
    else:
        assert isinstance(rec, BidAskRecord)
        assert row["bid_px"].tolist() == [float(p) for p in rec.bid_price]
        assert row["ask_px"].tolist() == [float(p) for p in rec.ask_price]
        assert tuple(row["bid_qty"].tolist()) == rec.bid_volume
        assert tuple(row["ask_qty"].tolist()) == rec.ask_volume


@pytest.mark.parametrize("chunk", [1, 64, 1 << 20])
@pytest.mark.parametrize("limit", [1, 5, 4096])
@pytest.mark.parametrize("keep", [False, True])
def test_row_batches_equal_the_reference_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, limit: int, keep: bool
) -> None:
    monkeypatch.setattr(jsonl_module, "READ_CHUNK", chunk)
    rng = random.Random(chunk * 31 + limit)
    lines = _file_lines(rng, 300)
    lines += [f"{lines[0]}" if lines[0].strip() else "{}"]  # a final line without '\n'
    path = tmp_path / "20260105_TXFL6.jsonl"
    path.write_bytes("\n".join(lines).encode())
    got, errors = _entries(path, limit, keep)
    want, want_errors = _reference_read(path)
    assert errors == want_errors
    assert len(got) == len(want)
    with path.open("rb") as f:
        numbered = [n for n, line in enumerate(f, start=1) if line.strip()]
    good_lines = [n for n in numbered if not any(f":{n}:" in e for e in want_errors)]
    assert [line for line, _ in got] == good_lines
    for (_line, row), rec in zip(got, want, strict=True):
        if hasattr(row, "dtype"):  # a ring row
            _check_row(row, rec, keep)
        else:
            _same(row, rec)


def test_huge_prices_are_the_nearest_float_of_the_decimal(tmp_path: Path) -> None:
    """Mantissas beyond 2**53 must not be rounded twice (int -> float, then / 1e6)."""
    rng = random.Random(5)
    recs = []
    for i in range(300):
        m = rng.randint(2**53, 2**63 - 1) * rng.choice([1, -1])
        p = Decimal(m).scaleb(-6)
        recs.append(TickRecord("TXFL6", i, i, 0, p, 1, 1, TickType.BUY, False))
        recs.append(BidAskRecord("TXFL6", i, i, 0, (p,) * 5, (1,) * 5, (-p,) * 5, (1,) * 5, True))
    path = tmp_path / "x.jsonl"
    write_records(path, recs)
    got, errors = _entries(path, 4096, True)
    assert not errors and len(got) == len(recs)
    for (_line, row), rec in zip(got, recs, strict=True):
        assert hasattr(row, "dtype")
        _check_row(row, rec, True)


def test_concat_and_take_rows_keep_the_ring_layout_byte_for_byte() -> None:
    """np.concatenate of the ring's padded rows gives a packed dtype (which the admission then
    had to convert back, every batch); concat_rows and take_rows keep the ring's own dtype
    and copy the bytes."""
    book = np.dtype(shijim_core.BIDASK_DTYPE)
    rng = np.random.default_rng(3)
    parts = []
    for n in (3, 0, 5):
        rows = np.zeros(n, book)
        rows["exch_ts"] = rng.integers(0, 1 << 40, n)
        rows["bid_px"] = rng.random((n, 5))
        rows["code"] = b"TXFL6"
        parts.append(rows)
    assert np.concatenate(parts).dtype != book  # what this replaces
    joined = concat_rows(parts, book)
    assert joined.dtype == book and joined.size == 8
    assert joined.tobytes() == b"".join(p.tobytes() for p in parts)
    index = np.array([7, 0, 3, 3])
    taken = take_rows(joined, index)
    assert taken.dtype == book
    assert taken.tobytes() == b"".join(joined[i : i + 1].tobytes() for i in index)
    assert concat_rows([], book).dtype == book
    # Rows in another layout are converted field by field, not reinterpreted.
    packed = np.concatenate(parts)
    again = concat_rows([packed], book)
    assert again.dtype == book and np.array_equal(again["bid_px"], joined["bid_px"])


def test_admission_takes_the_readers_uint8_kinds(tmp_path: Path) -> None:
    """The core's readers give kinds as uint8; the admission takes them as they are (an int8
    contract sent every replay batch through a conversion of all its rows)."""
    f = tmp_path / "d.jsonl"
    write_records(f, [
        TickRecord("TXFL6", 1_767_574_800_000_000_000 + i, 0, i, Decimal(20000), 1, i,
                   TickType.BUY, False)
        for i in range(1, 4)
    ])  # fmt: skip
    batch = next(iter(read_row_batches(f, on_bad=lambda e: None)))
    assert batch.kinds.dtype == np.uint8
    name = f"test-kinds-{id(f)}"
    shijim_core.ring_unlink(name)
    w = shijim_core.RingWriter(name, slots=1024)
    try:
        adm = shijim_core.Admission()
        nt, nb, *_ = adm.admit_rows(w, batch.ticks, batch.books, batch.kinds, 2 * 10**18)
        assert (nt, nb) == (3, 0)
    finally:
        w.close()
        shijim_core.ring_unlink(name)


def test_admit_rows_names_a_wrong_array_and_publishes_nothing(tmp_path: Path) -> None:
    """An array of another dtype or shape is a TypeError naming the call, the argument, what it
    expects and what it got, before any row is published; the ingestion's batch path converts a
    convertible batch once and publishes every row, and a strided slice is read right."""
    from shijim.bus import Ingestor

    f = tmp_path / "d.jsonl"
    write_records(f, [
        TickRecord("TXFL6", 1_767_574_800_000_000_000 + i, 0, i, Decimal(20000 + i), 1, i,
                   TickType.BUY, False)
        for i in range(1, 7)
    ])  # fmt: skip
    batch = next(iter(read_row_batches(f, on_bad=lambda e: None)))
    name = f"test-bad-arrays-{id(f)}"
    shijim_core.ring_unlink(name)
    w = shijim_core.RingWriter(name, slots=1024)
    r = shijim_core.RingReader(name)
    try:
        adm = shijim_core.Admission()
        now = 2 * 10**18
        wrong = [
            ((batch.ticks, batch.books, batch.kinds.astype(np.int64)),
             r"admit_rows: kinds: expected a 1-D uint8 array, got a 1-D array of dtype int64"),
            ((batch.ticks[["code", "price"]], batch.books, batch.kinds),
             r"admit_rows: ticks: expected a 1-D TICK_DTYPE array, got a 1-D array of dtype"),
            ((batch.ticks, [], batch.kinds),
             r"admit_rows: bidasks: expected a 1-D BIDASK_DTYPE array, got a list"),
            ((batch.ticks.reshape(2, 3), batch.books, batch.kinds),
             r"admit_rows: ticks: expected a 1-D TICK_DTYPE array, got a 2-D array"),
        ]  # fmt: skip
        for (ticks, books, kinds), message in wrong:
            with pytest.raises(TypeError, match=message):
                adm.admit_rows(w, ticks, books, kinds, now)
        assert len(r.read(64)) == 0  # nothing published by any of them
        with pytest.raises(TypeError, match=r"check_row: arr: expected a 1-D TICK_DTYPE array"):
            adm.check_row("tick", batch.books, 0, now)
        # Through the ingestion: int64 kinds are converted once, every row is published.
        ing = Ingestor(w, universe=["TXFL6"])
        every_other = batch.ticks[::2]  # strided: copied, read in order
        kinds = np.ones(every_other.size, np.int64)
        assert ing.interleaved(every_other, batch.books, kinds, "test") == 3
        got = r.read(64).ticks
        assert got["price"].tolist() == every_other["price"].tolist() == [20001.0, 20003.0, 20005.0]
        assert got["exch_ts"].tolist() == every_other["exch_ts"].tolist()
    finally:
        w.close()
        shijim_core.ring_unlink(name)
