"""StrategyRunner: ring batches in, strategy decisions out through the risk gateway.

One iteration (``step``): read up to ``batch`` messages from the shard's ring (numpy structured
arrays decoded by the Rust core), update the per-code books and signals vectorised per code
(``BookTable``), feed the risk gateway / paper venue, call the strategy once per code that changed
(conflation: the view carries the newest book and the OFI accumulated over the batch, so Python
work per event happens only where a decision can change), send its actions through the gateway,
then deliver order updates and fills back to the strategy.

The venue needs every event only where we have working orders (queue position, trade-through);
for other codes it gets the newest book and trades of the batch (reference prices, marks).

A lapped reader (``batch.lost > 0``) or a writer restart resets the books (MLOFI must not compare
a book with one from before the gap), is counted in metrics and logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

import shijim_core
from shijim.domain import Fill, Order, OrderUpdate
from shijim.metrics import ShardMetrics
from shijim.risk.code_gate import CodeHold
from shijim.risk.state import TradingState
from shijim.strategy.base import (
    Amend,
    Cancel,
    MarketView,
    Place,
    Strategy,
    StrategyContext,
)
from shijim.strategy.books import LEVELS, BookTable
from shijim.strategy.signals import usable_books
from shijim.strategy.snapshot import BookTop, SystemSnapshot

log = logging.getLogger(__name__)


class BatchReader(Protocol):
    """shijim_core.RingReader (docs/ring.md)."""

    def read(self, max_messages: int) -> Any: ...


class OrderGateway(Protocol):
    """shijim.risk.gateway.RiskAwareGateway (docs/risk.md)."""

    events: Any
    positions: Any
    rejects: Any

    @property
    def state(self) -> TradingState: ...

    def working_orders(self) -> Mapping[str, Order]: ...
    def place(self, intent: Any) -> Any: ...
    def amend(self, order_id: str, price: float | None = None, qty: int | None = None) -> Any: ...
    def cancel(self, order_id: str) -> bool: ...
    def cancel_all(self) -> int: ...
    def poll(self) -> int: ...
    def on_bidask(
        self, code: str, ts: int, bid_px: Any, bid_qty: Any, ask_px: Any, ask_qty: Any
    ) -> None: ...
    def on_trade(self, code: str, ts: int, price: float, volume: int) -> None: ...
    def hold_code(self, code: str, hold: CodeHold, state: TradingState, reason: str) -> None: ...
    def release_code(self, code: str, hold: CodeHold) -> None: ...


@dataclass(slots=True)
class RunnerCounters:
    batches: int = 0
    ticks: int = 0
    bidasks: int = 0
    simtrades: int = 0
    other_messages: int = 0
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
    tick_to_order_ns: list[int] = field(default_factory=list)


class _Positions(Mapping[str, int]):
    """Read-only net positions straight from the gateway's keeper (no copy per decision)."""

    def __init__(self, keeper: Any) -> None:
        self._k = keeper

    def __getitem__(self, code: str) -> int:
        return int(self._k.net(code))

    def get(self, code: str, default: Any = 0) -> Any:  # type: ignore[override]
        return int(self._k.net(code))

    def __iter__(self) -> Iterator[str]:
        return iter(self._k.codes())

    def __len__(self) -> int:
        return len(self._k.codes())


LAG_EXPORT_NS = 50_000_000
# Codes of the SBE SystemEvent enums, looked up by name so they cannot drift from the core.
_EVENTS = {name: code for code, name in shijim_core.EVENT_NAMES.items()}
_SESSIONS = {name: code for code, name in shijim_core.SESSION_STATE_NAMES.items()}
EVENT_SESSION_STATE = _EVENTS["session_state"]
EVENT_FEED_GAP = _EVENTS["feed_gap"]
EVENT_RECONNECT = _EVENTS["reconnect"]
EVENT_TRADING_STATE = _EVENTS["trading_state"]
TRADING_STATE_NAMES: dict[int, str] = shijim_core.TRADING_STATE_NAMES
SESSION_OPEN = _SESSIONS["OPEN"]
SESSION_CLOSED = _SESSIONS["CLOSED"]
SMALL_BATCH = 8  # rows of one type at or below which books are updated row by row
_CODE_CACHE: dict[Any, str] = {}


def _code(raw: Any) -> str:
    s = _CODE_CACHE.get(raw)
    if s is None:
        s = raw.decode("ascii", "replace").rstrip("\x00 ") if isinstance(raw, bytes) else str(raw)
        if len(_CODE_CACHE) < 100_000:
            _CODE_CACHE[raw] = s
    return s


def _groups(codes: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Row indices per code, each in the original (sequence) order."""
    if len(codes) == 0:
        return []
    uniq, inverse = np.unique(codes, return_inverse=True)
    if len(uniq) == 1:
        return [(_code(uniq[0]), np.arange(len(codes)))]
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(1, len(uniq)))
    return [(_code(u), idx) for u, idx in zip(uniq, np.split(order, bounds), strict=True)]


class StrategyRunner:
    def __init__(
        self,
        reader: BatchReader,
        strategy: Strategy,
        gateway: OrderGateway,
        metrics: ShardMetrics | None = None,
        *,
        batch: int = 4096,
        reader_name: str = "strategy",
        books: BookTable | None = None,
        on_snapshot: Callable[[SystemSnapshot], None] | None = None,
        snapshot_interval_s: float = 0.25,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.reader = reader
        self.strategy = strategy
        self.gateway = gateway
        self.metrics = metrics
        self.batch = batch
        self.reader_name = reader_name
        # A strategy may say how many book levels its OFI signal folds (`signal_levels`).
        self.books = books or BookTable(levels=getattr(strategy, "signal_levels", LEVELS))
        self.on_snapshot = on_snapshot
        self._snapshot_interval_ns = int(snapshot_interval_s * 1e9)
        self._last_snapshot_ns = 0
        self._clock = clock_ns
        self.counters = RunnerCounters()
        self._lag_exported_ns = -LAG_EXPORT_NS
        self._positions = _Positions(gateway.positions)
        self._strategy_error_logged: set[str] = set()

    # -- the loop body -----------------------------------------------------------------------
    def step(self) -> int:
        """Read and process one batch; returns the number of messages read."""
        batch = self.reader.read(self.batch)
        n = self.process(batch)
        self._deliver_execution_events()
        if self.on_snapshot is not None:
            now = self._clock()
            if now - self._last_snapshot_ns >= self._snapshot_interval_ns:
                self._last_snapshot_ns = now
                self.on_snapshot(self.snapshot())
        return n

    def process(self, batch: Any) -> int:
        c = self.counters
        c.batches += 1
        self._check_gaps(batch)
        ticks = batch.ticks
        bidasks = batch.bidasks
        n = len(ticks) + len(bidasks)
        others = len(batch.snapshots) + len(batch.events)
        c.other_messages += others
        if len(batch.events):
            self._apply_events(batch.events)
        if n == 0:
            return others
        touched: dict[str, None] = {}
        # The venue must see books and trades in sequence order (a trade at our price and the
        # book that shows its effect must not be counted twice by the queue model): with both
        # kinds in the batch, venue inputs are collected and replayed sorted by seq.
        venue: list[tuple[Any, ...]] | None = [] if len(ticks) and len(bidasks) else None
        if len(bidasks):
            c.bidasks += len(bidasks)
            self._apply_bidasks(bidasks, touched, venue)
        if len(ticks):
            c.ticks += len(ticks)
            self._apply_ticks(ticks, touched, venue)
        if venue:
            self._feed_venue(venue)
        # One context per batch: positions and working orders are live views, the trading
        # state is the one every decision of this batch is made in.
        ctx = self.context()
        for code in touched:
            self._decide(code, ctx)
        return n + others

    def _working_codes(self) -> set[str]:
        # list() copies in one C call: kill-switch threads may cancel (mutate) meanwhile.
        return {o.code for o in list(self.gateway.working_orders().values())}

    # -- market data -------------------------------------------------------------------------
    def _feed_venue(self, items: list[tuple[Any, ...]]) -> None:
        items.sort(key=lambda it: it[0])
        gw = self.gateway
        for it in items:
            if it[1] == 0:
                gw.on_bidask(it[2], it[3], it[4], it[5], it[6], it[7])
            else:
                gw.on_trade(it[2], it[3], it[4], it[5])

    def _apply_bidasks(
        self,
        rows: np.ndarray,
        touched: dict[str, None],
        venue: list[tuple[Any, ...]] | None,
    ) -> None:
        gw = self.gateway
        books = self.books
        if len(rows) <= SMALL_BATCH:
            # Latency path: a few rows cost less one by one than numpy grouping per batch.
            # Columns once per batch: a field of a numpy record row costs ~1 us, a row of a
            # column ~0.1 us. The levels also as Python lists, converted once for the books and
            # the venue (which copies what it keeps).
            codes = rows["code"].tolist()
            exch = rows["exch_ts"].tolist()
            local = rows["local_ts"].tolist()
            cbp, cbq, cap, caq = rows["bid_px"], rows["bid_qty"], rows["ask_px"], rows["ask_qty"]
            lbp, lbq, lap, laq = cbp.tolist(), cbq.tolist(), cap.tolist(), caq.tolist()
            seqs = rows["seq"].tolist() if venue is not None else None
            for i, raw in enumerate(codes):
                code = _code(raw)
                lists = (lbp[i], lbq[i], lap[i], laq[i])
                if books.apply_bidask_row(
                    code, cbp[i], cbq[i], cap[i], caq[i], exch[i], local[i], lists
                ):
                    touched[code] = None
                    if seqs is None:
                        gw.on_bidask(code, exch[i], *lists)
                    else:
                        venue.append((seqs[i], 0, code, exch[i], *lists))  # type: ignore[union-attr]
            return
        working_codes = self._working_codes()
        for code, idx in _groups(rows["code"]):
            r = rows[idx]
            bp, bq, ap, aq = r["bid_px"], r["bid_qty"], r["ask_px"], r["ask_qty"]
            exch = r["exch_ts"].tolist()
            changed = books.apply_bidasks(code, bp, bq, ap, aq, exch[-1], int(r["local_ts"][-1]))
            if not changed:
                continue
            touched[code] = None
            if code in working_codes:
                usable = np.flatnonzero(usable_books(bp, bq, ap, aq)).tolist()
            else:
                usable = (
                    [len(exch) - 1] if usable_books(bp[-1:], bq[-1:], ap[-1:], aq[-1:])[0] else []
                )
            if venue is None:
                for i in usable:
                    gw.on_bidask(code, exch[i], bp[i], bq[i], ap[i], aq[i])
            else:
                seq = r["seq"].tolist()
                venue.extend((seq[i], 0, code, exch[i], bp[i], bq[i], ap[i], aq[i]) for i in usable)

    def _apply_ticks(
        self,
        rows: np.ndarray,
        touched: dict[str, None],
        venue: list[tuple[Any, ...]] | None,
    ) -> None:
        if len(rows) <= SMALL_BATCH:
            self._apply_ticks_small(rows, touched, venue)
            return
        # Simulated trades (trial matching before the open) are not trades: no signal, no fill.
        sim = rows["simtrade"].astype(bool)
        if sim.any():
            self.counters.simtrades += int(sim.sum())
            rows = rows[~sim]
        ok = np.isfinite(rows["price"]) & (rows["price"] > 0) & (rows["volume"] > 0)
        if not ok.all():
            self.books.count_dropped("bad_trade", int((~ok).sum()))
            rows = rows[ok]
        gw = self.gateway
        working_codes = self._working_codes()
        for code, idx in _groups(rows["code"]):
            r = rows[idx]
            price = r["price"]
            volume = r["volume"]
            exch = r["exch_ts"].tolist()
            self.books.apply_trades(
                code,
                price,
                volume.astype(np.float64),
                r["tick_type"],
                exch[-1],
                int(r["local_ts"][-1]),
            )
            if self.books.book(code).has_book:
                touched[code] = None
            px = price.tolist()
            vol = volume.tolist()
            feed = range(len(px)) if code in working_codes else (len(px) - 1,)
            if venue is None:
                for i in feed:
                    gw.on_trade(code, exch[i], px[i], vol[i])
            else:
                seq = r["seq"].tolist()
                venue.extend((seq[i], 1, code, exch[i], px[i], vol[i]) for i in feed)

    def _apply_ticks_small(
        self,
        rows: np.ndarray,
        touched: dict[str, None],
        venue: list[tuple[Any, ...]] | None,
    ) -> None:
        """``_apply_ticks`` row by row for a few rows (the latency path): the same drops and
        counts, codes in the same (sorted) order, each code's rows in sequence order."""
        codes = rows["code"].tolist()
        px = rows["price"].tolist()
        vol = rows["volume"].tolist()
        sim = rows["simtrade"].tolist()
        by_code: dict[Any, list[int]] = {}
        simtrades = bad = 0
        for i, raw in enumerate(codes):
            if sim[i]:  # trial matching before the open: not a trade
                simtrades += 1
                continue
            p = px[i]
            if not (0.0 < p < math.inf) or not vol[i] > 0:
                bad += 1
                continue
            rows_of = by_code.get(raw)
            if rows_of is None:
                by_code[raw] = [i]
            else:
                rows_of.append(i)
        if simtrades:
            self.counters.simtrades += simtrades
        if bad:
            self.books.count_dropped("bad_trade", bad)
        if not by_code:
            return
        exch = rows["exch_ts"].tolist()
        local = rows["local_ts"].tolist()
        types = rows["tick_type"].tolist()
        seqs = rows["seq"].tolist() if venue is not None else None
        working_codes = self._working_codes()
        gw = self.gateway
        books = self.books
        for raw in sorted(by_code):
            idx = by_code[raw]
            code = _code(raw)
            last = idx[-1]
            books.apply_trade_rows(
                code,
                [px[i] for i in idx],
                [vol[i] for i in idx],
                [types[i] for i in idx],
                exch[last],
                local[last],
            )
            if books.books[code].has_book:
                touched[code] = None
            feed = idx if code in working_codes else (last,)
            if seqs is None:
                for i in feed:
                    gw.on_trade(code, exch[i], px[i], vol[i])
            else:
                venue.extend((seqs[i], 1, code, exch[i], px[i], vol[i]) for i in feed)  # type: ignore[union-attr]

    def _apply_events(self, rows: np.ndarray) -> None:
        """Session and feed events. A session that opens or closes, or a feed gap, starts the
        code's book afresh (MLOFI never compares books across a gap); at a close the code's
        working orders are cancelled (a ROD order must not outlive its session unattended)."""
        for ev, state, raw, trading, reason in zip(
            rows["event"].tolist(),
            rows["session_state"].tolist(),
            rows["code"].tolist(),
            rows["trading_state"].tolist(),
            rows["reason"].tolist(),
            strict=True,
        ):
            if ev == EVENT_TRADING_STATE:
                self._data_hold(_code(raw), TRADING_STATE_NAMES.get(trading, ""), reason)
                continue
            session_edge = ev == EVENT_SESSION_STATE and state in (SESSION_OPEN, SESSION_CLOSED)
            if not (session_edge or ev in (EVENT_FEED_GAP, EVENT_RECONNECT)):
                continue
            code = _code(raw)
            if code:
                self.books.reset_code(code)
            else:
                self.books.reset()  # an event without a code is about the whole feed
            if session_edge and state == SESSION_CLOSED:
                self.counters.session_closes += 1
                for o in list(self.gateway.working_orders().values()):
                    if not code or o.code == code:
                        self.gateway.cancel(o.order_id)

    def _data_hold(self, code: str, state: str, reason: bytes) -> None:
        """A per-code trading_state event: ingestion holds a code whose market data is being
        dropped (HALTED: its working orders are cancelled, new ones refused) and releases it
        when good data returns (ACTIVE). Either way its book starts afresh. Shard-wide state
        events (no code) are the kill switch's business, not the ring's."""
        if not code or state not in TradingState.__members__:
            return
        self.books.reset_code(code)
        if state == TradingState.ACTIVE.name:
            self.gateway.release_code(code, CodeHold.DATA)
        else:
            why = reason.decode("ascii", "replace").rstrip("\x00 ")
            self.gateway.hold_code(code, CodeHold.DATA, TradingState[state], why)

    def _check_gaps(self, batch: Any) -> None:
        lost = batch.lost
        restarted = batch.restarted
        if lost or restarted:
            self.counters.lost += lost
            self.counters.resyncs += 1
            self.books.reset()
            log.warning(
                "ring reader %s: %s; books reset",
                self.reader_name,
                "writer restarted" if restarted else f"lapped, lost {lost} messages",
            )
        m = self.metrics
        if m is not None:
            # Losses are exported at once; the lag gauge at most every LAG_EXPORT_NS (a scrape
            # every few seconds cannot see more, and each export takes the metric's lock).
            now = time.monotonic_ns()
            if lost or now - self._lag_exported_ns >= LAG_EXPORT_NS:
                self._lag_exported_ns = now
                m.ring_reader(self.reader_name, int(self.reader.lag), lost)

    # -- decisions ---------------------------------------------------------------------------
    def context(self, state: TradingState | None = None) -> StrategyContext:
        gw = self.gateway
        return StrategyContext(
            self._positions, gw.working_orders(), gw.state if state is None else state
        )

    def _decide(self, code: str, ctx: StrategyContext) -> None:
        b = self.books.books.get(code)
        if b is None or not b.has_book:
            return
        view = MarketView(
            code,
            b.exch_ts,
            b.local_ts,
            b.best_bid,
            b.best_ask,
            b.best_bid_qty,
            b.best_ask_qty,
            b.take_signals(),
        )
        try:
            actions = self.strategy.on_market(view, ctx)
        except Exception:  # a strategy bug must not take the shard down: no orders from it
            self._strategy_failed(f"on_market:{code}")
            return
        if actions:
            self.execute(actions, view.local_ts)

    def execute(self, actions: Any, origin_local_ts: int = 0) -> None:
        gw = self.gateway
        c = self.counters
        for act in actions:
            if isinstance(act, Place):
                c.places += 1
                result = gw.place(act.intent)
                order = result if isinstance(result, Order) else None
                if order is not None:
                    c.accepted += 1
                    if origin_local_ts:
                        self._tick_to_order(self._clock() - origin_local_ts)
                self.strategy.on_placed(act.intent.tag, order)
            elif isinstance(act, Amend):
                c.amends += 1
                result = gw.amend(act.order_id, price=act.price)
                if isinstance(result, Order) and origin_local_ts:
                    self._tick_to_order(self._clock() - origin_local_ts)
            elif isinstance(act, Cancel):
                c.cancels += 1
                gw.cancel(act.order_id)

    def _tick_to_order(self, ns: int) -> None:
        # Only samples whose start is this host's clock: a replayed or simulated local_ts from
        # another epoch is not a latency.
        if 0 <= ns < 10_000_000_000:
            self.counters.tick_to_order_ns.append(ns)
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
    def snapshot(self) -> SystemSnapshot:
        gw = self.gateway
        tops = {
            code: BookTop(
                code,
                float(b.bid_px[0]),
                int(b.bid_qty[0]),
                float(b.ask_px[0]),
                int(b.ask_qty[0]),
                b.microprice,
                b.imbalance,
                b.last_trade,
                b.exch_ts,
                b.last_ofi,
            )
            for code, b in self.books.books.items()
            if b.has_book
        }
        c = self.counters
        return SystemSnapshot(
            ts_ns=self._clock(),
            state=gw.state,
            books=tops,
            positions=dict(self._positions),  # a copy of the live view the strategy reads
            pnl=float(getattr(gw.positions, "total_pnl", math.nan)),
            working_orders=tuple(gw.working_orders().values()),
            counters={
                "ticks": c.ticks,
                "bidasks": c.bidasks,
                "lost": c.lost,
                "orders": c.accepted,
                "fills": c.fills,
                "rejects": sum(int(v) for v in gw.rejects.values()),
            },
        )
