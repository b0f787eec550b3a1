"""ofi_momentum: a strong fused signal starts a SmartChasing parent; fills complete it."""

from __future__ import annotations

from shijim.domain import (
    Fill,
    Order,
    OrderStatus,
    Side,
    SignalSnapshot,
    TradingState,
    fixed_tick,
)
from shijim.strategy.base import Amend, Cancel, MarketView, Place, StrategyContext
from shijim.strategy.ofi_momentum import OfiMomentum, OfiMomentumParams
from shijim.strategy.snapshot import described

UP = SignalSnapshot(ofi=100.0, microprice=100.9, mid=100.5, spread=1.0, imbalance=0.8)
FLAT = SignalSnapshot(ofi=0.0, microprice=100.5, mid=100.5, spread=1.0)


def _view(ts: int, bid: float, sig: SignalSnapshot) -> MarketView:
    return MarketView("TXFL6", ts, ts, bid, bid + 1, 5, 5, sig)


def _ctx(pos: int = 0, state: TradingState = TradingState.ACTIVE) -> StrategyContext:
    return StrategyContext({"TXFL6": pos}, {}, state)


def _child(oid: str) -> Order:
    return Order(oid, "TXFL6", Side.BUY, 1, 101.0, status=OrderStatus.SUBMITTED)


def _strategy(**kw) -> OfiMomentum:
    return OfiMomentum(OfiMomentumParams(min_reprice_ms=1.0, **kw), fixed_tick(1.0))


def test_no_signal_no_order_and_signal_starts_a_chase() -> None:
    s = _strategy()
    assert s.on_market(_view(0, 100.0, FLAT), _ctx()) == ()
    acts = s.on_market(_view(1, 100.0, UP), _ctx())
    assert len(acts) == 1 and isinstance(acts[0], Place)
    intent = acts[0].intent
    assert intent.side is Side.BUY and intent.qty == 1
    assert intent.price == 101.0  # urgent: crosses to the ask
    assert s.on_market(_view(2, 100.0, UP), _ctx(pos=2)) == ()  # placing: waits for the answer


def test_chase_reprices_then_a_fill_completes_the_parent() -> None:
    s = _strategy()
    s.on_market(_view(0, 100.0, UP), _ctx())
    s.on_placed("ofi:TXFL6", _child("c1"))
    acts = s.on_market(_view(5_000_000, 102.0, UP), _ctx())  # the market ran away by 2 ticks
    assert acts == [Amend("c1", 103.0)]
    fill = Fill("f1", "c1", "TXFL6", Side.BUY, 1, 103.0, 6_000_000)
    assert s.on_fill(fill, _ctx()) == []
    # Parent done: a new strong signal may start a new one (position 1 < max 2).
    again = s.on_market(_view(7_000_000, 103.0, UP), _ctx(pos=1))
    assert isinstance(again[0], Place)


def test_halted_or_timeout_cancels_the_child() -> None:
    s = _strategy(parent_timeout_ms=10.0)
    s.on_market(_view(0, 100.0, UP), _ctx())
    s.on_placed("ofi:TXFL6", _child("c1"))
    assert s.on_market(_view(20_000_000, 100.0, FLAT), _ctx()) == [Cancel("c1")]
    s2 = _strategy()
    s2.on_market(_view(0, 100.0, UP), _ctx())
    s2.on_placed(
        "ofi:TXFL6", Order("c2", "TXFL6", Side.BUY, 1, 101.0, status=OrderStatus.SUBMITTED)
    )
    assert s2.on_market(_view(1, 100.0, UP), _ctx(state=TradingState.HALTED)) == [Cancel("c2")]


def test_rejected_child_abandons_the_parent() -> None:
    s = _strategy()
    s.on_market(_view(0, 100.0, UP), _ctx())
    s.on_placed("ofi:TXFL6", None)
    assert isinstance(s.on_market(_view(1, 100.0, UP), _ctx())[0], Place)


def test_describe_says_the_rules_and_each_working_parent() -> None:
    s = _strategy()
    d = s.describe()
    assert d["entry"] == "|signal| >= 0.6 on 5 levels: 1 lot(s), position <= 2"
    assert d["chase"] == "limit 3, chase <= 3 ticks; reprice 1+ ms; timeout 2000 ms"
    assert d["fusion"] == "w_ofi 0.5 (scale 20), w_microprice 0.3, w_imbalance 0.2"
    assert d["parents"] == "0 working" and "TXFL6" not in d
    s.on_market(_view(0, 100.0, UP), _ctx())
    assert s.describe()["TXFL6"] == "BUY 0/1 limit 104, child 101"
    assert dict(described(s.describe())) == s.describe()  # nothing cut by the panel
    s.on_placed("ofi:TXFL6", _child("c1"))
    s.on_fill(Fill("f1", "c1", "TXFL6", Side.BUY, 1, 101.0, 10), _ctx())
    assert s.describe()["parents"] == "0 working"  # done and forgotten
