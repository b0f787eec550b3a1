"""Lead-lag between two asynchronously observed prices: the Hayashi-Yoshida cross-covariance
and correlation over a lag grid (Hoffmann, Rosenbaum & Yoshida 2013), the best lag and the
lead-lag ratio (Huth & Abergel 2014), computed in Rust (``shijim_core.hayashi_yoshida`` /
``shijim_core.LeadLag``; docs/signals.md).

Sign: a **positive lag means X leads Y** (Y's moves follow X's by that much); a lead-lag
ratio above 1 means X leads. Times are int64 ns, so sub-millisecond lags are exact; each
series must be sorted by time (an observation earlier than its predecessor is dropped and
counted; equal time stamps keep the last price).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import shijim_core
from shijim.algo.microstructure import as_f64, as_i64

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def lag_grid(max_lag_ns: int, step_ns: int) -> I64:
    """Symmetric lags -max..+max in steps (0 included)."""
    if step_ns <= 0 or max_lag_ns < 0:
        raise ValueError(
            f"lag_grid: need step_ns > 0 and max_lag_ns >= 0, got {step_ns}, {max_lag_ns}"
        )
    k = max_lag_ns // step_ns
    return np.arange(-k, k + 1, dtype=np.int64) * step_ns


@dataclass(frozen=True)
class LeadLagResult:
    lags: I64
    cov: F64  # Hayashi-Yoshida covariance of log returns, per lag
    corr: F64  # cov / sqrt(RV_x RV_y)
    best_lag: int | None  # ns; None without any covariation
    best_corr: float
    lead_lag_ratio: float  # sum_{lag>0} cov^2 / sum_{lag<0} cov^2: > 1, X leads
    rv_x: float
    rv_y: float
    counts: dict[str, int]  # x_used, x_dropped, x_merged, y_...

    @classmethod
    def from_core(cls, d: dict[str, Any]) -> LeadLagResult:
        counts = {
            f"{s}_{k}": int(d[f"{s}_{k}"])
            for s in ("x", "y")
            for k in ("used", "dropped", "merged")
        }
        return cls(
            lags=d["lags"],
            cov=d["cov"],
            corr=d["corr"],
            best_lag=d["best_lag"],
            best_corr=float(d["best_corr"]),
            lead_lag_ratio=float(d["lead_lag_ratio"]),
            rv_x=float(d["rv_x"]),
            rv_y=float(d["rv_y"]),
            counts=counts,
        )

    @property
    def leader(self) -> str | None:
        """ "x", "y" or None (no evidence either way)."""
        r = self.lead_lag_ratio
        if np.isnan(r) or r == 1.0:
            return None
        return "x" if r > 1 else "y"


def hayashi_yoshida(
    t_x: npt.ArrayLike,
    x: npt.ArrayLike,
    t_y: npt.ArrayLike,
    y: npt.ArrayLike,
    lags: npt.ArrayLike,
    log_prices: bool = True,
) -> LeadLagResult:
    """Lead-lag of X and Y over ``lags`` (ns, strictly increasing). Prices in logs by default
    (``log_prices=False``: the values' own increments, e.g. for a spread)."""
    d = shijim_core.hayashi_yoshida(
        as_i64(t_x), as_f64(x), as_i64(t_y), as_f64(y), as_i64(lags), log_prices
    )
    return LeadLagResult.from_core(d)


class LeadLagStream:
    """The same estimator fed live: ``push_x`` / ``push_y`` (each series in time order; a
    refused observation raises ValueError and is counted), ``result()`` as if the stream ended
    now, ``finish()`` to end it. Memory stays within the lag window."""

    def __init__(self, lags: npt.ArrayLike, log_prices: bool = True) -> None:
        self._k = shijim_core.LeadLag(as_i64(lags), log_prices)

    def push_x(self, t_ns: int, price: float) -> None:
        self._k.push_x(t_ns, price)

    def push_y(self, t_ns: int, price: float) -> None:
        self._k.push_y(t_ns, price)

    def result(self) -> LeadLagResult:
        return LeadLagResult.from_core(self._k.result())

    def finish(self) -> LeadLagResult:
        return LeadLagResult.from_core(self._k.finish())
