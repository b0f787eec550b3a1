"""Reference prices for the fat-finger checks, read from the engine's books: the mid of the
code's book when it has one, otherwise its last real trade; NaN when neither is known (the
order is then refused NO_REFERENCE_PRICE). The engine keeps them current on every event, so
risk never re-derives them. A one-sided or crossed book is dropped by the engine whole, so the
reference stays the last two-sided mid; after a feed gap (book forgotten) it falls back to the
last trade."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

_NAN = math.nan


class ReferencePrices:
    __slots__ = ("_engine", "code_id")

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        # The engine's id of a code, None while it is not an engine code (it may be adopted
        # later): the engine's own live mapping, its ``get`` bound once (no wrapper call on the
        # order path).
        self.code_id: Callable[[str], int | None] = engine.code_ids.get

    def get(self, code: str) -> float:
        cid = self.code_id(code)
        return _NAN if cid is None else float(self._engine.reference(cid))
