"""The sink's writer into the embedded ClickHouse (shijim.recorder.embedded) on the real chdb:
blocks read where they lie, exact values, the deduplication token, and bad names refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from shijim.recorder.embedded import ChdbSession
from shijim.recorder.tables import _prices, bidask_table, ddl, tick_table

import shijim_core

START_NS = 1_767_574_800_000_000_000  # 2026-01-05 09:00 Taipei


def _ticks(prices: list[float]) -> np.ndarray:
    rows = np.zeros(len(prices), dtype=shijim_core.TICK_DTYPE)
    rows["code"] = b"TXFL6"
    rows["exch_ts"] = START_NS + np.arange(len(prices)) * 1_000_000 + 7  # nanoseconds kept
    rows["local_ts"] = rows["exch_ts"] + 1000
    rows["seq"] = np.arange(1, len(prices) + 1)
    rows["price"] = prices
    rows["volume"] = 1
    rows["total_volume"] = np.arange(1, len(prices) + 1)
    return rows


def test_blocks_go_in_exactly_and_a_block_sent_again_with_its_token_is_dropped(
    chdb_dir: Path, database: str
) -> None:
    s = ChdbSession(str(chdb_dir))
    try:
        for statement in ddl(database):
            s.command(statement)
        block = tick_table(_ticks([22000.5, 0.000001, 123456789.123456]))
        s.insert_arrow(f"{database}.ticks", block, {"insert_deduplication_token": "a1"})
        s.insert_arrow(f"{database}.ticks", block, {"insert_deduplication_token": "a1"})  # again
        rows = s._conn.query(
            f"SELECT toString(price), toString(exch_ts), seq FROM {database}.ticks ORDER BY seq",
            "CSV",
        ).bytes()
        assert rows.decode().splitlines() == [
            '"22000.5","2026-01-05 01:00:00.000000007",1',
            '"0.000001","2026-01-05 01:00:00.001000007",2',
            '"123456789.123456","2026-01-05 01:00:00.002000007",3',
        ]
        s.insert_arrow(f"{database}.ticks", block, {"insert_deduplication_token": "a2"})
        assert s._conn.query(f"SELECT count() FROM {database}.ticks", "CSV").bytes() == b"6\n"
    finally:
        s.close()


def test_a_block_spilled_with_decimal64_prices_still_goes_in_exactly(
    chdb_dir: Path, database: str
) -> None:
    """A spill written before prices were built as decimal128 (Arrow IPC, decimal64 columns) is
    cast on its way in: same values, same token, not stuck in the spill."""
    s = ChdbSession(str(chdb_dir))
    try:
        for statement in ddl(database):
            s.command(statement)
        block = tick_table(_ticks([22000.5, 0.000001]))
        i = block.schema.get_field_index("price")
        mantissa = np.array([22_000_500_000, 1], np.int64)
        old = pa.Array.from_buffers(pa.decimal64(18, 6), 2, [None, pa.py_buffer(mantissa)])
        block = block.set_column(i, pa.field("price", old.type), old)
        s.insert_arrow(f"{database}.ticks", block, {"insert_deduplication_token": "d64"})
        s.insert_arrow(f"{database}.ticks", block, {"insert_deduplication_token": "d64"})
        rows = s._conn.query(
            f"SELECT toString(price) FROM {database}.ticks ORDER BY seq", "CSV"
        ).bytes()
        assert rows.decode().splitlines() == ['"22000.5"', '"0.000001"']
    finally:
        s.close()


@pytest.mark.parametrize(
    ("table", "settings", "columns", "named"),
    [
        ("db.t; DROP TABLE x", {}, ["a"], "table 'db.t; DROP TABLE x'"),
        ("db.t", {"insert_deduplication_token": "x' OR '1"}, ["a"], "quotes"),
        ("db.t", {"bad name": "1"}, ["a"], "'bad name'"),
        ("db.t", {}, ["a b"], "'a b'"),
    ],
)
def test_a_name_or_value_that_could_change_the_statement_is_refused(
    chdb_dir: Path, table: str, settings: dict[str, str], columns: list[str], named: str
) -> None:
    s = ChdbSession(str(chdb_dir))
    try:
        data = pa.table({c: [1] for c in columns})
        with pytest.raises(ValueError, match=named.replace("(", r"\(")):
            s.insert_arrow(table, data, settings)
    finally:
        s.close()


def test_prices_are_decimal128_whatever_their_sign() -> None:
    """Each price as its mantissa in 16 bytes with the sign extension: what a cast from
    decimal64 gives."""
    prices = np.array([0.0, 0.000001, -0.000001, 22000.5, -123456.789012, 999999.999999])
    got = _prices(prices, "price")
    assert got.type == pa.decimal128(18, 6)
    mantissa = np.array([0, 1, -1, 22_000_500_000, -123_456_789_012, 999_999_999_999])
    want = pa.Array.from_buffers(pa.decimal64(18, 6), mantissa.size, [None, pa.py_buffer(mantissa)])
    assert got.equals(want.cast(pa.decimal128(18, 6)))
    assert got[2].as_py() == Decimal("-0.000001")


def _books(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=shijim_core.BIDASK_DTYPE)
    rows["code"] = b"2330"
    rows["exch_ts"] = START_NS + np.arange(n) * 1000
    rows["seq"] = np.arange(1, n + 1)
    mid = 500.0 + rng.integers(-400, 400, n) * 0.5  # on a 0.5 tick
    rows["bid_px"] = mid[:, None] - 0.5 * np.arange(1, 6)
    rows["ask_px"] = mid[:, None] + 0.5 * np.arange(1, 6)
    rows["bid_px"][::7, 4] = 0.0  # an empty level
    rows["ask_px"][::11, 0] = 0.000001
    rows["bid_qty"] = rng.integers(0, 500, (n, 5))
    rows["ask_qty"] = rng.integers(0, 500, (n, 5))
    return rows


def test_book_level_columns_are_each_level_exactly() -> None:
    """The core's one pass over the rows gives, for every side and level, the price as an exact
    decimal and the volume, row for row."""
    books = _books(1500)
    t = bidask_table(books)
    for side in ("bid", "ask"):
        for level in range(5):
            prices = t.column(f"{side}_price{level + 1}").to_pylist()
            want = [Decimal(repr(float(p))) for p in books[f"{side}_px"][:, level]]
            assert prices == want, (side, level)
            assert t.column(f"{side}_price{level + 1}").type == pa.decimal128(18, 6)
            vols = t.column(f"{side}_volume{level + 1}").to_pylist()
            assert vols == books[f"{side}_qty"][:, level].tolist(), (side, level)
    assert t.num_rows == 1500
    # A slice of a bigger block (the sink's parts are) reads the same rows.
    part = bidask_table(books[100:200])
    assert part.column("ask_price1").to_pylist() == t.column("ask_price1").to_pylist()[100:200]


def test_a_book_price_that_is_no_price_names_column_and_row() -> None:
    books = _books(10)
    books["ask_px"][6, 2] = np.nan
    with pytest.raises(ValueError, match=r"ask_price3: row 6: NaN is not a finite price"):
        bidask_table(books)
    with pytest.raises(TypeError, match="expected a 1-D BIDASK_DTYPE array"):
        shijim_core.bidask_level_columns(_ticks([1.0]))
