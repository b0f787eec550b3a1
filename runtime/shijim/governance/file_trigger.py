"""File kill switch: while the configured file exists the FILE demand is HALTED (or REDUCING if
the file's first word is ``reducing``); removing the file releases the FILE demand. Polled with
one ``os.stat`` every ``interval_s`` (default 0.5 s) on a daemon thread; a demand is only sent when
it differs from the one in force, so an admin "resume all" is overridden while the file exists.
Typical use: ``touch /var/run/shijim/HALT`` from a shell or ``kubectl exec``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from shijim.domain import KillSwitchSource, TradingState
from shijim.risk.state import TradingStateMachine

log = logging.getLogger(__name__)


class FileTrigger:
    def __init__(
        self, state: TradingStateMachine, path: str | os.PathLike[str], interval_s: float = 0.5
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"FileTrigger.interval_s: must be > 0, got {interval_s}")
        self.state = state
        self.path = Path(path)
        self.interval_s = interval_s
        self._current: tuple[TradingState, float] | None = None  # (level, mtime) last applied
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read_level(self) -> TradingState:
        try:
            head = self.path.read_bytes()[:64].decode("utf-8", "replace").strip().lower()
        except OSError:
            return TradingState.HALTED  # exists but unreadable: fail safe
        return TradingState.REDUCING if head.startswith("reducing") else TradingState.HALTED

    def check(self) -> TradingState:
        """One poll; returns the FILE demand now in force (ACTIVE = none)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            if self._current is not None:
                self._current = None
                self.state.release(KillSwitchSource.FILE, f"{self.path} removed")
            return TradingState.ACTIVE
        except OSError as exc:
            # Cannot tell (permissions, I/O error): keep the last decision, say why.
            log.error("kill-switch file %s: %s", self.path, exc)
            return self._current[0] if self._current else TradingState.ACTIVE
        if self._current is not None and self._current[1] == mtime:
            level = self._current[0]
        else:
            level = self._read_level()
            self._current = (level, mtime)
        # Re-assert while the file exists, even after an admin "resume all": the file is a
        # standing order; remove it to resume.
        held = self.state.demands().get(KillSwitchSource.FILE)
        if held is None or held[0] is not level:
            self.state.demand(KillSwitchSource.FILE, level, f"{self.path} present")
        return level

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._run, name="shijim-file-trigger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.exception("kill-switch file poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
