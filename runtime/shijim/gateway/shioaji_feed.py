"""Shioaji live market data (Tick and BidAsk v1, futures/options and stocks) into ingestion.

Broker callbacks run on Shioaji's threads. Each callback reads the quote object's fields inside
one narrow guard: a malformed object raises ``pyo3_runtime.PanicException`` (a BaseException)
when a field is read; it is caught, counted, logged once per cause and dropped, and the callback
returns normally so the broker thread survives. Prices stay ``Decimal`` until the ring; exchange
times are naive Asia/Taipei and are converted to UTC nanoseconds exactly.

Session events (Solace codes, docs/feeds.md): down -> feed disconnected (and a ``feed_gap``
event in the ring); up again -> every subscription is made again from ``poll()`` (not from the
broker's event thread) and a ``reconnect`` event is published; down longer than
``degrade_after_s`` -> degraded (``shijim_feed_degraded`` = 1) until it is up again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shijim.bus.ingestion import Ingestor
from shijim.bus.validation import BadInputCause, ClockCheck
from shijim.gateway.feed import run_feed_for
from shijim.gateway.shioaji_session import ShioajiSession
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns
from shijim.metrics import ShardMetrics

log = logging.getLogger(__name__)

# Shioaji's documented limit per session (design to the lower figure; docs/sharding.md).
MAX_SUBSCRIPTIONS = 200

# Solace session event codes, as Shioaji forwards them to the event callback.
EVENT_UP = 0
EVENT_DOWN = 1
EVENT_CONNECT_FAILED = 2
EVENT_SUBSCRIPTION_ERROR = 4
EVENT_RECONNECTING = 12
EVENT_RECONNECTED = 13
EVENT_SUBSCRIPTION_OK = 16
_DOWN_EVENTS = frozenset({EVENT_DOWN, EVENT_CONNECT_FAILED, EVENT_RECONNECTING})
_UP_EVENTS = frozenset({EVENT_UP, EVENT_RECONNECTED})


class QuoteKind(Enum):
    TICK = "tick"
    BIDASK = "bidask"


@dataclass(frozen=True)
class Subscription:
    code: str
    kind: QuoteKind


@dataclass(frozen=True)
class SubscriptionPlan:
    accepted: tuple[Subscription, ...]
    refused: tuple[Subscription, ...]  # over the limit: never subscribed


def plan_subscriptions(
    codes: Sequence[str], kinds: Sequence[QuoteKind], limit: int = MAX_SUBSCRIPTIONS
) -> SubscriptionPlan:
    """Each code gets all ``kinds`` (one subscription each) while the limit allows.

    A code either gets every kind or none: half a code (trades without its book) would feed
    signals a misleading picture.
    """
    accepted: list[Subscription] = []
    refused: list[Subscription] = []
    per_code = len(kinds)
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            continue
        seen.add(code)
        subs = [Subscription(code, k) for k in kinds]
        if len(accepted) + per_code <= limit:
            accepted.extend(subs)
        else:
            refused.extend(subs)
    return SubscriptionPlan(tuple(accepted), tuple(refused))


@dataclass(frozen=True)
class ShioajiFeedConfig:
    kinds: tuple[QuoteKind, ...] = (QuoteKind.TICK, QuoteKind.BIDASK)
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    # Down longer than this: degraded state and shijim_feed_degraded = 1.
    degrade_after_s: float = 30.0
    # Exchange time further than this BEHIND the local receive clock: bad timestamp (Shioaji
    # turns an unreadable date into 2000-01-01 and an unreadable time into 00:00:00 silently).
    max_clock_skew_s: float = 600.0
    # Exchange time further than this AHEAD of the local receive clock: future_timestamp. A
    # quote cannot be received before it happened, so only clock error (NTP keeps it to ms) and
    # a broken timestamp get here; 2 s leaves room for a poorly synced host and still bounds
    # how long one outlier that passes can hold the code's later quotes back (docs/feeds.md).
    max_ahead_s: float = 2.0


def _is_broker_panic(exc: BaseException) -> bool:
    # pyo3's PanicException derives from BaseException; catch only that one, never
    # KeyboardInterrupt / SystemExit.
    return type(exc).__name__ == "PanicException" and type(exc).__module__ == "pyo3_runtime"


@dataclass(frozen=True)
class _TickFields:
    code: str
    exch_ts: int
    price: Any
    volume: int
    total_volume: int
    tick_type: int
    simtrade: bool


@dataclass(frozen=True)
class _BookFields:
    code: str
    exch_ts: int
    bid_px: list[Any]
    bid_qty: list[int]
    ask_px: list[Any]
    ask_qty: list[int]
    simtrade: bool


class FieldReader:
    """Reads attributes of one broker object, remembering which one it is reading (so an error
    can name the field: pyo3 panics only name a byte offset)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.field = "(object)"

    def __call__(self, name: str) -> Any:
        self.field = name
        return getattr(self.obj, name)


def read_tick(r: FieldReader) -> _TickFields:
    """All fields the ring needs from a TickFOPv1 / TickSTKv1 (may raise on malformed input)."""
    return _TickFields(
        code=str(r("code")),
        exch_ts=taipei_naive_to_utc_ns(r("datetime")),
        price=r("close"),
        volume=int(r("volume")),
        total_volume=int(r("total_volume")),
        tick_type=int(r("tick_type")),
        simtrade=bool(r("simtrade")),
    )


def read_bidask(r: FieldReader) -> _BookFields:
    """All fields the ring needs from a BidAskFOPv1 / BidAskSTKv1."""
    return _BookFields(
        code=str(r("code")),
        exch_ts=taipei_naive_to_utc_ns(r("datetime")),
        bid_px=list(r("bid_price")),
        bid_qty=[int(v) for v in r("bid_volume")],
        ask_px=list(r("ask_price")),
        ask_qty=[int(v) for v in r("ask_volume")],
        simtrade=bool(r("simtrade")),
    )


class ShioajiMarketData:
    """The ``--feed shioaji`` market-data feed over a logged-in ``ShioajiSession``."""

    name = "shioaji"

    def __init__(
        self,
        session: ShioajiSession,
        codes: Iterable[str],
        config: ShioajiFeedConfig | None = None,
        metrics: ShardMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.codes = list(dict.fromkeys(codes))
        self.config = config or ShioajiFeedConfig()
        self.clock_check = ClockCheck(
            max_ahead_ns=int(self.config.max_ahead_s * 1e9),
            max_behind_ns=int(self.config.max_clock_skew_s * 1e9),
        )
        # Quotes received per kind: the position a bad-input message names ("tick #12").
        self._received = {"tick": itertools.count(1), "bidask": itertools.count(1)}
        self.metrics = metrics
        self.clock_ns = clock_ns
        self.monotonic = monotonic
        self.ingestor: Ingestor | None = None
        self.plan = plan_subscriptions(self.codes, self.config.kinds, self.config.max_subscriptions)
        self.subscribed: list[Subscription] = []
        self._unknown: set[str] = set()
        self.connected = False
        self.degraded = False
        self.reconnects = 0
        self._down_since: float | None = None
        self._resubscribe_pending = False
        self._stopped = False
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, ingestor: Ingestor) -> None:
        if not self.session.logged_in:
            raise RuntimeError("ShioajiMarketData.start: the session is not logged in")
        self.ingestor = ingestor
        ingestor.set_clock_check(self.clock_check)
        api = self.session.api
        # Callbacks after login, before subscribe (Shioaji rejects them before login).
        api.set_on_tick_fop_v1_callback(self.on_tick)
        api.set_on_bidask_fop_v1_callback(self.on_bidask)
        api.set_on_tick_stk_v1_callback(self.on_tick)
        api.set_on_bidask_stk_v1_callback(self.on_bidask)
        api.set_event_callback(self.on_event)
        for sub in self.plan.refused:
            ingestor.bad.report(
                BadInputCause.SUBSCRIPTION_LIMIT,
                "shioaji subscribe",
                "codes",
                f"{sub.code} {sub.kind.value}: over the {self.config.max_subscriptions}"
                " subscriptions Shioaji allows per session; not subscribed",
            )
        if self.plan.refused:
            log.error(
                "Shioaji: %d of %d codes not subscribed (limit %d subscriptions): %s",
                len({s.code for s in self.plan.refused}),
                len(self.codes),
                self.config.max_subscriptions,
                ", ".join(sorted({s.code for s in self.plan.refused})),
            )
        self._subscribe_all()
        self._set_connected(True)

    def _subscribe_all(self) -> None:
        import shioaji as sj

        api = self.session.api
        done: list[Subscription] = []
        for sub in self.plan.accepted:
            if sub.code in self._unknown:
                continue  # reported once, at the first subscribe
            contract = self.session.contract(sub.code)
            if contract is None:
                assert self.ingestor is not None
                self._unknown.add(sub.code)
                self.ingestor.bad.report(
                    BadInputCause.UNKNOWN_CODE,
                    "shioaji subscribe",
                    "code",
                    f"{sub.code!r}: no such contract at the broker",
                )
                continue
            qt = sj.QuoteType.Tick if sub.kind is QuoteKind.TICK else sj.QuoteType.BidAsk
            try:
                api.subscribe(contract, quote_type=qt, version=sj.QuoteVersion.v1)
            except Exception as exc:
                log.error("Shioaji subscribe %s %s failed: %s", sub.code, sub.kind.value, exc)
                continue
            done.append(sub)
        self.subscribed = done

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        api = self.session.api
        if api is not None:
            import shioaji as sj

            for sub in self.subscribed:
                contract = self.session.contract(sub.code)
                qt = sj.QuoteType.Tick if sub.kind is QuoteKind.TICK else sj.QuoteType.BidAsk
                try:
                    api.unsubscribe(contract, quote_type=qt, version=sj.QuoteVersion.v1)
                except Exception as exc:
                    log.warning("Shioaji unsubscribe %s failed: %s", sub.code, exc)
        self.subscribed = []
        self._set_connected(False)

    @property
    def finished(self) -> bool:
        return self._stopped

    def poll(self) -> int:
        """Resubscribe after a reconnect; degrade after a long outage. Quotes arrive on
        Shioaji's threads, so this publishes nothing itself (returns 0)."""
        with self._lock:
            resubscribe = self._resubscribe_pending and self.connected
            self._resubscribe_pending = self._resubscribe_pending and not resubscribe
            down_since = self._down_since
        if resubscribe:
            log.warning("Shioaji reconnected: resubscribing %d", len(self.plan.accepted))
            self._subscribe_all()
        if (
            down_since is not None
            and not self.degraded
            and self.monotonic() - down_since > self.config.degrade_after_s
        ):
            self.degraded = True
            if self.metrics is not None:
                self.metrics.feed_degraded(True)
            log.error(
                "Shioaji market data down for more than %.0f s: degraded",
                self.config.degrade_after_s,
            )
        return 0

    def run_for(self, seconds: float | None = None, max_events: int | None = None) -> int:
        return run_feed_for(self, seconds, max_events, idle_sleep_s=0.05)

    # -- broker callbacks (Shioaji threads) -----------------------------------------------
    def _guarded_read(
        self, reader: Callable[[FieldReader], Any], obj: Any, what: str, n: int
    ) -> Any | None:
        assert self.ingestor is not None
        fields = FieldReader(obj)
        try:
            return reader(fields)
        except BaseException as exc:
            if not (isinstance(exc, Exception) or _is_broker_panic(exc)):
                raise
            self.ingestor.bad.report(
                BadInputCause.MALFORMED,
                f"shioaji {what} #{n} {_code_of(obj)}",
                fields.field,
                f"{type(exc).__name__}: {str(exc)[:120]}",
            )
            return None

    def on_tick(self, *args: Any) -> None:
        """TickFOPv1 / TickSTKv1 callback (``fn(tick)`` or legacy ``fn(exchange, tick)``)."""
        local_ts = self.clock_ns()
        if self.ingestor is None or not args:
            return
        n = next(self._received["tick"])
        f = self._guarded_read(read_tick, args[-1], "tick", n)
        if f is None:
            return
        self.ingestor.tick(
            f.code,
            f.exch_ts,
            f.price,
            f.volume,
            f.total_volume,
            f.tick_type,
            f.simtrade,
            local_ts=local_ts,
            source=f"shioaji tick #{n} {f.code}",
        )

    def on_bidask(self, *args: Any) -> None:
        """BidAskFOPv1 / BidAskSTKv1 callback."""
        local_ts = self.clock_ns()
        if self.ingestor is None or not args:
            return
        n = next(self._received["bidask"])
        f = self._guarded_read(read_bidask, args[-1], "bidask", n)
        if f is None:
            return
        self.ingestor.bidask(
            f.code,
            f.exch_ts,
            f.bid_px,
            f.bid_qty,
            f.ask_px,
            f.ask_qty,
            f.simtrade,
            local_ts=local_ts,
            source=f"shioaji bidask #{n} {f.code}",
        )

    def on_event(self, resp_code: int, event_code: int, info: str, event: str) -> None:
        """Session events (Solace codes; ``fn(resp_code, event_code, info, event)``)."""
        try:
            self._on_event(int(event_code), str(info), str(event))
        except Exception:
            log.exception("Shioaji event %r not handled", event_code)

    def _on_event(self, code: int, info: str, event: str) -> None:
        if code in _DOWN_EVENTS:
            with self._lock:
                was_up = self.connected
                if self._down_since is None:
                    self._down_since = self.monotonic()
            self._set_connected(False)
            if was_up:
                log.error("Shioaji session down (%d %s)", code, event)
                if self.ingestor is not None:
                    self.ingestor.event("feed_gap", reason="broker session down")
        elif code in _UP_EVENTS:
            with self._lock:
                was_down = self._down_since is not None
                self._down_since = None
                if was_down:
                    self.reconnects += 1
                    self._resubscribe_pending = True
            self._set_connected(True)
            if was_down:
                if self.degraded:
                    self.degraded = False
                    if self.metrics is not None:
                        self.metrics.feed_degraded(False)
                log.warning("Shioaji session up again (reconnect %d)", self.reconnects)
                if self.ingestor is not None:
                    self.ingestor.event(
                        "reconnect", reason="broker session up", count=self.reconnects
                    )
        elif code == EVENT_SUBSCRIPTION_ERROR:
            log.error("Shioaji subscription error: %s (%s)", info, event)
        else:
            log.debug("Shioaji event %d: %s", code, event)

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        if self.metrics is not None:
            self.metrics.feed_connected(up)


def _code_of(obj: Any) -> str:
    try:
        return str(obj.code)
    except BaseException as exc:
        if not (isinstance(exc, Exception) or _is_broker_panic(exc)):
            raise
        return "(code unreadable)"
