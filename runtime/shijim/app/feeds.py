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
    sim_clock: VirtualClock | None = None

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


# The simulated session starts on a fixed weekday at 09:00 Asia/Taipei (01:00 UTC), when both
# TAIFEX and TWSE trade, so a seed alone determines the market.
SIM_START_NS = 1_767_574_800_000_000_000  # 2026-01-05T01:00:00Z (Monday)


class VirtualClock:
    """Seconds the trading loop has advanced the simulated market; the sim feed's ``monotonic``.

    The loop advances it in fixed slices and drains the ring after each, so the batches the
    strategy sees, hence every decision, depend only on the seed (docs/runtime.md)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _sim_feed(cfg: RuntimeConfig, codes: list[str], clock: VirtualClock) -> Any:
    from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
    from shijim.gateway.sim_market import SimulatedMarket, default_instruments

    known = {i.code: i for i in default_instruments()}
    for i, code in enumerate(cfg.universe.codes):
        if code in codes and code not in known:
            raise ConfigError(
                f"universe.codes[{i}]",
                f'"{code}" is not simulated (the sim has: {", ".join(known)})',
            )
    if not codes:
        raise ConfigError("universe.codes", "this shard owns no code: nothing to simulate")
    market = SimulatedMarket([known[c] for c in codes], cfg.feed.seed, SIM_START_NS)
    if cfg.run.cpu is None:
        return SimFeed(market, Pace.REALTIME, local_clock=LocalClock.WALL, monotonic=clock)
    # Pinned: the market is generated ahead in its own process, on the other CPUs, not on the
    # trading thread (shijim.gateway.sim_process; docs/decisions.md).
    from shijim.gateway.sim_process import MarketProcess

    return SimFeed(
        MarketProcess(market), Pace.REALTIME, local_clock=LocalClock.WALL, monotonic=clock
    )


def _replay_feed(cfg: RuntimeConfig, codes: list[str], metrics: ShardMetrics) -> Any:
    from shijim.gateway.replay import ReplayFeed, ReplayPace

    try:
        return ReplayFeed(
            cfg.feed.replay_path, ReplayPace(cfg.feed.pace), codes=codes, metrics=metrics
        )
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError("feed.replay_path", str(exc)) from None


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
    sim_clock: VirtualClock | None = None,
) -> FeedSetup:
    try:
        writer, reader, close_ring = open_ring(ring, cfg.ring.slots)
    except ValueError as exc:  # a bad name or slot count, as the ring reports it
        raise ConfigError("ring.name" if cfg.ring.name else "ring.slots", str(exc)) from None
    try:
        ingestor = Ingestor(writer, universe=codes, metrics=metrics)
        if kind == "sim":
            feed = _sim_feed(cfg, codes, sim_clock or VirtualClock())
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
    return FeedSetup(kind, feed, ingestor, writer, reader, ring, close_ring, sim_clock)
