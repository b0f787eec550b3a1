"""Prometheus metrics of one shard (prometheus-client).

Every metric name starts with ``shijim_`` and carries a ``shard`` label (docs/metrics.md lists
them; the Helm chart's alerts use only documented names). One ``ShardMetrics`` per process;
each part of the runtime receives it (or ``None`` in pure unit tests) instead of touching a
global registry, so tests can build isolated registries.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shijim.governance.listener import BoundedWSGIServer, Bounds

# A probe answers (healthy, one-line reason); served as 200 or 503 text/plain.
Probe = Callable[[], tuple[bool, str]]

# `_created` series double every counter/histogram and no alert uses them.
prometheus_client.disable_created_metrics()

# Tick-to-order spans ~5 µs .. 10 ms inside one process; buckets resolve the 20 µs / 100 µs
# targets of docs/benchmarks.md.
TICK_TO_ORDER_BUCKETS = (
    5e-6,
    10e-6,
    20e-6,
    50e-6,
    100e-6,
    200e-6,
    500e-6,
    1e-3,
    2e-3,
    5e-3,
    10e-3,
    0.1,
    1.0,
)


class OrderAction(StrEnum):
    """The ``action`` label of ``shijim_order_actions_total`` (what the risk gateway sends)."""

    PLACE = "place"
    AMEND = "amend"
    CANCEL = "cancel"


class RecorderSink(StrEnum):
    """The ``sink`` label of ``shijim_recorder_rows_total``: where the recorder put rows."""

    JSONL = "jsonl"  # the raw JSONL files (the write-ahead log)
    CLICKHOUSE = "clickhouse"  # inserted into ClickHouse (chdb or a server)
    FALLBACK = "fallback"  # spilled to the fallback directory while ClickHouse failed


class RecorderErrorCause(StrEnum):
    """The ``cause`` label of ``shijim_recorder_errors_total`` (docs/recorder.md)."""

    BAD_ROW = "bad_row"  # a ring message that is not a valid record (dropped)
    BAD_LINE = "bad_line"  # a JSONL line the ClickHouse sink could not read (kept in the file)
    BAD_FILE = "bad_file"  # a file in the raw dir that is not <day>_<code>.jsonl, or unreadable
    TORN_TAIL = "torn_tail"  # an unfinished last line cut at restart
    BAD_STATE = "bad_state"  # a recorder state file that could not be read (ignored)
    CLICKHOUSE = "clickhouse"  # an insert or connection error (the block is retried)
    FALLBACK_IO = "fallback_io"  # the fallback dir could not be written or read
    DISK = "disk"  # a JSONL write or fsync failed
    RESTART = "restart"  # the recorder process of `run --record` died and was started again


class _BeforeCollect:
    """Registered ahead of a shard's series: whoever reads the registry (a scrape, a test)
    first has the counts kept in plain ints, and the samples queued, handed to their series."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush

    def collect(self) -> list[Any]:
        self._flush()
        return []


@dataclass(slots=True)
class ExecutionTally:
    """What the risk gateway sent and booked: order actions by kind, orders the venue accepted,
    fills booked, net positions by code and the account's net PnL (TWD). The trading thread
    writes plain values under the gateway's lock; the metrics export them when the registry is
    read. A labelled counter or gauge takes a lock of its own and costs ~1 µs hot, ~20 µs on a
    cold path such as a fill's, between a fill and the re-quote that follows it."""

    places: int = 0
    amends: int = 0
    cancels: int = 0
    accepted: int = 0
    fills: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    pnl: float = 0.0

    def counts(self) -> dict[str, int]:
        """The monotonic counts, by the name the export keys them under (one read each)."""
        return {
            OrderAction.PLACE: self.places,
            OrderAction.AMEND: self.amends,
            OrderAction.CANCEL: self.cancels,
            "accepted": self.accepted,
            "fills": self.fills,
        }


def _increments(totals: Mapping[str, int], exported: dict[str, int]) -> list[tuple[str, int]]:
    """What each running total gained since it was last exported, by name; ``exported`` then
    holds the totals (the tallies count up; a counter is handed only the difference)."""
    out = []
    for name, n in totals.items():
        new = n - exported.get(name, 0)
        if new:
            exported[name] = n
            out.append((name, new))
    return out


class ShardMetrics:
    """All metrics of one shard, pre-bound to its ``shard`` label."""

    def __init__(self, shard: int | str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.shard = str(shard)
        r = self.registry
        s = ("shard",)
        # What ingestion published: the shard's ring writer counts each message it publishes,
        # by type, and keeps the newest one's receive time (shijim_core, no cost on the event's
        # path worth a lock); shijim_md_events_total and the last event's gauge take them when
        # the registry is read (watch_publications).
        self._publications: Any = None
        self._md_exported: dict[str, int] = {}
        # What the risk gateway sent and booked (ExecutionTally), exported likewise.
        self.execution = ExecutionTally()
        self._exec_exported: dict[str, int] = {}
        self._flush_lock = threading.Lock()  # two scrapes at once export each sample once
        # Tick-to-order samples, handed to their histogram when the registry is read (an observe
        # costs ~0.7 us under the histogram's lock, between one order and the next of the same
        # decision). A deque: append and popleft need no lock of ours.
        self._t2o_pending: deque[float] = deque()
        r.register(_BeforeCollect(self._flush_pending))

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, s + labels, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, s + labels, registry=r)

        self._md_events = counter(
            "shijim_md_events_total", "Market-data events ingested into the ring", ("type",)
        )
        self._md_bad = counter(
            "shijim_md_bad_input_total", "Market-data inputs dropped as bad, by cause", ("cause",)
        )
        self._md_last_ts = gauge(
            "shijim_md_last_event_timestamp_seconds",
            "Local receive time of the last ingested event (Unix seconds; staleness alerts)",
        )
        self._md_code_held = gauge(
            "shijim_md_code_held",
            "1 while a code is not traded because its market data is being dropped",
            ("code",),
        )
        self._feed_connected = gauge("shijim_feed_connected", "1 while the feed is connected")
        self._feed_degraded = gauge(
            "shijim_feed_degraded", "1 while the feed has been down longer than its grace time"
        )
        self._ring_lag = gauge(
            "shijim_ring_lag_messages", "Messages the reader is behind the ring writer", ("reader",)
        )
        self._ring_lost = counter(
            "shijim_ring_lost_messages_total", "Messages a lapped ring reader lost", ("reader",)
        )
        self._orders = counter("shijim_orders_total", "Orders accepted by the execution adapter")
        self._order_actions = counter(
            "shijim_order_actions_total",
            "Order actions sent to the broker (place, update, cancel)",
            ("action",),
        )
        self._fills = counter("shijim_fills_total", "Fills (deals) received")
        self._rejects = counter(
            "shijim_risk_rejects_total", "Orders rejected by the risk gateway", ("reason",)
        )
        self._kill = gauge("shijim_kill_switch_engaged", "1 while the trading state is HALTED")
        self._state = gauge("shijim_trading_state", "Trading state: 0 ACTIVE, 1 REDUCING, 2 HALTED")
        self._position = gauge("shijim_position", "Net position in lots/shares", ("code",))
        self._code_owned = gauge(
            "shijim_code_owned",
            "1 while this shard may trade the code under every running layout (resharding)",
            ("code",),
        )
        self._code_state = gauge(
            "shijim_code_trading_state",
            "Per-code hold: 0 ACTIVE, 1 REDUCING, 2 HALTED (bad data, resharding; docs/risk.md)",
            ("code",),
        )
        self._pnl = gauge("shijim_pnl", "Realised + marked-to-market PnL (TWD)")
        self._tick_to_order = Histogram(
            "shijim_tick_to_order_seconds",
            "From the decided event's local receive stamp (at or before its ring publish) to"
            " the order leaving the risk gateway for the venue",
            s,
            buckets=TICK_TO_ORDER_BUCKETS,
            registry=r,
        )
        self._recorder_fallback = gauge(
            "shijim_recorder_fallback_active", "1 while the recorder spills to its fallback dir"
        )
        self._recorder_rows = counter(
            "shijim_recorder_rows_total", "Rows the recorder wrote, by sink", ("sink",)
        )
        self._recorder_backlog = gauge(
            "shijim_recorder_backlog_rows",
            "Rows in the raw JSONL not yet in ClickHouse (spilled ones included)",
        )
        self._recorder_lag = gauge(
            "shijim_recorder_lag_seconds",
            "Age (local receive time) of the oldest row not yet in ClickHouse; 0 when caught up",
        )
        self._recorder_errors = counter(
            "shijim_recorder_errors_total", "Recorder errors, by cause", ("cause",)
        )
        self._recorder_gap = counter(
            "shijim_recorder_gap_messages_total",
            "Ring messages the recorder never saw (lapped, writer restarts), as gap records",
        )
        self._k8s_reachable = gauge(
            "shijim_k8s_api_reachable", "1 while the Kubernetes API server answers the watcher"
        )
        # Binding also creates each series labelled by shard only, at 0: they exist from the
        # start (alerts on absent series are fragile).
        self._bind()
        self._create_known_series()
        # Plain stores read by the health probes (shijim.app.health), never by the hot path
        # (also last_event_ns, above).
        self.k8s_reachable: bool | None = None  # None: no TradingShard watcher (yet)

    # -- HTTP ---------------------------------------------------------------------------------
    def serve(
        self,
        port: int,
        bind: str = "127.0.0.1",
        probes: Mapping[str, Probe] | None = None,
        bounds: Bounds | None = None,
    ) -> BoundedWSGIServer:
        """Serve /metrics, and each probe path (``/livez``, ``/readyz``), on its own daemon
        thread (the trading path never waits on a scrape). Loopback by default: the series show
        positions and PnL (docs/metrics.md). Port 0 picks a free port: read it from
        ``server.server_port``; stop with ``shutdown()`` then ``server_close()``."""
        server = BoundedWSGIServer((bind, port), bounds or Bounds(), "metrics listener")
        server.set_app(self._wsgi_app(dict(probes or {})))
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="shijim-metrics-http",
            daemon=True,
        ).start()
        return server

    def _wsgi_app(self, probes: dict[str, Probe]) -> Callable[..., Iterable[bytes]]:
        metrics_app = prometheus_client.make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", f"{path}: GET only"
            elif path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            elif path in probes:
                try:
                    ok, reason = probes[path]()
                except Exception as exc:  # a probe that fails says so; no traceback
                    ok, reason = False, f"probe failed: {type(exc).__name__}"
                status = "200 OK" if ok else "503 Service Unavailable"
                body = reason
            else:
                status, body = "404 Not Found", f"no such path {path[:100]!r}"
            payload = (body + "\n").encode()
            start_response(
                status,
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(payload))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [payload]

        return app

    # -- bound children ------------------------------------------------------------------------
    # ``labels()`` costs a few µs (argument checks, a lock, a dict lookup); the hot paths call
    # these methods per batch or per order, so each child is resolved once and kept.
    def _bind(self) -> None:
        sh = self.shard
        # No series before the first event / the first word of a TradingShard watcher: a 0
        # would read as "last event in 1970" and "API unreachable" on a runtime without a
        # watcher (ShijimMarketDataMissing and ShijimKubernetesApiUnreachable rely on this).
        self._c_md_last_ts: Any = None
        self._c_k8s: Any = None
        self._c_feed_connected = self._feed_connected.labels(sh)
        self._c_feed_degraded = self._feed_degraded.labels(sh)
        self._c_orders = self._orders.labels(sh)
        self._c_fills = self._fills.labels(sh)
        self._c_state = self._state.labels(sh)
        self._c_kill = self._kill.labels(sh)
        self._c_pnl = self._pnl.labels(sh)
        self._c_t2o = self._tick_to_order.labels(sh)
        self._c_recorder = self._recorder_fallback.labels(sh)
        self._c_recorder_backlog = self._recorder_backlog.labels(sh)
        self._c_recorder_lag = self._recorder_lag.labels(sh)
        self._c_recorder_gap = self._recorder_gap.labels(sh)
        self._children: dict[tuple[str, str], Any] = {}

    def _create_known_series(self) -> None:
        """Every label value the runtime knows, at 0 from the start, taken from the enums that
        define them: ``increase()``/``rate()`` see a first loss or reject only if its series
        existed before (docs/alerts.md). Codes and ring readers are declared by the runtime."""
        # Imported here: shijim.bus imports this module.
        from shijim.bus.validation import BadInputCause
        from shijim.domain import RejectReason
        from shijim.events.record import RecordType

        labelled: tuple[tuple[Any, str, Iterable[Any]], ...] = (
            (self._md_events, "md", RecordType),
            (self._md_bad, "bad", BadInputCause),
            (self._order_actions, "action", OrderAction),
            (self._rejects, "reject", RejectReason),
            (self._recorder_rows, "recorder_rows", RecorderSink),
            (self._recorder_errors, "recorder_errors", RecorderErrorCause),
        )
        for metric, name, values in labelled:
            for value in values:
                self._child(metric, name, value.value)

    def declare_reader(self, reader: str) -> None:
        """A ring reader's lag and lost series, at 0 before its first read."""
        self._child(self._ring_lag, "lag", reader)
        self._child(self._ring_lost, "lost", reader)

    def _child(self, metric: Any, name: str, label: str) -> Any:
        key = (name, label)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(self.shard, label)
        return c

    # -- market data -------------------------------------------------------------------------
    def watch_publications(self, writer: Any) -> None:
        """Export what ``writer`` (the shard's ``shijim_core.RingWriter``) has published: its
        ``publications`` handle, read on the scrape's thread without touching the writer."""
        self._publications = writer.publications

    @property
    def last_event_ns(self) -> int:
        """The local receive time of the newest ingested event (wall ns; 0: none yet)."""
        w = self._publications
        return 0 if w is None else w.last_local_ts

    def _flush_pending(self) -> None:
        # Two scrapes at once: one exports, the other waits and finds nothing new (a copy taken
        # outside the lock could be older than what the other just exported).
        with self._flush_lock:
            q = self._t2o_pending
            observe = self._c_t2o.observe
            for _ in range(len(q)):  # what was queued when the read began
                observe(q.popleft())
            w = self._publications
            totals = {} if w is None else w.by_type  # a new dict of the writer's atomics
            last = 0 if w is None else w.last_local_ts
            for kind, new in _increments(totals, self._md_exported):
                self._child(self._md_events, "md", kind).inc(new)
            if last:  # no series before the first event (see _bind)
                if self._c_md_last_ts is None:
                    self._c_md_last_ts = self._md_last_ts.labels(self.shard)
                self._c_md_last_ts.set(last / 1e9)
            self._export_execution()

    def _export_execution(self) -> None:
        ex = self.execution
        for name, new in _increments(ex.counts(), self._exec_exported):
            if name == "accepted":
                self._c_orders.inc(new)
            elif name == "fills":
                self._c_fills.inc(new)
            else:
                self._child(self._order_actions, "action", name).inc(new)
        for code, net in ex.positions.copy().items():  # one C call: whole under the GIL
            self._child(self._position, "position", code).set(net)
        self._c_pnl.set(ex.pnl)

    def md_bad_input(self, cause: str, n: int = 1) -> None:
        self._child(self._md_bad, "bad", cause).inc(n)

    def md_code_held(self, code: str, held: bool) -> None:
        self._child(self._md_code_held, "md_held", code).set(1 if held else 0)

    def feed_connected(self, connected: bool) -> None:
        self._c_feed_connected.set(1 if connected else 0)

    def feed_degraded(self, degraded: bool) -> None:
        self._c_feed_degraded.set(1 if degraded else 0)

    def ring_reader(self, reader: str, lag: int, newly_lost: int) -> None:
        self._child(self._ring_lag, "lag", reader).set(lag)
        if newly_lost:
            self._child(self._ring_lost, "lost", reader).inc(newly_lost)

    # -- orders and risk ---------------------------------------------------------------------
    def risk_reject(self, reason: str) -> None:
        self._child(self._rejects, "reject", reason).inc()

    def trading_state(self, state: int) -> None:
        self._c_state.set(state)
        self._c_kill.set(1 if state == 2 else 0)

    def code_trading_state(self, code: str, state: int) -> None:
        self._child(self._code_state, "code_state", code).set(state)

    def code_owned(self, code: str, owned: bool) -> None:
        self._child(self._code_owned, "owned", code).set(1 if owned else 0)

    def tick_to_order(self, seconds: float) -> None:
        self._t2o_pending.append(seconds)

    def recorder_fallback(self, active: bool) -> None:
        self._c_recorder.set(1 if active else 0)

    def recorder_rows(self, sink: str, n: int) -> None:
        self._child(self._recorder_rows, "recorder_rows", sink).inc(n)

    def recorder_backlog(self, rows: int, lag_seconds: float) -> None:
        self._c_recorder_backlog.set(rows)
        self._c_recorder_lag.set(lag_seconds)

    def recorder_error(self, cause: str, n: int = 1) -> None:
        self._child(self._recorder_errors, "recorder_errors", cause).inc(n)

    def recorder_gap(self, messages: int) -> None:
        self._c_recorder_gap.inc(messages)

    def k8s_api_reachable(self, reachable: bool) -> None:
        if self._c_k8s is None:
            self._c_k8s = self._k8s_reachable.labels(self.shard)
        self._c_k8s.set(1 if reachable else 0)
        self.k8s_reachable = reachable
