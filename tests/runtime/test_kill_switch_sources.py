"""File trigger and SIGUSR1/SIGUSR2 drive the one TradingStateMachine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from shijim.domain import KillSwitchSource, TradingState
from shijim.governance.file_trigger import FileTrigger
from shijim.governance.signals import SignalKillSwitch
from shijim.risk.state import TradingStateMachine

REPO = Path(__file__).resolve().parents[2]


def test_file_presence_engages_and_removal_releases(tmp_path: Path) -> None:
    sm = TradingStateMachine()
    path = tmp_path / "HALT"
    trigger = FileTrigger(sm, path)
    assert trigger.check() is TradingState.ACTIVE and sm.state is TradingState.ACTIVE
    path.write_text("")
    assert trigger.check() is TradingState.HALTED
    assert sm.demands()[KillSwitchSource.FILE][0] is TradingState.HALTED
    path.unlink()
    assert trigger.check() is TradingState.ACTIVE
    assert KillSwitchSource.FILE not in sm.demands()


def test_file_can_ask_for_reducing(tmp_path: Path) -> None:
    sm = TradingStateMachine()
    path = tmp_path / "HALT"
    path.write_text("reducing: end of day\n")
    FileTrigger(sm, path).check()
    assert sm.state is TradingState.REDUCING


def test_file_reasserts_after_resume_all(tmp_path: Path) -> None:
    sm = TradingStateMachine()
    path = tmp_path / "HALT"
    path.write_text("")
    trigger = FileTrigger(sm, path)
    trigger.check()
    sm.release_all(KillSwitchSource.ADMIN)
    assert sm.state is TradingState.ACTIVE
    trigger.check()
    assert sm.state is TradingState.HALTED


def test_file_removal_does_not_release_other_sources(tmp_path: Path) -> None:
    sm = TradingStateMachine()
    path = tmp_path / "HALT"
    path.write_text("")
    trigger = FileTrigger(sm, path)
    trigger.check()
    sm.engage(KillSwitchSource.CRD, "crd")
    path.unlink()
    trigger.check()
    assert sm.state is TradingState.HALTED


def test_file_trigger_thread_polls(tmp_path: Path) -> None:
    sm = TradingStateMachine()
    path = tmp_path / "HALT"
    trigger = FileTrigger(sm, path, interval_s=0.01)
    trigger.start()
    try:
        path.write_text("")
        for _ in range(500):
            if sm.state is TradingState.HALTED:
                break
            trigger._stop.wait(0.01)
        assert sm.state is TradingState.HALTED
    finally:
        trigger.stop()


def test_sigusr1_engages_and_sigusr2_releases_in_process() -> None:
    sm = TradingStateMachine()
    before = signal.getsignal(signal.SIGUSR1)
    switch = SignalKillSwitch(sm)
    switch.install()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert switch.last_worker is not None
        switch.last_worker.join(5)
        assert sm.state is TradingState.HALTED
        assert sm.demands()[KillSwitchSource.SIGNAL] == (TradingState.HALTED, "SIGUSR1 received")
        os.kill(os.getpid(), signal.SIGUSR2)
        switch.last_worker.join(5)
        assert sm.state is TradingState.ACTIVE
    finally:
        switch.uninstall()
    assert signal.getsignal(signal.SIGUSR1) == before


def test_signal_while_main_thread_holds_the_state_lock() -> None:
    """The handler must not deadlock when the signal lands inside TradingStateMachine.demand."""
    sm = TradingStateMachine()
    switch = SignalKillSwitch(sm)
    switch.install()
    try:
        with sm._lock:  # as if the main thread were inside demand()
            os.kill(os.getpid(), signal.SIGUSR1)
            assert sm.state is TradingState.ACTIVE  # the worker waits for the lock
        assert switch.last_worker is not None
        switch.last_worker.join(5)
        assert sm.state is TradingState.HALTED
    finally:
        switch.uninstall()


@pytest.mark.slow
def test_sigusr1_from_another_process() -> None:
    """Multi-process: a child runtime installs the handler; the test sends `kill -USR1`."""
    child = textwrap.dedent(
        """
        import threading
        from shijim.governance.signals import SignalKillSwitch
        from shijim.risk.state import TradingStateMachine
        sm = TradingStateMachine()
        done = threading.Event()
        def report(change):
            print("STATE", change.new.name, change.source.value, flush=True)
            done.set()
        sm.subscribe(report)
        SignalKillSwitch(sm).install()
        print("READY", flush=True)
        done.wait(10)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "runtime"))
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        proc.send_signal(signal.SIGUSR1)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "STATE HALTED signal" in out
    assert proc.returncode == 0
