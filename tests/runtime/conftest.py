"""Fixtures shared by the runtime tests: ``market`` (a ring and an engine: engine_market.py) and
``ring`` (a fresh ring: ring_fixture.py)."""

from __future__ import annotations

from engine_market import market
from ring_fixture import ring

__all__ = ["market", "ring"]
