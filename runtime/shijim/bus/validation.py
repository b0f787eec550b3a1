"""Pure checks of market-data inputs before they enter the ring.

Each check returns ``None`` for a good input or a ``Problem`` naming the cause (the
``shijim_md_bad_input_total{cause}`` label) and the offending field. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np


class BadInputCause(StrEnum):
    """Why a market-data input was dropped (metric label values; docs/feeds.md)."""

    MALFORMED = "malformed"  # a broker object or record whose fields cannot be read
    BAD_JSON = "bad_json"  # a replay line that is not a JSON object
    MISSING_FIELD = "missing_field"  # a record without a required field, or of the wrong type
    NAN_PRICE = "nan_price"
    NONPOSITIVE_PRICE = "nonpositive_price"
    BAD_VOLUME = "bad_volume"  # negative volume, or a price level with volume but no price
    UNORDERED_BOOK = "unordered_book"  # bids not descending / asks not ascending
    CROSSED_BOOK = "crossed_book"  # best bid >= best ask (not for simtrade quotes)
    TIME_BACKWARDS = "time_backwards"  # exchange time older than the last one of the code
    BAD_TIMESTAMP = "bad_timestamp"  # exchange time implausible (e.g. Shioaji's 2000-01-01)
    FUTURE_TIMESTAMP = "future_timestamp"  # exchange time ahead of its receive time
    DUPLICATE = "duplicate"  # the same seq or content as the code's last admitted input
    UNKNOWN_CODE = "unknown_code"  # not in this shard's universe
    SUBSCRIPTION_LIMIT = "subscription_limit"  # over Shioaji's 200 subscriptions: not subscribed


@dataclass(frozen=True)
class Problem:
    cause: BadInputCause
    field: str
    detail: str


_INT64_MAX = 2**63 - 1


def price_problem(price: float, field: str = "price") -> Problem | None:
    if math.isnan(price):
        return Problem(BadInputCause.NAN_PRICE, field, "price is NaN")
    if not price > 0 or math.isinf(price):
        return Problem(BadInputCause.NONPOSITIVE_PRICE, field, f"price {price} is not > 0")
    return None


def _volume_problem(volume: int, field: str) -> Problem | None:
    if volume < 0:
        return Problem(BadInputCause.BAD_VOLUME, field, f"volume {volume} < 0")
    if volume > _INT64_MAX:  # the ring's int64 (an overflow there would name no field)
        return Problem(BadInputCause.BAD_VOLUME, field, f"volume {volume} is beyond int64")
    return None


def tick_problem(price: float, volume: int, total_volume: int) -> Problem | None:
    """The rules for one trade, in the batch precedence: NaN, non-positive price, volume."""
    if 0 < price < math.inf and 0 <= volume <= _INT64_MAX and 0 <= total_volume <= _INT64_MAX:
        return None  # the usual trade, in one expression (NaN fails every comparison)
    p = price_problem(price)
    if p is None:
        p = _volume_problem(volume, "volume") or _volume_problem(total_volume, "total_volume")
    return p


def _level_problem(
    sides: tuple[tuple[str, Sequence[float], Sequence[int]], ...],
    check: Callable[[float, int], tuple[BadInputCause, str] | None],
) -> Problem | None:
    for side, px, qty in sides:
        for i, (p, q) in enumerate(zip(px, qty, strict=True)):
            found = check(p, q)
            if found is not None:
                cause, detail = found
                name = "volume" if cause is BadInputCause.BAD_VOLUME else "price"
                return Problem(cause, f"{side}_{name}[{i}]", detail)
    return None


def _nan(p: float, q: int) -> tuple[BadInputCause, str] | None:
    return (BadInputCause.NAN_PRICE, "price is NaN") if p != p else None


def _bad_qty(p: float, q: int) -> tuple[BadInputCause, str] | None:
    if q < 0:
        return BadInputCause.BAD_VOLUME, f"volume {q} < 0"
    if q > _INT64_MAX:
        return BadInputCause.BAD_VOLUME, f"volume {q} is beyond int64"
    return None


def _nonpositive(p: float, q: int) -> tuple[BadInputCause, str] | None:
    # An empty level is price 0, volume 0 (Shioaji's and the SBE schema's convention).
    if (p == 0 and q == 0) or 0 < p < math.inf:
        return None
    return BadInputCause.NONPOSITIVE_PRICE, f"price {p} is not > 0"


def _unordered(
    side: str, px: Sequence[float], qty: Sequence[int], descending: bool
) -> Problem | None:
    """Levels must be strictly ordered best first; empty levels may only trail (a level after
    an empty one means the book has a hole: which price is the second best?)."""
    prev_empty = px[0] == 0 and qty[0] == 0
    prev = px[0]
    for j in range(1, len(px)):
        p = px[j]
        empty = p == 0 and qty[j] == 0
        if not empty:
            field = f"{side}_price[{j}]"
            if prev_empty:
                return Problem(
                    BadInputCause.UNORDERED_BOOK, field, f"price {p} after an empty level"
                )
            if (p >= prev) if descending else (p <= prev):
                order = "descending" if descending else "ascending"
                return Problem(
                    BadInputCause.UNORDERED_BOOK, field, f"{side} prices not {order} ({prev}, {p})"
                )
        prev_empty, prev = empty, p
    return None


def book_problem(
    bid_px: Sequence[float],
    bid_qty: Sequence[int],
    ask_px: Sequence[float],
    ask_qty: Sequence[int],
    simtrade: bool,
) -> Problem | None:
    """The rules for one five-level book, shared by every path (the vectorised form is
    ``book_batch_causes``; tests hold the two equal). Precedence, as there: level count, NaN,
    volume, non-positive price, unordered (or a hole), crossed."""
    if not len(bid_px) == len(bid_qty) == len(ask_px) == len(ask_qty) == 5:
        level_fields = (
            ("bid_price", bid_px),
            ("bid_volume", bid_qty),
            ("ask_price", ask_px),
            ("ask_volume", ask_qty),
        )
        name, seq = next((n, q) for n, q in level_fields if len(q) != 5)
        return Problem(BadInputCause.MISSING_FIELD, name, f"expected 5 levels, got {len(seq)}")
    # The usual book: 5 strictly ordered, finite, positive levels a side (NaN fails every
    # comparison), no negative volume, not crossed: accepted without the detailed walk.
    b0, b1, b2, b3, b4 = bid_px
    a0, a1, a2, a3, a4 = ask_px
    if (
        math.inf > b0 > b1 > b2 > b3 > b4 > 0
        and 0 < a0 < a1 < a2 < a3 < a4 < math.inf
        and (b0 < a0 or simtrade)
        and 0 <= min(bid_qty)
        and 0 <= min(ask_qty)
        and max(bid_qty) <= _INT64_MAX
        and max(ask_qty) <= _INT64_MAX
    ):
        return None
    sides = (("bid", bid_px, bid_qty), ("ask", ask_px, ask_qty))
    p = (
        _level_problem(sides, _nan)
        or _level_problem(sides, _bad_qty)
        or _level_problem(sides, _nonpositive)
        or _unordered("bid", bid_px, bid_qty, True)
        or _unordered("ask", ask_px, ask_qty, False)
    )
    if p is not None:
        return p
    # Trial-matching (simtrade) books before the open may legitimately cross.
    if not simtrade and b0 > 0 and a0 > 0 and b0 >= a0:
        return Problem(BadInputCause.CROSSED_BOOK, "bid_price[0]", f"bid {b0} >= ask {a0}")
    return None


# -- stream admission: time order, clock, duplicates (per kind and code) -----------------------


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """How far an exchange time may be from its input's receive time (``local_ts``; now when the
    input has none). None: no bound. The feed knows its clocks (docs/feeds.md): Shioaji and
    replay bound the future tightly, the simulator's exchange clock is simulated (no bound)."""

    max_ahead_ns: int | None = 2_000_000_000
    max_behind_ns: int | None = None


DEFAULT_CLOCK_CHECK = ClockCheck()
NO_CLOCK_CHECK = ClockCheck(None, None)
# Times are clamped to +-2**62 ns (years 1824..2116) before subtracting, on every path alike, so
# int64 batch arithmetic cannot wrap and the scalar path gives the same answer.
_CLAMP = 1 << 62


def _clamp(ns: int) -> int:
    return -_CLAMP if ns < -_CLAMP else (_CLAMP if ns > _CLAMP else ns)


class StreamMark(NamedTuple):
    """The last admitted input of one (kind, code) stream: its exchange time is the watermark
    later inputs may not go below; its seq and content catch an exact duplicate. (A tuple: one
    is made per admitted input.)"""

    exch_ts: int
    seq: int
    content: tuple[object, ...]


def clock_problem(
    kind: str, code: str, exch_ts: int, received_ns: int, clock: ClockCheck
) -> Problem | None:
    if -_CLAMP <= exch_ts <= _CLAMP and -_CLAMP <= received_ns <= _CLAMP:
        ahead = exch_ts - received_ns
    else:
        ahead = _clamp(exch_ts) - _clamp(received_ns)
    if clock.max_ahead_ns is not None and ahead > clock.max_ahead_ns:
        return Problem(
            BadInputCause.FUTURE_TIMESTAMP,
            "exch_ts",
            f"{code} {kind} exch_ts {exch_ts} is {ahead / 1e9:.3f} s ahead of its receive time"
            f" {received_ns} (limit {clock.max_ahead_ns / 1e9:g} s)",
        )
    if clock.max_behind_ns is not None and -ahead > clock.max_behind_ns:
        return Problem(
            BadInputCause.BAD_TIMESTAMP,
            "exch_ts",
            f"{code} {kind} exch_ts {exch_ts} is {-ahead / 1e9:.0f} s behind its receive time"
            f" {received_ns} (limit {clock.max_behind_ns / 1e9:g} s)",
        )
    return None


def clock_batch_causes(ts: np.ndarray, received: np.ndarray, clock: ClockCheck) -> np.ndarray:
    """Vectorised ``clock_problem``: per row 0 good, else its cause code."""
    out = np.zeros(ts.shape[0], dtype=np.int8)
    ahead = np.clip(ts, -_CLAMP, _CLAMP) - np.clip(received, -_CLAMP, _CLAMP)
    if clock.max_behind_ns is not None:
        out[-ahead > clock.max_behind_ns] = _BATCH_INDEX[BadInputCause.BAD_TIMESTAMP]
    if clock.max_ahead_ns is not None:
        out[ahead > clock.max_ahead_ns] = _BATCH_INDEX[BadInputCause.FUTURE_TIMESTAMP]
    return out


def stream_problem(
    kind: str,
    code: str,
    exch_ts: int,
    seq: int,
    content: tuple[object, ...],
    last: StreamMark | None,
) -> Problem | None:
    """Against the stream's last admitted input: older (time_backwards), then the same seq
    (non-zero: a recorded ring seq) or the same content back to back (duplicate)."""
    if last is None:
        return None
    if exch_ts < last.exch_ts:
        return Problem(
            BadInputCause.TIME_BACKWARDS,
            "exch_ts",
            f"{code} {kind} exch_ts {exch_ts} < last admitted {last.exch_ts}",
        )
    if seq and seq == last.seq:
        return Problem(BadInputCause.DUPLICATE, "seq", f"{code} {kind} seq {seq} again")
    if content == last.content:
        return Problem(
            BadInputCause.DUPLICATE, "(content)", f"{code} {kind} same as the last one at {exch_ts}"
        )
    return None


# -- vectorised versions for batches (simulator, bulk replay) ---------------------------------


def tick_batch_causes(
    price: np.ndarray, volume: np.ndarray, total_volume: np.ndarray
) -> np.ndarray:
    """Vectorised ``tick_problem``: per row 0 good, else the index+1 of the cause in
    ``BATCH_CAUSES`` (later assignments win: NaN, then price, then volume)."""
    out = np.zeros(price.shape[0], dtype=np.int8)
    out[(volume < 0) | (total_volume < 0)] = _BATCH_INDEX[BadInputCause.BAD_VOLUME]
    out[~(price > 0) | np.isinf(price)] = _BATCH_INDEX[BadInputCause.NONPOSITIVE_PRICE]
    out[np.isnan(price)] = _BATCH_INDEX[BadInputCause.NAN_PRICE]
    return out


def book_batch_causes(
    bid_px: np.ndarray,
    bid_qty: np.ndarray,
    ask_px: np.ndarray,
    ask_qty: np.ndarray,
    simtrade: np.ndarray,
) -> np.ndarray:
    """Vectorised ``book_problem`` over (N, 5) arrays; same codes as ``tick_batch_causes``."""
    n = bid_px.shape[0]
    out = np.zeros(n, dtype=np.int8)
    empty_b = (bid_px == 0) & (bid_qty == 0)
    empty_a = (ask_px == 0) & (ask_qty == 0)

    # Unordered: among non-empty consecutive levels. Empty levels may only trail.
    def unordered(px: np.ndarray, empty: np.ndarray, descending: bool) -> np.ndarray:
        d = px[:, 1:] - px[:, :-1]
        bad_step = (d >= 0) if descending else (d <= 0)
        both = ~empty[:, 1:] & ~empty[:, :-1]
        gap = empty[:, :-1] & ~empty[:, 1:]  # a level after an empty one
        return np.any(both & bad_step, axis=1) | np.any(gap, axis=1)

    bb, ba = bid_px[:, 0], ask_px[:, 0]
    crossed = ~simtrade.astype(bool) & (bb > 0) & (ba > 0) & (bb >= ba)
    out[crossed] = _BATCH_INDEX[BadInputCause.CROSSED_BOOK]
    out[unordered(bid_px, empty_b, True) | unordered(ask_px, empty_a, False)] = _BATCH_INDEX[
        BadInputCause.UNORDERED_BOOK
    ]
    nonpos = (~empty_b & ~(bid_px > 0)) | (~empty_a & ~(ask_px > 0))
    nonpos |= np.isinf(bid_px) | np.isinf(ask_px)
    out[np.any(nonpos, axis=1)] = _BATCH_INDEX[BadInputCause.NONPOSITIVE_PRICE]
    out[np.any((bid_qty < 0) | (ask_qty < 0), axis=1)] = _BATCH_INDEX[BadInputCause.BAD_VOLUME]
    out[np.any(np.isnan(bid_px) | np.isnan(ask_px), axis=1)] = _BATCH_INDEX[BadInputCause.NAN_PRICE]
    return out


def tick_row_cause(price: float, volume: int, total_volume: int) -> int:
    """``tick_problem`` as a batch cause code (0 good): the small-batch path."""
    p = tick_problem(price, volume, total_volume)
    return 0 if p is None else _BATCH_INDEX[p.cause]


def book_row_cause(
    bid_px: list[float], bid_qty: list[int], ask_px: list[float], ask_qty: list[int], simtrade: bool
) -> int:
    """``book_problem`` as a batch cause code (0 good): the small-batch path."""
    p = book_problem(bid_px, bid_qty, ask_px, ask_qty, simtrade)
    return 0 if p is None else _BATCH_INDEX[p.cause]


# Cause codes of the batch paths (int8 per row, 0 good): index + 1 in this tuple.
BATCH_CAUSES: tuple[BadInputCause, ...] = tuple(BadInputCause)
_BATCH_INDEX = {c: i + 1 for i, c in enumerate(BATCH_CAUSES)}


def batch_cause_code(cause: BadInputCause) -> int:
    return _BATCH_INDEX[cause]
