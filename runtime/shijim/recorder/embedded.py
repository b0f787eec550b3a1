"""The sink's writer into the embedded ClickHouse (chdb) of its own process.

Blocks go in as ``INSERT INTO t (cols) SETTINGS insert_deduplication_token=... SELECT cols FROM
Python(block)``: chdb reads the Arrow table where it lies. clickhouse-connect's chdb mode (which
the query commands keep: ``shijim.recorder.sink.connect_client``) serialises each block to a
temporary file and inserts it ``FROM INFILE``: measured here, 0.9-1.0 M rows/s against 1.2-1.55 M
for the same blocks read in place (docs/recorder.md#performance). The deduplication token works
for ``INSERT ... SELECT`` as for a plain insert (tested).

Prices reach chdb as ``decimal128`` (``shijim.recorder.tables``): its ``Python()`` table
function does not read Arrow's ``decimal64``. A block spilled by an earlier version (decimal64
prices) is cast on its way in, so an upgrade does not leave it stuck in the spill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

# Setting names and tokens are ours (a hex hash), never user text: checked anyway, so a value
# can never close the quote.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")


def _quoted(value: object) -> str:
    text = str(value)
    if "'" in text or "\\" in text:
        raise ValueError(f"setting value {text[:40]!r}: quotes and backslashes are not allowed")
    return f"'{text}'"


def _readable(data: pa.Table) -> pa.Table:
    """``data`` with its decimal64 columns as decimal128 (the same values), which chdb reads."""
    for i, f in enumerate(data.schema):
        if isinstance(f.type, pa.Decimal64Type):
            t = pa.decimal128(f.type.precision, f.type.scale)
            data = data.set_column(i, pa.field(f.name, t, f.nullable), data.column(i).cast(t))
    return data


class ChdbSession:
    """``command(sql)``, ``insert_arrow(table, data, settings)`` and ``close()`` (what the sink
    uses of a client) on chdb's own connection to ``path``."""

    def __init__(self, path: str) -> None:
        import chdb

        self._conn = chdb.connect(path)

    def command(self, sql: str) -> None:
        self._conn.query(sql)

    def insert_arrow(
        self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None
    ) -> None:
        if not _TABLE.match(table):
            raise ValueError(f"insert_arrow: table {table!r}: expected [database.]name")
        names = data.column_names
        for name in (*names, *(settings or {})):
            if not _NAME.match(name):
                raise ValueError(f"insert_arrow: {name!r}: not a plain identifier")
        cols = ", ".join(names)
        clause = ", ".join(f"{k} = {_quoted(v)}" for k, v in (settings or {}).items())
        block = _readable(data)  # noqa: F841 -- read by name by chdb's Python() table function
        # Every name was checked as an identifier and every value for quotes above.
        sql = f"INSERT INTO {table} ({cols})"
        if clause:
            sql += f" SETTINGS {clause}"
        self._conn.query(f"{sql} SELECT {cols} FROM Python(block)")  # noqa: S608

    def close(self) -> None:
        self._conn.close()
