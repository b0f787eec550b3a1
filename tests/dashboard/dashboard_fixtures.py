"""What the dashboard tests share: real admin listeners (``shijim.governance.admin``) serving a
``SnapshotChannel`` (``shijim.dashboard.channel``), fixed data and fixed clocks.

A ``FixedTradingThread`` stands where the runner's trading thread would be: whenever the channel
switches publishing on (the first ``GET /snapshot``), it publishes its one snapshot, as the
runner would on its next step. Everything between it and the screen is the production path.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shijim.dashboard.channel import SnapshotChannel
from shijim.dashboard.links import AdminAddress, AdminLink
from shijim.domain import OrderStatus, Side, TradingState
from shijim.governance.admin import AdminServer
from shijim.risk.state import TradingStateMachine
from shijim.strategy.snapshot import (
    AccountTotals,
    BookTop,
    Holding,
    RecentReject,
    RingStatus,
    StrategyState,
    SystemSnapshot,
    WorkingOrder,
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "k8s"))  # the emulator

TOKEN = "dashboard-test-token"
T0 = 1_767_574_800_000_000_000  # 2026-01-05 09:00:00 Asia/Taipei


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FixedTradingThread:
    """The runner's ``on_snapshot`` switch: publishes ``snap`` whenever publishing starts."""

    def __init__(self, snap: SystemSnapshot | None) -> None:
        self.snap = snap
        self._cb: Callable[[SystemSnapshot], None] | None = None

    @property
    def on_snapshot(self) -> Callable[[SystemSnapshot], None] | None:
        return self._cb

    @on_snapshot.setter
    def on_snapshot(self, cb: Callable[[SystemSnapshot], None] | None) -> None:
        self._cb = cb
        if cb is not None and self.snap is not None:
            cb(self.snap)


def fixed_snapshot(ts_ns: int = T0, last_event_ns: int = T0 - 200_000_000) -> SystemSnapshot:
    books = {
        "TXFL6": BookTop("TXFL6", 22998.0, 5, 22999.0, 3, 22998.625, 0.25, 22998.0, T0, 41.5, 12),
        "MXFL6": BookTop("MXFL6", 23000.0, 2, 23001.0, 7, 23000.2, -0.55, 23001.0, T0, -18.25, -4),
        "2330": BookTop("2330", 1005.0, 12, 1010.0, 30, 1006.4, -0.43, float("nan"), T0, 3.0, 1),
        "2317": BookTop("2317", 180.5, 40, 181.0, 25, 180.8, 0.23, 180.5, T0, 0.0, 0),
    }
    buy, sell = Side.BUY, Side.SELL
    working, part = OrderStatus.SUBMITTED, OrderStatus.PART_FILLED
    pending = OrderStatus.PENDING_SUBMIT
    orders = (
        WorkingOrder("P11", "TXFL6", buy, 1, 1, 22996.0, working, T0 - 5, "mm:TXFL6:b"),
        WorkingOrder("P12", "TXFL6", sell, 1, 1, 23001.0, working, T0 - 4, "mm:TXFL6:a"),
        WorkingOrder("P13", "MXFL6", buy, 2, 1, 22998.0, part, T0 - 3, "mm:MXFL6:b"),
        WorkingOrder("P14", "2317", sell, 1, 1, 181.5, pending, T0 - 2, "mm:2317:a"),
    )
    return SystemSnapshot(
        ts_ns=ts_ns,
        state=TradingState.ACTIVE,
        books=books,
        positions={"TXFL6": 1, "MXFL6": -2, "2317": 0},
        pnl=4370.0,
        working_orders=orders,
        counters={
            "ticks": 2859,
            "bidasks": 20564,
            "lost": 0,
            "decisions": 9853,
            "orders": 68,
            "amends": 46,
            "fills": 60,
            "rejects": 3,
            "strategy_errors": 0,
        },
        account=AccountTotals(realised=9800.0, unrealised=-650.0, fees=4780.0),
        holdings=(
            Holding("TXFL6", 1, 22990.0, 6400.0, 1600.0, 3100.0),
            Holding("MXFL6", -2, 23004.5, 2900.0, -2250.0, 1300.0),
            Holding("2317", 0, 0.0, 500.0, 0.0, 380.0),
        ),
        demands={},
        rejects={"position_limit": 2, "rate_limit": 1},
        recent_rejects=(
            RecentReject(T0 - 9_000_000_000, "position_limit", "MXFL6", "|net+working+qty| 5 > 4"),
            RecentReject(T0 - 4_000_000_000, "rate_limit", "P9", "cancel deferred"),
            RecentReject(T0 - 1_000_000_000, "position_limit", "MXFL6", "|net+working+qty| 5 > 4"),
        ),
        strategy=StrategyState(
            "market_making", "on_touch_change", {"skew_per_lot": 0.5, "quoting": "TXFL6,MXFL6"}
        ),
        ring=RingStatus(lag=3, lost=0, resyncs=0),
        last_event_ns=last_event_ns,
    )


@dataclass
class Runtime:
    """One admin listener with its channel: what a running shard exposes to the dashboard."""

    server: AdminServer
    channel: SnapshotChannel
    state: TradingStateMachine
    thread: FixedTradingThread

    @property
    def url(self) -> str:
        host, port = self.server.address
        return f"http://{host}:{port}"

    def link(self, timeout: float = 1.0) -> AdminLink:
        host, port = self.server.address
        return AdminLink(AdminAddress(host, port), TOKEN, timeout)


def start_runtime(
    snap: SystemSnapshot | None,
    *,
    shard_id: int = 0,
    total: int = 1,
    wall_ns: Callable[[], int] = lambda: T0,
    port: int = 0,
    live: dict[str, Any] | None = None,
) -> Runtime:
    thread = FixedTradingThread(snap)
    identity = {"id": shard_id, "total": total, "tradingshard": "", "pod": "", "ring": "r",
                "feed": "sim", "strategy": "market_making", "codes": 4}  # fmt: skip
    state_live = live or {"feed_connected": True, "feed_degraded": False,
                          "feed_finished": False, "loop_age_s": 0.001}  # fmt: skip
    channel = SnapshotChannel(thread, identity, lambda: state_live, wall_ns=wall_ns)
    state = TradingStateMachine()
    server = AdminServer(state, TOKEN, port=port, snapshot=channel)
    server.start()
    return Runtime(server, channel, state, thread)
