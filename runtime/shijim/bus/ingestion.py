"""Ingestion: every market-data event becomes one SBE message in the shard's ring.

All feeds (Shioaji callbacks, the simulator, replay) call one ``Ingestor``. It stamps the local
receive time when the feed did not and hands each input, or each batch of ring rows, to the
shard's admission in Rust (``shijim_core.Admission``: one rule set, applied once, docs/feeds.md),
which checks it and publishes it into the ring writer (the writer assigns the per-shard
sequence number). Bad input is counted (``shijim_md_bad_input_total{cause}``, per batch), logged
once per cause with its input, position, field and reason, and dropped: never an exception out
of a feed callback, never an order because of it. A code whose inputs keep being dropped is
held (``shijim.bus.data_hold``): a per-code ``trading_state`` event in the ring that the
strategy runner applies to the risk gateway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

import numpy as np

import shijim_core
from shijim.bus.data_hold import HELD, DataHolds, HoldChange
from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.bus.validation import DEFAULT_CLOCK_CHECK, BadInputCause, ClockCheck, Problem
from shijim.events import (
    BidAskRecord,
    EventRecord,
    MarketRecord,
    TickRecord,
    record_to_dict,
)
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)

PriceLike = float | int | Decimal
# (kind, row index in that kind's batch array) -> where the row came from, for the bad-input log.
RowPlace = Callable[[str, int], str]
# What the admission answers for a dropped input, or one that changed a data hold:
# (ring seq or None, (cause, field, detail) or None, [(code, state, reason)]).
Verdict = tuple[int | None, tuple[str, str, str] | None, list[tuple[str, str, str]]]
RingPublisher = shijim_core.RingWriter  # the one writer of the shard's ring (docs/contracts.md)


class BadInputLog:
    """Counts bad inputs per cause; logs the first of each cause (with source and field)."""

    def __init__(self, metrics: ShardMetrics | None, logger: logging.Logger | None = None) -> None:
        self.metrics = metrics
        self.log = logger or log
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def report(
        self, cause: BadInputCause, source: str, field: str, detail: str, n: int = 1
    ) -> None:
        with self._lock:
            first = self.counts[cause.value] == 0
            self.counts[cause.value] += n
        if self.metrics is not None:
            self.metrics.md_bad_input(cause.value, n)
        if first:
            # Later inputs with the same cause are only counted (see the metric).
            self.log.warning(
                "market data dropped (%s): %s: field %s: %s; further %s inputs only counted",
                cause.value,
                source,
                field,
                detail,
                cause.value,
            )

    def problem(self, p: Problem, source: str) -> None:
        self.report(p.cause, source, p.field, p.detail)


def _problem(p: tuple[str, str, str] | None) -> Problem | None:
    return None if p is None else Problem(BadInputCause(p[0]), p[1], p[2])


class Ingestor:
    """Publishes market data of one shard into its ring writer through the shard's admission.

    One set of rules for every path (docs/feeds.md), all in ``shijim_core.Admission``: the
    content of each input, its wire form, then its stream: the code is in the universe, the
    exchange time is not too far from its receive time (``ClockCheck``), not older than the
    stream's last admitted input, and not an exact repeat of it. A dropped input never moves the
    stream's watermark. A code whose inputs keep being dropped is held (``holds``) until good
    data returns.
    """

    def __init__(
        self,
        writer: RingPublisher,
        universe: Iterable[str] | None = None,
        metrics: ShardMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        logger: logging.Logger | None = None,
        clock_check: ClockCheck = DEFAULT_CLOCK_CHECK,
        hold_after: int = 5,
    ) -> None:
        self.writer = writer
        self.universe: frozenset[str] | None = None if universe is None else frozenset(universe)
        self._admission = shijim_core.Admission(
            None if self.universe is None else sorted(self.universe), hold_after
        )
        self.metrics = metrics
        self.clock_ns = clock_ns
        self.set_clock_check(clock_check)
        self.bad = BadInputLog(metrics, logger)
        if metrics is not None:  # what was published, by record type: the writer counts
            metrics.watch_publications(writer)
        self.holds = DataHolds(self._admission)
        # Shioaji calls back from its own threads; the ring has exactly one writer.
        self._lock = threading.Lock()
        if metrics is not None:
            for code in sorted(self.universe or ()):
                metrics.md_code_held(code, False)  # every series exists from the start

    def set_clock_check(self, clock_check: ClockCheck) -> None:
        """The feed's bounds (its clocks are its own business: Shioaji, replay, simulator)."""
        self.clock_check = clock_check
        self._admission.set_clock(clock_check.max_ahead_ns, clock_check.max_behind_ns)

    def forget_watermarks(self) -> None:
        """Forget every stream's last admitted input (a bench replaying the same data again)."""
        with self._lock:
            self._admission.forget_watermarks()

    @property
    def published(self) -> dict[str, int]:
        """Events published into the ring so far, by record type (the writer's count)."""
        return self.writer.publications.by_type

    # -- what the admission answered --------------------------------------------------------
    def _settle(self, verdict: Verdict, source: str) -> int | None:
        """Report a drop and the hold changes of one input; returns its seq if published."""
        seq, problem, holds = verdict
        if problem is not None:
            cause, field, detail = problem
            self.bad.report(BadInputCause(cause), source, field, detail)
        self._holds_changed(holds)
        return seq

    def _holds_changed(self, holds: Sequence[tuple[str, str, str]]) -> None:
        for code, state, reason in holds:
            change = HoldChange(code, state, reason)
            held = change.state == HELD
            log.log(
                logging.ERROR if held else logging.WARNING,
                "market data of %s %s (%s)",
                change.code,
                "held: not traded until good data returns" if held else "good again: released",
                change.reason,
            )
            if self.metrics is not None:
                self.metrics.md_code_held(change.code, held)

    # -- single events (Shioaji callbacks, replay records) ----------------------------------
    def tick(
        self,
        code: str,
        exch_ts: int,
        price: PriceLike,
        volume: int,
        total_volume: int,
        tick_type: int,
        simtrade: bool,
        local_ts: int | None = None,
        source: str = "feed",
        *,
        received_ts: int | None = None,
        seq: int = 0,
    ) -> int | None:
        """Publish one trade; returns its ring seq, or None if it was dropped. ``received_ts``:
        the receive time the exchange time is checked against (default: ``local_ts``, or now);
        ``seq``: a recorded seq (0: none), for the duplicate check."""
        now = self.clock_ns()
        lts = now if local_ts is None else local_ts
        received = lts if received_ts is None else received_ts
        with self._lock:
            out = self._admission.admit_tick(
                self.writer, code, exch_ts, lts, received, price, volume, total_volume,
                tick_type, bool(simtrade), seq, now,
            )  # fmt: skip
        if type(out) is int:  # published, no hold changed: the usual case
            return out
        return self._settle(out, source)

    def bidask(
        self,
        code: str,
        exch_ts: int,
        bid_px: Sequence[PriceLike],
        bid_qty: Sequence[int],
        ask_px: Sequence[PriceLike],
        ask_qty: Sequence[int],
        simtrade: bool,
        local_ts: int | None = None,
        source: str = "feed",
        *,
        received_ts: int | None = None,
        seq: int = 0,
    ) -> int | None:
        """Publish one five-level book; returns its ring seq, or None if it was dropped
        (``received_ts`` and ``seq`` as in ``tick``)."""
        now = self.clock_ns()
        lts = now if local_ts is None else local_ts
        received = lts if received_ts is None else received_ts
        with self._lock:
            out = self._admission.admit_bidask(
                self.writer, code, exch_ts, lts, received, bid_px, bid_qty, ask_px, ask_qty,
                bool(simtrade), seq, now,
            )  # fmt: skip
        if type(out) is int:
            return out
        return self._settle(out, source)

    # -- screening: would an input be admitted now? (realtime replay paces admitted ones only)
    def record_problem(self, rec: MarketRecord) -> Problem | None:
        """What ``record`` would drop ``rec`` for now (None: admitted); nothing is counted."""
        now = self.clock_ns()
        adm = self._admission
        with self._lock:
            if isinstance(rec, TickRecord):
                return _problem(adm.check_tick(
                    rec.code, rec.exch_ts, rec.local_ts, rec.price, rec.volume,
                    rec.total_volume, int(rec.tick_type), rec.simtrade, rec.seq, now,
                ))  # fmt: skip
            if isinstance(rec, BidAskRecord):
                return _problem(adm.check_bidask(
                    rec.code, rec.exch_ts, rec.local_ts, rec.bid_price, rec.bid_volume,
                    rec.ask_price, rec.ask_volume, rec.simtrade, rec.seq, now,
                ))  # fmt: skip
            if isinstance(rec, EventRecord):
                return None
            return _problem(adm.check_snapshot(record_to_dict(rec), rec.local_ts, now))

    def row_problem(self, kind: str, arr: np.ndarray, i: int) -> Problem | None:
        """What ``interleaved`` would drop row ``i`` of a TICK_DTYPE / BIDASK_DTYPE batch
        for, now (None: admitted); nothing is counted."""
        dtype = TICK_DTYPE if kind == "tick" else BIDASK_DTYPE
        if arr.dtype != dtype:  # e.g. rows merged from files: the ring's layout, one row
            arr, i = arr[i : i + 1].astype(dtype), 0
        now = self.clock_ns()
        with self._lock:
            return _problem(self._admission.check_row(kind, arr, i, now))

    def event(
        self,
        event: str,
        code: str = "",
        exch_ts: int | None = None,
        session_state: str | None = None,
        reason: str = "",
        count: int = 0,
        local_ts: int | None = None,
        trading_state: str | None = None,
    ) -> int:
        """Publish a system event (session state, feed gap, reconnect) into the ring."""
        lts = self.clock_ns() if local_ts is None else local_ts
        with self._lock:
            seq = self.writer.publish_event(
                event,
                lts if exch_ts is None else exch_ts,
                lts,
                code=code,
                count=count,
                session_state=session_state,
                trading_state=trading_state,
                reason=reason[:32],
            )
        return int(seq)

    def record(self, rec: MarketRecord, source: str, keep_local_ts: bool = False) -> int | None:
        """Publish one canonical raw record (already validated by ``shijim.events``).

        The local receive time is stamped now unless ``keep_local_ts`` (then the recorded one
        is kept, e.g. to reproduce a recorded session's latencies). The exchange time is checked
        against the recorded receive time either way."""
        lts = rec.local_ts if keep_local_ts else None
        if isinstance(rec, TickRecord):
            return self.tick(
                rec.code,
                rec.exch_ts,
                rec.price,
                rec.volume,
                rec.total_volume,
                int(rec.tick_type),
                rec.simtrade,
                local_ts=lts,
                source=source,
                received_ts=rec.local_ts,
                seq=rec.seq,
            )
        if isinstance(rec, BidAskRecord):
            return self.bidask(
                rec.code,
                rec.exch_ts,
                rec.bid_price,
                rec.bid_volume,
                rec.ask_price,
                rec.ask_volume,
                rec.simtrade,
                local_ts=lts,
                source=source,
                received_ts=rec.local_ts,
                seq=rec.seq,
            )
        if isinstance(rec, EventRecord):
            return self.event(
                rec.event.value,
                rec.code,
                rec.exch_ts,
                None if rec.session_state is None else rec.session_state.value,
                rec.reason,
                rec.count,
                local_ts=lts,
                trading_state=None if rec.trading_state is None else rec.trading_state.value,
            )
        # Snapshots: the stream rules, published as they are.
        now = self.clock_ns()
        local = now if lts is None else lts
        with self._lock:
            out = self._admission.admit_snapshot(
                self.writer, record_to_dict(rec), local, rec.local_ts, now
            )
        if type(out) is int:
            return out
        return self._settle(out, source)

    # -- batches (simulator, replay: the throughput path) -----------------------------------
    def ticks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a TICK_DTYPE batch; returns how many rows were published."""
        kinds = np.ones(arr.size, dtype=np.uint8)
        return self.interleaved(arr, np.empty(0, BIDASK_DTYPE), kinds, source)

    def bidasks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a BIDASK_DTYPE batch; returns how many rows were published."""
        kinds = np.full(arr.size, 2, dtype=np.uint8)
        return self.interleaved(np.empty(0, TICK_DTYPE), arr, kinds, source)

    def interleaved(
        self,
        ticks: np.ndarray,
        bidasks: np.ndarray,
        kinds: np.ndarray,
        source: str = "batch",
        where: RowPlace | None = None,
        stamp_local_ts: bool = True,
        restamp: bool = False,
    ) -> int:
        """Publish ticks and books in one given order (the throughput path of the simulator
        and of replay): one call into the admission for the whole batch.

        ``kinds[i]`` is 1 (next tick) or 2 (next book): ``ticks`` and ``bidasks`` are each in
        publication order and ``kinds`` interleaves them, e.g. each trade just before the book
        it changed. Returns how many rows were published. ``where(kind, row)`` ("tick"/"bidask",
        index in its array) names the input of a dropped row in the log (e.g. file:line for
        replay); by default "<source> <kind> row <i>". Each row's ``local_ts`` is its receive
        time for the clock check (0: unknown, now). Rows with ``local_ts`` 0 are stamped now
        unless ``stamp_local_ts`` is False (a replay keeping recorded stamps publishes them as
        recorded, as ``record`` does); ``restamp``: every published row is stamped now (a
        replay that checked the recorded stamps). The arrays are not modified.
        """
        now = self.clock_ns()
        adm = self._admission
        # acquire/try/finally rather than `with`: ~0.1 us less per call on 3.11 (the
        # simulator's publication sits between a row's receive stamp and its decision).
        self._lock.acquire()
        try:
            try:
                out = adm.admit_rows(
                    self.writer, ticks, bidasks, kinds, now, stamp_local_ts, restamp
                )
            except TypeError:
                # Not the ring's dtypes (e.g. a hand-built batch): converted once, then as above.
                out = adm.admit_rows(
                    self.writer, ticks.astype(TICK_DTYPE), bidasks.astype(BIDASK_DTYPE),
                    np.asarray(kinds, dtype=np.uint8), now, stamp_local_ts, restamp,
                )  # fmt: skip
        finally:
            self._lock.release()
        nt, nb, drops, holds = out
        for kind, cause, n, row, field, detail in drops:
            place = f"{source} {kind} row {row}" if where is None else where(kind, row)
            self.bad.report(BadInputCause(cause), place, field, detail, n=n)
        if holds:
            self._holds_changed(holds)
        return int(nt + nb)
