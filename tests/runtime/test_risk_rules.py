"""The pure pre-trade rules: every rule accepting and rejecting at its edge, no I/O."""

from __future__ import annotations

import math

import pytest
from shijim.domain import Instrument, OrderIntent, RejectReason, Side, TradingState
from shijim.risk.limits import RiskLimits
from shijim.risk.rate_limit import ActionBucket
from shijim.risk.rules import check_new_order, is_reducing

TXF = Instrument.future("TXFL5", 200.0)
LIMITS = RiskLimits(
    max_order_qty=5,
    max_price_deviation_ticks=10,
    max_price_deviation_pct=1e6,  # wide: the tick band decides
    max_position=8,
    max_gross_position=12,
    max_working_orders=3,
    max_daily_loss=50_000.0,
)
REF = 20000.0


def decide(
    side: Side = Side.BUY,
    qty: object = 1,
    price: float = REF,
    *,
    instrument: Instrument | None = TXF,
    ref: float = REF,
    net: int = 0,
    wb: int = 0,
    ws: int = 0,
    gross: int = 0,
    n_working: int = 0,
    pnl: float = 0.0,
    limits: RiskLimits = LIMITS,
    state: TradingState = TradingState.ACTIVE,
) -> RejectReason | None:
    intent = OrderIntent("TXFL5", side, qty, price)  # type: ignore[arg-type]
    rej = check_new_order(
        intent, instrument, ref, net, wb, ws, gross, n_working, pnl, limits, state
    )
    return None if rej is None else rej.reason


def test_plain_order_accepted() -> None:
    assert decide() is None


@pytest.mark.parametrize("qty", [0, -1, 1.0, 1.5, True, "1", None])
def test_invalid_qty_rejected(qty: object) -> None:
    assert decide(qty=qty) is RejectReason.INVALID_QTY


def test_fat_finger_qty_edge() -> None:
    assert decide(qty=5) is None
    assert decide(qty=6) is RejectReason.FAT_FINGER_QTY


@pytest.mark.parametrize("price", [math.nan, math.inf, -math.inf, 0.0, -1.0, 20000.5])
def test_invalid_price_rejected(price: float) -> None:
    assert decide(price=price) is RejectReason.INVALID_PRICE


def test_fat_finger_ticks_edge() -> None:
    assert decide(price=REF + 10) is None
    assert decide(price=REF - 10) is None
    assert decide(price=REF + 11) is RejectReason.FAT_FINGER_PRICE
    assert decide(Side.SELL, price=REF - 11) is RejectReason.FAT_FINGER_PRICE


def test_fat_finger_percent_edge() -> None:
    pct = RiskLimits(max_price_deviation_ticks=10**6, max_price_deviation_pct=1.0)
    assert decide(price=REF * 1.01, limits=pct) is None
    assert decide(price=REF * 1.01 + 1, limits=pct) is RejectReason.FAT_FINGER_PRICE


def test_stock_ticks_follow_the_ladder() -> None:
    stock = Instrument.stock("2330")
    limits = RiskLimits(max_price_deviation_ticks=2, max_price_deviation_pct=1e6)
    # 500..1000 -> tick 1.0
    assert decide(price=602.0, ref=600.0, instrument=stock, limits=limits) is None
    assert decide(price=603.0, ref=600.0, instrument=stock, limits=limits) is (
        RejectReason.FAT_FINGER_PRICE
    )
    assert decide(price=600.5, ref=600.0, instrument=stock, limits=limits) is (
        RejectReason.INVALID_PRICE
    )
    # below 10 -> tick 0.01
    assert decide(price=9.52, ref=9.5, instrument=stock, limits=limits) is None


@pytest.mark.parametrize("ref", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_no_reference_price(ref: float) -> None:
    assert decide(ref=ref) is RejectReason.NO_REFERENCE_PRICE


@pytest.mark.parametrize(
    ("price", "tick"),
    [(0.01, 0.01), (9.99, 0.01), (10.0, 0.05), (49.95, 0.05), (50.0, 0.1), (99.9, 0.1),
     (100.0, 0.5), (499.5, 0.5), (500.0, 1.0), (999.0, 1.0), (1000.0, 5.0), (4995.0, 5.0)],
)  # fmt: skip
def test_the_twse_ladder_changes_tick_at_each_bound(price: float, tick: float) -> None:
    """TWSE's tick-size schedule: a bound takes the coarser tick (10 -> 0.05, 1000 -> 5)."""
    assert Instrument.stock("2330").tick_size(price) == tick
    assert TXF.tick_size(price) == 1.0  # a future has its one tick at every price


def test_the_tick_grid_is_within_a_millionth_of_a_step_on_every_ladder() -> None:
    """The grid check (a comparison chain on ``steps % 1.0``) decides as the distance to the
    nearest whole step does, on both sides of the 1e-6 edge, for every TWSE tick and TAIFEX's."""
    stock = Instrument.stock("2330")
    wide = RiskLimits(max_price_deviation_ticks=10**9, max_price_deviation_pct=1e9)
    for inst, base in ((stock, 9.5), (stock, 49.0), (stock, 99.0), (stock, 480.0),
                       (stock, 990.0), (stock, 1500.0), (TXF, 20000.0)):  # fmt: skip
        tick = inst.tick_size(base)
        for k in range(-3, 4):
            for off in (0.0, 1e-9, -1e-9, 2e-6, -2e-6, 0.3, 0.5, 0.7):
                price = base + (k + off) * tick
                steps = price / tick
                expected = abs(steps - round(steps)) > 1e-6
                got = decide(price=price, ref=base, instrument=inst, limits=wide)
                assert (got is RejectReason.INVALID_PRICE) is expected, (inst.code, price, tick)


def test_unknown_code() -> None:
    assert decide(instrument=None) is RejectReason.UNKNOWN_CODE


def test_halted_rejects_everything_even_reducing() -> None:
    assert decide(Side.SELL, net=3, state=TradingState.HALTED) is RejectReason.HALTED


def test_reducing_only_allows_reducing_orders() -> None:
    st = TradingState.REDUCING
    assert decide(Side.SELL, qty=3, net=3, state=st) is None
    assert decide(Side.SELL, qty=4, net=3, state=st) is RejectReason.REDUCING_ONLY  # would flip
    assert decide(Side.BUY, qty=1, net=3, state=st) is RejectReason.REDUCING_ONLY
    assert decide(Side.BUY, qty=1, net=0, state=st) is RejectReason.REDUCING_ONLY
    assert decide(Side.BUY, qty=2, net=-3, state=st) is None
    # working sells already cover 2 of the 3: only 1 more may reduce
    assert decide(Side.SELL, qty=1, net=3, ws=2, state=st) is None
    assert decide(Side.SELL, qty=2, net=3, ws=2, state=st) is RejectReason.REDUCING_ONLY


def test_position_limit_counts_working_orders() -> None:
    assert decide(qty=3, net=5) is None  # worst case 8 = limit
    assert decide(qty=4, net=5) is RejectReason.POSITION_LIMIT
    assert decide(qty=1, net=5, wb=3) is RejectReason.POSITION_LIMIT
    assert decide(Side.SELL, qty=5, net=-3, gross=3) is None  # -8 = limit
    assert decide(Side.SELL, qty=5, net=-4, gross=4) is RejectReason.POSITION_LIMIT
    # a working sell does not make a buy riskier
    assert decide(qty=3, net=5, ws=4) is None


def test_position_limit_per_code_override() -> None:
    limits = RiskLimits(
        max_order_qty=5,
        max_position=8,
        max_position_per_code={"TXFL5": 2},
        max_price_deviation_pct=1e6,
    )
    assert decide(qty=2, limits=limits) is None
    assert decide(qty=3, limits=limits) is RejectReason.POSITION_LIMIT


def test_position_limit_never_blocks_reducing() -> None:
    # Over the limit after reconciliation: reducing must still be possible.
    assert decide(Side.SELL, qty=2, net=10, gross=10) is None


def test_gross_limit_edge() -> None:
    assert decide(qty=2, net=0, gross=10) is None  # 12 = limit
    assert decide(qty=3, net=0, gross=10) is RejectReason.GROSS_LIMIT


def test_max_working_edge() -> None:
    assert decide(n_working=2) is None
    assert decide(n_working=3) is RejectReason.MAX_WORKING


def test_daily_loss_blocks_new_exposure_but_not_reducing() -> None:
    assert decide(pnl=-49_999.0) is None
    assert decide(pnl=-50_000.0) is RejectReason.DAILY_LOSS
    assert decide(Side.SELL, net=2, pnl=-60_000.0) is None


def test_check_order_is_fixed() -> None:
    # Invalid qty is reported before a bad price; HALTED before everything.
    assert decide(qty=0, price=math.nan) is RejectReason.INVALID_QTY
    assert decide(qty=0, state=TradingState.HALTED) is RejectReason.HALTED


def test_is_reducing() -> None:
    assert is_reducing(Side.SELL, 1, 1, 0)
    assert not is_reducing(Side.SELL, 2, 1, 0)
    assert not is_reducing(Side.SELL, 1, 0, 0)
    assert is_reducing(Side.BUY, 1, -2, 1)
    assert not is_reducing(Side.BUY, 1, -2, 2)


def test_limits_validate_themselves() -> None:
    # The bounds the config reader and the operator apply (field metadata), for code too.
    with pytest.raises(ValueError, match=r"RiskLimits\.max_order_qty: must be >= 1, got 0"):
        RiskLimits(max_order_qty=0)
    with pytest.raises(ValueError, match=r"RiskLimits\.max_daily_loss: must be > 0"):
        RiskLimits(max_daily_loss=-1.0)
    with pytest.raises(ValueError, match=r"RiskLimits\.max_price_deviation_pct: must be > 0"):
        RiskLimits(max_price_deviation_pct=math.nan)
    with pytest.raises(ValueError, match=r"RiskLimits\.max_position_per_code\.TXFL5: must be >= 0"):
        RiskLimits(max_position_per_code={"TXFL5": -1})
    with pytest.raises(ValueError, match=r"order_actions_per_10s: must be >= 2"):
        RiskLimits(order_actions_per_10s=1)  # the cancel reserve (>= 1) needs one more


def test_derived_limits() -> None:
    # Documented in docs/risk.md: a fifth of the actions (at least one) is kept for cancels.
    assert RiskLimits().cancel_reserve == 40 and RiskLimits().rate_window_s == 10.0
    assert RiskLimits(order_actions_per_10s=4).cancel_reserve == 1
    assert 0 < RiskLimits(order_actions_per_10s=2).cancel_reserve < 2
    overrides = {"TXFL5": 1}
    limits = RiskLimits(max_position_per_code=overrides)
    overrides["TXFL5"] = 99  # the caller's dict is copied: limits are frozen
    assert limits.max_position_per_code["TXFL5"] == 1


def test_bucket_refills_and_keeps_a_cancel_reserve() -> None:
    b = ActionBucket(capacity=10, window_s=10.0, reserve=2, now_ns=0)
    assert sum(b.try_take(0) for _ in range(20)) == 8  # the last 2 are for cancels
    assert b.try_take_cancel(0) and b.try_take_cancel(0)
    assert not b.try_take_cancel(0)
    # 1 token per second; after 2.99 s: 2.99 tokens, all under the reserve of 2 +1
    assert not b.try_take(2_990_000_000)
    assert b.try_take(3_000_000_000)
    # refill caps at capacity
    assert b.tokens(10**12) == 10.0
    # would_take answers what try_take would, and changes nothing
    b3 = ActionBucket(capacity=3, window_s=3.0, reserve=1, now_ns=0)
    for now in (0, 0, 0, 500_000_000, 999_999_999, 1_000_000_000, 2_500_000_000):
        state = (b3._tokens, b3._last_ns)
        asked = b3.would_take(now)
        assert (b3._tokens, b3._last_ns) == state
        assert asked == b3.try_take(now)
    # a clock that goes backwards never mints tokens
    b2 = ActionBucket(capacity=2, window_s=1.0, reserve=0, now_ns=5)
    assert b2.try_take(5) and b2.try_take(5)
    assert not b2.try_take(0)


def test_default_rate_is_below_the_broker_limit() -> None:
    lim = RiskLimits()
    assert lim.order_actions_per_10s < 250  # Shioaji suspends above 250 actions per 10 s
