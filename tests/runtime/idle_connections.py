"""300 idle (half-open: connected, nothing sent) connections against one of the runtime's HTTP
listeners: the handler threads stay within the bound and every connection is closed within the
listener's deadline (issue 7: 300 connections used to leave 306 threads behind, for ever)."""

from __future__ import annotations

import select
import socket
import threading
import time

from shijim.governance.listener import Bounds

N_IDLE = 300


def hold_idle_connections(address: tuple[str, int], bounds: Bounds, n: int = N_IDLE) -> None:
    before = threading.active_count()
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(address, timeout=10))
        time.sleep(0.2)  # let the listener accept them all
        peak = threading.active_count()
        assert peak <= before + bounds.max_handlers, (before, peak)
        # Every connection ends: at once with 503 beyond the bound, the others after the idle
        # timeout; none outlives the deadline (plus the listener's 0.1 s poll).
        t0 = time.monotonic()
        open_ = {s.fileno(): s for s in socks}
        answers = {fd: b"" for fd in open_}
        while open_ and time.monotonic() - t0 < bounds.deadline_seconds + 2:
            ready, _, _ = select.select(list(open_), [], [], 0.1)
            for fd in ready:
                try:
                    chunk = open_[fd].recv(4096)
                except OSError:
                    chunk = b""
                answers[fd] += chunk
                if not chunk:
                    del open_[fd]
        assert not open_, f"{len(open_)} connections still open after the deadline"
        # Refused at once (503), or served and closed when idle (nothing to answer).
        busy = sum(a.startswith(b"HTTP/1.0 503 ") for a in answers.values())
        assert all(a == b"" or a.startswith(b"HTTP/1.0 503 ") for a in answers.values())
        assert busy >= n // 2, busy
        deadline = time.monotonic() + 2
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= before, "handler threads left behind"
    finally:
        for s in socks:
            s.close()
