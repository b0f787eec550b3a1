"""Per-code trading holds: stop trading one code without stopping the shard.

The shard-wide ``TradingStateMachine`` answers "may this process trade at all"; a ``CodeGate``
answers "may it trade this code". Each *hold* (why a code must not be traded) keeps its own
demand per code, like the kill-switch sources do shard-wide: the code's state is the most
restrictive of its holds, and releasing one hold never releases another. Two holds exist:

- ``DATA``: the code's market data is being dropped (an outlier timestamp, bad books), so its
  book is frozen or untrustworthy; trading resumes when good data returns.
- ``UNOWNED``: a resharding transition means another pod may own the code; trading resumes only
  when the new layout makes this pod its single owner (docs/sharding.md).

Pure bookkeeping, no I/O: ``RiskAwareGateway`` cancels orders and counts rejections.
"""

from __future__ import annotations

from dataclasses import dataclass

from shijim.domain import CodeHold, TradingState


@dataclass(frozen=True, slots=True)
class CodeHoldState:
    """A code's effective hold: the most restrictive demand and the reasons behind it."""

    state: TradingState
    reason: str


class CodeGate:
    """Holds per code. Not thread-safe on its own: the gateway calls it under its lock."""

    def __init__(self) -> None:
        self._holds: dict[str, dict[CodeHold, tuple[TradingState, str]]] = {}

    def hold(self, code: str, hold: CodeHold, state: TradingState, reason: str) -> bool:
        """Record ``hold``'s demand on ``code`` (ACTIVE releases it). True if the code's
        effective state changed."""
        if state is TradingState.ACTIVE:
            return self.release(code, hold)
        before = self.state(code)
        self._holds.setdefault(code, {})[hold] = (state, reason)
        return self.state(code) is not before

    def release(self, code: str, hold: CodeHold) -> bool:
        """Drop ``hold``'s demand on ``code``. True if the code's effective state changed."""
        demands = self._holds.get(code)
        if demands is None or hold not in demands:
            return False
        before = self.state(code)
        del demands[hold]
        if not demands:
            del self._holds[code]
        return self.state(code) is not before

    def state(self, code: str) -> TradingState:
        """The code's own state (ACTIVE when nothing holds it); the shard's state is separate."""
        demands = self._holds.get(code)
        if not demands:
            return TradingState.ACTIVE
        return max(s for s, _ in demands.values())

    def get(self, code: str) -> CodeHoldState | None:
        """None when nothing holds ``code`` (the hot path's one dict lookup)."""
        demands = self._holds.get(code)
        if not demands:
            return None
        state = max(s for s, _ in demands.values())
        reason = "; ".join(
            f"{h.value}: {why}" for h, (s, why) in sorted(demands.items()) if s is state
        )
        return CodeHoldState(state, reason)

    def holds(self, code: str) -> dict[CodeHold, tuple[TradingState, str]]:
        return dict(self._holds.get(code, {}))

    def held_codes(self) -> list[str]:
        return list(self._holds)
