"""The runtime's side of the dashboard: the trading thread publishes a ``SystemSnapshot`` by
reference, the admin listener serves it as JSON (``GET /snapshot``, and every ``interval_s`` on
one connection: ``GET /snapshot/stream``), encoding on its own thread.

- ``publish`` (the runner's ``on_snapshot``, on the trading thread) is one attribute store.
- Snapshots are built only while someone reads: the first ``GET /snapshot`` sets the runner's
  ``on_snapshot``, and ``publish`` clears it once nobody has read for ``idle_s``. A shard that
  nobody watches pays nothing; a watched one pays one snapshot per ``snapshot_interval_s``.
- Each snapshot is encoded once, whatever the number of viewers (the cached bytes are reused).
- ``live`` (the feed's state, the trading loop's heartbeat age) is read when answering, so a
  stuck trading thread shows as an ageing snapshot beside a growing heartbeat age.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shijim.dashboard.wire import VERSION, encode_snapshot
from shijim.strategy.snapshot import SystemSnapshot
from shijim_core import json_dumps

SNAPSHOT_INTERVAL_S = 0.1  # the runner builds at most 10 snapshots a second
IDLE_S = 5.0  # no reader for this long: the runner stops building snapshots


class SnapshotChannel:
    def __init__(
        self,
        runner: Any,  # StrategyRunner: its on_snapshot is switched on and off here
        shard: Mapping[str, Any],
        live: Callable[[], Mapping[str, Any]] = dict,
        *,
        idle_s: float = IDLE_S,
        interval_s: float = SNAPSHOT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._runner = runner
        self._shard = dict(shard)
        self._live = live
        self.idle_s = idle_s
        self.interval_s = interval_s  # a stream's documents (the runner builds at this rate)
        self._clock = clock
        self._wall_ns = wall_ns
        self._latest: SystemSnapshot | None = None
        self._read_at = -float("inf")
        self._lock = threading.Lock()  # viewers' threads: one encoding per snapshot
        self._encoded_for: SystemSnapshot | None = None
        self._encoded = b"null"
        self.encodings = 0  # how many snapshots were encoded (tests, the benchmark)

    # -- the trading thread ------------------------------------------------------------------
    def publish(self, snap: SystemSnapshot) -> None:
        self._latest = snap
        if self._clock() - self._read_at > self.idle_s:
            self._runner.on_snapshot = None  # nobody watches: stop building

    # -- the admin listener's threads --------------------------------------------------------
    def payload(self) -> bytes:
        """The JSON document of ``GET /snapshot`` (shijim.dashboard.wire)."""
        self._read_at = self._clock()
        if self._runner.on_snapshot is None:
            self._latest = None  # an old snapshot from the last watch would look current
            self._runner.on_snapshot = self.publish
        snap = self._latest
        body = b"null"
        if snap is not None:
            with self._lock:
                if snap is not self._encoded_for:
                    self._encoded = encode_snapshot(snap)
                    self._encoded_for = snap
                    self.encodings += 1
                body = self._encoded
        head = json_dumps(
            {
                "version": VERSION,
                "served_ns": self._wall_ns(),
                "shard": self._shard,
                "live": dict(self._live()),
            }
        )
        return head[:-1] + b',"snapshot":' + body + b"}"


def shard_channel(shard: Any) -> SnapshotChannel:
    """The channel of a composed shard (``shijim.app.runtime.Shard``): its identity, and the
    feed's state and the loop's heartbeat read live."""
    cfg = shard.cfg
    feed = shard.feed_setup.feed
    beat = shard.heartbeat
    identity = {
        "id": shard.spec.shard_id,
        "total": shard.spec.total_shards,
        "tradingshard": cfg.shard.tradingshard or "",
        "pod": cfg.shard.pod_name or "",
        "ring": shard.feed_setup.ring_name,
        "feed": shard.feed_setup.kind,
        "strategy": cfg.strategy.name,
        "codes": len(shard.codes),
    }

    def live() -> dict[str, Any]:
        at = beat.at_ns
        return {
            # Feeds without a connection of their own (sim, replay) are "connected" while open.
            "feed_connected": bool(getattr(feed, "connected", not feed.finished)),
            "feed_degraded": bool(getattr(feed, "degraded", False)),
            "feed_finished": bool(feed.finished),
            "loop_age_s": None if not at else (time.monotonic_ns() - at) / 1e9,
        }

    return SnapshotChannel(shard.runner, identity, live)
