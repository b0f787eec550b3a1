"""Data holds: which codes must not be traded because their market data is being dropped.

A stream (kind, code) that drops ``hold_after`` inputs in a row (nothing admitted between them;
any cause but ``unknown_code``, ``subscription_limit`` and ``duplicate``) holds its code: its
book is frozen or untrustworthy. The first admitted input of that stream releases it (when no
other stream of the code still holds it). The Rust admission (``shijim_core.Admission``) keeps
the counts and publishes each change as a per-code ``trading_state`` event in the ring at the
place in the stream where it happened; the strategy runner applies it to the risk gateway's
per-code hold (``CodeHold.DATA``). This module names the states and reads the held codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import shijim_core

HELD = "HALTED"  # trading_state names carried by the ring event (TradingStateName)
RELEASED = "ACTIVE"


@dataclass(frozen=True, slots=True)
class HoldChange:
    code: str
    state: str  # HELD or RELEASED
    reason: str  # at most 32 characters (the SBE reason field)


class DataHolds:
    """The held codes of one ingestor's admission (read-only)."""

    def __init__(self, admission: shijim_core.Admission) -> None:
        self._admission = admission

    @property
    def hold_after(self) -> int:
        return int(self._admission.hold_after)

    @property
    def held(self) -> dict[str, str]:
        """code -> reason."""
        return dict(self._admission.held())
