"""StrategyRunner on a recorded sequence through the real ring, the engine (books, signals,
decision policy, paper venue), the risk gateway and the account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from shijim.domain import (
    Instrument,
    KillSwitchSource,
    OrderIntent,
    Side,
    TradingState,
    fixed_tick,
)
from shijim.execution.paper import PaperVenue
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine
from shijim.strategy.base import Place, StandBy
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.runner import StrategyRunner
from shijim.strategy.signals import mlofi_reference

import shijim_core

CODE = "TXFL6"
T0 = 1_767_000_000_000_000_000


@pytest.fixture
def ring(request: pytest.FixtureRequest) -> Iterator[tuple[object, object]]:
    name = f"t-runner-{os.getpid()}-{request.node.name}"[:60]
    writer = shijim_core.RingWriter(name, slots=1024)
    reader = shijim_core.RingReader(name)
    yield writer, reader
    writer.close()
    shijim_core.ring_unlink(name)


def _book(w, i: int, bid: float, bq: list[int], aq: list[int], local_ts: int | None = None):
    bids = [bid - k for k in range(5)]
    asks = [bid + 2 + k for k in range(5)]
    lt = local_ts if local_ts is not None else T0 + i
    return w.publish_bidask(CODE, T0 + i * 1_000_000, lt, bids, bq, asks, aq, False)


def _runner(
    reader, metrics=None, params=None, policy="every_event", strategy=None, levels=5, latency="zero"
):
    state = TradingStateMachine()
    engine = shijim_core.Engine([CODE], policy, levels=levels, latency=latency)
    gw = RiskAwareGateway(
        PaperVenue(engine),
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        RiskLimits(max_order_qty=10, max_position=10, max_price_deviation_pct=1e6),
        state,
        metrics,
        engine=engine,
    )
    mm = strategy or MarketMaking(params or MarketMakingParams(min_requote_ms=0.0), fixed_tick(1.0))
    return StrategyRunner(engine, reader, mm, gw, metrics, max_messages=64), gw, state


def test_quotes_fill_on_trade_through_and_simtrade_is_ignored(ring) -> None:
    writer, reader = ring
    metrics = ShardMetrics("7")
    runner, gw, _ = _runner(reader, metrics)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
    runner.step()
    working = sorted((o.side.name, o.price) for o in gw.working_orders().values())
    assert working == [("BUY", 20000.0), ("SELL", 20002.0)]  # around microprice 20001
    # A simulated (trial-matching) trade far through our bid: not a trade, no fill.
    writer.publish_tick(CODE, T0 + 2_000_000, T0, 19990.0, 50, 50, 2, True)
    runner.step()
    assert runner.engine.counters()["simtrade_trade"] == 1 and runner.counters.fills == 0
    # A real trade through our bid fills it; position +1, the strategy re-skews.
    writer.publish_tick(CODE, T0 + 3_000_000, T0, 19999.0, 50, 100, 2, False)
    runner.step()
    assert runner.counters.fills == 1
    assert gw.positions.net(CODE) == 1
    assert runner.counters.accepted >= 2
    text = metrics_text(metrics)
    assert 'shijim_fills_total{shard="7"} 1.0' in text
    assert 'shijim_ring_lag_messages{reader="strategy",shard="7"} 0.0' in text
    snap = runner.snapshot()
    assert snap.positions[CODE] == 1 and snap.books[CODE].bid == 20000.0


def metrics_text(m: ShardMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(m.registry).decode()


class _Recording(MarketMaking):
    """The demo strategy, also recording the OFI each view carried; it never stands by, so it
    sees every event."""

    def __init__(self) -> None:
        super().__init__(MarketMakingParams(), fixed_tick(1.0))
        self.ofi: list[float] = []

    def on_market(self, view, ctx):
        self.ofi.append(view.signals.ofi)
        return [a for a in super().on_market(view, ctx) if not isinstance(a, StandBy)]


def test_ofi_seen_by_the_strategy_equals_the_reference_and_bad_rows_are_dropped(ring) -> None:
    writer, reader = ring
    rec = _Recording()
    runner, _, _ = _runner(reader, strategy=rec)
    rng = np.random.default_rng(5)
    n = 12
    bids = 20000.0 + np.cumsum(rng.integers(-1, 2, n))
    bq = rng.integers(1, 20, (n, 5))
    aq = rng.integers(1, 20, (n, 5))
    for i in range(n):
        _book(writer, i, float(bids[i]), bq[i].tolist(), aq[i].tolist())
        if i == 5:  # a crossed book in the middle: dropped, counted, not used by MLOFI
            writer.publish_bidask(
                CODE, T0 + 5_500_000, T0, [10.0] * 5, [1] * 5, [9.0] * 5, [1] * 5, False
            )
    runner.max_messages = 5  # several reads: the flows carry over between them
    while runner.step():
        pass
    bp = bids[:, None] - np.arange(5)
    ap = bids[:, None] + 2 + np.arange(5)
    ref = mlofi_reference(bp, bq.astype(float), ap, aq.astype(float))
    expected_total = float((ref @ (0.5 ** np.arange(5))).sum())
    assert len(rec.ofi) == n  # every_event: one decision per applied book, whatever the reads
    assert runner.decisions == runner.counters.strategy_calls == n
    assert np.isclose(sum(rec.ofi), expected_total)
    counters = runner.engine.counters()
    assert counters["rejected_book"] == 1 and counters["books"] == n + 1  # read, one dropped
    assert runner.engine.book(0).best_bid == bids[-1]


def test_books_with_empty_levels_use_the_populated_depth(ring) -> None:
    writer, reader = ring
    rec = _Recording()
    runner, _, _ = _runner(reader, strategy=rec)
    writer.publish_bidask(
        CODE,
        T0,
        T0,
        [100.0, 99.0, 0, 0, 0],
        [5, 5, 0, 0, 0],
        [101.0, 102.0, 103.0, 0, 0],
        [5, 5, 5, 0, 0],
        False,
    )
    writer.publish_bidask(
        CODE,
        T0 + 1,
        T0,
        [100.0, 99.0, 98.0, 0, 0],
        [9, 5, 1, 0, 0],
        [101.0, 102.0, 0, 0, 0],
        [5, 5, 0, 0, 0],
        False,
    )
    runner.step()
    # Depth 2 on both books. Level 1: bid +4 lots, ask unchanged => 4. Level 2: unchanged => 0.
    assert runner.engine.counters()["books"] == 2
    assert rec.ofi == [0.0, 4.0]  # the first book has no predecessor


def test_lapped_reader_counts_loss_and_resets_books(ring) -> None:
    writer, reader = ring
    metrics = ShardMetrics("0")
    runner, _, _ = _runner(reader, metrics)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
    runner.step()
    for i in range(1, 1100):  # more than the 1024 slots without reading
        _book(writer, i, 20000.0, [5] * 5, [5] * 5)
    while runner.step():
        pass
    # The ring resyncs a lapped reader some slots behind the writer (docs/ring.md); what
    # matters is exact accounting: every published message was either read or counted lost.
    assert runner.counters.lost >= 1099 - 1024
    assert runner.counters.lost + runner.engine.counters()["books"] == 1100
    assert runner.counters.resyncs == 1
    lost = float(runner.counters.lost)
    assert f'shijim_ring_lost_messages_total{{reader="strategy",shard="0"}} {lost}' in (
        metrics_text(metrics)
    )


def test_halted_cancels_and_strategy_stops_quoting(ring) -> None:
    writer, reader = ring
    runner, gw, state = _runner(reader)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
    runner.step()
    assert len(gw.working_orders()) == 2
    state.engage(KillSwitchSource.ADMIN, "test")
    assert gw.state is TradingState.HALTED
    _book(writer, 1, 20005.0, [5] * 5, [5] * 5)
    runner.step()
    assert gw.working_orders() == {}
    assert runner.counters.places == 2


class _Broken(MarketMaking):
    def __init__(self) -> None:
        super().__init__(MarketMakingParams(), fixed_tick(1.0))

    def on_market(self, view, ctx):
        raise ZeroDivisionError("strategy bug")


def test_a_raising_strategy_sends_nothing_and_the_runner_survives(ring) -> None:
    writer, reader = ring
    runner, gw, _ = _runner(reader)
    runner.strategy = _Broken()
    for i in range(3):
        _book(writer, i, 20000.0 + i, [5] * 5, [5] * 5)
        runner.step()
    assert runner.counters.strategy_errors == 3
    assert runner.counters.places == 0 and gw.working_orders() == {}
    assert runner.engine.counters()["books"] == 3


def test_snapshot_callback_is_rate_limited(ring) -> None:
    writer, reader = ring
    runner, _, _ = _runner(reader)
    got = []
    now = [0]
    runner.on_snapshot = got.append
    runner._clock = lambda: now[0]
    runner._snapshot_interval_ns = 1_000
    for i in range(4):
        _book(writer, i, 20000.0, [5] * 5, [5] * 5)
        now[0] = 1_000 + i * 400  # 1000, 1400, 1800, 2200 -> snapshots at 1000 and 2200
        runner.step()
    assert [s.ts_ns for s in got] == [1_000, 2_200]
    assert got[-1].books[CODE].ask == 20002.0 and got[-1].state.name == "ACTIVE"


def test_writer_restart_resets_books() -> None:
    name = f"t-restart-{os.getpid()}"
    writer = shijim_core.RingWriter(name, slots=1024)
    reader = shijim_core.RingReader(name)
    try:
        rec = _Recording()
        runner, _, _ = _runner(reader, strategy=rec)
        _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
        runner.step()
        assert runner.engine.book(0) is not None
        writer.close()  # the ingestion process restarts: a new writer, a new epoch
        writer = shijim_core.RingWriter(name, slots=1024)
        _book(writer, 1, 20010.0, [5] * 5, [5] * 5)
        while runner.step():
            pass
        assert runner.counters.resyncs == 1
        # The book after the restart was not compared with the one before it (no MLOFI jump).
        assert runner.engine.book(0).best_bid == 20010.0
        assert rec.ofi == [0.0, 0.0]
    finally:
        writer.close()
        shijim_core.ring_unlink(name)


def test_session_close_cancels_the_code_and_restarts_its_book(ring) -> None:
    writer, reader = ring
    rec = _Recording()
    runner, gw, _ = _runner(reader, strategy=rec)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
    runner.step()
    assert len(gw.working_orders()) == 2
    writer.publish_event("session_state", T0 + 5, T0, code=CODE, session_state="CLOSED")
    runner.step()
    assert gw.working_orders() == {} and runner.counters.session_closes == 1
    # Next session: its first book is not compared with the last book of the previous one.
    writer.publish_event("session_state", T0 + 6, T0, code=CODE, session_state="OPEN")
    _book(writer, 9, 20050.0, [5] * 5, [5] * 5)
    runner.step()
    assert rec.ofi[-1] == 0.0


def test_the_strategy_sets_the_ofi_depth_of_the_engine() -> None:
    from shijim.app.config import RuntimeConfig, StrategyConfig
    from shijim.app.runtime import build_engine

    cfg = RuntimeConfig(strategy=StrategyConfig(decision="interval_ms:5"))
    table = InstrumentTable({CODE: Instrument.future(CODE, 200.0)})
    engine = build_engine(cfg, table, True, 2)  # replay: event time
    assert engine.policy == "interval_ms:5" and engine.codes == [CODE]


def _books(writer, n: int, touch_every: int) -> None:
    """n books; the best level changes every ``touch_every``-th book, deeper levels always."""
    for i in range(n):
        bid = 20000.0 + (i // touch_every)
        deep = [5, 5 + i % 3, 5, 5, 5]
        _book(writer, i, bid, deep, deep, local_ts=T0 + i * 1_000_000)


@pytest.mark.parametrize(
    ("policy", "decisions"),
    [("every_event", 30), ("on_touch_change", 10), ("interval_ms:5", 6)],
)
def test_the_decision_policy_sets_when_the_strategy_decides(ring, policy, decisions) -> None:
    writer, reader = ring
    rec = _Recording()
    runner, _, _ = _runner(reader, policy=policy, strategy=rec)
    _books(writer, 30, touch_every=3)  # 1 ms apart; the touch changes every 3rd book
    while runner.step():
        pass
    assert runner.decisions == decisions == len(rec.ofi)
    assert runner.engine.counters()["books"] == 30


def _outcome(runner: StrategyRunner, gw: RiskAwareGateway) -> tuple[int, ...]:
    c = runner.counters
    return (
        runner.decisions,
        c.strategy_calls,
        c.places,
        c.cancels,
        c.amends,
        c.fills,
        gw.positions.net(CODE),
    )


def _run_reading(max_messages: int) -> tuple[int, ...]:
    name = f"t-reads-{os.getpid()}-{max_messages}"
    writer = shijim_core.RingWriter(name, slots=1024)
    try:
        runner, gw, _ = _runner(shijim_core.RingReader(name))
        runner.max_messages = max_messages
        rng = np.random.default_rng(11)
        for i in range(40):
            bid = 20000.0 + int(rng.integers(-2, 3))
            _book(writer, i, bid, [5] * 5, [5] * 5)
            if i % 4 == 3:
                writer.publish_tick(CODE, T0 + i * 1_000_000 + 1, T0, bid, 3, 3 * i, 2, False)
        while runner.step():
            pass
        return _outcome(runner, gw)
    finally:
        writer.close()
        shijim_core.ring_unlink(name)


def test_decisions_do_not_depend_on_how_much_is_read_at_once() -> None:
    runs = {n: _run_reading(n) for n in (1, 3, 4096)}
    assert runs[1] == runs[3] == runs[4096]
    assert runs[1][0] == 50 and runs[1][1] > 0  # 40 books + 10 trades decided; orders sent


def test_tick_to_order_starts_at_the_decided_events_receive_stamp(ring) -> None:
    writer, reader = ring
    runner, _, _ = _runner(reader)
    runner.gateway._sent_clock = lambda: T0 + 7_000  # leaves the gateway 7 us after receipt
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5, local_ts=T0)
    runner.step()
    assert runner.counters.tick_to_order_ns == [7_000, 7_000]  # both quotes of that decision


def test_the_first_second_of_samples_is_counted_apart(ring) -> None:
    """The summary shows tick-to-order after the first second of orders beside the whole run:
    the runner counts the samples sent within 1 s of the first one."""
    _, reader = ring
    runner, _, _ = _runner(reader)
    for after in (0, 500_000_000, 999_999_999, 1_000_000_000, 5_000_000_000):
        runner._tick_to_order(T0 + after, T0 + after - 20_000)
    runner._tick_to_order(T0 + 6_000_000_000, T0 + 6_000_000_001)  # another clock: no sample
    c = runner.counters
    assert c.tick_to_order_ns == [20_000] * 5 and c.first_second_samples == 3


def test_orders_that_waited_behind_a_fill_are_marked(ring) -> None:
    """A trade fills our bid and the book after it (same receive stamp) brings the re-quote:
    that re-quote waited behind the fill's booking, and the counters say so; the opening
    quotes did not."""
    writer, reader = ring
    runner, gw, _ = _runner(reader)
    clock = iter(range(T0 + 1_000, T0 + 10**9, 1_000))  # each read 1 us later, after receipt
    gw._sent_clock = lambda: next(clock)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5, local_ts=T0 - 1)
    runner.step()
    opening = len(runner.counters.tick_to_order_ns)
    assert opening == 2 and runner.counters.after_fill_samples == []
    writer.publish_tick(CODE, T0 + 3_000_000, T0, 19999.0, 50, 100, 2, False)
    _book(writer, 4, 19998.0, [5] * 5, [5] * 5, local_ts=T0)
    runner.step()
    assert runner.counters.fills == 1 and gw.last_fill_booked_ns > T0
    after = runner.counters.after_fill_samples
    assert after and all(i >= opening for i in after)
    assert after == list(range(opening, len(runner.counters.tick_to_order_ns)))


class _BadStandBy(_Recording):
    """Answers every event with a standby whose band is NaN (a strategy bug)."""

    def on_market(self, view, ctx):
        self.ofi.append(view.signals.ofi)
        return [StandBy(view.code, 2**62, bid_floor=float("nan"))]


def test_a_bad_standby_is_a_counted_strategy_error_not_a_crash(ring) -> None:
    """A NaN band is refused by the engine: the runner counts a strategy error, takes no
    standby (the strategy keeps deciding every event) and the trading loop goes on."""
    writer, reader = ring
    rec = _BadStandBy()
    runner, _, _ = _runner(reader, strategy=rec)
    _books(writer, 10, touch_every=1)
    while runner.step():
        pass
    assert len(rec.ofi) == runner.counters.strategy_calls == 10
    assert runner.counters.strategy_errors == 10 and runner.counters.standbys == 0
    assert runner.standby_answers == 0


class _Plain(_Recording):
    """A strategy without ``rehearse``: one bid at the touch per decision, OFI recorded."""

    rehearse = None  # the runner's own rehearsal: a one-lot bid through risk

    def on_market(self, view, ctx):
        from shijim.domain import OrderIntent, Side
        from shijim.strategy.base import Place

        self.ofi.append(view.signals.ofi)
        return [Place(OrderIntent(view.code, Side.BUY, 1, view.best_bid, tag=f"p:{CODE}:BUY"))]


def _run_rehearsing(strategy_of, rehearse: bool) -> tuple:
    from shijim.strategy.runner import REHEARSAL_NS

    name = f"t-rehearse-{os.getpid()}-{int(rehearse)}"
    writer = shijim_core.RingWriter(name, slots=1024)
    try:
        strategy = strategy_of()
        # on_touch_change: some events are not decided, so rehearsals fall between decisions
        # too (that a peek leaves the flows: tests/core/test_engine.py).
        runner, gw, _ = _runner(
            shijim_core.RingReader(name), strategy=strategy, policy="on_touch_change"
        )
        rng = np.random.default_rng(17)
        now = 0
        bid = 20000.0
        for i in range(60):
            if i % 4 == 0:  # the touch moves every 4th book; the quantities every book
                bid = 20000.0 + int(rng.integers(-2, 3))
            qty = [int(q) for q in rng.integers(1, 9, 5)]
            _book(writer, i, bid, qty, qty)
            if i % 5 == 4:
                writer.publish_tick(CODE, T0 + i * 1_000_000 + 1, T0, bid, 3, 3 * i, 2, False)
            runner.step()
            if rehearse:  # an idle turn between events, each one's rehearsal due
                now += REHEARSAL_NS
                bucket = (gw.bucket._tokens, gw.bucket._last_ns)
                assert runner.rehearse(now)
                assert (gw.bucket._tokens, gw.bucket._last_ns) == bucket  # no token taken
                assert not runner.rehearse(now + REHEARSAL_NS - 1)  # at most one per interval
        c = runner.counters
        assert (c.rehearsal_ns > 0) == (c.rehearsals > 0)  # their time, for the run summary
        return (
            *_outcome(runner, gw),
            c.strategy_errors,
            sorted(gw.rejects.items()),
            strategy.ofi,
            sorted((o.side.name, o.price) for o in gw.working_orders().values()),
        ), c.rehearsals
    finally:
        writer.close()
        shijim_core.ring_unlink(name)


@pytest.mark.parametrize("strategy_of", [_Recording, _Plain], ids=["market_making", "plain"])
def test_rehearsals_change_no_decision_order_flow_or_token(strategy_of) -> None:
    """Rehearsing between every pair of events (the strategy's own ``rehearse``, or the
    runner's one-lot bid through risk when it has none) leaves every decision, the OFI each
    view carried, every order, fill, reject and the rate bucket exactly as without."""
    plain, none = _run_rehearsing(strategy_of, rehearse=False)
    rehearsed, n = _run_rehearsing(strategy_of, rehearse=True)
    assert rehearsed == plain
    assert n == 60 and none == 0
    assert plain[2] > 0  # orders were sent: the comparison means something


MS = 1_000_000
# Constant legs: an order arrives 10 ms after it is sent, its news 5 ms after that.
LEGS_10_5 = {"kind": "constant", "entry_ns": 10 * MS, "ack_ns": 5 * MS, "cancel_ns": 10 * MS}


class _LiftOnce(MarketMaking):
    """Buys the ask once, on the first book; journals what it heard, at which engine time."""

    def __init__(self) -> None:
        super().__init__(MarketMakingParams(), fixed_tick(1.0))
        self.heard: list[tuple[str, int]] = []
        self.engine = None
        self.sent = False

    def on_market(self, view, ctx):
        self.heard.append(("market", self.engine.now))
        if self.sent:
            return []
        self.sent = True
        return [Place(OrderIntent(view.code, Side.BUY, 1, view.best_ask))]

    def on_fill(self, fill, ctx):
        self.heard.append(("fill", self.engine.now))
        return []

    def on_order(self, update, ctx):
        return []

    def on_placed(self, tag, order):
        pass


def _lift_once(reader):
    s = _LiftOnce()
    runner, gw, _ = _runner(reader, strategy=s, latency=LEGS_10_5)
    s.engine = runner.engine
    return runner, gw, s


def test_a_fill_is_heard_before_a_later_book_at_its_own_time(ring) -> None:
    """The fill (sent at T0, arrives T0 + 10 ms, news at T0 + 15 ms) reaches the strategy before
    the book stamped T0 + 30 ms is decided, with the engine clock at the news' time."""
    writer, reader = ring
    runner, gw, s = _lift_once(reader)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5, local_ts=T0)
    _book(writer, 1, 20000.0, [6] * 5, [5] * 5, local_ts=T0 + 30 * MS)
    while runner.step():
        pass
    assert s.heard == [("market", T0), ("fill", T0 + 15 * MS), ("market", T0 + 30 * MS)]
    assert gw.positions.net(CODE) == 1


def test_release_venue_delivers_news_while_the_market_is_quiet(ring) -> None:
    writer, reader = ring
    runner, _, s = _lift_once(reader)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5, local_ts=T0)
    runner.step()
    assert runner.release_venue(T0 + 12 * MS) == 0  # arrived and filled, the news not yet out
    assert s.heard == [("market", T0)] and runner.counters.fills == 0
    assert runner.release_venue(T0 + 20 * MS) == 1
    assert s.heard == [("market", T0), ("fill", T0 + 15 * MS)] and runner.counters.fills == 1
    assert runner.release_venue(T0 + 1_000 * MS) == 0  # nothing more in flight
    # The next book is decided knowing the fill, as if the news had come before it.
    _book(writer, 1, 20000.0, [6] * 5, [5] * 5, local_ts=T0 + 30 * MS)
    runner.step()
    assert s.heard[-1] == ("market", T0 + 30 * MS)
