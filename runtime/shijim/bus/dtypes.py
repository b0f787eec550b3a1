"""numpy record layouts of batched market data (``publish_ticks`` / ``publish_bidasks``).

These are the ring's own dtypes, built in Rust from the ``#[repr(C)]`` row structs, so a batch
built here always has the layout the ring reads; there is deliberately no second copy.
"""

from __future__ import annotations

import numpy as np

import shijim_core

LEVELS = 5
CODE_LEN: int = shijim_core.CODE_LEN

TICK_DTYPE: np.dtype = np.dtype(shijim_core.TICK_DTYPE)
BIDASK_DTYPE: np.dtype = np.dtype(shijim_core.BIDASK_DTYPE)
