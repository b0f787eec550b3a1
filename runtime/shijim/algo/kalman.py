"""Kalman filters (Rust kernels ``shijim_core.local_level_filter`` / ``LocalLevelFilter`` and
``hedge_ratio_filter`` / ``HedgeRatioFilter``; models in docs/signals.md):

- **fair value**: a local-level model, the fair price a random walk (variance ``q_per_s`` per
  second plus ``q_per_obs`` per step) seen through noisy mids (variance ``r_mid``) and trades
  (``r_trade``): ``fair_value`` over recorded data, ``FairValueFilter`` live;
- **dynamic hedge ratio** for pairs (TXF vs MXF, TXF vs 2330): ``y = alpha + beta x + noise``
  with alpha and beta random walks: ``hedge_ratio`` (rows already paired), ``hedge_ratio_on_grid``
  (two asynchronous series put on a clock grid first), ``HedgeRatioFilter`` live.

NaN observations are missing: the filter only predicts (the state is carried, never NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import shijim_core
from shijim.algo.microstructure import as_f64, as_i64, previous_tick

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LOCAL_LEVEL_NAMES: tuple[str, ...] = tuple(shijim_core.LOCAL_LEVEL_NAMES)
HEDGE_RATIO_NAMES: tuple[str, ...] = tuple(shijim_core.HEDGE_RATIO_NAMES)


@dataclass(frozen=True)
class LocalLevelParams:
    q_per_s: float  # price^2 per second of clock time
    q_per_obs: float = 0.0  # price^2 per step
    x0: float = math.nan  # NaN: start from the first observation
    p0: float = 0.0


@dataclass(frozen=True)
class LevelFrame:
    values: F64  # (N, 6): LOCAL_LEVEL_NAMES
    ok: BoolArray
    first_error: str | None

    def column(self, name: str) -> F64:
        return self.values[:, LOCAL_LEVEL_NAMES.index(name)]

    @property
    def x(self) -> F64:
        return self.column("x")

    @property
    def p(self) -> F64:
        return self.column("p")


def local_level(
    t_ns: npt.ArrayLike, y: npt.ArrayLike, r: npt.ArrayLike, params: LocalLevelParams
) -> LevelFrame:
    """The local-level filter over observations ``y`` (NaN: missing) with variances ``r``."""
    out, ok, first = shijim_core.local_level_filter(
        as_i64(t_ns), as_f64(y), as_f64(r), params.q_per_s, params.q_per_obs, params.x0, params.p0
    )
    return LevelFrame(out, ok, first)


def fair_value(
    t_mid: npt.ArrayLike,
    mid: npt.ArrayLike,
    t_trade: npt.ArrayLike,
    trade_px: npt.ArrayLike,
    params: LocalLevelParams,
    r_mid: float,
    r_trade: float,
) -> tuple[I64, LevelFrame]:
    """Fair price from mids and trades merged in time order (a trade after the mid of the same
    time stamp): (times, frame), one row per observation."""
    tm, tt = as_i64(t_mid), as_i64(t_trade)
    t = np.concatenate((tm, tt))
    y = np.concatenate((as_f64(mid), as_f64(trade_px)))
    r = np.concatenate((np.full(tm.size, r_mid), np.full(tt.size, r_trade)))
    order = np.argsort(t, kind="stable")
    return t[order], local_level(t[order], y[order], r[order], params)


class FairValueFilter:
    """Live fair value: ``observe_mid`` / ``observe_trade`` return the fair price after the
    observation (NaN before the first); a refused observation raises ValueError."""

    def __init__(self, params: LocalLevelParams, r_mid: float, r_trade: float) -> None:
        self._k = shijim_core.LocalLevelFilter(
            params.q_per_s, params.q_per_obs, params.x0, params.p0
        )
        self.r_mid = r_mid
        self.r_trade = r_trade

    def observe_mid(self, t_ns: int, mid: float) -> float:
        return self._k.step(t_ns, mid, self.r_mid)[0]

    def observe_trade(self, t_ns: int, price: float) -> float:
        return self._k.step(t_ns, price, self.r_trade)[0]

    @property
    def fair(self) -> float:
        return self._k.x

    @property
    def variance(self) -> float:
        return self._k.p


@dataclass(frozen=True)
class HedgeRatioParams:
    q_alpha: float  # per-step random-walk variance of the intercept (0: fixed)
    q_beta: float  # per-step random-walk variance of the hedge ratio
    r: float  # observation variance
    alpha0: float = 0.0
    beta0: float = 0.0
    p0_alpha: float = 1.0
    p0_beta: float = 1.0


@dataclass(frozen=True)
class HedgeFrame:
    values: F64  # (N, 9): HEDGE_RATIO_NAMES
    ok: BoolArray
    first_error: str | None

    def column(self, name: str) -> F64:
        return self.values[:, HEDGE_RATIO_NAMES.index(name)]

    @property
    def beta(self) -> F64:
        return self.column("beta")

    @property
    def zscore(self) -> F64:
        return self.column("zscore")


def _hedge_args(p: HedgeRatioParams) -> tuple[float, ...]:
    return (p.q_alpha, p.q_beta, p.r, p.alpha0, p.beta0, p.p0_alpha, p.p0_beta)


def hedge_ratio(x: npt.ArrayLike, y: npt.ArrayLike, params: HedgeRatioParams) -> HedgeFrame:
    """The dynamic hedge ratio of paired observations (NaN in either: missing)."""
    out, ok, first = shijim_core.hedge_ratio_filter(as_f64(x), as_f64(y), *_hedge_args(params))
    return HedgeFrame(out, ok, first)


def hedge_ratio_on_grid(
    t_x: npt.ArrayLike,
    x: npt.ArrayLike,
    t_y: npt.ArrayLike,
    y: npt.ArrayLike,
    grid: npt.ArrayLike,
    params: HedgeRatioParams,
    log_prices: bool = True,
) -> HedgeFrame:
    """Two asynchronous series on a clock grid (previous tick; NaN before a series' first
    observation), in logs by default, then the hedge-ratio filter (one step per grid time)."""

    def on_grid(t: npt.ArrayLike, v: npt.ArrayLike) -> F64:
        idx = previous_tick(t, grid)
        vv = as_f64(v)
        g = np.where(idx >= 0, vv[np.maximum(idx, 0)], np.nan)
        if log_prices:
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.where(g > 0, np.log(g), np.nan)
        return g

    return hedge_ratio(on_grid(t_x, x), on_grid(t_y, y), params)


class HedgeRatioFilter:
    """Live hedge ratio: ``step(x, y)`` returns a dict of ``HEDGE_RATIO_NAMES``."""

    def __init__(self, params: HedgeRatioParams) -> None:
        self._k = shijim_core.HedgeRatioFilter(*_hedge_args(params))

    def step(self, x: float, y: float) -> dict[str, float]:
        return dict(zip(HEDGE_RATIO_NAMES, self._k.step(x, y), strict=True))

    @property
    def beta(self) -> float:
        return self._k.beta

    @property
    def alpha(self) -> float:
        return self._k.alpha
