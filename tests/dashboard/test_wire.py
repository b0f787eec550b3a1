"""The snapshot's JSON form: what the admin listener encodes is what the dashboard decodes, NaN
is null, and a bad document names its field."""

from __future__ import annotations

import json
import math
import re

import pytest
from dashboard_fixtures import T0, fixed_snapshot
from shijim.dashboard.wire import (
    VERSION,
    WireError,
    decode_publication,
    decode_snapshot,
    encode_snapshot,
)
from shijim.domain import OrderStatus, Side


def test_round_trip_keeps_every_field() -> None:
    snap = fixed_snapshot()
    text = encode_snapshot(snap).decode()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: no NaN token
    back = decode_snapshot(json.loads(text))
    assert math.isnan(back.books["2330"].last_trade)  # NaN travels as null
    nan_free = {k: v for k, v in back.books.items() if k != "2330"}
    assert nan_free == {k: v for k, v in snap.books.items() if k != "2330"}
    assert back.working_orders == snap.working_orders
    assert [(o.side, o.status) for o in back.working_orders[:3]] == [
        (Side.BUY, OrderStatus.SUBMITTED), (Side.SELL, OrderStatus.SUBMITTED),
        (Side.BUY, OrderStatus.PART_FILLED),
    ]  # fmt: skip
    assert back.holdings == snap.holdings
    assert back.recent_rejects == snap.recent_rejects
    assert back.account == snap.account and back.account.net == 9800.0 - 650.0 - 4780.0
    for name in ("ts_ns", "state", "positions", "pnl", "counters", "demands", "rejects",
                 "strategy", "ring", "last_event_ns"):  # fmt: skip
        assert getattr(back, name) == getattr(snap, name), name


def test_a_publication_ages_on_the_runtimes_clock() -> None:
    snap = json.loads(encode_snapshot(fixed_snapshot(T0, last_event_ns=T0 - 10**9)))
    doc = {"version": VERSION, "served_ns": T0 + 2_500_000_000, "shard": {"id": 0}, "live": {},
           "snapshot": snap}  # fmt: skip
    pub = decode_publication(json.loads(json.dumps(doc)))
    assert pub.snapshot_age_s == pytest.approx(2.5)
    assert pub.event_age_s == pytest.approx(3.5)
    empty = decode_publication({**doc, "snapshot": None})
    assert empty.snapshot is None and empty.snapshot_age_s is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("version"), "document.version: missing"),
        (lambda d: d.update(version=2), "document.version: expected 1, got 2"),
        (lambda d: d["snapshot"].pop("ring"), "snapshot.ring: missing"),
        (lambda d: d["snapshot"].update(state="RUNNING"), "unknown trading state 'RUNNING'"),
        (lambda d: d["snapshot"]["books"]["rows"][1].pop(), "snapshot.books.rows[1]: expected 11"),
        (lambda d: d["snapshot"]["books"]["rows"][0].__setitem__(2, "5"),
         "snapshot.books.rows[0]: expected an integer, got str"),
        (lambda d: d["snapshot"]["working_orders"]["rows"][2].__setitem__(2, "HOLD"),
         "snapshot.working_orders.rows[2]: unknown side 'HOLD'"),
        (lambda d: d["snapshot"]["working_orders"]["rows"][0].__setitem__(6, "lost"),
         "snapshot.working_orders.rows[0]: unknown order status 'lost'"),
        (lambda d: d["snapshot"]["working_orders"]["rows"][0].__setitem__(2, 1),
         "snapshot.working_orders.rows[0]: expected a string, got int"),
        (lambda d: d["snapshot"]["working_orders"]["fields"].reverse(),
         "snapshot.working_orders.fields: expected"),
        (lambda d: d["snapshot"].update(counters=[]), "snapshot.counters: expected a JSON object"),
        (lambda d: d.update(snapshot=[]), "document.snapshot: expected a JSON object or null"),
    ],
)  # fmt: skip
def test_a_bad_document_names_the_field(change, message: str) -> None:
    doc = {"version": VERSION, "served_ns": T0, "shard": {}, "live": {},
           "snapshot": json.loads(encode_snapshot(fixed_snapshot()))}  # fmt: skip
    change(doc)
    with pytest.raises(WireError, match=re.escape(message)):
        decode_publication(doc)
