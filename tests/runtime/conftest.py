"""Fixtures shared by the runtime tests: ``market`` (a ring and an engine: engine_market.py)."""

from __future__ import annotations

from engine_market import market

__all__ = ["market"]
