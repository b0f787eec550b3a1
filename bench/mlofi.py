"""MLOFI from Python: shijim_core.mlofi against a vectorised numpy version of the same formula,
timed side by side in this process. Prints one JSON line per figure (docs/CONTRACTS-WIP.md).

    .venv/bin/python bench/mlofi.py

- ofi.mlofi.l5.py_batch: 5-level MLOFI over 100k books (int64 quantities, the ring's dtype),
  M books/s; baseline: numpy_mlofi below on the same arrays. Target: >= 10x numpy.
  The core also validates every book (numpy does not), so the comparison favours numpy.
- ofi.mlofi.l5.py_batch_1m: the same over 1M books (160 MB in, 40 MB out): memory-bound, and a
  40 MB result is a fresh mmap whose pages the kernel zeroes on every call. No target.
- ofi.mlofi.l5.py_stream: MlofiStream.update per book from Python, ns/book; baseline: the same
  formula in numpy on one book's rows. No target (reported so strategies know the cost).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

import shijim_core

LEVELS = 5
BOOKS = 100_000
SAMPLES = 15


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


def median_seconds(fn: Callable[[], object], samples: int = SAMPLES) -> float:
    fn()  # warm up
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def emit(
    bench: str,
    unit: str,
    median: float,
    base_name: str,
    base: float,
    target: str | None,
    ok: bool | None,
    samples: int = SAMPLES,
) -> None:
    print(
        json.dumps(
            {
                "bench": bench,
                "unit": unit,
                "median": round(median, 3),
                "p99": None,
                "samples": samples,
                "baseline": {"name": base_name, "median": round(base, 3)},
                "ratio": round(median / base, 3),
                "target": target,
                "pass": ok,
            }
        ),
        flush=True,
    )


def main() -> None:
    bp, bq, ap, aq = books(BOOKS)
    if not np.array_equal(shijim_core.mlofi(bp, bq, ap, aq), numpy_mlofi(bp, bq, ap, aq)):
        raise SystemExit("core and numpy disagree: refusing to time different computations")
    core = median_seconds(lambda: shijim_core.mlofi(bp, bq, ap, aq))
    base = median_seconds(lambda: numpy_mlofi(bp, bq, ap, aq))
    core_rate, base_rate = BOOKS / core / 1e6, BOOKS / base / 1e6
    emit(
        "ofi.mlofi.l5.py_batch",
        "M books/s",
        core_rate,
        "vectorised numpy, same formula and arrays",
        base_rate,
        ">= 10x numpy",
        core_rate >= 10 * base_rate,
    )

    big = books(1_000_000, seed=43)
    core = median_seconds(lambda: shijim_core.mlofi(*big), 7)
    base = median_seconds(lambda: numpy_mlofi(*big), 7)
    big_samples = 7
    emit(
        "ofi.mlofi.l5.py_batch_1m",
        "M books/s",
        1.0 / core,
        "vectorised numpy, same formula and arrays",
        1.0 / base,
        None,
        None,
        big_samples,
    )

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
        "numpy formula on one book's rows",
        np_ns,
        None,
        None,
        7,
    )


if __name__ == "__main__":
    main()
