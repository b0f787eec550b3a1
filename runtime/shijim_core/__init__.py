"""Shijim's compiled core (Rust, PyO3): SBE codec, shared-memory ring, OFI/MLOFI.

The extension module is ``shijim_core._shijim_core``; this package re-exports its public API.

Ring (docs/ring.md): ``RingWriter(name, slots=65536, create=True)`` publishes SBE messages into
a shared-memory ring under /dev/shm; ``RingReader(name).read(n)`` returns a ``RingBatch`` of
numpy structured arrays (``TICK_DTYPE``, ``BIDASK_DTYPE``, ``SNAPSHOT_DTYPE``, ``EVENT_DTYPE``)
built in Rust, plus ``lost`` / ``restarted``. The dtypes are defined next to the Rust row structs
they mirror, so the two cannot drift; so are the names of the rows' small integer enums.

Engine (docs/engine.md): ``Engine(codes, policy)`` keeps per-code books and signals, the paper
venue and the account in Rust; ``Engine.next_due(reader)`` returns the next ``Due`` decision.
"""

from __future__ import annotations

from shijim_core._shijim_core import *  # noqa: F403

# Named for readers: the ring, the engine (docs/engine.md) and the numeric values of the enum
# columns (schema/shijim.xml; names as in the JSONL records), the last built in Rust from the
# codec's own enums so that no copy here can drift.
from shijim_core._shijim_core import (  # noqa: F401
    BIDASK_DTYPE,
    DUE_BOOK,
    DUE_EXECUTION,
    DUE_SYSTEM,
    DUE_TRADE,
    ENGINE_DROP_CAUSES,
    EVENT_DTYPE,
    EVENT_NAMES,
    FLAG_BOOK,
    FLAG_TOUCH,
    FLAG_TOUCH_PRICE,
    FLAG_TOUCH_QTY,
    FLAG_TRADE,
    SESSION_STATE_NAMES,
    SIDE_BUY,
    SIDE_SELL,
    SNAPSHOT_DTYPE,
    TICK_DTYPE,
    TICK_TYPE_NAMES,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
    TRADING_STATE_NAMES,
    BookView,
    Due,
    Engine,
    PositionView,
    RingBatch,
    RingError,
    RingReader,
    RingWriter,
    RingWriterExistsError,
    SbeFrames,
    VenueEventView,
    __version__,
    ring_path,
    ring_unlink,
)
