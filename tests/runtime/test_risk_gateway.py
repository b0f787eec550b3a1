"""RiskAwareGateway over the real paper exchange: state machine, cancels on HALTED/REDUCING,
rate limit with cancel priority, daily-loss kill switch, metrics, bad input never orders."""

from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest
from shijim.domain import Fill, Instrument, OrderIntent, OrderStatus, Side
from shijim.execution.adapter import ExecutionAdapter
from shijim.execution.paper import PaperExchange
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.rules import Rejection, RejectReason, RiskLimits
from shijim.risk.state import KillSwitchSource, TradingState, TradingStateMachine

CODE = "TXFL5"


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


def make(
    limits: RiskLimits | None = None, metrics: ShardMetrics | None = None
) -> tuple[RiskAwareGateway, PaperExchange, TradingStateMachine, Clock]:
    paper = PaperExchange()
    sm = TradingStateMachine()
    clock = Clock()
    gw = RiskAwareGateway(
        paper,
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        limits or RiskLimits(max_position=5, max_working=10, max_daily_loss=10_000.0),
        sm,
        metrics,
        clock,
    )
    book(gw)
    return gw, paper, sm, clock


def book(gw: RiskAwareGateway, bid: float = 20000.0, ask: float = 20001.0, ts: int = 1) -> None:
    gw.on_bidask(
        CODE,
        ts,
        [bid - i for i in range(5)],
        [10] * 5,
        [ask + i for i in range(5)],
        [10] * 5,
    )


def buy(qty: int = 1, price: float = 19990.0) -> OrderIntent:
    return OrderIntent(CODE, Side.BUY, qty, price)


def sell(qty: int = 1, price: float = 20010.0) -> OrderIntent:
    return OrderIntent(CODE, Side.SELL, qty, price)


def test_gateway_and_paper_satisfy_the_adapter_protocol() -> None:
    gw, paper, _, _ = make()
    assert isinstance(paper, ExecutionAdapter)
    assert isinstance(gw, ExecutionAdapter)


def test_accepted_order_reaches_the_paper_exchange() -> None:
    gw, paper, _, _ = make()
    order = gw.place(buy())
    assert not isinstance(order, Rejection)
    assert order.order_id in paper.working_orders()
    gw.poll()
    assert [type(e).__name__ for e in gw.events] == ["OrderUpdate"]


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        (OrderIntent(CODE, Side.BUY, 0, 20000.0), RejectReason.INVALID_QTY),
        (OrderIntent(CODE, Side.BUY, -1, 20000.0), RejectReason.INVALID_QTY),
        (OrderIntent(CODE, Side.BUY, 1, math.nan), RejectReason.INVALID_PRICE),
        (OrderIntent(CODE, Side.BUY, 1, math.inf), RejectReason.INVALID_PRICE),
        (OrderIntent("NOPE", Side.BUY, 1, 20000.0), RejectReason.UNKNOWN_CODE),
        (OrderIntent(CODE, Side.BUY, 1, 25000.0), RejectReason.FAT_FINGER_PRICE),
    ],
)
def test_bad_input_never_produces_an_order(intent: OrderIntent, reason: RejectReason) -> None:
    metrics = ShardMetrics("t")
    gw, paper, _, _ = make(metrics=metrics)
    result = gw.place(intent)
    assert isinstance(result, Rejection) and result.reason is reason
    assert not result  # a rejection is falsy
    assert not paper.working_orders() and not paper.events and not gw.events
    text = generate_latest(metrics.registry).decode()
    assert f'shijim_risk_rejects_total{{reason="{reason.value}",shard="t"}} 1.0' in text


def test_no_reference_price_before_any_book() -> None:
    paper = PaperExchange()
    gw = RiskAwareGateway(paper, InstrumentTable({CODE: Instrument.future(CODE, 200.0)}))
    r = gw.place(buy())
    assert isinstance(r, Rejection) and r.reason is RejectReason.NO_REFERENCE_PRICE


def test_halted_cancels_every_working_order_and_rejects_new_ones() -> None:
    gw, paper, sm, _ = make()
    ids = [o.order_id for o in (gw.place(buy()), gw.place(sell())) if not isinstance(o, Rejection)]
    assert len(ids) == 2
    sm.engage(KillSwitchSource.ADMIN, "test")
    assert not paper.working_orders()
    gw.poll()
    cancelled = {
        e.order_id for e in gw.events if getattr(e, "status", None) is OrderStatus.CANCELLED
    }
    assert cancelled == set(ids)
    r = gw.place(buy())
    assert isinstance(r, Rejection) and r.reason is RejectReason.HALTED
    sm.release(KillSwitchSource.ADMIN)
    assert not isinstance(gw.place(buy()), Rejection)


def test_reducing_cancels_exposure_increasing_orders_and_allows_only_reducing() -> None:
    gw, paper, sm, _ = make()
    gw.place(OrderIntent(CODE, Side.BUY, 2, 20001.0))  # marketable: long 2
    gw.poll()
    assert gw.positions.net(CODE) == 2
    more = gw.place(buy())
    exit_ = gw.place(sell(qty=1))
    assert not isinstance(more, Rejection) and not isinstance(exit_, Rejection)
    sm.demand(KillSwitchSource.CRD, TradingState.REDUCING, "wind down")
    assert set(paper.working_orders()) == {exit_.order_id}
    r = gw.place(buy())
    assert isinstance(r, Rejection) and r.reason is RejectReason.REDUCING_ONLY
    assert not isinstance(gw.place(sell(qty=1)), Rejection)
    r = gw.place(sell(qty=1))  # 3 sells against a long of 2 would flip
    assert isinstance(r, Rejection) and r.reason is RejectReason.REDUCING_ONLY


def test_rate_limit_and_cancels_keep_priority() -> None:
    limits = RiskLimits(rate_actions=6, rate_window_s=1.0, cancel_reserve=2, max_working=20)
    gw, paper, sm, clock = make(limits)
    placed = [gw.place(buy()) for _ in range(5)]
    ok = [o for o in placed if not isinstance(o, Rejection)]
    assert len(ok) == 4  # 6 tokens, 2 reserved for cancels
    assert isinstance(placed[4], Rejection) and placed[4].reason is RejectReason.RATE_LIMIT
    # HALTED: the reserve covers 2 cancels, the other 2 wait for tokens
    sm.engage(KillSwitchSource.SIGNAL, "test")
    assert len(paper.working_orders()) == 2
    assert gw.summary()["pending_cancels"] == 2
    clock.ns += 1_000_000_000 // 6 + 1  # one token
    gw.poll()
    assert len(paper.working_orders()) == 1
    clock.ns += 1_000_000_000
    gw.poll()
    assert not paper.working_orders()
    assert gw.summary()["pending_cancels"] == 0


def test_rate_limit_refills_over_time() -> None:
    limits = RiskLimits(rate_actions=3, rate_window_s=3.0, cancel_reserve=0)
    gw, _, _, clock = make(limits)
    for _ in range(3):
        assert not isinstance(gw.place(buy()), Rejection)
    assert isinstance(gw.place(buy()), Rejection)
    clock.ns += 1_000_000_000
    assert not isinstance(gw.place(buy()), Rejection)


def test_daily_loss_engages_the_kill_switch_from_marks() -> None:
    metrics = ShardMetrics("t")
    gw, paper, sm, _ = make(metrics=metrics)
    gw.place(OrderIntent(CODE, Side.BUY, 2, 20001.0))  # long 2 at 20001
    resting = gw.place(sell())  # rests above the market while it falls
    assert not isinstance(resting, Rejection)
    gw.poll()
    # 10_000 TWD / (2 lots * 200) = 25 points
    book(gw, bid=19976.0, ask=19977.0, ts=2)  # mid 19976.5: -24.5 pts -> -9800
    assert sm.state is TradingState.ACTIVE
    book(gw, bid=19975.0, ask=19976.0, ts=3)  # mid 19975.5: -25.5 pts -> -10200
    assert sm.state is TradingState.HALTED
    assert KillSwitchSource.LOSS_LIMIT in sm.demands()
    assert not paper.working_orders()
    text = generate_latest(metrics.registry).decode()
    assert 'shijim_kill_switch_engaged{shard="t"} 1.0' in text
    assert 'shijim_position{code="TXFL5",shard="t"} 2.0' in text


def test_daily_loss_from_a_losing_fill() -> None:
    gw, _, sm, _ = make(RiskLimits(max_daily_loss=150.0))
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))
    gw.poll()
    assert gw.positions.total_pnl == pytest.approx(-100.0)  # marked at the mid 20000.5
    assert sm.state is TradingState.ACTIVE
    gw.place(OrderIntent(CODE, Side.SELL, 1, 20000.0))  # realise -200 TWD
    assert sm.state is TradingState.HALTED
    assert gw.positions.realised_pnl == pytest.approx(-200.0)


def test_amend_checks_price_and_qty() -> None:
    gw, _, sm, _ = make()
    o = gw.place(buy(qty=3))
    assert not isinstance(o, Rejection)
    r = gw.amend(o.order_id, price=math.nan)
    assert isinstance(r, Rejection) and r.reason is RejectReason.INVALID_PRICE
    r = gw.amend(o.order_id, qty=3)
    assert isinstance(r, Rejection) and r.reason is RejectReason.INVALID_QTY
    r = gw.amend("nope", price=19995.0)
    assert isinstance(r, Rejection) and r.reason is RejectReason.UNKNOWN_ORDER
    amended = gw.amend(o.order_id, price=19995.0, qty=2)
    assert not isinstance(amended, Rejection)
    assert amended.price == 19995.0 and amended.remaining == 2
    sm.demand(KillSwitchSource.DASHBOARD, TradingState.REDUCING)
    sm.engage(KillSwitchSource.FILE)
    assert isinstance(gw.amend(o.order_id, price=19996.0), Rejection)


def test_fills_update_positions_and_reach_the_strategy_queue() -> None:
    gw, _, _, _ = make()
    o = gw.place(OrderIntent(CODE, Side.BUY, 1, 20000.0))
    assert not isinstance(o, Rejection)
    gw.on_trade(CODE, 5, 19999.0, 1)  # traded through our bid
    fills = [e for e in gw.events if isinstance(e, Fill)]
    assert len(fills) == 1 and fills[0].price == 20000.0
    assert gw.positions.net(CODE) == 1
    s = gw.summary()
    assert s["positions"][CODE]["net"] == 1 and s["state"] == "ACTIVE"


def test_reject_logging_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    gw, _, _, clock = make()
    with caplog.at_level("WARNING", logger="shijim.risk.gateway"):
        for _ in range(100):
            gw.place(OrderIntent(CODE, Side.BUY, 0, 20000.0))
        clock.ns += 2_000_000_000
        gw.place(OrderIntent(CODE, Side.BUY, 0, 20000.0))
    lines = [r.getMessage() for r in caplog.records if "INVALID_QTY" in r.getMessage()]
    assert len(lines) == 2
    assert "[99 similar suppressed]" in lines[1]
    assert gw.rejects[RejectReason.INVALID_QTY] == 101


def test_new_trading_day_resets_realised_but_keeps_the_loss_halt() -> None:
    gw, _, sm, _ = make(RiskLimits(max_daily_loss=150.0))
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))
    gw.poll()
    gw.place(OrderIntent(CODE, Side.SELL, 1, 20000.0))  # realised -200: halted
    assert sm.state is TradingState.HALTED
    gw.new_trading_day()
    assert gw.positions.realised_pnl == 0.0
    assert sm.state is TradingState.HALTED  # an operator resumes, not the calendar
    sm.release(KillSwitchSource.LOSS_LIMIT)
    assert not isinstance(gw.place(buy()), Rejection)


def test_halt_from_another_thread_while_the_strategy_places() -> None:
    """The kill switch on an admin/signal thread races the strategy thread: whatever the
    interleaving, nothing is left working and nothing is accepted after HALTED is seen."""
    import threading

    gw, paper, sm, _ = make(
        RiskLimits(
            max_working=1000,
            rate_actions=10**6,
            cancel_reserve=0,
            max_position=10**6,
            max_gross=10**6,
        )
    )
    accepted_after_halt: list[str] = []
    started = threading.Event()

    def strategy() -> None:
        for i in range(2000):
            halted_before = sm.state is TradingState.HALTED
            r = gw.place(OrderIntent(CODE, Side.BUY, 1, 19990.0 - (i % 5)))
            if i == 50:
                started.set()
            if halted_before and not isinstance(r, Rejection):
                accepted_after_halt.append(r.order_id)

    t = threading.Thread(target=strategy)
    t.start()
    started.wait(5)
    sm.engage(KillSwitchSource.ADMIN, "race")
    t.join(10)
    assert not accepted_after_halt
    assert not paper.working_orders()
