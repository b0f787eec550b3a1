"""ShardMetrics: every documented name, the shard label, and the HTTP endpoint."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from prometheus_client import generate_latest
from shijim.metrics import ShardMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _exercise(m: ShardMetrics) -> None:
    m.md_event("bidask", 1_700_000_000_000_000_000)
    m.md_bad_input("crossed_book")
    m.feed_connected(True)
    m.feed_degraded(False)
    m.ring_reader("strategy", 3, 2)
    m.order_accepted()
    m.order_action("place")
    m.fill()
    m.risk_reject("rate_limit")
    m.trading_state(2)
    m.position("TXFL6", -1)
    m.pnl(1234.5)
    m.tick_to_order(15e-6)
    m.recorder_fallback(False)
    m.k8s_api_reachable(True)


def test_every_series_has_the_shard_label_and_is_documented() -> None:
    m = ShardMetrics(3)
    _exercise(m)
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


def test_serve_answers_over_http() -> None:
    m = ShardMetrics("0")
    server = m.serve(0, "127.0.0.1")
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert 'shijim_orders_total{shard="0"} 0.0' in body
    finally:
        server.shutdown()
        server.server_close()
