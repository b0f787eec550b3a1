"""The composition root of one shard: feed -> ingestion -> ring -> StrategyRunner -> risk gateway
-> execution venue, with metrics, kill-switch sources and a clean stop.

Threads: the trading thread (this one) polls the feed and runs the engine and the strategy; the
Shioaji feed publishes from the broker's callback threads; metrics HTTP, admin HTTP, the file
trigger and the Kubernetes watcher each run on their own daemon threads and only ever touch the
trading state machine (never the trading path). Simulated and replayed feeds are polled by the
trading thread itself (publish due events, then handle every due event): the engine runs on
event time (the simulator's exchange time, replay's recorded receive time), so a run is a
deterministic function of the seed and the event stream at any pace, which is what a quant wants
from a simulation.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shijim_core
from shijim.app.config import RuntimeConfig
from shijim.app.feeds import FeedSetup, VirtualClock, build_feed, resolve_feed_kind
from shijim.app.health import Heartbeat, ShardHealth, market_of
from shijim.app.idle_collector import CollectorCounts, IdleCollector
from shijim.app.schema import ConfigError
from shijim.app.strategies import build_strategy
from shijim.app.summary import LatencyStats, Markout, RunSummary
from shijim.app.warm_up import WarmUp, warm_up
from shijim.dashboard.channel import SNAPSHOT_INTERVAL_S, shard_channel
from shijim.domain import Instrument, KillSwitchSource, TradingState, instrument_for
from shijim.execution.paper import PaperVenue
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.state import TradingStateMachine
from shijim.strategy.journal import Journal, write_journal
from shijim.strategy.runner import StrategyRunner
from shijim.trading_day import DayRoll
from shijim.universe import JitterMode, ShardSpec, wait_startup_jitter

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 3.0  # at shutdown, how long to wait for the venue to confirm cancels
IDLE_SLEEP_S = 0.0002
# A pinned loop's idle turn: the ring watched for this long with the interpreter lock released
# (RingReader.wait), then the loop's own duties (venue timers, heartbeat, stop, duration).
IDLE_SPIN_NS = 50_000
FAST_SLICE_S = 0.05  # simulated seconds published per loop turn at fast pace


@dataclass
class Shard:
    """Everything one shard's run is made of (built by ``compose``; torn down by ``close``)."""

    cfg: RuntimeConfig
    spec: ShardSpec
    codes: list[str]
    metrics: ShardMetrics
    state: TradingStateMachine
    gateway: RiskAwareGateway
    runner: StrategyRunner
    feed_setup: FeedSetup
    engine: Any  # shijim_core.Engine: books, signals, the paper venue, the account
    event_time: bool  # the engine's clock is event time (sim, replay), not this host's
    notes: list[str] = field(default_factory=list)
    working_at_stop: int = 0
    day_roll: DayRoll = field(default_factory=DayRoll)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)  # the trading loop's, for /livez
    closers: list[Callable[[], None]] = field(default_factory=list)
    snapshots: Any = None  # shijim.dashboard.channel.SnapshotChannel: admin GET /snapshot
    collector: CollectorCounts = field(default_factory=CollectorCounts)  # a pinned loop's GC
    warm_up: WarmUp = field(default_factory=WarmUp)  # a pinned run's scratch warm-up

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # one failing closer must not leak the others (ring files)
                log.exception("error while closing")
        self.closers.clear()


def instruments_for(codes: list[str]) -> InstrumentTable:
    table: dict[str, Instrument] = {}
    for i, code in enumerate(codes):
        try:
            table[code] = instrument_for(code)
        except ValueError as exc:
            raise ConfigError(f"universe.codes[{i}]", str(exc)) from None
    return InstrumentTable(table)


def ring_name(cfg: RuntimeConfig) -> str:
    """Unique per process and shard: two runtimes on one host never share a ring by accident
    (the ring also refuses a second writer). ``ring.name`` overrides it."""
    if cfg.ring.name:
        return cfg.ring.name
    base = cfg.shard.tradingshard or "local"
    return f"shijim-{base}-s{cfg.shard.id}-{os.getpid()}"


def compose(cfg: RuntimeConfig, env: Mapping[str, str]) -> Shard:
    spec = ShardSpec(cfg.shard.id, cfg.shard.total)
    codes = spec.select(cfg.universe.codes)
    metrics = ShardMetrics(cfg.shard.id)
    state = TradingStateMachine()
    instruments = instruments_for(codes)
    for code in codes:  # a position series per traded code from the start (dashboards, alerts)
        metrics.execution.positions[code] = 0
    kind = resolve_feed_kind(cfg, env)
    strategy: Any = build_strategy(cfg, instruments.ladder)
    event_time = kind in ("sim", "replay")
    engine = build_engine(cfg, instruments, event_time, getattr(strategy, "signal_levels", 5))
    journal = Journal(strategy, engine_clock(engine)) if cfg.run.journal_dir else None
    if journal is not None:
        strategy = journal
    session: Any = None
    # What the start-up has opened (a broker session, the ring), closed last first if it does
    # not finish: a failure or a stop signal (StartInterrupted) must not leave a session logged
    # in or a ring in /dev/shm. On success the shard's closers take them over.
    opened: list[Callable[[], None]] = []
    try:
        if kind == "shioaji":
            from shijim.app.feeds import shioaji_order_adapter, shioaji_session

            wait_startup_jitter(
                spec, cfg.shard.startup_jitter_seconds, JitterMode(cfg.shard.startup_jitter_mode)
            )
            session = shioaji_session(cfg, env)
            opened.append(session.logout)
            adapter: Any = shioaji_order_adapter(session, instruments.get)
        else:
            adapter = PaperVenue(engine)
        gateway = RiskAwareGateway(
            adapter,
            instruments,
            cfg.risk,
            state,
            metrics,
            # Event time in sim and replay: the rate limit measures market time, runs reproduce.
            clock=engine_clock(engine) if event_time else time.monotonic_ns,
            engine=engine,
        )
        name = ring_name(cfg)
        sim_clock = VirtualClock() if kind == "sim" else None
        feed_setup = build_feed(kind, cfg, codes, name, metrics, session, sim_clock)
        opened.append(feed_setup.close)
        runner = StrategyRunner(
            engine,
            feed_setup.reader,
            strategy,
            gateway,
            metrics,
            max_messages=cfg.ring.batch,
            reader_name="strategy",
            snapshot_interval_s=SNAPSHOT_INTERVAL_S,  # on only while a dashboard reads
        )
        metrics.declare_reader(runner.reader_name)  # lag and lost series at 0 before any loss
        shard = Shard(
            cfg, spec, codes, metrics, state, gateway, runner, feed_setup, engine, event_time
        )
    except BaseException:
        for close in reversed(opened):
            try:
                close()
            except Exception:  # the start-up's own error is the one to report
                log.warning("start-up cleanup: %s failed", close, exc_info=True)
        raise
    shard.closers.extend(opened)
    if not codes:
        shard.notes.append(f"shard {spec.shard_id}/{spec.total_shards} owns no code of universe")
    return shard


def scratch_runner(shard: Shard, reader: Any) -> StrategyRunner:
    """A throwaway copy of ``shard``'s decision path on ``reader``, for the warm-up
    (shijim.app.warm_up): the strategy built afresh from the config, the same risk limits and
    engine settings on exchange time, a paper venue, a state machine and metrics of its own.
    Nothing of it is shared with the shard. The daily loss limit is lifted: the synthetic
    session's fees must not halt the copy before every path has run."""
    cfg, instruments = shard.cfg, shard.gateway.instruments
    limits = dataclasses.replace(cfg.risk, max_daily_loss=math.inf)
    strategy: Any = build_strategy(cfg, instruments.ladder)
    engine = build_engine(cfg, instruments, True, getattr(strategy, "signal_levels", 5))
    metrics = ShardMetrics("warm-up")
    gateway = RiskAwareGateway(
        PaperVenue(engine),
        instruments,
        limits,
        TradingStateMachine(),
        metrics,
        clock=engine_clock(engine),
        engine=engine,
    )
    return StrategyRunner(
        engine,
        reader,
        strategy,
        gateway,
        metrics,
        max_messages=cfg.ring.batch,
        reader_name="warm-up",
    )


def engine_clock(engine: Any) -> Callable[[], int]:
    """The engine's clock (``engine.now``: exchange time in sim and replay) as a callable for
    risk's rate bucket and the journal. ``partial(getattr, ...)`` rather than a lambda: called
    on every order's path, it reads the attribute without a Python frame."""
    return functools.partial(getattr, engine, "now")


def build_engine(
    cfg: RuntimeConfig, instruments: InstrumentTable, event_time: bool, levels: int
) -> Any:
    """The per-event engine for this shard's codes. Sim and replay run it on exchange time (a
    seed or a recording then fixes every decision at any pace, while each row's local_ts stays
    the wall-clock publish stamp that tick-to-order starts from: replay restamps it unless told
    to keep the recorded one); live on the receive stamps. The
    account marks with the risk gateway's multipliers; fees default per instrument (on)."""
    codes = instruments.codes()
    specs: dict[str, dict[str, float]] = {}
    for code in codes:
        inst = instruments.require(code)
        specs[code] = {"multiplier": inst.multiplier, **cfg.paper.fees.get(code, {})}
    try:
        return shijim_core.Engine(
            codes,
            cfg.strategy.decision,
            levels=levels,
            clock="exchange" if event_time else "local",
            latency=cfg.paper.latency,
            seed=cfg.feed.seed,
            instruments=specs,
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError("paper", str(exc)) from None


def _start_side_services(shard: Shard, env: Mapping[str, str]) -> None:
    """Metrics HTTP, admin HTTP, file trigger, SIGUSR1, Kubernetes watcher: all off the trading
    thread. A source that is configured but cannot start is a startup error (exit 1): running
    without a kill switch that the operator believes exists is worse than not running."""
    cfg = shard.cfg
    if cfg.metrics.port is not None:
        live = shard.feed_setup.kind == "shioaji"  # sim and replay data flow at any wall time
        health = ShardHealth(
            shard.heartbeat,
            shard.state,
            shard.metrics,
            cfg.health,
            markets=frozenset(map(market_of, shard.codes)) if live else None,
            watching=bool(cfg.shard.tradingshard),
        )
        server = shard.metrics.serve(cfg.metrics.port, cfg.metrics.bind, health.probes())
        log.info(
            "metrics on http://%s:%d/metrics (probes /livez, /readyz)",
            cfg.metrics.bind,
            server.server_port,
        )
        shard.closers.append(server.server_close)
        shard.closers.append(server.shutdown)  # closers run last first
    if cfg.recorder.enabled:  # a process of its own, attached now; stopped before the ring goes
        from shijim.recorder.beside import start_beside

        shard.closers.append(start_beside(cfg.recorder, shard.feed_setup.ring_name,
                                          shard.metrics, env, cfg.run.cpu).stop)  # fmt: skip
    from shijim.app import kill_sources

    shard.snapshots = shard_channel(shard)
    kill_sources.start_all(shard, env)


class StartInterrupted(BaseException):
    """SIGTERM or SIGINT before the shard exists: the start-up unwinds (each part closes what it
    opened) instead of the process dying with its ring left in /dev/shm. A BaseException, so
    that no ``except Exception`` on the way takes it for a failure."""


def run(cfg: RuntimeConfig, env: Mapping[str, str]) -> int:
    stop = threading.Event()
    stop_reason: list[str] = []
    composed = False

    def on_signal(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)
        stop.set()
        if not composed:  # nothing watches `stop` yet
            raise StartInterrupted(stop_reason[-1])

    # Before anything is opened: a signal at any point of the start-up is handled.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    shard: Shard | None = None
    try:
        try:
            if cfg.run.cpu is not None:
                check_cpu(cfg.run.cpu)  # before any login or ring: a bad CPU fails fast
                keep_side_threads_off(cfg.run.cpu)  # before the broker's threads or ours start
            shard = compose(cfg, env)
            composed = True
        except StartInterrupted as exc:
            if shard is not None:  # the signal came between compose's return and the flag
                shard.close()
            print(f"shijim: stopped by {exc} before the start", file=sys.stderr, flush=True)
            return 0
        except ConfigError as exc:
            print(f"shijim: configuration error: {exc}", file=sys.stderr, flush=True)
            return 2
        except Exception as exc:  # e.g. broker login refused: say why, no traceback for users
            log.debug("startup failed", exc_info=True)
            print(f"shijim: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            return 1
        try:
            return _run_shard(shard, cfg, env, stop, stop_reason)
        finally:
            shard.close()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _run_shard(
    shard: Shard,
    cfg: RuntimeConfig,
    env: Mapping[str, str],
    stop: threading.Event,
    stop_reason: list[str],
) -> int:
    """The composed shard's life: side services, the warm-up, the trading loop, the shutdown
    and the summary. Returns the exit status; the caller closes the shard."""
    started = time.monotonic()
    try:
        _start_side_services(shard, env)
    except (ConfigError, ValueError) as exc:  # e.g. no kubeconfig for --tradingshard
        print(f"shijim: configuration error: {exc}", file=sys.stderr, flush=True)
        return 2
    shard.gateway.start()  # Shioaji: order callbacks + reconcile before any order
    # Pinned, the warm-up runs as late as it can without delaying market data: before a
    # broker's feed starts publishing, just before the loop when the loop publishes the
    # market itself (sim, replay): a few hundred ms between them undo half its effect. The
    # collector's first collection runs before the feed starts.
    pinned, loop_publishes = cfg.run.cpu is not None, shard.event_time
    if pinned and not loop_publishes:
        shard.warm_up = warm_up_on(cfg.run.cpu, shard)
    with loop_collector(shard) as collector:
        shard.feed_setup.feed.start(shard.feed_setup.ingestor)
        if shard.feed_setup.kind != "shioaji":  # the Shioaji feed reports its session state
            shard.metrics.feed_connected(True)
        log.info(
            "shard %d/%d trading %s with %s on %s feed (ring %s)",
            shard.spec.shard_id,
            shard.spec.total_shards,
            ",".join(shard.codes) or "-",
            cfg.strategy.name,
            shard.feed_setup.kind,
            shard.feed_setup.ring_name,
        )
        if cfg.run.cpu is not None:
            pin_trading_thread(cfg.run.cpu)
            if loop_publishes:
                shard.warm_up = warm_up_on(cfg.run.cpu, shard)
        try:
            ended = trade_loop(shard, stop, cfg.run.duration, started, collector)
        except Exception:
            # Never leave orders working behind a crash: halt and cancel first, then fail.
            log.exception("trading loop failed; halting and cancelling working orders")
            shutdown(shard, "error")
            print(summarize(shard, time.monotonic() - started).render(), flush=True)
            return 1
    shutdown(shard, stop_reason[0] if stop_reason else ended)
    summary = summarize(shard, time.monotonic() - started)
    print(summary.render(), flush=True)
    if cfg.run.summary_json:
        import json

        with open(cfg.run.summary_json, "w", encoding="utf-8") as f:
            json.dump(summary.to_json(), f, indent=1, sort_keys=True)
    if cfg.run.journal_dir:
        write_run_journal(shard, summary, Path(cfg.run.journal_dir))
    return 0


def check_cpu(cpu: int) -> None:
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise ConfigError(
            "run.cpu", f"CPU {cpu} is not available to this process (allowed: {sorted(allowed)})"
        )


def keep_side_threads_off(cpu: int) -> None:
    """Restrict the calling thread to every allowed CPU but ``cpu``, so that every thread and
    process started from it afterwards (the broker SDK's, metrics and admin listeners, kill-switch
    watchers, the recorder) inherits that mask and never preempts the trading thread, which
    ``pin_trading_thread`` then moves onto ``cpu`` alone. With one CPU allowed there is nothing
    to keep them off."""
    others = os.sched_getaffinity(0) - {cpu}
    if not others:
        return
    os.sched_setaffinity(0, others)
    me = threading.get_native_id()
    for t in threading.enumerate():  # those already running (the log listener)
        if t.native_id is not None and t.native_id != me:
            try:
                os.sched_setaffinity(t.native_id, others)
            except OSError:  # ended meanwhile
                pass


def pin_trading_thread(cpu: int) -> None:
    """Pin the calling (trading) thread to ``cpu``. Threads started before keep the mask
    ``keep_side_threads_off`` gave them: the other CPUs (``check_cpu`` ran at start-up)."""
    os.sched_setaffinity(0, {cpu})
    log.info("trading thread pinned to CPU %d", cpu)


def idle_turn(
    reader: Any,
    spin: bool,
    spin_ns: int = IDLE_SPIN_NS,
    runner: StrategyRunner | None = None,
    collector: IdleCollector | None = None,
) -> None:
    """A loop turn with nothing published: pinned (``spin``), the garbage collection CPython
    would have run by now (``collector``: between events, not inside one), else the runner's
    rehearsal when due (``runner.rehearse``: the acting path kept warm), then watch the ring
    for up to ``spin_ns`` with the interpreter lock released (returns at once when a message
    arrives); otherwise sleep IDLE_SLEEP_S."""
    if spin:
        if collector is not None and collector.idle():
            return  # the turn is spent: look for data again first
        if runner is not None:
            runner.rehearse(time.monotonic_ns())
        reader.wait(spin_ns)
    else:
        time.sleep(IDLE_SLEEP_S)


def warm_up_on(cpu: int, shard: Shard) -> WarmUp:
    """The warm-up (shijim.app.warm_up) on the trading CPU, whose caches the loop will use,
    then back on the side CPUs: what the feed starts next (the broker's callback threads, the
    simulator's process) inherits this thread's mask and must not land on the trading CPU."""
    side = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return warm_up(
            functools.partial(scratch_runner, shard), shard.codes, shard.gateway.instruments.ladder
        )
    finally:
        os.sched_setaffinity(0, side)


def loop_collector(shard: Shard) -> AbstractContextManager[IdleCollector | None]:
    """A pinned loop runs the garbage collector in its idle turns (shijim.app.idle_collector);
    an unpinned one leaves it automatic."""
    if shard.cfg.run.cpu is None:
        return nullcontext()
    return IdleCollector(shard.collector)


def trade_loop(
    shard: Shard,
    stop: threading.Event,
    duration: float | None,
    started: float,
    collector: IdleCollector | None = None,
) -> str:
    """Run until a signal, the duration or the end of a finite feed; returns why it ended.

    Due events are handled one at a time as they arrive. Pinned to a CPU (``--cpu``) an idle
    turn spins on the ring for up to IDLE_SPIN_NS with the interpreter lock released, so the
    broker's callback threads publish without waiting for it and the next event is seen at
    once; otherwise an idle turn sleeps IDLE_SLEEP_S (bounded back-off). ``collector``: a
    pinned loop's garbage collection in idle turns (``loop_collector``)."""
    if shard.feed_setup.sim_clock is not None:
        return sim_loop(shard, stop, duration, collector)
    feed = shard.feed_setup.feed
    runner = shard.runner
    reader = shard.feed_setup.reader
    deadline = None if duration is None else started + duration
    beat, monotonic_ns = shard.heartbeat, time.monotonic_ns
    spin = shard.cfg.run.cpu is not None
    while not stop.is_set():
        beat.at_ns = monotonic_ns()
        published = feed.poll()
        got = runner.step()
        while got:  # drain what is there: the ring never waits for us
            got = runner.step()
        _roll_day(shard)
        if deadline is not None and time.monotonic() >= deadline:
            return "duration reached"
        if feed.finished:
            return "feed finished"
        if not published:
            idle_turn(reader, spin, runner=runner, collector=collector)
        elif collector is not None:
            collector.between_events()
    return "signal"


def sim_loop(
    shard: Shard,
    stop: threading.Event,
    duration: float | None,
    collector: IdleCollector | None = None,
) -> str:
    """The simulator, driven by this thread: publish what is due, then handle every due event.

    ``duration`` counts simulated seconds. At ``realtime`` pace simulated time follows the wall
    clock from this loop's first turn and each event is handled as soon as it is published (no
    slice to wait for); at ``fast`` pace it advances FAST_SLICE_S per turn without sleeping.
    The engine decides on exchange time, one due event at a time, so a seed fixes every
    decision, order, fill and PnL whatever the pace or the publication boundaries."""
    # Simulated time 0 is now, not the run's start: the feed anchored the market's open at 0,
    # and the start-up before this loop (side services, a recorder's attach: 4 ms to ~190 ms)
    # would otherwise be published as one lump of that much market at the first turn.
    vclock = shard.feed_setup.sim_clock
    assert vclock is not None
    feed = shard.feed_setup.feed
    runner = shard.runner
    reader = shard.feed_setup.reader
    realtime = shard.cfg.feed.pace == "realtime"
    end = math.inf if duration is None else duration
    beat, monotonic_ns = shard.heartbeat, time.monotonic_ns
    spin = shard.cfg.run.cpu is not None
    started = time.monotonic()
    while not stop.is_set():
        beat.at_ns = monotonic_ns()
        vclock.t = min(end, time.monotonic() - started if realtime else vclock.t + FAST_SLICE_S)
        published = feed.poll()
        while runner.step():
            pass
        _roll_day(shard)
        if vclock.t >= end:
            return "duration reached"
        if feed.finished:
            return "feed finished"
        if realtime and not published:
            # The market is quiet: the venue's fills and acks due by now reach the strategy at
            # their own time, not at the next market event (docs/engine.md#venue-time).
            through = feed.published_through_ns
            if through is not None and runner.release_venue(through):
                continue
            idle_turn(reader, spin, runner=runner, collector=collector)  # (the sim: a pause)
        elif collector is not None:
            collector.between_events()
    return "signal"


def write_run_journal(shard: Shard, summary: RunSummary, directory: Path) -> None:
    """The run's fills, actions and summary for ``python -m shijim reconcile``."""
    import json

    journal = shard.runner.strategy
    if not isinstance(journal, Journal):
        return
    fills, actions = write_journal(journal, directory)
    with open(directory / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary.to_json(), f, indent=1, sort_keys=True)
    log.info("journal: %d fills, %d actions in %s", fills, actions, directory)


def _roll_day(shard: Shard) -> None:
    """A new trading day restarts the daily PnL the loss limit looks at (docs/risk.md)."""
    now_ns = shard.engine.now if shard.event_time else time.time_ns()
    if now_ns and shard.day_roll.crossed(now_ns):
        log.info("new trading day: daily PnL restarts")
        shard.gateway.new_trading_day()


def shutdown(shard: Shard, reason: str) -> None:
    """Stop trading first (HALTED cancels every working order through the gateway), then wait,
    bounded, for the venue to confirm, then stop the feed."""
    log.info("stopping: %s", reason)
    shard.working_at_stop = len(shard.gateway.working_orders())
    shard.state.demand(KillSwitchSource.SHUTDOWN, TradingState.HALTED, f"shutdown: {reason}")
    deadline = time.monotonic() + CANCEL_WAIT_S
    gw = shard.gateway
    # The feed no longer moves engine time: let it follow the wall clock so that the paper
    # venue's cancel latency elapses and in-flight cancels are answered.
    engine, t0, start = shard.engine, shard.engine.now, time.monotonic_ns()
    while gw.working_orders() and time.monotonic() < deadline:
        time.sleep(0.001)
        engine.advance_clock(t0 + time.monotonic_ns() - start)
        shard.runner.step()
    shard.runner.step()
    left = len(gw.working_orders())
    if left:
        log.error("%d working orders not confirmed cancelled after %.1f s", left, CANCEL_WAIT_S)
    try:
        shard.feed_setup.feed.stop()
    finally:
        shard.metrics.feed_connected(False)


def summarize(shard: Shard, wall_seconds: float) -> RunSummary:
    c = shard.runner.counters
    gw = shard.gateway
    keeper = gw.positions
    eng = shard.engine
    ec = eng.counters()
    dropped = {cause: int(ec[cause]) for cause in shijim_core.ENGINE_DROP_CAUSES if ec[cause]}
    for cause, n in shard.feed_setup.bad_input().items():
        dropped[f"feed:{cause}"] = n
    cfg = shard.cfg
    totals = eng.totals()
    paper = shard.feed_setup.kind != "shioaji"
    first = c.first_second_samples
    steady = c.tick_to_order_ns[first:]
    after_fill = {i - first for i in c.after_fill_samples if i >= first}
    return RunSummary(
        shard=f"{shard.spec.shard_id}/{shard.spec.total_shards}",
        feed=shard.feed_setup.kind,
        strategy=cfg.strategy.name,
        seed=cfg.feed.seed if shard.feed_setup.kind == "sim" else None,
        wall_seconds=wall_seconds,
        ticks=int(ec["trades"]),
        bidasks=int(ec["books"]),
        simtrades=int(ec["simtrade_trade"]) + int(ec["simtrade_book"]),
        orders_sent=c.places,
        orders_accepted=c.accepted,
        amends=c.amends,
        cancels=c.cancels,
        fills=c.fills,
        filled_qty=c.filled_qty,
        rejects={r.value: n for r, n in gw.rejects.items()},
        realised_pnl=float(totals["realised"]),
        unrealised_pnl=float(totals["unrealised"]),
        fees=float(totals["fees"]),
        positions={code: int(keeper.net(code)) for code in keeper.codes()},
        tick_to_order=LatencyStats.of(c.tick_to_order_ns),
        tick_to_order_after_first_second=LatencyStats.of(steady),
        first_second_samples=c.first_second_samples,
        tick_to_order_after_fill=LatencyStats.of([steady[i] for i in sorted(after_fill)]),
        tick_to_order_no_fill=LatencyStats.of(
            [ns for i, ns in enumerate(steady) if i not in after_fill]
        ),
        ring_lost=c.lost,
        ring_resyncs=c.resyncs,
        dropped=dropped,
        final_state=gw.state.name,
        working_left=len(gw.working_orders()),
        working_at_stop=shard.working_at_stop,
        decision=eng.policy,
        decisions=shard.runner.decisions,
        standby_answers=shard.runner.standby_answers,
        rehearsals=c.rehearsals,
        rehearsal_seconds=c.rehearsal_ns / 1e9,
        warm_up_decisions=shard.warm_up.decisions,
        warm_up_orders=shard.warm_up.orders,
        warm_up_seconds=shard.warm_up.seconds,
        gc_idle=shard.collector.idle,
        gc_overdue=shard.collector.overdue,
        gc_seconds=shard.collector.ns / 1e9,
        venue=f"paper, latency {cfg.paper.latency}" if paper else "broker (Shioaji)",
        markouts=tuple(Markout.of(m) for m in eng.markouts()),
        notes=tuple(shard.notes),
    )
