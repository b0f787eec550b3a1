"""A real shared-memory ring (shijim_core.RingWriter/RingReader) per test, removed afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture
def ring() -> Iterator[Ring]:
    name = f"h4test-{os.getpid()}-{next(_ids)}"
    shijim_core.ring_unlink(name)
    writer = shijim_core.RingWriter(name, slots=1 << 16, create=True)
    reader = shijim_core.RingReader(name, start="oldest")
    try:
        yield Ring(name, writer, reader)
    finally:
        writer.close()
        shijim_core.ring_unlink(name)
