"""fused_signals: the Kalman fair value enters the existing fusion in the microprice's place,
and the strategy is registered like the others (config, operator schema)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shijim.algo import kalman as K
from shijim.app.config import parse_config
from shijim.app.schema import ConfigError
from shijim.app.strategies import STRATEGIES, check_strategy_config
from shijim.domain import (
    Side,
    SignalSnapshot,
    SignalWeights,
    TradingState,
    fixed_tick,
    fused_urgency,
)
from shijim.strategy.base import MarketView, Place, StrategyContext
from shijim.strategy.fused_signals import FusedSignals, FusedSignalsParams
from shijim.strategy.ofi_momentum import OfiMomentum, OfiMomentumParams
from shijim.strategy.snapshot import described

TICK = 0.5


def _ctx() -> StrategyContext:
    return StrategyContext({"MXFL6": 0}, {}, TradingState.ACTIVE)


def _view(ts: int, bid: float, last_trade: float, flow: float = 0.0) -> MarketView:
    # Balanced book, no OFI: only the fair value can lean.
    sig = SignalSnapshot(
        ofi=0.0,
        microprice=bid + TICK / 2,
        mid=bid + TICK / 2,
        spread=TICK,
        imbalance=0.0,
        last_trade=last_trade,
        trade_flow=flow,
    )
    return MarketView("MXFL6", ts, ts, bid, bid + TICK, 5, 5, sig)


def test_fair_value_is_the_local_level_filter_over_mids_and_trades() -> None:
    p = FusedSignalsParams(fair_q_ticks2_per_s=2.0, fair_r_mid_ticks2=0.3, fair_r_trade_ticks2=1.5)
    s = FusedSignals(p, fixed_tick(TICK))
    rng = np.random.default_rng(3)
    t, y, r = [], [], []
    last = math.nan
    for k in range(300):
        ts = k * 20_000_000
        bid = 20000.0 + TICK * int(rng.integers(-3, 4))
        trade = bid + TICK * int(rng.integers(0, 2)) if rng.random() < 0.4 else last
        flow = 0.0 if trade == last else 1.0
        got = s.fair_value(_view(ts, bid, trade, flow))
        if math.isfinite(trade) and trade != last:
            t.append(ts)
            y.append(trade)
            r.append(1.5 * TICK**2)
        last = trade
        t.append(ts)
        y.append(bid + TICK / 2)
        r.append(0.3 * TICK**2)
        want = K.local_level(t, y, r, K.LocalLevelParams(q_per_s=2.0 * TICK**2)).x[-1]
        assert got == want


def test_trades_above_the_mid_push_a_buy_that_plain_ofi_momentum_does_not_see() -> None:
    # Prints are trusted more than quotes here (noise 0.1 vs 1 tick^2).
    params = FusedSignalsParams(
        threshold=0.3,
        w_ofi=0.0,
        w_fair=1.0,
        w_imbalance=0.0,
        fair_r_mid_ticks2=1.0,
        fair_r_trade_ticks2=0.1,
    )
    fused = FusedSignals(params, fixed_tick(TICK))
    plain = OfiMomentum(
        OfiMomentumParams(threshold=0.3, w_ofi=0.0, w_microprice=1.0, w_imbalance=0.0),
        fixed_tick(TICK),
    )
    bid = 20000.0
    acts_fused, acts_plain = [], []
    for k in range(20):
        # Every print lifts the ask: buyers are paying up while the quote stands still.
        view = _view(k * 10_000_000, bid, bid + TICK, flow=1.0)
        acts_plain.extend(plain.on_market(view, _ctx()))
        if not acts_fused:
            acts_fused.extend(fused.on_market(view, _ctx()))
    assert acts_plain == []
    assert len(acts_fused) == 1 and isinstance(acts_fused[0], Place)
    assert acts_fused[0].intent.side is Side.BUY
    # The push is the existing fusion with the fair value as the lean.
    fair = fused._fair["MXFL6"].filter.fair
    view = _view(0, bid, bid + TICK)
    w = SignalWeights(0.0, 1.0, 0.0, 20.0)
    push = fused_urgency(view.signals._replace(microprice=fair), +1, w)
    assert push >= 0.3 and fair > bid + TICK / 2


def test_registered_and_checked_like_the_other_strategies() -> None:
    assert STRATEGIES["fused_signals"].params is FusedSignalsParams
    cfg = parse_config({"strategy": {"name": "fused_signals", "params": {"w_fair": 0.7}}})
    check_strategy_config(cfg)
    zero = {"w_ofi": 0, "w_fair": 0, "w_imbalance": 0}
    with pytest.raises(ConfigError, match="w_ofi \\+ w_fair \\+ w_imbalance must be > 0"):
        check_strategy_config(parse_config({"strategy": {"name": "fused_signals", "params": zero}}))
    with pytest.raises(ConfigError, match="fair_r_mid_ticks2: must be > 0"):
        check_strategy_config(
            parse_config(
                {"strategy": {"name": "fused_signals", "params": {"fair_r_mid_ticks2": 0}}}
            )
        )


def test_describe_adds_the_fusion_and_the_filter_to_the_momentum_rules() -> None:
    s = FusedSignals(FusedSignalsParams(w_fair=0.5, fair_r_mid_ticks2=0.3), fixed_tick(TICK))
    assert s.describe() == {
        "entry": "|signal| >= 0.6 on 5 levels: 1 lot(s), position <= 2",
        "chase": "limit 3, chase <= 3 ticks; reprice 50+ ms; timeout 2000 ms",
        "fusion": "w_ofi 0.4 (scale 20), w_fair 0.5, w_imbalance 0.2",
        "fair value": "Kalman q 1/s, r mid 0.3, r trade 1 (ticks^2); 0 codes",
        "parents": "0 working",
    }
    s.fair_value(_view(0, 20000.0, math.nan))
    assert s.describe()["fair value"].endswith("; 1 codes")
    assert dict(described(s.describe())) == s.describe()  # nothing cut by the panel
