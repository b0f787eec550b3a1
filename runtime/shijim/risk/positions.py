"""Position keeping: net quantity, average entry price, realised and marked PnL per code.

Units: quantity in the instrument's order unit (contracts, board lots or odd-lot shares, see
``shijim.domain``); PnL in TWD = price points x quantity x ``Instrument.multiplier``. Average-cost
accounting: a fill that adds to a position moves the average price, a fill that reduces it
realises ``(fill price - average) x closed qty x multiplier`` (sign by side), a fill that flips
the position closes the old one and opens the remainder at the fill price. Fees reduce realised
PnL. Not thread-safe: the risk gateway owns it and calls it under its lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from shijim.domain import Fill, Instrument, Position

InstrumentLookup = Callable[[str], Instrument]


class _Book:
    __slots__ = ("avg", "fees", "mark", "mult", "net", "realised", "unrealised")

    def __init__(self, mult: float) -> None:
        self.mult = mult
        self.net = 0
        self.avg = 0.0
        self.realised = 0.0
        self.unrealised = 0.0
        self.fees = 0.0
        self.mark = math.nan


class PositionKeeper:
    def __init__(self, instruments: InstrumentLookup) -> None:
        self._instruments = instruments
        self._books: dict[str, _Book] = {}
        self._realised = 0.0
        self._unrealised = 0.0
        self._gross = 0

    def _book(self, code: str) -> _Book:
        book = self._books.get(code)
        if book is None:
            book = _Book(self._instruments(code).multiplier)
            self._books[code] = book
        return book

    # -- queries (hot path: risk checks) -----------------------------------------------------
    def net(self, code: str) -> int:
        book = self._books.get(code)
        return 0 if book is None else book.net

    @property
    def gross(self) -> int:
        """Sum of |net| over codes, in order units (contracts and lots are added as counts)."""
        return self._gross

    @property
    def realised_pnl(self) -> float:
        return self._realised

    @property
    def unrealised_pnl(self) -> float:
        return self._unrealised

    @property
    def total_pnl(self) -> float:
        return self._realised + self._unrealised

    def codes(self) -> list[str]:
        return list(self._books)

    def position(self, code: str) -> Position:
        b = self._books.get(code)
        if b is None:
            return Position(code, 0, 0.0, 0.0)
        return Position(code, b.net, b.avg, b.realised, b.unrealised, b.mark, b.fees)

    def snapshot(self) -> dict[str, Position]:
        return {code: self.position(code) for code in self._books}

    # -- updates -----------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> float:
        """Apply one fill; returns the PnL it realised (TWD, after its fee)."""
        b = self._book(fill.code)
        signed = int(fill.side) * fill.qty
        old_net = b.net
        realised = -fill.fee
        if old_net == 0 or (old_net > 0) == (signed > 0):
            new_net = old_net + signed
            b.avg = (b.avg * abs(old_net) + fill.price * abs(signed)) / abs(new_net)
        else:
            closed = min(abs(signed), abs(old_net))
            direction = 1 if old_net > 0 else -1
            realised += (fill.price - b.avg) * closed * direction * b.mult
            new_net = old_net + signed
            if new_net == 0:
                b.avg = 0.0
            elif (new_net > 0) != (old_net > 0):
                b.avg = fill.price  # flipped: the remainder opened at this price
        b.net = new_net
        b.realised += realised
        b.fees += fill.fee
        self._realised += realised
        self._gross += abs(new_net) - abs(old_net)
        self._remark(b)
        return realised

    def mark(self, code: str, price: float) -> None:
        """Mark ``code`` at ``price`` (the reference price: mid, else last trade)."""
        b = self._books.get(code)
        if b is None or not math.isfinite(price) or price <= 0:
            return
        b.mark = price
        self._remark(b)

    def set_position(self, code: str, net: int, avg_price: float) -> None:
        """Reconciliation: overwrite ``code``'s position with the broker's figures."""
        b = self._book(code)
        self._gross += abs(net) - abs(b.net)
        b.net = net
        b.avg = avg_price if net else 0.0
        self._remark(b)

    def _remark(self, b: _Book) -> None:
        if b.net == 0 or math.isnan(b.mark):
            new = 0.0
        else:
            new = (b.mark - b.avg) * b.net * b.mult
        self._unrealised += new - b.unrealised
        b.unrealised = new

    def reset_day(self) -> None:
        """New trading day: realised PnL and fees restart at 0; open positions carry over."""
        self._realised = 0.0
        for b in self._books.values():
            b.realised = 0.0
            b.fees = 0.0
