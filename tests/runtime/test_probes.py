"""/livez and /readyz on the metrics listener (issue 7, item 6), the listener's bounds, and a
real runtime process on the simulated feed (probes, and every known series from the start)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from idle_connections import hold_idle_connections
from ring_fixture import Ring, publish_market_data
from shijim.app.config import HealthConfig
from shijim.app.health import (
    Heartbeat,
    ReadinessInputs,
    ShardHealth,
    liveness,
    readiness,
    session_start,
)
from shijim.bus.validation import BadInputCause
from shijim.domain import KillSwitchSource, RejectReason, TradingState
from shijim.gateway.sessions import Market
from shijim.governance.listener import Bounds
from shijim.metrics import ShardMetrics
from shijim.risk.state import TradingStateMachine

ROOT = Path(__file__).resolve().parents[2]
S = 10**9
TAIPEI = dt.timezone(dt.timedelta(hours=8))


def taipei_ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=TAIPEI).timestamp()) * S


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class WallClock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


# -- the decisions ------------------------------------------------------------------------------
def test_liveness_follows_the_heartbeat() -> None:
    assert liveness(0, 50 * S, 10.0).ok  # the loop has not started: starting is not a hang
    assert liveness(45 * S, 50 * S, 10.0).ok
    stuck = liveness(39 * S, 50 * S, 10.0)
    assert not stuck.ok and stuck.reason == "trading loop stuck: heartbeat 11.0 s old (bound 10 s)"


def inputs(**kw: object) -> ReadinessInputs:
    base: dict[str, object] = dict(
        started=True,
        watching=False,
        watch_reachable=None,
        state=TradingState.ACTIVE,
        halted_by=frozenset(),
        data_age_s=1.0,
    )
    base.update(kw)
    return ReadinessInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "ok", "reason"),
    [
        ({}, True, "ACTIVE; market data 1.0 s old"),
        ({"started": False}, False, "starting: trading loop not running yet"),
        ({"data_age_s": 61.0}, False, "ACTIVE on stale market data: none for 61 s (bound 60 s)"),
        ({"state": TradingState.REDUCING, "data_age_s": 61.0}, False, "REDUCING on stale"),
        ({"data_age_s": None}, True, "ACTIVE; markets closed"),
        (
            {
                "state": TradingState.HALTED,
                "halted_by": frozenset({KillSwitchSource.CRD, KillSwitchSource.API_GRACE}),
                "data_age_s": 500.0,
            },
            True,
            "halted deliberately by crd",
        ),
        (
            {"state": TradingState.HALTED, "halted_by": frozenset({KillSwitchSource.SHUTDOWN})},
            False,
            "halted by shutdown, not by a kill switch",
        ),
        ({"watching": True}, False, "TradingShard not read yet"),
        ({"watching": True, "watch_reachable": True}, True, "ACTIVE"),
        (
            {
                "watching": True,
                "watch_reachable": False,
                "state": TradingState.HALTED,
                "halted_by": frozenset({KillSwitchSource.ADMIN}),
            },
            False,
            "TradingShard watch lost",
        ),
    ],
)
def test_readiness(kw: dict[str, object], ok: bool, reason: str) -> None:
    v = readiness(inputs(**kw), 60.0)
    assert v.ok is ok and v.reason.startswith(reason), v


def test_session_start_knows_the_taifex_and_twse_sessions() -> None:
    monday_10 = taipei_ns(2026, 1, 5, 10, 0)
    assert session_start({Market.TAIFEX}, monday_10) == taipei_ns(2026, 1, 5, 8, 45)
    assert session_start({Market.TWSE}, monday_10) == taipei_ns(2026, 1, 5, 9, 0)
    both = session_start({Market.TAIFEX, Market.TWSE}, monday_10)
    assert both == taipei_ns(2026, 1, 5, 8, 45)
    tuesday_3 = taipei_ns(2026, 1, 6, 3, 0)  # Monday's night session
    assert session_start({Market.TAIFEX}, tuesday_3) == taipei_ns(2026, 1, 5, 15, 0)
    assert session_start({Market.TWSE}, tuesday_3) is None
    assert session_start({Market.TAIFEX}, taipei_ns(2026, 1, 4, 10, 0)) is None  # Sunday


# -- over HTTP, on the metrics listener --------------------------------------------------------
class Served:
    def __init__(self, health: ShardHealth, bounds: Bounds | None = None) -> None:
        self.server = health.metrics.serve(0, probes=health.probes(), bounds=bounds)
        self.port = self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def shard_health(
    cfg: HealthConfig | None = None,
    markets: frozenset[Market] | None = None,
    watching: bool = False,
    wall: WallClock | None = None,
) -> ShardHealth:
    return ShardHealth(
        Heartbeat(),
        TradingStateMachine(),
        ShardMetrics(0),
        cfg or HealthConfig(),
        markets=markets,
        watching=watching,
        **({"wall_ns": wall} if wall is not None else {}),
    )


def test_a_stuck_trading_loop_fails_livez_within_the_bound() -> None:
    health = shard_health(HealthConfig(liveness_seconds=0.5))
    served = Served(health)
    try:
        assert get(served.port, "/livez")[0] == 200  # before the loop runs
        health.heartbeat.at_ns = time.monotonic_ns()  # one turn, then the loop hangs
        t0 = time.monotonic()
        assert get(served.port, "/livez")[0] == 200
        while (answer := get(served.port, "/livez"))[0] == 200 and time.monotonic() - t0 < 3:
            time.sleep(0.05)
        waited = time.monotonic() - t0
        assert answer[0] == 503 and answer[1].startswith("trading loop stuck: heartbeat")
        assert 0.45 <= waited <= 0.5 + 0.3, waited
        health.heartbeat.at_ns = time.monotonic_ns()  # it beats again
        assert get(served.port, "/livez")[0] == 200
    finally:
        served.close()


def test_readyz_halted_is_ready_stale_data_is_not_and_no_pnl_leaks(ring: Ring) -> None:
    wall = WallClock(time.time_ns())
    health = shard_health(wall=wall)
    health.metrics.watch_publications(ring.writer)
    served = Served(health)
    try:
        assert get(served.port, "/readyz") == (503, "starting: trading loop not running yet\n")
        health.heartbeat.at_ns = time.monotonic_ns()
        publish_market_data(ring.writer, "bidask", wall.now_ns)
        assert get(served.port, "/readyz") == (200, "ACTIVE; market data 0.0 s old\n")
        wall.now_ns += 61 * S  # a minute without data
        status, body = get(served.port, "/readyz")
        assert status == 503 and body.startswith("ACTIVE on stale market data: none for 61 s")
        # The daily loss limit halts on purpose: ready (its reason, with the PnL, stays inside).
        health.state.engage(KillSwitchSource.LOSS_LIMIT, "daily PnL -123456 TWD < -50000")
        status, body = get(served.port, "/readyz")
        assert (status, body) == (200, "halted deliberately by loss_limit\n")
        for path in ("/livez", "/readyz"):
            assert "123456" not in get(served.port, path)[1]
        health.state.release(KillSwitchSource.LOSS_LIMIT)
        publish_market_data(ring.writer, "bidask", wall.now_ns)  # data again
        assert get(served.port, "/readyz")[0] == 200
    finally:
        served.close()


def test_readyz_follows_the_tradingshard_watch(ring: Ring) -> None:
    health = shard_health(watching=True)
    health.heartbeat.at_ns = time.monotonic_ns()
    health.metrics.watch_publications(ring.writer)
    publish_market_data(ring.writer, "tick", time.time_ns())
    served = Served(health)
    try:
        assert get(served.port, "/readyz") == (503, "TradingShard not read yet\n")
        health.metrics.k8s_api_reachable(True)
        assert get(served.port, "/readyz")[0] == 200
        health.metrics.k8s_api_reachable(False)  # what the watcher reports when it loses it
        status, body = get(served.port, "/readyz")
        assert status == 503 and body.startswith("TradingShard watch lost")
    finally:
        served.close()


def test_live_readiness_expects_data_only_while_the_markets_trade() -> None:
    sunday = taipei_ns(2026, 1, 4, 10, 0)
    wall = WallClock(sunday)
    health = shard_health(markets=frozenset({Market.TAIFEX}), wall=wall)
    health.heartbeat.at_ns = time.monotonic_ns()
    ok, reason = health.readyz()
    assert ok and reason == "ACTIVE; markets closed"
    wall.now_ns = taipei_ns(2026, 1, 5, 8, 45, 30)  # Monday, 30 s into the day session
    assert health.readyz()[0]
    wall.now_ns = taipei_ns(2026, 1, 5, 8, 46, 1)  # 61 s in, nothing received
    ok, reason = health.readyz()
    assert not ok and "none for 61 s" in reason


def test_the_metrics_listener_bounds_threads_and_time(capfd: pytest.CaptureFixture[str]) -> None:
    bounds = Bounds(max_handlers=8, idle_seconds=0.5, deadline_seconds=1.5)
    served = Served(shard_health(), bounds)
    try:
        hold_idle_connections(("127.0.0.1", served.port), bounds)
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01 garbage \r\n\r\n")  # a TLS hello, say
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            assert b"Error code: 400" in answer
        assert get(served.port, "/metrics")[0] == 200
        assert get(served.port, "/livez")[0] == 200
    finally:
        served.close()
    assert "Traceback" not in capfd.readouterr().err


# -- a real runtime process ------------------------------------------------------------------
def _series(text: str) -> dict[str, float]:
    return {
        ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
        for ln in text.splitlines()
        if ln and not ln.startswith("#")
    }


def _wait_http(port: int, path: str, deadline: float) -> tuple[int, str]:
    while True:
        try:
            return get(port, path)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.slow
def test_a_sim_runtime_is_live_ready_and_exports_every_known_series_from_the_start() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIOAJI_", "SHIJIM_"))}
    for k in ("SHARD_ID", "TOTAL_SHARDS", "POD_NAME", "POD_NAMESPACE"):
        env.pop(k, None)
    env["PYTHONPATH"] = str(ROOT / "runtime")
    args = ["--feed", "sim", "--duration", "30", "--metrics-port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shijim", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _series(_wait_http(port, "/metrics", time.monotonic() + 20)[1])
        for reason in RejectReason:
            assert f'shijim_risk_rejects_total{{reason="{reason.value}",shard="0"}}' in first
        for cause in BadInputCause:
            assert first[f'shijim_md_bad_input_total{{cause="{cause.value}",shard="0"}}'] == 0
        assert first['shijim_ring_lost_messages_total{reader="strategy",shard="0"}'] == 0
        assert _wait_http(port, "/livez", time.monotonic() + 5)[0] == 200
        deadline = time.monotonic() + 10
        while (ready := get(port, "/readyz"))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready[0] == 200 and ready[1].startswith("ACTIVE; market data"), ready
        proc.send_signal(signal.SIGUSR1)  # the signal kill switch: halted on purpose
        deadline = time.monotonic() + 5
        while (ready := get(port, "/readyz"))[1] != "halted deliberately by signal\n":
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert ready[0] == 200 and get(port, "/livez")[0] == 200
        # Trading created no series that did not exist at the start (a label value the runtime
        # uses but did not declare would miss its first increment).
        later = _series(get(port, "/metrics")[1])
        new = {k for k in set(later) - set(first) if "md_last_event_timestamp" not in k}
        assert not new, sorted(new)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert re.search(r"metrics on http://127\.0\.0\.1:\d+/metrics", stderr), stderr
    assert "Traceback" not in stderr
