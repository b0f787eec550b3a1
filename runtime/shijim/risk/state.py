"""The one trading-state machine every kill-switch source drives.

ACTIVE -> REDUCING (only position-reducing orders) -> HALTED (no orders, working orders
cancelled). Each source (CRD, admin HTTP, dashboard key, file, signal, loss limit, API-server
grace policy) holds its own *demand*; the effective state is the most restrictive demand. So
releasing one source never overrides another: turning the CRD switch off does not resume a
shard that the daily-loss limit halted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shijim.domain import KillSwitchSource, TradingState


@dataclass(frozen=True)
class StateChange:
    old: TradingState
    new: TradingState
    source: KillSwitchSource
    reason: str
    at_ns: int


Listener = Callable[[StateChange], None]


class TradingStateMachine:
    """Thread-safe: sources live on other threads (HTTP, signal, watcher); listeners run on
    the thread that caused the change, outside the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._demands: dict[KillSwitchSource, tuple[TradingState, str]] = {}
        # The effective state: read it, never write it (only ``_recompute`` does, under the
        # lock). A plain attribute, not a property: the runner and risk read it on every due
        # event and order, and a property is a Python call each time on 3.11.
        self.state = TradingState.ACTIVE
        self._listeners: list[Listener] = []

    @property
    def kill_switch_engaged(self) -> bool:
        return self.state is TradingState.HALTED

    def demands(self) -> dict[KillSwitchSource, tuple[TradingState, str]]:
        with self._lock:
            return dict(self._demands)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def demand(self, source: KillSwitchSource, state: TradingState, reason: str = "") -> None:
        """Record `source`'s demand; ACTIVE clears it."""
        with self._lock:
            if state is TradingState.ACTIVE:
                self._demands.pop(source, None)
            else:
                self._demands[source] = (state, reason)
            change = self._recompute(source, reason)
        self._notify(change)

    def engage(self, source: KillSwitchSource, reason: str = "") -> None:
        self.demand(source, TradingState.HALTED, reason)

    def release(self, source: KillSwitchSource, reason: str = "") -> None:
        self.demand(source, TradingState.ACTIVE, reason)

    def release_all(self, source: KillSwitchSource, reason: str = "") -> None:
        """Operator override (e.g. admin `resume?all=1`): clear every demand."""
        with self._lock:
            self._demands.clear()
            change = self._recompute(source, reason)
        self._notify(change)

    def _recompute(self, source: KillSwitchSource, reason: str) -> StateChange | None:
        new = max((s for s, _ in self._demands.values()), default=TradingState.ACTIVE)
        old = self.state
        if new is old:
            return None
        self.state = new
        return StateChange(old, new, source, reason, time.time_ns())

    def _notify(self, change: StateChange | None) -> None:
        if change is None:
            return
        for listener in list(self._listeners):
            listener(change)
