"""Per-code L5 book state and the signals derived from it, updated a ring batch at a time.

For each code touched by a batch, the rows of that code are processed together: MLOFI over the
code's consecutive books (the previous batch's last book prepended) through the Rust core, then
microprice / depth imbalance of the newest book. Rows that no signal may use (crossed, non-positive
or NaN best prices, negative volume) are dropped with a counted cause; books with empty deeper
levels use only the depth that every compared book has (docs/strategy.md).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shijim.strategy.signals import (
    SignalSnapshot,
    fold_levels,
    populated_depth,
    usable_books,
)

F64 = npt.NDArray[np.float64]
MlofiFn = Callable[..., F64]  # (bid_px, bid_qty, ask_px, ask_qty, levels) -> (N, levels)
LEVELS = 5


def core_mlofi() -> MlofiFn:
    """The Rust core's MLOFI (``levels`` = the populated depth to read)."""
    from shijim_core import mlofi

    return mlofi  # type: ignore[no-any-return]


def _stream_factory() -> Callable[[], Any] | None:
    from shijim_core import MlofiStream

    return lambda: MlofiStream(LEVELS)


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
    depth: int = 0  # leading levels populated on both sides
    stream: Any = None  # shijim_core.MlofiStream over full-depth books (the per-row path)
    stream_primed: bool = False
    best_bid: float = math.nan  # top of book as Python numbers (the decision path reads these)
    best_ask: float = math.nan
    best_bid_qty: int = 0
    best_ask_qty: int = 0
    # Accumulated since the strategy last looked (reset by take_signals).
    ofi: float = 0.0
    trade_flow: float = 0.0
    last_trade: float = math.nan
    microprice: float = math.nan
    imbalance: float = 0.0
    last_ofi: float = 0.0  # the OFI the strategy last saw (for snapshots)

    def take_signals(self) -> SignalSnapshot:
        b, a = self.best_bid, self.best_ask
        # Positional (one per decision): ofi, microprice, mid, spread, imbalance, last_trade,
        # trade_flow.
        snap = SignalSnapshot(
            self.ofi,
            self.microprice,
            (b + a) * 0.5,
            a - b,
            self.imbalance,
            self.last_trade,
            self.trade_flow,
        )
        self.last_ofi = self.ofi
        self.ofi = 0.0
        self.trade_flow = 0.0
        return snap

    def forget(self) -> None:
        """Drop the book and what accumulated on it: the next book starts a fresh MLOFI sequence
        instead of being compared with a stale one."""
        self.has_book = False
        self.stream_primed = False
        self.ofi = 0.0
        self.trade_flow = 0.0


class BookTable:
    """Books of every code this runner has seen."""

    def __init__(
        self, mlofi: MlofiFn | None = None, level_decay: float = 0.5, levels: int = LEVELS
    ) -> None:
        if not 1 <= levels <= LEVELS:
            raise ValueError(f"levels: must be in [1, {LEVELS}], got {levels}")
        self.books: dict[str, CodeBook] = {}
        self._mlofi = mlofi or core_mlofi()
        # Tests may pass the numpy reference; the per-row stream then stays off.
        self._new_stream = _stream_factory() if mlofi is None else None
        self._decay = level_decay
        self.levels = levels  # the OFI folds levels 1..levels; microprice/imbalance are unchanged
        self._level_weights = [level_decay**m if m < levels else 0.0 for m in range(LEVELS)]
        self.dropped: dict[str, int] = {}  # cause -> rows

    def book(self, code: str) -> CodeBook:
        b = self.books.get(code)
        if b is None:
            b = self.books[code] = CodeBook(code)
            if self._new_stream is not None:
                b.stream = self._new_stream()
        return b

    def reset(self) -> None:
        """Forget every book (lapped reader / writer restart)."""
        for b in self.books.values():
            b.forget()

    def apply_bidask_row(
        self,
        code: str,
        bid_px: F64,
        bid_qty: F64,
        ask_px: F64,
        ask_qty: F64,
        exch_ts: int,
        local_ts: int,
        as_lists: tuple[list[float], list[float], list[float], list[float]] | None = None,
    ) -> bool:
        """One book (1-D rows of L levels): the latency path for small batches, scalar checks
        and a preallocated previous/current pair instead of per-batch numpy temporaries.
        ``as_lists``: the same four rows already as Python lists (read only), if the caller has
        them."""
        if as_lists is None:
            bl, bql, al, aql = bid_px.tolist(), bid_qty.tolist(), ask_px.tolist(), ask_qty.tolist()
        else:
            bl, bql, al, aql = as_lists
        b0, a0 = bl[0], al[0]
        if not (b0 > 0 and a0 > b0 and a0 < math.inf) or min(bql) < 0 or min(aql) < 0:
            self.count_dropped("unusable_book", 1)  # NaN fails every comparison above
            return False
        if (
            len(bl) == LEVELS
            and len(al) == LEVELS
            and bl[1] > 0
            and al[1] > 0
            and bl[2] > 0
            and al[2] > 0
            and bl[3] > 0
            and al[3] > 0
            and bl[4] > 0
            and al[4] > 0
        ):
            depth = LEVELS  # the usual full book (level 0 checked above)
        else:
            depth = 0
            for bp_, ap_ in zip(bl, al, strict=False):
                if bp_ > 0 and ap_ > 0:
                    depth += 1
                else:
                    break
        b = self.books.get(code)
        if b is None:
            b = self.book(code)
        stream = b.stream
        if b.has_book:
            d = depth if depth < b.depth else b.depth
            e = None
            if d == LEVELS and b.stream_primed and stream is not None:
                e = stream.update(bid_px, bid_qty, ask_px, ask_qty)
            elif d > 0:
                e = self._mlofi(
                    np.stack((b.bid_px, bid_px)),
                    np.stack((b.bid_qty, bid_qty)),
                    np.stack((b.ask_px, ask_px)),
                    np.stack((b.ask_qty, ask_qty)),
                    d,
                )[1]
                b.stream_primed = False
            if e is not None:
                b.ofi += sum(map(operator.mul, e.tolist(), self._level_weights))
        if not b.stream_primed and depth == LEVELS and stream is not None:
            stream.reset()
            stream.update(bid_px, bid_qty, ask_px, ask_qty)
            b.stream_primed = True
        qb, qa = bql[0], aql[0]
        tq = qb + qa
        b.microprice = (b0 * qa + a0 * qb) / tq if tq > 0 else (b0 + a0) * 0.5
        sb, sa = sum(bql), sum(aql)
        b.imbalance = (sb - sa) / (sb + sa) if sb + sa > 0 else 0.0
        # Views into the batch's arrays (each read returns fresh arrays): no copy per event.
        b.bid_px, b.bid_qty, b.ask_px, b.ask_qty = bid_px, bid_qty, ask_px, ask_qty
        b.best_bid, b.best_ask, b.best_bid_qty, b.best_ask_qty = b0, a0, qb, qa
        b.depth = depth
        b.has_book = True
        b.exch_ts = exch_ts
        b.local_ts = local_ts
        return True

    def reset_code(self, code: str) -> None:
        """Forget one code's book (its session opened or closed, or its feed had a gap)."""
        b = self.books.get(code)
        if b is not None:
            b.forget()

    def count_dropped(self, cause: str, n: int) -> None:
        """``n`` rows no signal may use, by cause (reported in the run summary)."""
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
            self.count_dropped("unusable_book", int((~ok).sum()))
            if not ok.any():
                return False
            bid_px, bid_qty, ask_px, ask_qty = bid_px[ok], bid_qty[ok], ask_px[ok], ask_qty[ok]
        if bid_px.shape[0] == 1:
            return self.apply_bidask_row(
                code, bid_px[0], bid_qty[0], ask_px[0], ask_qty[0], exch_ts, local_ts
            )
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
                e = self._mlofi(bp, bq, ap, aq, depth)
                b.ofi += float(fold_levels(e, self._decay, self.levels).sum())
        b.stream_primed = False  # re-primed by the next full-depth row
        last_b, last_a = float(bid_px[-1, 0]), float(ask_px[-1, 0])
        qb, qa = float(bid_qty[-1, 0]), float(ask_qty[-1, 0])
        total = qb + qa
        b.microprice = (last_b * qa + last_a * qb) / total if total > 0 else (last_b + last_a) / 2
        sb, sa = float(bid_qty[-1].sum()), float(ask_qty[-1].sum())
        b.imbalance = (sb - sa) / (sb + sa) if sb + sa > 0 else 0.0
        b.bid_px, b.bid_qty, b.ask_px, b.ask_qty = bid_px[-1], bid_qty[-1], ask_px[-1], ask_qty[-1]
        b.best_bid, b.best_ask = last_b, last_a
        b.best_bid_qty, b.best_ask_qty = int(bid_qty[-1, 0]), int(ask_qty[-1, 0])
        b.depth = populated_depth(bid_px[-1:], ask_px[-1:])
        b.has_book = True
        b.exch_ts = exch_ts
        b.local_ts = local_ts
        return True

    def apply_trade_rows(
        self,
        code: str,
        prices: list[float],
        volumes: list[int],
        tick_types: list[int],
        exch_ts: int,
        local_ts: int,
    ) -> None:
        """``apply_trades`` for a few rows given as Python lists (the small-batch path)."""
        b = self.books.get(code)
        if b is None:
            b = self.book(code)
        flow = 0.0
        for v, t in zip(volumes, tick_types, strict=True):
            if t == 1:
                flow += v
            elif t == 2:
                flow -= v
        b.trade_flow += flow
        b.last_trade = float(prices[-1])
        b.exch_ts = max(b.exch_ts, exch_ts)
        b.local_ts = max(b.local_ts, local_ts)

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
