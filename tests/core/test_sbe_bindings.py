"""shijim_core's SBE bindings: exact round trips of every message type and clear errors on
every kind of bad input (bytes and records). `samples()` is shared with the other SBE tests."""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

import pytest

import shijim_core

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
PRICE_MAX = Decimal("9223372036854.775807")
PRICE_MIN = Decimal("-9223372036854.775808")


def samples() -> list[dict[str, Any]]:
    return [
        {
            "type": "tick",
            "code": "TXFL4",
            "exch_ts": 1_732_000_000_123_456_789,
            "local_ts": 1_732_000_000_123_999_000,
            "seq": 1,
            "price": Decimal("22013.5"),
            "volume": 3,
            "total_volume": 120_345,
            "tick_type": 1,
            "simtrade": False,
        },
        {
            "type": "tick",
            "code": "0123456789ABCDEF",
            "exch_ts": I64_MIN,
            "local_ts": I64_MAX,
            "seq": 2**64 - 1,
            "price": PRICE_MIN,
            "volume": 0,
            "total_volume": 0,
            "tick_type": 0,
            "simtrade": True,
        },
        {
            "type": "tick",
            "code": "2330",
            "exch_ts": 0,
            "local_ts": 0,
            "seq": 0,
            "price": Decimal("-0.000001"),
            "volume": I64_MAX,
            "total_volume": I64_MIN,
            "tick_type": 2,
            "simtrade": False,
        },
        {
            "type": "bidask",
            "code": "TXO17500L4",
            "exch_ts": 1_732_000_000_000_000_000,
            "local_ts": 1_732_000_000_000_000_001,
            "seq": 3,
            "bid_price": [PRICE_MAX, Decimal("91.5"), Decimal("0.000001"), Decimal(0), Decimal(0)],
            "bid_volume": [4, 1, I64_MAX, 0, 0],
            "ask_price": [PRICE_MIN, Decimal("94"), Decimal(0), Decimal(0), Decimal(0)],
            "ask_volume": [2, 9, 0, 0, I64_MIN],
            "simtrade": True,
        },
        {
            "type": "bidask",
            "code": "MXFR1",
            "exch_ts": 5,
            "local_ts": 6,
            "seq": 4,
            "bid_price": [Decimal(0)] * 5,
            "bid_volume": [0] * 5,
            "ask_price": [Decimal(0)] * 5,
            "ask_volume": [0] * 5,
            "simtrade": False,
        },
        {
            "type": "snapshot",
            "code": "2330",
            "exch_ts": 1,
            "local_ts": 2,
            "seq": 5,
            "open": Decimal("1000"),
            "high": Decimal("1010"),
            "low": Decimal("995.5"),
            "close": Decimal("1005"),
            "volume": 10,
            "total_volume": 23_456,
            "bid_price": Decimal("1004.5"),
            "bid_volume": 30,
            "ask_price": Decimal("1005"),
            "ask_volume": 12,
        },
        {
            "type": "event",
            "code": "",
            "exch_ts": 1,
            "local_ts": 2,
            "seq": 6,
            "event": "trading_state",
            "session_state": None,
            "trading_state": "HALTED",
            "count": 0,
            "reason": "kill switch: dashboard key K",
        },
        {
            "type": "event",
            "code": "TXFL4",
            "exch_ts": 3,
            "local_ts": 4,
            "seq": 7,
            "event": "session_state",
            "session_state": "PRE_OPEN",
            "trading_state": None,
            "count": 0,
            "reason": "x" * 32,
        },
        {
            "type": "event",
            "code": "",
            "exch_ts": 5,
            "local_ts": 6,
            "seq": 8,
            "event": "feed_gap",
            "session_state": None,
            "trading_state": None,
            "count": 17,
            "reason": "",
        },
        {
            "type": "event",
            "code": "",
            "exch_ts": 7,
            "local_ts": 8,
            "seq": 9,
            "event": "reconnect",
            "session_state": "OPEN",
            "trading_state": "ACTIVE",
            "count": I64_MIN,
            "reason": "broker session restored",
        },
    ]


def test_constants() -> None:
    assert shijim_core.PRICE_EXPONENT == -6
    assert shijim_core.MAX_MESSAGE_LEN <= 248
    assert issubclass(shijim_core.SbeError, ValueError)


@pytest.mark.parametrize("record", samples(), ids=lambda r: f"{r['type']}-{r['seq']}")
def test_round_trip_is_exact(record: dict) -> None:
    buf = shijim_core.sbe_encode(record)
    assert len(buf) <= shijim_core.MAX_MESSAGE_LEN
    back, used = shijim_core.sbe_decode(buf)
    assert used == len(buf)
    assert back == record
    assert list(back) == list(record)  # canonical key order
    for key in ("price", "open", "bid_price"):
        if key in back:
            values = back[key] if isinstance(back[key], list) else [back[key]]
            assert all(type(v) is Decimal for v in values)


def test_decode_at_offset_and_stream() -> None:
    recs = samples()
    blob = b"".join(shijim_core.sbe_encode(r) for r in recs)
    offset, out = 0, []
    while offset < len(blob):
        rec, used = shijim_core.sbe_decode(blob, offset)
        out.append(rec)
        offset += used
    assert out == recs
    stream = shijim_core.sbe_encode_stream(recs)
    assert shijim_core.sbe_decode_stream(stream) == recs
    length, encoding = struct.unpack_from(">IH", stream)
    assert encoding == 0x5BE0
    assert length == 6 + len(shijim_core.sbe_encode(recs[0]))
    assert shijim_core.sbe_encode_stream([]) == b""
    # Any buffer works as input: bytearray, memoryview (e.g. of a ring slot or an mmap).
    assert shijim_core.sbe_decode(bytearray(blob), 0)[0] == recs[0]
    assert shijim_core.sbe_decode(memoryview(blob)[len(blob) - 91 :])[0] == recs[-1]
    assert shijim_core.sbe_decode_stream(bytearray(stream)) == recs
    assert shijim_core.sbe_decode_frame(memoryview(stream))[0] == recs[0]
    with pytest.raises(TypeError):
        shijim_core.sbe_decode("not bytes")
    assert shijim_core.sbe_decode_stream(b"") == []


def test_prices_accept_exact_inputs_only() -> None:
    rec = samples()[0]
    for value, mantissa in [(22013, 22013_000000), ("22013.25", 22013_250000), (0.5, 500000)]:
        buf = shijim_core.sbe_encode({**rec, "price": value})
        assert struct.unpack_from("<q", buf, 48)[0] == mantissa
    bad = [
        (Decimal("1.0000001"), "more than 6 decimals"),
        (Decimal("9223372036854.775808"), "out of range"),
        (10**20, "out of range"),
        (1e-7, "more than 6 decimals"),
        (float("nan"), "not a decimal"),
        (Decimal("Infinity"), "not a decimal"),
        (True, "expected a decimal price"),
        (None, "expected a decimal price"),
    ]
    for value, reason in bad:
        with pytest.raises(shijim_core.SbeError, match=reason) as exc:
            shijim_core.sbe_encode({**rec, "price": value})
        assert "'price'" in str(exc.value) or '"price"' in str(exc.value)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"type": "quote"}, "type", "not tick, bidask"),
        ({"code": "TOO-LONG-CODE-1234"}, "code", "longer than 16"),
        ({"code": "台積電"}, "code", "not printable ASCII"),
        ({"seq": -1}, "seq", "out of range"),
        ({"exch_ts": 2**63}, "exch_ts", "out of range"),
        ({"volume": 1.5}, "volume", "expected an integer"),
        ({"volume": True}, "volume", "expected an integer"),
        ({"tick_type": 3}, "tick_type", "not 0, 1 or 2"),
        ({"simtrade": 2}, "simtrade", "true/false"),
    ],
)
def test_bad_records_name_the_field(change: dict, field: str, reason: str) -> None:
    rec = {**samples()[0], **change}
    with pytest.raises(shijim_core.SbeError, match=reason) as exc:
        shijim_core.sbe_encode(rec)
    assert f'"{field}"' in str(exc.value)


def test_bad_bidask_and_event_records() -> None:
    ba = samples()[3]
    with pytest.raises(shijim_core.SbeError, match=r'"bid_price\[1\]".*more than 6 decimals'):
        shijim_core.sbe_encode({**ba, "bid_price": [1, Decimal("1.1234567"), 0, 0, 0]})
    with pytest.raises(shijim_core.SbeError, match="expected 5 levels, got 4"):
        shijim_core.sbe_encode({**ba, "ask_volume": [1, 2, 3, 4]})
    missing = dict(ba)
    del missing["simtrade"]
    with pytest.raises(shijim_core.SbeError, match='"simtrade": missing'):
        shijim_core.sbe_encode(missing)
    ev = samples()[6]
    with pytest.raises(shijim_core.SbeError, match="tradingState"):
        shijim_core.sbe_encode({**ev, "trading_state": None})
    with pytest.raises(shijim_core.SbeError, match='"event": unknown event'):
        shijim_core.sbe_encode({**ev, "event": "lunch"})
    with pytest.raises(shijim_core.SbeError, match="record 1"):
        shijim_core.sbe_encode_stream([ev, {**ev, "reason": "y" * 33}])
    with pytest.raises(shijim_core.SbeError, match="expected a dict"):
        shijim_core.sbe_encode([1, 2])


def _tick_bytes() -> bytearray:
    return bytearray(shijim_core.sbe_encode(samples()[0]))


@pytest.mark.parametrize(
    ("at", "fmt", "value", "offset", "reason"),
    [
        (2, "<H", 99, 2, "unknown templateId 99"),
        (4, "<H", 1, 4, "wrong schemaId 1"),
        (6, "<H", 2, 6, "unsupported schema version 2"),
        (0, "<H", 65, 0, "blockLength 65 does not match templateId 1"),
        (72, "<B", 9, 72, "invalid field tickType"),
        (73, "<B", 2, 73, "invalid field simtrade"),
        (32, "<B", 0x80, 32, "invalid field code"),
    ],
)
def test_bad_bytes_raise(at: int, fmt: str, value: int, offset: int, reason: str) -> None:
    buf = _tick_bytes()
    struct.pack_into(fmt, buf, at, value)
    with pytest.raises(shijim_core.SbeError, match=reason) as exc:
        shijim_core.sbe_decode(bytes(buf))
    assert exc.value.offset == offset
    assert f"offset {offset}" in str(exc.value)


def test_truncated_bytes_and_offsets_past_the_end() -> None:
    buf = bytes(_tick_bytes())
    for cut in (0, 3, 8, 40, len(buf) - 1):
        with pytest.raises(shijim_core.SbeError, match="truncated") as exc:
            shijim_core.sbe_decode(buf[:cut])
        assert exc.value.offset == cut
    with pytest.raises(shijim_core.SbeError, match="truncated") as exc:
        shijim_core.sbe_decode(b"\0" * 10 + buf[:20], 10)
    assert exc.value.offset == 30
    with pytest.raises(shijim_core.SbeError, match="past the end"):
        shijim_core.sbe_decode(buf, len(buf) + 1)


def test_stream_errors_strict_or_collected() -> None:
    recs = samples()
    stream = bytearray(shijim_core.sbe_encode_stream(recs))
    stream[6 + 2] = 77  # templateId of the first message
    with pytest.raises(shijim_core.SbeError, match="offset 8: unknown templateId 77"):
        shijim_core.sbe_decode_stream(bytes(stream))
    errors: list[Exception] = []
    assert shijim_core.sbe_decode_stream(bytes(stream), errors=errors) == recs[1:]
    assert len(errors) == 1 and errors[0].offset == 8
    truncated = bytes(shijim_core.sbe_encode_stream(recs))[:-1]
    errors = []
    assert shijim_core.sbe_decode_stream(truncated, errors=errors) == recs[:-1]
    assert "truncated" in str(errors[0])
    bad_type = bytearray(shijim_core.sbe_encode_stream(recs))
    bad_type[4:6] = b"\x00\x01"
    with pytest.raises(shijim_core.SbeError, match="encoding type 0x0001"):
        shijim_core.sbe_decode_stream(bytes(bad_type))
