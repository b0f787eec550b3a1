"""The runtime's small HTTP listeners (the admin kill switch; metrics and probes), bounded in
threads and in time, and quiet about bad clients.

- At most ``max_handlers`` connections are served at once, each on its own daemon thread;
  beyond that the listener answers ``503`` itself and closes (no thread per connection left
  to an attacker or a stuck scraper).
- A connection is closed after ``idle_seconds`` without a byte from the client, and in any case
  ``deadline_seconds`` after it was accepted (a client sending one byte at a time). Both
  servers speak HTTP/1.0, one request per connection, so neither bound cuts a normal request.
  A handler may exempt its connection from the deadline (``keep_open``: the admin's snapshot
  stream, which bounds itself).
- What a client does wrong (resets, timeouts, garbage) is one log line, never a traceback on
  stderr.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import HTTPServer
from socketserver import BaseServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy: too many open connections\r\n"
)


@dataclass(frozen=True)
class Bounds:
    max_handlers: int = 8
    idle_seconds: float = 5.0
    deadline_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_handlers < 1:
            raise ValueError(f"max_handlers: must be >= 1, got {self.max_handlers}")
        if not 0 < self.idle_seconds <= self.deadline_seconds:
            raise ValueError("need 0 < idle_seconds <= deadline_seconds")


def address_family(host: str) -> socket.AddressFamily:
    """IPv6 literals (a pod IP on an IPv6 cluster) need an IPv6 socket."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Bounded(BaseServer):
    """Mixed in before ``ThreadingMixIn``: the slot count, the socket timeouts, the deadline."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # a burst of connects is accepted (then answered 503), not stalled
    label = "http"

    def _bound(self, bounds: Bounds, label: str) -> None:
        self.bounds = bounds
        self.label = label
        self.refused_total = 0
        self.closed_late_total = 0
        self._slots = threading.BoundedSemaphore(bounds.max_handlers)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused_total += 1
            try:
                request.setblocking(False)
                request.send(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        request.settimeout(self.bounds.idle_seconds)
        with self._deadlines_lock:
            self._deadlines[request] = time.monotonic() + self.bounds.deadline_seconds
        try:
            super().process_request(request, client_address)  # type: ignore[misc]
        except BaseException:  # no thread started: give the slot back
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._forget(request)

    def keep_open(self, request: Any) -> None:
        """Exempt a connection from the deadline (a stream the server sends on until the client
        leaves; its handler bounds it otherwise: send timeouts, a stream count)."""
        with self._deadlines_lock:
            if request in self._deadlines:
                self._deadlines[request] = float("inf")

    def _forget(self, request: Any) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(request, None)
        self._slots.release()

    def service_actions(self) -> None:
        """On the serving thread after each poll: close connections past their deadline (the
        handler's blocked read then sees end-of-file and the handler ends)."""
        now = time.monotonic()
        with self._deadlines_lock:
            late = [s for s, at in self._deadlines.items() if at <= now]
            for s in late:
                self._deadlines[s] = float("inf")  # once; the slot is freed by its handler
        for s in late:
            self.closed_late_total += 1
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed by its handler
                pass
        if late:
            log.info(
                "%s: closed %d connection(s) open past %.0f s",
                self.label,
                len(late),
                self.bounds.deadline_seconds,
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        log.warning(
            "%s: connection from %s ended: %s: %s",
            self.label,
            peer,
            type(exc).__name__,
            one_line(str(exc)),
        )


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class BoundedHTTPServer(_Bounded, ThreadingMixIn, HTTPServer):
    def __init__(self, address: tuple[str, int], handler: Any, bounds: Bounds, label: str) -> None:
        self._bound(bounds, label)
        self.address_family = address_family(address[0])
        super().__init__(address, handler)


class BoundedWSGIServer(_Bounded, ThreadingMixIn, WSGIServer):
    def __init__(self, address: tuple[str, int], bounds: Bounds, label: str) -> None:
        self._bound(bounds, label)
        self.address_family = address_family(address[0])
        super().__init__(address, QuietWSGIRequestHandler)


class _LastLine:
    """wsgiref's error stream: a traceback of a failing response becomes its last line, logged
    once, instead of a traceback on stderr."""

    def __init__(self) -> None:
        self._text: list[str] = []

    def write(self, text: str) -> int:
        self._text.append(text)
        return len(text)

    def flush(self) -> None:
        lines = [ln for ln in "".join(self._text).splitlines() if ln.strip()]
        self._text.clear()
        if lines:
            log.warning("metrics listener: response failed: %s", one_line(lines[-1]))


class QuietWSGIRequestHandler(WSGIRequestHandler):
    def get_stderr(self) -> Any:
        return _LastLine()

    def log_message(self, format: str, *args: Any) -> None:
        # Scrapes and probes every few seconds: debug only; errors go through handle_error.
        log.debug("metrics listener: %s", one_line(format % args))
