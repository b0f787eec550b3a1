"""The one interface every market-data feed offers to the runtime (docs/feeds.md).

feed.start(ingestor)        # connect / subscribe / prepare; nothing is published yet
                            # except what a broker pushes from its own threads
n = feed.poll()             # do the work that is due now in the caller's thread
                            # (simulator / replay: publish due events; Shioaji:
                            # resubscribe after a reconnect, degrade after a long outage);
                            # returns events published by this call
feed.run_for(seconds=None, max_events=None)   # poll() in a loop until time, count, or
                                              # the feed is finished / stopped
feed.finished               # True when a finite feed (replay) has nothing more to give
feed.stop()                 # unsubscribe / close; idempotent
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from shijim.bus.ingestion import Ingestor


@runtime_checkable
class MarketDataFeed(Protocol):
    name: str

    def start(self, ingestor: Ingestor) -> None: ...

    def poll(self) -> int: ...

    def run_for(self, seconds: float | None = None, max_events: int | None = None) -> int: ...

    @property
    def finished(self) -> bool: ...

    def stop(self) -> None: ...


def run_feed_for(
    feed: MarketDataFeed,
    seconds: float | None,
    max_events: int | None,
    idle_sleep_s: float = 0.001,
) -> int:
    """Shared ``run_for`` loop: poll until the deadline, the event budget or the end."""
    deadline = None if seconds is None else time.monotonic() + seconds
    total = 0
    while not feed.finished:
        n = feed.poll()
        total += n
        if max_events is not None and total >= max_events:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        if n == 0:
            time.sleep(idle_sleep_s)
    return total
