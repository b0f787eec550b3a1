"""Reference prices for the fat-finger checks, read from the engine's books: the mid of the
code's book when it has one, otherwise its last real trade; NaN when neither is known (the
order is then refused NO_REFERENCE_PRICE). The engine keeps them current on every event, so
risk never re-derives them. A one-sided or crossed book is dropped by the engine whole, so the
reference stays the last two-sided mid; after a feed gap (book forgotten) it falls back to the
last trade."""

from __future__ import annotations

import math
from typing import Any

_NAN = math.nan


class ReferencePrices:
    __slots__ = ("_engine", "_ids")

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._ids: dict[str, int] = {}

    def code_id(self, code: str) -> int | None:
        """The engine's id of ``code``; None while it is not an engine code (not cached: it may
        be adopted later)."""
        cid = self._ids.get(code)
        if cid is None:
            try:
                cid = self._ids[code] = self._engine.code_id(code)
            except KeyError:
                return None
        return cid

    def get(self, code: str) -> float:
        cid = self.code_id(code)
        return _NAN if cid is None else float(self._engine.reference(cid))
