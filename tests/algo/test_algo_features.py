"""L5 features (shijim.algo.features over shijim_core): golden values from an independent
reference written here (plain loops over the formulas of docs/signals.md), streaming equals
batch bit for bit, bad input gives the documented result, and clock time is the same kernel on
resampled books."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from algo_books import walk
from shijim.algo import features as F
from shijim.algo.microstructure import resample_books, time_grid

import shijim_core


def _ok_price(p: float) -> bool:
    return math.isfinite(p) and p > 0


def reference(bid_px, bid_qty, ask_px, ask_qty, levels=5, rv_halflife=100.0):
    """Row by row from the definitions: (values (N, 25), ok (N,))."""
    n = len(bid_px)
    out = np.full((n, 25), np.nan)
    ok = np.zeros(n, dtype=bool)
    decay = 0.5 ** (1.0 / rv_halflife)
    prev = None  # (bid_px, bid_qty, ask_px, ask_qty, depth, mid) of the last good book
    rv = 0.0
    for r in range(n):
        b, qb, a, qa = bid_px[r], bid_qty[r], ask_px[r], ask_qty[r]
        # Refusals: best level present, not crossed, valid quantities wherever a price is.
        if not (_ok_price(b[0]) and _ok_price(a[0]) and b[0] < a[0]):
            continue
        priced = [
            (p, q)
            for side_p, side_q in ((b, qb), (a, qa))
            for p, q in zip(side_p, side_q, strict=True)
            if _ok_price(p)
        ]
        if any(not (q >= 0 and float(q).is_integer()) for _, q in priced):
            continue
        d = 1
        while (
            d < levels
            and _ok_price(b[d])
            and _ok_price(a[d])
            and b[d] < b[d - 1]
            and a[d] > a[d - 1]
        ):
            d += 1
        ok[r] = True
        row = out[r]
        mid = (b[0] + a[0]) / 2
        row[0] = mid
        row[1] = a[0] - b[0]
        row[2] = (b[0] * qa[0] + a[0] * qb[0]) / (qb[0] + qa[0]) if qb[0] + qa[0] > 0 else mid
        sb, sa = qb[:d].sum(), qa[:d].sum()
        vb = (b[:d] * qb[:d]).sum() / sb if sb > 0 else b[0]
        va = (a[:d] * qa[:d]).sum() / sa if sa > 0 else a[0]
        row[3] = (vb * sa + va * sb) / (sa + sb) if sa + sb > 0 else mid
        for m in range(5):
            if m < d:
                t = qb[m] + qa[m]
                row[4 + m] = (qb[m] - qa[m]) / t if t > 0 else 0.0
                cb, ca = qb[: m + 1].sum(), qa[: m + 1].sum()
                row[9 + m] = (cb - ca) / (cb + ca) if cb + ca > 0 else 0.0
        dist_b = mid - b[:d]
        dist_a = a[:d] - mid
        row[14] = (dist_b * np.cumsum(qb[:d])).sum() / (dist_b**2).sum()
        row[15] = (dist_a * np.cumsum(qa[:d])).sum() / (dist_a**2).sum()
        pb, pa = (qb[:d] / dist_b).sum(), (qa[:d] / dist_a).sum()
        row[16] = (pb - pa) / (pb + pa) if pb + pa > 0 else 0.0
        row[17:22] = 0.0
        ret = 0.0
        if prev is not None:
            pbp, pbq, pap, paq, pd, pmid = prev
            for m in range(min(d, pd)):
                e = 0.0
                if b[m] >= pbp[m]:
                    e += qb[m]
                if b[m] <= pbp[m]:
                    e -= pbq[m]
                if a[m] <= pap[m]:
                    e -= qa[m]
                if a[m] >= pap[m]:
                    e += paq[m]
                row[17 + m] = e
            ret = math.log(mid / pmid)
        rv = decay * rv + ret * ret
        row[22] = ret
        row[23] = rv
        row[24] = d
        prev = (b, qb, a, qa, d, mid)
    return out, ok


@pytest.mark.parametrize(("levels", "seed"), [(5, 1), (3, 2), (1, 3)])
def test_golden_values_against_the_reference(levels: int, seed: int) -> None:
    arrays = walk(3000, seed)
    frame = F.l5_features(*arrays, levels=levels, rv_halflife=25.0)
    want, ok = reference(*arrays, levels=levels, rv_halflife=25.0)
    np.testing.assert_array_equal(frame.ok, ok)
    assert frame.refused == (~ok).sum() > 50
    np.testing.assert_allclose(frame.values, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    # Exact where the arithmetic is: spread, OFI, depth.
    for name in ("spread", "ofi_l1", "ofi_l2", "depth"):
        c = F.FEATURE_NAMES.index(name)
        np.testing.assert_array_equal(frame.values[ok, c], want[ok, c])
    assert frame.column("ofi_l1").shape == (3000,)


def test_stream_equals_batch_bit_for_bit() -> None:
    arrays = walk(1500, 9)
    frame = F.l5_features(*arrays, levels=4, rv_halflife=10.0)
    stream = F.L5FeatureStream(levels=4, rv_halflife=10.0)
    refused = 0
    for r in range(1500):
        try:
            row = stream.update(*(a[r] for a in arrays))
        except ValueError:
            refused += 1
            assert not frame.ok[r]
            assert np.isnan(frame.values[r]).all()
            continue
        assert frame.ok[r]
        assert row.tobytes() == frame.values[r].tobytes(), r
    assert refused == frame.refused


def test_bad_books_give_the_documented_results() -> None:
    s = F.L5FeatureStream()
    good = ([100.0, 99.5], [5.0, 5.0], [100.5, 101.0], [5.0, 5.0])
    s.update(*good)
    cases = [
        (([100.5, 99.5], [5, 5], [100.5, 101.0], [5, 5]), "crossed or locked"),
        (([np.nan, 99.5], [5, 5], [100.5, 101.0], [5, 5]), "bid_px[0] (level 0)"),
        (([100.0, 99.5], [5, 5], [0.0, 0.0], [0, 0]), "no best ask"),
        (([0.0, 0.0], [0, 0], [0.0, 0.0], [0, 0]), "no best bid"),
        (([100.0, 99.5], [5, np.nan], [100.5, 101.0], [5, 5]), "bid_qty[1] (level 1)"),
        (([100.0, 99.5], [5, 5], [100.5, 101.0], [5, -2]), "ask_qty[1]"),
        (([100.0], [2.5], [100.5], [5]), "whole number"),
    ]
    for book, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            s.update(*book)
    # The stream kept the good book: bid size +1 is OFI +1 at level 1.
    row = s.update_dict([100.0, 99.5], [6.0, 5.0], [100.5, 101.0], [5.0, 5.0])
    assert row["ofi_l1"] == 1.0 and row["log_return"] == 0.0
    # Zero volume: microprice and weighted mid = mid, imbalances 0.
    row = s.update_dict([100.0], [0.0], [100.5], [0.0])
    assert row["microprice"] == row["weighted_mid"] == row["mid"] == 100.25
    assert row["imbalance_l1"] == row["book_pressure"] == 0.0
    assert math.isnan(row["imbalance_l2"]) and row["depth"] == 1.0
    # A batch names the first refusal with its row.
    frame = F.l5_features([[100.0], [101.0]], [[1.0], [1.0]], [[100.5], [100.0]], [[1.0], [1.0]])
    assert frame.ok.tolist() == [True, False]
    assert frame.first_error is not None and frame.first_error.startswith("book[1] (row 1)")
    with pytest.raises(ValueError, match="levels"):
        F.l5_features(*walk(3, 1), levels=6)
    with pytest.raises(ValueError, match="ask_px has shape"):
        F.l5_features(np.zeros((3, 5)), np.zeros((3, 5)), np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="rv_halflife"):
        F.L5FeatureStream(rv_halflife=0.0)


def test_ofi_columns_are_the_core_mlofi_kernel() -> None:
    rng = np.random.default_rng(4)
    n = 800
    bid = 1000.0 + np.cumsum(rng.integers(-1, 2, size=n))
    m = np.arange(5)
    bp, ap = bid[:, None] - m, bid[:, None] + 1 + m
    bq = rng.integers(0, 9, size=(n, 5)).astype(float)
    aq = rng.integers(0, 9, size=(n, 5)).astype(float)
    frame = F.l5_features(bp, bq, ap, aq)
    cols = [F.FEATURE_NAMES.index(f"ofi_l{k}") for k in range(1, 6)]
    np.testing.assert_array_equal(frame.values[:, cols], shijim_core.mlofi(bp, bq, ap, aq))


def test_clock_time_is_the_same_kernel_on_resampled_books() -> None:
    arrays = walk(400, 5, bad_every=10_000)
    t = np.cumsum(np.random.default_rng(1).integers(1, 2_000_000, size=400)).astype(np.int64)
    grid = time_grid(int(t[0]) - 1_000_000, int(t[-1]), 5_000_000)
    frame = F.l5_features_on_grid(t, *arrays, grid=grid, rv_halflife=20.0)
    books = resample_books(t, *arrays, grid)
    direct = F.l5_features(*books, rv_halflife=20.0)
    assert frame.values.tobytes() == direct.values.tobytes()
    # The first grid time is before any book: refused; later ones carry the last book.
    assert not frame.ok[0] and frame.ok[1:].all()
    k = int(np.searchsorted(t, grid[5], side="right")) - 1
    assert frame.column("mid")[5] == (arrays[0][k, 0] + arrays[2][k, 0]) / 2


def test_ring_rows_go_in_as_they_are() -> None:
    bp, bq, ap, aq = walk(50, 3, bad_every=10_000)
    rows = np.zeros(50, dtype=shijim_core.BIDASK_DTYPE)
    rows["bid_px"], rows["ask_px"] = np.nan_to_num(bp), ap
    rows["bid_qty"], rows["ask_qty"] = np.where(np.isnan(bp), 0, bq), aq
    frame = F.l5_features_from_rows(rows)
    want = F.l5_features(np.nan_to_num(bp), np.where(np.isnan(bp), 0, bq), ap, aq)
    assert frame.values.tobytes() == want.values.tobytes()
