"""StrategyRunner on a recorded sequence through the real ring, risk gateway and paper exchange."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from shijim.domain import Instrument
from shijim.execution.paper import PaperExchange
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.rules import RiskLimits
from shijim.risk.state import KillSwitchSource, TradingState, TradingStateMachine
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


def _runner(reader, metrics=None, params=None):
    state = TradingStateMachine()
    gw = RiskAwareGateway(
        PaperExchange(),
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        RiskLimits(max_price_pct=None),
        state,
        metrics,
    )
    mm = MarketMaking(params or MarketMakingParams(min_requote_ms=0.0), lambda c, p: 1.0)
    return StrategyRunner(reader, mm, gw, metrics, batch=64), gw, state


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
    assert runner.counters.simtrades == 1 and runner.counters.fills == 0
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
    """The demo strategy, also recording the OFI each view carried."""

    def __init__(self) -> None:
        super().__init__(MarketMakingParams(), lambda c, p: 1.0)
        self.ofi: list[float] = []

    def on_market(self, view, ctx):
        self.ofi.append(view.signals.ofi)
        return super().on_market(view, ctx)


def test_ofi_over_batches_equals_the_reference_and_bad_rows_are_dropped(ring) -> None:
    writer, reader = ring
    runner, _, _ = _runner(reader)
    runner.strategy = rec = _Recording()
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
    runner.batch = 5  # several batches: each batch's MLOFI starts from the previous last book
    while runner.step():
        pass
    bp = bids[:, None] - np.arange(5)
    ap = bids[:, None] + 2 + np.arange(5)
    ref = mlofi_reference(bp, bq.astype(float), ap, aq.astype(float))
    expected_total = float((ref @ (0.5 ** np.arange(5))).sum())
    assert len(rec.ofi) == 3  # one decision per batch (13 rows in batches of 5)
    assert np.isclose(sum(rec.ofi), expected_total)
    assert runner.books.dropped == {"unusable_book": 1}
    assert runner.counters.bidasks == n + 1
    assert runner.books.book(CODE).bid_px[0] == bids[-1]


def test_books_with_empty_levels_use_the_populated_depth(ring) -> None:
    writer, reader = ring
    runner, _, _ = _runner(reader)
    runner.strategy = rec = _Recording()
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
    assert runner.counters.bidasks == 2 and runner.books.dropped == {}
    assert rec.ofi == [4.0]


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
    assert runner.counters.lost + runner.counters.bidasks == 1100
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
        super().__init__(MarketMakingParams(), lambda c, p: 1.0)

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
    assert runner.counters.bidasks == 3


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
        runner, _, _ = _runner(reader)
        runner.strategy = rec = _Recording()
        _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
        runner.step()
        assert runner.books.book(CODE).has_book
        writer.close()  # the ingestion process restarts: a new writer, a new epoch
        writer = shijim_core.RingWriter(name, slots=1024)
        _book(writer, 1, 20010.0, [5] * 5, [5] * 5)
        while runner.step():
            pass
        assert runner.counters.resyncs == 1
        # The book after the restart was not compared with the one before it (no MLOFI jump).
        assert runner.books.book(CODE).bid_px[0] == 20010.0
        assert rec.ofi == [0.0, 0.0]
    finally:
        writer.close()
        shijim_core.ring_unlink(name)


class _RecordingGateway(RiskAwareGateway):
    """The real gateway, also noting the order in which the venue gets market data."""

    calls: list[tuple[str, int]]

    def on_bidask(self, code, ts, bid_px, bid_qty, ask_px, ask_qty):
        self.calls.append(("book", ts))
        super().on_bidask(code, ts, bid_px, bid_qty, ask_px, ask_qty)

    def on_trade(self, code, ts, price, volume):
        self.calls.append(("trade", ts))
        super().on_trade(code, ts, price, volume)


def test_the_venue_sees_books_and_trades_in_sequence_order(ring) -> None:
    writer, reader = ring
    gw = _RecordingGateway(
        PaperExchange(),
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        RiskLimits(max_price_pct=None),
    )
    gw.calls = []
    mm = MarketMaking(MarketMakingParams(min_requote_ms=0.0), lambda c, p: 1.0)
    runner = StrategyRunner(reader, mm, gw, batch=64)
    _book(writer, 0, 20000.0, [5] * 5, [5] * 5)
    runner.step()  # quotes at 20000 / 20002: the code now has working orders
    gw.calls.clear()
    _book(writer, 1, 20000.0, [5] * 5, [5] * 5)  # exch 1 ms
    writer.publish_tick(CODE, T0 + 1_500_000, T0, 20000.0, 2, 2, 2, False)
    _book(writer, 2, 20000.0, [3] * 5, [5] * 5)  # exch 2 ms: the trade's effect
    runner.step()
    assert gw.calls == [
        ("book", T0 + 1_000_000),
        ("trade", T0 + 1_500_000),
        ("book", T0 + 2_000_000),
    ]


def test_session_close_cancels_the_code_and_restarts_its_book(ring) -> None:
    writer, reader = ring
    runner, gw, _ = _runner(reader)
    runner.strategy = rec = _Recording()
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


def test_the_strategy_sets_the_ofi_depth_of_the_books(ring) -> None:
    from shijim.strategy.ofi_momentum import OfiMomentum, OfiMomentumParams

    _, reader = ring
    runner, gw, _ = _runner(reader)
    assert runner.books.levels == 5  # market making: no depth of its own
    ofi = OfiMomentum(OfiMomentumParams(levels=2), lambda c, p: 1.0)
    assert StrategyRunner(reader, ofi, gw, batch=64).books.levels == 2
