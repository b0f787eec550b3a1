"""Build the shard's feed and its ring: writer (the ingestion side) and the strategy's reader.

One ring per process and shard (``ring_name``), created here and unlinked at exit. The feed gets
an ``Ingestor`` over the writer (checks, counts and drops bad input, stamps local time); the
runner reads the same ring by name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shijim.app.config import RuntimeConfig
from shijim.app.schema import ConfigError
from shijim.bus.ingestion import Ingestor
from shijim.gateway.shioaji_session import ENV_API_KEY, ENV_SECRET_KEY
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)


@dataclass
class FeedSetup:
    kind: str
    feed: Any  # shijim.gateway.feed.MarketDataFeed
    ingestor: Ingestor
    writer: Any  # shijim_core.RingWriter
    reader: Any  # shijim_core.RingReader
    ring_name: str
    close: Callable[[], None]

    def bad_input(self) -> dict[str, int]:
        counts = getattr(self.ingestor.bad, "counts", None)
        return {str(k): int(v) for k, v in (counts or {}).items()}


def resolve_feed_kind(cfg: RuntimeConfig, env: Mapping[str, str]) -> str:
    kind = cfg.feed.kind
    if kind == "auto":
        kind = "shioaji" if env.get(ENV_API_KEY) and env.get(ENV_SECRET_KEY) else "sim"
    return kind


def open_ring(name: str, slots: int) -> tuple[Any, Any, Callable[[], None]]:
    import shijim_core

    writer = shijim_core.RingWriter(name, slots=slots, create=True)
    try:
        reader = shijim_core.RingReader(name)
    except Exception:
        writer.close()
        shijim_core.ring_unlink(name)
        raise

    def close() -> None:
        writer.close()
        shijim_core.ring_unlink(name)

    return writer, reader, close


def _sim_feed(cfg: RuntimeConfig, codes: list[str], metrics: ShardMetrics) -> Any:
    from shijim.gateway.sim import SimConfig, SimulatedMarket

    return SimulatedMarket(
        codes, SimConfig(seed=cfg.feed.seed, pace=cfg.feed.pace), metrics=metrics
    )


def _replay_feed(cfg: RuntimeConfig, codes: list[str], metrics: ShardMetrics) -> Any:
    from shijim.gateway.replay import ReplayFeed

    return ReplayFeed(cfg.feed.replay_path, pace=cfg.feed.pace, metrics=metrics)


def shioaji_session(cfg: RuntimeConfig, env: Mapping[str, str]) -> Any:
    """One logged-in broker session shared by the feed and the order adapter."""
    from shijim.gateway.shioaji_session import ShioajiCredentials, ShioajiSession

    creds = ShioajiCredentials.from_env(env)
    if creds is None:
        raise ConfigError("feed.kind", f"shioaji needs {ENV_API_KEY} and {ENV_SECRET_KEY} set")
    session = ShioajiSession(simulation=cfg.feed.simulation)
    session.login(creds)
    return session


def shioaji_order_adapter(session: Any, instrument_of: Callable[[str], Any]) -> Any:
    """The Shioaji execution adapter over the feed's session (docs/execution.md)."""
    from shijim.execution.shioaji_orders import ShioajiOrderAdapter

    return ShioajiOrderAdapter(
        session.api,
        session.contract,
        instrument_of,
        futopt_account=session.futopt_account,
        stock_account=session.stock_account,
    )


def build_feed(
    kind: str,
    cfg: RuntimeConfig,
    codes: list[str],
    ring: str,
    metrics: ShardMetrics,
    session: Any = None,
) -> FeedSetup:
    writer, reader, close_ring = open_ring(ring, cfg.ring.slots)
    try:
        ingestor = Ingestor(writer, universe=codes, metrics=metrics)
        if kind == "sim":
            feed = _sim_feed(cfg, codes, metrics)
        elif kind == "replay":
            feed = _replay_feed(cfg, codes, metrics)
        elif kind == "shioaji":
            from shijim.gateway.shioaji_feed import ShioajiMarketData

            feed = ShioajiMarketData(session, codes, metrics=metrics)
        else:
            raise ConfigError("feed.kind", f'unknown feed "{kind}"')
    except BaseException:
        close_ring()
        raise
    return FeedSetup(kind, feed, ingestor, writer, reader, ring, close_ring)
