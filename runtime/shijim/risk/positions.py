"""Position keeping: net quantity, average entry price, realised and marked PnL per code.

Units: quantity in the instrument's order unit (contracts, board lots or odd-lot shares, see
``shijim.domain``); PnL in TWD = price points x quantity x ``Instrument.multiplier``. Average-cost
accounting: a fill that adds to a position moves the average price, a fill that reduces it
realises ``(fill price - average) x closed qty x multiplier`` (sign by side), a fill that flips
the position closes the old one and opens the remainder at the fill price. Fees reduce realised
PnL. Not thread-safe: the risk gateway owns it and calls it under its lock.

Realised PnL and the cost basis are exact: prices are decimals with at most 6 places (the wire
invariant, docs/formats.md), so each fill price is taken as the exact fraction round(p * 1e6) / 1e6
and the arithmetic is done in fractions (fills are rare: the cost is irrelevant). A day of round
trips realises exactly what the prices say, never 1e-10 off. Marks (unrealised PnL, updated on
every book) stay in floats: they are estimates anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from shijim.domain import Fill, Instrument, Position

InstrumentLookup = Callable[[str], Instrument]


_MICRO = 1_000_000
_ZERO = Fraction(0)


def exact(value: float) -> Fraction:
    """A price or TWD amount as the exact decimal it stands for (at most 6 places)."""
    return Fraction(round(value * _MICRO), _MICRO)


class _Book:
    __slots__ = ("avg", "cost", "fees", "mark", "mult", "net", "realised", "unrealised")

    def __init__(self, mult: float) -> None:
        self.mult = exact(mult)
        self.net = 0
        self.cost = _ZERO  # exact entry cost (price x qty) of the open position
        self.avg = 0.0  # float(cost / |net|), for marking on the hot path
        self.realised = _ZERO
        self.unrealised = 0.0
        self.fees = _ZERO
        self.mark = math.nan


class PositionKeeper:
    def __init__(self, instruments: InstrumentLookup) -> None:
        self._instruments = instruments
        self._books: dict[str, _Book] = {}
        self._realised = _ZERO
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
        return float(self._realised)

    @property
    def realised_pnl_exact(self) -> Fraction:
        return self._realised

    @property
    def unrealised_pnl(self) -> float:
        return self._unrealised

    @property
    def total_pnl(self) -> float:
        return float(self._realised) + self._unrealised

    def codes(self) -> list[str]:
        return list(self._books)

    def position(self, code: str) -> Position:
        b = self._books.get(code)
        if b is None:
            return Position(code, 0, 0.0, 0.0)
        return Position(code, b.net, b.avg, float(b.realised), b.unrealised, b.mark, float(b.fees))

    def snapshot(self) -> dict[str, Position]:
        return {code: self.position(code) for code in self._books}

    # -- updates -----------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> float:
        """Apply one fill; returns the PnL it realised (TWD, after its fee)."""
        b = self._book(fill.code)
        signed = int(fill.side) * fill.qty
        old_net = b.net
        price = exact(fill.price)
        fee = exact(fill.fee)
        realised = -fee
        if old_net == 0 or (old_net > 0) == (signed > 0):
            new_net = old_net + signed
            b.cost += price * abs(signed)
        else:
            closed = min(abs(signed), abs(old_net))
            direction = 1 if old_net > 0 else -1
            entry = b.cost * closed / abs(old_net)  # average cost of the closed units
            realised += (price * closed - entry) * direction * b.mult
            b.cost -= entry
            new_net = old_net + signed
            if (new_net > 0) != (old_net > 0) and new_net != 0:
                b.cost = price * abs(new_net)  # flipped: the remainder opened at this price
        b.avg = float(b.cost / abs(new_net)) if new_net else 0.0
        if not new_net:
            b.cost = _ZERO
        b.net = new_net
        b.realised += realised
        b.fees += fee
        self._realised += realised
        self._gross += abs(new_net) - abs(old_net)
        self._remark(b)
        return float(realised)

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
        b.cost = exact(avg_price) * abs(net) if net else _ZERO
        b.avg = float(b.cost / abs(net)) if net else 0.0
        self._remark(b)

    def _remark(self, b: _Book) -> None:
        if b.net == 0 or math.isnan(b.mark):
            new = 0.0
        else:
            new = (b.mark - b.avg) * b.net * float(b.mult)
        self._unrealised += new - b.unrealised
        b.unrealised = new

    def reset_day(self) -> None:
        """New trading day: realised PnL and fees restart at 0; open positions carry over."""
        self._realised = _ZERO
        for b in self._books.values():
            b.realised = _ZERO
            b.fees = _ZERO
