"""Signals against their reference formulas, computed by hand or by plain loops."""

from __future__ import annotations

import math

import numpy as np
from shijim.strategy.signals import (
    SignalSnapshot,
    SignalWeights,
    depth_imbalance,
    fold_levels,
    fused_urgency,
    microprice,
    mlofi_reference,
    populated_depth,
    usable_books,
)


def test_microprice_leans_to_the_thin_side() -> None:
    m = microprice(np.array([100.0]), np.array([30.0]), np.array([101.0]), np.array([10.0]))
    # (100*10 + 101*30) / 40 = 100.75: more bids => the ask is likelier to trade next
    assert m[0] == 100.75
    empty = microprice(np.array([100.0]), np.array([0.0]), np.array([102.0]), np.array([0.0]))
    assert empty[0] == 101.0


def test_depth_imbalance_matches_sums() -> None:
    bq = np.array([[5, 5, 0, 0, 0], [0, 0, 0, 0, 0]])
    aq = np.array([[1, 1, 1, 1, 0], [0, 0, 0, 0, 0]])
    out = depth_imbalance(bq, aq)
    assert out[0] == (10 - 4) / 14
    assert out[1] == 0.0
    assert depth_imbalance(bq, aq, levels=1)[0] == (5 - 1) / 6


def _mlofi_loops(bp, bq, ap, aq):
    n, levels = bp.shape
    out = [[0.0] * levels for _ in range(n)]
    for i in range(1, n):
        for m in range(levels):
            e = 0.0
            if bp[i][m] >= bp[i - 1][m]:
                e += bq[i][m]
            if bp[i][m] <= bp[i - 1][m]:
                e -= bq[i - 1][m]
            if ap[i][m] <= ap[i - 1][m]:
                e -= aq[i][m]
            if ap[i][m] >= ap[i - 1][m]:
                e += aq[i - 1][m]
            out[i][m] = e
    return np.array(out)


def test_mlofi_reference_equals_paper_loops_on_random_books() -> None:
    rng = np.random.default_rng(3)
    n = 200
    mid = 20000 + np.cumsum(rng.integers(-1, 2, n))
    bp = mid[:, None] - 1 - np.arange(5)[None, :]
    ap = mid[:, None] + 1 + np.arange(5)[None, :]
    bq = rng.integers(0, 30, (n, 5))
    aq = rng.integers(0, 30, (n, 5))
    got = mlofi_reference(bp.astype(float), bq, ap.astype(float), aq)
    assert np.array_equal(got, _mlofi_loops(bp, bq, ap, aq))
    assert np.all(got[0] == 0)


def test_populated_depth_and_usable_rows() -> None:
    bp = np.array([[10.0, 9.9, 0.0], [10.0, 9.9, 9.8]])
    ap = np.array([[10.1, 10.2, 10.3], [10.1, 10.2, 10.3]])
    assert populated_depth(bp, ap) == 2
    assert populated_depth(bp[:0], ap[:0]) == 0
    q = np.ones((3, 3))
    rows = usable_books(
        np.array([[10.0] * 3, [10.2] * 3, [math.nan] * 3]), q, np.array([[10.1] * 3] * 3), q
    )
    assert rows.tolist() == [True, False, False]  # crossed, NaN


def test_fold_levels_and_urgency_sign() -> None:
    rows = np.array([[2.0, 4.0, 8.0]])
    assert fold_levels(rows, 0.5)[0] == 2 + 2 + 2
    w = SignalWeights(ofi=1.0, microprice=0.0, imbalance=0.0, ofi_scale=10.0)
    buy_pressure = SignalSnapshot(ofi=50.0, microprice=100.5, mid=100.5, spread=1.0)
    assert fused_urgency(buy_pressure, +1, w) == math.tanh(5.0)
    assert fused_urgency(buy_pressure, -1, w) == -math.tanh(5.0)
    w2 = SignalWeights(ofi=0.0, microprice=1.0, imbalance=0.0)
    at_ask = SignalSnapshot(microprice=101.0, mid=100.5, spread=1.0)
    assert fused_urgency(at_ask, +1, w2) == 1.0


def test_fold_levels_can_stop_at_a_depth() -> None:
    rows = np.array([[2.0, 4.0, 8.0]])
    assert fold_levels(rows, 0.5, 1)[0] == 2.0
    assert fold_levels(rows, 0.5, 2)[0] == 4.0


def _books(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mid = 100.0 + np.cumsum(rng.integers(-1, 2, n)).astype(np.float64)
    steps = np.arange(5, dtype=np.float64)
    bid_px = mid[:, None] - 1 - steps
    ask_px = mid[:, None] + 1 + steps
    bid_qty = rng.integers(1, 30, (n, 5)).astype(np.float64)
    ask_qty = rng.integers(1, 30, (n, 5)).astype(np.float64)
    return bid_px, bid_qty, ask_px, ask_qty


def test_book_table_folds_only_the_configured_levels() -> None:
    from shijim.strategy.books import BookTable

    books = _books(40, 3)
    e = mlofi_reference(*books)
    for levels in (1, 3, 5):
        expected = float((e[:, :levels] * 0.5 ** np.arange(levels)).sum())
        batch, rows = BookTable(levels=levels), BookTable(levels=levels)
        batch.apply_bidasks("X", *books, 1, 1)  # the batch (numpy) path
        for i in range(len(books[0])):  # the per-row (streaming) path
            rows.apply_bidask_row("X", *(b[i] for b in books), i, i)
        assert math.isclose(batch.book("X").take_signals().ofi, expected, abs_tol=1e-9)
        assert math.isclose(rows.book("X").take_signals().ofi, expected, abs_tol=1e-9)
