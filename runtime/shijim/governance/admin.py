"""Admin HTTP kill switch (stdlib ``http.server`` on its own thread).

Endpoints (every one needs ``Authorization: Bearer <token>``; the token comes only from the
environment variable ``SHIJIM_ADMIN_TOKEN``, is compared in constant time and never logged):

- ``POST /kill-switch/engage``   optional JSON body ``{"reason": str, "state": "HALTED"}``
  (or ``"REDUCING"``) -> the ADMIN demand (default HALTED).
- ``POST /kill-switch/resume``   releases the ADMIN demand; ``?all=1`` releases every demand
  (operator override: also the loss limit, file, signal and CRD demands).
- ``GET /state``                 JSON: state, demands, positions and PnL summary.

No token configured => no admin server: ``AdminServer.from_env`` returns None (and says so in the
log); constructing one with an empty token raises. An unauthenticated kill switch would let
anything on the host (or the pod network) stop or resume trading. Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shijim.risk.state import KillSwitchSource, TradingState, TradingStateMachine

log = logging.getLogger(__name__)

ENV_TOKEN = "SHIJIM_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a secret
MAX_BODY = 4096
Summary = Callable[[], Mapping[str, Any]]


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
    ) -> None:
        if not token:
            raise ValueError(f"AdminServer: empty token (set {ENV_TOKEN})")
        self.state = state
        self._token = token.encode()
        self._summary = summary or state_only_summary(state)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(
        cls,
        state: TradingStateMachine,
        summary: Summary | None = None,
        host: str = "127.0.0.1",
        port: int = 8081,
        env: Mapping[str, str] | None = None,
    ) -> AdminServer | None:
        token = (os.environ if env is None else env).get(ENV_TOKEN, "")
        if not token:
            log.warning("admin HTTP kill switch disabled: %s is not set", ENV_TOKEN)
            return None
        return cls(state, token, summary, host, port)

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
    ) -> tuple[int, dict[str, Any]]:
        """Pure routing: (status, JSON body). Separate from the socket code for clarity."""
        url = urlsplit(path)
        route = (method, url.path.rstrip("/") or "/")
        known = {"/kill-switch/engage", "/kill-switch/resume", "/state"}
        if route[1] not in known:
            return 404, {"error": f"no such endpoint {url.path!r}"}
        if not self.authorised(auth):
            return 401, {"error": "missing or bad bearer token"}
        if route == ("GET", "/state"):
            return 200, dict(self._summary())
        if route == ("POST", "/kill-switch/engage"):
            try:
                doc = json.loads(body) if body.strip() else {}
                if not isinstance(doc, dict):
                    raise ValueError("body must be a JSON object")
                reason = str(doc.get("reason", "admin HTTP"))[:200]
                level = TradingState[str(doc.get("state", "HALTED")).upper()]
                if level is TradingState.ACTIVE:
                    raise ValueError("state: use /kill-switch/resume to go ACTIVE")
            except (ValueError, KeyError) as exc:
                return 400, {"error": f"engage body: {exc}"}
            self.state.demand(KillSwitchSource.ADMIN, level, reason)
            return 200, {"state": self.state.state.name}
        if route == ("POST", "/kill-switch/resume"):
            if parse_qs(url.query).get("all") == ["1"]:
                self.state.release_all(KillSwitchSource.ADMIN, "admin HTTP resume all")
            else:
                self.state.release(KillSwitchSource.ADMIN, "admin HTTP resume")
            remaining = {s.value: st.name for s, (st, _) in self.state.demands().items()}
            return 200, {"state": self.state.state.name, "demands": remaining}
        return 405, {"error": f"{method} not allowed on {url.path}"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "shijim-admin"
            sys_version = ""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    status, doc = 413, {"error": f"body over {MAX_BODY} bytes"}
                else:
                    body = self.rfile.read(length) if length > 0 else b""
                    try:
                        status, doc = server.handle(
                            self.command, self.path, self.headers.get("Authorization"), body
                        )
                    except Exception as exc:
                        log.exception("admin request failed")
                        status, doc = 500, {"error": type(exc).__name__}
                payload = json.dumps(doc).encode()
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

            def log_message(self, format: str, *args: Any) -> None:
                # Never log headers (the token); the path without its query string only.
                log.info(
                    "admin %s %s from %s -> %s",
                    self.command,
                    urlsplit(self.path).path,
                    self.client_address[0],
                    args[1] if len(args) > 1 else "",
                )

        return Handler
