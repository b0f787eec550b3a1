"""Token bucket over order actions (place, amend, cancel), with a reserve only cancels may use.

Shioaji suspends an account for a minute above 250 actions per 10 s; a suspension would also
block the cancels of a kill switch. So the bucket holds ``capacity`` tokens (default 200, below
the broker's figure), refilled continuously at ``capacity / window``; places and amends may only
take a token while more than ``reserve`` remain, cancels may take the last ones. Deterministic:
the caller passes the clock reading (monotonic ns).
"""

from __future__ import annotations


class ActionBucket:
    __slots__ = ("_last_ns", "_per_ns", "_tokens", "capacity", "reserve")

    def __init__(self, capacity: int, window_s: float, reserve: int, now_ns: int = 0) -> None:
        if capacity <= 0 or window_s <= 0 or not 0 <= reserve < capacity:
            raise ValueError(
                f"ActionBucket: need capacity > 0, window_s > 0, 0 <= reserve < capacity; got "
                f"capacity={capacity} window_s={window_s} reserve={reserve}"
            )
        self.capacity = float(capacity)
        self.reserve = float(reserve)
        self._per_ns = capacity / (window_s * 1e9)
        self._tokens = float(capacity)
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> float:
        """The tokens at ``now_ns``, refilled since the last reading (the one formula)."""
        elapsed = now_ns - self._last_ns
        if elapsed > 0:
            tokens = self._tokens + elapsed * self._per_ns
            cap = self.capacity
            self._tokens = tokens if tokens < cap else cap  # min() without a builtin call
            self._last_ns = now_ns
        return self._tokens

    def tokens(self, now_ns: int) -> float:
        return self._refill(now_ns)

    def try_take(self, now_ns: int) -> bool:
        """A place or amend: needs a token above the cancel reserve."""
        if self._refill(now_ns) >= self.reserve + 1.0:
            self._tokens -= 1.0
            return True
        return False

    def would_take(self, now_ns: int) -> bool:
        """What ``try_take`` would answer at ``now_ns``, with nothing changed (a rehearsal):
        the refill is undone, so the next reading refills from the same point."""
        tokens, last_ns = self._tokens, self._last_ns
        try:
            return self._refill(now_ns) >= self.reserve + 1.0
        finally:
            self._tokens, self._last_ns = tokens, last_ns

    def try_take_cancel(self, now_ns: int) -> bool:
        if self._refill(now_ns) >= 1.0:
            self._tokens -= 1.0
            return True
        return False
