"""Test-only HTTP front over chdb: the ClickHouse HTTP interface, enough of it for the unmodified
clickhouse-connect HTTP client (uncompressed: ``?compress=false`` in the DSN), in front of a real
ClickHouse engine (chdb, in this process). No ClickHouse server can be installed here
(../shared/notes/clickhouse.md); this lets the recorder's http:// path run against the engine.

    python tests/recorder/chdb_front.py PORT CHDB_DIR USER PASSWORD

Requests: ``query`` in the URL or the body; an INSERT's data after the statement's first line
(or the whole body when the statement is in the URL); every other URL parameter that is not
part of the protocol is a setting (``insert_deduplication_token`` included). Basic auth must
match. Errors answer 500 with ClickHouse's message, as a server does.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import clickhouse_connect

PROTOCOL = {
    "query", "database", "query_id", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "wait_end_of_query", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "enable_http_compression", "default_format",
    "user", "password", "compress", "buffer_size",
}  # fmt: skip
INSERT = re.compile(rb"\s*(INSERT\s+INTO\s+.+?\s+FORMAT\s+\w+)\s*\n", re.I | re.S)


def main() -> None:
    port, path, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    lock = threading.Lock()  # one engine handle: one statement at a time
    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, code: int = 0) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-ClickHouse-Timezone", "UTC")
            self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
            if code:
                self.send_header("X-ClickHouse-Exception-Code", str(code))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/ping":
                return self._answer(200, b"Ok.\n")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != want:
                return self._answer(401, b"Code: 516. DB::Exception: Authentication failed", 516)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            settings = {k: v for k, v in params.items() if k not in PROTOCOL}
            sql, data = params.get("query"), b""
            if sql is None:
                m = INSERT.match(body)
                if m:
                    sql, data = m.group(1).decode(), body[m.end() :]
                else:
                    sql = body.decode()
            elif body:
                data = body
            try:
                with lock:
                    out = self._run(sql, data, settings)
            except Exception as exc:
                return self._answer(500, str(exc).encode(), 1)
            self._answer(200, out)

        def _run(self, sql: str, data: bytes, settings: dict[str, str]) -> bytes:
            if re.match(r"\s*INSERT\s", sql, re.I):
                head, _, fmt = sql.rpartition(" FORMAT ")
                fd, tmp = tempfile.mkstemp(suffix=".insert")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    client.command(f"{head} FROM INFILE '{tmp}' FORMAT {fmt}", settings=settings)
                finally:
                    os.unlink(tmp)
                return b""
            return client.raw_query(sql, settings=settings)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
