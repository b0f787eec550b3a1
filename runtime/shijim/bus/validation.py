"""Pure checks of market-data inputs before they enter the ring.

Each check returns ``None`` for a good input or a ``Problem`` naming the cause (the
``shijim_md_bad_input_total{cause}`` label) and the offending field. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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
    UNKNOWN_CODE = "unknown_code"  # not in this shard's universe
    SUBSCRIPTION_LIMIT = "subscription_limit"  # over Shioaji's 200 subscriptions: not subscribed


@dataclass(frozen=True)
class Problem:
    cause: BadInputCause
    field: str
    detail: str


def price_problem(price: float, field: str = "price") -> Problem | None:
    if math.isnan(price):
        return Problem(BadInputCause.NAN_PRICE, field, "price is NaN")
    if not price > 0 or math.isinf(price):
        return Problem(BadInputCause.NONPOSITIVE_PRICE, field, f"price {price} is not > 0")
    return None


def tick_problem(price: float, volume: int, total_volume: int) -> Problem | None:
    p = price_problem(price)
    if p is not None:
        return p
    if volume < 0:
        return Problem(BadInputCause.BAD_VOLUME, "volume", f"volume {volume} < 0")
    if total_volume < 0:
        return Problem(BadInputCause.BAD_VOLUME, "total_volume", f"total_volume {total_volume} < 0")
    return None


def _side_problem(
    px: Sequence[float], qty: Sequence[int], side: str, descending: bool
) -> Problem | None:
    last = math.nan
    for i, (p, q) in enumerate(zip(px, qty, strict=True)):
        field = f"{side}_price[{i}]"
        if math.isnan(p):
            return Problem(BadInputCause.NAN_PRICE, field, "price is NaN")
        if q < 0:
            return Problem(BadInputCause.BAD_VOLUME, f"{side}_volume[{i}]", f"volume {q} < 0")
        if p == 0 and q == 0:
            continue  # an empty level (Shioaji's and the SBE schema's convention)
        if not p > 0 or math.isinf(p):
            return Problem(BadInputCause.NONPOSITIVE_PRICE, field, f"price {p} is not > 0")
        if not math.isnan(last) and ((p >= last) if descending else (p <= last)):
            order = "descending" if descending else "ascending"
            return Problem(BadInputCause.UNORDERED_BOOK, field, f"{side} prices not {order}")
        last = p
    return None


def book_problem(
    bid_px: Sequence[float],
    bid_qty: Sequence[int],
    ask_px: Sequence[float],
    ask_qty: Sequence[int],
    simtrade: bool,
) -> Problem | None:
    level_fields = (
        ("bid_price", bid_px),
        ("bid_volume", bid_qty),
        ("ask_price", ask_px),
        ("ask_volume", ask_qty),
    )
    for name, seq in level_fields:
        if len(seq) != 5:
            return Problem(BadInputCause.MISSING_FIELD, name, f"expected 5 levels, got {len(seq)}")
    p = _side_problem(bid_px, bid_qty, "bid", descending=True)
    if p is None:
        p = _side_problem(ask_px, ask_qty, "ask", descending=False)
    if p is not None:
        return p
    # Trial-matching (simtrade) books before the open may legitimately cross.
    if not simtrade and bid_px[0] > 0 and ask_px[0] > 0 and bid_px[0] >= ask_px[0]:
        return Problem(
            BadInputCause.CROSSED_BOOK, "bid_price[0]", f"bid {bid_px[0]} >= ask {ask_px[0]}"
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
    """``tick_batch_causes`` of one row (Python numbers): the small-batch path, no numpy."""
    if price != price:  # NaN
        return _NAN_CODE
    if not 0.0 < price < math.inf:
        return _NONPOS_CODE
    if volume < 0 or total_volume < 0:
        return _VOLUME_CODE
    return 0


def _unordered_row(px: list[float], qty: list[int], descending: bool) -> bool:
    prev_empty = px[0] == 0 and qty[0] == 0
    prev = px[0]
    for j in range(1, len(px)):
        p = px[j]
        empty = p == 0 and qty[j] == 0
        if not empty:
            if prev_empty:  # a level after an empty one
                return True
            if (p - prev >= 0) if descending else (p - prev <= 0):
                return True
        prev_empty, prev = empty, p
    return False


def book_row_cause(
    bid_px: list[float], bid_qty: list[int], ask_px: list[float], ask_qty: list[int], simtrade: bool
) -> int:
    """``book_batch_causes`` of one row given as Python lists, with the same precedence (NaN,
    volume, non-positive price, unordered, crossed): the small-batch path, no numpy."""
    if len(bid_px) == 5 and len(ask_px) == 5:
        # The usual book: 5 strictly ordered, finite, positive levels a side (NaN fails every
        # comparison), no negative volume, not crossed.
        b0, b1, b2, b3, b4 = bid_px
        a0, a1, a2, a3, a4 = ask_px
        if (
            math.inf > b0 > b1 > b2 > b3 > b4 > 0
            and 0 < a0 < a1 < a2 < a3 < a4 < math.inf
            and (b0 < a0 or simtrade)
            and min(bid_qty) >= 0
            and min(ask_qty) >= 0
        ):
            return 0
    for p in bid_px:
        if p != p:
            return _NAN_CODE
    for p in ask_px:
        if p != p:
            return _NAN_CODE
    if min(bid_qty) < 0 or min(ask_qty) < 0:
        return _VOLUME_CODE
    for px, qty in ((bid_px, bid_qty), (ask_px, ask_qty)):
        for p, q in zip(px, qty, strict=True):
            if (not (p == 0 and q == 0) and not p > 0) or p == math.inf or p == -math.inf:
                return _NONPOS_CODE
    if _unordered_row(bid_px, bid_qty, True) or _unordered_row(ask_px, ask_qty, False):
        return _UNORDERED_CODE
    bb, ba = bid_px[0], ask_px[0]
    if not simtrade and bb > 0 and ba > 0 and bb >= ba:
        return _CROSSED_CODE
    return 0


BATCH_CAUSES: tuple[BadInputCause, ...] = (
    BadInputCause.NAN_PRICE,
    BadInputCause.NONPOSITIVE_PRICE,
    BadInputCause.BAD_VOLUME,
    BadInputCause.UNORDERED_BOOK,
    BadInputCause.CROSSED_BOOK,
    BadInputCause.TIME_BACKWARDS,
    BadInputCause.UNKNOWN_CODE,
)
_BATCH_INDEX = {c: i + 1 for i, c in enumerate(BATCH_CAUSES)}
_NAN_CODE = _BATCH_INDEX[BadInputCause.NAN_PRICE]
_NONPOS_CODE = _BATCH_INDEX[BadInputCause.NONPOSITIVE_PRICE]
_VOLUME_CODE = _BATCH_INDEX[BadInputCause.BAD_VOLUME]
_UNORDERED_CODE = _BATCH_INDEX[BadInputCause.UNORDERED_BOOK]
_CROSSED_CODE = _BATCH_INDEX[BadInputCause.CROSSED_BOOK]


def batch_cause_code(cause: BadInputCause) -> int:
    return _BATCH_INDEX[cause]
