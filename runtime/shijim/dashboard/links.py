"""The dashboard's I/O: runtimes' admin listeners (async HTTP/1.0 on the app's event loop) and a
TradingShard on Kubernetes (the project's own API client, ``shijim.governance.k8s_api``, called
off the event loop).

Admin requests run on the dashboard's asyncio loop, not on threads: cancelling the app cancels
them at once, so no request outlives the app. The admin listener speaks HTTP/1.0, one request per
connection, and closes; a request is bounded by ``timeout`` end to end. Snapshots come on one
connection (``GET /snapshot/stream``, a document per line), each within ``timeout`` of the
last: a runtime that stops sending is a lost link, not a quiet one. The token is sent as a
header and never printed or logged.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shijim.dashboard.wire import Publication, decode_publication

MAX_REPLY = 4 << 20  # a snapshot of 2000 codes is ~0.5 MB; more is not a snapshot
MERGE_PATCH = "application/merge-patch+json"
GROUP, VERSION, PLURAL = "shijim.io", "v1alpha1", "tradingshards"


T = TypeVar("T")


class LinkError(Exception):
    """A request that got no usable answer; the message is one line, without the token."""


async def within(aw: Awaitable[T], seconds: float) -> T:
    """``await aw``, or TimeoutError after ``seconds``. Not ``asyncio.wait_for``: on Python 3.11
    a cancel that arrives in the same loop turn as the result is swallowed by it (CPython
    gh-86296, fixed in 3.12), and a snapshot stream whose reader ignored the app's cancel ran on
    forever and held the app open at exit. ``asyncio.timeout`` lets the cancel through."""
    async with asyncio.timeout(seconds):
        return await aw


@dataclass(frozen=True)
class AdminAddress:
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def parse_admin_url(raw: str, where: str) -> AdminAddress:
    """``http://HOST:PORT`` (the admin listener has no TLS: reach it over loopback, a
    port-forward or a tunnel). Raises ValueError naming ``where``."""
    url = urllib.parse.urlsplit(raw)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"{where}: expected http://HOST:PORT, got {raw[:80]!r}")
    try:
        port = url.port
    except ValueError:
        port = None
    if port is None:
        raise ValueError(f"{where}: expected http://HOST:PORT (a port), got {raw[:80]!r}")
    if url.path not in ("", "/") or url.query:
        raise ValueError(f"{where}: expected no path, got {raw[:80]!r}")
    return AdminAddress(url.hostname, port)


class AdminLink:
    """One runtime's admin listener."""

    def __init__(self, address: AdminAddress, token: str, timeout: float = 1.0) -> None:
        self.address = address
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"AdminLink({self.address.label})"

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        try:
            return await within(self._exchange(method, path, body), self.timeout)
        except (TimeoutError, OSError) as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: BaseException) -> LinkError:
        if isinstance(exc, TimeoutError):
            return LinkError(f"no answer within {self.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return LinkError("connection refused")
        if isinstance(exc, OSError):
            return LinkError(f"{type(exc).__name__}: {exc.strerror or exc}")
        return LinkError(f"{type(exc).__name__}: {exc}"[:160])

    async def _send(
        self, method: str, path: str, body: bytes
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The reader's line limit bounds one streamed document as MAX_REPLY bounds a reply.
        reader, writer = await asyncio.open_connection(
            self.address.host, self.address.port, limit=MAX_REPLY
        )
        head = (
            f"{method} {path} HTTP/1.0\r\nHost: {self.address.label}\r\n"
            f"Authorization: Bearer {self._token}\r\nContent-Length: {len(body)}\r\n"
            "Accept: application/json\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        return reader, writer

    async def _exchange(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._send(method, path, body)
        try:
            chunks: list[bytes] = []
            size = 0
            while chunk := await reader.read(1 << 16):  # HTTP/1.0: the reply ends at EOF
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_REPLY:
                    raise LinkError(f"reply over {MAX_REPLY} bytes")
        finally:
            writer.close()
        return split_reply(b"".join(chunks))

    async def publications(self, interval_ms: int | None = None) -> AsyncIterator[Publication]:
        """The runtime's snapshots as it sends them (``GET /snapshot/stream``, every
        ``interval_ms`` or at the runtime's own rate) until the link is lost: then LinkError,
        naming why (no document within ``timeout`` of the interval, closed, refused)."""
        path = "/snapshot/stream"
        query = "" if interval_ms is None else f"?interval_ms={interval_ms}"
        gap = self.timeout + (interval_ms or 0) / 1000
        try:
            reader, writer = await within(self._send("GET", path + query, b""), self.timeout)
        except (TimeoutError, OSError) as exc:
            raise self._lost(exc) from None
        try:
            try:
                head = await within(reader.readuntil(b"\r\n\r\n"), self.timeout)
            except asyncio.IncompleteReadError:
                raise LinkError(f"GET {path}: closed before a complete header") from None
            status, _ = split_reply(head)
            if status != 200:
                rest = await within(reader.read(MAX_REPLY), self.timeout)
                raise LinkError(f"GET {path}: HTTP {status}: {error_text(rest)}")
            while True:
                line = await within(reader.readline(), gap)
                if not line.endswith(b"\n"):
                    raise LinkError(f"GET {path}: the runtime closed the stream")
                try:
                    pub = decode_publication(json.loads(line))
                except ValueError as exc:  # JSONDecodeError and WireError name the place
                    raise LinkError(f"GET {path}: bad document: {str(exc)[:160]}") from None
                yield pub
        except (TimeoutError, OSError, asyncio.LimitOverrunError) as exc:
            raise self._lost(exc) from None
        except ValueError as exc:  # readline's own: a line over the limit
            raise LinkError(f"GET {path}: {str(exc)[:160]}") from None
        finally:
            writer.close()

    async def kill_switch(self, engage: bool) -> str:
        """The DASHBOARD demand: engage (HALTED) or release. Returns the state the runtime
        reports right after it applied the request."""
        if engage:
            path, body = "/kill-switch/engage?source=dashboard", b'{"reason": "dashboard K"}'
        else:
            path, body = "/kill-switch/resume?source=dashboard", b""
        status, reply = await self.request("POST", path, body)
        if status != 200:
            raise LinkError(f"POST {path.split('?')[0]}: HTTP {status}: {error_text(reply)}")
        try:
            return str(json.loads(reply)["state"])
        except (ValueError, KeyError, TypeError):
            raise LinkError(f"POST {path.split('?')[0]}: reply without a state") from None


def split_reply(raw: bytes) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise LinkError("reply without a complete header")
    first = head.split(b"\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith(b"HTTP/") or not first[1].isdigit():
        raise LinkError(f"bad status line {head[:40]!r}")
    return int(first[1]), body


def error_text(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("error", doc))[:160] if isinstance(doc, dict) else str(doc)[:160]
    except ValueError:
        return body[:160].decode("utf-8", "replace")


# -- Kubernetes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShardEntry:
    """One pod's own report in ``status.shards.<id>`` (docs/kubernetes.md)."""

    shard_id: int
    pod: str
    trading_state: str
    acknowledged: bool
    observed_generation: int | None
    heartbeat_age_s: float | None  # from lastHeartbeat (the pod's clock) to ours


@dataclass(frozen=True, slots=True)
class TradingShardView:
    name: str
    namespace: str
    generation: int
    kill_switch: bool
    shards: int  # spec.shards
    phase: str
    conditions: Mapping[str, str]  # type -> status
    entries: tuple[ShardEntry, ...]  # one per id 0..shards-1 that reported

    def entry(self, shard_id: int) -> ShardEntry | None:
        for e in self.entries:
            if e.shard_id == shard_id:
                return e
        return None


def _age(stamp: object, now: datetime.datetime) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        at = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return max(0.0, (now - at).total_seconds())


def read_tradingshard(obj: Any, now: datetime.datetime) -> TradingShardView:
    """The parts of a TradingShard the dashboard shows (pure). Raises ValueError naming the
    field for an object that is not a TradingShard."""
    if not isinstance(obj, Mapping):
        raise ValueError("TradingShard: expected a JSON object")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        raise ValueError("TradingShard: metadata and spec must be objects")
    generation = meta.get("generation")
    if not isinstance(generation, int):
        raise ValueError("TradingShard: metadata.generation: expected an integer")
    shards = spec.get("shards", 1)
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"TradingShard: spec.shards: expected an integer >= 1, got {shards!r}")
    entries = []
    raw_shards = status.get("shards") if isinstance(status, Mapping) else None
    for key, e in (raw_shards or {}).items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(e, Mapping)):
            continue
        og = e.get("observedGeneration")
        entries.append(
            ShardEntry(
                int(key),
                str(e.get("pod", "")),
                str(e.get("tradingState", "?")),
                e.get("killSwitchAcknowledged") is True,
                og if isinstance(og, int) else None,
                _age(e.get("lastHeartbeat"), now),
            )
        )
    conditions = {
        str(c.get("type")): str(c.get("status"))
        for c in (status.get("conditions") or [] if isinstance(status, Mapping) else [])
        if isinstance(c, Mapping)
    }
    return TradingShardView(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        generation=generation,
        kill_switch=spec.get("killSwitch") is True,
        shards=shards,
        phase=str(status.get("phase", "") if isinstance(status, Mapping) else ""),
        conditions=conditions,
        entries=tuple(sorted(entries, key=lambda x: x.shard_id)),
    )


class TradingShardLink:
    """GET and merge-patch one TradingShard with ``shijim.governance.k8s_api.ApiClient``.
    Blocking (the client's own timeouts bound each call): the app calls it off its loop."""

    def __init__(self, client: Any, name: str, namespace: str, timeout: float = 2.0) -> None:
        self.client = client  # shijim.governance.k8s_api.ApiClient
        self.name = name
        self.namespace = namespace
        self.timeout = timeout
        ns = urllib.parse.quote(namespace)
        self.path = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}/{urllib.parse.quote(name)}"

    @property
    def label(self) -> str:
        return f"tradingshard {self.namespace}/{self.name}"

    def read(self) -> TradingShardView:
        return read_tradingshard(self._call("GET", None), datetime.datetime.now(datetime.UTC))

    def set_kill_switch(self, engage: bool) -> TradingShardView:
        """``spec.killSwitch`` = engage; returns the object the API server answered with."""
        body = {"spec": {"killSwitch": engage}}
        obj = self._call("PATCH", body)
        return read_tradingshard(obj, datetime.datetime.now(datetime.UTC))

    def _call(self, method: str, body: Any) -> Any:
        from shijim.governance.k8s_api import ApiUnreachable

        try:
            resp = self.client.request(
                method,
                self.path,
                body,
                content_type=MERGE_PATCH if body is not None else None,
                timeout=self.timeout,
            )
        except ApiUnreachable as exc:
            raise LinkError(str(exc)[:200]) from None
        if resp.status != 200:
            message = resp.body.get("message") if isinstance(resp.body, dict) else resp.body
            raise LinkError(f"{method} {self.label}: HTTP {resp.status}: {str(message)[:160]}")
        return resp.body
