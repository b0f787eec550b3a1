"""Per-code holds: one code stops trading (its orders cancelled, new ones refused) while the
others trade on; holds stack like kill-switch demands; metrics and summary show them."""

from __future__ import annotations

from engine_market import Market
from prometheus_client import generate_latest
from shijim.domain import (
    CodeHold,
    Instrument,
    OrderIntent,
    Rejection,
    RejectReason,
    Side,
    TradingState,
)
from shijim.execution.paper import PaperVenue
from shijim.metrics import ShardMetrics
from shijim.risk.code_gate import CodeGate
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine

import shijim_core as sc

TXF, MXF = "TXFL5", "MXFL5"


def make(
    market: Market, metrics: ShardMetrics | None = None
) -> tuple[RiskAwareGateway, PaperVenue]:
    engine = sc.Engine([TXF, MXF], latency="zero")
    paper = PaperVenue(engine)
    gw = RiskAwareGateway(
        paper,
        InstrumentTable({c: Instrument.future(c, 200.0) for c in (TXF, MXF)}),
        RiskLimits(max_position=5, max_working_orders=10),
        TradingStateMachine(),
        metrics,
        lambda: 1_000_000_000,
        engine=engine,
    )
    market.attach(engine, gw)
    for code in (TXF, MXF):
        market.quote(code, 20000.0, 20001.0)
    return gw, paper


def buy(code: str, qty: int = 1) -> OrderIntent:
    return OrderIntent(code, Side.BUY, qty, 19990.0)


def sell(code: str, qty: int = 1) -> OrderIntent:
    return OrderIntent(code, Side.SELL, qty, 20010.0)


def codes_working(paper: PaperVenue) -> list[str]:
    return sorted(o.code for o in paper.working_orders().values())


def test_halted_hold_cancels_that_codes_orders_only_and_refuses_new_ones(market: Market) -> None:
    gw, paper = make(market)
    assert gw.place(buy(TXF)) and gw.place(buy(MXF))
    gw.hold_code(TXF, CodeHold.DATA, TradingState.HALTED, "12 quotes dropped in a row")
    assert codes_working(paper) == [MXF]
    rej = gw.place(buy(TXF))
    assert isinstance(rej, Rejection) and rej.reason is RejectReason.CODE_HELD
    assert "data: 12 quotes dropped in a row" in rej.detail
    assert gw.place(buy(MXF))  # the other code trades on
    assert gw.state is TradingState.ACTIVE
    assert gw.code_state(TXF) is TradingState.HALTED
    assert gw.code_state(MXF) is TradingState.ACTIVE


def test_release_resumes_and_holds_stack_like_demands(market: Market) -> None:
    gw, _ = make(market)
    gw.hold_code(TXF, CodeHold.DATA, TradingState.HALTED, "stale")
    gw.hold_code(TXF, CodeHold.UNOWNED, TradingState.HALTED, "resharding 2 -> 3")
    gw.release_code(TXF, CodeHold.DATA)
    assert isinstance(gw.place(buy(TXF)), Rejection)  # the UNOWNED hold still stands
    gw.release_code(TXF, CodeHold.UNOWNED)
    assert gw.place(buy(TXF))
    gw.release_code(TXF, CodeHold.UNOWNED)  # releasing twice is harmless


def test_reducing_hold_lets_only_reducing_orders_through(market: Market) -> None:
    gw, paper = make(market)
    gw.positions.set_position(TXF, 2, 20000.0)
    assert gw.place(buy(TXF))
    gw.hold_code(TXF, CodeHold.DATA, TradingState.REDUCING, "stale")
    assert codes_working(paper) == []  # the buy would grow a long position: cancelled
    rej = gw.place(buy(TXF))
    assert isinstance(rej, Rejection) and rej.reason is RejectReason.REDUCING_ONLY
    assert gw.place(sell(TXF, 2))


def test_amend_in_a_held_code_is_refused(market: Market) -> None:
    gw, _ = make(market)
    order = gw.place(buy(TXF))
    assert order
    # The gate alone, as between a hold and its cancel reaching the venue.
    gw.code_gate.hold(TXF, CodeHold.DATA, TradingState.HALTED, "stale")
    rej = gw.amend(order.order_id, price=19991.0)
    assert isinstance(rej, Rejection) and rej.reason is RejectReason.CODE_HELD


def test_reconcile_cancels_orders_found_in_held_codes(market: Market) -> None:
    gw, paper = make(market)
    o = paper.place(buy(TXF))  # an order the gateway did not send (found at the venue)
    assert o
    gw.code_gate.hold(TXF, CodeHold.UNOWNED, TradingState.HALTED, "resharding")
    gw.reconcile()
    assert paper.working_orders() == {}


def test_metric_and_summary_show_holds(market: Market) -> None:
    metrics = ShardMetrics(0)
    gw, _ = make(market, metrics)
    text = generate_latest(metrics.registry).decode()
    assert f'shijim_code_trading_state{{code="{TXF}",shard="0"}} 0.0' in text
    gw.hold_code(TXF, CodeHold.DATA, TradingState.HALTED, "stale")
    text = generate_latest(metrics.registry).decode()
    assert f'shijim_code_trading_state{{code="{TXF}",shard="0"}} 2.0' in text
    assert gw.summary()["code_holds"] == {TXF: {"data": {"state": "HALTED", "reason": "stale"}}}
    gw.release_code(TXF, CodeHold.DATA)
    text = generate_latest(metrics.registry).decode()
    assert f'shijim_code_trading_state{{code="{TXF}",shard="0"}} 0.0' in text
    assert gw.summary()["code_holds"] == {}


def test_code_gate_effective_state_is_the_most_restrictive_hold() -> None:
    gate = CodeGate()
    assert gate.get(TXF) is None and gate.state(TXF) is TradingState.ACTIVE
    assert gate.hold(TXF, CodeHold.DATA, TradingState.REDUCING, "a")
    assert gate.hold(TXF, CodeHold.UNOWNED, TradingState.HALTED, "b")
    assert not gate.hold(TXF, CodeHold.DATA, TradingState.REDUCING, "a again")
    held = gate.get(TXF)
    assert held is not None and held.state is TradingState.HALTED and held.reason == "unowned: b"
    assert gate.release(TXF, CodeHold.UNOWNED)
    assert gate.state(TXF) is TradingState.REDUCING
    assert gate.hold(TXF, CodeHold.DATA, TradingState.ACTIVE, "")  # ACTIVE releases
    assert gate.held_codes() == []
