"""Subprocesses in the Kubernetes tests (kopf, real runtimes): a free port, a bounded stop."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A loopback port free now: pods have their own network namespace, local processes do not."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s: a hung process never hangs a test."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
