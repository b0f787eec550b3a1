"""numpy record layouts of batched market data (``publish_ticks`` / ``publish_bidasks``).

The ring's own ``shijim_core.TICK_DTYPE`` / ``BIDASK_DTYPE`` are used when the compiled core
exports them; the fallbacks below have the field names and types of docs/contracts.md so
that batch producers (the simulator) can be built and tested on their own.
"""

from __future__ import annotations

import numpy as np

LEVELS = 5
CODE_LEN = 16

_FALLBACK_TICK = np.dtype(
    [
        ("seq", "<u8"),
        ("exch_ts", "<i8"),
        ("local_ts", "<i8"),
        ("code", f"S{CODE_LEN}"),
        ("price", "<f8"),
        ("volume", "<i8"),
        ("total_volume", "<i8"),
        ("tick_type", "u1"),
        ("simtrade", "?"),
    ]
)
_FALLBACK_BIDASK = np.dtype(
    [
        ("seq", "<u8"),
        ("exch_ts", "<i8"),
        ("local_ts", "<i8"),
        ("code", f"S{CODE_LEN}"),
        ("bid_px", "<f8", (LEVELS,)),
        ("bid_qty", "<i8", (LEVELS,)),
        ("ask_px", "<f8", (LEVELS,)),
        ("ask_qty", "<i8", (LEVELS,)),
        ("simtrade", "?"),
    ]
)


def _core_dtype(name: str, fallback: np.dtype) -> np.dtype:
    try:
        import shijim_core
    except ImportError:
        return fallback
    found = getattr(shijim_core, name, None)
    return np.dtype(found) if found is not None else fallback


TICK_DTYPE: np.dtype = _core_dtype("TICK_DTYPE", _FALLBACK_TICK)
BIDASK_DTYPE: np.dtype = _core_dtype("BIDASK_DTYPE", _FALLBACK_BIDASK)
