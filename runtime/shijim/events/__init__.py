"""The canonical raw market-data record and its JSONL form (docs/formats.md).

The recorder writes it, the replay feed and the converters read it, `python -m
shijim.tools.sbe` converts it to and from SBE.
"""

from __future__ import annotations

from shijim.events.jsonl import (
    BadLineCounter,
    format_record,
    iter_records,
    parse_line,
    parse_line_reference,
    raw_file_name,
    read_records,
    write_records,
)
from shijim.events.record import (
    CODE_LEN,
    LEVELS,
    PRICE_EXPONENT,
    REASON_LEN,
    BidAskRecord,
    EventKind,
    EventRecord,
    MarketRecord,
    RecordError,
    RecordType,
    SessionState,
    SnapshotRecord,
    TickRecord,
    TickType,
    TradingStateName,
    price_mantissa,
    price_text,
    record_from_dict,
    record_to_dict,
)
from shijim.events.rows import RowBatch, read_row_batches

__all__ = [
    "CODE_LEN",
    "LEVELS",
    "PRICE_EXPONENT",
    "REASON_LEN",
    "BadLineCounter",
    "BidAskRecord",
    "EventKind",
    "EventRecord",
    "MarketRecord",
    "RecordError",
    "RecordType",
    "RowBatch",
    "SessionState",
    "SnapshotRecord",
    "TickRecord",
    "TickType",
    "TradingStateName",
    "format_record",
    "iter_records",
    "parse_line",
    "parse_line_reference",
    "price_mantissa",
    "price_text",
    "raw_file_name",
    "read_records",
    "read_row_batches",
    "record_from_dict",
    "record_to_dict",
    "write_records",
]
