"""The JSON form of a ``SystemSnapshot`` as the admin listener serves it (``GET /snapshot``) and
the dashboard reads it: one codec for both sides.

Encoding runs on the admin listener's thread, never on the trading thread. The document::

    {"version": 1, "served_ns": ..., "shard": {...identity...}, "live": {...feed, loop...},
     "snapshot": {...} | null}

``books`` and ``working_orders`` are ``{"fields": [...], "rows": [[...], ...]}`` (a third of the
bytes of one object per row, and as readable with jq); NaN floats are ``null`` (strict JSON).
A document that does not decode raises ``WireError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from shijim.domain import OrderStatus, Side, TradingState
from shijim.strategy.snapshot import (
    AccountTotals,
    BookTop,
    Demand,
    Holding,
    RecentReject,
    RingStatus,
    StrategyState,
    SystemSnapshot,
    WorkingOrder,
)
from shijim_core import json_dumps

VERSION = 1
BOOK_FIELDS = BookTop._fields
ORDER_FIELDS = WorkingOrder._fields
HOLDING_FIELDS = Holding._fields
REJECT_FIELDS = RecentReject._fields


class WireError(ValueError):
    """A snapshot document that does not decode; the message names the field."""


def encode_snapshot(s: SystemSnapshot) -> bytes:
    """The snapshot's JSON text (its rows are frozen copies: safe on any thread). The core's
    ``json_dumps`` writes it in one pass from the rows as they are (NamedTuples; NaN as null,
    a side by its name, a status by its value): the listener's thread holds the interpreter
    lock while it encodes, ~4x shorter than building lists for ``json.dumps``
    (docs/dashboard.md#how-a-snapshot-reaches-the-screen)."""
    a, st = s.account, s.strategy
    return json_dumps(
        {
            "ts_ns": s.ts_ns,
            "state": s.state.name,
            "books": {"fields": BOOK_FIELDS, "rows": tuple(s.books.values())},
            "positions": dict(s.positions),
            "pnl": s.pnl,
            "working_orders": {"fields": ORDER_FIELDS, "rows": s.working_orders},
            "counters": dict(s.counters),
            "account": {"realised": a.realised, "unrealised": a.unrealised, "fees": a.fees},
            "holdings": {"fields": HOLDING_FIELDS, "rows": s.holdings},
            "demands": {k: {"state": d.state, "reason": d.reason} for k, d in s.demands.items()},
            "rejects": dict(s.rejects),
            "recent_rejects": {"fields": REJECT_FIELDS, "rows": s.recent_rejects},
            "strategy": {"name": st.name, "decision": st.decision, "fields": dict(st.fields)},
            "ring": {"lag": s.ring.lag, "lost": s.ring.lost, "resyncs": s.ring.resyncs},
            "last_event_ns": s.last_event_ns,
        }
    )


# -- decoding (the dashboard) ---------------------------------------------------------------------
def _get(doc: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise WireError(f"{where}.{key}: missing")
    return doc[key]


def _float(x: Any, where: str) -> float:
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise WireError(f"{where}: expected a number, got {type(x).__name__}")
    return float(x)


def _int(x: Any, where: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise WireError(f"{where}: expected an integer, got {type(x).__name__}")
    return x


def _str(x: Any, where: str) -> str:
    if not isinstance(x, str):
        raise WireError(f"{where}: expected a string, got {type(x).__name__}")
    return x


def _mapping(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    x = _get(doc, key, where)
    if not isinstance(x, Mapping):
        raise WireError(f"{where}.{key}: expected a JSON object, got {type(x).__name__}")
    return x


def _rows(doc: Mapping[str, Any], key: str, names: tuple[str, ...]) -> list[list[Any]]:
    table = _get(doc, key, "snapshot")
    got = tuple(_get(table, "fields", f"snapshot.{key}"))
    if got != names:
        raise WireError(f"snapshot.{key}.fields: expected {list(names)}, got {list(got)[:12]}")
    rows = _get(table, "rows", f"snapshot.{key}")
    if not isinstance(rows, list):
        raise WireError(f"snapshot.{key}.rows: expected a list")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise WireError(f"snapshot.{key}.rows[{i}]: expected {len(names)} values")
    return rows


def _side(x: Any, where: str) -> Side:
    name = _str(x, where)
    if name not in Side.__members__:
        raise WireError(f"{where}: unknown side {name[:20]!r}")
    return Side[name]


def _status(x: Any, where: str) -> OrderStatus:
    try:
        return OrderStatus(_str(x, where))
    except ValueError:
        raise WireError(f"{where}: unknown order status {str(x)[:20]!r}") from None


# Each table's field names and per-column check, from its row type's own annotations.
_CHECKS: dict[type, Callable[[Any, str], Any]] = {
    str: _str,
    int: _int,
    float: _float,
    Side: _side,
    OrderStatus: _status,
}
_TABLES: dict[type, tuple[tuple[str, ...], tuple[Callable[[Any, str], Any], ...]]] = {
    cls: (names, tuple(_CHECKS[get_type_hints(cls)[n]] for n in names))
    for cls, names in (
        (BookTop, BOOK_FIELDS),
        (WorkingOrder, ORDER_FIELDS),
        (Holding, HOLDING_FIELDS),
        (RecentReject, REJECT_FIELDS),
    )
}


def _decode_table(doc: Mapping[str, Any], key: str, cls: type) -> list[Any]:
    names, checks = _TABLES[cls]
    out = []
    for i, r in enumerate(_rows(doc, key, names)):
        w = f"snapshot.{key}.rows[{i}]"
        out.append(cls(*(check(x, w) for check, x in zip(checks, r, strict=True))))
    return out


def decode_snapshot(doc: Mapping[str, Any]) -> SystemSnapshot:
    where = "snapshot"
    state_name = _str(_get(doc, "state", where), "snapshot.state")
    if state_name not in TradingState.__members__:
        raise WireError(f"snapshot.state: unknown trading state {state_name[:20]!r}")
    books = {b.code: b for b in _decode_table(doc, "books", BookTop)}
    orders = _decode_table(doc, "working_orders", WorkingOrder)
    holdings = _decode_table(doc, "holdings", Holding)
    recent = _decode_table(doc, "recent_rejects", RecentReject)
    acc = _mapping(doc, "account", where)
    demands = {
        _str(k, "snapshot.demands"): Demand(
            _str(_get(d, "state", f"snapshot.demands.{k}"), f"snapshot.demands.{k}.state"),
            _str(_get(d, "reason", f"snapshot.demands.{k}"), f"snapshot.demands.{k}.reason"),
        )
        for k, d in _mapping(doc, "demands", where).items()
    }
    strat = _mapping(doc, "strategy", where)
    ring = _mapping(doc, "ring", where)
    return SystemSnapshot(
        ts_ns=_int(_get(doc, "ts_ns", where), "snapshot.ts_ns"),
        state=TradingState[state_name],
        books=books,
        positions={
            _str(k, "snapshot.positions"): _int(v, f"snapshot.positions.{k}")
            for k, v in _mapping(doc, "positions", where).items()
        },
        pnl=_float(_get(doc, "pnl", where), "snapshot.pnl"),
        working_orders=tuple(orders),
        counters={
            _str(k, "snapshot.counters"): _int(v, f"snapshot.counters.{k}")
            for k, v in _mapping(doc, "counters", where).items()
        },
        account=AccountTotals(
            _float(_get(acc, "realised", "snapshot.account"), "snapshot.account.realised"),
            _float(_get(acc, "unrealised", "snapshot.account"), "snapshot.account.unrealised"),
            _float(_get(acc, "fees", "snapshot.account"), "snapshot.account.fees"),
        ),
        holdings=tuple(holdings),
        demands=demands,
        rejects={
            _str(k, "snapshot.rejects"): _int(v, f"snapshot.rejects.{k}")
            for k, v in _mapping(doc, "rejects", where).items()
        },
        recent_rejects=tuple(recent),
        strategy=StrategyState(
            _str(_get(strat, "name", "snapshot.strategy"), "snapshot.strategy.name"),
            _str(_get(strat, "decision", "snapshot.strategy"), "snapshot.strategy.decision"),
            dict(_mapping(strat, "fields", "snapshot.strategy")),
        ),
        ring=RingStatus(
            _int(_get(ring, "lag", "snapshot.ring"), "snapshot.ring.lag"),
            _int(_get(ring, "lost", "snapshot.ring"), "snapshot.ring.lost"),
            _int(_get(ring, "resyncs", "snapshot.ring"), "snapshot.ring.resyncs"),
        ),
        last_event_ns=_int(_get(doc, "last_event_ns", where), "snapshot.last_event_ns"),
    )


@dataclass(frozen=True, slots=True)
class Publication:
    """One answer of ``GET /snapshot``: who serves it, what the process says live (read on the
    listener's thread when it answered), and the trading thread's latest snapshot."""

    served_ns: int  # the runtime's wall clock when it answered
    shard: Mapping[str, Any]  # id, total, tradingshard, ring, pid, feed, strategy
    live: Mapping[str, Any]  # feed_connected, feed_degraded, feed_finished, loop_age_s
    snapshot: SystemSnapshot | None  # None: publishing just started (or the loop is stuck)

    @property
    def snapshot_age_s(self) -> float | None:
        """How old the snapshot was when served (one clock: the runtime's)."""
        if self.snapshot is None:
            return None
        return max(0.0, (self.served_ns - self.snapshot.ts_ns) / 1e9)

    @property
    def event_age_s(self) -> float | None:
        """How old the newest market event was when served; None before the first."""
        if self.snapshot is None or not self.snapshot.last_event_ns:
            return None
        return max(0.0, (self.served_ns - self.snapshot.last_event_ns) / 1e9)


def decode_publication(doc: Any) -> Publication:
    if not isinstance(doc, Mapping):
        raise WireError("document: expected a JSON object")
    version = _get(doc, "version", "document")
    if version != VERSION:
        raise WireError(f"document.version: expected {VERSION}, got {str(version)[:20]}")
    shard = _mapping(doc, "shard", "document")
    live = _mapping(doc, "live", "document")
    snap = _get(doc, "snapshot", "document")
    if snap is not None and not isinstance(snap, Mapping):
        raise WireError("document.snapshot: expected a JSON object or null")
    return Publication(
        served_ns=_int(_get(doc, "served_ns", "document"), "document.served_ns"),
        shard=dict(shard),
        live=dict(live),
        snapshot=None if snap is None else decode_snapshot(snap),
    )
