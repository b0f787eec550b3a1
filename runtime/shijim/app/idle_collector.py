"""Python's cyclic garbage collector, run between events instead of inside them.

Left automatic, CPython collects its youngest generation whenever 700 more container objects
have been allocated than freed, wherever that happens: usually inside a decision, where views,
actions and orders are allocated. Each youngest collection costs 50-190 µs here, a middle one
~0.9 ms, and a full one over the start-up heap (~36,000 objects) 9-14 ms. The `make run` demo's
30 s never trigger one after start-up (its loop leaves ~140 more tracked objects than it found),
but a trading day does: at that rate a youngest collection every few minutes and a middle one
every half hour, each landing inside a decision as often as not.

A pinned loop (``--cpu``) instead:

1. at its start, collects everything once and **freezes** what survived (``gc.freeze``: the
   modules, the engine, the books, the strategy's tables are never scanned again);
2. turns automatic collection off and runs it itself in **idle turns** (nothing published,
   the ring empty), with CPython's own cadence: the youngest generation when 700 allocations
   are pending, the next when 10 of those ran, the oldest when 10 of those ran;
3. in a burst with no idle turn, collects anyway once ten times that many are pending
   (``overdue``): memory stays bounded, and the summary counts these.

At the end of the loop automatic collection is restored as it was.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

# A burst may defer collection to this many times the youngest generation's threshold.
OVERDUE_FACTOR = 10


@dataclass
class CollectorCounts:
    """What the collector did in the loop (the run summary prints it beside tick-to-order)."""

    idle: int = 0  # collections run in idle turns
    overdue: int = 0  # collections a burst forced between two events
    ns: int = 0  # their time, holding the interpreter lock
    frozen: int = 0  # objects frozen at the start


class IdleCollector:
    """``with IdleCollector() as gc_idle:`` around a pinned loop; ``gc_idle.idle()`` in each
    idle turn, ``gc_idle.between_events()`` once per busy turn."""

    def __init__(self, counts: CollectorCounts | None = None) -> None:
        self.counts = CollectorCounts() if counts is None else counts
        t0, t1, t2 = gc.get_threshold()
        self._t0 = max(1, t0)
        self._t1, self._t2 = max(1, t1), max(1, t2)
        self._was_enabled = gc.isenabled()

    def __enter__(self) -> IdleCollector:
        gc.collect()
        gc.freeze()
        self.counts.frozen = gc.get_freeze_count()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()  # the next automatic collections see everything again
        if self._was_enabled:
            gc.enable()

    def idle(self) -> bool:
        """In an idle turn: collect if CPython would have by now. True if it did."""
        if gc.get_count()[0] < self._t0:
            return False
        self._collect()
        self.counts.idle += 1
        return True

    def between_events(self) -> None:
        """In a busy turn: collect only if a burst has deferred it ``OVERDUE_FACTOR`` times."""
        if gc.get_count()[0] >= self._t0 * OVERDUE_FACTOR:
            self._collect()
            self.counts.overdue += 1

    def _collect(self) -> None:
        _, n1, n2 = gc.get_count()  # collections of the younger generation since this one's
        generation = 2 if n2 >= self._t2 else 1 if n1 >= self._t1 else 0
        t = time.perf_counter_ns()
        gc.collect(generation)
        self.counts.ns += time.perf_counter_ns() - t
