"""Ingestion: every market-data event becomes one SBE message in the shard's ring.

All feeds (Shioaji callbacks, the simulator, replay) call one ``Ingestor``. It checks each input
(``shijim.bus.validation``), stamps the local receive time when the feed did not, and publishes
into the ring writer, which assigns the per-shard sequence number. Bad input is counted
(``shijim_md_bad_input_total{cause}``), logged once per cause with its source and field, and
dropped: never an exception out of a feed callback, never an order because of it.
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

from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.bus.validation import (
    BATCH_CAUSES,
    BadInputCause,
    Problem,
    batch_cause_code,
    book_batch_causes,
    book_problem,
    book_row_cause,
    tick_batch_causes,
    tick_problem,
    tick_row_cause,
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
_TS_MIN = np.iinfo(np.int64).min
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
    """Checks and publishes market data of one shard into its ring writer."""

    def __init__(
        self,
        writer: RingPublisher,
        universe: Iterable[str] | None = None,
        metrics: ShardMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        logger: logging.Logger | None = None,
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
        self.bad = BadInputLog(metrics, logger)
        self.published: Counter[str] = Counter()
        # Last exchange time per (kind, code): ticks and books travel on separate broker
        # channels and may interleave, so each stream is checked on its own.
        self._last_ts: dict[tuple[str, str], int] = {}
        # Shioaji calls back from its own threads; the ring has exactly one writer.
        self._lock = threading.Lock()

    # -- checks shared by every path --------------------------------------------------------
    def _admit(self, kind: str, code: str, exch_ts: int, source: str) -> bool:
        if self.universe is not None and code not in self.universe:
            self.bad.report(BadInputCause.UNKNOWN_CODE, source, "code", f"{code!r} not in shard")
            return False
        last = self._last_ts.get((kind, code))
        if last is not None and exch_ts < last:
            self.bad.report(
                BadInputCause.TIME_BACKWARDS,
                source,
                "exch_ts",
                f"{code} {kind} exch_ts {exch_ts} < last {last}",
            )
            return False
        return True

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
    ) -> int | None:
        """Publish one trade; returns its ring seq, or None if it was dropped."""
        lts = self.clock_ns() if local_ts is None else local_ts
        try:
            # Decimal -> float is exact enough: the ring stores round(price * 1e6) (exponent -6).
            fprice = float(price)
            volume, total_volume, tick_type = int(volume), int(total_volume), int(tick_type)
        except (ValueError, TypeError, ArithmeticError) as exc:
            self.bad.report(BadInputCause.MALFORMED, source, "price/volume", f"{exc}")
            return None
        p = tick_problem(fprice, volume, total_volume)
        if p is None and tick_type not in (0, 1, 2):
            p = Problem(BadInputCause.MALFORMED, "tick_type", f"{tick_type} is not 0, 1 or 2")
        if p is not None:
            self.bad.problem(p, source)
            return None
        with self._lock:
            if not self._admit("tick", code, exch_ts, source):
                return None
            try:
                seq = self.writer.publish_tick(
                    code, exch_ts, lts, fprice, volume, total_volume, tick_type, bool(simtrade)
                )
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
            self._last_ts[("tick", code)] = exch_ts
        self._published("tick", lts)
        return seq

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
    ) -> int | None:
        """Publish one five-level book; returns its ring seq, or None if it was dropped."""
        lts = self.clock_ns() if local_ts is None else local_ts
        try:
            fb = list(map(float, bid_px))  # exact enough, as in ``tick``
            fa = list(map(float, ask_px))
            bid_qty = [int(v) for v in bid_qty]
            ask_qty = [int(v) for v in ask_qty]
        except (ValueError, TypeError, ArithmeticError) as exc:
            self.bad.report(BadInputCause.MALFORMED, source, "book levels", str(exc))
            return None
        p = book_problem(fb, bid_qty, fa, ask_qty, bool(simtrade))
        if p is not None:
            self.bad.problem(p, source)
            return None
        with self._lock:
            if not self._admit("bidask", code, exch_ts, source):
                return None
            try:
                seq = self.writer.publish_bidask(
                    code, exch_ts, lts, fb, bid_qty, fa, ask_qty, bool(simtrade)
                )
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
            self._last_ts[("bidask", code)] = exch_ts
        self._published("bidask", lts)
        return seq

    def event(
        self,
        event: str,
        code: str = "",
        exch_ts: int | None = None,
        session_state: str | None = None,
        reason: str = "",
        count: int = 0,
        local_ts: int | None = None,
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
                trading_state=None,
                reason=reason[:32],
            )
        self._published("event", lts)
        return seq

    def record(self, rec: MarketRecord, source: str, keep_local_ts: bool = False) -> int | None:
        """Publish one canonical raw record (already validated by ``shijim.events``).

        The local receive time is stamped now unless ``keep_local_ts`` (then the recorded one
        is kept, e.g. to reproduce a recorded session's latencies)."""
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
            )
        # Snapshots: checked for universe and time order, published as they are.
        local = self.clock_ns() if lts is None else lts
        out = record_to_dict(rec)
        out["local_ts"] = local
        with self._lock:
            if not self._admit(out["type"], rec.code, rec.exch_ts, source):
                return None
            try:
                seq = self.writer.publish_record(out)
            except (ValueError, TypeError, OverflowError) as exc:
                return self._rejected_by_ring(exc, source)
            self._last_ts[(out["type"], rec.code)] = rec.exch_ts
        self._published(out["type"], local)
        return seq

    # -- batches (simulator, throughput path) -----------------------------------------------
    def _batch_admit(self, kind: str, arr: np.ndarray, causes: np.ndarray, source: str) -> None:
        """Add unknown-code and time-backwards causes to ``causes`` (in place)."""
        codes = arr["code"]
        if self._universe_bytes is not None:
            unknown = ~np.isin(codes, self._universe_bytes)
            causes[unknown & (causes == 0)] = _UNKNOWN_CODE
        ts = arr["exch_ts"]
        for raw in np.unique(codes):
            idx = np.flatnonzero(codes == raw)
            code = raw.decode()
            last = self._last_ts.get((kind, code), _TS_MIN)
            good = causes[idx] == 0
            # A row goes backwards if it is older than the newest earlier good row.
            prev_max = np.maximum.accumulate(np.where(good, ts[idx], _TS_MIN))
            prev_max = np.concatenate(([last], np.maximum(prev_max[:-1], last)))
            bad_rows = good & (ts[idx] < prev_max)
            causes[idx[bad_rows]] = _TIME_BACKWARDS
            ok = idx[causes[idx] == 0]
            if ok.size:
                self._last_ts[(kind, code)] = max(last, int(ts[ok].max()))

    def _batch_report(
        self,
        causes: np.ndarray,
        source: str,
        *,
        codes: np.ndarray | None = None,
        kind: str = "",
        where: RowPlace | None = None,
    ) -> None:
        """One report per cause: how many rows, and the first one's place (and code if given)."""
        for code_i in np.unique(causes[causes != 0]):
            rows = np.flatnonzero(causes == code_i)
            cause = BATCH_CAUSES[int(code_i) - 1]
            first = int(rows[0])
            place = f"{source} row {first}" if where is None else where(kind, first)
            detail = "" if codes is None else f"code {codes[first].decode(errors='replace')}"
            self.bad.report(cause, place, "(row)", detail, n=int(rows.size))

    def _publish_batch(self, kind: str, arr: np.ndarray, causes: np.ndarray, source: str) -> int:
        with self._lock:
            self._batch_admit(kind, arr, causes, source)
            good = causes == 0
            out = arr if bool(good.all()) else arr[good]
            if (out["local_ts"] == 0).any():
                out = out.copy()
                out["local_ts"][out["local_ts"] == 0] = self.clock_ns()
            if out.size:
                try:
                    if kind == "tick":
                        self.writer.publish_ticks(out)
                    else:
                        self.writer.publish_bidasks(out)
                except (ValueError, TypeError, OverflowError) as exc:
                    self.bad.report(
                        BadInputCause.MALFORMED, source, "(ring)", str(exc), n=int(out.size)
                    )
                    out = out[:0]
        if not good.all():
            self._batch_report(causes, source, codes=arr["code"])
        if out.size:
            self._published(kind, int(out["local_ts"][-1]), int(out.size))
        return int(out.size)

    def ticks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a TICK_DTYPE batch; returns how many rows were published."""
        if arr.dtype != TICK_DTYPE:
            arr = arr.astype(TICK_DTYPE)  # by field name (e.g. a packed copy of the dtype)
        causes = tick_batch_causes(arr["price"], arr["volume"], arr["total_volume"])
        return self._publish_batch("tick", arr, causes, source)

    def bidasks(self, arr: np.ndarray, source: str = "batch") -> int:
        """Publish a BIDASK_DTYPE batch; returns how many rows were published."""
        if arr.dtype != BIDASK_DTYPE:
            arr = arr.astype(BIDASK_DTYPE)
        causes = book_batch_causes(
            arr["bid_px"], arr["bid_qty"], arr["ask_px"], arr["ask_qty"], arr["simtrade"]
        )
        return self._publish_batch("bidask", arr, causes, source)

    def interleaved(
        self,
        ticks: np.ndarray,
        bidasks: np.ndarray,
        kinds: np.ndarray,
        source: str = "batch",
        where: RowPlace | None = None,
        stamp_local_ts: bool = True,
    ) -> int:
        """Publish ticks and books in one given order (the throughput path of the simulator).

        ``kinds[i]`` is 1 (next tick) or 2 (next book): ``ticks`` and ``bidasks`` are each in
        publication order and ``kinds`` interleaves them, e.g. each trade just before the book
        it changed. Checks run once over each whole array; the ring gets one call per run of
        same-kind rows (contiguous slices, no copies). Returns how many rows were published.
        ``where(kind, row)`` ("tick"/"bidask", index in its array) names the input of a dropped
        row in the log (e.g. file:line for replay); by default "<source> <kind> row <i>".
        Rows with ``local_ts`` 0 are stamped now unless ``stamp_local_ts`` is False (a replay
        keeping recorded stamps publishes them as recorded, as ``record`` does).
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
            if small:
                self._small_admit("tick", ticks, tc, source)
                self._small_admit("bidask", bidasks, bc, source)
                clean = not (any(tc) or any(bc))
                tc = np.array(tc, dtype=np.int8)
                bc = np.array(bc, dtype=np.int8)
            else:
                self._batch_admit("tick", ticks, tc, source)
                self._batch_admit("bidask", bidasks, bc, source)
                clean = bool((tc == 0).all() and (bc == 0).all())
            if not clean:
                t_ok, b_ok = tc == 0, bc == 0
                keep = np.empty(kinds.size, dtype=bool)
                keep[kinds == 1] = t_ok
                keep[kinds == 2] = b_ok
                kinds = kinds[keep]
                ticks, bidasks = ticks[t_ok], bidasks[b_ok]
            for arr in (ticks, bidasks) if stamp_local_ts else ():
                if arr.size and not arr["local_ts"].all():
                    arr["local_ts"][arr["local_ts"] == 0] = self.clock_ns()
            runs = _runs_small(kinds.tolist()) if small else _runs(kinds)
            rejected = self._publish_runs(ticks, bidasks, runs, source)
        if not clean:
            for causes, kind in ((tc, "tick"), (bc, "bidask")):
                if (causes != 0).any():
                    self._batch_report(causes, f"{source} {kind}", kind=kind, where=where)
        if ticks.size:
            self._published("tick", int(ticks["local_ts"][-1]), int(ticks.size))
        if bidasks.size:
            self._published("bidask", int(bidasks["local_ts"][-1]), int(bidasks.size))
        return int(ticks.size + bidasks.size) - rejected

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
        tc = [
            tick_row_cause(p, v, t)
            for p, v, t in zip(
                ticks["price"].tolist(),
                ticks["volume"].tolist(),
                ticks["total_volume"].tolist(),
                strict=True,
            )
        ]
        bc = [
            book_row_cause(bp, bq, ap, aq, st)
            for bp, bq, ap, aq, st in zip(
                bidasks["bid_px"].tolist(),
                bidasks["bid_qty"].tolist(),
                bidasks["ask_px"].tolist(),
                bidasks["ask_qty"].tolist(),
                bidasks["simtrade"].tolist(),
                strict=True,
            )
        ]
        return tc, bc

    def _small_admit(self, kind: str, arr: np.ndarray, causes: list[int], source: str) -> None:
        """``_batch_admit`` row by row (in place on ``causes``): unknown code, then time order
        per code against the newest earlier good row."""
        universe = self.universe
        last_ts = self._last_ts
        for i, (raw, ts) in enumerate(
            zip(arr["code"].tolist(), arr["exch_ts"].tolist(), strict=True)
        ):
            if causes[i]:
                continue
            code = raw.decode()
            if universe is not None and code not in universe:
                causes[i] = _UNKNOWN_CODE
                continue
            key = (kind, code)
            last = last_ts.get(key, _TS_MIN)
            if ts < last:
                causes[i] = _TIME_BACKWARDS
            else:
                last_ts[key] = ts
