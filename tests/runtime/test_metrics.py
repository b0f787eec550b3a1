"""ShardMetrics: every documented name, the shard label, and the HTTP endpoint."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from ring_fixture import Ring, publish_market_data
from shijim.bus.validation import BadInputCause
from shijim.domain import RejectReason
from shijim.events.record import RecordType
from shijim.metrics import OrderAction, ShardMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _exercise(m: ShardMetrics, ring: Ring) -> None:
    m.watch_publications(ring.writer)
    publish_market_data(ring.writer, "bidask", 1_700_000_000_000_000_000)
    m.md_bad_input("crossed_book")
    m.feed_connected(True)
    m.feed_degraded(False)
    m.ring_reader("strategy", 3, 2)
    ex = m.execution
    ex.accepted += 1
    ex.places += 1
    ex.fills += 1
    m.risk_reject("rate_limit")
    m.trading_state(2)
    ex.positions["TXFL6"] = -1
    ex.pnl = 1234.5
    m.tick_to_order(15e-6)
    m.recorder_fallback(False)
    m.k8s_api_reachable(True)


def test_every_series_has_the_shard_label_and_is_documented(ring: Ring) -> None:
    m = ShardMetrics(3)
    _exercise(m, ring)
    text = generate_latest(m.registry).decode()
    documented = set(re.findall(r"`(shijim_[a-z0-9_]+)`", DOC.read_text()))
    names = set()
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        assert 'shard="3"' in line, line
        name = re.match(r"[a-z0-9_]+", line).group(0)
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        names.add(base)
    assert names <= documented, names - documented
    assert "_created" not in text
    assert 'shijim_kill_switch_engaged{shard="3"} 1.0' in text
    assert 'shijim_ring_lost_messages_total{reader="strategy",shard="3"} 2.0' in text
    assert 'shijim_tick_to_order_seconds_bucket{le="2e-05",shard="3"} 1.0' in text
    assert 'shijim_md_last_event_timestamp_seconds{shard="3"} 1.7e+09' in text


def test_queued_samples_are_observed_once_each_on_registry_reads() -> None:
    m = ShardMetrics(0)
    m.tick_to_order(15e-6)
    m.tick_to_order(3e-3)
    first = generate_latest(m.registry).decode()
    assert 'shijim_tick_to_order_seconds_count{shard="0"} 2.0' in first
    m.tick_to_order(40e-6)
    again = generate_latest(m.registry).decode()
    assert 'shijim_tick_to_order_seconds_count{shard="0"} 3.0' in again  # none observed twice
    assert 'shijim_tick_to_order_seconds_bucket{le="5e-05",shard="0"} 2.0' in again


def test_serve_answers_over_http() -> None:
    m = ShardMetrics("0")
    server = m.serve(0)
    try:
        assert server.server_address[0] == "127.0.0.1"  # loopback unless told (issue 7, item 10)
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert 'shijim_orders_total{shard="0"} 0.0' in body
    finally:
        server.shutdown()
        server.server_close()


# Every label value the runtime knows, from the enums that define it (issue 7, item 11).
KNOWN_LABELS = {
    "shijim_md_events_total": ("type", RecordType),
    "shijim_md_bad_input_total": ("cause", BadInputCause),
    "shijim_order_actions_total": ("action", OrderAction),
    "shijim_risk_rejects_total": ("reason", RejectReason),
}


@pytest.mark.parametrize("name", sorted(KNOWN_LABELS))
def test_every_known_label_value_has_a_series_at_zero_from_the_start(name: str) -> None:
    m = ShardMetrics(1)
    label, enum = KNOWN_LABELS[name]
    for member in enum:
        value = m.registry.get_sample_value(name, {"shard": "1", label: member.value})
        assert value == 0.0, f"{name}{{{label}={member.value!r}}}: {value}"


def test_a_declared_ring_reader_has_lag_and_lost_series_at_zero() -> None:
    m = ShardMetrics(0)
    m.declare_reader("strategy")
    labels = {"shard": "0", "reader": "strategy"}
    assert m.registry.get_sample_value("shijim_ring_lost_messages_total", labels) == 0.0
    assert m.registry.get_sample_value("shijim_ring_lag_messages", labels) == 0.0
    m.ring_reader("strategy", 10, 3)  # the first loss moves the existing series 0 -> 3
    assert m.registry.get_sample_value("shijim_ring_lost_messages_total", labels) == 3.0


def test_timestamp_and_watcher_gauges_appear_with_their_first_value(ring: Ring) -> None:
    """A 0 would mean "last event in 1970" (ShijimMarketDataMissing could never fire, the
    staleness alert fired instead) and "API unreachable" on a runtime that has no watcher."""
    m = ShardMetrics(0)
    get = m.registry.get_sample_value
    assert get("shijim_md_last_event_timestamp_seconds", {"shard": "0"}) is None
    assert get("shijim_k8s_api_reachable", {"shard": "0"}) is None
    m.watch_publications(ring.writer)
    assert get("shijim_md_last_event_timestamp_seconds", {"shard": "0"}) is None
    publish_market_data(ring.writer, "tick", 1_700_000_000_000_000_000)
    m.k8s_api_reachable(False)
    assert get("shijim_md_last_event_timestamp_seconds", {"shard": "0"}) == 1.7e9
    assert get("shijim_k8s_api_reachable", {"shard": "0"}) == 0.0
    assert m.last_event_ns == 1_700_000_000_000_000_000 and m.k8s_reachable is False


def test_market_data_counts_are_exported_once_however_often_the_registry_is_read(
    ring: Ring,
) -> None:
    """The ring writer keeps running totals of what it published (RingWriter.publications); each
    read of the registry adds what is new since the last one to the counter, so reads in a row
    export nothing twice."""
    m = ShardMetrics(0)
    get = m.registry.get_sample_value
    count = {"shard": "0", "type": "bidask"}
    m.watch_publications(ring.writer)
    publish_market_data(ring.writer, "bidask", 1_700_000_000_000_000_000, 3)
    assert get("shijim_md_events_total", count) == 3
    assert get("shijim_md_events_total", count) == 3  # read again: nothing new
    publish_market_data(ring.writer, "bidask", 1_700_000_000_000_000_001)
    publish_market_data(ring.writer, "tick", 1_700_000_000_000_000_002, 2)
    assert get("shijim_md_events_total", count) == 4
    assert get("shijim_md_events_total", {"shard": "0", "type": "tick"}) == 2
    assert ring.writer.publications.by_type == {"bidask": 4, "tick": 2}
    assert m.last_event_ns == 1_700_000_000_000_000_002
    ring.writer.close()  # a stopped shard's last scrape still reads what was published
    assert get("shijim_md_events_total", count) == 4 and m.last_event_ns > 0


def test_execution_counts_are_exported_once_and_marks_as_they_stand() -> None:
    """The risk gateway keeps running totals and the latest marks (ExecutionTally); a read of
    the registry adds what is new to the counters and sets the gauges to the latest values."""
    m = ShardMetrics(0)
    get = m.registry.get_sample_value
    sh = {"shard": "0"}
    ex = m.execution
    ex.places, ex.amends, ex.accepted, ex.fills = 3, 2, 3, 1
    ex.positions["MXFL6"] = -1
    ex.pnl = -250.0
    for _ in range(2):  # the second read finds nothing new
        assert get("shijim_order_actions_total", sh | {"action": "place"}) == 3
        assert get("shijim_order_actions_total", sh | {"action": "amend"}) == 2
        assert get("shijim_order_actions_total", sh | {"action": "cancel"}) == 0
        assert get("shijim_orders_total", sh) == 3
        assert get("shijim_fills_total", sh) == 1
    ex.cancels += 1
    ex.fills += 2
    ex.positions["MXFL6"] = 1
    ex.pnl = 400.0
    assert get("shijim_order_actions_total", sh | {"action": "cancel"}) == 1
    assert get("shijim_fills_total", sh) == 3
    assert get("shijim_position", sh | {"code": "MXFL6"}) == 1
    assert get("shijim_pnl", sh) == 400.0
