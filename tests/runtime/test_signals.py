"""What stays of the signals in Python: the paper's MLOFI formula (the reference the Rust kernel
and engine are checked against) against plain loops, and the fused urgency's signs. The engine's
signals are tested in tests/core/test_engine.py."""

from __future__ import annotations

import math

import numpy as np
from shijim.domain import SignalSnapshot, SignalWeights, fused_urgency
from shijim.strategy.signals import mlofi_reference


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


def test_urgency_sign() -> None:
    w = SignalWeights(ofi=1.0, microprice=0.0, imbalance=0.0, ofi_scale=10.0)
    buy_pressure = SignalSnapshot(ofi=50.0, microprice=100.5, mid=100.5, spread=1.0)
    assert fused_urgency(buy_pressure, +1, w) == math.tanh(5.0)
    assert fused_urgency(buy_pressure, -1, w) == -math.tanh(5.0)
    w2 = SignalWeights(ofi=0.0, microprice=1.0, imbalance=0.0)
    at_ask = SignalSnapshot(microprice=101.0, mid=100.5, spread=1.0)
    assert fused_urgency(at_ask, +1, w2) == 1.0
