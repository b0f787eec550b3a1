"""MLOFI (Xu, Gould & Howison 2019) and OFI (Cont, Kukanov & Stoikov 2014) from shijim_core.

The reference below is the paper's formula in plain Python loops, written independently of the
Rust kernel; every figure the core returns must equal it exactly.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import shijim_core

BENCH = Path(__file__).resolve().parents[2] / "bench" / "mlofi.py"


def paper_mlofi(
    bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray, ask_qty: np.ndarray
) -> list[list[float]]:
    """Xu-Gould-Howison, per level m:
    e_n^m = 1{b_n>=b_n-1} qb_n - 1{b_n<=b_n-1} qb_n-1 - 1{a_n<=a_n-1} qa_n + 1{a_n>=a_n-1} qa_n-1.
    """
    n_books, levels = len(bid_px), len(bid_px[0]) if len(bid_px) else 0
    out = [[0.0] * levels for _ in range(n_books)]
    for n in range(1, n_books):
        for m in range(levels):
            b, b0 = float(bid_px[n][m]), float(bid_px[n - 1][m])
            a, a0 = float(ask_px[n][m]), float(ask_px[n - 1][m])
            e = 0.0
            if b >= b0:
                e += float(bid_qty[n][m])
            if b <= b0:
                e -= float(bid_qty[n - 1][m])
            if a <= a0:
                e -= float(ask_qty[n][m])
            if a >= a0:
                e += float(ask_qty[n - 1][m])
            out[n][m] = e
    return out


def cont_ofi(bid_px: list[float], bid_qty: list[float], ask_px: list[float], ask_qty: list[float]):
    """Cont-Kukanov-Stoikov OFI of best quotes, written as their demand minus supply flows."""
    out = [0.0]
    for n in range(1, len(bid_px)):
        if bid_px[n] > bid_px[n - 1]:
            bid_flow = bid_qty[n]
        elif bid_px[n] == bid_px[n - 1]:
            bid_flow = bid_qty[n] - bid_qty[n - 1]
        else:
            bid_flow = -bid_qty[n - 1]
        if ask_px[n] < ask_px[n - 1]:
            ask_flow = ask_qty[n]
        elif ask_px[n] == ask_px[n - 1]:
            ask_flow = ask_qty[n] - ask_qty[n - 1]
        else:
            ask_flow = -ask_qty[n - 1]
        out.append(float(bid_flow - ask_flow))
    return out


def random_books(
    rng: np.random.Generator, n: int, levels: int = 5, tick: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A walk with unchanged books, moves up and down, whole-book level shifts and gaps between
    levels, so every branch of the indicator functions is taken at every level."""
    bid_px = np.empty((n, levels))
    ask_px = np.empty((n, levels))
    best_bid = 20000.0
    for i in range(n):
        r = rng.random()
        if r < 0.3:
            pass  # same best prices: equal-price branch
        elif r < 0.9:
            best_bid += tick * rng.integers(-3, 4)  # move, sometimes by several levels
        else:
            best_bid += tick * rng.choice([-1, 1])  # one-level shift of the whole book
        spread = tick * rng.integers(1, 4)
        gaps_b = tick * rng.integers(1, 3, size=levels - 1)
        gaps_a = tick * rng.integers(1, 3, size=levels - 1)
        bid_px[i, 0] = best_bid
        ask_px[i, 0] = best_bid + spread
        bid_px[i, 1:] = best_bid - np.cumsum(gaps_b)
        ask_px[i, 1:] = best_bid + spread + np.cumsum(gaps_a)
    bid_qty = rng.integers(0, 60, size=(n, levels)).astype(np.int64)
    ask_qty = rng.integers(0, 60, size=(n, levels)).astype(np.int64)
    return bid_px, bid_qty, ask_px, ask_qty


@pytest.fixture
def books() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return random_books(np.random.default_rng(20190601), 400)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("quantity", ["int64", "float64"])
def test_matches_the_papers_formula(seed: int, quantity: str) -> None:
    bp, bq, ap, aq = random_books(np.random.default_rng(seed), 300)
    got = shijim_core.mlofi(bp, bq.astype(quantity), ap, aq.astype(quantity))
    assert got.dtype == np.float64
    assert got.shape == (300, 5)
    assert got.tolist() == paper_mlofi(bp, bq, ap, aq)
    # Every branch was exercised: equal, higher and lower prices at every level.
    for px in (bp, ap):
        d = np.diff(px, axis=0)
        assert ((d == 0).any(axis=0) & (d > 0).any(axis=0) & (d < 0).any(axis=0)).all()


def test_fractional_float_quantities(books) -> None:
    bp, bq, ap, aq = books
    bqf, aqf = bq / 3.0, aq * 0.25
    np.testing.assert_allclose(
        shijim_core.mlofi(bp, bqf, ap, aqf), paper_mlofi(bp, bqf, ap, aqf), rtol=0, atol=1e-9
    )


def test_hand_computed_level_one() -> None:
    bp = np.array([[100.0], [101.0], [101.0], [100.0]])
    ap = np.array([[102.0], [102.0], [103.0], [101.0]])
    bq = np.array([[5], [7], [9], [4]])
    aq = np.array([[3], [6], [2], [8]])
    # bid up: +7, ask same: -(6-3) -> 4; bid same: 9-7, ask up: +6 -> 8; both down: -9-8 -> -17
    assert shijim_core.mlofi(bp, bq, ap, aq)[:, 0].tolist() == [0.0, 4.0, 8.0, -17.0]


def test_level_one_is_cont_ofi(books) -> None:
    bp, bq, ap, aq = books
    want = cont_ofi(bp[:, 0].tolist(), bq[:, 0].tolist(), ap[:, 0].tolist(), aq[:, 0].tolist())
    assert shijim_core.mlofi(bp, bq, ap, aq)[:, 0].tolist() == want
    assert shijim_core.mlofi(bp, bq, ap, aq, levels=1)[:, 0].tolist() == want


def test_levels_reads_the_first_columns(books) -> None:
    bp, bq, ap, aq = books
    full = shijim_core.mlofi(bp, bq, ap, aq)
    for levels in (1, 2, 3, 4, 5):
        got = shijim_core.mlofi(bp, bq, ap, aq, levels=levels)
        assert got.shape == (len(bp), levels)
        assert np.array_equal(got, full[:, :levels])


def test_any_memory_layout_reads_the_right_rows(books) -> None:
    bp, bq, ap, aq = books
    want = shijim_core.mlofi(bp, bq, ap, aq)
    # Fortran order, every other row, reversed rows, and a window of a wider array.
    fortran = [np.asfortranarray(x) for x in books]
    assert np.array_equal(shijim_core.mlofi(*fortran), want)
    assert np.array_equal(
        shijim_core.mlofi(bp[::2], bq[::2], ap[::2], aq[::2]),
        shijim_core.mlofi(*(np.ascontiguousarray(x[::2]) for x in books)),
    )
    rev = [x[::-1] for x in books]
    assert not rev[0].flags.c_contiguous
    assert np.array_equal(
        shijim_core.mlofi(*rev), shijim_core.mlofi(*(np.ascontiguousarray(x) for x in rev))
    )
    wide = [np.concatenate([x, x[:, -1:] * 0 + 1], axis=1) for x in books]
    window = [x[:, :5] for x in wide]
    assert not window[0].flags.c_contiguous
    assert np.array_equal(shijim_core.mlofi(*window), want)


def test_other_numeric_dtypes_and_sequences(books) -> None:
    bp, bq, ap, aq = books
    want = shijim_core.mlofi(bp, bq, ap, aq)
    assert np.array_equal(shijim_core.mlofi(bp.astype(">f8"), bq, ap, aq.astype(np.int32)), want)
    assert np.array_equal(shijim_core.mlofi(bp, bq.astype(np.uint16), ap, aq), want)
    small = [x[:6] for x in books]
    assert np.array_equal(
        shijim_core.mlofi(*(x.tolist() for x in small)), shijim_core.mlofi(*small)
    )


def test_ring_bidask_rows_feed_it_directly(books) -> None:
    # The ring's BIDASK_DTYPE shape: float64[5] prices, int64[5] quantities in one record.
    dt = np.dtype(
        [
            ("seq", np.uint64),
            ("bid_px", np.float64, 5),
            ("bid_qty", np.int64, 5),
            ("ask_px", np.float64, 5),
            ("ask_qty", np.int64, 5),
        ]
    )
    rec = np.zeros(len(books[0]), dtype=dt)
    for name, x in zip(("bid_px", "bid_qty", "ask_px", "ask_qty"), books, strict=True):
        rec[name] = x
    assert not rec["bid_px"].flags.c_contiguous
    got = shijim_core.mlofi(rec["bid_px"], rec["bid_qty"], rec["ask_px"], rec["ask_qty"])
    assert np.array_equal(got, shijim_core.mlofi(*books))


def test_empty_batch_and_single_book() -> None:
    empty = np.empty((0, 5))
    out = shijim_core.mlofi(empty, empty.astype(np.int64), empty, empty.astype(np.int64))
    assert out.shape == (0, 5)
    one = shijim_core.mlofi([[100.0]], [[1]], [[101.0]], [[2]])
    assert one.tolist() == [[0.0]]


def test_large_batch_equals_small_batches() -> None:
    # Big enough to take the GIL-released path; must equal the same rows computed in pieces.
    bp, bq, ap, aq = random_books(np.random.default_rng(5), 20000, levels=5)
    whole = shijim_core.mlofi(bp, bq, ap, aq)
    parts = [shijim_core.mlofi(bp[s:e], bq[s:e], ap[s:e], aq[s:e]) for s, e in ((0, 7), (6, 20000))]
    assert np.array_equal(whole[:7], parts[0])
    assert np.array_equal(whole[7:], parts[1][1:])


def test_numpy_benchmark_baseline_computes_the_same(books, monkeypatch) -> None:
    # bench/mlofi.py times a vectorised numpy version beside the core: it must be the same formula.
    monkeypatch.syspath_prepend(str(BENCH.parent))  # as when run as a script: bench/ on sys.path
    spec = importlib.util.spec_from_file_location("bench_mlofi", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert np.array_equal(bench.numpy_mlofi(*books), shijim_core.mlofi(*books))


# --- streaming -------------------------------------------------------------------------------


def test_stream_equals_batch(books) -> None:
    bp, bq, ap, aq = books
    batch = shijim_core.mlofi(bp, bq, ap, aq)
    stream = shijim_core.MlofiStream(5)
    assert stream.levels == 5
    rows = [stream.update(bp[i], bq[i], ap[i], aq[i]) for i in range(len(bp))]
    assert all(r.shape == (5,) and r.dtype == np.float64 for r in rows)
    assert np.array_equal(np.stack(rows), batch)


def test_stream_with_fewer_levels_reads_the_first_entries(books) -> None:
    bp, bq, ap, aq = books
    batch = shijim_core.mlofi(bp, bq, ap, aq, levels=3)
    stream = shijim_core.MlofiStream(3)
    rows = [stream.update(bp[i], bq[i], ap[i], aq[i]) for i in range(len(bp))]
    assert np.array_equal(np.stack(rows), batch)
    with pytest.raises(ValueError, match=r"ask_qty: 2 levels given, the stream needs 3"):
        stream.update(bp[0], bq[0], ap[0], aq[0][:2])


def test_stream_accepts_lists_and_float_quantities(books) -> None:
    bp, bq, ap, aq = books
    a, b = shijim_core.MlofiStream(5), shijim_core.MlofiStream(5)
    for i in range(20):
        ra = a.update(bp[i].tolist(), bq[i].tolist(), ap[i].tolist(), aq[i].tolist())
        rb = b.update(bp[i], bq[i].astype(float), ap[i], aq[i])
        assert np.array_equal(ra, rb)


def test_stream_first_update_and_reset_give_zeros(books) -> None:
    bp, bq, ap, aq = books
    stream = shijim_core.MlofiStream(5)
    assert stream.update(bp[0], bq[0], ap[0], aq[0]).tolist() == [0.0] * 5
    assert stream.update(bp[1], bq[1], ap[1], aq[1]).any()
    stream.reset()
    assert stream.update(bp[2], bq[2], ap[2], aq[2]).tolist() == [0.0] * 5
    assert np.array_equal(
        stream.update(bp[3], bq[3], ap[3], aq[3]),
        shijim_core.mlofi(bp[2:4], bq[2:4], ap[2:4], aq[2:4])[1],
    )


def test_stream_drops_a_bad_book(books) -> None:
    bp, bq, ap, aq = books
    stream = shijim_core.MlofiStream(5)
    stream.update(bp[0], bq[0], ap[0], aq[0])
    bad = bp[1].copy()
    bad[2] = math.nan
    with pytest.raises(ValueError, match=r"bid_px\[2\] \(level 2\) = NaN"):
        stream.update(bad, bq[1], ap[1], aq[1])
    # The next good book is compared with the last good one.
    got = stream.update(bp[2], bq[2], ap[2], aq[2])
    assert np.array_equal(got, shijim_core.mlofi(bp[[0, 2]], bq[[0, 2]], ap[[0, 2]], aq[[0, 2]])[1])


@pytest.mark.parametrize("levels", [0, -1])
def test_stream_rejects_bad_levels(levels: int) -> None:
    with pytest.raises(ValueError, match="levels"):
        shijim_core.MlofiStream(levels)


# --- bad input ------------------------------------------------------------------------------


def _corrupt(books, array: str, row: int, level: int, value: float):
    names = ("bid_px", "bid_qty", "ask_px", "ask_qty")
    out = [
        x.astype(np.float64) if name.endswith("qty") else x.copy()
        for name, x in zip(names, books, strict=True)
    ]
    out[names.index(array)][row, level] = value
    return out


@pytest.mark.parametrize(
    ("array", "row", "level", "value", "message"),
    [
        ("bid_px", 7, 2, math.nan, r"bid_px\[7, 2\] \(row 7, level 2\) = NaN: price is not finite"),
        ("ask_px", 3, 0, math.inf, r"ask_px\[3, 0\] \(row 3, level 0\) = inf: price is not finite"),
        ("bid_px", 0, 4, 0.0, r"bid_px\[0, 4\] \(row 0, level 4\) = 0: price is not positive"),
        ("ask_px", 9, 1, -5.0, r"ask_px\[9, 1\] \(row 9, level 1\) = -5: price is not positive"),
        ("bid_qty", 5, 3, math.nan, r"bid_qty\[5, 3\] \(row 5, level 3\) = NaN: quantity"),
        ("ask_qty", 8, 4, -1.0, r"ask_qty\[8, 4\] \(row 8, level 4\) = -1: quantity"),
        ("ask_qty", 2, 0, math.inf, r"ask_qty\[2, 0\] \(row 2, level 0\) = inf: quantity"),
        ("bid_qty", 2, 0, 2.0**50, r"bid_qty\[2, 0\] .*below 2\^50"),
        (
            "bid_px",
            4,
            1,
            1e9,
            r"bid_px\[4, 1\] \(row 4, level 1\) = 1000000000: bid price is not below",
        ),
        ("ask_px", 6, 3, 1.0, r"ask_px\[6, 3\] \(row 6, level 3\) = 1: ask price is not above"),
    ],
)
def test_bad_values_name_array_row_and_level(books, array, row, level, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        shijim_core.mlofi(*_corrupt(books, array, row, level, value))


@pytest.mark.parametrize("row", [1, 32, 33, 64, 65, 250, 399])
def test_errors_anywhere_in_a_long_batch(books, row: int) -> None:
    # Rows are validated in blocks; the first bad row must be found whatever block it is in.
    bp, bq, ap, aq = _corrupt(books, "ask_px", row, 2, math.nan)
    if row + 3 < len(bp):
        bp[row + 3, 0] = -1.0
    with pytest.raises(ValueError, match=rf"ask_px\[{row}, 2\] \(row {row}, level 2\) = NaN"):
        shijim_core.mlofi(bp, bq, ap, aq)
    with pytest.raises(ValueError, match=rf"ask_px\[{row}, 2\]"):
        shijim_core.mlofi(bp, bq, ap, aq, levels=3)  # the strided (row-by-row) kernel


def test_negative_integer_quantity(books) -> None:
    bp, bq, ap, aq = books
    bq = bq.copy()
    bq[11, 1] = -3
    with pytest.raises(ValueError, match=r"bid_qty\[11, 1\] \(row 11, level 1\) = -3"):
        shijim_core.mlofi(bp, bq, ap, aq)


@pytest.mark.parametrize("value", [np.iinfo(np.int64).max, np.iinfo(np.int64).min, 2**50])
def test_extreme_integer_quantities(books, value: int) -> None:
    bp, bq, ap, aq = books
    aq = aq.copy()
    aq[40, 3] = value
    with pytest.raises(ValueError, match=rf"ask_qty\[40, 3\] \(row 40, level 3\) = {value}"):
        shijim_core.mlofi(bp, bq, ap, aq)


def test_crossed_and_locked_books(books) -> None:
    bp, bq, ap, aq = books
    for best_ask in (bp[12, 0], bp[12, 0] - 0.5):  # locked, then crossed
        ap2 = ap.copy()
        ap2[12, 0] = best_ask
        with pytest.raises(ValueError, match=r"crossed book at row 12, level 0: best bid"):
            shijim_core.mlofi(bp, bq, ap2, aq)


def test_empty_twse_levels_are_an_error_unless_levels_excludes_them(books) -> None:
    bp, bq, ap, aq = (x.copy() for x in books)
    bp[:, 3:] = 0.0
    ap[:, 3:] = 0.0
    bq[:, 3:] = 0
    aq[:, 3:] = 0
    with pytest.raises(ValueError, match=r"bid_px\[0, 3\].*empty level\? pass levels="):
        shijim_core.mlofi(bp, bq, ap, aq)
    assert np.array_equal(
        shijim_core.mlofi(bp, bq, ap, aq, levels=3), shijim_core.mlofi(*books, levels=3)
    )


def test_shape_ndim_levels_and_dtype_errors(books) -> None:
    bp, bq, ap, aq = books
    with pytest.raises(ValueError, match=r"ask_px has shape \(399, 5\), bid_px has \(400, 5\)"):
        shijim_core.mlofi(bp, bq, ap[1:], aq)
    with pytest.raises(ValueError, match=r"bid_qty has shape \(400, 4\)"):
        shijim_core.mlofi(bp, bq[:, :4], ap, aq)
    with pytest.raises(
        ValueError, match=r"bid_px must be 2-D \(N, L\), got ndim 1 \(shape \(5,\)\)"
    ):
        shijim_core.mlofi(bp[0], bq, ap, aq)
    with pytest.raises(ValueError, match=r"ask_qty must be 2-D .*got ndim 3"):
        shijim_core.mlofi(bp, bq, ap, aq[None])
    with pytest.raises(ValueError, match=r"bid_px must be 1-D \(L,\), got ndim 2"):
        shijim_core.MlofiStream(5).update(bp, bq[0], ap[0], aq[0])
    for levels in (0, 6, -2):
        with pytest.raises(ValueError, match=rf"levels={levels} must be between 1 and"):
            shijim_core.mlofi(bp, bq, ap, aq, levels=levels)
    with pytest.raises(TypeError, match=r"bid_px: prices must be a real numeric dtype"):
        shijim_core.mlofi(bp.astype(object), bq, ap, aq)
    with pytest.raises(TypeError, match=r"ask_qty: quantities must be a real numeric dtype"):
        shijim_core.mlofi(bp, bq, ap, aq.astype(str))
    with pytest.raises(ValueError, match=r"at least one level"):
        z = np.empty((3, 0))
        shijim_core.mlofi(z, z, z, z)


def test_mlofi_valid_filters_a_batch(books) -> None:
    bp, bq, ap, aq = _corrupt(books, "bid_px", 5, 1, math.nan)
    ap[9, 0] = bp[9, 0]  # locked
    ok = shijim_core.mlofi_valid(bp, bq, ap, aq)
    assert ok.dtype == np.bool_ and ok.shape == (400,)
    assert np.flatnonzero(~ok).tolist() == [5, 9]
    kept = shijim_core.mlofi(*(x[ok] for x in (bp, bq, ap, aq)))
    assert kept.shape == (398, 5)
    # levels= ignores deeper levels for validity too: row 5's NaN is at level 1.
    assert np.flatnonzero(~shijim_core.mlofi_valid(bp, bq, ap, aq, levels=1)).tolist() == [9]
    with pytest.raises(ValueError, match=r"ask_px has shape"):
        shijim_core.mlofi_valid(bp, bq, ap[1:], aq)


def test_first_problem_in_reading_order_is_reported(books) -> None:
    bp, bq, ap, aq = _corrupt(books, "ask_px", 30, 0, math.nan)
    bp[20, 4] = -1.0
    with pytest.raises(ValueError, match=r"bid_px\[20, 4\]"):
        shijim_core.mlofi(bp, bq, ap, aq)


def first_problem(bp, bq, ap, aq) -> str | None:
    """The documented validation order, in plain Python: row by row; within a row, level by
    level prices (bid, ask) then quantities (bid, ask); then level order; then the best level."""
    for r in range(len(bp)):
        for m in range(len(bp[r])):
            for name, p in (("bid_px", bp[r][m]), ("ask_px", ap[r][m])):
                if not (math.isfinite(p) and p > 0):
                    return f"{name}[{r}, {m}]"
            for name, q in (("bid_qty", bq[r][m]), ("ask_qty", aq[r][m])):
                if not (math.isfinite(q) and 0 <= q < 2.0**50):
                    return f"{name}[{r}, {m}]"
        for m in range(1, len(bp[r])):
            if not bp[r][m] < bp[r][m - 1]:
                return f"bid_px[{r}, {m}]"
            if not ap[r][m] > ap[r][m - 1]:
                return f"ask_px[{r}, {m}]"
        if not bp[r][0] < ap[r][0]:
            return f"crossed book at row {r}, level 0"
    return None


def test_random_corruptions_report_the_documented_first_problem() -> None:
    rng = np.random.default_rng(77)
    values = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e12, 2.0**50, 0.5]
    for _ in range(300):
        bp, bq, ap, aq = random_books(rng, 80)
        arrays = [bp, bq.astype(np.float64), ap, aq.astype(np.float64)]
        for _ in range(int(rng.integers(1, 4))):
            a = arrays[int(rng.integers(0, 4))]
            row, level = int(rng.integers(0, 80)), int(rng.integers(0, 5))
            choice = rng.integers(0, len(values) + 2)
            if choice == len(values):  # a price from a neighbouring level or side
                a[row, level] = a[row, max(level - 1, 0)]
            elif choice == len(values) + 1:
                a[row, level] = a[row, level] + rng.choice([-3.0, 3.0])
            else:
                a[row, level] = values[choice]
        want = first_problem(*(x.tolist() for x in arrays))
        for qty in ("float64", "int64"):
            args = list(arrays)
            if qty == "int64":
                if not all(np.isfinite(x).all() for x in arrays[1::2]):
                    continue
                args[1], args[3] = arrays[1].astype(np.int64), arrays[3].astype(np.int64)
                if (args[1] != arrays[1]).any() or (args[3] != arrays[3]).any():
                    continue  # fractional or out-of-range values do not survive the cast
            if want is None:
                assert shijim_core.mlofi(*args).shape == (80, 5)
                continue
            with pytest.raises(ValueError) as err:
                shijim_core.mlofi(*args)
            assert str(err.value).startswith(want), (str(err.value), want)
            with pytest.raises(ValueError) as err:
                shijim_core.mlofi(*(np.asfortranarray(x) for x in args))  # copied-input path
            assert str(err.value).startswith(want)
        # mlofi_valid marks exactly the rows the documented rules reject.
        want_ok = [first_problem(*([x[r].tolist()] for x in arrays)) is None for r in range(80)]
        assert shijim_core.mlofi_valid(*arrays).tolist() == want_ok
        # The stream rejects exactly the bad rows, names the same array and level, and its
        # output for the good rows equals the batch over the good rows alone.
        stream, good, flows = shijim_core.MlofiStream(5), [], []
        for r in range(80):
            row_problem = first_problem(*([x[r].tolist()] for x in arrays))
            if row_problem is None:
                flows.append(stream.update(*(x[r] for x in arrays)))
                good.append(r)
                continue
            with pytest.raises(ValueError) as err:
                stream.update(*(x[r] for x in arrays))
            if not row_problem.startswith("crossed"):
                name, level = row_problem.split("[0, ")
                assert str(err.value).startswith(f"{name}[{level}"), (str(err.value), row_problem)
        if good:
            batch = shijim_core.mlofi(*(x[good] for x in arrays))
            assert np.array_equal(np.stack(flows), batch)
