"""SmartChasingEngine: work one parent order by posting at the touch and re-pricing as the market
moves away, within a maximum chase distance.

The decision is a PURE function ``decide(state, event, params) -> (state, actions)``: no clock,
no I/O. Time comes from event timestamps, so the same event sequence always gives the same actions
(replays and backtests reproduce live decisions). ``SmartChasingEngine`` is a thin holder of the
state for callers that prefer an object.

Pricing rule (per market event), for a buy (a sell mirrors it):
- urgency = fused signal pushing against us (OFI/MLOFI, microprice, depth imbalance; weights in
  ``SignalWeights``), in [-1, 1];
- urgency >= ``cross_threshold``: cross the spread (price = best ask);
- urgency >= ``improve_threshold`` and the spread is wider than one tick: improve by one tick;
- otherwise join the best bid;
- the price never goes beyond the parent's limit nor more than ``max_chase_ticks`` ticks from the
  first posted price (the anchor);
- a working order is re-priced only when its target changed and at least
  ``min_reprice_interval_ns`` passed since the last post/re-price (event time).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from shijim.domain import Side, SignalSnapshot, SignalWeights, fused_urgency

_DEFAULT_WEIGHTS = SignalWeights()
_NO_SIGNALS = SignalSnapshot()


@dataclass(frozen=True, slots=True)
class ChaseParams:
    tick: float
    max_chase_ticks: int = 5
    min_reprice_interval_ns: int = 50_000_000  # 50 ms of event time
    improve_threshold: float = 0.3
    cross_threshold: float = 0.6
    weights: SignalWeights = _DEFAULT_WEIGHTS


@dataclass(frozen=True, slots=True)
class ParentOrder:
    code: str
    side: Side
    qty: int
    limit: float  # worst acceptable price (buy: highest, sell: lowest)


# -- events (inputs) ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MarketEvent:
    ts_ns: int
    best_bid: float
    best_ask: float
    signals: SignalSnapshot = _NO_SIGNALS


@dataclass(frozen=True, slots=True)
class ChildFilled:
    ts_ns: int
    qty: int


@dataclass(frozen=True, slots=True)
class ChildGone:
    """The working child ended without a full fill (cancelled or rejected by the venue/risk)."""

    ts_ns: int


ChaseEvent = MarketEvent | ChildFilled | ChildGone


# -- actions (outputs) -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Post:
    price: float
    qty: int
    urgency: float


@dataclass(frozen=True, slots=True)
class Reprice:
    price: float
    qty: int
    urgency: float


@dataclass(frozen=True, slots=True)
class CancelChild:
    reason: str


@dataclass(frozen=True, slots=True)
class Completed:
    filled: int


ChaseAction = Post | Reprice | CancelChild | Completed


@dataclass(frozen=True, slots=True)
class ChaseState:
    parent: ParentOrder
    filled: int = 0
    anchor: float = math.nan  # first posted price: the chase distance is measured from it
    working_price: float = math.nan  # nan: no child working
    last_post_ns: int | None = None
    done: bool = False

    @property
    def remaining(self) -> int:
        return max(0, self.parent.qty - self.filled)

    @property
    def working(self) -> bool:
        return not math.isnan(self.working_price)


def _round_to_tick(price: float, tick: float) -> float:
    # Ticks as integers avoid float drift (25000.0000001) in prices sent to a venue.
    return round(round(price / tick) * tick, 10)


def target_price(
    parent: ParentOrder, anchor: float, ev: MarketEvent, p: ChaseParams
) -> tuple[float, float]:
    """(price, urgency) for the child given the market; pure."""
    sign = int(parent.side)
    urgency = fused_urgency(ev.signals, sign, p.weights)
    spread_ticks = round((ev.best_ask - ev.best_bid) / p.tick)
    if parent.side is Side.BUY:
        touch, far = ev.best_bid, ev.best_ask
    else:
        touch, far = ev.best_ask, ev.best_bid
    if urgency >= p.cross_threshold:
        price = far
    elif urgency >= p.improve_threshold and spread_ticks > 1:
        price = touch + sign * p.tick
    else:
        price = touch
    # Caps: parent limit, then the chase distance from the anchor (first post).
    if not math.isnan(anchor):
        cap = anchor + sign * p.max_chase_ticks * p.tick
        price = min(price, cap) if sign > 0 else max(price, cap)
    price = min(price, parent.limit) if sign > 0 else max(price, parent.limit)
    return _round_to_tick(price, p.tick), urgency


def decide(
    state: ChaseState, event: ChaseEvent, p: ChaseParams
) -> tuple[ChaseState, tuple[ChaseAction, ...]]:
    if state.done:
        return state, ()
    if isinstance(event, ChildFilled):
        filled = state.filled + event.qty
        if filled >= state.parent.qty:
            return dataclasses.replace(state, filled=filled, working_price=math.nan, done=True), (
                Completed(filled),
            )
        return dataclasses.replace(state, filled=filled), ()
    if isinstance(event, ChildGone):
        return dataclasses.replace(state, working_price=math.nan), ()
    ev = event
    if not (ev.best_bid > 0 and ev.best_ask > ev.best_bid):
        return state, ()  # no usable touch: wait rather than guess
    price, urgency = target_price(state.parent, state.anchor, ev, p)
    if not state.working:
        anchor = price if math.isnan(state.anchor) else state.anchor
        new = dataclasses.replace(state, anchor=anchor, working_price=price, last_post_ns=ev.ts_ns)
        return new, (Post(price, state.remaining, urgency),)
    if price == state.working_price:
        return state, ()
    if state.last_post_ns is not None and ev.ts_ns - state.last_post_ns < p.min_reprice_interval_ns:
        return state, ()
    new = dataclasses.replace(state, working_price=price, last_post_ns=ev.ts_ns)
    return new, (Reprice(price, state.remaining, urgency),)


class SmartChasingEngine:
    """Holds one parent's ``ChaseState``; every decision goes through the pure ``decide``."""

    def __init__(self, parent: ParentOrder, params: ChaseParams) -> None:
        if parent.qty <= 0:
            raise ValueError(f"ParentOrder.qty: must be > 0, got {parent.qty}")
        if not (params.tick > 0 and math.isfinite(params.tick)):
            raise ValueError(f"ChaseParams.tick: must be a positive number, got {params.tick}")
        if not math.isfinite(parent.limit):
            raise ValueError(f"ParentOrder.limit: must be finite, got {parent.limit}")
        self.params = params
        self.state = ChaseState(parent)

    def on_event(self, event: ChaseEvent) -> tuple[ChaseAction, ...]:
        self.state, actions = decide(self.state, event, self.params)
        return actions

    def cancel(self) -> tuple[ChaseAction, ...]:
        """Abandon the parent (e.g. the kill switch): cancel the child, mark done."""
        working = self.state.working
        self.state = dataclasses.replace(self.state, working_price=math.nan, done=True)
        return (CancelChild("parent cancelled"),) if working else ()
