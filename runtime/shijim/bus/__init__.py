"""Ingestion of market data into the shard's shared-memory ring (docs/feeds.md)."""

from __future__ import annotations

from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.bus.ingestion import BadInputLog, Ingestor, RingPublisher
from shijim.bus.validation import BadInputCause

__all__ = [
    "BIDASK_DTYPE",
    "TICK_DTYPE",
    "BadInputCause",
    "BadInputLog",
    "Ingestor",
    "RingPublisher",
]
