"""RiskAwareGateway: the only way an order reaches an execution adapter.

It has the adapter's interface (place, amend, cancel, cancel_all, working_orders, events, pump)
so a strategy handed the gateway cannot bypass it. The decisions are the pure functions of
``shijim.risk.rules``; this object gathers their inputs (reference prices and positions from
the engine, working orders, the token bucket, the trading state), does the I/O, counts and logs
rejections, books every fill (paper and live) in the engine's account, and turns trading-state
changes into cancellations:

- HALTED: every working order is cancelled (cancels use the bucket's reserve; any that do not
  fit are retried on each ``poll()``), every new order and amend is rejected; cancels still go.
- REDUCING: working orders that could increase exposure are cancelled; only reducing orders pass.
- realised + marked PnL at or below ``-max_daily_loss`` engages KillSwitchSource.LOSS_LIMIT.
- a per-code hold (``hold_code``: bad data, resharding) applies the same two rules to one code
  only: HALTED cancels that code's working orders and refuses its new orders (CODE_HELD).

Market data never passes through here: it reaches the engine's books, marks and paper venue
inside the engine; the runner calls ``after_event()`` after each due event (fills booked, loss
limit checked against the account as the engine marked it, PnL exported at most 10/s).

Thread safety: one re-entrant lock around every entry point. The strategy thread calls place /
poll / after_event; kill-switch sources call the state machine from their own threads, and the
state listener takes the same lock before cancelling.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from threading import RLock
from typing import Any

import shijim_core
from shijim.domain import (
    CodeHold,
    ExecutionEvent,
    Fill,
    Instrument,
    KillSwitchSource,
    Order,
    OrderIntent,
    Rejection,
    RejectReason,
    Side,
    TickLadder,
    TradingState,
    fixed_tick,
    instrument_for,
)
from shijim.execution.adapter import ExecutionAdapter
from shijim.metrics import ExecutionTally, ShardMetrics
from shijim.risk.code_gate import CodeGate
from shijim.risk.limits import RiskLimits
from shijim.risk.positions import PositionKeeper
from shijim.risk.rate_limit import ActionBucket
from shijim.risk.reference import ReferencePrices
from shijim.risk.rules import check_new_order, check_price, is_reducing
from shijim.risk.state import StateChange, TradingStateMachine

# Enum members as globals on the order path (a class-attribute read of an Enum is slow on 3.11:
# shijim.risk.rules).
_BUY = Side.BUY
_NAN = math.nan
_HALTED, _REDUCING = TradingState.HALTED, TradingState.REDUCING
# An unconfigured code's tick ladder: a tick of 1 at every price.
_UNIT_TICK = fixed_tick(1.0)("")

# The answer when the action bucket has no token for a place or amend.
_RATE_LIMITED = Rejection(RejectReason.RATE_LIMIT, "order-action rate limit reached")

log = logging.getLogger(__name__)

RECENT_REJECTS = 32


class InstrumentTable:
    """Configured instruments by code; unknown codes resolve to None (rejected UNKNOWN_CODE)."""

    def __init__(self, instruments: Mapping[str, Instrument] | None = None) -> None:
        self._by_code: dict[str, Instrument] = dict(instruments or {})

    def add(self, instrument: Instrument) -> None:
        self._by_code[instrument.code] = instrument

    def get(self, code: str) -> Instrument | None:
        return self._by_code.get(code)

    def codes(self) -> list[str]:
        return list(self._by_code)

    def ladder(self, code: str) -> TickLadder:
        """The code's tick at a price, for the strategies (an unconfigured code: a tick of 1)."""
        inst = self._by_code.get(code)
        return inst.tick_size if inst is not None else _UNIT_TICK

    def require(self, code: str) -> Instrument:
        inst = self._by_code.get(code)
        if inst is None:
            raise KeyError(f"instrument {code!r}: not configured")
        return inst


class RiskAwareGateway:
    def __init__(
        self,
        adapter: ExecutionAdapter,
        instruments: InstrumentTable,
        limits: RiskLimits | None = None,
        state: TradingStateMachine | None = None,
        metrics: ShardMetrics | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
        engine: Any = None,
        sent_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """``engine``: the shard's ``shijim_core.Engine``, whose books give the reference
        prices and whose account keeps positions and PnL. It always exists: a paper venue
        brings its own (``adapter.engine``, which must be this one), a live run passes the
        engine its runner drives, and without either a bare engine over the instruments is made
        (no market data: no references, no marks; the account still books fills)."""
        venue_engine = getattr(adapter, "engine", None)
        if engine is None:
            engine = venue_engine
        elif venue_engine is not None and venue_engine is not engine:
            raise ValueError("RiskAwareGateway: engine: not the paper venue's engine")
        if engine is None:
            engine = shijim_core.Engine(
                instruments.codes(),
                latency="zero",
                instruments={
                    c: {"multiplier": float(i.multiplier)}
                    for c in instruments.codes()
                    if (i := instruments.get(c)) is not None
                },
            )
        self.engine = engine
        self._adapter = adapter
        # The adapter's live mapping (the same object for its life: ExecutionAdapter), kept
        # rather than asked for on every order.
        self._working = adapter.working_orders()
        self.instruments = instruments
        self.limits = limits or RiskLimits()
        self.state_machine = state or TradingStateMachine()
        self.code_gate = CodeGate()
        self._metrics = metrics
        self._clock = clock
        # Wall-clock stamp of the last order or amend leaving the gateway for the venue (the
        # receive stamps' clock): where tick-to-order ends.
        self._sent_clock = sent_clock
        self.last_sent_ns = 0
        # The same clock's stamp of the last fill booked: the runner tells the orders that
        # waited behind one (the run summary's tick-to-order after a fill).
        self.last_fill_booked_ns = 0
        self._lock = RLock()
        self.positions = PositionKeeper(engine, instruments.require)
        self.references = ReferencePrices(engine)
        self.bucket = ActionBucket(
            self.limits.rate_actions, self.limits.rate_window_s, self.limits.cancel_reserve, clock()
        )
        self.events: deque[ExecutionEvent] = deque()
        self.rejects: dict[RejectReason, int] = {}
        # The latest rejections (wall ns, reason, code or order id, detail): the dashboard's log.
        self.recent_rejects: deque[tuple[int, str, str, str]] = deque(maxlen=RECENT_REJECTS)
        self._pending_cancels: dict[str, None] = {}  # insertion-ordered set
        self._last_log_ns: dict[RejectReason, int] = {}
        self._suppressed: dict[RejectReason, int] = {}
        # What was sent and booked, in plain values the metrics export when read (a labelled
        # series costs a lock and ~1-20 µs on the order and fill paths).
        self.tally = metrics.execution if metrics is not None else ExecutionTally()
        # Fills the account refused (bad quantity or price from a broker): logged, counted.
        self.bad_fills = 0
        self.state_machine.subscribe(self._on_state_change)
        if metrics is not None:
            metrics.trading_state(int(self.state_machine.state))
            for code in instruments.codes():
                metrics.code_trading_state(code, int(TradingState.ACTIVE))

    # -- the adapter interface ---------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self.state_machine.state

    def working_orders(self) -> Mapping[str, Order]:
        return self._working

    def place(self, intent: OrderIntent) -> Order | Rejection:
        # acquire/try/finally rather than `with`, here and in amend, poll and after_event (the
        # per-event calls): ~75 ns less per call on 3.11, whose `with` looks up and binds
        # __enter__ and __exit__ on every entry.
        self._lock.acquire()
        try:
            adapter = self._adapter
            self._pump()
            rej = self._check_new(intent)
            if rej is None and not self.bucket.try_take(self._clock()):
                rej = _RATE_LIMITED
            if rej is not None:
                self._reject(rej, intent)
                return rej
            self.last_sent_ns = self._sent_clock()
            result = adapter.place(intent)
            t = self.tally
            t.places += 1
            if isinstance(result, Rejection):
                self._reject(result, intent)
            else:
                t.accepted += 1
            self._pump()
            return result
        finally:
            self._lock.release()

    def rehearse(self, intent: OrderIntent) -> Rejection | None:
        """What ``place`` would decide for ``intent``, with nothing taken, sent, counted or
        logged (the bucket is asked, not drawn from): a pinned runner's rehearsal
        (docs/runtime.md#rehearsal) keeps this path warm."""
        with self._lock:
            return self._rehearsed(self._check_new(intent))

    def rehearse_amend(self, order_id: str, price: float) -> Rejection | None:
        """What ``amend(order_id, price)`` would decide, with nothing taken, sent, counted or
        logged: the rehearsal of the other acting path (a re-quote)."""
        with self._lock:
            return self._rehearsed(self._check_amend(order_id, price, None))

    def _rehearsed(self, rej: Rejection | None) -> Rejection | None:
        """The rest of a place's or an amend's path after its checks, taking nothing: the rate
        bucket asked (not drawn from), the send stamp's clock read."""
        if rej is None and not self.bucket.would_take(self._clock()):
            rej = _RATE_LIMITED
        self._sent_clock()
        return rej

    def _check_new(self, intent: OrderIntent) -> Rejection | None:
        """The pure pre-trade checks (shijim.risk.rules) on inputs gathered now."""
        code = intent.code
        working = self._working
        wb = ws = 0
        if working:
            buy = _BUY
            # Every working order of the code counts (worst case if all fill); at most
            # max_working of them, so the scan is bounded. Order.remaining inlined.
            for o in working.values():
                if o.code == code:
                    if o.side is buy:
                        wb += o.qty - o.filled_qty - o.cancelled_qty
                    else:
                        ws += o.qty - o.filled_qty - o.cancelled_qty
        engine = self.engine
        cid = self.references.code_id(code)
        if cid is None:  # not an engine code: no reference, no position (fills adopt codes)
            reference, net, gross, pnl = _NAN, 0, engine.gross, engine.net_pnl
        else:  # references.get, positions.net, .gross and .total_pnl in one call
            reference, net, gross, pnl = engine.risk_inputs(cid)
        return check_new_order(
            intent,
            self.instruments._by_code.get(code),  # InstrumentTable.get, one call less
            reference,
            net,
            wb,
            ws,
            gross,
            len(working),
            pnl,
            self.limits,
            self.state_machine.state,
            self.code_gate.get(code),
        )

    def amend(
        self, order_id: str, price: float | None = None, qty: int | None = None
    ) -> Order | Rejection:
        """Change price and/or reduce the open quantity to ``qty`` (1 .. remaining-1)."""
        self._lock.acquire()
        try:
            self._pump()
            rej = self._check_amend(order_id, price, qty)
            if rej is None and not self.bucket.try_take(self._clock()):
                rej = _RATE_LIMITED
            if rej is not None:
                self._reject(rej, order_id)
                return rej
            self.last_sent_ns = self._sent_clock()
            result = self._adapter.amend(order_id, price, qty)
            self.tally.amends += 1
            if isinstance(result, Rejection):
                self._reject(result, order_id)
            self._pump()
            return result
        finally:
            self._lock.release()

    def _check_amend(self, order_id: str, price: float | None, qty: int | None) -> Rejection | None:
        """The amend checks on inputs gathered now (shared by ``amend`` and its rehearsal)."""
        order = self._working.get(order_id)
        if order is None:
            return Rejection(RejectReason.UNKNOWN_ORDER, f"order {order_id!r}: not working")
        if self.state_machine.state is _HALTED:
            return Rejection(RejectReason.HALTED, "trading state is HALTED")
        if self.code_gate.state(order.code) is _HALTED:
            return Rejection(RejectReason.CODE_HELD, f"{order.code}: held, no amends")
        if qty is not None and not (type(qty) is int and 0 < qty < order.remaining):
            return Rejection(
                RejectReason.INVALID_QTY,
                f"amend qty {qty!r}: must be an integer in 1..{order.remaining - 1}",
            )
        if price is not None:
            inst = self.instruments.get(order.code)
            if inst is None:
                return Rejection(RejectReason.UNKNOWN_CODE, f"code {order.code!r}")
            return check_price(price, inst, self.references.get(order.code), self.limits)
        return None

    def cancel(self, order_id: str) -> bool:
        """Cancels are never refused by risk; if the bucket (reserve included) is empty the
        cancel is queued and sent by ``poll()`` as soon as a token is available."""
        with self._lock:
            return self._cancel(order_id)

    def cancel_all(self) -> int:
        with self._lock:
            return sum(self._cancel(oid) for oid in list(self._working))

    def pump(self) -> None:
        self.poll()

    # -- per-code holds ----------------------------------------------------------------------
    def hold_code(self, code: str, hold: CodeHold, state: TradingState, reason: str) -> None:
        """Stop trading ``code`` for ``hold``'s reason: HALTED cancels its working orders and
        refuses new ones; REDUCING lets only reducing orders through. Idempotent."""
        with self._lock:
            if self.code_gate.hold(code, hold, state, reason):
                self._code_state_changed(code, f"{hold.value}: {reason}")

    def release_code(self, code: str, hold: CodeHold) -> None:
        """Release ``hold``'s demand on ``code`` (other holds on it stay)."""
        with self._lock:
            if self.code_gate.release(code, hold):
                self._code_state_changed(code, f"{hold.value} released")

    def code_state(self, code: str) -> TradingState:
        """What may be done in ``code`` now: the shard's state or the code's hold, whichever is
        more restrictive."""
        with self._lock:
            return max(self.state_machine.state, self.code_gate.state(code))

    def code_exposure(self, code: str) -> tuple[int, float, int]:
        """``code``'s net position, average price and working-order count, read consistently
        from another thread (the resharding report, docs/sharding.md)."""
        with self._lock:
            working = sum(1 for o in self._working.values() if o.code == code)
            p = self.positions.position(code)
            return p.net_qty, p.avg_price, working

    def take_over(self, report: Any) -> None:
        """Apply positions handed over by a code's previous owner (resharding on a venue without
        broker positions, i.e. paper): ``report.positions`` as ``reconcile`` returns them."""
        with self._lock:
            self._apply_reconcile(report)

    def _code_state_changed(self, code: str, why: str) -> None:
        state = self.code_gate.state(code)
        log.warning("code %s trading state -> %s (%s)", code, state.name, why)
        if self._metrics is not None:
            self._metrics.code_trading_state(code, int(state))
        self._enforce(state, code)

    def poll(self) -> int:
        """Apply venue events, retry deferred cancels, check the loss limit. Returns how many
        events were added to ``events``. The runner calls this every loop iteration."""
        self._lock.acquire()
        try:
            n = len(self.events)
            if self._pending_cancels:
                self._retry_cancels()
            self._pump()
            return len(self.events) - n
        finally:
            self._lock.release()

    def after_event(self) -> None:
        """The runner calls this after each due event: venue events are taken (fills booked),
        the daily loss limit is checked against the account as the engine has just marked it,
        and the PnL is kept for the metrics."""
        self._lock.acquire()
        try:
            self._pump()
            pnl = self.tally.pnl = self.engine.net_pnl
            limit = self.limits.max_daily_loss
            if limit is not None and pnl <= -limit:
                self._check_loss(pnl)
        finally:
            self._lock.release()

    def new_trading_day(self) -> None:
        """Restart today's realised PnL (open positions carry over). Does not release a
        LOSS_LIMIT demand: resuming after a loss halt is an operator decision."""
        with self._lock:
            self.positions.reset_day()
            self.tally.pnl = self.positions.total_pnl

    def start(self) -> Any:
        """Start the adapter (Shioaji: register callbacks) and reconcile before trading."""
        with self._lock:
            start = getattr(self._adapter, "start", None)
            report = start() if start is not None else None
            self._apply_reconcile(report)
            return report

    def reconcile(self) -> Any:
        """Refresh working orders and positions from the venue (after a reconnect)."""
        with self._lock:
            fn = getattr(self._adapter, "reconcile", None)
            report = fn() if fn is not None else None
            self._apply_reconcile(report)
            return report

    def _apply_reconcile(self, report: Any) -> None:
        if report is not None:
            for p in report.positions:
                if self.instruments.get(p.code) is None:
                    log.error("broker position in unconfigured code %r", p.code)
                    self._adopt_instrument(p.code)
                self.positions.set_position(p.code, p.net, p.avg_price)
                self.tally.positions[p.code] = p.net
        self._pump()
        # Orders found at the venue while halted (or reducing) get the same treatment as those
        # working at the moment of the transition; so do orders in held codes.
        self._enforce(self.state_machine.state)
        for code in self.code_gate.held_codes():
            self._enforce(self.code_gate.state(code), code)

    # -- reporting ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """JSON-ready state for the admin endpoint and the dashboard."""
        with self._lock:
            demands = {
                src.value: {"state": st.name, "reason": why}
                for src, (st, why) in self.state_machine.demands().items()
            }
            positions = {
                code: {
                    "net": p.net_qty,
                    "avg_price": p.avg_price,
                    "realised_pnl": p.realised_pnl,
                    "unrealised_pnl": p.unrealised_pnl,
                    "fees": p.fees,
                    "mark": None if math.isnan(p.mark_price) else p.mark_price,
                }
                for code, p in self.positions.snapshot().items()
            }
            gate = self.code_gate
            code_holds = {
                code: {h.value: {"state": st.name, "reason": why} for h, (st, why) in held.items()}
                for code in gate.held_codes()
                if (held := gate.holds(code))
            }
            return {
                "state": self.state_machine.state.name,
                "kill_switch_engaged": self.state_machine.kill_switch_engaged,
                "demands": demands,
                "code_holds": code_holds,
                "positions": positions,
                "pnl": {
                    "realised": self.positions.realised_pnl,
                    "unrealised": self.positions.unrealised_pnl,
                    "fees": self.positions.fees,
                    "total": self.positions.total_pnl,
                },
                "markouts": self.engine.markouts(),
                "bad_fills": self.bad_fills,
                "working_orders": len(self._working),
                "pending_cancels": len(self._pending_cancels),
                "rejects": {r.value: n for r, n in self.rejects.items()},
            }

    # -- internals ---------------------------------------------------------------------------
    def _pump(self) -> None:
        adapter = self._adapter
        adapter.pump()
        q = adapter.events
        if not q:
            return
        fills = False
        while q:
            ev = q.popleft()
            if isinstance(ev, Fill):
                self._apply_fill(ev)
                fills = True
            self.events.append(ev)
        if fills:
            # The PnL the metrics show moves with the fill, even if no market event follows
            # (a live fill while the feed is quiet or down).
            pnl = self.tally.pnl = self.engine.net_pnl
            self._check_loss(pnl)

    def _apply_fill(self, fill: Fill) -> None:
        """The one path for fills into the account (paper and live)."""
        try:
            try:
                net = self.positions.apply_fill(fill)
            except KeyError:
                # A fill for a code we do not know (e.g. placed outside this process): it is
                # real money, so track it rather than drop it, and say so loudly.
                log.error("fill %s for unconfigured code %r", fill.fill_id, fill.code)
                self._adopt_instrument(fill.code)
                net = self.positions.apply_fill(fill)
        except ValueError as exc:
            # A fill the account cannot book (qty or price <= 0, NaN fee): bad broker data.
            self.bad_fills += 1
            log.error("fill %s refused by the account: %s (%r)", fill.fill_id, exc, fill)
            return
        t = self.tally
        t.fills += 1
        t.positions[fill.code] = net
        self.last_fill_booked_ns = self._sent_clock()

    def _adopt_instrument(self, code: str) -> None:
        try:
            inst = instrument_for(code)
        except ValueError:
            log.error("code %r: unknown multiplier, PnL counted with multiplier 1", code)
            inst = Instrument.future(code, 1.0)
        self.instruments.add(inst)

    def _check_loss(self, pnl: float) -> None:
        """Engage the loss limit's kill switch if ``pnl`` (the account's, just read) is at or
        below it."""
        limit = self.limits.max_daily_loss
        if limit is None:
            return
        if pnl <= -limit and self.state_machine.state is not _HALTED:
            self.state_machine.engage(
                KillSwitchSource.LOSS_LIMIT, f"daily PnL {pnl:.0f} TWD at or below -{limit:.0f}"
            )

    def _cancel(self, order_id: str) -> bool:
        if order_id not in self._working:
            self._pending_cancels.pop(order_id, None)
            return False
        if not self.bucket.try_take_cancel(self._clock()):
            self._pending_cancels[order_id] = None
            self._reject(Rejection(RejectReason.RATE_LIMIT, "cancel deferred"), order_id)
            return False
        self._pending_cancels.pop(order_id, None)
        sent = self._adapter.cancel(order_id)
        self.tally.cancels += 1
        return sent

    def _retry_cancels(self) -> None:
        for oid in list(self._pending_cancels):
            if oid not in self._working:
                self._pending_cancels.pop(oid, None)
            elif self.bucket.try_take_cancel(self._clock()):
                self._pending_cancels.pop(oid, None)
                self._adapter.cancel(oid)
                self.tally.cancels += 1
            else:
                return

    def _on_state_change(self, change: StateChange) -> None:
        log.warning(
            "trading state %s -> %s by %s: %s",
            change.old.name,
            change.new.name,
            change.source.value,
            change.reason,
        )
        with self._lock:
            if self._metrics is not None:
                self._metrics.trading_state(int(change.new))
            self._enforce(change.new)

    def _enforce(self, state: TradingState, code: str | None = None) -> None:
        """Cancel the working orders ``state`` does not allow (of ``code`` only, if given): all
        when HALTED, those that could increase exposure when REDUCING."""
        if state is _HALTED:
            for oid, o in list(self._working.items()):
                if code is None or o.code == code:
                    self._cancel(oid)
        elif state is _REDUCING:
            for oid in self._exposure_increasing_orders(code):
                self._cancel(oid)

    def _exposure_increasing_orders(self, code: str | None = None) -> list[str]:
        """Working orders (of ``code`` only, if given) that are not reducing, judged per code and
        side with every working order on that side counted (the worst case if they all fill)."""
        by_key: dict[tuple[str, Side], list[Order]] = {}
        for o in self._working.values():
            if code is None or o.code == code:
                by_key.setdefault((o.code, o.side), []).append(o)
        doomed: list[str] = []
        for (code, side), orders in by_key.items():
            total = sum(o.remaining for o in orders)
            if not is_reducing(side, 0, self.positions.net(code), total):
                doomed.extend(o.order_id for o in orders)
        return doomed

    def _reject(self, rej: Rejection, subject: object) -> None:
        reason = rej.reason
        self.rejects[reason] = self.rejects.get(reason, 0) + 1
        what = subject.code if isinstance(subject, OrderIntent) else str(subject)[:40]
        self.recent_rejects.append((self._sent_clock(), reason.value, what, rej.detail[:160]))
        if self._metrics is not None:
            self._metrics.risk_reject(reason.value)
        now = self._clock()
        last = self._last_log_ns.get(reason)
        if last is not None and now - last < self.limits.reject_log_interval_s * 1e9:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last_log_ns[reason] = now
        skipped = self._suppressed.pop(reason, 0)
        log.warning(
            "risk reject %s: %s (%r)%s",
            reason.name,
            rej.detail,
            subject,
            f" [{skipped} similar suppressed]" if skipped else "",
        )
