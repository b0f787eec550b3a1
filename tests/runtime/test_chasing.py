"""SmartChasingEngine: determinism, chase-distance cap, re-price interval, urgency."""

from __future__ import annotations

from shijim.algo.chasing import (
    ChaseParams,
    ChildFilled,
    Completed,
    MarketEvent,
    ParentOrder,
    Post,
    Reprice,
    SmartChasingEngine,
)
from shijim.domain import Side, SignalSnapshot, SignalWeights

CALM = SignalSnapshot(ofi=0.0, microprice=100.5, mid=100.5, spread=1.0)
PUSH_UP = SignalSnapshot(ofi=200.0, microprice=101.0, mid=100.5, spread=1.0, imbalance=1.0)


def _params(**kw) -> ChaseParams:
    base = {"tick": 1.0, "max_chase_ticks": 3, "min_reprice_interval_ns": 1_000}
    return ChaseParams(**{**base, **kw})


def _market_walk(n: int) -> list[MarketEvent]:
    # The market walks up one tick per event, 2 µs apart.
    return [MarketEvent(i * 2_000, 100.0 + i, 101.0 + i, CALM) for i in range(n)]


def _run(events, params, parent):
    eng = SmartChasingEngine(parent, params)
    return [eng.on_event(ev) for ev in events], eng


def test_same_events_same_actions() -> None:
    parent = ParentOrder("TXFL6", Side.BUY, 3, limit=200.0)
    events = [*_market_walk(6), ChildFilled(20_000, 1), *_market_walk(3), ChildFilled(30_000, 2)]
    a, _ = _run(events, _params(), parent)
    b, _ = _run(events, _params(), parent)
    assert a == b
    assert a[0] == (Post(100.0, 3, a[0][0].urgency),)
    assert a[-1] == (Completed(3),)


def test_chase_distance_is_capped_at_max_ticks_from_anchor() -> None:
    parent = ParentOrder("TXFL6", Side.BUY, 1, limit=1000.0)
    actions, eng = _run(_market_walk(10), _params(max_chase_ticks=3), parent)
    prices = [a.price for acts in actions for a in acts if isinstance(a, Post | Reprice)]
    assert prices[0] == 100.0
    assert max(prices) == 103.0  # anchor 100 + 3 ticks, although the bid went to 109
    assert eng.state.working_price == 103.0


def test_parent_limit_caps_before_the_chase_distance() -> None:
    parent = ParentOrder("TXFL6", Side.SELL, 1, limit=99.0)
    falling = [MarketEvent(i * 2_000, 101.0 - i, 102.0 - i, CALM) for i in range(6)]
    actions, _ = _run(falling, _params(max_chase_ticks=10), parent)
    prices = [a.price for acts in actions for a in acts if isinstance(a, Post | Reprice)]
    assert prices[0] == 102.0
    assert min(prices) == 99.0


def test_minimum_reprice_interval_uses_event_time() -> None:
    parent = ParentOrder("TXFL6", Side.BUY, 1, limit=1000.0)
    p = _params(max_chase_ticks=50, min_reprice_interval_ns=5_000)
    actions, _ = _run(_market_walk(8), p, parent)  # events every 2 µs
    times = [i * 2_000 for i, acts in enumerate(actions) if acts]
    assert times == [0, 6_000, 12_000]  # posted, then re-priced at most every 5 µs
    for i in range(8):
        assert bool(actions[i]) == (i in (0, 3, 6))


def test_urgency_crosses_improves_or_joins() -> None:
    parent = ParentOrder("TXFL6", Side.BUY, 1, limit=1000.0)
    wide_calm = SignalSnapshot(ofi=0.0, microprice=101.0, mid=101.0, spread=2.0)
    joined = SmartChasingEngine(parent, _params()).on_event(MarketEvent(0, 100.0, 102.0, wide_calm))
    assert joined[0].price == 100.0
    crossed = SmartChasingEngine(parent, _params()).on_event(MarketEvent(0, 100.0, 101.0, PUSH_UP))
    assert crossed[0].price == 101.0 and crossed[0].urgency >= 0.6
    mild = SignalSnapshot(ofi=8.0, microprice=101.0, mid=101.0, spread=2.0)
    w = SignalWeights(ofi=1.0, microprice=0.0, imbalance=0.0, ofi_scale=20.0)  # tanh(.4)=.38
    improved = SmartChasingEngine(parent, _params(weights=w)).on_event(
        MarketEvent(0, 100.0, 102.0, mild)
    )
    assert improved[0].price == 101.0  # one tick better than the bid, not crossing
    # The same push is *favourable* for a seller: it joins.
    seller = ParentOrder("TXFL6", Side.SELL, 1, limit=0.0)
    sold = SmartChasingEngine(seller, _params()).on_event(MarketEvent(0, 100.0, 101.0, PUSH_UP))
    assert sold[0].price == 101.0
