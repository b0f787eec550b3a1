"""The core's JSONL fast path (`shijim_core.JsonlRecords`, `sbe_encode_jsonl`,
`sbe_decode_jsonl`) against the reference reader (`json` + `record_from_dict`): the same
records and bytes for every line it takes, and never a line the reference refuses."""

from __future__ import annotations

import os
import random
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from shijim.events import (
    BadLineCounter,
    MarketRecord,
    RecordError,
    format_record,
    iter_records,
    parse_line,
    read_records,
    record_from_dict,
    record_to_dict,
)
from shijim.events import frames as frames_module
from shijim.events import jsonl as jsonl_module
from shijim.events.jsonl import FAST_RECORDS, parse_line_reference
from shijim.tools import sbe as tool

import shijim_core

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
CODE_CHARS = "ABCXYZ0123456789_-. \"\\'~"


def _int(rng: random.Random) -> int:
    return rng.choice([0, 1, -1, I64_MIN, I64_MAX, rng.randint(I64_MIN, I64_MAX)])


def _price(rng: random.Random) -> Decimal:
    m = rng.choice([0, 1, -1, I64_MIN, I64_MAX, rng.randint(-(10**12), 10**12)])
    return Decimal(m).scaleb(-6)


def _code(rng: random.Random, allow_empty: bool) -> str:
    n = rng.randint(0 if allow_empty else 1, 16)
    return "".join(rng.choice(CODE_CHARS) for _ in range(n))


def random_record(rng: random.Random) -> MarketRecord:
    kind = rng.choice(["tick", "bidask", "snapshot", "event"])
    head = {
        "type": kind,
        "code": _code(rng, kind == "event"),
        "exch_ts": _int(rng),
        "local_ts": _int(rng),
        "seq": rng.choice([0, 2**64 - 1, rng.randint(0, 2**64 - 1)]),
    }
    if kind == "tick":
        body = {
            "price": _price(rng),
            "volume": _int(rng),
            "total_volume": _int(rng),
            "tick_type": rng.randint(0, 2),
            "simtrade": rng.random() < 0.5,
        }
    elif kind == "bidask":
        body = {
            "bid_price": [_price(rng) for _ in range(5)],
            "bid_volume": [_int(rng) for _ in range(5)],
            "ask_price": [_price(rng) for _ in range(5)],
            "ask_volume": [_int(rng) for _ in range(5)],
            "simtrade": rng.random() < 0.5,
        }
    elif kind == "snapshot":
        body = {k: _price(rng) for k in ("open", "high", "low", "close")}
        body |= {"volume": _int(rng), "total_volume": _int(rng)}
        body |= {"bid_price": _price(rng), "bid_volume": _int(rng)}
        body |= {"ask_price": _price(rng), "ask_volume": _int(rng)}
    else:
        event = rng.choice(["session_state", "trading_state", "feed_gap", "reconnect"])
        session = rng.choice([None, "PRE_OPEN", "OPEN", "CLOSED"])
        trading = rng.choice([None, "ACTIVE", "REDUCING", "HALTED"])
        if event == "session_state" and session is None:
            session = "OPEN"
        if event == "trading_state" and trading is None:
            trading = "HALTED"
        body = {
            "event": event,
            "session_state": session,
            "trading_state": trading,
            "count": _int(rng),
            "reason": _code(rng, True) * rng.randint(0, 2),
        }
    return record_from_dict(head | body)


def _same(a: MarketRecord, b: MarketRecord) -> None:
    # repr also compares Decimal exponents and enum members, which == alone would not.
    assert a == b
    assert repr(a) == repr(b)
    assert format_record(a) == format_record(b)


def test_random_canonical_lines_are_taken_and_give_the_reference_record() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        line = format_record(random_record(rng)).encode()
        fast = FAST_RECORDS.parse_line(line)
        ref = parse_line_reference(line)
        if b"\\" in line:
            assert fast is None  # escapes are left to the reference reader
            continue
        assert fast is not None, line
        _same(fast, ref)
        assert format_record(fast).encode() == line


MUTATIONS = [
    "",
    " ",
    "0",
    "9",
    "-",
    ".",
    "e",
    "E5",
    ",",
    ":",
    '"',
    "\\",
    "[",
    "]",
    "{",
    "}",
    "null",
    "true",
    "NaN",
    "Infinity",
    "1.0000001",
    '"x"',
    "\u00e9",
]


def _mutate(rng: random.Random, line: str) -> str:
    i = rng.randrange(len(line) + 1)
    j = min(len(line), i + rng.choice([0, 0, 1, 1, 2, 5]))
    return line[:i] + rng.choice(MUTATIONS) + line[j:]


def test_mutated_lines_never_take_a_different_path_outcome() -> None:
    """Broken, truncated and odd lines: the fast path either leaves them to the reference or
    builds exactly the reference's record; it never accepts one the reference refuses."""
    rng = random.Random(11)
    taken = refused = 0
    for _ in range(20000):
        line = _mutate(rng, format_record(random_record(rng)))
        if rng.random() < 0.3:
            line = _mutate(rng, line)
        raw = line.encode()
        fast = FAST_RECORDS.parse_line(raw)
        try:
            ref = parse_line_reference(raw)
        except RecordError:
            assert fast is None, line
            refused += 1
            continue
        if fast is not None:
            _same(fast, ref)
            taken += 1
    assert taken > 300 and refused > 3000  # the mutations reach both outcomes


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ('"price":22013.5', '"price":22013.5000001', "price", "has more than 6 decimals"),
        ('"price":22013.5', '"price":NaN', "(line)", "not valid JSON"),
        ('"price":22013.5', '"price":9E99999999999999999999', "(line)", "beyond the decimal"),
        ('"price":22013.5', '"price":"NaN"', "price", "expected a number, got str 'NaN'"),
        ('"price":22013.5', '"price":"22013.50"', "price", "expected a number, got str"),
        ('"price":22013.5', '"price":"2.3e4"', "price", "expected a number, got str '2.3e4'"),
        ('"price":22013.5', '"price":true', "price", "expected a number, got bool"),
        ('"price":22013.5', '"price":9223372036855', "price", "is out of range"),
        ('"volume":3', '"volume":3.0', "volume", "expected an integer, got Decimal"),
        ('"volume":3', '"volume":"3"', "volume", "expected an integer, got str"),
        ('"seq":1', '"seq":-1', "seq", "out of range"),
        ('"tick_type":1', '"tick_type":3', "tick_type", "out of range"),
        ('"simtrade":false', '"simtrade":2', "simtrade", "expected true/false"),
        ('"code":"TXFL4"', '"code":""', "code", "must not be empty"),
        ('"code":"TXFL4"', '"code":7', "code", "expected a string, got int"),
        (',"simtrade":false', "", "simtrade", "missing"),
        ('"type":"tick"', '"type":"trade"', "type", "is not one of"),
        ('"simtrade":false}', '"simtrade":false,"simtrade":true}', "(line)", "duplicate key"),
        ('"simtrade":false}', '"simtrade":false', "(line)", "not valid JSON"),
    ],
)
def test_bad_lines_name_the_field_as_the_reference_does(
    old: str, new: str, field: str, reason: str
) -> None:
    line = TICK.replace(old, new)
    assert line != TICK
    assert FAST_RECORDS.parse_line(line.encode()) is None
    with pytest.raises(RecordError) as caught:
        parse_line(line, source="day.jsonl", line_no=4)
    with pytest.raises(RecordError) as ref:
        parse_line_reference(line, source="day.jsonl", line_no=4)
    assert str(caught.value) == str(ref.value)
    assert caught.value.field == field and reason in caught.value.reason
    assert str(caught.value).startswith(f"day.jsonl:4: field {field!r}: ")


TICK = (
    '{"type":"tick","code":"TXFL4","exch_ts":1,"local_ts":2,"seq":1,"price":22013.5,'
    '"volume":3,"total_volume":120,"tick_type":1,"simtrade":false}'
)
# Accepted by the reference reader, but outside the fast path: must still be read.
SLOW_GOOD = [
    TICK.replace("22013.5", "2.20135E4"),
    TICK.replace('"simtrade":false', '"simtrade":0'),
    TICK.replace("TXFL4", "TX\\u0046L4"),
    TICK.replace(",", ", "),
]


def test_lines_outside_the_fast_path_are_still_read() -> None:
    want = parse_line_reference(TICK)
    for line in SLOW_GOOD:
        assert FAST_RECORDS.parse_line(line.encode()) is None or line == TICK.replace(",", ", ")
        _same(parse_line(line), want)
        _same(parse_line(line.encode()), want)
    # Other byte buffers still go to the reference reader, as before the fast path.
    _same(parse_line(bytearray(TICK.encode())), want)  # type: ignore[arg-type]
    _same(parse_line(TICK + "\n"), want)


def _file_lines(rng: random.Random, n: int) -> list[str]:
    lines = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.7:
            lines.append(format_record(random_record(rng)))
        elif roll < 0.8:
            lines.append(rng.choice(SLOW_GOOD))
        elif roll < 0.9:
            lines.append(rng.choice(["", "  ", "\t\r", "not json", "{}", TICK[:-9]]))
        else:
            lines.append(_mutate(rng, format_record(random_record(rng))))
    return lines


def _reference_read(path: Path) -> tuple[list[MarketRecord], list[str]]:
    errors: list[str] = []
    out = []
    with path.open("rb") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append(parse_line_reference(line, source=str(path), line_no=line_no))
            except RecordError as exc:
                errors.append(str(exc))
    return out, errors


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("final_newline", [True, False])
def test_read_records_equals_the_reference_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, final_newline: bool
) -> None:
    monkeypatch.setattr(jsonl_module, "READ_CHUNK", chunk)
    rng = random.Random(chunk)
    text = "\n".join(_file_lines(rng, 300)) + ("\n" if final_newline else "")
    path = tmp_path / "20260105_TXFL6.jsonl"
    path.write_bytes(text.encode())
    counter = BadLineCounter(keep=1000)
    got = list(read_records(path, on_bad=counter))
    want, errors = _reference_read(path)
    assert len(got) == len(want) and counter.count == len(errors)
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    assert [str(e) for e in counter.first] == errors
    with path.open("rb") as f:
        assert list(iter_records(f, source=str(path), on_bad=lambda e: None)) == got


def test_read_records_without_on_bad_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(TICK + "\n\n" + TICK.replace("22013.5", "1e-9") + "\n" + TICK + "\n")
    got = []
    with pytest.raises(RecordError, match=r"x\.jsonl:3: field 'price': 1E-9 has more than 6"):
        got.extend(read_records(path))
    assert len(got) == 1


def test_read_lines_reports_where_it_stopped() -> None:
    data = (TICK + "\n\n" + SLOW_GOOD[0] + "\n" + TICK).encode()
    records, pos, lines = FAST_RECORDS.read_lines(data, 0, False)
    assert len(records) == 1 and lines == 2 and data[pos:].startswith(SLOW_GOOD[0].encode())
    after = data.index(b"\n", pos) + 1
    records, pos, lines = FAST_RECORDS.read_lines(data, after, False)
    assert (records, pos, lines) == ([], after, 0)  # the last line may not be complete yet
    records, pos, lines = FAST_RECORDS.read_lines(data, after, True)
    assert len(records) == 1 and pos == len(data) and lines == 1
    with pytest.raises(TypeError):
        FAST_RECORDS.read_lines(TICK, 0, True)  # str, not bytes


def test_sbe_jsonl_paths_equal_the_record_mapping() -> None:
    rng = random.Random(3)
    records = [random_record(rng) for _ in range(4000)]
    # Lines with escapes (a '"' or '\\' in a code) are left to the reference; see below.
    plain = [r for r in records if "\\" not in format_record(r)]
    assert len(plain) > 1000
    text = "".join(format_record(r) + "\n" for r in plain).encode()
    stream = shijim_core.sbe_encode_stream([record_to_dict(r) for r in plain])
    assert shijim_core.sbe_encode_jsonl(text, 0, True) == (
        stream,
        len(text),
        len(plain),
        len(plain),
    )
    back, end, m = shijim_core.sbe_decode_jsonl(stream)
    assert (back, end, m) == (text, len(stream), len(plain))
    # Every record, escapes included, decodes to its canonical line.
    stream = shijim_core.sbe_encode_stream([record_to_dict(r) for r in records])
    back, end, m = shijim_core.sbe_decode_jsonl(stream)
    assert back == "".join(format_record(r) + "\n" for r in records).encode()
    assert (end, m) == (len(stream), len(records))
    # The encoder stops at the first line with an escape, just after the frames before it.
    first = next(i for i, r in enumerate(records) if "\\" in format_record(r))
    text = "".join(format_record(r) + "\n" for r in records).encode()
    frames, pos, lines, n = shijim_core.sbe_encode_jsonl(text, 0, True)
    assert n == lines == first and text[:pos].count(b"\n") == first
    assert frames == shijim_core.sbe_encode_stream([record_to_dict(r) for r in records[:first]])


def test_sbe_decode_jsonl_stops_at_frames_the_reference_must_judge() -> None:
    good = shijim_core.sbe_encode_stream([record_to_dict(parse_line(TICK))])
    # A well-framed tick with an empty code: valid SBE, not a valid record.
    empty = bytearray(good)
    empty[6 + 8 + 24 : 6 + 8 + 40] = bytes(16)
    data = good + bytes(empty) + good
    text, pos, n = shijim_core.sbe_decode_jsonl(data)
    assert (text, pos, n) == ((TICK + "\n").encode(), len(good), 1)
    assert shijim_core.sbe_decode_jsonl(data, len(good) * 2) == (
        (TICK + "\n").encode(),
        3 * len(good),
        1,
    )
    assert shijim_core.sbe_decode_jsonl(good[:-1]) == (b"", 0, 0)  # truncated frame
    assert shijim_core.sbe_decode_jsonl(b"\x00\x00\x00\x10\xbe\x5b" + bytes(10)) == (b"", 0, 0)


def test_tool_round_trip_with_slow_and_bad_lines_and_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(jsonl_module, "READ_CHUNK", 97)
    monkeypatch.setattr(frames_module, "READ_CHUNK", 101)
    rng = random.Random(5)
    src = tmp_path / "in.jsonl"
    src.write_text(TICK + "\n" + "\n".join(_file_lines(rng, 400)))
    dst, back = tmp_path / "out.sbe", tmp_path / "back.jsonl"
    assert tool.main(["encode", "--skip-bad", str(src), str(dst)]) == 0
    want, errors = _reference_read(src)
    assert f"skipped {len(errors)} bad lines" in capsys.readouterr().err
    assert dst.read_bytes() == shijim_core.sbe_encode_stream([record_to_dict(r) for r in want])
    assert tool.main(["decode", str(dst), "-o", str(back)]) == 0
    assert back.read_text() == "".join(format_record(r) + "\n" for r in want)
    # A frame whose message is valid SBE but not a record (the first, a tick, with its code
    # blanked) is judged by the reference decoder: reported with its byte offset, skipped.
    data = bytearray(dst.read_bytes())
    data[6 + 8 + 24 : 6 + 8 + 40] = bytes(16)
    dst.write_bytes(bytes(data))
    assert tool.main(["decode", "--skip-bad", str(dst), "-o", str(back)]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 bad frames" in err and f"{dst}: byte 0: field 'code'" in err
    assert back.read_text() == "".join(format_record(r) + "\n" for r in want[1:])
    assert tool.main(["decode", str(dst), "-o", str(back)]) == 1


def test_ring_publish_record_maps_directly_and_keeps_its_errors() -> None:
    name = f"test-events-fast-{os.getpid()}"
    shijim_core.ring_unlink(name)
    try:
        w = shijim_core.RingWriter(name, slots=64)
        r = shijim_core.RingReader(name)
        rng = random.Random(9)
        records = [random_record(rng) for _ in range(40)]
        for rec in records:
            w.publish_record(record_to_dict(rec))
        got = r.read_records(100)
        assert len(got) == len(records)
        for rec, d in zip(records, got, strict=True):
            assert record_from_dict(d) == record_from_dict(record_to_dict(rec) | {"seq": d["seq"]})
        tick = record_to_dict(parse_line(TICK))
        with pytest.raises(shijim_core.SbeError, match=r"field \"price\": .*more than 6 decimals"):
            w.publish_record(tick | {"price": "1.0000001"})
        with pytest.raises(shijim_core.SbeError, match=r"field \"volume\": expected an integer"):
            w.publish_record(tick | {"volume": 1.0})
        del tick["seq"]
        assert w.publish_record(tick) == len(records)  # seq optional: the writer assigns it
    finally:
        shijim_core.ring_unlink(name)


def test_concurrent_readers_share_the_cache_without_blocking() -> None:
    rng = random.Random(13)
    records = [random_record(rng) for _ in range(300)]
    data = "".join(format_record(r) + "\n" for r in records if "\\" not in format_record(r))
    want = FAST_RECORDS.read_lines(data.encode(), 0, True)[0]
    results: list[list[MarketRecord]] = []

    def read() -> None:
        for _ in range(20):
            results.append(FAST_RECORDS.read_lines(data.encode(), 0, True)[0])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert len(results) == 80 and all(r == want for r in results)
