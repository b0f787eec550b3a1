"""L5 book features, computed by the Rust kernel (``shijim_core.l5_features`` /
``shijim_core.L5Features``; formulas, papers and signs in docs/signals.md).

Columns (``FEATURE_NAMES``): mid, spread, microprice, weighted mid, depth imbalance per level
and cumulative, bid/ask book slope, book pressure, OFI (Cont-Kukanov-Stoikov, ``ofi_l1``) and
MLOFI per level (Xu-Gould-Howison), log return and realised variance of the mid (event time),
populated depth. In event time: one row per book. In clock time: ``l5_features_on_grid``
resamples the books on a time grid first (previous tick) and runs the same kernel.

A book the kernel refuses (crossed, an empty side, NaN or a bad quantity at the best level)
gives a NaN row with ``ok`` False; the next book is compared with the last good one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import shijim_core
from shijim.algo.microstructure import as_f64, resample_books

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FEATURE_NAMES: tuple[str, ...] = tuple(shijim_core.L5_FEATURE_NAMES)


@dataclass(frozen=True)
class FeatureFrame:
    """One row per book (``FEATURE_NAMES`` columns)."""

    values: F64  # (N, 25)
    ok: BoolArray
    first_error: str | None  # the first refusal, naming the array, row and level

    def column(self, name: str) -> F64:
        return self.values[:, FEATURE_NAMES.index(name)]

    @property
    def refused(self) -> int:
        return int((~self.ok).sum())


def l5_features(
    bid_px: npt.ArrayLike,
    bid_qty: npt.ArrayLike,
    ask_px: npt.ArrayLike,
    ask_qty: npt.ArrayLike,
    levels: int = 5,
    rv_halflife: float = 100.0,
) -> FeatureFrame:
    """Features of N books in event time: (N, L) arrays, L <= 5, best level first; empty levels
    as price 0 (or NaN) beyond the best. ``rv_halflife`` in books."""
    out, ok, first = shijim_core.l5_features(
        as_f64(bid_px), as_f64(bid_qty), as_f64(ask_px), as_f64(ask_qty), levels, rv_halflife
    )
    return FeatureFrame(out, ok, first)


def l5_features_from_rows(
    rows: npt.NDArray[np.void], levels: int = 5, rv_halflife: float = 100.0
) -> FeatureFrame:
    """Features of the ring's BidAsk rows (``shijim_core.BIDASK_DTYPE``), trial-match books
    (``simtrade``) excluded by the caller."""
    return l5_features(
        rows["bid_px"], rows["bid_qty"], rows["ask_px"], rows["ask_qty"], levels, rv_halflife
    )


def l5_features_on_grid(
    t_ns: npt.ArrayLike,
    bid_px: npt.ArrayLike,
    bid_qty: npt.ArrayLike,
    ask_px: npt.ArrayLike,
    ask_qty: npt.ArrayLike,
    grid: npt.ArrayLike,
    levels: int = 5,
    rv_halflife: float = 100.0,
) -> FeatureFrame:
    """Features in clock time: the book in force at each grid time (the last at or before it),
    then the same kernel; OFI and returns are then between consecutive grid times, and
    ``rv_halflife`` counts grid steps. Grid times before the first book are refused rows."""
    books = resample_books(t_ns, bid_px, bid_qty, ask_px, ask_qty, grid)
    return l5_features(*books, levels=levels, rv_halflife=rv_halflife)


class L5FeatureStream:
    """The same kernel one book at a time (live: feed each admitted book). ``update`` returns
    the (25,) row; a refused book raises ValueError and leaves the stream as it was."""

    def __init__(self, levels: int = 5, rv_halflife: float = 100.0) -> None:
        self._k = shijim_core.L5Features(levels, rv_halflife)

    def update(
        self,
        bid_px: npt.ArrayLike,
        bid_qty: npt.ArrayLike,
        ask_px: npt.ArrayLike,
        ask_qty: npt.ArrayLike,
    ) -> F64:
        return self._k.update(as_f64(bid_px), as_f64(bid_qty), as_f64(ask_px), as_f64(ask_qty))

    def update_dict(
        self,
        bid_px: npt.ArrayLike,
        bid_qty: npt.ArrayLike,
        ask_px: npt.ArrayLike,
        ask_qty: npt.ArrayLike,
    ) -> dict[str, float]:
        row = self.update(bid_px, bid_qty, ask_px, ask_qty)
        return dict(zip(FEATURE_NAMES, row.tolist(), strict=True))

    def reset(self) -> None:
        """Forget the previous book (a feed gap, a new session)."""
        self._k.reset()
