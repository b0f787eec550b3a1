"""Where ClickHouse is: ``CLICKHOUSE_DSN`` from the environment (a Kubernetes Secret on a pod),
else the embedded engine (chdb) beside the raw directory.

A DSN carries credentials, so no part of it is ever logged, printed or written: the target's
``repr``/``str`` show only its kind, errors from the client pass through ``scrub`` before they
are logged, and the sink cursor is keyed by a hash of the location without the credentials.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

ENV_DSN = "CLICKHOUSE_DSN"
SCHEMES = ("chdb", "http", "https")
REDACTED = "<dsn>"


class DsnError(ValueError):
    """A DSN that cannot be used; the message never contains any of it."""


@dataclass(frozen=True)
class ClickHouseTarget:
    """One ClickHouse: ``kind`` is chdb (embedded, in this process) or http/https (a server)."""

    kind: str
    dsn: str = field(repr=False)
    # Fragments of the DSN that must never reach a log line (scrub replaces them).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # Identity of the location (never the credentials): names the sink cursor.
    key: str = ""

    def __repr__(self) -> str:
        return f"ClickHouseTarget(kind={self.kind!r}, dsn=<redacted>)"

    __str__ = __repr__

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    @property
    def path(self) -> str:
        """The embedded engine's directory (``chdb:///PATH``); "" for a server."""
        return self.dsn.removeprefix("chdb://") if self.embedded else ""

    def describe(self) -> str:
        """What a log line may say about the target."""
        return "embedded chdb" if self.embedded else f"ClickHouse server ({self.kind}, {ENV_DSN})"

    def scrub(self, text: str) -> str:
        """``text`` (an error message) with every fragment of the DSN replaced by <dsn>."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text


def _fragments(dsn: str) -> tuple[str, ...]:
    parts = urlsplit(dsn)
    try:
        port = str(parts.port or "")
    except ValueError:
        port = ""
    host = parts.hostname or ""
    out = {dsn, parts.netloc, parts.username or "", parts.password or "", host}
    out |= {unquote(x) for x in (parts.username or "", parts.password or "")}
    if host and port:
        out |= {f"{host}:{port}", f":{port}", f"port={port}"}
    # Longest first, so a host inside the netloc does not leave the password behind.
    return tuple(sorted((x for x in out if len(x) >= 2), key=len, reverse=True))


class ScrubLogs(logging.Filter):
    """Scrubs DSN fragments out of the log records of the client's libraries (urllib3 and
    clickhouse-connect name the host, the port and the URL in their warnings and errors)."""

    LIBRARIES = ("urllib3", "clickhouse_connect")

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[ClickHouseTarget] = []

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        for target in self.targets:
            text = target.scrub(text)
        record.msg, record.args = text, ()
        return True

    def cover(self, target: ClickHouseTarget) -> None:
        """Scrub ``target``'s DSN from the libraries' loggers (those that exist now: call it
        after importing the client)."""
        if target.secrets and target not in self.targets:
            self.targets.append(target)
        names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in self.LIBRARIES]
        for name in [*self.LIBRARIES, *names]:
            lg = logging.getLogger(name)
            if self not in lg.filters:
                lg.addFilter(self)


SCRUB_LOGS = ScrubLogs()


def target_from_env(env: Mapping[str, str], raw_dir: str | Path) -> ClickHouseTarget:
    """``CLICKHOUSE_DSN`` if set (chdb:///path, http(s)://user:pass@host:port/db), else the
    embedded engine at ``<raw_dir>/../chdb``."""
    from shijim.recorder.settings import chdb_dir

    dsn = env.get(ENV_DSN, "").strip()
    if not dsn:
        path = chdb_dir(raw_dir)
        return ClickHouseTarget("chdb", f"chdb://{path}", (), _key(f"chdb:{path}"))
    scheme = dsn.partition(":")[0].lower()
    if scheme not in SCHEMES or "://" not in dsn:
        raise DsnError(f"env {ENV_DSN}: expected chdb:///PATH or http(s)://... (value not shown)")
    parts = urlsplit(dsn)
    if scheme == "chdb":
        location = parts.path if not parts.netloc else parts.netloc.rpartition("@")[2]
        if not location or location in ("memory", ":memory:"):
            raise DsnError(f"env {ENV_DSN}: chdb needs a directory (chdb:///PATH); in-memory "
                           "tables would lose every row at exit")  # fmt: skip
        path = Path(location).resolve()
        return ClickHouseTarget("chdb", f"chdb://{path}", (), _key(f"chdb:{path}"))
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise DsnError(f"env {ENV_DSN}: the port is not a number (value not shown)") from None
    if not host:
        raise DsnError(f"env {ENV_DSN}: no host (value not shown)")
    where = f"{scheme}://{host}:{port or ''}{parts.path}"
    return ClickHouseTarget(scheme, dsn, _fragments(dsn), _key(where))


def _key(location: str) -> str:
    return hashlib.sha256(location.encode()).hexdigest()[:16]
