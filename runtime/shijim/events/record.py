"""The canonical raw market-data record (docs/formats.md): one tick, five-level quote,
snapshot or system event, with exact decimal prices.

Records are validated on construction from untrusted data (`record_from_dict`): every field
is checked for type and range so that what reaches the ring, the SBE codec or a strategy is
exactly what the wire can carry. Errors name the source, the line and the field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

PRICE_EXPONENT = -6  # same constant as the SBE schema's Price composite
LEVELS = 5
CODE_LEN = 16
REASON_LEN = 32
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1


class RecordError(ValueError):
    """A record that is not valid: names the input (file), line (1-based, 0 if none), field."""

    def __init__(self, source: str, line_no: int, field: str, reason: str) -> None:
        where = f"{source}:{line_no}" if line_no else source
        super().__init__(f"{where}: field {field!r}: {reason}")
        self.where = where  # "file:line", or the source alone
        self.source = source
        self.line_no = line_no
        self.field = field
        self.reason = reason


class RecordType(enum.StrEnum):
    TICK = "tick"
    BIDASK = "bidask"
    SNAPSHOT = "snapshot"
    EVENT = "event"


class TickType(enum.IntEnum):
    """Aggressor side as Shioaji reports it."""

    UNKNOWN = 0
    BUY = 1
    SELL = 2


class EventKind(enum.StrEnum):
    SESSION_STATE = "session_state"
    TRADING_STATE = "trading_state"
    FEED_GAP = "feed_gap"
    RECONNECT = "reconnect"


class SessionState(enum.StrEnum):
    PRE_OPEN = "PRE_OPEN"
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class TradingStateName(enum.StrEnum):
    """Names of shijim.risk.state.TradingState as carried in events."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class TickRecord:
    code: str
    exch_ts: int
    local_ts: int
    seq: int
    price: Decimal
    volume: int
    total_volume: int
    tick_type: TickType
    simtrade: bool
    type: RecordType = RecordType.TICK


@dataclass(frozen=True, slots=True)
class BidAskRecord:
    """Five best levels per side, best first; an empty level is price 0, volume 0."""

    code: str
    exch_ts: int
    local_ts: int
    seq: int
    bid_price: tuple[Decimal, ...]
    bid_volume: tuple[int, ...]
    ask_price: tuple[Decimal, ...]
    ask_volume: tuple[int, ...]
    simtrade: bool
    type: RecordType = RecordType.BIDASK


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    code: str
    exch_ts: int
    local_ts: int
    seq: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    total_volume: int
    bid_price: Decimal
    bid_volume: int
    ask_price: Decimal
    ask_volume: int
    type: RecordType = RecordType.SNAPSHOT


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Session state, trading-state change (kill switch), feed gap (`count` messages lost) or
    reconnect (`count` = attempt). `code` is "" for shard-wide events."""

    code: str
    exch_ts: int
    local_ts: int
    seq: int
    event: EventKind
    session_state: SessionState | None
    trading_state: TradingStateName | None
    count: int
    reason: str
    type: RecordType = RecordType.EVENT


MarketRecord = TickRecord | BidAskRecord | SnapshotRecord | EventRecord

# Payload fields per type, in canonical order (after type, code, exch_ts, local_ts, seq).
HEAD_FIELDS = ("type", "code", "exch_ts", "local_ts", "seq")
PAYLOAD_FIELDS: dict[RecordType, tuple[str, ...]] = {
    RecordType.TICK: ("price", "volume", "total_volume", "tick_type", "simtrade"),
    RecordType.BIDASK: ("bid_price", "bid_volume", "ask_price", "ask_volume", "simtrade"),
    RecordType.SNAPSHOT: (
        "open",
        "high",
        "low",
        "close",
        "volume",
        "total_volume",
        "bid_price",
        "bid_volume",
        "ask_price",
        "ask_volume",
    ),
    RecordType.EVENT: ("event", "session_state", "trading_state", "count", "reason"),
}


def price_mantissa(price: Decimal) -> int:
    """The exact int64 mantissa at exponent -6 of a validated price."""
    mantissa = _exact_mantissa(price)
    if mantissa is None or not _INT64_MIN <= mantissa <= _INT64_MAX:
        raise ValueError(f"price {price} does not fit the fixed-point type")
    return mantissa


# Texts that are already canonical and surely in range (at most 12 integer digits): the common
# case, since validated records hold normalised Decimals. Anything else takes the exact path.
_CANONICAL_PRICE = re.compile(r"-?(?:0|[1-9]\d{0,11})(?:\.\d{0,5}[1-9])?")


def price_text(price: Decimal) -> str:
    """Canonical decimal text, identical to the Rust codec's: no exponent, no trailing
    fractional zeros, no '.' for whole numbers (e.g. 22013.5, 17500, -0.000001)."""
    text = str(price)
    if _CANONICAL_PRICE.fullmatch(text) and text != "-0":
        return text
    return mantissa_text(price_mantissa(price))


def mantissa_text(m: int) -> str:
    """Canonical decimal text of a fixed-point mantissa (see `price_text`)."""
    sign = "-" if m < 0 else ""
    whole, frac = divmod(abs(m), 10**-PRICE_EXPONENT)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


@dataclass(frozen=True, slots=True)
class _Where:
    source: str
    line_no: int

    def error(self, field: str, reason: str) -> RecordError:
        return RecordError(self.source, self.line_no, field, reason)


def _int(where: _Where, field: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(field, f"expected an integer, got {type(value).__name__} {value!r:.40}")
    if not lo <= value <= hi:
        raise where.error(field, f"{value} is out of range [{lo}, {hi}]")
    return value


def _price(where: _Where, field: str, value: Any) -> Decimal:
    # A number, never text: "23001" or "2.3e4" in a price field is a writer's bug (docs/formats.md).
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise where.error(field, f"expected a number, got {type(value).__name__} {value!r:.40}")
    try:
        # float via repr: the shortest text that reads back as the same float.
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise where.error(field, f"{value!r:.40} is not a decimal number") from None
    if not d.is_finite():
        raise where.error(field, f"{value!r:.40} is not a finite decimal")
    mantissa = _exact_mantissa(d)
    if mantissa is None:
        raise where.error(field, f"{value!s:.40} has more than 6 decimals (exponent -6)")
    if not _INT64_MIN <= mantissa <= _INT64_MAX:
        raise where.error(field, f"{value!s:.40} is out of range (int64 mantissa, exponent -6)")
    return Decimal(mantissa_text(mantissa))  # normalised: Decimal('21999.5'), not '21999.500000'


def _exact_mantissa(d: Decimal) -> int | None:
    """d * 10^6 as an exact int, None if that is not a whole number. Integer arithmetic only:
    Decimal arithmetic would round to the context precision (28 digits) without a word."""
    sign, digit_tuple, exp = d.as_tuple()
    digits = list(digit_tuple)
    assert isinstance(exp, int)  # finite, checked by the caller
    while digits and digits[-1] == 0:
        digits.pop()
        exp += 1
    if not digits:
        return 0
    # value * 10^6 == coeff * 10^shift, and coeff's last digit is non-zero.
    shift = exp - PRICE_EXPONENT
    if shift < 0:
        return None  # a non-zero digit below 10^-6
    if len(digits) + shift > 20:
        return _INT64_MAX + 1  # out of range; no huge power of ten computed
    value = int("".join(map(str, digits))) * 10**shift
    return -value if sign else value


def _bool(where: _Where, field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise where.error(field, f"expected true/false, got {value!r:.40}")


def _text(where: _Where, field: str, value: Any, max_len: int, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise where.error(field, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise where.error(field, "must not be empty")
    if len(value) > max_len:
        raise where.error(field, f"{value!r:.60} is longer than {max_len} characters")
    if not all(" " <= ch <= "~" for ch in value):
        raise where.error(field, f"{value!r:.60} is not printable ASCII")
    return value


def _levels(where: _Where, field: str, value: Any, item: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise where.error(field, f"expected a list of {LEVELS}, got {type(value).__name__}")
    if len(value) != LEVELS:
        raise where.error(field, f"expected {LEVELS} levels, got {len(value)}")
    return tuple(item(where, f"{field}[{i}]", v) for i, v in enumerate(value))


def _volume(where: _Where, field: str, value: Any) -> int:
    return _int(where, field, value, _INT64_MIN, _INT64_MAX)


def _enum(where: _Where, field: str, value: Any, kind: type[enum.StrEnum]) -> Any:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise where.error(field, f"{value!r:.40} is not one of {names}") from None


def _optional_enum(where: _Where, field: str, value: Any, kind: type[enum.StrEnum]) -> Any:
    return None if value is None else _enum(where, field, value, kind)


def record_from_dict(
    obj: Mapping[str, Any], *, source: str = "<record>", line_no: int = 0
) -> MarketRecord:
    """Validates an untrusted mapping (a parsed JSONL line, a decoded SBE message)."""
    where = _Where(source, line_no)
    if not isinstance(obj, Mapping):
        raise where.error("(record)", f"expected a JSON object, got {type(obj).__name__}")
    if "type" not in obj:
        raise where.error("type", "missing")
    rtype = _enum(where, "type", obj["type"], RecordType)
    allowed = HEAD_FIELDS + PAYLOAD_FIELDS[rtype]
    for key in obj:
        if key not in allowed:
            raise where.error(str(key), f"unknown field for a {rtype.value} record")
    for key in allowed:
        if key not in obj:
            raise where.error(key, "missing")
    head = {
        "code": _text(where, "code", obj["code"], CODE_LEN, allow_empty=rtype is RecordType.EVENT),
        "exch_ts": _int(where, "exch_ts", obj["exch_ts"], _INT64_MIN, _INT64_MAX),
        "local_ts": _int(where, "local_ts", obj["local_ts"], _INT64_MIN, _INT64_MAX),
        "seq": _int(where, "seq", obj["seq"], 0, _UINT64_MAX),
    }
    if rtype is RecordType.TICK:
        tick_type = _int(where, "tick_type", obj["tick_type"], 0, 2)
        return TickRecord(
            **head,
            price=_price(where, "price", obj["price"]),
            volume=_volume(where, "volume", obj["volume"]),
            total_volume=_volume(where, "total_volume", obj["total_volume"]),
            tick_type=TickType(tick_type),
            simtrade=_bool(where, "simtrade", obj["simtrade"]),
        )
    if rtype is RecordType.BIDASK:
        return BidAskRecord(
            **head,
            bid_price=_levels(where, "bid_price", obj["bid_price"], _price),
            bid_volume=_levels(where, "bid_volume", obj["bid_volume"], _volume),
            ask_price=_levels(where, "ask_price", obj["ask_price"], _price),
            ask_volume=_levels(where, "ask_volume", obj["ask_volume"], _volume),
            simtrade=_bool(where, "simtrade", obj["simtrade"]),
        )
    if rtype is RecordType.SNAPSHOT:
        prices = {k: _price(where, k, obj[k]) for k in ("open", "high", "low", "close")}
        return SnapshotRecord(
            **head,
            **prices,
            volume=_volume(where, "volume", obj["volume"]),
            total_volume=_volume(where, "total_volume", obj["total_volume"]),
            bid_price=_price(where, "bid_price", obj["bid_price"]),
            bid_volume=_volume(where, "bid_volume", obj["bid_volume"]),
            ask_price=_price(where, "ask_price", obj["ask_price"]),
            ask_volume=_volume(where, "ask_volume", obj["ask_volume"]),
        )
    event = _enum(where, "event", obj["event"], EventKind)
    session = obj["session_state"]
    trading = obj["trading_state"]
    session_state = _optional_enum(where, "session_state", session, SessionState)
    trading_state = _optional_enum(where, "trading_state", trading, TradingStateName)
    if event is EventKind.SESSION_STATE and session_state is None:
        raise where.error("session_state", "a session_state event needs a session state")
    if event is EventKind.TRADING_STATE and trading_state is None:
        raise where.error("trading_state", "a trading_state event needs a trading state")
    return EventRecord(
        **head,
        event=event,
        session_state=session_state,
        trading_state=trading_state,
        count=_int(where, "count", obj["count"], _INT64_MIN, _INT64_MAX),
        reason=_text(where, "reason", obj["reason"], REASON_LEN, allow_empty=True),
    )


def record_to_dict(record: MarketRecord) -> dict[str, Any]:
    """Plain dict in canonical key order (prices as Decimal, enums as their JSON values): the
    input of `shijim_core.sbe_encode` and of the JSONL writer."""
    out: dict[str, Any] = {key: getattr(record, key) for key in HEAD_FIELDS}
    out["type"] = record.type.value
    for key in PAYLOAD_FIELDS[record.type]:
        value = getattr(record, key)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[key] = value
    return out
