"""Data holds: which codes must not be traded because their market data is being dropped.

A stream (kind, code) that drops ``hold_after`` inputs in a row (nothing admitted between them)
holds its code: its book is frozen or untrustworthy. The first admitted input of that stream
releases it (when no other stream of the code still holds it). The ingestor publishes each
change as a per-code ``trading_state`` event in the ring (HALTED, then ACTIVE), at the place in
the stream where it happened, and the strategy runner applies it to the risk gateway's
per-code hold (``CodeHold.DATA``). Pure bookkeeping, no I/O; the ingestor calls it under its
lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from shijim.bus.validation import BadInputCause

# Drops that say nothing about a code's data: not our code, not subscribed, or the same input
# again (the book it carries was already admitted).
NOT_DATA_LOSS = frozenset(
    {BadInputCause.UNKNOWN_CODE, BadInputCause.SUBSCRIPTION_LIMIT, BadInputCause.DUPLICATE}
)
HELD = "HALTED"  # trading_state names carried by the ring event (TradingStateName)
RELEASED = "ACTIVE"


@dataclass(frozen=True, slots=True)
class HoldChange:
    code: str
    state: str  # HELD or RELEASED
    reason: str  # at most 32 characters (the SBE reason field)


class DataHolds:
    def __init__(self, hold_after: int = 5) -> None:
        if hold_after < 1:
            raise ValueError(f"hold_after: expected >= 1, got {hold_after!r}")
        self.hold_after = hold_after
        # Drops in a row per stream, only for streams with at least one (empty when all is well:
        # the hot path checks ``active`` and skips the rest).
        self._runs: dict[tuple[str, str], int] = {}
        self.held: dict[str, str] = {}  # code -> reason

    @property
    def active(self) -> bool:
        return bool(self._runs)

    def dropped(self, kind: str, code: str, cause: BadInputCause) -> HoldChange | None:
        if cause in NOT_DATA_LOSS or not code:
            return None
        key = (kind, code)
        run = self._runs.get(key, 0) + 1
        self._runs[key] = run
        if run < self.hold_after or code in self.held:
            return None
        reason = f"data: {cause.value}"[:32]
        self.held[code] = reason
        return HoldChange(code, HELD, reason)

    def admitted(self, kind: str, code: str) -> HoldChange | None:
        if self._runs.pop((kind, code), None) is None or code not in self.held:
            return None
        if any(c == code and n >= self.hold_after for (_, c), n in self._runs.items()):
            return None  # another stream of the code is still failing
        del self.held[code]
        return HoldChange(code, RELEASED, "data: good again")

    def failing_codes(self) -> set[str]:
        """Codes with a stream that has dropped inputs since its last admitted one."""
        return {code for _, code in self._runs}
