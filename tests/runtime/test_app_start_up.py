"""A stop signal during the start-up: the runtime unwinds what it opened (its ring above all,
which /dev/shm would keep after the process) and exits cleanly, whichever part was running."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
from shijim.app import runtime
from shijim.app.config import parse_config

import shijim_core


def _config(ring: str):
    return parse_config(
        {
            "feed": {"kind": "sim", "seed": 3},
            "universe": {"codes": ["TXFL6", "MXFL6"]},
            "strategy": {"name": "market_making"},
            "ring": {"name": ring},
            "run": {"duration": 5},
        }
    )


def _ring_exists(name: str) -> bool:
    try:
        shijim_core.RingReader(name)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_shard_is_composed_leaves_no_ring(
    sig: signal.Signals, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = f"t-start-{sig.name.lower()}-{os.getpid()}"
    made = []
    real_runner = runtime.StrategyRunner

    def runner_then_signal(*args, **kwargs):  # the ring exists by now: the feed is built
        made.append(_ring_exists(ring))
        os.kill(os.getpid(), sig)  # handled at the next bytecode of this (the main) thread
        return real_runner(*args, **kwargs)

    monkeypatch.setattr(runtime, "StrategyRunner", runner_then_signal)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert runtime.run(_config(ring), {}) == 0
    assert made == [True]
    assert not _ring_exists(ring)
    assert f"stopped by {sig.name} before the start" in capsys.readouterr().err
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_signal_after_the_start_up_stops_the_loop_as_before(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = f"t-start-loop-{os.getpid()}"
    real_loop = runtime.trade_loop

    def loop_after_signal(shard, stop, *args):  # the handler only sets `stop` now
        os.kill(os.getpid(), signal.SIGTERM)
        return real_loop(shard, stop, *args)

    monkeypatch.setattr(runtime, "trade_loop", loop_after_signal)
    assert runtime.run(_config(ring), {}) == 0
    out = capsys.readouterr().out
    assert "shijim run summary" in out
    assert not _ring_exists(ring)


def test_a_signal_after_the_broker_login_logs_out_and_leaves_no_ring(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real session, feed and order adapter over the broker client's double (its login is
    # the one thing that cannot run here).
    from shijim.gateway import shioaji_session
    from shioaji_objects import FakeShioajiClient

    clients: list[FakeShioajiClient] = []

    def client(simulation: bool, _credentials: object) -> FakeShioajiClient:
        clients.append(FakeShioajiClient(simulation))
        return clients[-1]

    monkeypatch.setattr(shioaji_session, "_sdk_client", client)
    ring = f"t-start-broker-{os.getpid()}"
    real_runner = runtime.StrategyRunner

    def runner_then_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_runner(*args, **kwargs)

    monkeypatch.setattr(runtime, "StrategyRunner", runner_then_signal)
    cfg = _config(ring)
    cfg = dataclasses.replace(
        cfg, feed=dataclasses.replace(cfg.feed, kind="shioaji", simulation=True)
    )
    env = {"SHIOAJI_API_KEY": "AKEY-1", "SHIOAJI_SECRET_KEY": "SKEY-2"}
    assert runtime.run(cfg, env) == 0
    assert len(clients) == 1 and clients[0].logged_out
    assert not _ring_exists(ring)
    assert "stopped by SIGTERM before the start" in capsys.readouterr().err
