"""Admin HTTP kill switch (stdlib ``http.server`` on its own thread).

Endpoints (every one needs ``Authorization: Bearer <token>``; the token comes only from the
environment variable ``SHIJIM_ADMIN_TOKEN``, is compared in constant time and never logged):

- ``POST /kill-switch/engage``   optional JSON body ``{"reason": str, "state": "HALTED"}``
  (or ``"REDUCING"``) -> the ADMIN demand (default HALTED); ``?source=dashboard`` makes it the
  DASHBOARD demand (the dashboard's K key).
- ``POST /kill-switch/resume``   releases the ADMIN demand (``?source=dashboard``: the DASHBOARD
  one); ``?all=1`` releases every demand (operator override: also the loss limit, file, signal
  and CRD demands).
- ``GET /state``                 JSON: state, demands, positions and PnL summary.
- ``GET /snapshot``              the dashboard's ``SystemSnapshot`` (shijim.dashboard.wire), when
  the runtime gives a snapshot source; encoded on the listener's thread, never the trading one.
- ``GET /snapshot/stream``       the same document every ``interval_s`` of the source (or every
  ``?interval_ms=N``, from that interval up to 10 s), one per line (``application/x-ndjson``),
  on one connection until the client leaves: what the dashboard reads. One connection costs
  the runtime one wake-up per document, where a request per document cost an accepted
  connection, a handler thread and a parsed request, each taking the interpreter lock from the
  trading thread (docs/dashboard.md). At most half the listener's handlers stream at once
  (``max_streams``: 4 of the default 8), so a kill-switch request always finds a handler; a
  stream ends when a send fails or times out, or the server stops.

No token configured => no admin server: ``AdminServer.from_env`` returns None (and says so in the
log); constructing one with an empty token raises. An unauthenticated kill switch would let
anything on the host (or the pod network) stop or resume trading. Binds 127.0.0.1 by default.

The listener is bounded (``shijim.governance.listener``): a few handler threads, a socket
timeout and a deadline per connection. A request whose framing is wrong (a non-numeric,
negative or conflicting ``Content-Length``, ``Transfer-Encoding``, a body without
``Content-Length``, a body shorter than declared) gets 400 and changes nothing; a body over
``MAX_BODY`` gets 413; an engage body nested deeper than ``MAX_DEPTH`` or with an unknown key or
a non-string value gets 400 naming it. No traceback reaches stderr: errors are one log line.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from shijim.domain import KillSwitchSource, TradingState
from shijim.governance.listener import BoundedHTTPServer, Bounds, one_line
from shijim.risk.state import TradingStateMachine

log = logging.getLogger(__name__)

ENV_TOKEN = "SHIJIM_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a secret
MAX_BODY = 4096
MAX_DEPTH = 4  # the engage body is one flat object; deeper is an attack, not a request
ENGAGE_KEYS = ("reason", "state")
Summary = Callable[[], Mapping[str, Any]]
MAX_STREAM_INTERVAL_MS = 10_000
# Who a kill-switch request speaks for (``?source=``): the admin (curl, scripts) or the dashboard.
REQUEST_SOURCES = {"admin": KillSwitchSource.ADMIN, "dashboard": KillSwitchSource.DASHBOARD}


class SnapshotSource(Protocol):
    """What ``GET /snapshot`` serves (shijim.dashboard.channel.SnapshotChannel)."""

    interval_s: float  # a stream sends one document per interval

    def payload(self) -> bytes: ...  # one JSON document, already encoded


@dataclass(frozen=True)
class SnapshotStream:
    """``handle``'s answer to ``GET /snapshot/stream``: the handler sends ``source``'s documents
    every ``interval_s`` until the client leaves."""

    source: SnapshotSource
    interval_s: float


class RequestError(Exception):
    """A request refused before routing: (HTTP status, one-line message for the client)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def declared_length(content_length: list[str], transfer_encoding: str | None) -> int | None:
    """The body length a request declares (None: no Content-Length header)."""
    if transfer_encoding is not None:
        raise RequestError(400, "Transfer-Encoding is not supported: send Content-Length")
    if not content_length:
        return None
    values = {v.strip() for v in content_length}
    if len(values) > 1:
        raise RequestError(400, f"Content-Length: conflicting values {sorted(values)!r}"[:200])
    raw = values.pop()
    if not (raw.isascii() and raw.isdigit()):
        raise RequestError(
            400, f"Content-Length: expected a non-negative integer, got {raw[:20]!r}"
        )
    length = int(raw)
    if length > MAX_BODY:
        raise RequestError(413, f"body over {MAX_BODY} bytes (Content-Length {raw[:20]})")
    return length


def json_depth_problem(body: bytes, limit: int = MAX_DEPTH) -> str | None:
    """Checked before parsing, so a deeply nested body never reaches the recursive parser."""
    depth = 0
    in_string = escaped = False
    for i, b in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return f"JSON nested deeper than {limit} levels at byte {i}"
        elif b in (0x5D, 0x7D):
            depth -= 1
    return None


@dataclass(frozen=True)
class EngageRequest:
    level: TradingState
    reason: str


def read_engage(body: bytes) -> EngageRequest:
    """The engage body: empty, or a JSON object with optional string ``reason`` and ``state``
    (REDUCING or HALTED). Raises ValueError naming the problem."""
    if not body.strip():
        return EngageRequest(TradingState.HALTED, "admin HTTP")
    problem = json_depth_problem(body)
    if problem is not None:
        raise ValueError(problem)
    doc = json.loads(body)  # JSONDecodeError (a ValueError) names line, column and byte
    if not isinstance(doc, dict):
        raise ValueError("body must be a JSON object")
    for key, value in doc.items():
        if key not in ENGAGE_KEYS:
            raise ValueError(f"unknown key {key[:40]!r} (known: {', '.join(ENGAGE_KEYS)})")
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    name = doc.get("state", "HALTED").upper()
    if name not in ("REDUCING", "HALTED"):
        if name == "ACTIVE":
            raise ValueError("state: use /kill-switch/resume to go ACTIVE")
        raise ValueError(f"state: expected REDUCING or HALTED, got {name[:20]!r}")
    return EngageRequest(TradingState[name], doc.get("reason", "admin HTTP")[:200])


def state_only_summary(state: TradingStateMachine) -> Summary:
    def summary() -> Mapping[str, Any]:
        return {
            "state": state.state.name,
            "kill_switch_engaged": state.kill_switch_engaged,
            "demands": {
                s.value: {"state": st.name, "reason": why}
                for s, (st, why) in state.demands().items()
            },
        }

    return summary


class AdminServer:
    def __init__(
        self,
        state: TradingStateMachine,
        token: str,
        summary: Summary | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        bounds: Bounds | None = None,
        snapshot: SnapshotSource | None = None,
    ) -> None:
        if not token:
            raise ValueError(f"AdminServer: empty token (set {ENV_TOKEN})")
        self.state = state
        self._token = token.encode()
        self._summary = summary or state_only_summary(state)
        self._snapshot = snapshot
        bounds = bounds or Bounds()
        # Half the handlers may stream; the other half stay free for the kill switch.
        self.max_streams = bounds.max_handlers // 2
        self._streams = threading.BoundedSemaphore(self.max_streams)
        self._stopping = threading.Event()
        self._httpd = BoundedHTTPServer((host, port), self._handler_class(), bounds, "admin HTTP")
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(
        cls,
        state: TradingStateMachine,
        summary: Summary | None = None,
        host: str = "127.0.0.1",
        port: int = 8081,
        env: Mapping[str, str] | None = None,
        snapshot: SnapshotSource | None = None,
    ) -> AdminServer | None:
        token = (os.environ if env is None else env).get(ENV_TOKEN, "")
        if not token:
            log.warning("admin HTTP kill switch disabled: %s is not set", ENV_TOKEN)
            return None
        return cls(state, token, summary, host, port, snapshot=snapshot)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="shijim-admin-http",
            daemon=True,
        )
        self._thread.start()
        log.info("admin HTTP listening on %s:%d", *self.address)

    def stop(self) -> None:
        self._stopping.set()  # streams end at their next document
        if self._thread is not None:  # shutdown() would wait forever if never served
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    # -- request handling --------------------------------------------------------------------
    def authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self._token)

    def handle(
        self, method: str, path: str, auth: str | None, body: bytes
    ) -> tuple[int, dict[str, Any] | bytes | SnapshotStream]:
        """Pure routing: (status, JSON body, or a document already encoded). Separate from the
        socket code for clarity."""
        url = urlsplit(path)
        route = (method, url.path.rstrip("/") or "/")
        known = {"/kill-switch/engage", "/kill-switch/resume", "/state"}
        if self._snapshot is not None:
            known.update(("/snapshot", "/snapshot/stream"))
        if route[1] not in known:
            return 404, {"error": f"no such endpoint {url.path!r}"}
        if not self.authorised(auth):
            return 401, {"error": "missing or bad bearer token"}
        if route == ("GET", "/state"):
            return 200, dict(self._summary())
        if route == ("GET", "/snapshot") and self._snapshot is not None:
            return 200, self._snapshot.payload()
        query = parse_qs(url.query)
        if route == ("GET", "/snapshot/stream") and self._snapshot is not None:
            least = self._snapshot.interval_s
            raw = query.get("interval_ms", [""])[-1]
            if not raw:
                return 200, SnapshotStream(self._snapshot, least)
            if not (raw.isdigit() and least * 1000 <= int(raw) <= MAX_STREAM_INTERVAL_MS):
                return 400, {
                    "error": f"interval_ms: expected {least * 1000:.0f}..{MAX_STREAM_INTERVAL_MS}"
                    f", got {raw[:20]!r}"
                }
            return 200, SnapshotStream(self._snapshot, int(raw) / 1000)
        name = query.get("source", ["admin"])[-1]
        source = REQUEST_SOURCES.get(name)
        if source is None:
            return 400, {"error": f"source: expected admin or dashboard, got {name[:20]!r}"}
        if route == ("POST", "/kill-switch/engage"):
            try:
                engage = read_engage(body)
            except ValueError as exc:  # also UnicodeDecodeError, JSONDecodeError
                return 400, {"error": f"engage body: {one_line(str(exc))}"}
            self.state.demand(source, engage.level, engage.reason)
            return 200, {"state": self.state.state.name}
        if route == ("POST", "/kill-switch/resume"):
            if query.get("all") == ["1"]:
                self.state.release_all(source, f"{source.value} HTTP resume all")
            else:
                self.state.release(source, f"{source.value} HTTP resume")
            remaining = {s.value: st.name for s, (st, _) in self.state.demands().items()}
            return 200, {"state": self.state.state.name, "demands": remaining}
        return 405, {"error": f"{method} not allowed on {url.path}"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "shijim-admin"
            sys_version = ""

            def _serve(self) -> None:
                try:
                    body = self._body()
                except RequestError as exc:
                    self.close_connection = True
                    self._reply(exc.status, {"error": exc.message})
                    self._drain()  # unread bytes at close would reset the connection
                    return
                try:
                    status, doc = server.handle(
                        self.command, self.path, self.headers.get("Authorization"), body
                    )
                except Exception as exc:
                    log.error(
                        "admin %s %s failed: %s: %s",
                        self.command,
                        urlsplit(self.path).path,
                        type(exc).__name__,
                        one_line(str(exc)),
                    )
                    status, doc = 500, {"error": type(exc).__name__}
                if isinstance(doc, SnapshotStream):
                    self._stream(doc)
                else:
                    self._reply(status, doc)

            def _stream(self, stream: SnapshotStream) -> None:
                if not server._streams.acquire(blocking=False):
                    self._reply(503, {"error": f"at most {server.max_streams} snapshot streams"})
                    return
                try:
                    server._httpd.keep_open(self.connection)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    source, interval = stream.source, stream.interval_s
                    due = time.monotonic()
                    while not server._stopping.is_set():
                        # A send blocked past the socket's timeout (a client that stopped
                        # reading) raises: the stream ends, its slot is free again.
                        self.wfile.write(source.payload() + b"\n")
                        due = max(due + interval, time.monotonic())  # late: no catch-up burst
                        if server._stopping.wait(due - time.monotonic()):
                            break
                except OSError as exc:  # the client left
                    log.debug("admin snapshot stream ended: %s", type(exc).__name__)
                finally:
                    server._streams.release()
                    self.close_connection = True

            def _body(self) -> bytes:
                length = declared_length(
                    self.headers.get_all("Content-Length") or [],
                    self.headers.get("Transfer-Encoding"),
                )
                if length is None:
                    if self._nonblocking(lambda: self.rfile.peek(1)):
                        raise RequestError(400, "body without Content-Length")
                    return b""
                try:
                    body = self.rfile.read(length) if length else b""
                except TimeoutError:
                    body = b""
                if len(body) < length:
                    raise RequestError(
                        400, f"body ended after {len(body)} of {length} bytes (Content-Length)"
                    )
                return body

            def _nonblocking(self, read: Callable[[], bytes | None]) -> bytes:
                # What the client has already sent, without waiting for more.
                sock = self.connection
                timeout = sock.gettimeout()
                sock.settimeout(0.0)
                try:
                    return read() or b""
                except OSError:
                    return b""
                finally:
                    sock.settimeout(timeout)

            def _drain(self) -> None:
                for _ in range(16):
                    if not self._nonblocking(lambda: self.rfile.read1(MAX_BODY)):
                        return

            def _reply(self, status: int, doc: Mapping[str, Any] | bytes) -> None:
                payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", "Bearer")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_PUT = _serve
            do_DELETE = _serve

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                # Never log headers (the token); the path without its query string only. A
                # dashboard reads /snapshot 10 times a second: those lines are debug only.
                path = urlsplit(getattr(self, "path", "")).path[:200]
                quiet = self.command == "GET" and path == "/snapshot" and code == 200
                log.log(
                    logging.DEBUG if quiet else logging.INFO,
                    "admin %s %s from %s -> %s",
                    self.command,
                    path,
                    self.client_address[0],
                    getattr(code, "value", code),
                )

            def log_message(self, format: str, *args: Any) -> None:
                # http.server's own errors (bad request line, timeouts): one line, no headers.
                log.warning(
                    "admin HTTP: %s (from %s)", one_line(format % args), self.client_address[0]
                )

        return Handler
