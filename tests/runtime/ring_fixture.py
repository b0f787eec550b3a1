"""A real shared-memory ring (shijim_core.RingWriter/RingReader) per test, removed afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest

import shijim_core

_ids = count()


@dataclass
class Ring:
    name: str
    writer: Any
    reader: Any

    def records(self, max_messages: int = 1 << 16) -> list[dict[str, Any]]:
        return list(self.reader.read_records(max_messages))


@contextmanager
def fresh_ring() -> Iterator[Ring]:
    """A new ring with a name unique to this process, unlinked on exit."""
    name = f"h4test-{os.getpid()}-{next(_ids)}"
    shijim_core.ring_unlink(name)
    writer = shijim_core.RingWriter(name, slots=1 << 16, create=True)
    reader = shijim_core.RingReader(name, start="oldest")
    try:
        yield Ring(name, writer, reader)
    finally:
        writer.close()
        shijim_core.ring_unlink(name)


def records_of(fill: Callable[[Any], object]) -> list[dict[str, Any]]:
    """What a fresh ring holds after ``fill(writer)``."""
    with fresh_ring() as r:
        fill(r.writer)
        return r.records()


@pytest.fixture
def ring() -> Iterator[Ring]:
    with fresh_ring() as r:
        yield r


def publish_market_data(writer: Any, kind: str, local_ts: int, n: int = 1) -> None:
    """``n`` trades ("tick") or books ("bidask") of TXFL6 received at ``local_ts``, published
    as ingestion publishes them (the writer counts them: ``RingWriter.publications``)."""
    for _ in range(n):
        if kind == "tick":
            writer.publish_tick("TXFL6", local_ts - 1000, local_ts, 20000.0, 1, 1)
        else:
            writer.publish_bidask("TXFL6", local_ts - 1000, local_ts, [20000.0] * 5, [1] * 5,
                                  [20001.0] * 5, [1] * 5)  # fmt: skip
