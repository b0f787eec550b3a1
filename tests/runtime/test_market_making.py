"""Market-making demo: quotes around the microprice, inventory skew, re-quote discipline."""

from __future__ import annotations

import math

from shijim.domain import Order, OrderStatus, Side, SignalSnapshot, TradingState, fixed_tick
from shijim.strategy.base import (
    FOREVER_NS,
    Amend,
    Cancel,
    MarketView,
    Place,
    StandBy,
    StrategyContext,
)
from shijim.strategy.market_making import MarketMaking, MarketMakingParams, desired_quotes
from shijim.strategy.snapshot import DESCRIBE_MAX_FIELDS, described


def _view(bid=100.0, ask=104.0, micro=102.0, ts=0, code="TXFL6") -> MarketView:
    sig = SignalSnapshot(microprice=micro, mid=(bid + ask) / 2, spread=ask - bid)
    return MarketView(code, ts, ts, bid, ask, 5, 5, sig)


P = MarketMakingParams(half_spread_ticks=1.0, skew_ticks_per_lot=1.0, max_inventory=3)


def test_flat_quotes_are_symmetric_around_the_microprice() -> None:
    q = desired_quotes(_view(), 0, 1.0, P)
    assert (q.bid, q.ask) == (101.0, 103.0)


def test_inventory_skews_both_quotes_toward_reducing_it() -> None:
    long2 = desired_quotes(_view(), 2, 1.0, P)
    short2 = desired_quotes(_view(), -2, 1.0, P)
    assert (long2.bid, long2.ask) == (99.0, 101.0)  # lower: more likely to sell
    assert (short2.bid, short2.ask) == (103.0, 105.0)
    at_max = desired_quotes(_view(), 3, 1.0, P)
    assert at_max.bid is None and at_max.ask is not None  # never adds beyond max inventory


def test_quotes_never_cross_the_touch() -> None:
    q = desired_quotes(_view(bid=100.0, ask=101.0, micro=100.9), -3 + 1, 1.0, P)
    assert q.bid is not None and q.bid <= 100.0
    assert q.ask is not None and q.ask >= 101.0


def _ctx(working=None, pos=0, state=TradingState.ACTIVE) -> StrategyContext:
    return StrategyContext({"TXFL6": pos}, working or {}, state)


def test_places_then_amends_only_after_interval_and_distance() -> None:
    mm = MarketMaking(MarketMakingParams(min_requote_ms=1.0), fixed_tick(1.0))
    first = mm.on_market(_view(ts=0), _ctx())
    assert [type(a) for a in first] == [Place, Place]
    assert first[0].intent.side is Side.BUY and first[1].intent.side is Side.SELL
    orders = {}
    for i, act in enumerate(first):
        side, px = act.intent.side, act.intent.price
        o = Order(f"o{i}", "TXFL6", side, 1, px, status=OrderStatus.SUBMITTED)
        orders[o.order_id] = o
        mm.on_placed(act.intent.tag, o)
    # Unchanged book, both quotes resting: stand by until a side may move (1 ms after the
    # places), while the bid stays above the positivity margin (2 ticks here).
    assert mm.on_market(_view(ts=10), _ctx(orders)) == (StandBy("TXFL6", 1_000_000, 2.0),)
    moved = _view(bid=110.0, ask=114.0, micro=112.0, ts=500_000)
    assert _orders(mm.on_market(moved, _ctx(orders))) == []  # moved, but within 1 ms
    later = _view(bid=110.0, ask=114.0, micro=112.0, ts=2_000_000)
    acts = mm.on_market(later, _ctx(orders))
    assert acts == [Amend("o0", 111.0), Amend("o1", 113.0)]
    # Halted, or reducing while flat: nothing to do until a state change or a fill.
    forever = (StandBy("TXFL6", FOREVER_NS),)
    assert mm.on_market(later, _ctx(orders, state=TradingState.HALTED)) == forever
    assert mm.on_market(later, _ctx(orders, state=TradingState.REDUCING)) == forever
    # At max inventory the bid is cancelled.
    capped = _view(bid=110.0, ask=114.0, micro=112.0, ts=9_000_000)
    assert Cancel("o0") in mm.on_market(capped, _ctx(orders, pos=3))


def test_quotes_snap_to_the_twse_ladder_around_1000() -> None:
    from shijim.domain import Instrument

    inst = Instrument.stock("2330")
    view = _view(bid=999.0, ask=1000.0, micro=999.5, code="2330")
    q = desired_quotes(view, -3 + 1, inst.tick_size(999.0), P, inst.tick_size)
    # Short 2 lots skews the quotes up, across the 1000 bound: the ask must be a multiple of 5.
    assert q.ask is not None and q.ask >= 1000.0 and q.ask % 5 == 0
    assert q.bid is not None and q.bid <= 999.0


def test_reducing_quotes_only_the_side_that_reduces() -> None:
    mm = MarketMaking(MarketMakingParams(quote_qty=3), fixed_tick(1.0))
    acts = mm.on_market(_view(), _ctx(pos=2, state=TradingState.REDUCING))
    assert len(acts) == 1 and isinstance(acts[0], Place)
    assert acts[0].intent.side is Side.SELL and acts[0].intent.qty == 2  # never beyond flat


class _AlwaysFull(MarketMaking):
    """The same strategy without the quiet shortcut: every view goes through the full decision."""

    def quiet(self, view, position, working, q, tick) -> float:
        return math.nan


def _holds(s: StandBy, view: MarketView) -> bool:
    """The engine's standby rule (shijim_core/src/engine/standby.rs), for the emulation."""
    return (
        view.exch_ts < s.until_exch_ts
        and s.bid_floor < view.best_bid < s.bid_cap
        and s.ask_floor < view.best_ask < s.ask_cap
        and s.micro_floor < view.signals.microprice < s.micro_cap
    )


def _answer_place(act: Place, working: dict[str, Order], oid: str | None, *strategies) -> None:
    """The venue's answer to a Place: resting as ``oid`` (None: refused), told to each one."""
    o = None
    if oid is not None:
        o = Order(oid, "TXFL6", act.intent.side, 1, act.intent.price, status=OrderStatus.SUBMITTED)
        working[oid] = o
    for s in strategies:
        s.on_placed(act.intent.tag, o)


def _orders(actions) -> list:
    return [a for a in actions if not isinstance(a, StandBy)]


def test_a_standby_answers_exactly_what_the_full_decision_returns() -> None:
    """On a random stream of books, fills, cancels and trading-state changes, the strategy
    behind the engine's standby (events inside a standby are answered "no action" without a
    call; fills, order news and state changes end it, as the engine and runner do) emits the
    same orders event for event as the strategy deciding every event in full."""
    import random

    rng = random.Random(3)
    params = MarketMakingParams(
        min_requote_ms=5.0, max_inventory=2, skew_ticks_per_lot=0.5, half_spread_ticks=1.25
    )
    fast, full = (cls(params, fixed_tick(1.0)) for cls in (MarketMaking, _AlwaysFull))
    working: dict[str, Order] = {}
    pos = 0
    answered = in_band = 0
    ids = 0
    standby: StandBy | None = None
    state = TradingState.ACTIVE
    bid, ask = 100.0, 101.0
    for i in range(6000):
        if rng.random() < 0.3:  # the touch moves now and then; quantities (microprice) often
            bid = 100.0 + rng.randint(-3, 3)
            ask = bid + rng.choice((1.0, 2.0))
        micro = bid + (ask - bid) * rng.choice((0.1, 0.3, 0.5, 0.5, 0.7, 0.9))
        view = _view(bid=bid, ask=ask, micro=micro, ts=i * 10**6)
        if rng.random() < 0.01:  # a trading-state change wakes every code
            state = rng.choice(list(TradingState))
            standby = None
        b = full.on_market(view, _ctx(dict(working), pos, state))
        if standby is not None and _holds(standby, view):
            answered += 1
            in_band += standby.micro_floor > -math.inf
            a: list = []
        else:
            standby = None
            got = fast.on_market(view, _ctx(dict(working), pos, state))
            standby = next((x for x in got if isinstance(x, StandBy)), None)
            a = _orders(got)
        assert a == _orders(b), (i, a, b)
        news = bool(a)
        for act in a:  # play the venue: places rest (or are refused), amends move, cancels end
            if isinstance(act, Place):
                rests = rng.random() < 0.9
                ids += rests
                _answer_place(act, working, f"o{ids}" if rests else None, fast, full)
            elif isinstance(act, Cancel):
                working.pop(act.order_id, None)
        if working and rng.random() < 0.05:  # a fill (or a venue cancel) ends one order
            oid = rng.choice(sorted(working))
            o = working.pop(oid)
            news = True
            if rng.random() < 0.7:
                pos += 1 if o.side is Side.BUY else -1
        if rng.random() < 0.01:  # a position change from elsewhere (a broker reconcile)
            pos = max(-3, min(3, pos + rng.choice((-1, 1))))
            news = True
        if news:  # order news and fills wake every code
            standby = None
    # Both kinds answered often (inside the re-quote interval; steady quotes after a decision
    # without action), so the comparison means something.
    assert answered > 2000 and in_band > 100


def test_a_rehearsal_takes_the_acting_path_and_changes_nothing() -> None:
    """``rehearse`` answers what placing both quotes from nothing, moving them and the decision
    itself would be, on scratch state: the strategy's next real answers are the same as a
    twin's that never rehearsed."""
    import random

    rng = random.Random(8)
    params = MarketMakingParams(min_requote_ms=2.0)
    mm, twin = (MarketMaking(params, fixed_tick(1.0)) for _ in range(2))
    working: dict[str, Order] = {}
    ids = amended = standbys = 0
    for i in range(500):
        bid = 100.0 + rng.randint(-2, 2)
        view = _view(bid=bid, ask=bid + 2, micro=bid + rng.choice((0.5, 1.0, 1.5)), ts=i * 10**6)
        ctx = _ctx(dict(working))
        q = mm._quotes.get("TXFL6")
        rehearsed = mm.rehearse(view, ctx)
        # Both acting paths, every time: both quotes placed from nothing, and, once quotes
        # exist, both moved: a resting one amended to where a placement would put it, a side
        # without one placed again.
        places = list(rehearsed[:2])
        assert [type(a) for a in places] == [Place, Place], i
        moved = []
        if q is not None:
            for slot, place in ((q.bid, places[0]), (q.ask, places[1])):
                rests = slot.order_id is not None and slot.order_id in working
                moved.append(Amend(slot.order_id, place.intent.price) if rests else place)
        assert list(rehearsed[2 : 2 + len(moved)]) == moved, i
        amended += sum(isinstance(a, Amend) for a in moved)
        got, want = mm.on_market(view, ctx), twin.on_market(view, ctx)
        assert got == want, i
        # Then the decision itself, on a copy of the quote state: what on_market answered.
        assert list(rehearsed[2 + len(moved) :]) == (list(got) if q is not None else []), i
        standbys += q is not None and any(isinstance(a, StandBy) for a in got)
        for act in _orders(got):
            if isinstance(act, Place):
                ids += 1
                _answer_place(act, working, f"o{ids}", mm, twin)
            elif isinstance(act, Amend):
                working[act.order_id].price = act.price
    assert amended > 300  # the re-quote path was rehearsed, not only placements
    assert standbys > 50  # and so was the standby, the decision most events take


def test_tick_rounding_gives_the_decimal_grid_prices() -> None:
    """The quotes' k-ticks-to-price conversion (k / n for a 1/n tick, k * tick for a whole one)
    gives exactly the doubles ``round(k * tick, 10)`` gives, on every TAIFEX/TWSE tick and on
    ticks that are neither (rounded as before)."""
    import random

    from shijim.strategy.market_making import _ceil_tick, _floor_tick

    rnd = random.Random(5)
    for tick in (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 0.25, 0.3, 2.0):
        for _ in range(3000):
            on_grid = rnd.random() < 0.5
            price = round(rnd.uniform(0, 3e4) / tick) * tick if on_grid else rnd.uniform(-5, 3e4)
            assert _floor_tick(price, tick) == round(math.floor(price / tick + 1e-9) * tick, 10)
            assert _ceil_tick(price, tick) == round(math.ceil(price / tick - 1e-9) * tick, 10)
    assert _floor_tick(12.349, 0.01) == 12.34 and _ceil_tick(12.341, 0.01) == 12.35


def _reference_quotes(fair, bid, ask, position, tick, p, tick_at):
    """The quotes as first written: each price snapped, then the prices clamped."""
    from shijim.strategy.market_making import _ceil_tick, _floor_tick

    reservation = fair - p.skew_ticks_per_lot * position * tick
    qb = _floor_tick(reservation - p.half_spread_ticks * tick, tick)
    qa = _ceil_tick(reservation + p.half_spread_ticks * tick, tick)
    qb = min(qb, _floor_tick(ask - tick, tick))
    qa = max(qa, _ceil_tick(bid + tick, tick))
    if qb >= qa:
        if position > 0:
            qb = qa - tick
        else:
            qa = qb + tick
    if tick_at is not None:
        qb = _floor_tick(qb, tick_at(qb)) if qb > 0 else qb
        qa = _ceil_tick(qa, tick_at(qa))
    return (
        qb if position < p.max_inventory and qb > 0 else None,
        qa if position > -p.max_inventory else None,
    )


def test_quotes_counted_in_ticks_equal_clamping_the_prices() -> None:
    """``_quotes`` clamps in ticks and builds one price per side: the same doubles as snapping
    every price and clamping the prices, on every TAIFEX/TWSE tick and odd ones, with the TWSE
    ladder's second snap and without; and for a fixed whole tick, no second snap (what the
    strategy does for such a code) gives what snapping again at that tick gives."""
    import random

    from shijim.domain import Instrument
    from shijim.strategy.market_making import _quotes

    rnd = random.Random(11)
    stock = Instrument.stock("2330").tick_size
    for tick in (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 0.25, 0.3, 2.0):
        for _ in range(2000):
            p = MarketMakingParams(
                half_spread_ticks=rnd.choice((0.0, 0.5, 1.0, 1.25, 3.0)),
                skew_ticks_per_lot=rnd.choice((0.0, 0.5, 1.0, 2.5)),
                max_inventory=rnd.randint(0, 4),
            )
            bid = round(rnd.uniform(0.5, 3e4) / tick) * tick
            ask = bid + tick * rnd.choice((1, 1, 2, 5))
            fair = rnd.uniform(bid, ask)
            pos = rnd.randint(-5, 5)
            for tick_at in (None, stock, lambda _px, t=tick: t):
                got = _quotes(fair, bid, ask, pos, tick, p, tick_at)
                assert tuple(got) == _reference_quotes(fair, bid, ask, pos, tick, p, tick_at)
            if float(tick).is_integer():
                again = _quotes(fair, bid, ask, pos, tick, p, lambda _px, t=tick: t)
                assert _quotes(fair, bid, ask, pos, tick, p, None) == again


def test_a_ladder_code_and_a_fixed_tick_code_both_follow_their_tick() -> None:
    """The strategy skips per-price tick lookups only for a code whose tick is the same at every
    price and whole; a TWSE stock near a ladder bound still gets its ask on the coarser grid."""
    from shijim.domain import Instrument

    ticks = {"2330": Instrument.stock("2330").tick_size, "TXFL6": lambda _px: 1.0}
    mm = MarketMaking(P, ticks.__getitem__)
    stock = mm.on_market(_view(bid=999.0, ask=1000.0, micro=999.5, code="2330"), _ctx(pos=0))
    fut = mm.on_market(_view(), _ctx())
    assert {code: whole for code, (whole, _) in mm._ticks.items()} == {"2330": 0.0, "TXFL6": 1.0}
    assert [a.intent.price for a in fut] == [101.0, 103.0]
    # 999.5 +- one tick of 1: the ask, 1000.5, is above 1000 where the tick is 5
    assert [a.intent.price for a in stock] == [998.0, 1005.0]


def test_describe_says_the_rule_and_each_codes_resting_quotes() -> None:
    mm = MarketMaking(MarketMakingParams(quote_qty=2, half_spread_ticks=1.5), fixed_tick(1.0))
    assert mm.describe() == {
        "quote": "2 lot(s) at fair -/+ 1.5 ticks, skew 0.5 ticks/lot",
        "limits": "inventory 3 lots; re-quote at 1+ ticks, 1000+ ms apart",
        "quoted": "0 codes both sides, 0 one side, 0 none",
    }
    bid, ask = mm.on_market(_view(), _ctx())
    assert mm.describe()["TXFL6"] == "? / ?"  # both places in flight
    working: dict[str, Order] = {}
    _answer_place(bid, working, "o1", mm)
    _answer_place(ask, working, None, mm)  # the ask refused
    d = mm.describe()
    assert d["TXFL6"] == f"{bid.intent.price:g} / -"
    assert d["quoted"] == "0 codes both sides, 1 one side, 0 none"


def test_describe_fits_the_panel_with_many_codes() -> None:
    mm = MarketMaking(MarketMakingParams(), fixed_tick(1.0))
    codes = [f"C{i:02d}" for i in range(30)]
    for code in reversed(codes):
        mm.on_market(_view(code=code), StrategyContext({code: 0}, {}, TradingState.ACTIVE))
    d = mm.describe()
    assert len(d) == DESCRIBE_MAX_FIELDS
    assert [k for k in d if k.startswith("C")] == codes[: DESCRIBE_MAX_FIELDS - 3]  # in order
    assert d["quoted"] == "0 codes both sides, 0 one side, 30 none"
    # What the runner hands the dashboard keeps all of it.
    assert dict(described(d)) == d
