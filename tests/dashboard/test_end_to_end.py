"""End to end: the dashboard attached to a real `python -m shijim run --feed sim` process. K and
confirm -> the runtime goes HALTED with its working orders cancelled and the dashboard shows the
acknowledgement; R and confirm -> it trades again; the process gone -> "disconnected"."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from dashboard_fixtures import TOKEN
from processes import free_port, stop_process
from shijim.dashboard.app import ConfirmScreen, DashboardApp
from shijim.dashboard.links import AdminAddress, AdminLink
from shijim.dashboard.panels import TablePanel, TextPanel

pytestmark = pytest.mark.slow  # a real runtime process

ROOT = pathlib.Path(__file__).resolve().parents[2]


def admin_state(port: int) -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/state")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


async def until(pilot: Any, predicate: Any, timeout: float, proc: subprocess.Popen | None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        assert proc is None or proc.poll() is None, "the runtime exited"
        await pilot.pause(0.05)
    raise AssertionError(f"{predicate.__name__}: not within {timeout} s")


@pytest.mark.asyncio
async def test_k_halts_a_real_runtime_and_r_resumes_it(tmp_path: pathlib.Path) -> None:
    port = free_port()
    env = {**os.environ, "SHIJIM_ADMIN_TOKEN": TOKEN, "SHIOAJI_API_KEY": "",
           "PYTHONPATH": str(ROOT / "runtime")}  # fmt: skip
    log = (tmp_path / "runtime.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shijim", "run", "--feed", "sim", "--duration", "90", "--seed",
         "3", "--admin-port", str(port), "--log-level", "WARNING"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    log.close()
    app = DashboardApp([AdminLink(AdminAddress("127.0.0.1", port), TOKEN)])
    r = app.readings[0]
    try:
        async with app.run_test(size=(160, 48)) as pilot:

            def quoting() -> bool:  # the dashboard found the runtime by itself
                return bool(r.snapshot and r.snapshot.working_orders)

            await until(pilot, quoting, 40, proc)
            await pilot.press("K")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")

            def halted() -> bool:
                return bool(app.commands and app.commands[0].acknowledged_at)

            await until(pilot, halted, 10, proc)
            state = admin_state(port)
            assert state["state"] == "HALTED" and state["working_orders"] == 0
            assert set(state["demands"]) == {"dashboard"}
            await pilot.pause(0.2)
            commands = str(app.query_one("#commands", TextPanel).render())
            assert "acknowledged: HALTED, 0 working orders" in commands
            row = [text for text, _ in app.query_one("#shards", TablePanel).view.rows[0]]
            assert row[2:4] == ["HALTED", "dashboard"]
            assert app.query_one("#orders", TablePanel).view.rows == []

            await pilot.press("R", "y")

            def resumed() -> bool:
                return len(app.commands) == 2 and app.commands[1].acknowledged_at is not None

            await until(pilot, resumed, 10, proc)
            assert app.commands[1].outcome == "ACTIVE"
            assert admin_state(port)["state"] == "ACTIVE"
            await until(pilot, quoting, 20, proc)  # the strategy quotes again

            stop_process(proc)

            def gone() -> bool:
                link = app.query_one("#shards", TablePanel).view.rows[0][1][0]
                return link.startswith("disconnected")

            await until(pilot, gone, 10, None)
    finally:
        if proc.poll() is None:
            stop_process(proc)
    assert proc.returncode == 0, (tmp_path / "runtime.log").read_text()[-2000:]
