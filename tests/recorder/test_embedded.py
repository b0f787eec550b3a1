"""The sink's writer into the embedded ClickHouse (shijim.recorder.embedded) on the real chdb:
blocks read where they lie, exact values, the deduplication token, and bad names refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from shijim.recorder.embedded import ChdbSession
from shijim.recorder.tables import _decimal_array, ddl, tick_table

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
    """Each mantissa as 16 bytes with its sign extension: what a cast from decimal64 gives."""
    mantissa = np.array([0, 1, -1, 22_000_500_000, -(10**18 - 1), 10**18 - 1, -(2**40)])
    got = _decimal_array(mantissa)
    assert got.type == pa.decimal128(18, 6)
    want = pa.Array.from_buffers(pa.decimal64(18, 6), mantissa.size, [None, pa.py_buffer(mantissa)])
    assert got.equals(want.cast(pa.decimal128(18, 6)))
    assert got[2].as_py() == Decimal("-0.000001")
