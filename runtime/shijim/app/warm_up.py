"""Warm-up: a throwaway copy of the decision path driven on synthetic books before the loop.

A run's first decision finds every function and object of its path for the first time:
CPython has not yet specialised their bytecode (it does after a few runs of each), the engine
and the allocator have not touched their pools, and the caches are cold. In the `make run`
demo its two quotes left 160-290 µs after their book, the run's slowest orders, set by the
first run of the code and not by the market. A pinned loop (``--cpu``) therefore first drives
a scratch copy of the path (the same strategy class and parameters built afresh, the same risk
limits and engine settings, a paper venue, its own ring and metrics registry) through
``WARM_UP_ROUNDS`` synthetic books per code, with trades through both sides so that places,
amends, fills, the venue's news and rehearsals all run, then discards it. Nothing of the real
shard is touched: its strategy, books, venue, account, counters and metrics start as before,
and the first real decision is still measured (docs/runtime.md#warm-up). What it cannot warm:
the real strategy's own tables and the real objects' cache lines.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import shijim_core
from shijim.app.feeds import open_ring
from shijim.domain import LadderOf

WARM_UP_ROUNDS = 40
# On every ladder, and far from zero so that a few ticks stay inside risk's fat-finger percent;
# the scratch engine's references follow its own books.
_PRICE = 10_000.0
# Synthetic exchange time between books: the venue's legs elapse and, over the rounds, the
# strategies' re-quote intervals (market making's default: 1 s).
_STEP_NS = 50_000_000


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarmUp:
    """What the scratch copy did (the summary prints it)."""

    decisions: int = 0
    orders: int = 0
    fills: int = 0
    seconds: float = 0.0
    quieted: int = 0  # log records of the scratch copy not shown (its risk rejects, say)


def warm_up(
    runner_of: Callable[[Any], Any],
    codes: Sequence[str],
    ladder_of: LadderOf,
    rounds: int = WARM_UP_ROUNDS,
) -> WarmUp:
    """Drive ``runner_of(reader)`` (a scratch ``StrategyRunner`` reading ``reader``) through
    ``rounds`` synthetic books per code on a ring of its own, removed afterwards."""
    if not codes or rounds <= 0:
        return WarmUp()
    t_start = time.perf_counter()
    name = f"shijim-warmup-{os.getpid()}"
    shijim_core.ring_unlink(name)  # one a killed run of this pid left behind
    writer, reader, close_ring = open_ring(name, 4096)
    with _quiet_on_this_thread() as quieted:
        try:
            result = _drive(runner_of(reader), writer, codes, ladder_of, rounds)
        finally:
            close_ring()
    result = WarmUp(*result, time.perf_counter() - t_start, quieted[0])
    log.info(
        "warm-up: %d decisions, %d orders, %d fills on a scratch copy in %.1f ms%s",
        result.decisions,
        result.orders,
        result.fills,
        result.seconds * 1e3,
        f" (its {result.quieted} log records not shown)" if result.quieted else "",
    )
    return result


def _drive(
    runner: Any, writer: Any, codes: Sequence[str], ladder_of: LadderOf, rounds: int
) -> tuple[int, int, int]:
    """The synthetic session: per round and code a book whose touch moves between three
    prices, and every eighth round a trade through each side (quotes rest over 1 s between)."""
    t = 1_000_000_000_000_000_000
    for rnd in range(rounds):
        for code in codes:
            tick = ladder_of(code)(_PRICE)
            bid = _PRICE + (rnd % 3) * tick  # the touch moves: re-quotes
            t += _STEP_NS
            bids = [bid - k * tick for k in range(5)]
            asks = [bid + (k + 1) * tick for k in range(5)]
            qty = [5 + rnd % 4] * 5
            writer.publish_bidask(code, t, time.time_ns(), bids, qty, asks, [5] * 5, False)
            if rnd % 8 == 7:  # a trade through the bid, then one through the ask: fills
                t += 1_000
                writer.publish_tick(code, t, time.time_ns(), bid - tick, 50, 50, 2, False)
                t += 1_000
                writer.publish_tick(code, t, time.time_ns(), asks[1], 50, 100, 1, False)
            while runner.step():
                pass
            runner.release_venue(t)
            runner.rehearse(time.monotonic_ns() + 1_000_000_000 * (rnd + 1))
    c = runner.counters
    return runner.decisions, c.places, c.fills


@contextmanager
def _quiet_on_this_thread() -> Iterator[list[int]]:
    """Records logged on this thread meanwhile (the scratch copy's) are counted, not shown;
    other threads' go through."""
    me = threading.get_ident()
    count = [0]

    def scratch(record: logging.LogRecord) -> bool:
        if record.thread == me:
            count[0] += 1
            return False
        return True

    handlers = list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(scratch)
    try:
        yield count
    finally:
        for h in handlers:
            h.removeFilter(scratch)
