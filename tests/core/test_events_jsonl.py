"""The canonical raw market-data record: strict validation (file, line, field in every error)
and canonical JSONL that reads back to the same bytes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from shijim.events import (
    BadLineCounter,
    BidAskRecord,
    EventKind,
    RecordError,
    TickRecord,
    TickType,
    TradingStateName,
    format_record,
    iter_records,
    parse_line,
    price_mantissa,
    price_text,
    raw_file_name,
    read_records,
    record_from_dict,
    record_to_dict,
    write_records,
)
from test_sbe_bindings import samples

TICK = (
    '{"type":"tick","code":"TXFL4","exch_ts":1732000000123456789,"local_ts":1732000000123999000,'
    '"seq":1,"price":22013.5,"volume":3,"total_volume":120345,"tick_type":1,"simtrade":false}'
)


def _json_value(v: object) -> str:
    return str(v) if isinstance(v, Decimal) else json.dumps(v)


def _line(record: dict) -> str:
    """A JSONL line for a sample record (Decimal written as a JSON number)."""
    parts = []
    for k, v in record.items():
        text = "[" + ",".join(_json_value(x) for x in v) + "]" if isinstance(v, list) else None
        parts.append(f'"{k}":{text or _json_value(v)}')
    return "{" + ",".join(parts) + "}"


def test_parse_and_format_a_tick() -> None:
    rec = parse_line(TICK)
    assert isinstance(rec, TickRecord)
    assert rec.price == Decimal("22013.5") and rec.tick_type is TickType.BUY
    assert format_record(rec) == TICK


@pytest.mark.parametrize("record", samples(), ids=lambda r: f"{r['type']}-{r['seq']}")
def test_canonical_line_is_a_fixed_point(record: dict) -> None:
    rec = record_from_dict(record)
    line = format_record(rec)
    assert format_record(parse_line(line)) == line
    assert record_to_dict(parse_line(line)) == record
    assert list(json.loads(line)) == list(record)  # documented key order
    assert line.isascii()
    assert " " not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)  # no spaces outside strings


def test_non_canonical_inputs_are_normalised() -> None:
    loose = TICK.replace("22013.5", "22013.500000").replace('"simtrade":false', '"simtrade":0')
    loose = loose.replace(",", ", ")
    assert format_record(parse_line(loose)) == TICK
    assert price_text(Decimal("1E+2")) == "100"
    assert price_text(Decimal("-0.0000010")) == "-0.000001"
    assert price_mantissa(Decimal("22013.5")) == 22013_500000
    cases = {
        "-0": "0",
        "0.0": "0",
        "-0.50": "-0.5",
        "123456789012.5": "123456789012.5",
        "9223372036854.775807": "9223372036854.775807",
        "-9223372036854.775808": "-9223372036854.775808",
        "1.000000": "1",
    }
    for text, canonical in cases.items():
        assert price_text(Decimal(text)) == canonical
    with pytest.raises(ValueError, match="does not fit"):
        price_text(Decimal("9223372036854.775808"))
    with pytest.raises(ValueError, match="does not fit"):
        price_text(Decimal("0.0000001"))


def _bad(line: str) -> RecordError:
    with pytest.raises(RecordError) as exc:
        parse_line(line, source="2024-11-22_TXFL4.jsonl", line_no=7)
    assert str(exc.value).startswith("2024-11-22_TXFL4.jsonl:7: field ")
    return exc.value


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("22013.5", "22013.5000001", "price", "more than 6 decimals"),
        ("22013.5", "1.00000000000000000000000000000001", "price", "more than 6 decimals"),
        ("22013.5", "9223372036854.775808", "price", "out of range"),
        ("22013.5", "1e400", "price", "out of range"),
        ("22013.5", '"abc"', "price", "expected a number, got str"),
        # Prices are JSON numbers: text that reads as a number is refused too (docs/formats.md).
        ("22013.5", '"23001"', "price", "expected a number, got str '23001'"),
        ("22013.5", '"2.3e4"', "price", "expected a number, got str '2.3e4'"),
        ("22013.5", "true", "price", "expected a number, got bool"),
        ('"TXFL4"', '""', "code", "must not be empty"),
        ('"TXFL4"', '"TXFL4-TXFL4-TXFL4"', "code", "longer than 16"),
        ('"TXFL4"', '"\\u53f0"', "code", "not printable ASCII"),
        ('"seq":1', '"seq":-1', "seq", "out of range"),
        ('"seq":1', '"seq":1.0', "seq", "expected an integer"),
        ('"volume":3', '"volume":"3"', "volume", "expected an integer"),
        ('"tick_type":1', '"tick_type":5', "tick_type", "out of range"),
        ('"simtrade":false', '"simtrade":"no"', "simtrade", "true/false"),
        ('"simtrade":false', '"simtrade":false,"extra":1', "extra", "unknown field"),
        (',"simtrade":false', "", "simtrade", "missing"),
        ('"type":"tick"', '"type":"trade"', "type", "not one of"),
        ("22013.5", "NaN", "(line)", "not valid JSON"),
        ('"seq":1', '"seq":1,"seq":2', "(line)", "duplicate key"),
        ("}", "", "(line)", "not valid JSON"),
    ],
)
def test_bad_lines_name_file_line_and_field(old: str, new: str, field: str, reason: str) -> None:
    assert old in TICK
    err = _bad(TICK.replace(old, new, 1))
    assert err.field == field and err.line_no == 7
    assert reason in err.reason


def test_bad_bidask_and_event_lines() -> None:
    ba = _line(samples()[3])
    assert isinstance(parse_line(ba), BidAskRecord)
    err = _bad(ba.replace('"bid_volume":[4,1,', '"bid_volume":[4,1.5,'))
    assert err.field == "bid_volume[1]"
    err = _bad(ba.replace('"ask_volume":[2,9,0,0,', '"ask_volume":[2,9,0,'))
    assert err.field == "ask_volume" and "expected 5 levels, got 4" in err.reason
    ev = _line(samples()[6])
    rec = parse_line(ev)
    assert rec.event is EventKind.TRADING_STATE and rec.trading_state is TradingStateName.HALTED
    err = _bad(ev.replace('"trading_state":"HALTED"', '"trading_state":null'))
    assert err.field == "trading_state" and "needs a trading state" in err.reason
    err = _bad(ev.replace('"HALTED"', '"STOPPED"'))
    assert err.field == "trading_state" and "ACTIVE, REDUCING, HALTED" in err.reason
    assert _bad("[1,2]").field == "(line)"
    assert _bad(b"\xff\xfe".decode("latin-1")).field == "(line)"


def test_files_strict_or_counted(tmp_path: Path) -> None:
    good = [_line(r) for r in samples()]
    path = tmp_path / raw_file_name("2024-11-22", "TXFL4")
    assert path.name == "2024-11-22_TXFL4.jsonl"
    lines = [good[0], "{broken", "", good[1], TICK.replace("22013.5", "1e-9")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"_TXFL4.jsonl:2: field '\(line\)'"):
        list(read_records(path))
    counter = BadLineCounter()
    records = list(read_records(path, on_bad=counter))
    assert [r.seq for r in records] == [1, 2**64 - 1]
    assert counter.count == 2
    assert [e.line_no for e in counter.first] == [2, 5]
    out = tmp_path / "out.jsonl"
    assert write_records(out, records) == 2
    assert out.read_text() == "\n".join(format_record(r) for r in records) + "\n"
    assert [format_record(r) for r in iter_records(good, source="mem")] == [
        format_record(parse_line(g)) for g in good
    ]


def test_truncated_last_line_of_a_crashed_writer(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    path.write_bytes((TICK + "\n" + TICK[:-20]).encode())
    counter = BadLineCounter()
    assert len(list(read_records(path, on_bad=counter))) == 1
    assert counter.count == 1 and counter.first[0].line_no == 2
