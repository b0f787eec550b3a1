"""Per-code L5 book state and the signals derived from it, updated a ring batch at a time.

For each code touched by a batch, the rows of that code are processed together: MLOFI over the
code's consecutive books (the previous batch's last book prepended) through the Rust core, then
microprice / depth imbalance of the newest book. Rows that no signal may use (crossed, non-positive
or NaN best prices, negative volume) are dropped with a counted cause; books with empty deeper
levels use only the depth that every compared book has (docs/strategy.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from shijim.strategy.signals import (
    SignalSnapshot,
    fold_levels,
    mlofi_reference,
    populated_depth,
    usable_books,
)

F64 = npt.NDArray[np.float64]
MlofiFn = Callable[[F64, F64, F64, F64], F64]


def core_mlofi() -> MlofiFn:
    """The Rust core's MLOFI; the numpy reference only if this build of the core lacks it."""
    try:
        from shijim_core import mlofi  # type: ignore[attr-defined]
    except ImportError:
        return mlofi_reference
    return mlofi  # type: ignore[no-any-return]


@dataclass(slots=True)
class CodeBook:
    code: str
    bid_px: F64 = field(default_factory=lambda: np.zeros(5))
    bid_qty: F64 = field(default_factory=lambda: np.zeros(5))
    ask_px: F64 = field(default_factory=lambda: np.zeros(5))
    ask_qty: F64 = field(default_factory=lambda: np.zeros(5))
    has_book: bool = False
    exch_ts: int = 0
    local_ts: int = 0
    # Accumulated since the strategy last looked (reset by take_signals).
    ofi: float = 0.0
    trade_flow: float = 0.0
    last_trade: float = math.nan
    microprice: float = math.nan
    imbalance: float = 0.0

    def take_signals(self) -> SignalSnapshot:
        b, a = float(self.bid_px[0]), float(self.ask_px[0])
        snap = SignalSnapshot(
            ofi=self.ofi,
            microprice=self.microprice,
            mid=(b + a) * 0.5,
            spread=a - b,
            imbalance=self.imbalance,
            last_trade=self.last_trade,
            trade_flow=self.trade_flow,
        )
        self.ofi = 0.0
        self.trade_flow = 0.0
        return snap


class BookTable:
    """Books of every code this runner has seen."""

    def __init__(self, mlofi: MlofiFn | None = None, level_decay: float = 0.5) -> None:
        self.books: dict[str, CodeBook] = {}
        self._mlofi = mlofi or core_mlofi()
        self._decay = level_decay
        self.dropped: dict[str, int] = {}  # cause -> rows

    def book(self, code: str) -> CodeBook:
        b = self.books.get(code)
        if b is None:
            b = self.books[code] = CodeBook(code)
        return b

    def reset(self) -> None:
        """Forget every book (lapped reader / writer restart): the next book of each code starts a
        fresh MLOFI sequence instead of being compared with a stale one."""
        for b in self.books.values():
            b.has_book = False
            b.ofi = 0.0
            b.trade_flow = 0.0

    def _drop(self, cause: str, n: int) -> None:
        self.dropped[cause] = self.dropped.get(cause, 0) + n

    def apply_bidasks(
        self,
        code: str,
        bid_px: F64,
        bid_qty: F64,
        ask_px: F64,
        ask_qty: F64,
        exch_ts: int,
        local_ts: int,
    ) -> bool:
        """Rows (N, L) of one code in sequence order. Returns True if the book changed."""
        ok = usable_books(bid_px, bid_qty, ask_px, ask_qty)
        if not ok.all():
            self._drop("unusable_book", int((~ok).sum()))
            if not ok.any():
                return False
            bid_px, bid_qty, ask_px, ask_qty = bid_px[ok], bid_qty[ok], ask_px[ok], ask_qty[ok]
        b = self.book(code)
        if b.has_book:
            bp = np.vstack((b.bid_px, bid_px))
            bq = np.vstack((b.bid_qty, bid_qty))
            ap = np.vstack((b.ask_px, ask_px))
            aq = np.vstack((b.ask_qty, ask_qty))
        else:
            bp, bq, ap, aq = bid_px, bid_qty, ask_px, ask_qty
        if bp.shape[0] >= 2:
            depth = populated_depth(bp, ap)
            if depth > 0:
                e = self._mlofi(
                    np.ascontiguousarray(bp[:, :depth]),
                    np.ascontiguousarray(bq[:, :depth], dtype=np.float64),
                    np.ascontiguousarray(ap[:, :depth]),
                    np.ascontiguousarray(aq[:, :depth], dtype=np.float64),
                )
                b.ofi += float(fold_levels(e, self._decay).sum())
        last_b, last_a = float(bid_px[-1, 0]), float(ask_px[-1, 0])
        qb, qa = float(bid_qty[-1, 0]), float(ask_qty[-1, 0])
        total = qb + qa
        b.microprice = (last_b * qa + last_a * qb) / total if total > 0 else (last_b + last_a) / 2
        sb, sa = float(bid_qty[-1].sum()), float(ask_qty[-1].sum())
        b.imbalance = (sb - sa) / (sb + sa) if sb + sa > 0 else 0.0
        b.bid_px = bid_px[-1].astype(np.float64, copy=True)
        b.bid_qty = bid_qty[-1].astype(np.float64, copy=True)
        b.ask_px = ask_px[-1].astype(np.float64, copy=True)
        b.ask_qty = ask_qty[-1].astype(np.float64, copy=True)
        b.has_book = True
        b.exch_ts = exch_ts
        b.local_ts = local_ts
        return True

    def apply_trades(
        self, code: str, price: F64, volume: F64, tick_type: F64, exch_ts: int, local_ts: int
    ) -> None:
        """Real trades of one code (simtrade rows already removed by the caller)."""
        b = self.book(code)
        sign = np.where(tick_type == 1, 1.0, np.where(tick_type == 2, -1.0, 0.0))
        b.trade_flow += float((sign * volume).sum())
        b.last_trade = float(price[-1])
        b.exch_ts = max(b.exch_ts, exch_ts)
        b.local_ts = max(b.local_ts, local_ts)
