"""``Ingestor.interleaved``: the small-batch path (row-by-row checks) publishes exactly what the
vectorised path publishes, with the same bad-input counts, into the real ring."""

from __future__ import annotations

import os
from itertools import count
from typing import Any

import numpy as np
import pytest
from shijim.bus import BIDASK_DTYPE, TICK_DTYPE, Ingestor
from shijim.bus import ingestion as ingestion_mod
from shijim.bus.validation import (
    book_batch_causes,
    book_row_cause,
    tick_batch_causes,
    tick_row_cause,
)

import shijim_core

_ids = count()
SPECIALS = np.array([0.0, -1.0, np.nan, np.inf, -np.inf, 100.0, 101.0, 99.0, 102.0, 98.0])


def test_row_causes_match_the_vectorised_causes() -> None:
    rng = np.random.default_rng(11)
    clean = 0
    for _ in range(3000):
        n = 4
        # Per row: clean (the fast path), lightly or heavily damaged.
        rate = rng.choice(np.array([0.0, 0.05, 0.3]), (1, n, 1))
        noisy = rng.random((4, n, 5)) < rate
        bp = np.where(noisy[0], rng.choice(SPECIALS, (n, 5)), 100.0 - np.arange(5))
        ap = np.where(noisy[1], rng.choice(SPECIALS, (n, 5)), 101.0 + np.arange(5))
        bq = np.where(noisy[2], rng.integers(-1, 2, (n, 5)), rng.integers(0, 5, (n, 5)))
        aq = np.where(noisy[3], rng.integers(-1, 2, (n, 5)), rng.integers(0, 5, (n, 5)))
        st = rng.random(n) < 0.3
        with np.errstate(invalid="ignore"):
            want = book_batch_causes(bp, bq, ap, aq, st).tolist()
        got = [
            book_row_cause(bp[i].tolist(), bq[i].tolist(), ap[i].tolist(), aq[i].tolist(), st[i])
            for i in range(n)
        ]
        assert got == want
        clean += want.count(0)
        px = rng.choice(SPECIALS, n)
        vol = rng.integers(-2, 3, n)
        total = rng.integers(-2, 3, n)
        assert [
            tick_row_cause(float(p), int(v), int(t)) for p, v, t in zip(px, vol, total, strict=True)
        ] == tick_batch_causes(px, vol, total).tolist()
    assert 2000 < clean < 10000  # both the usual book and every kind of damage were covered


def _inputs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mixed stream with bad rows of every kind: unknown codes, time going backwards, NaN,
    crossed books, negative volumes, unstamped rows."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(np.array([1, 2], dtype=np.int8), n, p=[0.3, 0.7])
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


def _publish(small: int, seed: int, n: int, chunk: int) -> tuple[list[dict[str, Any]], Any]:
    name = f"h9test-{os.getpid()}-{next(_ids)}"
    shijim_core.ring_unlink(name)
    w = shijim_core.RingWriter(name, slots=1 << 12, create=True)
    r = shijim_core.RingReader(name, start="oldest")
    saved = ingestion_mod.SMALL_BATCH
    ingestion_mod.SMALL_BATCH = small
    try:
        ing = Ingestor(w, universe={"TXFL6", "MXFL6"}, clock_ns=lambda: 5)
        tk, ba, kinds = _inputs(seed, n)
        ti = bi = 0
        total = 0
        for lo in range(0, n, chunk):
            k = kinds[lo : lo + chunk]
            t1, b1 = ti + int((k == 1).sum()), bi + int((k == 2).sum())
            total += ing.interleaved(tk[ti:t1].copy(), ba[bi:b1].copy(), k, "test")
            ti, bi = t1, b1
        recs = list(r.read_records(1 << 12))
        # Besides the rows: each data hold and release of a code, as an event at its place.
        assert total == len([rec for rec in recs if rec["type"] != "event"])
        return recs, ing
    finally:
        ingestion_mod.SMALL_BATCH = saved
        w.close()
        shijim_core.ring_unlink(name)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_small_batches_publish_what_the_vectorised_path_publishes(seed: int, chunk: int) -> None:
    fast, ing_fast = _publish(small=1 << 20, seed=seed, n=200, chunk=chunk)
    slow, ing_slow = _publish(small=0, seed=seed, n=200, chunk=chunk)
    assert fast == slow
    assert 0 < len(fast) < 200  # some rows were bad, some good
    assert ing_fast.bad.counts == ing_slow.bad.counts
    assert set(ing_fast.bad.counts) >= {
        "unknown_code", "time_backwards", "nan_price", "crossed_book", "bad_volume",
    }  # fmt: skip
    assert ing_fast.published == ing_slow.published
    assert all(rec["local_ts"] in (5, 7) for rec in fast)
