"""The dashboard app driven by Textual's Pilot against real admin listeners (and, for a
TradingShard, the API emulator with the runtime's own in-process watchers as the pods)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from dashboard_fixtures import T0, TOKEN, Clock, fixed_snapshot, start_runtime
from shijim.dashboard.app import ConfirmScreen, DashboardApp, build_app
from shijim.dashboard.links import TradingShardLink
from shijim.dashboard.model import Link, link_status
from shijim.dashboard.panels import RowsView, TablePanel, TextPanel
from shijim.domain import KillSwitchSource, TradingState

SIZE = (160, 48)
ROOT = pathlib.Path(__file__).resolve().parents[2]


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        await pilot.pause(0.02)
    raise AssertionError(f"not true within {timeout} s: {predicate}")


def cells(app: DashboardApp, panel: str) -> list[list[str]]:
    return [[text for text, _ in row] for row in app.query_one(panel, TablePanel).view.rows]


def shown(app: DashboardApp, panel: str) -> str:
    return str(app.query_one(panel, TextPanel).render())


@pytest.mark.asyncio
async def test_k_works_whatever_has_focus_and_asks_first(runtimes) -> None:
    rt = start_runtime(fixed_snapshot())
    runtimes.append(rt)
    app = DashboardApp([rt.link()])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.readings[0].snapshot)
        focusable = list(app.query(RowsView))
        assert len(focusable) == 4  # shards, books, orders, PnL
        for n, widget in enumerate([None, *focusable]):
            if widget is None:
                app.set_focus(None)
            else:
                widget.focus()
            await pilot.pause()
            for key in ("K", "k", "R", "r") if n == 1 else ("K",):
                await pilot.press(key)
                assert isinstance(app.screen, ConfirmScreen), (widget, key)
                await pilot.press(key)  # the open question stands: no second dialog
                assert len(app.screen_stack) == 2
                await pilot.press("n")
                assert not isinstance(app.screen, ConfirmScreen)
        assert rt.state.demands() == {} and app.commands == []  # nothing was ever sent
        await pilot.press("K")
        await pilot.press("y")
        await until(pilot, lambda: rt.state.demands())
        assert rt.state.demands()[KillSwitchSource.DASHBOARD][0] is TradingState.HALTED


@pytest.mark.asyncio
async def test_a_lost_runtime_shows_disconnected_and_reconnects_by_itself(runtimes) -> None:
    rt = start_runtime(fixed_snapshot())
    port = rt.server.address[1]
    app = DashboardApp([rt.link(timeout=0.3)])
    async with app.run_test(size=SIZE) as pilot:
        r = app.readings[0]
        await until(pilot, lambda: r.snapshot)
        rt.server.stop()
        await until(pilot, lambda: not r.up)
        await pilot.pause(0.3)
        row = cells(app, "#shards")[0]
        assert row[1].startswith("disconnected ") and row[1].endswith(" s")
        assert row[2] == "ACTIVE"  # the last known values stay on screen, greyed
        styles = {style for _, style in app.query_one("#books", TablePanel).view.rows[0]}
        assert styles == {"grey50"}
        again = start_runtime(dataclasses.replace(fixed_snapshot(), ts_ns=T0 + 1), port=port)
        runtimes.append(again)
        await until(pilot, lambda: r.up, timeout=5)
        assert link_status(r, app.clock()).link is not Link.DOWN
        await until(pilot, lambda: cells(app, "#shards")[0][1] == "live")


@pytest.mark.asyncio
async def test_workers_do_not_outlive_the_app(runtimes) -> None:
    rt = start_runtime(fixed_snapshot())
    runtimes.append(rt)
    app = DashboardApp([rt.link(), rt.link()])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(r.snapshot for r in app.readings))
        workers = list(app.workers)
        assert len(workers) == 2 and all(w.is_running for w in workers)
        await pilot.press("q")
    assert all(w.is_finished for w in workers)
    polls = [t for t in asyncio.all_tasks() if "_poll_admin" in repr(t.get_coro())]
    assert polls == []


@pytest.mark.asyncio
async def test_several_shards_and_the_kill_switch_on_all_of_them(runtimes) -> None:
    a = start_runtime(fixed_snapshot(), shard_id=0, total=2)
    b = start_runtime(fixed_snapshot(), shard_id=1, total=2)
    runtimes.extend([a, b])
    clock = Clock()
    app = DashboardApp([a.link(), b.link()], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(r.snapshot for r in app.readings))
        await pilot.pause(0.2)
        assert [row[0] for row in cells(app, "#shards")] == ["local s0/2", "local s1/2"]
        assert {row[0] for row in cells(app, "#books")} == {"s0/2", "s1/2"}
        assert len(cells(app, "#orders")) == 8
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.detail == "  local s0/2: live\n  local s1/2: live"
        await pilot.press("y")
        await until(pilot, lambda: all(len(c.reply) for c in app.commands))
        for rt in (a, b):
            assert set(rt.state.demands()) == {KillSwitchSource.DASHBOARD}
        # The fixed trading threads keep publishing the ACTIVE snapshot: no acknowledgement.
        await pilot.pause(0.3)
        assert all(c.acknowledged_at is None for c in app.commands)
        text = shown(app, "#commands")
        assert "K engage -> local s0/2: waiting: runtime ACTIVE" in text
        assert "K engage -> local s1/2: waiting: runtime ACTIVE" in text


@pytest.mark.asyncio
async def test_attached_to_a_tradingshard_k_patches_its_switch(tmp_path, runtimes) -> None:
    from emulator import EXAMPLE, EmulatorThread
    from shijim.governance.k8s import TradingShardWatcher
    from shijim.governance.k8s_api import kubeconfig_endpoint
    from shijim.risk.state import TradingStateMachine

    k8s = EmulatorThread(tmp_path).start()
    pods: list[TradingShardWatcher] = []
    try:
        k8s.kubectl("apply", "-f", str(EXAMPLE))  # sim-demo, 2 shards
        endpoint = kubeconfig_endpoint(str(k8s.kubeconfig))
        for i in (0, 1):
            pod = TradingShardWatcher(
                TradingStateMachine(), "sim-demo", "default", i, f"sim-demo-{i}", endpoint=endpoint
            )
            pod.start()
            pods.append(pod)
        # As a user starts it: `--tradingshard NAME`, credentials from $KUBECONFIG.
        app = build_app(["--tradingshard", "sim-demo"], env=k8s.env())
        assert isinstance(app.tradingshard, TradingShardLink) and app.admins == []
        app.k8s_poll_s = 0.1
        async with app.run_test(size=SIZE) as pilot:

            def both_active() -> bool:
                rows = cells(app, "#tradingshard")
                return len(rows) == 2 and all(r[2] == "ACTIVE" for r in rows)

            await until(pilot, both_active)
            assert app.query_one("#tradingshard").border_title.startswith(
                "tradingshard default/sim-demo: phase"
            )
            await pilot.press("K", "y")
            await until(pilot, lambda: app.commands and app.commands[0].acknowledged_at, 10)
            assert k8s.get("tradingshards", "sim-demo")["spec"]["killSwitch"] is True
            assert all(p.state_machine.state is TradingState.HALTED for p in pods)
            assert "acknowledged: all 2 shard(s) HALTED and acknowledged" in shown(app, "#commands")
            await pilot.press("R")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("enter")  # R focuses Cancel: Enter alone does not resume
            assert k8s.get("tradingshards", "sim-demo")["spec"]["killSwitch"] is True
            await pilot.press("R", "y")
            await until(
                pilot, lambda: len(app.commands) == 2 and app.commands[1].acknowledged_at, 10
            )
            assert k8s.get("tradingshards", "sim-demo")["spec"]["killSwitch"] is False
            assert all(p.state_machine.state is TradingState.ACTIVE for p in pods)
    finally:
        for p in pods:
            p.stop()
        k8s.stop()


def test_command_line_errors_name_the_flag(admin_token: str, monkeypatch) -> None:
    with pytest.raises(ValueError, match="nothing to watch"):
        build_app([])
    with pytest.raises(ValueError, match=r"--admin\[1\]: expected http://HOST:PORT"):
        build_app(["--admin", "http://127.0.0.1:8081", "--admin", "127.0.0.1:8082"])
    with pytest.raises(ValueError, match="the same address twice"):
        build_app(["--admin", "http://127.0.0.1:8081", "--admin", "http://127.0.0.1:8081/"])
    monkeypatch.delenv("SHIJIM_ADMIN_TOKEN")
    with pytest.raises(ValueError, match="SHIJIM_ADMIN_TOKEN is not set"):
        build_app(["--admin", "http://127.0.0.1:8081"])
    app = build_app(["--admin", "http://127.0.0.1:8081"], env={"SHIJIM_ADMIN_TOKEN": TOKEN})
    assert TOKEN not in repr(app.admins) and app.poll_s == 0.1


def test_the_module_runs_and_says_what_is_wrong() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "runtime"), "SHIJIM_ADMIN_TOKEN": TOKEN}
    run = [sys.executable, "-m", "shijim.dashboard.app"]
    usage = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "--tradingshard NAME" in usage.stdout
    bad = subprocess.run([*run, "--admin", "localhost:1"], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "--admin[0]: expected http://HOST:PORT, got 'localhost:1'" in bad.stderr
    assert TOKEN not in bad.stderr + bad.stdout


@pytest.mark.asyncio
async def test_two_runtimes_that_name_themselves_alike_are_told_apart(runtimes) -> None:
    a, b = start_runtime(fixed_snapshot()), start_runtime(fixed_snapshot())  # both s0/1
    runtimes.extend([a, b])
    app = DashboardApp([a.link(), b.link()])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(r.snapshot for r in app.readings))
        await pilot.pause(0.2)
        ports = [rt.server.address[1] for rt in (a, b)]
        assert [row[0] for row in cells(app, "#shards")] == [
            f"local s0/1 @127.0.0.1:{p}" for p in ports
        ]
        assert {row[0] for row in cells(app, "#orders")} == {f":{p}" for p in ports}
        await pilot.press("K", "y")
        await until(pilot, lambda: all(c.reply for c in app.commands))
        assert [c.index for c in app.commands] == [0, 1]
        assert all(KillSwitchSource.DASHBOARD in rt.state.demands() for rt in (a, b))
