"""The vocabulary of market-data admission: why an input was dropped, and the feed's clock bounds.

The rules themselves are the Rust core's (``shijim_core.Admission``, ``shijim_core/src/admission``):
one rule set, applied once at ingestion on every path (docs/feeds.md, "Bad input"). Nothing here
checks an input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import shijim_core


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


# The Rust rules name the same causes (a new cause there must get its label here).
if tuple(BadInputCause) != tuple(shijim_core.ADMISSION_CAUSES):
    raise ImportError(
        f"BadInputCause {tuple(BadInputCause)} != shijim_core.ADMISSION_CAUSES"
        f" {shijim_core.ADMISSION_CAUSES}: rebuild shijim_core"
    )


@dataclass(frozen=True)
class Problem:
    cause: BadInputCause
    field: str
    detail: str


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """How far an exchange time may be from its input's receive time (``local_ts``; now when the
    input has none). None: no bound. The feed knows its clocks (docs/feeds.md): Shioaji and
    replay bound the future tightly, the simulator's exchange clock is simulated (no bound)."""

    max_ahead_ns: int | None = 2_000_000_000
    max_behind_ns: int | None = None


DEFAULT_CLOCK_CHECK = ClockCheck()
NO_CLOCK_CHECK = ClockCheck(None, None)
