"""``--feed sim``: the simulated market published into ingestion at a chosen pace.

Pace ``realtime``: the simulated exchange clock advances with the wall clock (times ``speed``);
events are published when their exchange time is due. Pace ``fast``: chunks are published as
fast as they are generated (the throughput benchmark). Batches go through
``Ingestor.ticks`` / ``Ingestor.bidasks`` (numpy, one ring call per run of same-kind events, so
the ring keeps each trade before its book and the time order across instruments).

Local receive time: ``local_clock="wall"``: the ingestion stamps the wall clock on arrival (the
simulator's rows carry 0, as a live input carries no stamp of its own);
``local_clock="exchange"`` uses exchange time + ``latency_ns``, which makes the whole ring
content (not only the exchange stream) byte-identical for a given seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from shijim.bus.ingestion import Ingestor
from shijim.bus.validation import NO_CLOCK_CHECK
from shijim.gateway.feed import run_feed_for
from shijim.gateway.sim_market import NS, SimChunk, SimulatedMarket

if TYPE_CHECKING:
    from shijim.gateway.sim_process import MarketProcess


class Pace(StrEnum):
    REALTIME = "realtime"
    FAST = "fast"


class LocalClock(StrEnum):
    WALL = "wall"
    EXCHANGE = "exchange"


@dataclass
class _Pending:
    chunk: SimChunk
    pos: int  # next position in chunk.kinds


class SimFeed:
    name = "sim"

    def __init__(
        self,
        market: SimulatedMarket | MarketProcess,
        pace: Pace = Pace.REALTIME,
        speed: float = 1.0,
        local_clock: LocalClock = LocalClock.WALL,
        latency_ns: int = 200_000,
        max_sim_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected > 0, got {speed!r}")
        self.market = market
        self.pace = Pace(pace)
        self.speed = speed
        self.local_clock = LocalClock(local_clock)
        self.latency_ns = latency_ns
        self.monotonic = monotonic
        self.ingestor: Ingestor | None = None
        self._pending: _Pending | None = None
        self._anchor: tuple[float, int] | None = None  # (wall monotonic, sim ns)
        self._end_ns = (
            None if max_sim_seconds is None else market.clock_ns + int(max_sim_seconds * NS)
        )
        self._stopped = False
        # Realtime: the exchange time through which every event has been published (the last
        # poll's due time); the runner releases the paper venue's news up to it between events.
        self.published_through_ns: int | None = None

    def start(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        # The simulated exchange clock is not the wall clock (it starts on a fixed Monday):
        # no bound between exchange and receive times; every other rule applies.
        ingestor.set_clock_check(NO_CLOCK_CHECK)
        self.market.start()  # a MarketProcess's child generates from here on, ahead of need
        sim0 = self.market.clock_ns
        if self.pace is Pace.REALTIME and self._pending is None:
            # The first chunk is generated before the clock starts: its 3-5 ms (numpy's first
            # calls included) would otherwise hold back the open, whose first books would then
            # be published in one lump when they are due milliseconds apart.
            self._pending = self._next_pending()
        self._anchor = (self.monotonic(), sim0)

    def stop(self) -> None:
        self._stopped = True
        self.market.close()

    @property
    def finished(self) -> bool:
        if self._stopped:
            return True
        return (
            self._end_ns is not None
            and self._pending is None
            and self.market.clock_ns >= self._end_ns
        )

    def run_for(self, seconds: float | None = None, max_events: int | None = None) -> int:
        return run_feed_for(self, seconds, max_events)

    def _due_ns(self) -> int:
        if self.pace is Pace.FAST:
            return np.iinfo(np.int64).max
        assert self._anchor is not None
        wall0, sim0 = self._anchor
        return sim0 + int((self.monotonic() - wall0) * self.speed * NS)

    def _next_pending(self) -> _Pending | None:
        if self._end_ns is not None and self.market.clock_ns >= self._end_ns:
            return None
        chunk = self.market.next_chunk()
        return _Pending(chunk, 0)

    def poll(self) -> int:
        """Publish every event that is due; returns how many were published.

        The simulator's own bookkeeping comes first and the hand-over last: the ingestion
        stamps each row's receive time as it takes it, and nothing of the simulator runs
        between that stamp and the runner, as a live feed's work after a publication runs on
        its own thread and does not delay the trading thread."""
        if self.ingestor is None or self._stopped:
            return 0
        due = self._due_ns()
        ranges: list[tuple[SimChunk, int, int]] = []
        while True:
            if self._pending is None:
                if self.pace is Pace.REALTIME:
                    if self.market.clock_ns - due > self.market.chunk_ns:
                        # The simulated clock jumped over closed hours: the next session
                        # starts now, not hours of wall time later.
                        self._anchor = (self.monotonic(), self.market.clock_ns)
                        due = self._due_ns()
                    if self.market.clock_ns > due:
                        break  # the next chunk starts in the future
                self._pending = self._next_pending()
                if self._pending is None:
                    break
            p = self._pending
            end = int(np.searchsorted(p.chunk.times, due, side="right"))
            if end > p.pos:
                ranges.append((p.chunk, p.pos, end))
                p.pos = end
            if p.pos >= p.chunk.size:
                self._pending = None
                if self.pace is Pace.FAST:
                    break  # one chunk per poll keeps poll() short
                continue
            break
        if self.pace is Pace.REALTIME:
            self.published_through_ns = due
        if not ranges:
            self.market.prefetch()  # nothing due: take what a MarketProcess's child finished
            return 0
        *before, (chunk, lo, hi) = ranges  # more than one: a chunk ended within this poll
        total = sum(self._publish(c, a, b) for c, a, b in before) if before else 0
        return total + self._publish(chunk, lo, hi)

    def _publish(self, chunk: SimChunk, lo: int, hi: int) -> int:
        kinds = chunk.kinds[lo:hi]
        index = chunk.index[lo:hi]
        ev_pos = np.flatnonzero(kinds == 0).tolist()
        if not ev_pos:  # the usual range: trades and books alone, handed over in one call
            return self._hand_over(chunk, kinds, index)
        # Session events split the range; between them ticks and books go in one call.
        ing = self.ingestor
        assert ing is not None
        n = 0
        bounds = [-1, *ev_pos, kinds.size]
        for e, nxt in pairwise(bounds):
            if e >= 0:
                ts, code, state = chunk.sessions[int(index[e])]
                local = ts + self.latency_ns if self.local_clock is LocalClock.EXCHANGE else None
                ing.event("session_state", code, ts, state, local_ts=local)
                n += 1
            if nxt > e + 1:
                n += self._hand_over(chunk, kinds[e + 1 : nxt], index[e + 1 : nxt])
        return n

    def _hand_over(self, chunk: SimChunk, k: np.ndarray, ix: np.ndarray) -> int:
        """Trades and books (``k``: 1 or 2, ``ix`` their rows in the chunk) into ingestion."""
        ing = self.ingestor
        assert ing is not None
        ticks = chunk.ticks[ix[k == 1]]
        books = chunk.bidasks[ix[k == 2]]
        if self.local_clock is LocalClock.EXCHANGE:
            ticks["local_ts"] = ticks["exch_ts"] + self.latency_ns
            books["local_ts"] = books["exch_ts"] + self.latency_ns
        # Wall clock: the rows' local_ts is 0 and the ingestion stamps them on arrival,
        # as it stamps a live callback's input (Ingestor.tick / bidask).
        return ing.interleaved(ticks, books, k, "sim")
