"""StrategyRunner: the engine's due events in, strategy decisions out through the risk gateway.

The per-event work is the Rust engine's (``shijim_core.Engine``, docs/engine.md): it reads the
shard's ring, keeps each code's book and signals, feeds the paper venue and marks the account,
and returns the next event on which the strategy must decide under the explicit decision
policy (``every_event``, ``on_touch_change``, ``interval_ms:N``). The runner handles those due
events one at a time, in ring order:

- a book or trade due: the code's view (book top and signals since the strategy last looked)
  goes to ``strategy.on_market``; its actions go through the risk gateway; tick-to-order runs
  from that event's local receive stamp to the order (or amend) leaving the gateway for the
  venue, after every risk check (``gateway.last_sent_ns``, this host's wall clock);
- a system due (session state, a per-code trading state from ingestion, feed gap, reconnect):
  a close cancels the code's working orders; a per-code trading state holds or releases the
  code (``CodeHold.DATA``); the engine itself restarts books across gaps;
- venue events (acknowledgements, fills) reach the strategy as soon as they exist.

A lapped reader or a writer restart is counted, exported and logged (the engine reset its books).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import shijim_core
from shijim.domain import (
    CodeHold,
    Fill,
    Order,
    OrderIntent,
    OrderUpdate,
    Side,
    SignalSnapshot,
    TradingState,
)
from shijim.metrics import ShardMetrics
from shijim.strategy.base import (
    Amend,
    Cancel,
    MarketView,
    Place,
    StandBy,
    Strategy,
    StrategyContext,
)
from shijim.strategy.snapshot import BookTop, SystemSnapshot

log = logging.getLogger(__name__)
_BUY = Side.BUY  # a global: Enum class attributes are slow on 3.11 (shijim.risk.rules)


class OrderGateway(Protocol):
    """shijim.risk.gateway.RiskAwareGateway (docs/risk.md)."""

    events: Any
    positions: Any
    rejects: Any
    last_sent_ns: int  # wall-clock stamp of the last order/amend leaving for the venue
    last_fill_booked_ns: int  # wall-clock stamp of the last fill booked into the account

    @property
    def state(self) -> TradingState: ...

    def working_orders(self) -> Mapping[str, Order]: ...
    def place(self, intent: Any) -> Any: ...
    def amend(self, order_id: str, price: float | None = None, qty: int | None = None) -> Any: ...
    def cancel(self, order_id: str) -> bool: ...
    def cancel_all(self) -> int: ...
    def poll(self) -> int: ...
    def after_event(self) -> None: ...
    def rehearse(self, intent: Any) -> Any: ...
    def hold_code(self, code: str, hold: CodeHold, state: TradingState, reason: str) -> None: ...
    def release_code(self, code: str, hold: CodeHold) -> None: ...


@dataclass(slots=True)
class RunnerCounters:
    strategy_calls: int = 0  # strategy.on_market calls (due events no standby answered)
    standbys: int = 0  # StandBy actions the engine took
    lost: int = 0
    resyncs: int = 0
    places: int = 0
    accepted: int = 0
    amends: int = 0
    cancels: int = 0
    fills: int = 0
    filled_qty: int = 0
    order_updates: int = 0
    strategy_errors: int = 0
    session_closes: int = 0
    rehearsals: int = 0  # idle-turn rehearsals of a decision (docs/runtime.md#rehearsal)
    rehearsal_ns: int = 0  # the time they took (holding the interpreter lock)
    tick_to_order_ns: list[int] = field(default_factory=list)
    # Samples sent within FIRST_SECOND_NS of the first one: the path's first runs and every
    # code's first decisions at the open; the summary shows the rest apart
    # (docs/runtime.md#summary).
    first_second_samples: int = 0
    first_sample_sent_ns: int = 0
    # Indices (into tick_to_order_ns) of the samples whose order waited behind a fill booked
    # after their event arrived (a trade that filled a quote, then the re-quote): the summary
    # shows them apart, as they set the p99 after the first second (docs/runtime.md#summary).
    after_fill_samples: list[int] = field(default_factory=list)


LAG_EXPORT_NS = 50_000_000
FIRST_SECOND_NS = 1_000_000_000
# A pinned runner rehearses a decision at most this often in idle turns (docs/runtime.md
# #rehearsal): in the `make run` demo, every 1 ms instead of 5 took tick-to-order's p50 from
# ~28 to ~23 us, for ~3.6 % of the trading thread's time holding the interpreter lock.
REHEARSAL_NS = 1_000_000
# Wire codes come from the core (built in Rust from the codec's enums): nothing to drift.
_EVENTS = {name: code for code, name in shijim_core.EVENT_NAMES.items()}
_SESSIONS = {name: code for code, name in shijim_core.SESSION_STATE_NAMES.items()}
EVENT_SESSION_STATE = _EVENTS["session_state"]
EVENT_TRADING_STATE = _EVENTS["trading_state"]
SESSION_CLOSED = _SESSIONS["CLOSED"]
TRADING_STATE_NAMES: dict[int, str] = shijim_core.TRADING_STATE_NAMES
DUE_BOOK = shijim_core.DUE_BOOK
DUE_TRADE = shijim_core.DUE_TRADE
DUE_SYSTEM = shijim_core.DUE_SYSTEM


class StrategyRunner:
    def __init__(
        self,
        engine: Any,
        reader: Any,
        strategy: Strategy,
        gateway: OrderGateway,
        metrics: ShardMetrics | None = None,
        *,
        max_messages: int = 4096,
        reader_name: str = "strategy",
        on_snapshot: Callable[[SystemSnapshot], None] | None = None,
        snapshot_interval_s: float = 0.25,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages: expected >= 1, got {max_messages}")
        self.engine = engine
        self.reader = reader
        self.strategy = strategy
        self.gateway = gateway
        self.metrics = metrics
        self.max_messages = max_messages
        self.reader_name = reader_name
        self.codes: list[str] = list(engine.codes)  # index = the engine's code id
        self._code_ids: Mapping[str, int] = engine.code_ids  # the engine's, live
        self._awake_state: TradingState | None = None  # the state standbys were taken under
        self.on_snapshot = on_snapshot
        self._snapshot_interval_ns = int(snapshot_interval_s * 1e9)
        self._last_snapshot_ns = 0
        self._clock = clock_ns
        self.counters = RunnerCounters()
        self._lag_exported_ns = -LAG_EXPORT_NS
        self._positions = gateway.positions.view()
        self._working = gateway.working_orders()  # the venue's live mapping (ExecutionAdapter)
        self._strategy_error_logged: set[str] = set()
        self._ctx: StrategyContext | None = None
        self._rehearsed_ns = 0
        self._rehearsal_code = -1

    # -- the loop body -----------------------------------------------------------------------
    def step(self) -> int:
        """Handle due events until the ring is drained or ``max_messages`` were read; returns
        the number of ring messages read (0: nothing new)."""
        eng = self.engine
        reader = self.reader
        gw = self.gateway
        states = gw.state_machine  # gw.state is a property over it: one call less per due
        budget = self.max_messages
        read = 0
        while read < budget:
            # A standby assumed the trading state it was taken under: a change (kill switch,
            # risk) wakes every code before the next event is decided.
            st = states.state
            if st is not self._awake_state:
                self._awake_state = st
                eng.wake_all()
            due = eng.next_due(reader, budget - read)
            n, lost, restarts, bad = eng.last_read
            read += n
            if lost or restarts or bad:
                self._gap(lost, restarts, bad)
            if due is None:
                break
            kind = due.kind
            acted = True
            if kind == DUE_BOOK or kind == DUE_TRADE:
                acted = self._decide(due, st)
            elif kind == DUE_SYSTEM:
                acted = self._system(due)
            # Every due ends with the venue's news delivered, as soon as there is any (an
            # execution due always has some; a decision without actions usually has none).
            if acted or gw.events or eng.pending_events:
                self._deliver_execution_events()
        # Once per step even with nothing read: deferred cancels are retried, and venue news
        # that needed no market event (a cancel answered while the feed is quiet) is delivered.
        self._deliver_execution_events()
        self._export_lag(0)
        if self.on_snapshot is not None:
            now = self._clock()
            if now - self._last_snapshot_ns >= self._snapshot_interval_ns:
                self._last_snapshot_ns = now
                self.on_snapshot(self.snapshot())
        return read

    def release_venue(self, until_ns: int) -> int:
        """Between market events: the paper venue's fills and acks due by ``until_ns`` (engine
        time the feed has published through) reach the strategy now, each at its own time,
        instead of waiting for the next market event (docs/engine.md#venue-time). Returns how
        many times news was delivered; bounded by what is in flight at the venue."""
        n = 0
        while self.engine.release_venue_events(until_ns):
            self._deliver_execution_events()
            n += 1
        return n

    # -- ring continuity ---------------------------------------------------------------------
    def _gap(self, lost: int, restarts: int, bad: int) -> None:
        c = self.counters
        c.lost += lost
        if lost or restarts:
            c.resyncs += 1
            log.warning(
                "ring reader %s: %s; books reset",
                self.reader_name,
                "writer restarted" if restarts else f"lapped, lost {lost} messages",
            )
        if bad:
            log.error("ring reader %s: %d bad slot(s) skipped", self.reader_name, bad)
        self._export_lag(lost)

    def _export_lag(self, lost: int) -> None:
        m = self.metrics
        if m is None:
            return
        # Losses at once; the lag gauge at most every LAG_EXPORT_NS (a scrape every few seconds
        # cannot see more, and each export takes the metric's lock).
        now = time.monotonic_ns()
        if lost or now - self._lag_exported_ns >= LAG_EXPORT_NS:
            self._lag_exported_ns = now
            m.ring_reader(self.reader_name, int(self.reader.lag), lost)

    # -- system events -----------------------------------------------------------------------
    def _system(self, due: Any) -> bool:
        """A session close cancels the code's working orders (a ROD order must not outlive its
        session unattended); a per-code trading state from ingestion holds or releases the code
        (its data is being dropped / good again). Shard-wide trading states are the kill
        switch's business, not the ring's. True if it acted (a session's open did not: at the
        simulator's open every code's first book waits behind those events)."""
        code = due.code or ""
        ev = due.event
        if ev == EVENT_TRADING_STATE:
            state = TRADING_STATE_NAMES.get(due.trading_state or 0, "")
            if not code or state not in TradingState.__members__:
                return False
            if state == TradingState.ACTIVE.name:
                self.gateway.release_code(code, CodeHold.DATA)
            else:
                self.gateway.hold_code(code, CodeHold.DATA, TradingState[state], due.reason or "")
            return True
        if ev == EVENT_SESSION_STATE and due.session_state == SESSION_CLOSED:
            self.counters.session_closes += 1
            for o in list(self.gateway.working_orders().values()):
                if not code or o.code == code:
                    self.gateway.cancel(o.order_id)
            return True
        return False

    # -- decisions ---------------------------------------------------------------------------
    def context(self, state: TradingState | None = None) -> StrategyContext:
        """Positions and working orders are live views: the context is rebuilt only when the
        trading state changed since the last one."""
        st = self.gateway.state if state is None else state
        ctx = self._ctx
        if ctx is None or ctx.state is not st:
            ctx = self._ctx = StrategyContext(self._positions, self._working, st)
        return ctx

    def rehearse(self, now_ns: int) -> bool:
        """In a pinned idle turn, at most every REHEARSAL_NS: run the acting path of a decision
        on the current market of the next code with a book (round robin), with nothing taken
        or sent, so that the next real decision does not find its code, data and branches cold
        (docs/runtime.md#rehearsal). The view is peeked (the flows the next decision sees are
        left as they are); the strategy's ``rehearse`` (if it has one) must not change its
        state; its places are checked by risk (``gateway.rehearse``: no token, no order, no
        count) and dropped. Without a strategy ``rehearse``, risk checks a one-lot bid at the
        touch. The amends it returns (a re-quote) go through risk's amend checks at their prices
        (``gateway.rehearse_amend``); without any, a working order of the code, if there is one,
        does at its own price. Returns True if a rehearsal ran."""
        if now_ns - self._rehearsed_ns < REHEARSAL_NS:
            return False
        self._rehearsed_ns = now_ns
        t0 = time.perf_counter_ns()
        try:
            return self._rehearse()
        finally:
            self.counters.rehearsal_ns += time.perf_counter_ns() - t0

    def _rehearse(self) -> bool:
        eng = self.engine
        n = len(self.codes)
        view = None
        for _ in range(n):
            self._rehearsal_code = (self._rehearsal_code + 1) % n
            view = eng.peek_view(self._rehearsal_code, MarketView, SignalSnapshot)
            if view is not None:
                break
        if view is None:
            return False
        strategy_rehearse = getattr(self.strategy, "rehearse", None)
        try:
            if strategy_rehearse is None:
                actions: Any = (Place(OrderIntent(view.code, _BUY, 1, view.best_bid)),)
            else:
                actions = strategy_rehearse(view, self.context())
        except Exception:  # a strategy bug: counted and logged once, as in a decision
            self._strategy_failed(f"rehearse:{view.code}")
            return False
        gw = self.gateway
        amended = False
        for act in actions or ():
            if isinstance(act, Place):
                gw.rehearse(act.intent)
            elif isinstance(act, Amend):
                gw.rehearse_amend(act.order_id, act.price)
                amended = True
        if not amended:
            # The other acting path, a re-quote: risk's amend checks on a working order of the
            # code at its own price (the first found; the scan is bounded by max_working_orders).
            code = view.code
            for o in self._working.values():
                if o.code == code:
                    gw.rehearse_amend(o.order_id, o.price)
                    break
        self.counters.rehearsals += 1
        return True

    def _decide(self, due: Any, state: TradingState) -> bool:
        """The strategy decides on one due event under ``state`` (read as the event was taken:
        risk checks the state again as each order leaves); True if it asked for anything."""
        # The engine's book top and the signals accumulated since the strategy last looked
        # (taking them restarts the accumulation).
        view = self.engine.take_view(due.code_id, MarketView, SignalSnapshot)
        if view is None:
            return False
        self.counters.strategy_calls += 1
        try:
            actions = self.strategy.on_market(view, self.context(state))
        except Exception:  # a strategy bug must not take the shard down: no orders from it
            self._strategy_failed(f"on_market:{view.code}")
            actions = None
        if not actions:
            self.gateway.after_event()
            return False
        sent = self.execute(actions, due.local_ts)
        self.gateway.after_event()
        return sent

    def execute(self, actions: Any, origin_local_ts: int = 0) -> bool:
        """Carries out the strategy's actions; True if any reached the gateway (a standby
        alone stays in the engine)."""
        gw = self.gateway
        c = self.counters
        sent = False
        for act in actions:
            if isinstance(act, StandBy):
                code_id = self._code_ids.get(act.code)
                if code_id is None:
                    continue
                try:
                    c.standbys += self.engine.stand_by(
                        code_id,
                        act.until_exch_ts,
                        act.bid_floor,
                        act.bid_cap,
                        act.ask_floor,
                        act.ask_cap,
                        act.micro_floor,
                        act.micro_cap,
                    )
                except ValueError:  # a NaN or empty band: a strategy bug; it decides again
                    self._strategy_failed(f"standby:{act.code}")
                continue
            sent = True
            if isinstance(act, Place):
                c.places += 1
                result = gw.place(act.intent)
                order = result if isinstance(result, Order) else None
                if order is not None:
                    c.accepted += 1
                    if origin_local_ts:
                        self._tick_to_order(gw.last_sent_ns, origin_local_ts)
                self.strategy.on_placed(act.intent.tag, order)
            elif isinstance(act, Amend):
                c.amends += 1
                result = gw.amend(act.order_id, price=act.price)
                if isinstance(result, Order) and origin_local_ts:
                    self._tick_to_order(gw.last_sent_ns, origin_local_ts)
            elif isinstance(act, Cancel):
                c.cancels += 1
                gw.cancel(act.order_id)
        return sent

    def _tick_to_order(self, sent_ns: int, origin_ns: int) -> None:
        # Only samples whose start is this host's clock: a replayed or simulated local_ts from
        # another epoch is not a latency.
        ns = sent_ns - origin_ns
        if 0 <= ns < 10_000_000_000:
            c = self.counters
            if not c.first_sample_sent_ns:
                c.first_sample_sent_ns = sent_ns
            if sent_ns - c.first_sample_sent_ns < FIRST_SECOND_NS:
                c.first_second_samples += 1
            if self.gateway.last_fill_booked_ns > origin_ns:
                c.after_fill_samples.append(len(c.tick_to_order_ns))
            c.tick_to_order_ns.append(ns)
            if self.metrics is not None:
                self.metrics.tick_to_order(ns / 1e9)

    def _deliver_execution_events(self) -> None:
        gw = self.gateway
        gw.poll()
        q = gw.events
        if not q:
            return
        ctx = self.context()
        c = self.counters
        # Order updates and fills change what every standby assumed (live, they come from the
        # broker, not from the engine's venue): wake every code.
        self.engine.wake_all()
        while q:
            ev = q.popleft()
            try:
                if isinstance(ev, Fill):
                    c.fills += 1
                    c.filled_qty += ev.qty
                    actions = self.strategy.on_fill(ev, ctx)
                elif isinstance(ev, OrderUpdate):
                    c.order_updates += 1
                    actions = self.strategy.on_order(ev, ctx)
                else:
                    continue
            except Exception:
                self._strategy_failed(f"on_execution:{type(ev).__name__}")
                continue
            if actions:
                self.execute(actions)

    def _strategy_failed(self, where: str) -> None:
        self.counters.strategy_errors += 1
        if where not in self._strategy_error_logged:
            self._strategy_error_logged.add(where)
            log.exception("strategy %s raised in %s (logged once per place)", self.strategy, where)

    # -- reporting ---------------------------------------------------------------------------
    @property
    def decisions(self) -> int:
        """Decisions taken under the policy: the strategy's calls plus the due events its
        standbys answered in the engine (docs/engine.md#standby)."""
        return self.counters.strategy_calls + self.standby_answers

    @property
    def standby_answers(self) -> int:
        return int(self.engine.counters()["standby"])

    def snapshot(self) -> SystemSnapshot:
        """What a dashboard may show of this shard, as immutable copies taken on this (the
        trading) thread; another thread serialises it (docs/dashboard.md). The cost (~0.12 ms
        with 50 codes and 200 working orders back to back, ~0.33 ms when it runs ten times a
        second) is paid only while ``on_snapshot`` is set."""
        from shijim.strategy import snapshot as s  # the rows below; BookTop is imported above

        gw = self.gateway
        eng = self.engine
        c = self.counters
        ec = eng.counters()
        totals = eng.totals()
        keeper = gw.positions
        holdings = []
        for code in keeper.codes():
            p = keeper.position(code)
            holdings.append(
                s.Holding(
                    code,
                    p.net_qty,
                    p.avg_price,
                    p.realised_pnl + p.fees,
                    p.unrealised_pnl,
                    p.fees,
                )
            )
        recent = tuple(map(s.RecentReject._make, tuple(getattr(gw, "recent_rejects", ()))))
        machine = getattr(gw, "state_machine", None)
        demands = {} if machine is None else machine.demands()
        fields: dict[str, Any] = {}
        describe = getattr(self.strategy, "describe", None)
        if describe is not None:
            try:
                fields = dict(s.described(describe()))
            except Exception:  # a describe() bug must not stop the trading thread
                self._strategy_failed("describe")
                fields = {"describe": "raised: see the runtime's log"}
        return SystemSnapshot(
            ts_ns=self._clock(),
            state=gw.state,
            books={top.code: top for top in eng.book_tops(BookTop)},
            positions=dict(self._positions),  # a copy of the live view the strategy reads
            pnl=float(getattr(keeper, "total_pnl", math.nan)),
            working_orders=s.working_orders(gw.working_orders()),
            counters={
                "ticks": int(ec.get("trades", 0)),
                "bidasks": int(ec.get("books", 0)),
                "lost": c.lost,
                "decisions": self.decisions,
                "orders": c.accepted,
                "amends": c.amends,
                "fills": c.fills,
                "rejects": sum(int(v) for v in gw.rejects.values()),
                "strategy_errors": c.strategy_errors,
            },
            account=s.AccountTotals(
                float(totals["realised"]), float(totals["unrealised"]), float(totals["fees"])
            ),
            holdings=tuple(holdings),
            demands={src.value: s.Demand(st.name, why) for src, (st, why) in demands.items()},
            rejects={r.value: int(n) for r, n in tuple(gw.rejects.items())},
            recent_rejects=recent,
            strategy=s.StrategyState(
                str(getattr(self.strategy, "name", type(self.strategy).__name__)),
                str(eng.policy),
                fields,
            ),
            ring=s.RingStatus(int(self.reader.lag), c.lost, c.resyncs),
            last_event_ns=int(getattr(self.metrics, "last_event_ns", 0)),
        )
