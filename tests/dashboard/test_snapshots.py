"""SVG snapshots of the main screen (pytest-textual-snapshot): two shards, normal; one of them
stale (its trading thread stopped publishing); one of them disconnected. Deterministic: fixed
data, the runtimes' wall clocks and the dashboard's clocks fixed.

Refresh after a deliberate change of the screen, then look at the SVGs:

    .venv/bin/pytest tests/dashboard/test_snapshots.py --snapshot-update
    cp tests/dashboard/__snapshots__/test_snapshots/test_normal.svg docs/dashboard.svg
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable
from typing import Any

from dashboard_fixtures import T0, Clock, Runtime, fixed_snapshot, start_runtime
from shijim.dashboard.app import DashboardApp
from shijim.strategy.snapshot import AccountTotals, SystemSnapshot

SIZE = (160, 48)
ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent


def part(snap: SystemSnapshot, codes: set[str]) -> SystemSnapshot:
    """The shard of ``snap`` that owns ``codes``."""
    holdings = tuple(h for h in snap.holdings if h.code in codes)
    realised = sum(h.realised for h in holdings)
    unrealised = sum(h.unrealised for h in holdings)
    fees = sum(h.fees for h in holdings)
    counters = {k: v * len(codes) // len(snap.books) for k, v in snap.counters.items()}
    return dataclasses.replace(
        snap,
        books={c: b for c, b in snap.books.items() if c in codes},
        positions={c: n for c, n in snap.positions.items() if c in codes},
        working_orders=tuple(o for o in snap.working_orders if o.code in codes),
        holdings=holdings,
        account=AccountTotals(realised, unrealised, fees),
        pnl=realised + unrealised - fees,
        counters=counters,
        rejects={} if "MXFL6" not in codes else snap.rejects,
        recent_rejects=() if "MXFL6" not in codes else snap.recent_rejects,
    )


HISTORY = 12  # snapshots each shard publishes before the screenshot (the sparklines)
SWING = (0.0, 0.5, 1.0, 0.75, 0.25, 0.5, 1.25, 1.5, 1.0, 0.75, 1.0, 0.625)


def history(snap: SystemSnapshot) -> list[SystemSnapshot]:
    """``HISTORY`` snapshots 100 ms apart ending with ``snap``: microprices and order-flow totals
    that move (fixed numbers, so the screenshot is fixed)."""
    out = []
    for i in range(HISTORY):
        back = HISTORY - 1 - i
        books = {
            code: b._replace(
                microprice=b.microprice + (SWING[i] - SWING[-1]) * (b.ask - b.bid),
                ofi=b.ofi - 3.5 * back * (1 if n % 2 else -1),
                ofi_best=b.ofi_best - 2 * back * (1 if n % 2 else -1),
            )
            for n, (code, b) in enumerate(snap.books.items())
        }
        out.append(dataclasses.replace(snap, ts_ns=snap.ts_ns - back * 100_000_000, books=books))
    return out


async def publish_history(pilot: Any, app: DashboardApp, runtimes: list[Runtime]) -> None:
    """Each shard's trading thread publishes its history one snapshot at a time, each once the
    dashboard has it (so none is skipped, whatever the timing)."""
    for i in range(HISTORY):
        for rt in runtimes:
            rt.channel.publish(history(rt.thread.snap)[i])
        await settle(pilot, app, lambda i=i: all(r.snapshots >= i + 2 for r in app.readings), False)
    await settle(pilot, app, lambda: True)


def two_shards(runtimes: list[Runtime], wall1: Callable[[], int] = lambda: T0) -> DashboardApp:
    snap = fixed_snapshot()
    a = start_runtime(part(snap, {"TXFL6", "MXFL6"}), shard_id=0, total=2)
    b = start_runtime(part(snap, {"2330", "2317"}), shard_id=1, total=2, wall_ns=wall1)
    runtimes.extend([a, b])
    return DashboardApp([a.link(0.3), b.link(0.3)], clock=Clock(), wall_ns=lambda: T0)


async def settle(
    pilot: Any, app: DashboardApp, done: Callable[[], Any], after: bool = True
) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "the dashboard never got there"
        await pilot.pause(0.02)
    if after:  # two panel refreshes at least (10 Hz), whatever the machine's load
        ticks = app.ticks
        while app.ticks < ticks + 2:
            await pilot.pause(0.05)


def test_normal(snap_compare, runtimes) -> None:
    app = two_shards(runtimes)

    async def run_before(pilot: Any) -> None:
        await settle(pilot, app, lambda: all(r.snapshot for r in app.readings))
        await publish_history(pilot, app, runtimes)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_stale(snap_compare, runtimes) -> None:
    app = two_shards(runtimes, wall1=lambda: T0 + 3_400_000_000)  # shard 1: 3.4 s old

    async def run_before(pilot: Any) -> None:
        await settle(pilot, app, lambda: all(r.snapshot for r in app.readings))
        await publish_history(pilot, app, runtimes)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_disconnected(snap_compare, runtimes) -> None:
    app = two_shards(runtimes)
    clock = app.clock
    assert isinstance(clock, Clock)

    async def run_before(pilot: Any) -> None:
        await settle(pilot, app, lambda: all(r.snapshot for r in app.readings))
        await publish_history(pilot, app, runtimes)
        runtimes[1].server.stop()
        await settle(pilot, app, lambda: not app.readings[1].up)
        clock.t += 12.5  # 12.5 s later, on the dashboard's clock; shard 0 answered since
        await settle(pilot, app, lambda: app.readings[0].received_at == clock.t)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_readme_screenshot_is_the_normal_snapshot() -> None:
    stored = HERE / "__snapshots__" / "test_snapshots" / "test_normal.svg"
    assert (ROOT / "docs" / "dashboard.svg").read_text() == stored.read_text()
