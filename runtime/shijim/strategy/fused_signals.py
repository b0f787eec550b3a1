"""Fused signals: the OFI-momentum trade, decided on a fusion that includes a Kalman fair value.

Per code, a local-level Kalman filter (``shijim.algo.kalman.FairValueFilter``, the Rust kernel)
estimates the fair price from every mid the strategy sees and every new trade print, each
with its own noise (in ticks^2, scaled by the code's tick). The fused urgency is the existing
one (``shijim.domain.fused_urgency`` with ``SignalWeights``), fed with:

- the engine's folded MLOFI (weight ``w_ofi``, squashed by ``tanh(ofi / ofi_scale)``);
- the fair-value lean ``(fair - mid) / (spread / 2)`` in place of the microprice lean
  (weight ``w_fair``, clipped to [-1, 1]): a mid above the filtered fair value is expected to
  come back down, a trade printing above the mid pulls the fair value up;
- the engine's depth imbalance (weight ``w_imbalance``).

Everything else (a parent of ``qty`` lots when the fused signal passes ``threshold``, worked
by the SmartChasingEngine, position cap, timeout) is ``ofi_momentum``'s, unchanged: this class
only rewrites the signals it is given. The filter state is the only thing it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from shijim.algo.kalman import FairValueFilter, LocalLevelParams
from shijim.domain import Fill, LadderOf, Order, OrderUpdate
from shijim.strategy.base import MarketView, StrategyAction, StrategyContext
from shijim.strategy.ofi_momentum import (
    MomentumEntryParams,
    OfiMomentum,
    OfiMomentumParams,
    momentum_rules,
)


@dataclass(frozen=True)
class FusedSignalsParams(MomentumEntryParams):
    # Bounds are field metadata: checked when the config is read, and exported to the operator.
    w_ofi: float = field(default=0.4, metadata={"ge": 0})
    w_fair: float = field(default=0.4, metadata={"ge": 0})  # the Kalman fair-value lean
    w_imbalance: float = field(default=0.2, metadata={"ge": 0})
    ofi_scale: float = field(default=20.0, metadata={"gt": 0})
    # The fair value's random walk (ticks^2 per second) and the noise of what it sees (ticks^2).
    fair_q_ticks2_per_s: float = field(default=1.0, metadata={"ge": 0})
    fair_r_mid_ticks2: float = field(default=0.25, metadata={"gt": 0})
    fair_r_trade_ticks2: float = field(default=1.0, metadata={"gt": 0})


@dataclass(slots=True)
class _Fair:
    filter: FairValueFilter
    last_trade: float = math.nan


class FusedSignals:
    name = "fused_signals"

    def __init__(self, params: FusedSignalsParams, ladder_of: LadderOf) -> None:
        if params.w_ofi + params.w_fair + params.w_imbalance <= 0:
            # A rule across fields: the operator checks fields one by one, the runtime this too.
            raise ValueError("strategy.params: w_ofi + w_fair + w_imbalance must be > 0")
        self.params = params
        self.signal_levels = params.levels
        self._ladder_of = ladder_of
        self._fair: dict[str, _Fair] = {}
        self._trade = OfiMomentum(
            OfiMomentumParams(
                **params.entry(),  # type: ignore[arg-type]
                w_ofi=params.w_ofi,
                w_microprice=params.w_fair,
                w_imbalance=params.w_imbalance,
                ofi_scale=params.ofi_scale,
            ),
            ladder_of,
        )

    def fair_value(self, view: MarketView) -> float:
        """Feeds the view's new trade print (if any) and its mid to the code's filter; returns
        the fair value (NaN before the first mid or trade)."""
        sig = view.signals
        fv = self._fair.get(view.code)
        if fv is None:
            p = self.params
            tick = self._ladder_of(view.code)(view.best_bid)
            t2 = tick * tick
            fv = self._fair[view.code] = _Fair(
                FairValueFilter(
                    LocalLevelParams(q_per_s=p.fair_q_ticks2_per_s * t2),
                    r_mid=p.fair_r_mid_ticks2 * t2,
                    r_trade=p.fair_r_trade_ticks2 * t2,
                )
            )
        # A new print: the last trade changed, or trades of known side arrived since the last
        # look (a repeat at the same price).
        if math.isfinite(sig.last_trade) and (
            sig.last_trade != fv.last_trade or sig.trade_flow != 0
        ):
            fv.filter.observe_trade(view.exch_ts, sig.last_trade)
            fv.last_trade = sig.last_trade
        if math.isfinite(sig.mid):
            fv.filter.observe_mid(view.exch_ts, sig.mid)
        return fv.filter.fair

    def on_market(self, view: MarketView, ctx: StrategyContext) -> Sequence[StrategyAction]:
        fair = self.fair_value(view)
        # The fair value takes the microprice's place in the fusion (NaN: no lean).
        fused = view._replace(signals=view.signals._replace(microprice=fair))
        return self._trade.on_market(fused, ctx)

    def on_placed(self, tag: str, order: Order | None) -> None:
        self._trade.on_placed(tag, order)

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Sequence[StrategyAction]:
        return self._trade.on_fill(fill, ctx)

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> Sequence[StrategyAction]:
        return self._trade.on_order(update, ctx)

    def describe(self) -> dict[str, str]:
        """The dashboard's strategy panel: ofi_momentum's rules and parents, with this
        fusion's weights and the fair-value filter's noises."""
        p = self.params
        out = momentum_rules(p)
        out["fusion"] = (
            f"w_ofi {p.w_ofi:g} (scale {p.ofi_scale:g}), w_fair {p.w_fair:g},"
            f" w_imbalance {p.w_imbalance:g}"
        )
        out["fair value"] = (
            f"Kalman q {p.fair_q_ticks2_per_s:g}/s, r mid {p.fair_r_mid_ticks2:g},"
            f" r trade {p.fair_r_trade_ticks2:g} (ticks^2); {len(self._fair)} codes"
        )
        return self._trade.parents(out)
