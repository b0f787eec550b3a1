"""OFI momentum: when the fused order-flow signal pushes hard one way, buy (sell) a clip and work
it with the SmartChasingEngine; flatten toward zero when the push reverses.

- signal = fused urgency for a buyer (OFI/MLOFI, microprice, depth imbalance), in [-1, 1];
- signal >= threshold and position < max_position: a BUY parent of ``qty`` lots, limit
  ``limit_ticks`` above the ask; signal <= -threshold: the mirror SELL;
- one parent per code at a time; the engine posts, re-prices and caps the chase distance; a
  parent that has not completed within ``parent_timeout_ms`` of event time is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from shijim.algo.chasing import (
    CancelChild,
    ChaseAction,
    ChaseParams,
    ChildFilled,
    ChildGone,
    MarketEvent,
    ParentOrder,
    Post,
    Reprice,
    SmartChasingEngine,
)
from shijim.domain import (
    Fill,
    LadderOf,
    Order,
    OrderIntent,
    OrderUpdate,
    Side,
    SignalWeights,
    TradingState,
    fused_urgency,
)
from shijim.strategy.base import (
    Amend,
    Cancel,
    MarketView,
    Place,
    StrategyAction,
    StrategyContext,
)
from shijim.strategy.snapshot import DESCRIBE_MAX_FIELDS


@dataclass(frozen=True)
class MomentumEntryParams:
    """The entry threshold and the chasing execution, shared by the strategies that trade a
    fused signal this way (ofi_momentum, fused_signals)."""

    # Bounds are field metadata: checked when the config is read, and exported to the operator.
    levels: int = field(default=5, metadata={"ge": 1, "le": 5})  # book levels in the OFI signal
    threshold: float = field(default=0.6, metadata={"gt": 0, "le": 1})  # the signal is in [-1, 1]
    qty: int = field(default=1, metadata={"ge": 1})
    max_position: int = field(default=2, metadata={"ge": 1})
    limit_ticks: int = field(default=3, metadata={"ge": 0})
    max_chase_ticks: int = field(default=3, metadata={"ge": 0})
    min_reprice_ms: float = field(default=50.0, metadata={"ge": 0})
    parent_timeout_ms: float = field(default=2000.0, metadata={"gt": 0})

    def entry(self) -> dict[str, object]:
        """These fields by name (to build another strategy's params from them)."""
        return {f.name: getattr(self, f.name) for f in fields(MomentumEntryParams)}


@dataclass(frozen=True)
class OfiMomentumParams(MomentumEntryParams):
    w_ofi: float = field(default=0.5, metadata={"ge": 0})
    w_microprice: float = field(default=0.3, metadata={"ge": 0})
    w_imbalance: float = field(default=0.2, metadata={"ge": 0})
    ofi_scale: float = field(default=20.0, metadata={"gt": 0})


@dataclass(slots=True)
class _Working:
    engine: SmartChasingEngine
    started_ns: int
    child_id: str | None = None
    pending: bool = False


class OfiMomentum:
    name = "ofi_momentum"

    def __init__(self, params: OfiMomentumParams, ladder_of: LadderOf) -> None:
        if params.w_ofi + params.w_microprice + params.w_imbalance <= 0:
            # A rule across fields: the operator checks fields one by one, the runtime this too.
            raise ValueError("strategy.params: w_ofi + w_microprice + w_imbalance must be > 0")
        self.signal_levels = params.levels
        self.params = params
        self._ladder_of = ladder_of
        self._weights = SignalWeights(
            params.w_ofi, params.w_microprice, params.w_imbalance, params.ofi_scale
        )
        self._parents: dict[str, _Working] = {}  # one parent per code at a time

    def _to_actions(
        self, code: str, w: _Working, acts: Sequence[ChaseAction]
    ) -> list[StrategyAction]:
        out: list[StrategyAction] = []
        side = w.engine.state.parent.side
        for a in acts:
            if isinstance(a, Post):
                w.pending = True
                out.append(Place(OrderIntent(code, side, a.qty, a.price, tag=f"ofi:{code}")))
            elif isinstance(a, Reprice) and w.child_id is not None:
                out.append(Amend(w.child_id, a.price))
            elif isinstance(a, CancelChild) and w.child_id is not None:
                out.append(Cancel(w.child_id))
        if w.engine.state.done and not w.engine.state.working:
            self._parents.pop(code, None)
        return out

    def on_market(self, view: MarketView, ctx: StrategyContext) -> Sequence[StrategyAction]:
        p = self.params
        if not (view.best_bid > 0 and view.best_ask > view.best_bid):
            return ()
        w = self._parents.get(view.code)
        if w is not None:
            if ctx.state is not TradingState.ACTIVE or (
                view.exch_ts - w.started_ns > p.parent_timeout_ms * 1e6
            ):
                return self._to_actions(view.code, w, w.engine.cancel())
            if w.pending:
                return ()
            ev = MarketEvent(view.exch_ts, view.best_bid, view.best_ask, view.signals)
            return self._to_actions(view.code, w, w.engine.on_event(ev))
        if ctx.state is not TradingState.ACTIVE:
            return ()
        push = fused_urgency(view.signals, +1, self._weights)
        pos = ctx.positions.get(view.code, 0)
        tick = self._ladder_of(view.code)(view.best_bid)
        if push >= p.threshold and pos < p.max_position:
            parent = ParentOrder(view.code, Side.BUY, p.qty, view.best_ask + p.limit_ticks * tick)
        elif push <= -p.threshold and pos > -p.max_position:
            parent = ParentOrder(view.code, Side.SELL, p.qty, view.best_bid - p.limit_ticks * tick)
        else:
            return ()
        chase = ChaseParams(
            tick,
            p.max_chase_ticks,
            int(p.min_reprice_ms * 1e6),
            weights=self._weights,
        )
        w = _Working(SmartChasingEngine(parent, chase), view.exch_ts)
        self._parents[view.code] = w
        ev = MarketEvent(view.exch_ts, view.best_bid, view.best_ask, view.signals)
        return self._to_actions(view.code, w, w.engine.on_event(ev))

    def on_placed(self, tag: str, order: Order | None) -> None:
        code = tag.split(":", 1)[1]
        w = self._parents.get(code)
        if w is None:
            return
        w.pending = False
        if order is None:
            w.engine.on_event(ChildGone(w.started_ns))
            w.engine.cancel()
            self._parents.pop(code, None)
        else:
            w.child_id = order.order_id

    def _find(self, order_id: str) -> tuple[str, _Working] | None:
        for code, w in self._parents.items():
            if w.child_id == order_id:
                return code, w
        return None

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Sequence[StrategyAction]:
        found = self._find(fill.order_id)
        if found is None:
            return ()
        code, w = found
        return self._to_actions(code, w, w.engine.on_event(ChildFilled(fill.ts_ns, fill.qty)))

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> Sequence[StrategyAction]:
        if update.status.is_working:
            return ()
        found = self._find(update.order_id)
        if found is None:
            return ()
        code, w = found
        w.child_id = None
        w.engine.on_event(ChildGone(update.ts_ns))
        if not w.engine.state.done:
            w.engine.cancel()  # the child ended without a fill: give the parent up
        self._parents.pop(code, None)
        return ()

    def describe(self) -> dict[str, str]:
        """The dashboard's strategy panel: the entry and chasing rules in words and each code's
        working parent (side, filled of qty, the child's price or ``-``), in code order."""
        p = self.params
        out = momentum_rules(p)
        out["fusion"] = (
            f"w_ofi {p.w_ofi:g} (scale {p.ofi_scale:g}), w_microprice {p.w_microprice:g},"
            f" w_imbalance {p.w_imbalance:g}"
        )
        return self.parents(out)

    def parents(self, out: dict[str, str]) -> dict[str, str]:
        """``out`` and the working parents, as many codes as the panel's fields allow."""
        out["parents"] = f"{len(self._parents)} working"
        room = DESCRIBE_MAX_FIELDS - len(out)
        for code in sorted(self._parents)[:room]:
            st = self._parents[code].engine.state
            child = "-" if not st.working else f"{st.working_price:g}"
            parent = st.parent
            out[code] = (
                f"{parent.side.name} {st.filled}/{parent.qty} limit {parent.limit:g}, child {child}"
            )
        return out


def momentum_rules(p: MomentumEntryParams) -> dict[str, str]:
    """The entry and chasing rules shared by the momentum strategies, in words."""
    return {
        "entry": f"|signal| >= {p.threshold:g} on {p.levels} levels: {p.qty} lot(s),"
        f" position <= {p.max_position}",
        "chase": f"limit {p.limit_ticks}, chase <= {p.max_chase_ticks} ticks;"
        f" reprice {p.min_reprice_ms:g}+ ms; timeout {p.parent_timeout_ms:g} ms",
    }
