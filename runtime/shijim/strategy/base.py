"""What a strategy sees and what it may ask for.

A strategy is driven by the ``StrategyRunner``: once per batch per code that changed it gets a
``MarketView`` (latest book top plus signals accumulated since it last looked), and it gets every
order update and fill. It answers with ``StrategyAction`` values; the runner sends them through the
risk gateway (strategies never touch an adapter). Decisions are meant to be pure functions of the
view, the ``StrategyContext`` and the strategy's own state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from shijim.domain import Fill, Order, OrderIntent, OrderUpdate, SignalSnapshot, TradingState


class MarketView(NamedTuple):
    """Immutable; a NamedTuple because one is built per decision (faster than a frozen
    dataclass)."""

    code: str
    exch_ts: int  # ns, of the latest event of this code
    local_ts: int  # ns, local receive time of that event (tick-to-order starts here)
    best_bid: float
    best_ask: float
    bid_qty: int
    ask_qty: int
    signals: SignalSnapshot


class StrategyContext(NamedTuple):
    positions: Mapping[str, int]  # net qty per code, order units
    working: Mapping[str, Order]  # this runtime's working orders by order id
    state: TradingState


@dataclass(frozen=True, slots=True)
class Place:
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class Amend:
    order_id: str
    price: float


@dataclass(frozen=True, slots=True)
class Cancel:
    order_id: str


@dataclass(frozen=True, slots=True)
class StandBy:
    """The strategy's answer to every due event of ``code`` is *no action* until exchange time
    ``until_exch_ts`` (``MarketView.exch_ts``) while the best bid stays in the open band
    (``bid_floor``, ``bid_cap``), the best ask in (``ask_floor``, ``ask_cap``) and the
    microprice in (``micro_floor``, ``micro_cap``). The engine
    answers those events itself, each counted as a decision taken (docs/engine.md#standby).
    Any order update or fill, system event or trading-state change ends it, so a standby only
    has to hold for what the strategy already knows; it must be exactly what the full decision
    would return (a strategy's tests check that on a random stream)."""

    code: str
    until_exch_ts: int
    bid_floor: float = -math.inf
    bid_cap: float = math.inf
    ask_floor: float = -math.inf
    ask_cap: float = math.inf
    micro_floor: float = -math.inf
    micro_cap: float = math.inf


FOREVER_NS = 2**63 - 1  # a StandBy.until_exch_ts that only an event (fill, state change) ends

StrategyAction = Place | Amend | Cancel | StandBy


class Strategy(Protocol):
    """A strategy may also set ``signal_levels: int`` (1..5): the book levels its OFI signal
    folds (the runner's default is all five), and define ``rehearse(view, ctx) -> actions``:
    the actions its acting path would take on ``view``, computed without changing its state.
    A pinned runner calls it in idle turns so that the next real decision finds that code
    warm in the caches; its actions are checked by risk and dropped (docs/runtime.md#rehearsal).
    Without it the runner rehearses its own path and risk's on a one-lot bid at the touch.

    A strategy may also define ``describe() -> Mapping[str, scalar]``: what the dashboard's
    strategy panel shows beside its name and counts (its parameters in words, what it is doing
    per code). It runs on the trading thread at the dashboard's refresh (10 Hz), so it reads
    the state it keeps and computes nothing; at most ``DESCRIBE_MAX_FIELDS`` fields are shown
    (``shijim.strategy.snapshot``)."""

    name: str

    def on_market(self, view: MarketView, ctx: StrategyContext) -> Sequence[StrategyAction]: ...

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> Sequence[StrategyAction]: ...

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Sequence[StrategyAction]: ...

    def on_placed(self, tag: str, order: Order | None) -> None:
        """The runner's answer to a Place: the accepted Order, or None (rejected)."""
        ...
