"""Shijim's compiled core (Rust, PyO3): SBE codec, shared-memory ring, OFI/MLOFI.

The extension module is ``shijim_core._shijim_core``; this package re-exports its public API.

Ring (docs/ring.md): ``RingWriter(name, slots=65536, create=True)`` publishes SBE messages into
a shared-memory ring under /dev/shm; ``RingReader(name).read(n)`` returns a ``RingBatch`` of
numpy structured arrays (``TICK_DTYPE``, ``BIDASK_DTYPE``, ``SNAPSHOT_DTYPE``, ``EVENT_DTYPE``)
built in Rust, plus ``lost`` / ``restarted``. The dtypes are defined next to the Rust row structs
they mirror, so the two cannot drift; the small integer enums of the rows are named below.
"""

from __future__ import annotations

from shijim_core._shijim_core import *  # noqa: F403
from shijim_core._shijim_core import (  # noqa: F401  (the ring's API, named for readers)
    BIDASK_DTYPE,
    EVENT_DTYPE,
    SNAPSHOT_DTYPE,
    TICK_DTYPE,
    RingBatch,
    RingError,
    RingReader,
    RingWriter,
    RingWriterExistsError,
    __version__,
    ring_path,
    ring_unlink,
)

# Numeric values of the enum columns (schema/shijim.xml; names as in the JSONL records).
TICK_TYPE_NAMES: dict[int, str] = {0: "unknown", 1: "buy", 2: "sell"}
EVENT_NAMES: dict[int, str] = {
    1: "session_state",
    2: "trading_state",
    3: "feed_gap",
    4: "reconnect",
}
SESSION_STATE_NAMES: dict[int, str] = {0: "", 1: "PRE_OPEN", 2: "OPEN", 3: "CLOSED"}
TRADING_STATE_NAMES: dict[int, str] = {0: "", 1: "ACTIVE", 2: "REDUCING", 3: "HALTED"}
