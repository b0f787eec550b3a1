"""Position in queue (PIQ) of our resting orders, estimated from L5 snapshots and trades by the
Rust kernel (``shijim_core.QueueEstimator`` / ``queue_estimates``; the model is in
docs/signals.md, "Position in queue").

Rules (``QueueRule``): ``risk_averse`` (only trades advance us), ``power`` and ``log`` (the
probabilistic queue models of hftbacktest: a cancel at our level was behind us with probability
f(back) / (f(back) + f(front))), and ``pro_rata`` (the paper venue's own rule, so a live
estimate can be compared with what the venue did). Each estimate comes with the two extremes
(no cancel ahead / every cancel ahead), a confidence in [0, 1] and the probability of a fill
within a horizon.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

import shijim_core
from shijim.algo.microstructure import as_f64, as_i64
from shijim.domain import ENGINE_SIDE, Side
from shijim.events import TickType

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

QUEUE_STATE_NAMES: tuple[str, ...] = tuple(shijim_core.QUEUE_STATE_NAMES)
EVENT_BOOK = shijim_core.QUEUE_EVENT_BOOK
EVENT_TRADE = shijim_core.QUEUE_EVENT_TRADE
EVENT_OWN_FILL = shijim_core.QUEUE_EVENT_OWN_FILL


class QueueRule(enum.StrEnum):
    RISK_AVERSE = "risk_averse"
    POWER = "power"
    LOG = "log"
    PRO_RATA = "pro_rata"


@dataclass(frozen=True)
class QueueModel:
    rule: QueueRule = QueueRule.POWER
    power: float = 2.0  # the power rule's exponent n in f(x) = x^n
    own_in_book: bool = False  # live feeds show our order in the displayed quantity
    rate_halflife_ns: int = 1_000_000_000  # memory of the depletion-rate estimate


class QueueState(NamedTuple):
    known: bool
    ahead: float  # others' lots ahead of us (the rule's estimate)
    ahead_lo: float
    ahead_hi: float
    confidence: float  # 1 - (hi - lo) / hi
    filled_est: int  # lots of ours the estimate says traded
    remaining: int
    level: float  # others displayed at our price
    depletion_rate: float  # lots per second

    @classmethod
    def from_row(cls, row: tuple[float, ...] | list[float]) -> QueueState:
        k, a, lo, hi, c, f, rem, lvl, rate = row
        return cls(bool(k), a, lo, hi, c, int(f), int(rem), lvl, rate)


def _aggressor_code(side: Side | None) -> int:
    return TickType.UNKNOWN if side is None else ENGINE_SIDE[side]


class QueueEstimator:
    """One resting order: placed at ``t_ns`` with the book in force then (a tuple
    (bid_px, bid_qty, ask_px, ask_qty), or None: the queue is learnt when the price shows)."""

    def __init__(
        self,
        side: Side,
        price: float,
        qty: int,
        model: QueueModel = QueueModel(),
        t_ns: int = 0,
        book: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None,
    ) -> None:
        b = None if book is None else tuple(as_f64(x) for x in book)
        self._k = shijim_core.QueueEstimator(
            ENGINE_SIDE[side],
            price,
            qty,
            str(model.rule),
            model.power,
            model.own_in_book,
            model.rate_halflife_ns,
            t_ns,
            b,
        )

    def on_book(
        self,
        t_ns: int,
        bid_px: npt.ArrayLike,
        bid_qty: npt.ArrayLike,
        ask_px: npt.ArrayLike,
        ask_qty: npt.ArrayLike,
    ) -> QueueState:
        row = self._k.on_book(
            t_ns, as_f64(bid_px), as_f64(bid_qty), as_f64(ask_px), as_f64(ask_qty)
        )
        return QueueState.from_row(row)

    def on_trade(self, t_ns: int, price: float, qty: float, aggressor: Side | None) -> QueueState:
        return QueueState.from_row(self._k.on_trade(t_ns, price, qty, _aggressor_code(aggressor)))

    def on_own_fill(self, t_ns: int, qty: int) -> QueueState:
        return QueueState.from_row(self._k.on_own_fill(t_ns, qty))

    def state(self, t_ns: int | None = None) -> QueueState:
        return QueueState.from_row(self._k.state(t_ns))

    def p_fill(self, t_ns: int, horizon_ns: int, lots: int = 1) -> float:
        """P(the first ``lots`` of ours fill within ``horizon_ns`` from queue depletion)."""
        return self._k.p_fill(t_ns, horizon_ns, lots)


@dataclass(frozen=True)
class QueueFrame:
    values: F64  # (N, 9): QUEUE_STATE_NAMES
    ok: BoolArray
    first_error: str | None

    def column(self, name: str) -> F64:
        return self.values[:, QUEUE_STATE_NAMES.index(name)]


def queue_estimates(
    side: Side,
    price: float,
    qty: int,
    placed_ns: int,
    t_ns: npt.ArrayLike,
    kind: npt.ArrayLike,
    books: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    trade_px: npt.ArrayLike,
    trade_qty: npt.ArrayLike,
    trade_side: npt.ArrayLike,
    model: QueueModel = QueueModel(),
) -> QueueFrame:
    """One order's queue over an event table (``kind``: EVENT_BOOK / EVENT_TRADE /
    EVENT_OWN_FILL per row; ``books`` (N, L) arrays read on book rows, ``trade_*`` on trade
    rows, ``trade_qty`` also on own-fill rows; trade sides 0 unknown, 1 buyer-, 2
    seller-initiated). At equal times put trades before the book that shows them."""
    out, ok, first = shijim_core.queue_estimates(
        ENGINE_SIDE[side],
        price,
        qty,
        placed_ns,
        as_i64(t_ns),
        as_i64(kind),
        *(as_f64(b) for b in books),
        as_f64(trade_px),
        as_f64(trade_qty),
        as_i64(trade_side),
        str(model.rule),
        model.power,
        model.own_in_book,
        model.rate_halflife_ns,
    )
    return QueueFrame(out, ok, first)
