"""Fixtures for the Kubernetes tests: the API emulator (tests/k8s/emulator.py) on its own thread
and the real Kopf operator as a subprocess against it."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from emulator import ROOT, EmulatorThread
from processes import stop_process

KOPF = ROOT / ".venv" / "bin" / "kopf"


@pytest.fixture
def k8s(tmp_path: pathlib.Path) -> Iterator[EmulatorThread]:
    emu = EmulatorThread(tmp_path).start()
    try:
        yield emu
    finally:
        emu.stop()


class OperatorProcess:
    """`kopf run -m shijim_operator` against the emulator, logs in a file."""

    def __init__(self, k8s: EmulatorThread, log_path: pathlib.Path) -> None:
        self.k8s = k8s
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = self.k8s.env()
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "operator"), str(ROOT / "runtime")])
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(KOPF), "run", "-m", "shijim_operator", "--namespace", "default", "--standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def operator(k8s: EmulatorThread, tmp_path: pathlib.Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(k8s, tmp_path / "operator.log").start()
    try:
        yield op
    finally:
        op.stop()
