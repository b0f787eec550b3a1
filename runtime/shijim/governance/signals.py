"""Signal kill switch: SIGUSR1 engages (SIGNAL demand -> HALTED), SIGUSR2 releases the SIGNAL
demand. ``kill -USR1 <pid>`` halts; ``kill -USR2 <pid>`` resumes (other demands still hold;
``POST /kill-switch/resume?all=1`` on the admin endpoint clears them all).

A Python signal handler runs on the main thread between bytecodes, possibly while that thread
already holds the state machine's (non-reentrant) lock; so the handler only hands the demand to
a short-lived thread, which waits for the lock like any other source.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from shijim.domain import KillSwitchSource
from shijim.risk.state import TradingStateMachine

Handler = Callable[[int, FrameType | None], Any] | int | None


class SignalKillSwitch:
    def __init__(
        self,
        state: TradingStateMachine,
        engage_signal: int = signal.SIGUSR1,
        release_signal: int | None = signal.SIGUSR2,
    ) -> None:
        self.state = state
        self.engage_signal = engage_signal
        self.release_signal = release_signal
        self._previous: dict[int, Handler] = {}
        self.last_worker: threading.Thread | None = None

    def install(self) -> None:
        """Install the handlers (main thread only, as Python requires)."""
        self._previous[self.engage_signal] = signal.signal(self.engage_signal, self._on_signal)
        if self.release_signal is not None:
            self._previous[self.release_signal] = signal.signal(
                self.release_signal, self._on_signal
            )

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == self.engage_signal:
            work: Callable[[], None] = lambda: self.state.engage(  # noqa: E731
                KillSwitchSource.SIGNAL, f"{name} received"
            )
        else:
            work = lambda: self.state.release(KillSwitchSource.SIGNAL, f"{name} received")  # noqa: E731
        worker = threading.Thread(target=work, name=f"shijim-{name}", daemon=True)
        self.last_worker = worker
        worker.start()
