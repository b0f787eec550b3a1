"""RiskAwareGateway over the engine's paper venue and account: state machine, cancels on
HALTED/REDUCING, rate limit with cancel priority, daily-loss kill switch from the engine's
marks, fees, metrics, bad input never orders. Zero latency and (where PnL is asserted to the
TWD) zero fees keep the numbers those of the prices; fees on by default are tested apart."""

from __future__ import annotations

import math

import pytest
from engine_market import Market
from prometheus_client import generate_latest
from shijim.domain import (
    Fill,
    Instrument,
    KillSwitchSource,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    Rejection,
    RejectReason,
    Side,
    TradingState,
)
from shijim.execution.adapter import ExecutionAdapter
from shijim.execution.paper import PaperVenue
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine

import shijim_core as sc

CODE = "TXFL5"
NO_FEES = {CODE: {"per_lot": 0.0, "rate": 0.0}}


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


def make(
    market: Market,
    limits: RiskLimits | None = None,
    metrics: ShardMetrics | None = None,
    instruments: dict | None = NO_FEES,
) -> tuple[RiskAwareGateway, PaperVenue, TradingStateMachine, Clock]:
    engine = sc.Engine([CODE], latency="zero", instruments=instruments)
    paper = PaperVenue(engine)
    sm = TradingStateMachine()
    clock = Clock()
    gw = RiskAwareGateway(
        paper,
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        limits
        or RiskLimits(
            max_order_qty=10, max_position=5, max_working_orders=10, max_daily_loss=10_000.0
        ),
        sm,
        metrics,
        clock,
        engine=engine,
    )
    market.attach(engine, gw)
    market.quote(CODE, 20000.0, 20001.0)
    return gw, paper, sm, clock


def buy(qty: int = 1, price: float = 19990.0) -> OrderIntent:
    return OrderIntent(CODE, Side.BUY, qty, price)


def sell(qty: int = 1, price: float = 20010.0) -> OrderIntent:
    return OrderIntent(CODE, Side.SELL, qty, price)


def test_gateway_and_paper_satisfy_the_adapter_protocol(market: Market) -> None:
    gw, paper, _, _ = make(market)
    assert isinstance(paper, ExecutionAdapter)
    assert isinstance(gw, ExecutionAdapter)


def test_accepted_order_reaches_the_paper_exchange(market: Market) -> None:
    gw, paper, _, _ = make(market)
    order = gw.place(buy())
    assert not isinstance(order, Rejection)
    assert order.order_id in paper.working_orders()
    gw.poll()
    # Sent, then acknowledged by the venue (zero latency: within the call).
    assert [e.status for e in gw.events if isinstance(e, OrderUpdate)] == [
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.SUBMITTED,
    ]


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
def test_bad_input_never_produces_an_order(
    market: Market, intent: OrderIntent, reason: RejectReason
) -> None:
    metrics = ShardMetrics("t")
    gw, paper, _, _ = make(market, metrics=metrics)
    result = gw.place(intent)
    assert isinstance(result, Rejection) and result.reason is reason
    assert not result  # a rejection is falsy
    assert not paper.working_orders() and not paper.events and not gw.events
    text = generate_latest(metrics.registry).decode()
    assert f'shijim_risk_rejects_total{{reason="{reason.value}",shard="t"}} 1.0' in text


def test_no_reference_price_before_any_book() -> None:
    paper = PaperVenue(sc.Engine([CODE], latency="zero"))
    gw = RiskAwareGateway(paper, InstrumentTable({CODE: Instrument.future(CODE, 200.0)}))
    assert gw.engine is paper.engine  # the venue's engine is the gateway's
    r = gw.place(buy())
    assert isinstance(r, Rejection) and r.reason is RejectReason.NO_REFERENCE_PRICE


def test_halted_cancels_every_working_order_and_rejects_new_ones(market: Market) -> None:
    gw, paper, sm, _ = make(market)
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


def test_reducing_cancels_exposure_increasing_orders_and_allows_only_reducing(
    market: Market,
) -> None:
    gw, paper, sm, _ = make(market)
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


def test_rate_limit_and_cancels_keep_priority(market: Market) -> None:
    # 10 actions per 10 s, 10 // 5 = 2 of them reserved for cancels
    limits = RiskLimits(order_actions_per_10s=10, max_working_orders=20, max_position=20)
    gw, paper, sm, clock = make(market, limits)
    placed = [gw.place(buy()) for _ in range(9)]
    ok = [o for o in placed if not isinstance(o, Rejection)]
    assert len(ok) == 8
    assert isinstance(placed[8], Rejection) and placed[8].reason is RejectReason.RATE_LIMIT
    # HALTED: the reserve covers 2 cancels, the other 6 wait for tokens
    sm.engage(KillSwitchSource.SIGNAL, "test")
    assert len(paper.working_orders()) == 6
    assert gw.summary()["pending_cancels"] == 6
    clock.ns += 1_000_000_000 + 1  # one token
    gw.poll()
    assert len(paper.working_orders()) == 5
    clock.ns += 10_000_000_000
    gw.poll()
    assert not paper.working_orders()
    assert gw.summary()["pending_cancels"] == 0


def test_rate_limit_refills_over_time(market: Market) -> None:
    limits = RiskLimits(order_actions_per_10s=5, max_position=10)  # 4 + 1 for cancels
    gw, _, _, clock = make(market, limits)
    for _ in range(4):
        assert not isinstance(gw.place(buy()), Rejection)
    assert isinstance(gw.place(buy()), Rejection)
    clock.ns += 2_000_000_000  # one token per 2 s
    assert not isinstance(gw.place(buy()), Rejection)


def test_daily_loss_engages_the_kill_switch_from_marks(market: Market) -> None:
    metrics = ShardMetrics("t")
    gw, paper, sm, _ = make(market, metrics=metrics)
    gw.place(OrderIntent(CODE, Side.BUY, 2, 20001.0))  # long 2 at 20001
    resting = gw.place(sell())  # rests above the market while it falls
    assert not isinstance(resting, Rejection)
    gw.poll()
    # 10_000 TWD / (2 lots * 200) = 25 points
    market.quote(CODE, 19976.0, 19977.0)  # mid 19976.5: -24.5 pts -> -9800
    assert sm.state is TradingState.ACTIVE
    market.quote(CODE, 19975.0, 19976.0)  # mid 19975.5: -25.5 pts -> -10200
    assert sm.state is TradingState.HALTED
    assert KillSwitchSource.LOSS_LIMIT in sm.demands()
    assert not paper.working_orders()
    text = generate_latest(metrics.registry).decode()
    assert 'shijim_kill_switch_engaged{shard="t"} 1.0' in text
    assert 'shijim_position{code="TXFL5",shard="t"} 2.0' in text


def test_daily_loss_from_a_losing_fill(market: Market) -> None:
    gw, _, sm, _ = make(market, RiskLimits(max_daily_loss=150.0))
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))
    gw.poll()
    assert gw.positions.total_pnl == pytest.approx(-100.0)  # marked at the mid 20000.5
    assert sm.state is TradingState.ACTIVE
    gw.place(OrderIntent(CODE, Side.SELL, 1, 20000.0))  # realise -200 TWD
    assert sm.state is TradingState.HALTED
    assert gw.positions.realised_pnl == pytest.approx(-200.0)


def test_amend_checks_price_and_qty(market: Market) -> None:
    gw, _, sm, _ = make(market)
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


def test_rehearsals_answer_as_place_and_amend_would_and_change_nothing(market: Market) -> None:
    """``rehearse`` / ``rehearse_amend`` give the reason ``place`` / ``amend`` would, the rate
    bucket included, with no token taken, nothing sent, counted or logged."""
    # 3 actions per 10 s, 1 kept for cancels: a place or amend needs 2 tokens left.
    gw, paper, sm, clock = make(market, RiskLimits(order_actions_per_10s=3))
    o = gw.place(buy())
    assert not isinstance(o, Rejection)

    def untouched() -> tuple:
        orders = {k: (v.price, v.qty) for k, v in paper.working_orders().items()}
        bucket = (gw.bucket._tokens, gw.bucket._last_ns)
        return bucket, dict(gw.rejects), len(gw.recent_rejects), gw.last_sent_ns, orders

    before = untouched()
    assert gw.rehearse(buy()) is None and gw.rehearse_amend(o.order_id, 19995.0) is None
    assert gw.rehearse(OrderIntent(CODE, Side.BUY, 0, 20000.0)).reason is RejectReason.INVALID_QTY
    assert gw.rehearse_amend(o.order_id, math.nan).reason is RejectReason.INVALID_PRICE
    assert gw.rehearse_amend("nope", 19995.0).reason is RejectReason.UNKNOWN_ORDER
    assert untouched() == before
    assert not isinstance(gw.amend(o.order_id, price=19995.0), Rejection)  # 1 token left
    assert gw.rehearse(buy()).reason is RejectReason.RATE_LIMIT
    assert gw.rehearse_amend(o.order_id, 19996.0).reason is RejectReason.RATE_LIMIT
    assert gw.place(buy()).reason is RejectReason.RATE_LIMIT  # as rehearsed
    clock.ns += 4_000_000_000  # 1.2 tokens back: 2.2
    assert gw.rehearse_amend(o.order_id, 19996.0) is None
    assert not isinstance(gw.amend(o.order_id, price=19996.0), Rejection)
    sm.engage(KillSwitchSource.FILE)
    assert gw.rehearse(buy()).reason is RejectReason.HALTED


def test_fills_update_positions_and_reach_the_strategy_queue(market: Market) -> None:
    gw, _, _, _ = make(market)
    o = gw.place(OrderIntent(CODE, Side.BUY, 1, 20000.0))
    assert not isinstance(o, Rejection)
    market.trade(CODE, 19999.0, 1)  # traded through our bid
    fills = [e for e in gw.events if isinstance(e, Fill)]
    assert len(fills) == 1 and fills[0].price == 20000.0
    assert gw.positions.net(CODE) == 1
    s = gw.summary()
    assert s["positions"][CODE]["net"] == 1 and s["state"] == "ACTIVE"


def test_reject_logging_is_rate_limited(market: Market, caplog: pytest.LogCaptureFixture) -> None:
    gw, _, _, clock = make(market)
    with caplog.at_level("WARNING", logger="shijim.risk.gateway"):
        for _ in range(100):
            gw.place(OrderIntent(CODE, Side.BUY, 0, 20000.0))
        clock.ns += 2_000_000_000
        gw.place(OrderIntent(CODE, Side.BUY, 0, 20000.0))
    lines = [r.getMessage() for r in caplog.records if "INVALID_QTY" in r.getMessage()]
    assert len(lines) == 2
    assert "[99 similar suppressed]" in lines[1]
    assert gw.rejects[RejectReason.INVALID_QTY] == 101


def test_new_trading_day_resets_realised_but_keeps_the_loss_halt(market: Market) -> None:
    gw, _, sm, _ = make(market, RiskLimits(max_daily_loss=150.0))
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))
    gw.poll()
    gw.place(OrderIntent(CODE, Side.SELL, 1, 20000.0))  # realised -200: halted
    assert sm.state is TradingState.HALTED
    gw.new_trading_day()
    assert gw.positions.realised_pnl == 0.0
    assert sm.state is TradingState.HALTED  # an operator resumes, not the calendar
    sm.release(KillSwitchSource.LOSS_LIMIT)
    assert not isinstance(gw.place(buy()), Rejection)


def test_halt_from_another_thread_while_the_strategy_places(market: Market) -> None:
    """The kill switch on an admin/signal thread races the strategy thread: whatever the
    interleaving, nothing is left working and nothing is accepted after HALTED is seen."""
    import threading

    gw, paper, sm, _ = make(
        market,
        RiskLimits(
            max_working_orders=1000,
            order_actions_per_10s=10**6,
            max_position=10**6,
            max_gross_position=10**6,
        ),
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


def test_fees_are_on_by_default_and_reach_the_account(market: Market) -> None:
    gw, _, _, _ = make(market, instruments=None)
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))  # takes the ask
    (f,) = [e for e in gw.events if isinstance(e, Fill)]
    # TXF: 60 TWD commission + the 0.002 % futures transaction tax on 20001 x 200.
    assert f.fee == pytest.approx(60 + 0.00002 * 20001 * 200)
    assert gw.positions.fees == pytest.approx(f.fee)
    # Marked at the mid 20000.5: -0.5 point x 200, and the fee.
    assert gw.positions.total_pnl == pytest.approx(-100 - f.fee)
    s = gw.summary()
    assert s["pnl"]["fees"] == pytest.approx(f.fee) and s["positions"][CODE]["fees"] > 0
    assert [m["horizon_ns"] for m in s["markouts"]] == [10**9, 5 * 10**9, 30 * 10**9]


def test_the_metrics_read_the_pnl_of_the_latest_event(market: Market) -> None:
    """The gateway keeps the account's PnL as each event marks it; a read of the registry
    exports the latest, never a value one export interval old."""
    metrics = ShardMetrics("t")
    gw, paper, _, clock = make(market, metrics=metrics)
    gw.place(OrderIntent(CODE, Side.BUY, 1, 20001.0))

    def exported() -> str:
        text = generate_latest(metrics.registry).decode()
        return next(line for line in text.splitlines() if line.startswith("shijim_pnl"))

    clock.ns += 10**9
    market.quote(CODE, 20010.0, 20011.0)  # mid 20010.5: +9.5 points
    assert exported().endswith(" 1900.0")
    market.quote(CODE, 20020.0, 20021.0)
    assert exported().endswith(" 3900.0")
    assert metrics.registry.get_sample_value("shijim_position", {"shard": "t", "code": CODE}) == 1
    # A fill from the venue with no market event after it (a live fill while the feed is
    # quiet): the PnL shown moves with it (sold at 20030, bought at 20001: +29 points, flat).
    paper.events.append(Fill("F-x", "O-x", CODE, Side.SELL, 1, 20030.0, clock.ns, 0.0))
    gw.poll()
    assert exported().endswith(" 5800.0")
    assert metrics.registry.get_sample_value("shijim_position", {"shard": "t", "code": CODE}) == 0


def test_the_gateway_refuses_an_engine_that_is_not_the_venues() -> None:
    paper = PaperVenue(sc.Engine([CODE], latency="zero"))
    with pytest.raises(ValueError, match="engine"):
        RiskAwareGateway(
            paper,
            InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
            engine=sc.Engine([CODE]),
        )


def test_a_fill_in_a_code_the_engine_lacks_is_adopted_never_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = sc.Engine([CODE], latency="zero")
    gw = RiskAwareGateway(
        PaperVenue(engine), InstrumentTable({CODE: Instrument.future(CODE, 200.0)})
    )
    # A live deal in a code neither configured nor in the engine (placed outside this
    # process): real money, tracked with the code's multiplier, and said loudly.
    with caplog.at_level("ERROR", logger="shijim.risk.gateway"):
        gw._apply_fill(Fill("x1", "o1", "MXFL5", Side.SELL, 2, 20000.0, 0, 0.0))
        gw._apply_fill(Fill("x2", "o2", "MXFL5", Side.BUY, 2, 19990.0, 0, 0.0))
    assert "unconfigured code 'MXFL5'" in caplog.text
    assert engine.code_id("MXFL5") == 1 and gw.positions.realised_pnl == 10 * 2 * 50
    # A fill the account cannot book is refused loudly and counted.
    with caplog.at_level("ERROR", logger="shijim.risk.gateway"):
        gw._apply_fill(Fill("x3", "o3", CODE, Side.BUY, 0, 20000.0, 0, 0.0))
    assert gw.bad_fills == 1 and "refused by the account" in caplog.text
