"""``HftBacktestAdapter``: a live strategy, unchanged, over recorded data with hftbacktest as
the matching venue.

The run is the runtime's own replay path (docs/runtime.md) with one part swapped, the venue:

    recording --replay feed (pace fast)--> ingestion --> ring --> StrategyRunner: the engine
    (books, signals, decision policy, standby, fees, markouts, account), the strategy, the
    RiskAwareGateway (the same risk rules) --> HftVenue (hftbacktest: queue, latency, fills)

The engine, the runner, the strategy and the gateway are the objects a run builds, from the same
config. hftbacktest gets the same recording through the converter (shijim.tools.hft_converter),
one asset per code with the code's tick size and multiplier. Its clock follows the engine's:
before each of the strategy's decisions it is brought to that event's time, and between them a
second reader of the ring (``RingLookahead``) stops the engine after every event at which
hftbacktest could fill one of our orders, so that a fill reaches the strategy at the event it
happened on, as a paper fill does. Between such events nothing calls Python: the strategy's
standby answers in the engine (docs/engine.md#standby), which is why the adapter is faster than
hftbacktest's own plain-Python loop.

``venue="paper"`` runs the same loop with the engine's paper venue instead: the runtime's
``run --feed replay:`` (``--pace fast``), with the journal and the equity series (parity and
reconciliation, docs/backtest.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shijim.app.config import RuntimeConfig, with_overrides
from shijim.app.feeds import FeedSetup, open_ring
from shijim.app.runtime import (
    Shard,
    build_engine,
    engine_clock,
    instruments_for,
    ring_name,
    summarize,
)
from shijim.app.schema import ConfigError
from shijim.app.strategies import build_strategy
from shijim.app.summary import LatencyStats, RunSummary
from shijim.backtest.equity import EquitySeries, stats
from shijim.backtest.lookahead import RingLookahead, WakePlan
from shijim.backtest.models import VenueModels
from shijim.backtest.venue import NO_ANSWER, HftAsset, HftVenue
from shijim.bus.ingestion import Ingestor
from shijim.domain import KillSwitchSource, TradingState
from shijim.execution.paper import PaperVenue
from shijim.gateway.replay import ReplayFeed, ReplayPace
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import RiskAwareGateway
from shijim.risk.state import TradingStateMachine
from shijim.strategy.journal import Journal
from shijim.strategy.runner import StrategyRunner
from shijim.tools import hft_converter as hc
from shijim.universe import ShardSpec

log = logging.getLogger(__name__)

NS = 1_000_000_000
VENUES = ("hftbacktest", "paper")
# At the end of the data: how long (event time) answers to the last cancels may take.
_FLUSH_LIMIT_NS = 60 * NS


class BacktestError(Exception):
    """Input or configuration that stops a backtest; the message names the input."""


@dataclass(frozen=True)
class BacktestSpec:
    """What to backtest and how."""

    data: tuple[str, ...]  # raw JSONL/SBE files or directories (the recorder's files)
    cfg: RuntimeConfig = field(default_factory=RuntimeConfig)  # strategy, decision, risk, fees
    models: VenueModels = field(default_factory=VenueModels)
    venue: str = "hftbacktest"  # or "paper": the engine's paper venue (the runtime's replay)
    codes: tuple[str, ...] = ()  # only these codes (default: every code with data)
    bar_ns: int = NS  # equity sampling period (event time)


@dataclass
class BacktestResult:
    summary: RunSummary
    equity: EquitySeries
    journal: Journal
    venue: str  # the venue, described
    counts: dict[str, int]  # the adapter's own counts (looks, wakes, requests)
    conversion: dict[str, Any]  # the converter's manifest (hftbacktest venue), else {}
    # hftbacktest's own position per code: not ours (ours is the engine account's, from the
    # order states); with partial fills it misses them (hftbacktest issue 316).
    hbt_positions: dict[str, float] = field(default_factory=dict)


class HftBacktestAdapter:
    """``HftBacktestAdapter(spec).run()``: one backtest, in this process (it opens a ring of its
    own, named after the process, and removes it at the end)."""

    def __init__(self, spec: BacktestSpec) -> None:
        if spec.venue not in VENUES:
            raise BacktestError(f"venue {spec.venue!r}: expected one of {', '.join(VENUES)}")
        if spec.bar_ns <= 0:
            raise BacktestError(f"bar: expected > 0 ns, got {spec.bar_ns}")
        if not spec.data:
            raise BacktestError("data: no input given")
        self.spec = spec

    # -- inputs ------------------------------------------------------------------------------
    def _convert(self) -> tuple[hc.Conversion, list[HftAsset]]:
        try:
            conv = hc.convert(self.spec.data, hc.ConvertOptions(codes=self.spec.codes))
        except hc.ConversionError as exc:
            raise BacktestError(str(exc)) from None
        assets = []
        for code, c in sorted(conv.codes.items()):
            if not c.rows.size:
                continue
            facts = hc.instrument_facts(code, c.rows)
            if facts["tick_size"] is None:
                raise BacktestError(
                    f"{code}: unknown instrument (tick size, multiplier): not a TXF/MXF/TMF "
                    "future nor a TWSE stock code"
                )
            assets.append(HftAsset(code, c.rows, facts["tick_size"], facts["multiplier"]))
        if not assets:
            raise BacktestError(f"{', '.join(self.spec.data)}: no trades or books to backtest")
        return conv, assets

    def _codes_of_data(self) -> list[str]:
        """The codes a paper run trades: those the converter finds (one reader of the data)."""
        return [a.code for a in self._convert()[1]]

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> BacktestResult:
        spec = self.spec
        started = time.monotonic()
        conversion: dict[str, Any] = {}
        if spec.venue == "hftbacktest":
            conv, assets = self._convert()
            conversion = hc.manifest(conv, {})
            codes = [a.code for a in assets]
        else:
            assets = []
            codes = self._codes_of_data()
        with _replay_path(spec.data) as path:
            cfg = _backtest_config(spec.cfg, codes, path)
            shard, venue, journal, feed_setup = _compose(cfg, codes, assets, spec.models)
            try:
                equity = self._loop(shard, venue, feed_setup)
                self._finish(shard, venue)
                equity.add(shard.engine.now, shard.engine.net_pnl, _positions(shard))
                summary = summarize(shard, time.monotonic() - started)
            finally:
                shard.close()
        st = stats(equity)
        described = spec.models.describe() if venue is not None else _paper(cfg)
        summary = dataclasses.replace(
            summary,
            feed=f"backtest ({', '.join(spec.data)})",
            venue=described,
            # The replay stamps receive times at publication: no tick-to-order in a backtest.
            tick_to_order=LatencyStats.of([]),
            sharpe=st.sharpe,
            max_drawdown=st.max_drawdown,
        )
        counts = dict(venue.counts) if venue is not None else {}
        counts["steps"] = self._steps
        hbt_positions = {}
        if venue is not None:
            hbt_positions = {a.code: venue.hbt.position(i) for i, a in enumerate(venue.assets)}
        return BacktestResult(
            summary, equity, journal, described, counts, conversion, hbt_positions
        )

    def _loop(self, shard: Shard, venue: HftVenue | None, feed_setup: FeedSetup) -> EquitySeries:
        """Publish the recording a batch at a time; let the engine read it up to the next place
        hftbacktest could have news (or the end of a bar); look; repeat."""
        engine, feed = shard.engine, feed_setup.feed
        runner = shard.runner
        asset_of = {} if venue is None else {a.code: i for i, a in enumerate(venue.assets)}
        look = RingLookahead(feed_setup.ring_name, asset_of)
        plan = WakePlan(look, venue.models.latency.response) if venue is not None else None
        equity = EquitySeries(tuple(shard.codes))
        bar = self.spec.bar_ns
        bar_end = 0

        def bound(pos: int) -> int:
            if plan is not None and venue is not None:
                return plan.stop(pos, venue.watch(), bar_end)
            # The paper venue wakes the strategy itself (the engine's venue events).
            return min(look.end, look.first_at(bar_end, pos))

        at_stop = None
        if venue is not None and plan is not None:
            hbt_venue, wakes = venue, plan

            def at_stop() -> bool:
                # At a stop: bring hftbacktest here and look (news are taken once per stop).
                # End the runner's read when there is news to deliver or the stop is a bar's
                # end or the end of what was read.
                hbt_venue.pump()
                return bool(hbt_venue.events) or bound(reading.read) <= reading.read

            venue.news = lambda: wakes.news(reading.read)
        reading = runner.engine = _BoundedEngine(engine, bound, at_stop)
        steps = 0
        feed.start(feed_setup.ingestor)
        try:
            while True:
                pos = reading.read
                if pos >= look.end:
                    if feed.finished:
                        break
                    feed.poll()
                    look.read(drop_before=pos - 1)  # the clock before pos is still asked
                    if pos >= look.end:
                        continue  # every entry was dropped by ingestion: read on
                    if bar_end == 0:
                        bar_end = (look.clock_at(pos) // bar + 1) * bar
                if bound(pos) == pos:  # the next message is in a later bar: the bar ended
                    equity.add(bar_end, engine.net_pnl, _positions(shard))
                    bar_end = (look.clock_at(pos) // bar + 1) * bar
                    continue
                runner.step()
                steps += 1
                if shard.day_roll.crossed(engine.now):
                    shard.gateway.new_trading_day()
        finally:
            self._steps = steps
            runner.engine = engine
        return equity

    def _finish(self, shard: Shard, venue: HftVenue | None) -> None:
        """The end of the data: halt (every working order is cancelled, as at a run's stop),
        let the answers arrive, deliver them."""
        gw = shard.gateway
        shard.working_at_stop = len(gw.working_orders())
        shard.state.demand(KillSwitchSource.SHUTDOWN, TradingState.HALTED, "backtest: end of data")
        engine = shard.engine
        end = engine.now + _FLUSH_LIMIT_NS
        for _ in range(10_000):
            shard.runner.step()
            if not gw.working_orders():
                break
            if venue is not None:
                t = venue.watch().answer_at
                if t == NO_ANSWER or t > end:
                    break
            else:
                t = engine.now + 1_000_000  # the paper venue's legs: step through time
                if t > end:
                    break
            engine.advance_clock(t)
        shard.runner.step()


class _BoundedEngine:
    """The engine as the runner sees it in a backtest: ``next_due`` never reads past
    ``bound(messages read so far)``, recomputed at every call, so an order the strategy sends
    at a decision moves the next stop before the engine reads on. At a stop, ``look()`` lets
    the venue look at hftbacktest; with no news the engine reads on within the same call (no
    runner turn per marked event), with news (or at the end of a bar, or of what was read) the
    call ends and the runner delivers it. (A runner hook would do the same: StrategyRunner
    asking a ``read_limit`` before each ``next_due``; docs/backtest.md.)"""

    def __init__(self, engine: Any, bound: Any, look: Any = None) -> None:
        self._e = engine
        self._bound = bound
        self._look = look  # () -> True: end the call here
        self.read = 0  # ring messages the engine has read
        self._last: tuple[int, int, int, int] = (0, 0, 0, 0)

    def next_due(self, reader: Any, max_messages: int) -> Any:
        e = self._e
        read = lost = restarts = bad = 0
        due = None
        while read < max_messages:
            n = min(max_messages - read, self._bound(self.read) - self.read)
            if n <= 0:
                break
            due = e.next_due(reader, n)
            got, lo, re, ba = e.last_read
            read += got
            lost += lo
            restarts += re
            bad += ba
            self.read += got
            if due is not None or got < n or lost or restarts or bad:
                break  # a decision, an empty ring, or a gap: the runner's to handle
            if self._look is None or self._look():
                break
        self._last = (read, lost, restarts, bad)
        return due

    @property
    def pending_events(self) -> int:
        return self._e.pending_events

    @property
    def last_read(self) -> tuple[int, int, int, int]:
        return self._last

    def take_view(self, code_id: int, view_type: type, signals_type: type) -> Any:
        return self._e.take_view(code_id, view_type, signals_type)

    def stand_by(self, *args: Any) -> Any:
        return self._e.stand_by(*args)

    def wake_all(self) -> None:
        self._e.wake_all()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._e, name)


def _positions(shard: Shard) -> list[int]:
    keeper = shard.gateway.positions
    return [int(keeper.net(c)) for c in shard.codes]


def _paper(cfg: RuntimeConfig) -> str:
    return f"paper (the engine's venue), latency {cfg.paper.latency}"


class _replay_path:
    """One path for the replay feed: the input itself, or a directory of links to several."""

    def __init__(self, data: Sequence[str]) -> None:
        self.data = list(data)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> str:
        if len(self.data) == 1:
            return self.data[0]
        self._tmp = tempfile.TemporaryDirectory(prefix="shijim-backtest-")
        files = [f.path for f in hc.input_files(self.data)]
        names = [f.name for f in files]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise BacktestError(f"data: two inputs are named {', '.join(dup)}: rename one")
        for f in files:
            os.symlink(f.resolve(), Path(self._tmp.name) / f.name)
        return self._tmp.name

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _backtest_config(cfg: RuntimeConfig, codes: list[str], path: str) -> RuntimeConfig:
    try:
        return with_overrides(
            cfg,
            shard={"id": 0, "total": 1},
            universe={"codes": tuple(codes)},
            feed={"kind": "replay", "replay_path": path, "pace": "fast"},
        )
    except ConfigError as exc:
        raise BacktestError(str(exc)) from None


def _compose(
    cfg: RuntimeConfig, codes: list[str], assets: list[HftAsset], models: VenueModels
) -> tuple[Shard, HftVenue | None, Journal, FeedSetup]:
    """The shard a run would build (runtime.compose) with the backtest's venue; the strategy
    wrapped in a journal. The feed reads every given file (no file-name filter)."""
    metrics = ShardMetrics(0)
    state = TradingStateMachine()
    try:
        instruments = instruments_for(codes)
        strategy = build_strategy(cfg, instruments.ladder)
        engine = build_engine(cfg, instruments, True, getattr(strategy, "signal_levels", 5))
    except ConfigError as exc:
        raise BacktestError(str(exc)) from None
    venue = HftVenue(engine, assets, models) if assets else None
    adapter: Any = venue if venue is not None else PaperVenue(engine)
    gateway = RiskAwareGateway(
        adapter, instruments, cfg.risk, state, None, clock=engine_clock(engine), engine=engine
    )
    journal = Journal(strategy, engine_clock(engine))
    name = ring_name(cfg)
    writer, reader, close_ring = open_ring(name, cfg.ring.slots)
    try:
        ingestor = Ingestor(writer, universe=codes, metrics=metrics)
        feed = ReplayFeed(cfg.feed.replay_path, ReplayPace.FAST, batch=cfg.ring.batch)
    except (FileNotFoundError, ValueError) as exc:  # e.g. a day's .jsonl and .sbe side by side
        close_ring()
        raise BacktestError(str(exc)) from None
    except BaseException:
        close_ring()
        raise
    feed_setup = FeedSetup("replay", feed, ingestor, writer, reader, name, close_ring)
    runner = StrategyRunner(engine, reader, journal, gateway, None, max_messages=cfg.ring.batch)
    shard = Shard(
        cfg, ShardSpec(0, 1), codes, metrics, state, gateway, runner, feed_setup, engine, True
    )
    shard.closers.append(feed_setup.close)
    gateway.start()
    return shard, venue, journal, feed_setup
