"""What the dashboard knows of each runtime and what it shows, as data and pure functions (no
Textual here: tests and the benchmark use them directly).

Ages never compare two hosts' clocks: a snapshot's age is the runtime's own (served - built),
plus the time since the dashboard received it on the dashboard's monotonic clock.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shijim.dashboard.links import TradingShardView
from shijim.dashboard.wire import Publication
from shijim.strategy.snapshot import SystemSnapshot

STALE_S = 1.0  # no snapshot younger than this (10 publications missed): values grey out
FEED_QUIET_S = 5.0  # no market event for this long: the feed column greys out
HISTORY = 24  # readings kept per code for the sparklines (2.4 s at 10 Hz)
FLOW_READINGS = 10  # OFI / MLOFI shown as their change over the last ~1 s of readings
SPARK = "▁▂▃▄▅▆▇█"


class Link(enum.Enum):
    LIVE = "live"
    STALE = "stale"  # connected, but the snapshot is old: the trading thread is not publishing
    WAITING = "waiting"  # connected, no snapshot yet
    DOWN = "disconnected"


@dataclass
class Reading:
    """The latest word from one runtime, and the history the sparklines need."""

    label: str  # address until the runtime names itself
    address: str
    publication: Publication | None = None
    received_at: float | None = None  # dashboard monotonic seconds
    up: bool = False
    changed_at: float = 0.0  # when up/down last changed (or the first attempt)
    error: str = "not contacted yet"
    snapshots: int = 0  # distinct snapshots received
    failures: int = 0
    history: dict[str, deque[tuple[float, float, float]]] = field(default_factory=dict)

    @property
    def snapshot(self) -> SystemSnapshot | None:
        return None if self.publication is None else self.publication.snapshot

    def received(self, pub: Publication, now: float) -> bool:
        """Store one answer; True if it carries a snapshot not seen before."""
        if not self.up:
            self.up, self.changed_at = True, now
        self.error = ""
        old = self.snapshot
        self.publication, self.received_at = pub, now
        shard = pub.shard
        self.label = shard_label(shard, self.address)
        snap = pub.snapshot
        if snap is None or (old is not None and old.ts_ns == snap.ts_ns):
            return False
        self.snapshots += 1
        for code, b in snap.books.items():
            h = self.history.get(code)
            if h is None:
                h = self.history[code] = deque(maxlen=HISTORY)
            h.append((b.microprice, b.ofi_best, b.ofi))
        return True

    def failed(self, error: str, now: float) -> None:
        if self.up or self.failures == 0:
            self.changed_at = now
        self.up = False
        self.failures += 1
        self.error = error


def shard_label(shard: Mapping[str, object], address: str) -> str:
    """``NAME s<id>/<total>`` (NAME: the TradingShard, else ``local``)."""
    name = shard.get("tradingshard") or "local"
    sid, total = shard.get("id"), shard.get("total")
    if sid is None:
        return address
    return f"{name} s{sid}/{total}"


def snapshot_age(r: Reading, now: float) -> float | None:
    pub = r.publication
    if pub is None or r.received_at is None:
        return None
    age = pub.snapshot_age_s
    return None if age is None else age + max(0.0, now - r.received_at)


def event_age(r: Reading, now: float) -> float | None:
    pub = r.publication
    if pub is None or r.received_at is None:
        return None
    age = pub.event_age_s
    return None if age is None else age + max(0.0, now - r.received_at)


@dataclass(frozen=True)
class Status:
    link: Link
    text: str


def link_status(r: Reading, now: float) -> Status:
    if not r.up:
        if r.publication is None and r.failures == 0:
            return Status(Link.DOWN, "connecting")
        return Status(Link.DOWN, f"disconnected {fmt_age(now - r.changed_at)}")
    age = snapshot_age(r, now)
    if age is None:
        waited = now - r.changed_at
        if waited > STALE_S:
            return Status(Link.STALE, f"no snapshot for {fmt_age(waited)}")
        return Status(Link.WAITING, "waiting for a snapshot")
    if age > STALE_S:
        return Status(Link.STALE, f"stale {fmt_age(age)}")
    return Status(Link.LIVE, "live")


def fmt_age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def fmt_price(x: float) -> str:
    if x != x:
        return "-"
    return f"{x:,.2f}" if x != int(x) else f"{x:,.0f}"


def fmt_num(x: float, digits: int = 0) -> str:
    if x != x:
        return "-"
    return f"{x:+,.{digits}f}"


def fmt_twd(x: float) -> str:
    return "-" if x != x else f"{x:,.0f}"


def spark(values: Iterable[float], width: int = 12) -> str:
    """A text sparkline of the last ``width`` finite values (flat: the middle bar)."""
    vals = [v for v in values if v == v and not math.isinf(v)][-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi - lo <= 0:
        return SPARK[3] * len(vals)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - lo) / (hi - lo) * top)] for v in vals)


def flows(history: deque[tuple[float, float, float]] | None) -> tuple[float, float]:
    """(OFI, MLOFI) over the last ~1 s of readings: the change of the running totals."""
    if not history or len(history) < 2:
        return math.nan, math.nan
    first = history[max(0, len(history) - 1 - FLOW_READINGS)]
    last = history[-1]
    return last[1] - first[1], last[2] - first[2]


# -- kill switch commands and their acknowledgement ---------------------------------------------
class Action(enum.Enum):
    ENGAGE = "engage"
    RESUME = "resume"


@dataclass
class Command:
    """One K or R sent to one target (a runtime's admin listener or a TradingShard)."""

    action: Action
    target: str  # label
    sent_at: float  # dashboard monotonic
    sent_wall_ns: int  # dashboard wall clock
    reply: str = ""  # what the target answered at once ("" while in flight)
    failed: bool = False
    generation: int | None = None  # TradingShard: the generation the patch produced
    acknowledged_at: float | None = None
    outcome: str = ""  # the acknowledgement, or what is still awaited
    index: int = -1  # the runtime's position among the --admin targets; -1: the TradingShard


def admin_ack(cmd: Command, snap: SystemSnapshot | None) -> tuple[bool, str]:
    """Whether a runtime's snapshot shows the command carried out, and the words for it."""
    if snap is None:
        return False, "waiting for a snapshot"
    demanded = "dashboard" in snap.demands
    working = len(snap.working_orders)
    if cmd.action is Action.ENGAGE:
        if not demanded or snap.state.name != "HALTED":
            return False, f"waiting: runtime {snap.state.name}"
        if working:
            return False, f"HALTED, cancelling {working} working order(s)"
        return True, "HALTED, 0 working orders"
    if demanded:
        return False, "waiting: dashboard demand still held"
    others = ", ".join(f"{k} {d.state}" for k, d in sorted(snap.demands.items()))
    if snap.state.name == "ACTIVE":
        return True, "ACTIVE"
    return True, f"{snap.state.name}: still held by {others}"


def tradingshard_ack(cmd: Command, view: TradingShardView | None) -> tuple[bool, str]:
    """Every shard 0..spec.shards-1 acted on the patched generation and reports the switch as
    acknowledged (engage) or released (resume): docs/kubernetes.md#kill-switch-check."""
    if view is None or cmd.generation is None:
        return False, "waiting for the TradingShard"
    waiting = []
    for i in range(view.shards):
        e = view.entry(i)
        if e is None or e.observed_generation is None or e.observed_generation < cmd.generation:
            waiting.append(i)
        elif e.acknowledged != (cmd.action is Action.ENGAGE):
            waiting.append(i)
    if waiting:
        return False, f"waiting for shard(s) {', '.join(map(str, waiting))}"
    states = sorted({e.trading_state for e in view.entries if e.shard_id < view.shards})
    if cmd.action is Action.ENGAGE:
        return True, f"all {view.shards} shard(s) HALTED and acknowledged"
    return True, f"all {view.shards} shard(s) released ({'/'.join(states)})"


def command_line(cmd: Command, now: float) -> str:
    key = "K" if cmd.action is Action.ENGAGE else "R"
    head = f"{key} {cmd.action.value} -> {cmd.target}: "
    if cmd.failed:
        return head + f"FAILED: {cmd.reply}"
    if cmd.acknowledged_at is not None:
        took = (cmd.acknowledged_at - cmd.sent_at) * 1e3
        return head + f"acknowledged: {cmd.outcome} ({took:.0f} ms)"
    if not cmd.reply:
        return head + f"sent {fmt_age(now - cmd.sent_at)} ago, no reply yet"
    return head + f"{cmd.outcome or cmd.reply} ({fmt_age(now - cmd.sent_at)})"
