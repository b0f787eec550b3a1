"""``Ingestor.interleaved`` and the single-input paths share one rule set (the Rust admission):
random damaged books give the same causes one by one as in a batch, and how a stream is cut into
batches never changes what reaches the real ring or the bad-input counts."""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import count
from typing import Any

import numpy as np
import pytest
from shijim.bus import BIDASK_DTYPE, TICK_DTYPE, Ingestor

import shijim_core

_ids = count()
SPECIALS = np.array([0.0, -1.0, np.nan, np.inf, -np.inf, 100.0, 101.0, 99.0, 102.0, 98.0])


def _in_ring(fill: Callable[[Any], Ingestor]) -> tuple[list[dict[str, Any]], Ingestor]:
    name = f"h9test-{os.getpid()}-{next(_ids)}"
    shijim_core.ring_unlink(name)
    w = shijim_core.RingWriter(name, slots=1 << 14, create=True)
    r = shijim_core.RingReader(name, start="oldest")
    try:
        ing = fill(w)
        return list(r.read_records(1 << 14)), ing
    finally:
        w.close()
        shijim_core.ring_unlink(name)


def _damaged_books(seed: int, n: int) -> np.ndarray:
    """Clean books (the fast path), lightly and heavily damaged ones, simtrade or not."""
    rng = np.random.default_rng(seed)
    rate = rng.choice(np.array([0.0, 0.05, 0.3]), (1, n, 1))
    noisy = rng.random((4, n, 5)) < rate
    b = np.zeros(n, dtype=BIDASK_DTYPE)
    b["code"] = b"TXFL6"
    b["exch_ts"] = np.arange(n)
    b["bid_px"] = np.where(noisy[0], rng.choice(SPECIALS, (n, 5)), 100.0 - np.arange(5))
    b["ask_px"] = np.where(noisy[1], rng.choice(SPECIALS, (n, 5)), 101.0 + np.arange(5))
    b["bid_qty"] = np.where(noisy[2], rng.integers(-1, 2, (n, 5)), rng.integers(0, 5, (n, 5)))
    b["ask_qty"] = np.where(noisy[3], rng.integers(-1, 2, (n, 5)), rng.integers(0, 5, (n, 5)))
    b["simtrade"] = rng.random(n) < 0.3
    return b


@pytest.mark.parametrize("seed", [5, 6])
def test_one_by_one_and_in_a_batch_the_same_books_are_dropped_for_the_same_causes(
    seed: int,
) -> None:
    books = _damaged_books(seed, 3000)

    def one_by_one(w: Any) -> Ingestor:
        ing = Ingestor(w, clock_ns=lambda: 5)
        for r in books:
            ing.bidask(
                "TXFL6", int(r["exch_ts"]), r["bid_px"].tolist(), r["bid_qty"].tolist(),
                r["ask_px"].tolist(), r["ask_qty"].tolist(), bool(r["simtrade"]),
            )  # fmt: skip
        return ing

    def batch(w: Any) -> Ingestor:
        ing = Ingestor(w, clock_ns=lambda: 5)
        ing.bidasks(books)
        return ing

    (single, ing1), (batched, ing2) = _in_ring(one_by_one), _in_ring(batch)
    # The same books, and the same data holds (events) at the same places.
    assert single == batched
    assert ing1.bad.counts == ing2.bad.counts
    assert 300 < len(single) < 2700  # both the usual book and every kind of damage
    assert set(ing1.bad.counts) >= {
        "nan_price", "nonpositive_price", "bad_volume", "unordered_book", "crossed_book",
    }  # fmt: skip


def _inputs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mixed stream with bad rows of every kind: unknown codes, time going backwards, NaN,
    crossed books, negative volumes, unstamped rows."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(np.array([1, 2], dtype=np.uint8), n, p=[0.3, 0.7])
    nt, nb = int((kinds == 1).sum()), int((kinds == 2).sum())
    codes = np.array([b"TXFL6", b"MXFL6", b"ZZZ"])
    tk = np.zeros(nt, dtype=TICK_DTYPE)
    tk["code"] = codes[rng.choice(3, nt, p=[0.45, 0.45, 0.1])]
    tk["price"] = np.where(rng.random(nt) < 0.1, np.nan, 20000.0 + rng.integers(-3, 3, nt))
    tk["volume"] = rng.integers(-1, 5, nt)
    tk["exch_ts"] = np.arange(nt) * 10 - np.where(rng.random(nt) < 0.1, 100, 0)
    tk["local_ts"] = np.where(rng.random(nt) < 0.5, 0, 7)
    ba = np.zeros(nb, dtype=BIDASK_DTYPE)
    ba["code"] = codes[rng.choice(3, nb, p=[0.45, 0.45, 0.1])]
    mid = 20000.0 + rng.integers(-3, 3, nb)
    ba["bid_px"] = mid[:, None] - np.arange(5)
    ba["ask_px"] = mid[:, None] + 1 + np.arange(5)
    ba["bid_qty"] = rng.integers(0, 5, (nb, 5))
    ba["ask_qty"] = rng.integers(1, 5, (nb, 5))
    crossed = rng.random(nb) < 0.1
    ba["ask_px"][crossed, 0] = ba["bid_px"][crossed, 0] - 1
    ba["exch_ts"] = np.arange(nb) * 10 - np.where(rng.random(nb) < 0.1, 100, 0)
    ba["local_ts"] = np.where(rng.random(nb) < 0.5, 0, 7)
    return tk, ba, kinds


def _publish(seed: int, n: int, chunk: int) -> tuple[list[dict[str, Any]], Ingestor]:
    def fill(w: Any) -> Ingestor:
        ing = Ingestor(w, universe={"TXFL6", "MXFL6"}, clock_ns=lambda: 5)
        tk, ba, kinds = _inputs(seed, n)
        ti = bi = 0
        total = 0
        for lo in range(0, n, chunk):
            k = kinds[lo : lo + chunk]
            t1, b1 = ti + int((k == 1).sum()), bi + int((k == 2).sum())
            total += ing.interleaved(tk[ti:t1], ba[bi:b1], k, "test")
            ti, bi = t1, b1
        fill.total = total  # type: ignore[attr-defined]
        return ing

    recs, ing = _in_ring(fill)
    # Besides the rows: each data hold and release of a code, as an event at its place.
    assert fill.total == len([rec for rec in recs if rec["type"] != "event"])  # type: ignore[attr-defined]
    return recs, ing


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_how_a_stream_is_cut_into_batches_changes_nothing(seed: int, chunk: int) -> None:
    whole, ing_whole = _publish(seed=seed, n=200, chunk=200)
    cut, ing_cut = _publish(seed=seed, n=200, chunk=chunk)
    assert cut == whole
    assert 0 < len(whole) < 200  # some rows were bad, some good
    assert ing_cut.bad.counts == ing_whole.bad.counts
    assert set(ing_whole.bad.counts) >= {
        "unknown_code", "time_backwards", "nan_price", "crossed_book", "bad_volume",
    }  # fmt: skip
    assert ing_cut.published == ing_whole.published
    assert all(rec["local_ts"] in (5, 7) for rec in whole)
