"""The equity series of a backtest and what a quant reads from it: Sharpe ratio, max drawdown.

Equity is the engine account's net PnL (realised + marked - fees, TWD), sampled at the end of
every bar of event time (default 1 s) in which market data arrived, and once more at the end.
Pure functions; the samples are taken by the backtest loop (shijim.backtest.adapter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shijim.trading_day import trading_day

TRADING_DAYS_PER_YEAR = 252


@dataclass
class EquitySeries:
    """Samples in time order: event time (ns), net PnL (TWD), net position per code (lots)."""

    codes: tuple[str, ...]
    t_ns: list[int] = field(default_factory=list)
    pnl: list[float] = field(default_factory=list)
    positions: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, t_ns: int, pnl: float, positions: Sequence[int]) -> None:
        if self.t_ns and t_ns < self.t_ns[-1]:
            t_ns = self.t_ns[-1]  # the engine's clock never goes back; be safe anyway
        self.t_ns.append(int(t_ns))
        self.pnl.append(float(pnl))
        self.positions.append(tuple(int(p) for p in positions))

    def __len__(self) -> int:
        return len(self.t_ns)

    def to_json(self) -> dict[str, object]:
        return {
            "codes": list(self.codes),
            "t_ns": self.t_ns,
            "pnl": self.pnl,
            "positions": [list(p) for p in self.positions],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> EquitySeries:
        s = cls(tuple(d["codes"]))  # type: ignore[arg-type]
        for t, p, pos in zip(d["t_ns"], d["pnl"], d["positions"], strict=True):  # type: ignore[call-overload]
            s.add(t, p, pos)
        return s


@dataclass(frozen=True)
class EquityStats:
    sharpe: float | None  # annualised; None with fewer than two bars or no variation
    max_drawdown: float  # TWD, from the running peak of equity (>= 0)
    bars: int
    days: int

    def describe(self) -> str:
        sharpe = "n/a" if self.sharpe is None else f"{self.sharpe:.2f}"
        return (
            f"Sharpe {sharpe} (annualised from {self.bars} bars over {self.days} trading "
            f"day(s)), max drawdown {self.max_drawdown:,.0f} TWD"
        )


def trading_days(t_ns: Sequence[int]) -> int:
    """Distinct trading days the samples fall on (the risk limits' day: a night session
    belongs to the next day; at least 1)."""
    return max(1, len({trading_day(t) for t in t_ns}))


def max_drawdown(pnl: Sequence[float]) -> float:
    """The largest fall of equity from a running peak (TWD, >= 0); the peak starts at 0, the
    equity of a backtest before its first fill."""
    if not pnl:
        return 0.0
    e = np.asarray(pnl, dtype=np.float64)
    peak = np.maximum.accumulate(np.maximum(e, 0.0))
    return float(np.max(peak - e))


def sharpe(pnl: Sequence[float], days: int) -> float | None:
    """Annualised Sharpe ratio of the PnL changes between samples: mean / std (sample) of the
    bar changes, times sqrt(bars per trading day x 252). With iid bars this is the daily
    Sharpe times sqrt(252); the risk-free rate is taken as 0 (intraday, no capital tied up)."""
    if len(pnl) < 3:
        return None
    d = np.diff(np.concatenate([[0.0], np.asarray(pnl, dtype=np.float64)]))
    sd = float(np.std(d, ddof=1))
    if not sd > 0 or not math.isfinite(sd):
        return None
    bars_per_day = d.size / max(1, days)
    return float(np.mean(d) / sd * math.sqrt(bars_per_day * TRADING_DAYS_PER_YEAR))


def stats(series: EquitySeries) -> EquityStats:
    days = trading_days(series.t_ns)
    return EquityStats(sharpe(series.pnl, days), max_drawdown(series.pnl), len(series), days)
