"""MLOFI from Python: shijim_core.mlofi against a vectorised numpy version of the same formula,
timed side by side in this process. Prints one JSON line per figure (docs/contracts.md).

    .venv/bin/python bench/mlofi.py

- ofi.mlofi.l5.py_batch_10k / _100k: 5-level MLOFI over 10k / 100k books (int64 quantities,
  the ring's dtype), M books/s; baseline: numpy_mlofi below on the same arrays. Target: >= 10x
  numpy. The core also validates every book (numpy does not), so the comparison favours numpy.
- ofi.mlofi.l5.py_batch_1m: the same over 1M books (160 MB in, 40 MB out). Both sides are
  bound by memory bandwidth there, so the ratio is smaller; reported without a target.
- ofi.mlofi.l5.py_stream: MlofiStream.update per book from Python, ns/book; baseline: the same
  formula in numpy on one book's rows. No target (reported so strategies know the cost).
"""

from __future__ import annotations

import numpy as np
from figure import emit, median_seconds

import shijim_core

LEVELS = 5
SAMPLES = 15
# Batch sizes: (books, calls per timed sample, target applies). Small batches repeat the call
# inside a sample so the timer's resolution does not matter.
BATCHES = [(10_000, 20, True), (100_000, 2, True), (1_000_000, 1, False)]


def numpy_mlofi(
    bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray, ask_qty: np.ndarray
) -> np.ndarray:
    """Xu-Gould-Howison e_n^m for all n, m at once; row 0 zeros (the same contract as the core)."""
    out = np.zeros(bid_px.shape, dtype=np.float64)
    b, b0, a, a0 = bid_px[1:], bid_px[:-1], ask_px[1:], ask_px[:-1]
    out[1:] = (
        (b >= b0) * bid_qty[1:]
        - (b <= b0) * bid_qty[:-1]
        - (a <= a0) * ask_qty[1:]
        + (a >= a0) * ask_qty[:-1]
    )
    return out


def books(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A valid random walk: best bid moves -2..+2 ticks, spread 1-2 ticks, 1-tick level gaps."""
    rng = np.random.default_rng(seed)
    best_bid = 20000.0 + np.cumsum(rng.integers(-2, 3, size=n))
    spread = rng.integers(1, 3, size=n)
    depth = np.arange(LEVELS)
    bid_px = (best_bid[:, None] - depth).astype(np.float64)
    ask_px = (best_bid[:, None] + spread[:, None] + depth).astype(np.float64)
    bid_qty = rng.integers(0, 100, size=(n, LEVELS), dtype=np.int64)
    ask_qty = rng.integers(0, 100, size=(n, LEVELS), dtype=np.int64)
    return bid_px, bid_qty, ask_px, ask_qty


def main() -> None:
    for n_books, reps, has_target in BATCHES:
        arrays = books(n_books, seed=n_books)
        if not np.array_equal(shijim_core.mlofi(*arrays), numpy_mlofi(*arrays)):
            raise SystemExit("core and numpy disagree: refusing to time different computations")
        samples = SAMPLES if has_target else 7
        core = median_seconds(lambda a=arrays: shijim_core.mlofi(*a), samples, reps)
        base = median_seconds(lambda a=arrays: numpy_mlofi(*a), samples, reps)
        core_rate, base_rate = n_books / core / 1e6, n_books / base / 1e6
        label = f"{n_books // 1_000_000}m" if n_books >= 1_000_000 else f"{n_books // 1000}k"
        emit(
            f"ofi.mlofi.l5.py_batch_{label}",
            "M books/s",
            core_rate,
            samples,
            ("vectorised numpy, same formula and arrays", base_rate),
            ">= 10x numpy" if has_target else None,
            core_rate >= 10 * base_rate if has_target else None,
        )

    bp, bq, ap, aq = books(5000)
    n = 5000
    rows = [(bp[i], bq[i], ap[i], aq[i]) for i in range(n)]

    def stream() -> None:
        s = shijim_core.MlofiStream(LEVELS)
        for r in rows:
            s.update(*r)

    def numpy_stream() -> None:
        prev = rows[0]
        for r in rows:
            b, qb, a, qa = r
            b0, qb0, a0, qa0 = prev
            _ = (b >= b0) * qb - (b <= b0) * qb0 - (a <= a0) * qa + (a >= a0) * qa0
            prev = r

    s_ns = median_seconds(stream, 7) / n * 1e9
    np_ns = median_seconds(numpy_stream, 7) / n * 1e9
    emit(
        "ofi.mlofi.l5.py_stream",
        "ns/book",
        s_ns,
        7,
        ("numpy formula on one book's rows", np_ns),
        None,
        None,
    )


if __name__ == "__main__":
    main()
