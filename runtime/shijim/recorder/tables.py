"""The ClickHouse tables of recorded market data and the Arrow blocks inserted into them.

One table per record type (ticks, bidasks, snapshots, events), the columns of the canonical
record (docs/formats.md) plus ``trading_day``: nanosecond timestamps (``DateTime64(9, 'UTC')``),
exact prices (``Decimal(18, 6)``, the wire's fixed point), ``ORDER BY (code, exch_ts)``, one
partition per trading day (the day of the file the row is in). The tables are plain MergeTree
with ``non_replicated_deduplication_window``: an insert retried with the same
``insert_deduplication_token`` is dropped by the server (docs/recorder.md).

Rows come from ring rows (``TICK_DTYPE`` / ``BIDASK_DTYPE``: prices as the nearest float of the
exact decimal, so ``rint(price * 1e6)`` is the exact mantissa below 9e9) and from records
(snapshots, events), the same way from the ring and from a file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

import shijim_core
from shijim.events import EventRecord, MarketRecord, SnapshotRecord, price_mantissa
from shijim.trading_day import trading_day

TABLES = ("ticks", "bidasks", "snapshots", "events")
# Blocks remembered per table for deduplication: far more than can be in flight (blocks are
# retried in order, and no new block is sent while an older one waits).
DEDUP_WINDOW = 1000

_HEAD = """    trading_day Date,
    code LowCardinality(String),
    exch_ts DateTime64(9, 'UTC'),
    local_ts DateTime64(9, 'UTC'),
    seq UInt64,"""
_COLUMNS = {
    "ticks": """
    price Decimal(18, 6),
    volume Int64,
    total_volume Int64,
    tick_type UInt8,
    simtrade Bool""",
    # Five levels as twenty columns, best first (the SBE message's layout): columns insert
    # about twice as fast as Array(Decimal) and compress better (docs/recorder.md).
    "bidasks": "".join(
        f"\n    {side}_{what}{level} {kind},"
        for side in ("bid", "ask")
        for what, kind in (("price", "Decimal(18, 6)"), ("volume", "Int64"))
        for level in range(1, 6)
    )
    + "\n    simtrade Bool",
    "snapshots": """
    open Decimal(18, 6),
    high Decimal(18, 6),
    low Decimal(18, 6),
    close Decimal(18, 6),
    volume Int64,
    total_volume Int64,
    bid_price Decimal(18, 6),
    bid_volume Int64,
    ask_price Decimal(18, 6),
    ask_volume Int64""",
    "events": """
    event LowCardinality(String),
    session_state Nullable(String),
    trading_state Nullable(String),
    count Int64,
    reason String""",
}


def ddl(database: str) -> list[str]:
    """CREATE statements (idempotent) of the database and its four tables."""
    out = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for table in TABLES:
        out.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table} (\n{_HEAD}{_COLUMNS[table]}\n)"
            "\nENGINE = MergeTree\nPARTITION BY trading_day\nORDER BY (code, exch_ts)"
            f"\nSETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}"
        )
    return out


_TS = pa.timestamp("ns", tz="UTC")
# decimal128, not decimal64: chdb's Python() table function (the embedded sink's insert,
# shijim.recorder.embedded) reads only the former; a server reads both.
_PRICE = pa.decimal128(18, 6)


# The core's level columns, in its order: bid 1..5, then ask 1..5.
_LEVEL_COLUMNS = [(side, level) for side in ("bid", "ask") for level in range(1, 6)]


def _decimal_array(words: np.ndarray) -> pa.Array:
    """Decimal(18, 6) values from their 16-byte little-endian words (the mantissa and its sign
    extension: what a cast from decimal64 computes, ten times slower)."""
    return pa.Array.from_buffers(_PRICE, words.size // 2, [None, pa.py_buffer(words)])


def _prices(values: np.ndarray, column: str) -> pa.Array:
    # The core converts with the ring's own float -> fixed-point rule, in one pass over the
    # column as it lies in the rows (no copy, no temporaries).
    return _decimal_array(shijim_core.decimal128_words(values, column))


def _codes(codes: np.ndarray) -> pa.Array:
    # Plain strings (the table's LowCardinality encodes them): chunks of a block then need no
    # common dictionary. Rows come in runs of one code (the capture reads by code), so the
    # dictionary is built per run (no sort of the whole column).
    n = codes.size
    if n == 0:
        return pa.array([], pa.string())
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    bounds = [0, *starts.tolist(), n]
    names: dict[bytes, int] = {}
    index = np.empty(n, np.int32)
    for a, b in itertools.pairwise(bounds):
        index[a:b] = names.setdefault(bytes(codes[a]), len(names))
    dictionary = pa.array([c.decode("ascii") for c in names], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(index), dictionary).dictionary_decode()


def _head(rows: np.ndarray) -> dict[str, pa.Array]:
    exch = np.ascontiguousarray(rows["exch_ts"])
    return {
        "trading_day": pa.array(trading_day(exch).astype(np.int32), pa.date32()),
        "code": _codes(rows["code"]),
        "exch_ts": pa.array(exch, _TS),
        "local_ts": pa.array(np.ascontiguousarray(rows["local_ts"]), _TS),
        "seq": pa.array(np.ascontiguousarray(rows["seq"]), pa.uint64()),
    }


def tick_table(ticks: np.ndarray) -> pa.Table:
    return pa.table(
        {
            **_head(ticks),
            "price": _prices(ticks["price"], "price"),
            "volume": pa.array(np.ascontiguousarray(ticks["volume"])),
            "total_volume": pa.array(np.ascontiguousarray(ticks["total_volume"])),
            "tick_type": pa.array(np.ascontiguousarray(ticks["tick_type"])),
            "simtrade": pa.array(np.ascontiguousarray(ticks["simtrade"])),
        }
    )


def bidask_table(books: np.ndarray) -> pa.Table:
    cols = _head(books)
    # The 20 level columns in one pass over the rows (shijim_core.columns): a column view per
    # level read the whole block once per column.
    words, volumes = shijim_core.bidask_level_columns(books)
    for k, (side, level) in enumerate(_LEVEL_COLUMNS):
        cols[f"{side}_price{level}"] = _decimal_array(words[k])
    for k, (side, level) in enumerate(_LEVEL_COLUMNS):
        cols[f"{side}_volume{level}"] = pa.array(volumes[k])
    cols["simtrade"] = pa.array(np.ascontiguousarray(books["simtrade"]))
    return pa.table(cols)


def _record_head(records: Sequence[MarketRecord]) -> dict[str, pa.Array]:
    exch = np.array([r.exch_ts for r in records], np.int64)
    codes = np.array([r.code.encode("ascii") for r in records], "S16")
    return {
        "trading_day": pa.array(trading_day(exch).astype(np.int32), pa.date32()),
        "code": _codes(codes),
        "exch_ts": pa.array(exch, _TS),
        "local_ts": pa.array(np.array([r.local_ts for r in records], np.int64), _TS),
        "seq": pa.array([r.seq for r in records], pa.uint64()),
    }


def _decimals(values: list[object]) -> pa.Array:
    # Records' prices are decimals already (few rows: snapshots): their exact mantissas, then
    # the words.
    words = np.empty((len(values), 2), np.int64)
    words[:, 0] = [price_mantissa(v) for v in values]  # type: ignore[arg-type]
    words[:, 1] = words[:, 0] >> 63
    return _decimal_array(words)


def snapshot_table(snaps: Sequence[SnapshotRecord]) -> pa.Table:
    cols = _record_head(snaps)
    for name in ("open", "high", "low", "close"):
        cols[name] = _decimals([getattr(s, name) for s in snaps])
    cols["volume"] = pa.array([s.volume for s in snaps], pa.int64())
    cols["total_volume"] = pa.array([s.total_volume for s in snaps], pa.int64())
    cols["bid_price"] = _decimals([s.bid_price for s in snaps])
    cols["bid_volume"] = pa.array([s.bid_volume for s in snaps], pa.int64())
    cols["ask_price"] = _decimals([s.ask_price for s in snaps])
    cols["ask_volume"] = pa.array([s.ask_volume for s in snaps], pa.int64())
    return pa.table(cols)


def event_table(events: Sequence[EventRecord]) -> pa.Table:
    def name(value: object) -> str | None:
        return None if value is None else str(value.value)  # type: ignore[attr-defined]

    cols = _record_head(events)
    cols["event"] = pa.array([e.event.value for e in events], pa.string())
    cols["session_state"] = pa.array([name(e.session_state) for e in events], pa.string())
    cols["trading_state"] = pa.array([name(e.trading_state) for e in events], pa.string())
    cols["count"] = pa.array([e.count for e in events], pa.int64())
    cols["reason"] = pa.array([e.reason for e in events], pa.string())
    return pa.table(cols)


def block_tables(
    ticks: np.ndarray, books: np.ndarray, records: Sequence[MarketRecord]
) -> dict[str, pa.Table]:
    """The Arrow tables of one part of a block (only the non-empty ones)."""
    out = {}
    if ticks.size:
        out["ticks"] = tick_table(ticks)
    if books.size:
        out["bidasks"] = bidask_table(books)
    snaps = [r for r in records if isinstance(r, SnapshotRecord)]
    if snaps:
        out["snapshots"] = snapshot_table(snaps)
    events = [r for r in records if isinstance(r, EventRecord)]
    if events:
        out["events"] = event_table(events)
    return out
