"""Positions and PnL: the risk gateway's view of the engine's account.

The account lives in the Rust engine (``shijim_core.Engine``; docs/engine.md, docs/risk.md):
net quantity, average-cost price, realised PnL in exact fixed point, fees, and unrealised PnL
marked at every book the engine applies (no marking from Python). ``PositionKeeper`` is the
one path for fills into it: the gateway applies every fill here, paper (from the paper venue's
events) and live (from Shioaji) alike.

Units: quantity in the instrument's order unit (contracts, board lots or odd-lot shares, see
``shijim.domain``); PnL in TWD = price points x quantity x multiplier. Average-cost accounting:
adding moves the average, reducing realises ``(fill - average) x closed x multiplier`` (sign by
side), a flip closes the old position and opens the rest at the fill price. ``realised_pnl`` is
net of fees (fees are a cost of the day); ``total_pnl`` = realised - fees + unrealised.

Exactness: realised PnL is kept as price mantissa (10^-6) x lots in integers. A partial close
of a position opened at several prices takes its cost share with an integer division (under
10^-6 point off per partial close); a position that goes flat realises exactly proceeds - cost,
so a day of round trips realises exactly what the prices say.

A code the engine was not built with (a fill or broker position outside the shard's universe)
is adopted into the engine (``Engine.adopt``) with the multiplier of its ``Instrument``: real
money is tracked, never dropped. Such a code has no book in the engine, so it is not marked.
Not thread-safe: the gateway owns it and calls it under its lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from typing import Any

from shijim.domain import ENGINE_SIDE, Fill, Instrument, Position

InstrumentLookup = Callable[[str], Instrument]

_MICRO = 1_000_000


class PositionKeeper:
    """``PositionKeeper(engine, instruments)``: ``instruments(code)`` gives the ``Instrument`` of
    a code the engine does not know yet (raising for an unknown one)."""

    def __init__(self, engine: Any, instruments: InstrumentLookup) -> None:
        self._engine = engine
        self._instruments = instruments
        self._engine_ids: Mapping[str, int] = engine.code_ids  # every engine code, live
        self._ids: dict[str, int] = {}  # the codes this account has booked or reconciled
        self._codes: dict[str, None] = {}  # codes with a fill or a reconciled position, in order
        self._net_positions = NetPositions(self)  # the one net-by-code lookup (``net``, ``view``)

    def _id(self, code: str) -> int:
        """The engine's id of ``code``, adopting it into the engine if needed."""
        cid = self._ids.get(code)
        if cid is None:
            cid = self._engine_ids.get(code)
            if cid is None:
                inst = self._instruments(code)  # raises for a code nobody configured
                cid = self._engine.adopt(code, {"multiplier": float(inst.multiplier)})
            self._ids[code] = cid
        return cid

    # -- queries (hot path: risk checks) -----------------------------------------------------
    def net(self, code: str) -> int:
        return self._net_positions.get(code)

    def view(self) -> NetPositions:
        """The net positions as a read-only mapping that follows the account (no copy)."""
        return self._net_positions

    @property
    def gross(self) -> int:
        """Sum of |net| over codes, in order units (contracts and lots are added as counts)."""
        return int(self._engine.gross)

    @property
    def realised_pnl(self) -> float:
        """Today's realised PnL net of today's fees (TWD)."""
        t = self._engine.totals()
        return float(t["realised"] - t["fees"])

    @property
    def fees(self) -> float:
        return float(self._engine.totals()["fees"])

    @property
    def unrealised_pnl(self) -> float:
        return float(self._engine.totals()["unrealised"])

    @property
    def total_pnl(self) -> float:
        """realised - fees + unrealised (TWD): what the daily loss limit is checked against."""
        return float(self._engine.net_pnl)

    def realised_points_exact(self, code: str) -> Fraction:
        """``code``'s realised PnL in price points x quantity, exactly (before fees and the
        multiplier)."""
        cid = self._ids.get(code)
        if cid is None:
            return Fraction(0)
        return Fraction(self._engine.position(cid).realised_units, _MICRO)

    def codes(self) -> list[str]:
        return list(self._codes)

    def position(self, code: str) -> Position:
        cid = self._ids.get(code)
        if cid is None:
            return Position(code, 0, 0.0, 0.0)
        p = self._engine.position(cid)
        return Position(code, p.net, p.avg_price, p.realised - p.fees, p.unrealised, p.mark, p.fees)

    def snapshot(self) -> dict[str, Position]:
        return {code: self.position(code) for code in self._codes}

    # -- updates -----------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> int:
        """Books one fill at its execution time ``fill.ts_ns``; returns the code's net position
        after it. Raises KeyError/ValueError for a code nobody configured (from the instrument
        lookup) and ValueError for a bad fill (qty <= 0, price <= 0, NaN fee)."""
        code = fill.code
        cid = self._ids.get(code)  # _id's own first step, without its call on the fill path
        if cid is None:
            cid = self._id(code)
        # The engine rounds the price to the wire's 6 decimals (a broker's float may carry
        # binary noise beyond them).
        net = self._engine.apply_fill(
            cid, ENGINE_SIDE[fill.side], fill.price, fill.qty, fill.fee, fill.ts_ns
        )
        self._codes[code] = None  # booked: a refused fill adds no code
        return net

    def set_position(self, code: str, net: int, avg_price: float) -> None:
        """Reconciliation: overwrite ``code``'s position with the broker's figures (realised PnL
        and fees stay)."""
        cid = self._id(code)
        avg = float(avg_price) if net and math.isfinite(avg_price) else 0.0
        self._engine.set_position(cid, int(net), avg)
        self._codes[code] = None

    def reset_day(self) -> None:
        """New trading day: realised PnL and fees restart at 0; open positions carry over."""
        self._engine.reset_day()


class NetPositions(Mapping[str, int]):
    """Read-only net positions by code, following the engine's account (no copy per decision):
    what a strategy's ``StrategyContext.positions`` is, and what ``PositionKeeper.net`` reads.
    A code without a fill has 0. ``get`` reads the keeper's ids and the engine itself: it runs
    on every decision, where a call costs more than its body."""

    __slots__ = ("_codes", "_ids", "_net")

    def __init__(self, keeper: PositionKeeper) -> None:
        self._ids = keeper._ids  # filled in place as codes get fills: never replaced
        self._codes = keeper._codes
        self._net = keeper._engine.net

    def get(self, code: str, default: object = 0) -> int:  # type: ignore[override]
        cid = self._ids.get(code)
        return 0 if cid is None else self._net(cid)

    __getitem__ = get  # never a KeyError: every code has a net position, 0 without fills

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._codes))

    def __len__(self) -> int:
        return len(self._codes)
