"""Valid prices of an instrument as a ladder of integer indices (exact, no float steps).

Index ``i`` maps to the i-th valid price. TAIFEX index futures have one tick size (TXF / MXF: 1
index point); TWSE stocks use the tick-size ladder below, so one index step is one tick even
across a band edge (e.g. 49.95 -> 50.0 -> 50.1). Prices are kept as integer mantissas with
exponent -6, as in the SBE schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

SCALE = 1_000_000  # 10**-PRICE_EXPONENT

# TWSE stock tick sizes: (band lower bound, tick) in price units; the last band is open-ended.
TWSE_STOCK_BANDS: tuple[tuple[str, str], ...] = (
    ("0", "0.01"),
    ("10", "0.05"),
    ("50", "0.1"),
    ("100", "0.5"),
    ("500", "1"),
    ("1000", "5"),
)


def _m(x: str) -> int:
    return int(Decimal(x) * SCALE)


@dataclass(frozen=True)
class PriceLadder:
    mantissas: np.ndarray  # int64, strictly increasing, all > 0

    @classmethod
    def uniform(cls, tick: str, max_price: str) -> PriceLadder:
        t = _m(tick)
        n = _m(max_price) // t
        return cls(np.arange(1, n + 1, dtype=np.int64) * t)

    @classmethod
    def twse_stock(cls, max_price: str = "10000") -> PriceLadder:
        parts = []
        top = _m(max_price)
        bands = [(_m(lo), _m(tick)) for lo, tick in TWSE_STOCK_BANDS]
        for k, (lo, tick) in enumerate(bands):
            hi = bands[k + 1][0] if k + 1 < len(bands) else top + 1
            start = lo if lo > 0 else tick
            parts.append(np.arange(start, min(hi, top + 1), tick, dtype=np.int64))
        return cls(np.concatenate(parts))

    def __len__(self) -> int:
        return int(self.mantissas.size)

    def index_of(self, price: str | Decimal) -> int:
        """Index of a valid price (ValueError if the price is not on the ladder)."""
        m = int(Decimal(price) * SCALE)
        i = int(np.searchsorted(self.mantissas, m))
        if i >= len(self) or int(self.mantissas[i]) != m:
            raise ValueError(f"price {price} is not on this tick ladder")
        return i

    def prices(self, idx: np.ndarray) -> np.ndarray:
        """float64 prices of indices (exact: round(p * 1e6) gives the mantissa back)."""
        return self.mantissas[idx] / SCALE

    def tick_at(self, price: str | Decimal) -> Decimal:
        i = self.index_of(price)
        j = i + 1 if i + 1 < len(self) else i
        return Decimal(int(self.mantissas[j] - self.mantissas[max(j - 1, 0)])) / SCALE
