"""Synthetic L5 books shared by the algo tests: a random walk with thin books, zero volumes,
NaN deeper levels and bad rows (crossed, empty side, NaN best) mixed in."""

from __future__ import annotations

import numpy as np

LEVELS = 5


def walk(n: int, seed: int, bad_every: int = 37) -> tuple[np.ndarray, ...]:
    """(bid_px, bid_qty, ask_px, ask_qty), each (n, 5) float64; tick 0.5."""
    rng = np.random.default_rng(seed)
    bid = 20000.0 + 0.5 * np.cumsum(rng.integers(-2, 3, size=n))
    spread = 0.5 * rng.integers(1, 3, size=n)
    depth = rng.integers(1, LEVELS + 1, size=n)
    m = np.arange(LEVELS)
    bid_px = bid[:, None] - 0.5 * m
    ask_px = (bid + spread)[:, None] + 0.5 * m
    bid_qty = rng.integers(0, 30, size=(n, LEVELS)).astype(np.float64)
    ask_qty = rng.integers(0, 30, size=(n, LEVELS)).astype(np.float64)
    thin = m[None, :] >= depth[:, None]
    for a in (bid_px, ask_px, bid_qty, ask_qty):
        a[thin] = 0.0
    # Some deeper empty levels as NaN prices (pandas-style data), with junk quantities.
    nan_deep = thin & (rng.random((n, LEVELS)) < 0.3)
    bid_px[nan_deep] = np.nan
    bid_qty[nan_deep] = 7.0
    # Bad rows.
    for r in range(5, n, bad_every):
        kind = (r // bad_every) % 4
        if kind == 0:
            ask_px[r, 0] = bid_px[r, 0]  # locked
        elif kind == 1:
            bid_px[r, 0] = np.nan
        elif kind == 2:
            ask_px[r, :] = 0.0  # empty ask side
            ask_qty[r, :] = 0.0
        else:
            bid_qty[r, 0] = -1.0
    return bid_px, bid_qty, ask_px, ask_qty
