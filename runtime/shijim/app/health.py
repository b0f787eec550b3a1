"""Liveness and readiness of one shard: ``/livez`` and ``/readyz`` on the metrics listener (the
kubelet probes the pod IP on the port named ``metrics``, without a token; docs/runtime.md).

- ``/livez`` is 200 while the trading loop's heartbeat is younger than
  ``health.liveness_seconds`` (and before the loop first turns: startup is not a hang), 503 once
  it stops: a stuck trading thread gets its pod restarted.
- ``/readyz`` is 200 when the shard trades on fresh market data, or is deliberately HALTED by a
  kill switch; 503 before the loop runs, while the TradingShard cannot be read or watched, when
  halted by something other than a kill switch (shutdown, API grace, the feed), and when no
  market data came for ``health.stale_data_seconds`` while the shard's markets are open.

The answers are one line and never carry positions, PnL, orders, demand reasons or keys.
The decisions are pure functions; ``ShardHealth`` only gathers their inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shijim.app.config import HealthConfig
from shijim.domain import InstrumentKind, KillSwitchSource, TradingState, instrument_for
from shijim.gateway.sessions import Market, open_intervals
from shijim.metrics import Probe, ShardMetrics
from shijim.risk.state import TradingStateMachine

DAY_NS = 86_400 * 10**9

# Kill switches someone (or the loss limit) pulled on purpose: a shard halted by one of them is
# doing its job. API grace, the feed and shutdown halt a shard that cannot do it.
DELIBERATE = frozenset(
    {
        KillSwitchSource.CRD,
        KillSwitchSource.ADMIN,
        KillSwitchSource.DASHBOARD,
        KillSwitchSource.FILE,
        KillSwitchSource.SIGNAL,
        KillSwitchSource.LOSS_LIMIT,
    }
)


class Heartbeat:
    """The trading loop's pulse: one int store per loop turn (no lock, no metric call)."""

    __slots__ = ("at_ns",)

    def __init__(self) -> None:
        self.at_ns = 0  # time.monotonic_ns() of the last loop turn; 0 = the loop never ran


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def liveness(beat_ns: int, now_ns: int, bound_s: float) -> Verdict:
    if beat_ns == 0:
        return Verdict(True, "starting: trading loop not running yet")
    age = (now_ns - beat_ns) / 1e9
    if age > bound_s:
        return Verdict(
            False, f"trading loop stuck: heartbeat {age:.1f} s old (bound {bound_s:g} s)"
        )
    return Verdict(True, f"trading loop heartbeat {age:.3f} s old")


@dataclass(frozen=True)
class ReadinessInputs:
    started: bool  # the trading loop has turned at least once
    watching: bool  # a TradingShard watcher governs this pod
    watch_reachable: bool | None  # the watcher's last word (None: nothing read yet)
    state: TradingState
    halted_by: frozenset[KillSwitchSource]  # sources demanding HALTED
    data_age_s: float | None  # None: no market data expected now (markets closed)


def readiness(i: ReadinessInputs, stale_bound_s: float) -> Verdict:
    if not i.started:
        return Verdict(False, "starting: trading loop not running yet")
    if i.watching and i.watch_reachable is None:
        return Verdict(False, "TradingShard not read yet")
    if i.watching and not i.watch_reachable:
        return Verdict(False, "TradingShard watch lost: the Kubernetes API server does not answer")
    if i.state is TradingState.HALTED:
        deliberate = sorted(s.value for s in i.halted_by & DELIBERATE)
        if deliberate:
            return Verdict(True, f"halted deliberately by {', '.join(deliberate)}")
        others = ", ".join(sorted(s.value for s in i.halted_by)) or "?"
        return Verdict(False, f"halted by {others}, not by a kill switch")
    state = i.state.name
    if i.data_age_s is None:
        return Verdict(True, f"{state}; markets closed")
    if i.data_age_s > stale_bound_s:
        return Verdict(
            False,
            f"{state} on stale market data: none for {i.data_age_s:.0f} s"
            f" (bound {stale_bound_s:g} s)",
        )
    return Verdict(True, f"{state}; market data {i.data_age_s:.1f} s old")


def market_of(code: str) -> Market:
    return Market.TWSE if instrument_for(code).kind is InstrumentKind.STOCK else Market.TAIFEX


def session_start(markets: Iterable[Market], now_ns: int) -> int | None:
    """Start of the earliest session open now among ``markets``; None when all are closed."""
    starts = []
    for m in markets:
        open_ = open_intervals(m, now_ns - DAY_NS, now_ns + 1)  # sessions are < 1 day long
        if open_ and open_[-1][1] > now_ns:
            starts.append(open_[-1][0])
    return min(starts, default=None)


def data_age_s(
    now_ns: int, last_event_ns: int, since_ns: int, open_since_ns: int | None
) -> float | None:
    """Seconds without market data that count: from the newest event, the session's open or
    the start of trading, whichever is latest; None while no session is open."""
    if open_since_ns is None:
        return None
    return (now_ns - max(last_event_ns, since_ns, open_since_ns)) / 1e9


class ShardHealth:
    """Gathers the inputs of the two probes from the running shard."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        state: TradingStateMachine,
        metrics: ShardMetrics,
        bounds: HealthConfig,
        markets: frozenset[Market] | None,
        watching: bool,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """``markets`` None: simulated or replayed data, expected at any wall time."""
        self.heartbeat = heartbeat
        self.state = state
        self.metrics = metrics
        self.bounds = bounds
        self.markets = markets
        self.watching = watching
        self.wall_ns = wall_ns
        self.monotonic_ns = monotonic_ns
        self.since_ns = wall_ns()

    def livez(self) -> tuple[bool, str]:
        v = liveness(self.heartbeat.at_ns, self.monotonic_ns(), self.bounds.liveness_seconds)
        return v.ok, v.reason

    def readyz(self) -> tuple[bool, str]:
        now = self.wall_ns()
        open_since = self.since_ns if self.markets is None else session_start(self.markets, now)
        halted_by = frozenset(
            s for s, (st, _) in self.state.demands().items() if st is TradingState.HALTED
        )
        v = readiness(
            ReadinessInputs(
                started=self.heartbeat.at_ns != 0,
                watching=self.watching,
                watch_reachable=self.metrics.k8s_reachable,
                state=self.state.state,
                halted_by=halted_by,
                data_age_s=data_age_s(now, self.metrics.last_event_ns, self.since_ns, open_since),
            ),
            self.bounds.stale_data_seconds,
        )
        return v.ok, v.reason

    def probes(self) -> dict[str, Probe]:
        return {"/livez": self.livez, "/readyz": self.readyz}
