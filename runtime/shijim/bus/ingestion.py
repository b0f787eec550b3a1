"""Ingestion: every market-data event becomes one SBE message in the shard's ring.

All feeds (Shioaji callbacks, the simulator, replay) call one ``Ingestor``. It checks each input
(``shijim.bus.validation``), stamps the local receive time when the feed did not, and publishes
into the ring writer, which assigns the per-shard sequence number. Bad input is counted
(``shijim_md_bad_input_total{cause}``), logged once per cause with its input, position, field and
reason, and dropped: never an exception out of a feed callback, never an order because of it.
A code whose inputs keep being dropped is held (``shijim.bus.data_hold``): a per-code
``trading_state`` event in the ring that the strategy runner applies to the risk gateway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from shijim.bus.data_hold import HELD, DataHolds, HoldChange
from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.bus.validation import (
    BATCH_CAUSES,
    DEFAULT_CLOCK_CHECK,
    NO_CLOCK_CHECK,
    BadInputCause,
    ClockCheck,
    Problem,
    StreamMark,
    batch_cause_code,
    book_batch_causes,
    book_problem,
    clock_batch_causes,
    clock_problem,
    stream_problem,
    tick_batch_causes,
    tick_problem,
)
from shijim.events import (
    BidAskRecord,
    EventRecord,
    MarketRecord,
    TickRecord,
    record_to_dict,
)
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)

# Rows (ticks + books) at or below which ``interleaved`` checks row by row in Python: ~30 numpy
# calls of ~1-2 us each cost more than a few rows of scalar checks, and the live feed's batches
# are a few rows (the time spent here is between the receive stamp and the ring publish).
SMALL_BATCH = 32
_TS_MIN = int(np.iinfo(np.int64).min)
_TS_MAX = int(np.iinfo(np.int64).max)
_UNKNOWN_CODE = batch_cause_code(BadInputCause.UNKNOWN_CODE)
_TIME_BACKWARDS = batch_cause_code(BadInputCause.TIME_BACKWARDS)


PriceLike = float | int | Decimal | str
# (kind, row index in that kind's batch array) -> where the row came from, for the bad-input log.
RowPlace = Callable[[str, int], str]


def _runs(kinds: np.ndarray) -> list[tuple[int, int]]:
    """(kind, length) of each run of equal consecutive ``kinds``."""
    if not kinds.size:
        return []
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(kinds)) + 1, [kinds.size]))
    return list(zip(kinds[bounds[:-1]].tolist(), np.diff(bounds).tolist(), strict=True))


def _runs_small(kinds: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for k in kinds:
        if runs and runs[-1][0] == k:
            runs[-1] = (k, runs[-1][1] + 1)
        else:
            runs.append((k, 1))
    return runs


class RingPublisher(Protocol):
    """What ingestion needs of ``shijim_core.RingWriter`` (docs/contracts.md)."""

    def publish_tick(
        self,
        code: str,
        exch_ts: int,
        local_ts: int,
        price: Any,
        volume: int,
        total_volume: int,
        tick_type: int,
        simtrade: bool,
    ) -> int: ...

    def publish_bidask(
        self,
        code: str,
        exch_ts: int,
        local_ts: int,
        bid_px: Any,
        bid_qty: Any,
        ask_px: Any,
        ask_qty: Any,
        simtrade: bool,
    ) -> int: ...

    def publish_event(
        self,
        event: str,
        exch_ts: int,
        local_ts: int,
        code: str = "",
        count: int = 0,
        session_state: str | None = None,
        trading_state: str | None = None,
        reason: str = "",
    ) -> int: ...

    def publish_record(self, record: dict[str, Any]) -> int: ...

    def publish_ticks(self, ticks: np.ndarray) -> int | None: ...

    def publish_bidasks(self, bidasks: np.ndarray) -> int | None: ...


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
            for _ in range(n):
                self.metrics.md_bad_input(cause.value)
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


class Ingestor:
    """Checks and publishes market data of one shard into its ring writer.

    One set of rules for every path (docs/feeds.md): the content of each input
    (``tick_problem`` / ``book_problem``, vectorised for batches), then its stream: the code is
    in the universe, the exchange time is not too far from its receive time (``ClockCheck``),
    not older than the stream's last admitted input, and not an exact repeat of it. A dropped
    input never moves the stream's watermark. A code whose inputs keep being dropped is held
    (``DataHolds``) until good data returns.
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
        self._universe_bytes = (
            None
            if self.universe is None
            else np.array(sorted(c.encode() for c in self.universe), dtype="S16")
        )
        self.metrics = metrics
        self.clock_ns = clock_ns
        self.clock_check = clock_check
        self.bad = BadInputLog(metrics, logger)
        self.published: Counter[str] = Counter()
        self.holds = DataHolds(hold_after)
        # The last admitted input per (kind, code): ticks and books travel on separate broker
        # channels and may interleave, so each stream is checked on its own.
        self._last_ts: dict[tuple[str, str], StreamMark] = {}
        # Shioaji calls back from its own threads; the ring has exactly one writer.
        self._lock = threading.Lock()
        if metrics is not None:
            for code in sorted(self.universe or ()):
                metrics.md_code_held(code, False)  # every series exists from the start

    def set_clock_check(self, clock_check: ClockCheck) -> None:
        """The feed's bounds (its clocks are its own business: Shioaji, replay, simulator)."""
        self.clock_check = clock_check

    # -- checks shared by every path --------------------------------------------------------
    def _stream_problem(
        self,
        kind: str,
        code: str,
        exch_ts: int,
        received: int,
        seq: int,
        content: tuple[object, ...],
    ) -> Problem | None:
        """Universe, clock, time order and duplicate of one input. Caller holds the lock."""
        if self.universe is not None and code not in self.universe:
            return Problem(
                BadInputCause.UNKNOWN_CODE, "code", f"{code!r} is not in this shard's universe"
            )
        if not _TS_MIN <= exch_ts <= _TS_MAX:
            return Problem(BadInputCause.BAD_TIMESTAMP, "exch_ts", f"{exch_ts} is beyond int64")
        return clock_problem(kind, code, exch_ts, received, self.clock_check) or stream_problem(
            kind, code, exch_ts, seq, content, self._last_ts.get((kind, code))
        )

    def _dropped(self, kind: str, code: str, p: Problem, source: str) -> None:
        """Count and log one dropped input; hold its code if its data keeps being dropped.
        Caller holds the lock (a hold event goes into the ring right after the drop)."""
        self.bad.problem(p, source)
        change = self.holds.dropped(kind, code, p.cause)
        if change is not None:
            self._publish_hold(change)

    def _admitted(self, kind: str, code: str, mark: StreamMark) -> None:
        """Before publishing an admitted input: its stream's new watermark, and the release of
        its code's data hold. Caller holds the lock."""
        self._last_ts[(kind, code)] = mark
        if self.holds.active:
            change = self.holds.admitted(kind, code)
            if change is not None:
                self._publish_hold(change)

    def _publish_hold(self, change: HoldChange) -> None:
        lts = self.clock_ns()
        self.writer.publish_event(
            "trading_state",
            lts,
            lts,
            code=change.code,
            trading_state=change.state,
            reason=change.reason,
        )
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
        self._published("event", lts)

    def _rejected_by_ring(self, exc: Exception, source: str) -> None:
        # The ring's own field checks (e.g. a code longer than 16 bytes, a price that is not
        # representable with 6 decimals): still bad input, never an exception to the feed.
        self.bad.report(BadInputCause.MALFORMED, source, "(ring)", f"{type(exc).__name__}: {exc}")
        return None

    def _published(self, kind: str, local_ts: int, n: int = 1) -> None:
        self.published[kind] += n
        if self.metrics is not None:
            self.metrics.md_event(kind, local_ts, n)

    # -- single events (Shioaji callbacks, replay) ------------------------------------------
    def _check_tick(
        self,
        code: str,
        exch_ts: int,
        price: PriceLike,
        volume: int,
        total_volume: int,
        tick_type: int,
        simtrade: bool,
        received: int,
        seq: int,
    ) -> tuple[Problem | None, tuple[Any, ...]]:
        """Every rule for one trade: (its problem or None, its content as published). Caller
        holds the lock."""
        try:
            # Decimal -> float is exact enough: the ring stores round(price * 1e6) (exponent -6).
            content: tuple[Any, ...] = (
                exch_ts,
                _number(price, "price"),
                _integer(volume, "volume"),
                _integer(total_volume, "total_volume"),
                _integer(tick_type, "tick_type"),
                bool(simtrade),
            )
        except _FieldError as exc:
            return Problem(BadInputCause.MALFORMED, exc.field, exc.detail), ()
        _, fprice, volume, total_volume, tick_type, _ = content
        p = tick_problem(fprice, volume, total_volume)
        if p is None and tick_type not in (0, 1, 2):
            p = Problem(BadInputCause.MALFORMED, "tick_type", f"{tick_type} is not 0, 1 or 2")
        if p is None:
            p = self._stream_problem("tick", code, exch_ts, received, seq, content)
        return p, content

    def _check_book(
        self,
        code: str,
        exch_ts: int,
        bid_px: Sequence[PriceLike],
        bid_qty: Sequence[int],
        ask_px: Sequence[PriceLike],
        ask_qty: Sequence[int],
        simtrade: bool,
        received: int,
        seq: int,
    ) -> tuple[Problem | None, tuple[Any, ...]]:
        """Every rule for one five-level book, as ``_check_tick``."""
        try:
            content: tuple[Any, ...] = (
                exch_ts,
                _levels(bid_px, float, "bid_price"),
                _levels(bid_qty, int, "bid_volume"),
                _levels(ask_px, float, "ask_price"),
                _levels(ask_qty, int, "ask_volume"),
                bool(simtrade),
            )
        except _FieldError as exc:
            return Problem(BadInputCause.MALFORMED, exc.field, exc.detail), ()
        _, fb, bq, fa, aq, st = content
        p = book_problem(fb, bq, fa, aq, st)
        if p is None:
            p = self._stream_problem("bidask", code, exch_ts, received, seq, content)
        return p, content

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
        lts = self.clock_ns() if local_ts is None else local_ts
        received = _received(lts if received_ts is None else received_ts, self.clock_ns)
        with self._lock:
            p, c = self._check_tick(
                code, exch_ts, price, volume, total_volume, tick_type, simtrade, received, seq
            )
            if p is not None:
                self._dropped("tick", code, p, source)
                return None
            self._admitted("tick", code, StreamMark(exch_ts, seq, c))
            try:
                out = self.writer.publish_tick(code, exch_ts, lts, c[1], c[2], c[3], c[4], c[5])
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
        self._published("tick", lts)
        return out

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
        lts = self.clock_ns() if local_ts is None else local_ts
        received = _received(lts if received_ts is None else received_ts, self.clock_ns)
        with self._lock:
            p, c = self._check_book(
                code, exch_ts, bid_px, bid_qty, ask_px, ask_qty, simtrade, received, seq
            )
            if p is not None:
                self._dropped("bidask", code, p, source)
                return None
            self._admitted("bidask", code, StreamMark(exch_ts, seq, c))
            try:
                out = self.writer.publish_bidask(code, exch_ts, lts, *c[1:])
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
        self._published("bidask", lts)
        return out

    # -- screening: would an input be admitted now? (realtime replay paces admitted ones only)
    def record_problem(self, rec: MarketRecord) -> Problem | None:
        """What ``record`` would drop ``rec`` for now (None: admitted); nothing is counted."""
        received = _received(rec.local_ts, self.clock_ns)
        with self._lock:
            if isinstance(rec, TickRecord):
                return self._check_tick(
                    rec.code, rec.exch_ts, rec.price, rec.volume, rec.total_volume,
                    int(rec.tick_type), rec.simtrade, received, rec.seq,
                )[0]  # fmt: skip
            if isinstance(rec, BidAskRecord):
                return self._check_book(
                    rec.code, rec.exch_ts, rec.bid_price, rec.bid_volume, rec.ask_price,
                    rec.ask_volume, rec.simtrade, received, rec.seq,
                )[0]  # fmt: skip
            if isinstance(rec, EventRecord):
                return None
            kind, content = _snapshot_content(rec)
            return self._stream_problem(kind, rec.code, rec.exch_ts, received, rec.seq, content)

    def row_problem(self, kind: str, arr: np.ndarray, i: int) -> Problem | None:
        """What ``interleaved`` would drop row ``i`` of a TICK_DTYPE / BIDASK_DTYPE batch
        for, now (None: admitted); nothing is counted."""
        r = _row(arr, i)
        code = r[3].decode(errors="replace")
        received = _received(r[2], self.clock_ns)
        with self._lock:
            if kind == "tick":
                return self._check_tick(
                    code, r[1], r[4], r[5], r[6], r[7], r[8], received, r[0]
                )[0]  # fmt: skip
            return self._check_book(code, r[1], r[4], r[5], r[6], r[7], r[8], received, r[0])[0]

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
        self._published("event", lts)
        return seq

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
        # Snapshots: the same stream checks, published as they are.
        local = self.clock_ns() if lts is None else lts
        kind, content = _snapshot_content(rec)
        out = record_to_dict(rec)
        out["local_ts"] = local
        with self._lock:
            received = _received(rec.local_ts, self.clock_ns)
            p = self._stream_problem(kind, rec.code, rec.exch_ts, received, rec.seq, content)
            if p is not None:
                self._dropped(kind, rec.code, p, source)
                return None
            self._admitted(kind, rec.code, StreamMark(rec.exch_ts, rec.seq, content))
            try:
                seq = self.writer.publish_record(out)
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
        self._published(kind, local)
        return seq

    # -- batches (simulator, replay: the throughput path) -----------------------------------
    def ticks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a TICK_DTYPE batch; returns how many rows were published."""
        kinds = np.ones(arr.size, dtype=np.int8)
        return self.interleaved(arr, np.empty(0, BIDASK_DTYPE), kinds, source)

    def bidasks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a BIDASK_DTYPE batch; returns how many rows were published."""
        kinds = np.full(arr.size, 2, dtype=np.int8)
        return self.interleaved(np.empty(0, TICK_DTYPE), arr, kinds, source)

    def _batch_admit(
        self, kind: str, arr: np.ndarray, causes: np.ndarray, received: np.ndarray
    ) -> None:
        """The stream checks of a batch (in place on ``causes``), with the results of
        ``_stream_problem`` row by row in order (tests hold the two equal)."""
        codes = arr["code"]
        if self._universe_bytes is not None:
            unknown = ~np.isin(codes, self._universe_bytes)
            causes[unknown & (causes == 0)] = _UNKNOWN_CODE
        ts = arr["exch_ts"]
        if self.clock_check != NO_CLOCK_CHECK:
            clock = clock_batch_causes(ts, received, self.clock_check)
            causes[causes == 0] = clock[causes == 0]
        # Rows of each code, in order: one sort, not one pass over the codes per code.
        cand = np.flatnonzero(causes == 0)
        uniq, inverse = np.unique(codes[cand], return_inverse=True)
        if uniq.size > 1:
            order = np.argsort(inverse, kind="stable")
            groups = np.split(cand[order], np.searchsorted(inverse[order], np.arange(1, uniq.size)))
        else:
            groups = [cand] if uniq.size else []  # every row already dropped: no group
        seqs = arr["seq"] if arr["seq"].any() else None  # recorded seqs (replay) or none
        for raw, idx in zip(uniq.tolist(), groups, strict=True):
            code = raw.decode()
            key = (kind, code)
            last = self._last_ts.get(key)
            t = ts[idx]
            # A row goes backwards if it is older than the newest earlier row (or the mark).
            floor = _TS_MIN if last is None else last.exch_ts
            newest = np.maximum(np.maximum.accumulate(t), floor)
            back = t < np.concatenate(([floor], newest[:-1]))
            ok = idx[~back]
            if ok.size:
                # An exact repeat of the row before (or of the mark): the rare case, where a
                # dropped repeat changes what the next row is compared with; row by row then.
                first = _row(arr, int(ok[0]))
                p = stream_problem(kind, code, first[1], first[0], _row_content(kind, first), last)
                if p is not None or _repeats(arr, seqs, ok, t[~back], kind):
                    self._stream_rows(kind, code, arr, idx, causes)
                    continue
                r = _row(arr, int(ok[-1]))
                self._last_ts[key] = StreamMark(r[1], r[0], _row_content(kind, r))
            causes[idx[back]] = _TIME_BACKWARDS

    def _stream_rows(
        self, kind: str, code: str, arr: np.ndarray, idx: np.ndarray, causes: np.ndarray
    ) -> None:
        """``stream_problem`` row by row over rows ``idx`` of one stream (in place)."""
        key = (kind, code)
        last = self._last_ts.get(key)
        for i in idx.tolist():
            row = _row(arr, i)
            ts, seq, content = row[1], row[0], _row_content(kind, row)
            p = stream_problem(kind, code, ts, seq, content, last)
            if p is None:
                last = StreamMark(ts, seq, content)
            else:
                causes[i] = batch_cause_code(p.cause)
        if last is not None:
            self._last_ts[key] = last

    def _batch_report(
        self, causes: np.ndarray, arr: np.ndarray, kind: str, source: str, where: RowPlace | None
    ) -> None:
        """One report per cause: how many rows, and the first one's place, field and reason."""
        for code_i in np.unique(causes[causes != 0]):
            rows = np.flatnonzero(causes == code_i)
            cause = BATCH_CAUSES[int(code_i) - 1]
            first = int(rows[0])
            place = f"{source} {kind} row {first}" if where is None else where(kind, first)
            p = _row_problem(kind, _row(arr, first), cause, self.clock_check, self.clock_ns())
            self.bad.report(cause, place, p.field, p.detail, n=int(rows.size))

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
        and of replay).

        ``kinds[i]`` is 1 (next tick) or 2 (next book): ``ticks`` and ``bidasks`` are each in
        publication order and ``kinds`` interleaves them, e.g. each trade just before the book
        it changed. Checks run once over each whole array; the ring gets one call per run of
        same-kind rows (contiguous slices, no copies). Returns how many rows were published.
        ``where(kind, row)`` ("tick"/"bidask", index in its array) names the input of a dropped
        row in the log (e.g. file:line for replay); by default "<source> <kind> row <i>".
        Each row's ``local_ts`` is its receive time for the clock check (0: unknown, now).
        Rows with ``local_ts`` 0 are stamped now unless ``stamp_local_ts`` is False (a replay
        keeping recorded stamps publishes them as recorded, as ``record`` does); ``restamp``:
        every published row is stamped now (a replay that checked the recorded stamps).
        """
        if ticks.dtype != TICK_DTYPE:
            ticks = ticks.astype(TICK_DTYPE)
        if bidasks.dtype != BIDASK_DTYPE:
            bidasks = bidasks.astype(BIDASK_DTYPE)
        small = ticks.size + bidasks.size <= SMALL_BATCH
        if small:
            tc, bc = self._small_causes(ticks, bidasks)
        else:
            tc = tick_batch_causes(ticks["price"], ticks["volume"], ticks["total_volume"])
            bc = book_batch_causes(
                bidasks["bid_px"], bidasks["bid_qty"], bidasks["ask_px"], bidasks["ask_qty"],
                bidasks["simtrade"],
            )  # fmt: skip
        with self._lock:
            now = self.clock_ns()
            if small:
                self._small_admit("tick", ticks, tc, now)
                self._small_admit("bidask", bidasks, bc, now)
                clean = not (any(tc) or any(bc))
                tc = np.array(tc, dtype=np.int8)
                bc = np.array(bc, dtype=np.int8)
            else:
                for kind, arr, causes in (("tick", ticks, tc), ("bidask", bidasks, bc)):
                    if arr.size:
                        lts = arr["local_ts"]
                        received = np.where((lts > 0) & (lts <= now), lts, now)
                        self._batch_admit(kind, arr, causes, received)
                clean = not (tc.any() or bc.any())
            changes: list[tuple[int, HoldChange]] = []
            if not clean or self.holds.active:
                changes = self._hold_changes(ticks, bidasks, kinds, tc, bc)
            if not clean:
                t_ok, b_ok = tc == 0, bc == 0
                keep = np.empty(kinds.size, dtype=bool)
                keep[kinds == 1] = t_ok
                keep[kinds == 2] = b_ok
                kinds = kinds[keep]
                pub_t, pub_b = ticks[t_ok], bidasks[b_ok]
            else:
                pub_t, pub_b = ticks, bidasks
            if restamp:
                for arr in (pub_t, pub_b):
                    if arr.size:
                        arr["local_ts"] = now
            elif stamp_local_ts:
                for arr in (pub_t, pub_b):
                    if arr.size and not arr["local_ts"].all():
                        arr["local_ts"][arr["local_ts"] == 0] = now
            rejected = self._publish_with_holds(pub_t, pub_b, kinds, changes, source, small)
        if not clean:
            for causes, kind, arr in ((tc, "tick", ticks), (bc, "bidask", bidasks)):
                if (causes != 0).any():
                    self._batch_report(causes, arr, kind, source, where)
        if pub_t.size:
            self._published("tick", int(pub_t["local_ts"][-1]), int(pub_t.size))
        if pub_b.size:
            self._published("bidask", int(pub_b["local_ts"][-1]), int(pub_b.size))
        return int(pub_t.size + pub_b.size) - rejected

    def _hold_changes(
        self,
        ticks: np.ndarray,
        bidasks: np.ndarray,
        kinds: np.ndarray,
        tc: np.ndarray,
        bc: np.ndarray,
    ) -> list[tuple[int, HoldChange]]:
        """Data-hold changes of a batch in row order, as (published rows before it, change):
        the rows of codes with a drop here or a failing stream, one by one (rare)."""
        hot = self.holds.failing_codes()
        hot.update(c.decode() for c in np.unique(ticks["code"][tc != 0]).tolist())
        hot.update(c.decode() for c in np.unique(bidasks["code"][bc != 0]).tolist())
        if not hot:
            return []
        hot_b = np.array(sorted(c.encode() for c in hot), dtype="S16")
        t_pos = np.flatnonzero(kinds == 1)
        b_pos = np.flatnonzero(kinds == 2)
        visit = np.concatenate(
            (t_pos[np.isin(ticks["code"], hot_b)], b_pos[np.isin(bidasks["code"], hot_b)])
        )
        visit.sort()
        # Published rows before each entry: entries before it that were kept.
        keep = np.empty(kinds.size, dtype=bool)
        keep[t_pos] = tc == 0
        keep[b_pos] = bc == 0
        before = np.cumsum(keep) - keep
        row_of = np.empty(kinds.size, dtype=np.int64)
        row_of[t_pos] = np.arange(t_pos.size)
        row_of[b_pos] = np.arange(b_pos.size)
        changes: list[tuple[int, HoldChange]] = []
        holds = self.holds
        for e in visit.tolist():
            r = int(row_of[e])
            if kinds[e] == 1:
                kind, code, cause = "tick", ticks["code"][r].decode(), int(tc[r])
            else:
                kind, code, cause = "bidask", bidasks["code"][r].decode(), int(bc[r])
            if cause:
                change = holds.dropped(kind, code, BATCH_CAUSES[cause - 1])
            else:
                change = holds.admitted(kind, code)
            if change is not None:
                changes.append((int(before[e]), change))
        return changes

    def _publish_with_holds(
        self,
        ticks: np.ndarray,
        bidasks: np.ndarray,
        kinds: np.ndarray,
        changes: list[tuple[int, HoldChange]],
        source: str,
        small: bool,
    ) -> int:
        """The published rows in runs, with each hold change at its place. Caller holds the
        lock; returns how many rows the ring refused."""
        if not changes:  # the usual batch
            runs = _runs_small(kinds.tolist()) if small else _runs(kinds)
            return self._publish_runs(ticks, bidasks, runs, source)
        rejected = ti = bi = start = 0
        for stop, change in [*changes, (kinds.size, None)]:
            if stop > start:
                seg = kinds[start:stop]
                runs = _runs_small(seg.tolist()) if small else _runs(seg)
                rejected += self._publish_runs(ticks[ti:], bidasks[bi:], runs, source)
                nt = int(np.count_nonzero(seg == 1))
                ti, bi = ti + nt, bi + (stop - start) - nt
                start = stop
            if change is not None:
                self._publish_hold(change)
        return rejected

    def _publish_runs(
        self,
        ticks: np.ndarray,
        bidasks: np.ndarray,
        runs: list[tuple[int, int]],
        source: str,
    ) -> int:
        """One ring call per (kind, length) run of same-kind rows (contiguous slices, no
        copies); returns how many rows the ring refused. Caller holds the lock."""
        ti = bi = rejected = 0
        pub_t, pub_b = self.writer.publish_ticks, self.writer.publish_bidasks
        for kind, n in runs:
            try:
                if kind == 1:
                    pub_t(ticks[ti : ti + n])
                else:
                    pub_b(bidasks[bi : bi + n])
            except (ValueError, TypeError, OverflowError) as exc:
                # The ring checks every row before publishing any: the run is dropped.
                self.bad.report(
                    BadInputCause.MALFORMED, f"{source} run of {n}", "(ring)", str(exc), n=n
                )
                rejected += n
            if kind == 1:
                ti += n
            else:
                bi += n
        return rejected

    # -- the small-batch path of ``interleaved`` (same results, no numpy per check) -----------
    @staticmethod
    def _small_causes(ticks: np.ndarray, bidasks: np.ndarray) -> tuple[list[int], list[int]]:
        """``tick_problem`` / ``book_problem`` per row as cause codes (0: good)."""
        tc = [
            0 if p is None else batch_cause_code(p.cause)
            for p in map(
                tick_problem,
                ticks["price"].tolist(),
                ticks["volume"].tolist(),
                ticks["total_volume"].tolist(),
            )
        ]
        bc = [
            0 if p is None else batch_cause_code(p.cause)
            for p in map(
                book_problem,
                bidasks["bid_px"].tolist(),
                bidasks["bid_qty"].tolist(),
                bidasks["ask_px"].tolist(),
                bidasks["ask_qty"].tolist(),
                bidasks["simtrade"].tolist(),
            )
        ]
        return tc, bc

    def _small_admit(self, kind: str, arr: np.ndarray, causes: list[int], now: int) -> None:
        """``_stream_problem`` row by row (in place on ``causes``), inlined: the live feed's
        batches are a few rows (a row's int64 exch_ts needs no range check)."""
        last_ts = self._last_ts
        universe = self.universe
        clock = self.clock_check
        check_clock = clock != NO_CLOCK_CHECK
        for i, row in enumerate(_rows(arr)):
            if causes[i]:
                continue
            code = row[3].decode()
            if universe is not None and code not in universe:
                causes[i] = _UNKNOWN_CODE
                continue
            ts, seq, lts = row[1], row[0], row[2]
            content = (ts, row[4], row[5], row[6], row[7], row[8])  # as ``_row_content``
            p = None
            if check_clock:
                p = clock_problem(kind, code, ts, lts if 0 < lts <= now else now, clock)
            if p is None:
                p = stream_problem(kind, code, ts, seq, content, last_ts.get((kind, code)))
            if p is None:
                last_ts[(kind, code)] = StreamMark(ts, seq, content)
            else:
                causes[i] = batch_cause_code(p.cause)


class _FieldError(Exception):
    def __init__(self, field: str, detail: str) -> None:
        self.field, self.detail = field, detail


def _number(value: Any, field: str) -> float:
    try:
        return float(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise _FieldError(field, f"{value!r:.40} is not a number ({exc})") from None


def _levels(values: Any, kind: type[float] | type[int], field: str) -> list[Any]:
    """The levels of a book as floats or ints; a level that is not one names itself."""
    try:
        return list(map(kind, values))
    except (ValueError, TypeError, ArithmeticError):
        convert = _number if kind is float else _integer
        for i, v in enumerate(values):
            convert(v, f"{field}[{i}]")
        raise _FieldError(field, f"{values!r:.60} is not a list of levels") from None


def _integer(value: Any, field: str) -> int:
    try:
        return int(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise _FieldError(field, f"{value!r:.40} is not an integer ({exc})") from None


def _received(local_ts: int, clock_ns: Callable[[], int]) -> int:
    """The receive time an exchange time is checked against: the input's own, unless it has
    none (0, e.g. a recording made without one) or claims one in the future (nothing is
    received after now): then now."""
    now = clock_ns()
    return local_ts if 0 < local_ts <= now else now


# Fields of a row that make its content (all but seq and local_ts), per kind.
_CONTENT = {
    "tick": ["exch_ts", "price", "volume", "total_volume", "tick_type", "simtrade"],
    "bidask": ["exch_ts", "bid_px", "bid_qty", "ask_px", "ask_qty", "simtrade"],
}


def _repeats(
    arr: np.ndarray, seqs: np.ndarray | None, ok: np.ndarray, ts: np.ndarray, kind: str
) -> bool:
    """Whether a row of ``arr[ok]`` (one stream, in order; ``ts`` its exch_ts) has the seq
    (non-zero; ``seqs`` None: no row has one) or the content of the row before it. Content
    equality needs equal exch_ts, so only those pairs are compared field by field."""
    if seqs is not None:
        s = seqs[ok]
        if ((s[1:] == s[:-1]) & (s[1:] != 0)).any():
            return True
    pairs = np.flatnonzero(ts[1:] == ts[:-1])
    if not pairs.size:
        return False
    a, b = ok[pairs + 1], ok[pairs]
    same = np.ones(pairs.size, dtype=bool)
    for f in _CONTENT[kind][1:]:
        x, y = arr[f][a], arr[f][b]
        same &= (x == y) if x.ndim == 1 else (x == y).all(axis=1)
    return bool(same.any())


def _snapshot_content(rec: MarketRecord) -> tuple[str, tuple[object, ...]]:
    out = record_to_dict(rec)
    return out["type"], tuple(v for k, v in out.items() if k not in ("local_ts", "seq"))


def _row_content(kind: str, row: tuple[Any, ...]) -> tuple[object, ...]:
    """The content tuple of a row given as ``ndarray.tolist()`` gives it, as the single-input
    path builds it (floats, ints, lists of levels, bool)."""
    return (row[1], row[4], row[5], row[6], row[7], row[8])


def _rows(arr: np.ndarray) -> list[tuple[Any, ...]]:
    """The rows as tuples of Python values in dtype field order, levels as lists (a structured
    array's own ``tolist`` keeps sub-array fields as arrays, which compare elementwise)."""
    rows = arr.tolist()
    if arr.dtype.names != BIDASK_DTYPE.names:
        return rows  # type: ignore[no-any-return]
    return [
        (*r[:4], r[4].tolist(), r[5].tolist(), r[6].tolist(), r[7].tolist(), r[8]) for r in rows
    ]


def _row(arr: np.ndarray, i: int) -> tuple[Any, ...]:
    return _rows(arr[i : i + 1])[0]


def _row_problem(
    kind: str, r: tuple[Any, ...], cause: BadInputCause, clock: ClockCheck, now: int
) -> Problem:
    """The field and reason of a batch row (``_row``) dropped for ``cause`` (for the log): the
    scalar rules again on that one row."""
    code = r[3].decode(errors="replace")
    if kind == "tick":
        p = tick_problem(r[4], r[5], r[6])
    else:
        p = book_problem(r[4], r[5], r[6], r[7], bool(r[8]))
    if p is not None and p.cause is cause:
        return p
    ts = r[1]
    if cause is BadInputCause.UNKNOWN_CODE:
        return Problem(cause, "code", f"{code!r} is not in this shard's universe")
    if cause in (BadInputCause.FUTURE_TIMESTAMP, BadInputCause.BAD_TIMESTAMP):
        p = clock_problem(kind, code, ts, r[2] if 0 < r[2] <= now else now, clock)
        if p is not None:
            return p
    if cause is BadInputCause.TIME_BACKWARDS:
        return Problem(cause, "exch_ts", f"{code} {kind} exch_ts {ts} < last admitted")
    if cause is BadInputCause.DUPLICATE:
        return Problem(cause, "(content)", f"{code} {kind} seq {r[0]} at {ts} again")
    return Problem(cause, "(row)", f"{code} {kind} at {ts}")
