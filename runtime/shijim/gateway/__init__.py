"""Market-data feeds (docs/feeds.md): Shioaji live, the simulated market, JSONL replay.

Every feed implements ``shijim.gateway.feed.MarketDataFeed`` (start(ingestor) / poll() /
run_for() / finished / stop()) and publishes only through ``shijim.bus.Ingestor``. Modules are
imported lazily by the app: importing ``shioaji`` is slow and writes ``shioaji.log``.
"""

from __future__ import annotations

from shijim.gateway.feed import MarketDataFeed, run_feed_for

__all__ = ["MarketDataFeed", "run_feed_for"]
