"""Reference prices for fat-finger checks and marking: the mid of the best bid/ask when both
sides are present, otherwise the last trade; NaN when neither is known."""

from __future__ import annotations

import math

_NAN = math.nan


class ReferencePrices:
    __slots__ = ("_last", "_mid")

    def __init__(self) -> None:
        self._mid: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def on_quote(self, code: str, bid: float, ask: float) -> float:
        """Best bid/ask update; returns the new reference price."""
        if bid > 0 and ask > 0 and ask >= bid and math.isfinite(bid + ask):
            mid = (bid + ask) * 0.5
            self._mid[code] = mid
            return mid
        # One-sided or crossed book: the mid is meaningless, fall back to the last trade.
        self._mid.pop(code, None)
        return self._last.get(code, _NAN)

    def on_trade(self, code: str, price: float) -> float:
        if price > 0 and math.isfinite(price):
            self._last[code] = price
        return self.get(code)

    def get(self, code: str) -> float:
        mid = self._mid.get(code)
        if mid is not None:
            return mid
        return self._last.get(code, _NAN)
