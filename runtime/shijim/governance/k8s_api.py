"""A minimal Kubernetes API client on the standard library (http.client + ssl).

The runtime needs three calls against its own TradingShard (GET, WATCH, PATCH status); a small
client keeps the runtime image free of the `kubernetes` package and gives exact control over
timeouts, which the API-grace policy depends on. Credentials: the pod's service-account token
(re-read on every connection, since bound tokens rotate) or $KUBECONFIG for tests and laptops.
Tokens are sent as headers only, never logged.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ApiConfigError(ValueError):
    """The API endpoint cannot be configured; names the source and the field."""


class ApiUnreachable(OSError):
    """No HTTP answer from the API server (connection refused, reset, timed out)."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any


@dataclass(frozen=True)
class ApiEndpoint:
    server: str  # scheme://host:port
    token: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None

    def auth_header(self) -> dict[str, str]:
        token = self.token
        if self.token_file:
            token = Path(self.token_file).read_text(encoding="utf-8").strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert and self.client_key:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


def in_cluster_endpoint(env: Mapping[str, str], sa_dir: Path = SA_DIR) -> ApiEndpoint | None:
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token = sa_dir / "token"
    if not host or not port or not token.exists():
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6 service address
    return ApiEndpoint(
        server=f"https://{host}:{port}",
        token_file=str(token),
        ca_file=str(sa_dir / "ca.crt"),
    )


def _data_file(data: str, suffix: str) -> str:
    # ssl wants files; /tmp is a private emptyDir in the pod. 0600 by mkstemp.
    fd, path = tempfile.mkstemp(prefix="shijim-kube-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return path


def kubeconfig_endpoint(path: str) -> ApiEndpoint:
    """The current context of a kubeconfig file (token, CA and client certificates)."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ApiConfigError(f"kubeconfig {path}: cannot read: {exc}") from None
    if not isinstance(doc, dict):
        raise ApiConfigError(f"kubeconfig {path}: expected a mapping")

    def named(section: str, name: str) -> dict[str, Any]:
        for item in doc.get(section) or []:
            if isinstance(item, dict) and item.get("name") == name:
                return dict(item.get(section[:-1]) or {})
        raise ApiConfigError(f"kubeconfig {path}: {section} has no entry named {name!r}")

    current = doc.get("current-context")
    if not isinstance(current, str) or not current:
        raise ApiConfigError(f"kubeconfig {path}: current-context is not set")
    ctx = named("contexts", current)
    cluster = named("clusters", str(ctx.get("cluster", "")))
    user = named("users", str(ctx.get("user", ""))) if ctx.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ApiConfigError(f"kubeconfig {path}: clusters[{ctx.get('cluster')}].server invalid")
    if "exec" in user or "auth-provider" in user:
        raise ApiConfigError(
            f"kubeconfig {path}: users[{ctx.get('user')}] uses exec/auth-provider credentials, "
            "which the runtime does not run; use a token or client certificates"
        )
    ca = cluster.get("certificate-authority")
    if cluster.get("certificate-authority-data"):
        ca = _data_file(cluster["certificate-authority-data"], ".crt")
    cert, key = user.get("client-certificate"), user.get("client-key")
    if user.get("client-certificate-data"):
        cert = _data_file(user["client-certificate-data"], ".crt")
    if user.get("client-key-data"):
        key = _data_file(user["client-key-data"], ".key")
    return ApiEndpoint(
        server=server.rstrip("/"),
        token=user.get("token"),
        token_file=user.get("tokenFile"),
        ca_file=ca,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        client_cert=cert,
        client_key=key,
    )


def endpoint_from_environment(env: Mapping[str, str] | None = None) -> ApiEndpoint:
    """In-cluster service account first, then $KUBECONFIG, then ~/.kube/config."""
    env = os.environ if env is None else env
    endpoint = in_cluster_endpoint(env)
    if endpoint is not None:
        return endpoint
    path = env.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    return kubeconfig_endpoint(path)


class ApiClient:
    """One request per connection: simple, and a broken connection never poisons the next."""

    def __init__(self, endpoint: ApiEndpoint, user_agent: str = "shijim-runtime") -> None:
        self.endpoint = endpoint
        parsed = urllib.parse.urlsplit(endpoint.server)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (443 if self._https else 80)
        self._ssl = endpoint.ssl_context()
        self._user_agent = user_agent
        self._stream_lock = threading.Lock()
        self._stream_conn: http.client.HTTPConnection | None = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        headers.update(self.endpoint.auth_header())
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        timeout: float = 5.0,
    ) -> ApiResponse:
        conn = self._connect(timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers=self._headers(content_type))
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ApiUnreachable(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return ApiResponse(resp.status, data)

    def stream(self, path: str, read_timeout: float) -> Iterator[dict[str, Any]]:
        """Yield watch events (one JSON object per line). Ends when the server closes the
        stream; raises ApiUnreachable on a broken or silent (> read_timeout) connection."""
        conn = self._connect(read_timeout)
        with self._stream_lock:
            self._stream_conn = conn
        try:
            try:
                conn.request("GET", path, headers=self._headers())
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise ApiUnreachable(f"WATCH {path}: {exc.__class__.__name__}: {exc}") from None
            if resp.status != 200:
                body = resp.read()[:300].decode("utf-8", "replace")
                yield {"type": "ERROR", "object": {"code": resp.status, "message": body}}
                return
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    raise ApiUnreachable(f"WATCH {path}: {exc.__class__.__name__}") from None
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    yield {"type": "BAD", "object": {"line": line[:200].decode("utf-8", "replace")}}
                    continue
                yield event if isinstance(event, dict) else {"type": "BAD", "object": {}}
        finally:
            with self._stream_lock:
                self._stream_conn = None
            conn.close()

    def abort_stream(self) -> None:
        """Unblock a stream read from another thread (used by stop())."""
        with self._stream_lock:
            conn = self._stream_conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
