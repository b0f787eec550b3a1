"""Trade-flow signals and clock time.

- ``trade_flow`` / ``TradeFlow``: each trade's sign (the reported aggressor, else Lee & Ready
  1991) and event-time exponentially weighted buy/sell volumes, signed volume and trade
  imbalance, computed by the Rust kernel (``shijim_core.trade_flow``; docs/signals.md).
- Clock time: ``time_grid`` and ``previous_tick`` put asynchronous observations on a regular
  grid (the last observation at or before each grid time); ``resample_books`` does it for L5
  books, so the same feature kernel runs in event time (on the books) and in clock time (on the
  grid). Flows are summed per grid interval (``sum_on_grid``: signed volume, buy and sell
  volume, trade imbalance) and ``realized_variance_on_grid`` is the sum of squared log returns
  of the previous-tick mid over a trailing window of grid steps.

Trade sides are the ring's tick-type codes: 0 unknown, 1 buyer-initiated, 2 seller-initiated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import shijim_core
from shijim.events import TickType

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TRADE_FLOW_NAMES: tuple[str, ...] = tuple(shijim_core.TRADE_FLOW_NAMES)


def as_f64(x: npt.ArrayLike) -> F64:
    return np.ascontiguousarray(x, dtype=np.float64)


def as_i64(x: npt.ArrayLike) -> I64:
    return np.ascontiguousarray(x, dtype=np.int64)


@dataclass(frozen=True)
class TradeFlowFrame:
    """One row per trade (``TRADE_FLOW_NAMES``); a refused trade has ``ok`` False and NaNs."""

    values: F64  # (N, 7)
    ok: BoolArray
    first_error: str | None

    def column(self, name: str) -> F64:
        return self.values[:, TRADE_FLOW_NAMES.index(name)]

    @property
    def refused(self) -> int:
        return int((~self.ok).sum())


def trade_flow(
    price: npt.ArrayLike,
    qty: npt.ArrayLike,
    side: npt.ArrayLike,
    mid: npt.ArrayLike | None = None,
    halflife: float = 50.0,
) -> TradeFlowFrame:
    """Signs and event-time flows of N trades (``halflife`` in trades; ``mid`` the prevailing
    mid per trade, None: no quote rule, only the tick rule for unknown sides)."""
    p = as_f64(price)
    m = np.full(p.shape, np.nan) if mid is None else as_f64(mid)
    out, ok, first = shijim_core.trade_flow(p, as_f64(qty), as_i64(side), m, halflife)
    return TradeFlowFrame(out, ok, first)


class TradeFlow:
    """The same, one trade at a time: ``update`` returns a dict of ``TRADE_FLOW_NAMES``;
    a refused trade raises ValueError and changes nothing."""

    def __init__(self, halflife: float = 50.0) -> None:
        self._k = shijim_core.TradeFlow(halflife)

    def update(
        self, price: float, qty: float, side: int = TickType.UNKNOWN, mid: float = float("nan")
    ) -> dict[str, float]:
        return dict(zip(TRADE_FLOW_NAMES, self._k.update(price, qty, side, mid), strict=True))

    def reset(self) -> None:
        self._k.reset()


# -- clock time --------------------------------------------------------------------------------
def time_grid(start_ns: int, end_ns: int, step_ns: int) -> I64:
    """Grid times start, start + step, ... <= end (ns)."""
    if step_ns <= 0:
        raise ValueError(f"step_ns: must be > 0, got {step_ns}")
    if end_ns < start_ns:
        raise ValueError(f"end_ns: {end_ns} is before start_ns {start_ns}")
    return np.arange(start_ns, end_ns + 1, step_ns, dtype=np.int64)


def _sorted_times(t: I64, name: str) -> None:
    if t.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {t.shape}")
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(f"{name}[{i}] = {t[i]}: times must not decrease (previous {t[i - 1]})")


def previous_tick(t_obs: npt.ArrayLike, grid: npt.ArrayLike) -> I64:
    """For each grid time, the index of the last observation at or before it (-1: none)."""
    t = as_i64(t_obs)
    g = as_i64(grid)
    _sorted_times(t, "t_obs")
    return np.searchsorted(t, g, side="right").astype(np.int64) - 1


def resample_books(
    t: npt.ArrayLike,
    bid_px: npt.ArrayLike,
    bid_qty: npt.ArrayLike,
    ask_px: npt.ArrayLike,
    ask_qty: npt.ArrayLike,
    grid: npt.ArrayLike,
) -> tuple[F64, F64, F64, F64]:
    """(N, L) books on the grid: the last book at or before each grid time. Grid times before
    the first book get an empty (NaN) book, which the feature kernel refuses (ok False)."""
    idx = previous_tick(t, grid)
    out = []
    for a in (bid_px, bid_qty, ask_px, ask_qty):
        arr = as_f64(a)
        if arr.ndim != 2:
            raise ValueError(f"book arrays must be (N, L), got shape {arr.shape}")
        r = arr[np.maximum(idx, 0)]
        r[idx < 0] = np.nan
        out.append(r)
    return out[0], out[1], out[2], out[3]


def sum_on_grid(t: npt.ArrayLike, values: npt.ArrayLike, grid: npt.ArrayLike) -> F64:
    """Sum of ``values`` over each grid interval (g[k-1], g[k]] (the first: (-inf, g[0]])."""
    tt = as_i64(t)
    v = as_f64(values)
    _sorted_times(tt, "t")
    if v.shape != tt.shape:
        raise ValueError(f"values has shape {v.shape}, t has {tt.shape}")
    csum = np.concatenate(([0.0], np.cumsum(v)))
    upto = np.searchsorted(tt, as_i64(grid), side="right")
    s = csum[upto]
    return np.diff(s, prepend=0.0)


def flow_on_grid(
    t: npt.ArrayLike, qty: npt.ArrayLike, sign: npt.ArrayLike, grid: npt.ArrayLike
) -> dict[str, F64]:
    """Buy, sell and signed volume and trade imbalance per grid interval, from trades' signs
    (``TradeFlowFrame.column("sign")``: +1, -1, 0; NaN rows count as 0)."""
    q = as_f64(qty)
    s = np.nan_to_num(as_f64(sign))
    buy = sum_on_grid(t, np.where(s > 0, q, 0.0), grid)
    sell = sum_on_grid(t, np.where(s < 0, q, 0.0), grid)
    total = buy + sell
    with np.errstate(invalid="ignore", divide="ignore"):
        imbalance = np.where(total > 0, (buy - sell) / total, 0.0)
    return {
        "buy_volume": buy,
        "sell_volume": sell,
        "signed_volume": buy - sell,
        "trade_imbalance": imbalance,
    }


def realized_variance_on_grid(
    t: npt.ArrayLike, mid: npt.ArrayLike, grid: npt.ArrayLike, window: int
) -> F64:
    """Sum of squared log returns of the previous-tick mid over the last ``window`` grid steps
    (NaN until the window is full of defined returns)."""
    if window < 1:
        raise ValueError(f"window: must be >= 1, got {window}")
    idx = previous_tick(t, grid)
    m = as_f64(mid)
    on_grid = np.where(idx >= 0, m[np.maximum(idx, 0)], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.diff(np.log(on_grid), prepend=np.nan) ** 2
    c = np.concatenate(([0.0], np.cumsum(np.nan_to_num(r2))))
    n = np.concatenate(([0], np.cumsum(~np.isnan(r2))))
    k = np.arange(1, r2.size + 1)
    lo = np.maximum(k - window, 0)
    out = c[k] - c[lo]
    full = (n[k] - n[lo]) == window
    return np.where(full, out, np.nan)
