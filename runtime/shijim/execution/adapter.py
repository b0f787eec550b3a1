"""The interface every execution venue implements (paper exchange, Shioaji, backtest).

Threading contract: ``place``/``amend``/``cancel``/``cancel_all``/``pump`` are called by one
owner at a time (the risk gateway, under its lock). Venue callbacks that arrive on other threads
(Shioaji) are only queued there; ``pump()`` applies them on the owner's thread. Results leave
through ``events`` (a deque: thread-safe append/popleft) as ``OrderUpdate`` and ``Fill``.
A venue never double-reports a fill: it dedupes by its own fill identity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from shijim.domain import ExecutionEvent, Order, OrderIntent, Rejection


@runtime_checkable
class ExecutionAdapter(Protocol):
    events: deque[ExecutionEvent]

    def place(self, intent: OrderIntent) -> Order | Rejection:
        """Send a new limit order; non-blocking. Returns the live ``Order`` (status
        PENDING_SUBMIT or later) or a Rejection(ADAPTER) if the venue refused synchronously."""
        ...

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        """Change the price and/or reduce the open quantity to ``qty`` (new remaining quantity,
        1 .. remaining-1: TAIFEX and TWSE allow reductions only)."""
        ...

    def cancel(self, order_id: str) -> bool:
        """Request cancellation of the remaining quantity; False if unknown or not working."""
        ...

    def cancel_all(self) -> int:
        """Request cancellation of every working order; returns how many requests went out."""
        ...

    def working_orders(self) -> Mapping[str, Order]:
        """Live view of working orders by order_id (do not mutate): the same mapping on every
        call for the adapter's life, so callers may keep it (the gateway and the runner do)."""
        ...

    def pump(self) -> None:
        """Apply venue callbacks queued since the last call (no-op for synchronous venues)."""
        ...
