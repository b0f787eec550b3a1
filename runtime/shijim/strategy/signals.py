"""The order-book signals' reference formula (MLOFI in numpy), for tests.

The signals themselves (MLOFI, OFI, microprice, depth imbalance, spread, trade flow, last trade)
are computed per event by the Rust engine (``shijim_core.Engine``, docs/engine.md) and reach
strategies as a ``shijim.domain.SignalSnapshot`` (fused by ``shijim.domain.fused_urgency``, shared
by strategies and execution algorithms). ``mlofi_reference`` is the paper's formula in numpy: the
documented cross-check of the Rust kernel for tests, never on the trading path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def mlofi_reference(
    bid_px: F64, bid_qty: F64, ask_px: F64, ask_qty: F64, levels: int | None = None
) -> F64:
    """The paper's formula (Xu, Gould & Howison 2019) in numpy; row 0 is zeros.

    e_n^m = 1{b_n>=b_{n-1}} qb_n - 1{b_n<=b_{n-1}} qb_{n-1}
          - 1{a_n<=a_{n-1}} qa_n + 1{a_n>=a_{n-1}} qa_{n-1}
    ``shijim_core.mlofi`` has the same signature; this is the cross-check for tests.
    """
    if levels is not None:
        bid_px, bid_qty = bid_px[:, :levels], bid_qty[:, :levels]
        ask_px, ask_qty = ask_px[:, :levels], ask_qty[:, :levels]
    out = np.zeros(bid_px.shape, dtype=np.float64)
    if bid_px.shape[0] < 2:
        return out
    b0, b1 = bid_px[:-1], bid_px[1:]
    a0, a1 = ask_px[:-1], ask_px[1:]
    qb0, qb1 = bid_qty[:-1].astype(np.float64), bid_qty[1:].astype(np.float64)
    qa0, qa1 = ask_qty[:-1].astype(np.float64), ask_qty[1:].astype(np.float64)
    out[1:] = (
        np.where(b1 >= b0, qb1, 0.0)
        - np.where(b1 <= b0, qb0, 0.0)
        - np.where(a1 <= a0, qa1, 0.0)
        + np.where(a1 >= a0, qa0, 0.0)
    )
    return out
