"""Raw market-data JSONL: one record per line, read strictly and written canonically.

Canonical line (docs/formats.md): keys in the documented order, no spaces, prices as exact
decimal numbers in their shortest form, ASCII only, '\\n' terminated. Reading the canonical
line and writing it again gives the same bytes, which is what makes JSONL -> SBE -> JSONL
checkable byte for byte.

Two readers, one set of rules. Plain lines (what the recorder writes) are parsed and validated in
the core (`shijim_core.JsonlRecords`, Rust), many lines per call; any line outside that fast
path (string escapes, exponents, and every bad line) goes to the reference
reader below (`json` + `record_from_dict`), which accepts it or names the file, line and field.
The fast path never accepts a line the reference reader refuses, and builds the same record
(tests/core/test_events_fast.py checks both on random and broken lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from pathlib import Path
from typing import IO, Any

import shijim_core
from shijim.events.record import (
    HEAD_FIELDS,
    PAYLOAD_FIELDS,
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
    price_text,
    record_from_dict,
)

OnBadLine = Callable[[RecordError], None]
# Fast path: (data, pos, last) -> (result, position it stopped at, lines consumed).
FastLines = Callable[[bytes, int, bool], tuple[Any, int, int]]

READ_CHUNK = 1 << 20

FAST_RECORDS = shijim_core.JsonlRecords(
    TickRecord,
    BidAskRecord,
    SnapshotRecord,
    EventRecord,
    tuple(TickType),
    {m.value: m for kind in (EventKind, SessionState, TradingStateName) for m in kind},
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_line(line: str | bytes, *, source: str = "<jsonl>", line_no: int = 0) -> MarketRecord:
    """One JSONL line -> validated record. Floats are parsed as Decimal, never as binary."""
    raw: bytes | None = None
    if isinstance(line, bytes):
        raw = line
    elif isinstance(line, str) and line.isascii():
        raw = line.encode("ascii")
    if raw is not None:
        record = FAST_RECORDS.parse_line(raw)
        if record is not None:
            return record  # type: ignore[no-any-return]
    return parse_line_reference(line, source=source, line_no=line_no)


def parse_line_reference(
    line: str | bytes, *, source: str = "<jsonl>", line_no: int = 0
) -> MarketRecord:
    """`parse_line` by the reference reader alone (json + record_from_dict): the rules."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        obj = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError included
        raise RecordError(source, line_no, "(line)", f"not valid JSON: {exc}") from None
    except (
        DecimalException
    ):  # an exponent beyond what Decimal can hold, e.g. 1E99999999999999999999
        raise RecordError(
            source, line_no, "(line)", "a number is beyond the decimal range"
        ) from None
    if not isinstance(obj, dict):
        raise RecordError(source, line_no, "(line)", "not a JSON object")
    return record_from_dict(obj, source=source, line_no=line_no)


def _price_list(values: tuple[Decimal, ...]) -> str:
    return "[" + ",".join(map(price_text, values)) + "]"


def _int_list(values: tuple[int, ...]) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def _integer(value: int) -> str:
    return str(int(value))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _name(value: Any) -> str:
    return "null" if value is None else json.dumps(str(value.value), ensure_ascii=True)


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "code": _json,
    "exch_ts": _integer,
    "local_ts": _integer,
    "seq": _integer,
    "price": price_text,
    "open": price_text,
    "high": price_text,
    "low": price_text,
    "close": price_text,
    "bid_price": price_text,  # snapshot: one level; bidask uses the level formatters
    "ask_price": price_text,
    "bid_volume": _integer,
    "ask_volume": _integer,
    "volume": _integer,
    "total_volume": _integer,
    "tick_type": _integer,
    "simtrade": _boolean,
    "count": _integer,
    "reason": _json,
    "event": _name,
    "session_state": _name,
    "trading_state": _name,
}
_LEVEL_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "bid_price": _price_list,
    "ask_price": _price_list,
    "bid_volume": _int_list,
    "ask_volume": _int_list,
}
# Per record type: the line's opening and (key prefix, formatter) for every other field.
_LAYOUT: dict[RecordType, tuple[str, tuple[tuple[str, str, Callable[[Any], str]], ...]]] = {}
for _type, _payload in PAYLOAD_FIELDS.items():
    _formatters = _LEVEL_FORMATTERS if _type is RecordType.BIDASK else {}
    _LAYOUT[_type] = (
        f'{{"type":"{_type.value}"',
        tuple(
            (f',"{key}":', key, _formatters.get(key) or _FORMATTERS[key])
            for key in HEAD_FIELDS[1:] + _payload
        ),
    )


def format_record(record: MarketRecord) -> str:
    """The canonical JSONL line of a record, without the trailing newline."""
    opening, fields = _LAYOUT[record.type]
    parts = [opening]
    for prefix, key, formatter in fields:
        parts.append(prefix)
        parts.append(formatter(getattr(record, key)))
    parts.append("}")
    return "".join(parts)


@dataclass
class BadLineCounter:
    """Collects dropped lines: the count, and the first few errors for the report."""

    keep: int = 20
    count: int = 0
    first: list[RecordError] = field(default_factory=list)

    def __call__(self, error: RecordError) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(error)


def iter_records(
    lines: Iterable[str | bytes], *, source: str, on_bad: OnBadLine | None = None
) -> Iterator[MarketRecord]:
    """Validated records of JSONL lines (line numbers from 1). A bad line raises RecordError,
    or, with `on_bad`, is passed to it and dropped. Blank lines carry nothing and are skipped."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield parse_line(line, source=source, line_no=line_no)
        except RecordError as exc:
            if on_bad is None:
                raise
            on_bad(exc)


@dataclass(frozen=True, slots=True)
class SlowLine:
    """A line the fast path left to the reference reader (never a blank one)."""

    line_no: int
    line: bytes


@dataclass(frozen=True, slots=True)
class FastRun:
    """One result of the fast path, over the lines after the first `lines_before` of the file."""

    lines_before: int
    result: Any


def scan_lines(
    f: IO[bytes], fast: FastLines, *, full: Callable[[Any], bool] | None = None
) -> Iterator[FastRun | SlowLine]:
    """Runs `fast` over a binary JSONL stream read in chunks: yields each of its results as a
    `FastRun` and, in order between them, every line it stopped at as a `SlowLine` (line
    numbers from 1, blank lines counted, lines split at b"\n" as iterating the file would).
    `full(result)` true: `fast` stopped at a limit of its own (a batch size), not at a line it
    leaves alone, so it goes on from there."""
    data = b""
    line_no = 0
    last = False
    while not last:
        chunk = f.read(READ_CHUNK)
        last = not chunk
        data += chunk  # the unfinished line of the previous chunk, then this chunk
        pos = 0
        while True:
            result, pos, lines = fast(data, pos, last)
            yield FastRun(line_no, result)
            line_no += lines
            if full is not None and full(result):
                continue
            end = data.find(b"\n", pos) + 1
            if not end:
                if not (last and pos < len(data)):
                    break  # the rest of the line is in the next chunk
                end = len(data)
            line_no += 1
            yield SlowLine(line_no, data[pos:end])
            pos = end
        data = data[pos:]


def read_records(path: str | Path, *, on_bad: OnBadLine | None = None) -> Iterator[MarketRecord]:
    """Records of one raw JSONL file, streamed (files of a trading day can be large). A bad
    line raises RecordError naming file, line and field, or, with `on_bad`, is passed to it
    and dropped; blank lines are skipped."""
    p = Path(path)
    source = str(p)
    with p.open("rb") as f:
        for item in scan_lines(f, FAST_RECORDS.read_lines):
            if isinstance(item, FastRun):
                yield from item.result
                continue
            try:
                yield parse_line_reference(item.line, source=source, line_no=item.line_no)
            except RecordError as exc:
                if on_bad is None:
                    raise
                on_bad(exc)


def write_records(path: str | Path, records: Iterable[MarketRecord]) -> int:
    """Writes records as canonical JSONL (replacing the file); returns how many."""
    n = 0
    with Path(path).open("w", encoding="ascii", newline="\n") as f:
        for record in records:
            f.write(format_record(record) + "\n")
            n += 1
    return n


def raw_file_name(trading_day: str, code: str) -> str:
    """`<trading day>_<code>.jsonl`, the recorder's file name (ARCHITECTURE.md)."""
    return f"{trading_day}_{code}.jsonl"
