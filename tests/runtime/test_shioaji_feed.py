"""Shioaji live adapter, fed with REAL shioaji 1.7.9 quote objects built offline.

The one fake here is ``FakeShioajiClient``: a hand-written double of only the ``sj.Shioaji``
client object (login, callback setters, subscribe), because a broker login needs the network
and cannot run in tests. Everything that passes through it is real: quote objects
(``from_msgpack``), contracts (``sj.Future`` / ``sj.Stock``), enums, and the shared-memory ring.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from decimal import Decimal
from typing import Any

import pytest
import shioaji as sj
import shioaji_objects as so
from prometheus_client import generate_latest
from ring_fixture import Ring, fresh_ring, ring  # noqa: F401  (pytest fixture)
from shijim.bus import Ingestor
from shijim.gateway.shioaji_feed import (
    EVENT_DOWN,
    EVENT_RECONNECTED,
    EVENT_RECONNECTING,
    EVENT_UP,
    QuoteKind,
    ShioajiFeedConfig,
    ShioajiMarketData,
    plan_subscriptions,
)
from shijim.gateway.shioaji_session import (
    ShioajiCredentials,
    ShioajiLoginError,
    ShioajiSession,
)
from shijim.gateway.taipei_time import taipei_naive_to_utc_ns, utc_ns_to_taipei
from shijim.metrics import ShardMetrics
from shioaji_objects import FakeShioajiClient

WHEN = so.DEFAULT_WHEN  # 2026-11-24 09:30:00.123456 Asia/Taipei
WHEN_NS = 1_795_483_800_123_456_000  # 2026-11-24 01:30:00.123456 UTC
LOCAL_NS = WHEN_NS + 1_500_000  # received 1.5 ms later


class Clock:
    def __init__(self) -> None:
        self.ns = LOCAL_NS
        self.mono = 1000.0

    def __call__(self) -> int:
        return self.ns


def _metric(m: ShardMetrics, text: str) -> float:
    for line in generate_latest(m.registry).decode().splitlines():
        if line.startswith(text):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _feed(
    ring_: Ring, codes: list[str], config: ShioajiFeedConfig | None = None
) -> tuple[ShioajiMarketData, FakeShioajiClient, Ingestor, ShardMetrics, Clock]:
    clients: list[FakeShioajiClient] = []

    def factory(simulation: bool) -> FakeShioajiClient:
        clients.append(FakeShioajiClient(simulation))
        return clients[-1]

    session = ShioajiSession(simulation=True, client_factory=factory)
    session.login(ShioajiCredentials("key", "secret"))
    clock = Clock()
    m = ShardMetrics(0)
    ing = Ingestor(ring_.writer, universe=codes, metrics=m, clock_ns=clock)
    feed = ShioajiMarketData(
        session, codes, config, metrics=m, clock_ns=clock, monotonic=lambda: clock.mono
    )
    feed.start(ing)
    return feed, clients[0], ing, m, clock


CODES = ["TXFL6", "MXFL6", "2330", "2317"]


def test_timestamps_exact_utc_ns() -> None:
    assert taipei_naive_to_utc_ns(WHEN) == WHEN_NS
    assert utc_ns_to_taipei(WHEN_NS) == WHEN
    # Sub-microsecond exactness at large values, no float rounding.
    late = dt.datetime(2099, 12, 31, 23, 59, 59, 999999)
    assert utc_ns_to_taipei(taipei_naive_to_utc_ns(late)) == late
    with pytest.raises(ValueError, match="naive"):
        taipei_naive_to_utc_ns(WHEN.replace(tzinfo=dt.UTC))


def test_start_registers_callbacks_and_subscribes(ring: Ring) -> None:  # noqa: F811
    feed, client, _, m, _ = _feed(ring, CODES)
    assert set(client.callbacks) == {
        "set_on_tick_fop_v1_callback", "set_on_bidask_fop_v1_callback",
        "set_on_tick_stk_v1_callback", "set_on_bidask_stk_v1_callback", "set_event_callback",
    }  # fmt: skip
    assert client.subscribed == [
        (c, q) for c in CODES for q in (sj.QuoteType.Tick, sj.QuoteType.BidAsk)
    ]
    assert _metric(m, 'shijim_feed_connected{shard="0"}') == 1
    feed.stop()
    assert len(client.unsubscribed) == 8 and feed.finished
    assert _metric(m, 'shijim_feed_connected{shard="0"}') == 0


def test_fop_tick_and_bidask_into_ring(ring: Ring) -> None:  # noqa: F811
    _, client, ing, _, _ = _feed(ring, CODES)
    client.callbacks["set_on_tick_fop_v1_callback"](so.tick_fop("TXFL6", close="23001.5"))
    # Legacy two-argument form fn(exchange, quote) is accepted too.
    client.callbacks["set_on_bidask_fop_v1_callback"](sj.Exchange.TAIFEX, so.bidask_fop("TXFL6"))
    tick, book = ring.records()
    assert tick == {
        "type": "tick", "code": "TXFL6", "exch_ts": WHEN_NS, "local_ts": LOCAL_NS, "seq": 0,
        "price": Decimal("23001.5"), "volume": 2, "total_volume": 500, "tick_type": 1,
        "simtrade": False,
    }  # fmt: skip
    assert book["bid_price"] == [Decimal(x) for x in ("23000", "22999", "22998", "22997", "22996")]
    assert book["ask_volume"] == [4, 5, 6, 7, 8] and book["exch_ts"] == WHEN_NS
    assert ing.bad.counts == {}


def test_stk_tick_and_bidask_into_ring(ring: Ring) -> None:  # noqa: F811
    _, client, _, _, _ = _feed(ring, CODES)
    client.callbacks["set_on_tick_stk_v1_callback"](
        so.tick_stk("2330", close="1005", simtrade=True)
    )
    client.callbacks["set_on_bidask_stk_v1_callback"](so.bidask_stk("2317", bid_price=(
        "180.5", "180", "179.5", "179", "178.5"), ask_price=(
        "181", "181.5", "182", "182.5", "183")))  # fmt: skip
    tick, book = ring.records()
    # simtrade (trial matching) is kept and flagged, never turned into a plain trade.
    assert tick["code"] == "2330" and tick["simtrade"] is True and tick["price"] == Decimal("1005")
    assert tick["tick_type"] == 2
    assert book["code"] == "2317" and book["bid_price"][0] == Decimal("180.5")


def test_malformed_objects_are_dropped_and_the_thread_survives(
    ring: Ring,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, client, ing, m, _ = _feed(ring, CODES)
    on_tick = client.callbacks["set_on_tick_fop_v1_callback"]
    on_book = client.callbacks["set_on_bidask_stk_v1_callback"]
    bad = [
        so.tick_fop("TXFL6", volume="not-an-int"),  # PanicException when .volume is read
        so.tick_fop("TXFL6", tick_type="x"),
        so.tick_fop("TXFL6", simtrade="maybe"),
    ]
    outcome: list[str] = []

    def broker_thread() -> None:
        for obj in bad:
            on_tick(obj)
        on_book(so.bidask_stk("2330", bid_volume=("a", 1, 1, 1, 1)))
        on_tick(so.tick_fop("TXFL6", close="23002"))  # a good one after the bad ones
        outcome.append("survived")

    with caplog.at_level(logging.WARNING):
        t = threading.Thread(target=broker_thread)
        t.start()
        t.join(10)
    assert outcome == ["survived"]
    assert ing.bad.counts == {"malformed": 4}
    assert _metric(m, 'shijim_md_bad_input_total{cause="malformed",shard="0"}') == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per cause
    assert "field volume" in warnings[0] and "shioaji tick #1 TXFL6" in warnings[0]
    assert "PanicException" in warnings[0]
    (rec,) = ring.records()
    assert rec["price"] == Decimal("23002")


def test_silent_shioaji_defaults_are_caught(ring: Ring) -> None:  # noqa: F811
    _, client, ing, _, _ = _feed(ring, CODES)
    on_tick = client.callbacks["set_on_tick_fop_v1_callback"]
    on_tick(so.tick_fop("TXFL6", date="garbage"))  # Shioaji reads it as 2000-01-01
    on_tick(so.tick_fop("TXFL6", close="abc"))  # Shioaji reads it as Decimal(0)
    on_tick(so.tick_fop("TXFL6", close="-5"))
    client.callbacks["set_on_bidask_fop_v1_callback"](
        so.bidask_fop("TXFL6", bid_price=("23002", "22999", "22998", "22997", "22996"))
    )
    assert ing.bad.counts == {"bad_timestamp": 1, "nonpositive_price": 2, "crossed_book": 1}
    assert ring.records() == []


def test_unknown_code_from_broker(ring: Ring) -> None:  # noqa: F811
    _, client, ing, _, _ = _feed(ring, ["TXFL6"])
    client.callbacks["set_on_tick_fop_v1_callback"](so.tick_fop("MXFL6"))
    assert ing.bad.counts == {"unknown_code": 1}


def test_unknown_contract_is_not_subscribed(ring: Ring) -> None:  # noqa: F811
    feed, client, ing, _, _ = _feed(ring, ["TXFL6", "NOPE1"])
    assert [c for c, _ in client.subscribed] == ["TXFL6", "TXFL6"]
    assert ing.bad.counts == {"unknown_code": 1}
    assert {s.code for s in feed.subscribed} == {"TXFL6"}
    # A reconnect resubscribes the known codes without counting the unknown one again.
    client.callbacks["set_event_callback"](0, EVENT_DOWN, "", "down")
    client.callbacks["set_event_callback"](0, EVENT_RECONNECTED, "", "up")
    feed.poll()
    assert [c for c, _ in client.subscribed] == ["TXFL6"] * 4
    assert ing.bad.counts == {"unknown_code": 1}


def test_subscription_limit() -> None:
    codes = [f"C{i}" for i in range(150)]
    plan = plan_subscriptions(codes, (QuoteKind.TICK, QuoteKind.BIDASK), 200)
    assert len(plan.accepted) == 200 and {s.code for s in plan.accepted} == set(codes[:100])
    assert len(plan.refused) == 100 and {s.code for s in plan.refused} == set(codes[100:])
    # A code gets both kinds or none.
    odd = plan_subscriptions(codes[:3], (QuoteKind.TICK, QuoteKind.BIDASK), 5)
    assert [s.code for s in odd.accepted] == ["C0", "C0", "C1", "C1"]


def test_over_the_limit_is_refused_and_counted(
    ring: Ring,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    codes = [f"{n:04d}" for n in range(3000, 3150)]
    with caplog.at_level(logging.ERROR):
        _, client, ing, m, _ = _feed(ring, codes)
    assert len(client.subscribed) == 200
    assert ing.bad.counts == {"subscription_limit": 100}
    assert _metric(m, 'shijim_md_bad_input_total{cause="subscription_limit",shard="0"}') == 100
    assert any("50 of 150 codes not subscribed" in r.getMessage() for r in caplog.records)


def test_disconnect_degrade_reconnect_resubscribe(ring: Ring) -> None:  # noqa: F811
    cfg = ShioajiFeedConfig(degrade_after_s=30)
    feed, client, _, m, clock = _feed(ring, CODES, cfg)
    on_event = client.callbacks["set_event_callback"]
    assert len(client.subscribed) == 8
    on_event(0, EVENT_DOWN, "", "Session down")
    on_event(0, EVENT_RECONNECTING, "", "Reconnecting")
    assert not feed.connected and _metric(m, 'shijim_feed_connected{shard="0"}') == 0
    clock.mono += 29
    feed.poll()
    assert not feed.degraded
    clock.mono += 2
    feed.poll()
    assert feed.degraded and _metric(m, 'shijim_feed_degraded{shard="0"}') == 1
    on_event(0, EVENT_RECONNECTED, "", "Reconnected")
    assert feed.connected and not feed.degraded
    assert _metric(m, 'shijim_feed_degraded{shard="0"}') == 0
    assert len(client.subscribed) == 8  # resubscribing happens in poll(), not the event thread
    feed.poll()
    assert len(client.subscribed) == 16 and client.subscribed[8:] == client.subscribed[:8]
    feed.poll()
    assert len(client.subscribed) == 16  # once per reconnect
    on_event(0, EVENT_UP, "", "Session up")  # an up while up: nothing to redo
    feed.poll()
    assert len(client.subscribed) == 16
    gap, rec = ring.records()
    assert gap["event"] == "feed_gap" and rec["event"] == "reconnect" and rec["count"] == 1


def test_event_callback_never_raises(ring: Ring) -> None:  # noqa: F811
    _, client, _, _, _ = _feed(ring, CODES)
    client.callbacks["set_event_callback"](0, "not-a-code", None, None)


def test_credentials_from_env_and_hidden() -> None:
    assert ShioajiCredentials.from_env({}) is None
    c = ShioajiCredentials.from_env({"SHIOAJI_API_KEY": "AKEY", "SHIOAJI_SECRET_KEY": "SKEY"})
    assert c is not None and "AKEY" not in repr(c) and "SKEY" not in repr(c)
    with pytest.raises(ShioajiLoginError, match="SHIOAJI_SECRET_KEY not set"):
        ShioajiCredentials.from_env({"SHIOAJI_API_KEY": "AKEY"})


def test_session_login_shares_api_and_accounts(caplog: pytest.LogCaptureFixture) -> None:
    session = ShioajiSession(simulation=True, client_factory=lambda sim: FakeShioajiClient(sim))
    with caplog.at_level(logging.DEBUG):
        accounts = session.login(ShioajiCredentials("AKEY-123", "SKEY-456"))
    assert accounts == ["STOCK-ACCOUNT", "FUTOPT-ACCOUNT"]
    assert session.api.simulation is True
    assert session.futopt_account == "FUTOPT-ACCOUNT" and session.stock_account == "STOCK-ACCOUNT"
    assert session.contract("TXFL6").code == "TXFL6" and session.contract("ZZZ") is None
    assert all("KEY-" not in r.getMessage() for r in caplog.records)
    session.logout()
    assert not session.logged_in


def test_session_login_failure_names_no_key() -> None:
    session = ShioajiSession(client_factory=lambda sim: FakeShioajiClient(sim, fail_login=True))
    with pytest.raises(ShioajiLoginError) as exc:
        session.login(ShioajiCredentials("AKEY-123", "SKEY-456"))
    assert "KEY-" not in str(exc.value) and "production" in str(exc.value)
    assert not session.logged_in


def test_production_login_needs_a_ca_and_activates_it() -> None:
    env = {"SHIOAJI_API_KEY": "k" * 8, "SHIOAJI_SECRET_KEY": "s" * 8}
    clients: list[FakeShioajiClient] = []

    def factory(simulation: bool, ca_ok: bool = True) -> FakeShioajiClient:
        clients.append(FakeShioajiClient(simulation, ca_ok=ca_ok))
        return clients[-1]

    # Production without a CA: refused before any connection is made (orders would all fail).
    with pytest.raises(ShioajiLoginError, match="SHIOAJI_CA_PATH") as info:
        ShioajiSession(simulation=False, client_factory=factory).login(
            ShioajiCredentials.from_env(env)
        )
    assert not clients and "k" * 8 not in str(info.value)

    env |= {
        "SHIOAJI_CA_PATH": "/secrets/ca.pfx",
        "SHIOAJI_CA_PASSWORD": "pw",
        "SHIOAJI_PERSON_ID": "A1",
    }
    creds = ShioajiCredentials.from_env(env)
    assert "pw" not in repr(creds) and "/secrets" not in repr(creds)
    session = ShioajiSession(simulation=False, client_factory=factory)
    session.login(creds)
    assert clients[-1].contracts_fetched
    assert clients[-1].ca_calls == [("/secrets/ca.pfx", "pw", "A1")]

    # A refused CA: the half-made session is logged out (it holds one of 5 connections).
    bad = ShioajiSession(simulation=False, client_factory=lambda sim: factory(sim, ca_ok=False))
    with pytest.raises(ShioajiLoginError, match="CA activation refused"):
        bad.login(creds)
    assert clients[-1].logged_out and not bad.logged_in

    # Simulation needs no CA.
    sim = ShioajiSession(simulation=True, client_factory=factory)
    sim.login(
        ShioajiCredentials.from_env({k: env[k] for k in ("SHIOAJI_API_KEY", "SHIOAJI_SECRET_KEY")})
    )
    assert sim.logged_in and clients[-1].ca_calls == []


# -- admission (issue 7): outliers are what is dropped; bad data holds the code ----------------


def _bidasks(n: int, start_us: int = 0) -> list[Any]:
    return [so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(microseconds=start_us + i))
            for i in range(n)]  # fmt: skip


def test_one_future_quote_is_dropped_not_the_quotes_after_it(ring: Ring) -> None:  # noqa: F811
    _, client, ing, m, _ = _feed(ring, CODES)
    on_bidask = client.callbacks["set_on_bidask_fop_v1_callback"]
    on_bidask(so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(minutes=5)))  # the outlier
    for q in _bidasks(180, start_us=1):
        on_bidask(q)
    # Before: +300 s was within the 600 s skew, admitted, and the 180 good quotes after it were
    # all time_backwards against it.
    assert ing.bad.counts == {"future_timestamp": 1}
    recs = ring.records()
    assert [r["type"] for r in recs] == ["bidask"] * 180
    assert _metric(m, 'shijim_md_bad_input_total{cause="future_timestamp",shard="0"}') == 1
    assert _metric(m, 'shijim_md_code_held{code="TXFL6",shard="0"}') == 0


def test_the_future_bound_is_tight_and_configurable(ring: Ring) -> None:  # noqa: F811
    _, client, ing, _, _ = _feed(ring, CODES)
    on_bidask = client.callbacks["set_on_bidask_fop_v1_callback"]
    # Local receive time is WHEN + 1.5 ms: 2 s ahead of it is the default limit.
    on_bidask(so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(seconds=2, milliseconds=1)))
    on_bidask(so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(seconds=2, milliseconds=2)))
    assert ing.bad.counts == {"future_timestamp": 1}
    with fresh_ring() as other:
        _, client, ing, _, _ = _feed(other, CODES, ShioajiFeedConfig(max_ahead_s=10.0))
        client.callbacks["set_on_bidask_fop_v1_callback"](
            so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(seconds=9))
        )
        assert ing.bad.counts == {}


def test_a_code_whose_quotes_keep_being_dropped_is_held_until_good_data(ring: Ring) -> None:  # noqa: F811
    _, client, _, m, _ = _feed(ring, CODES)
    on_bidask = client.callbacks["set_on_bidask_fop_v1_callback"]
    on_bidask(_bidasks(1)[0])
    for k in range(5):  # five in a row from a broken clock: the code's book is frozen
        on_bidask(so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(minutes=5 + k)))
    assert _metric(m, 'shijim_md_code_held{code="TXFL6",shard="0"}') == 1
    on_bidask(_bidasks(1, start_us=10)[0])  # good data again
    recs = ring.records()
    assert [(r["type"], r.get("trading_state"), r["code"]) for r in recs] == [
        ("bidask", None, "TXFL6"),
        ("event", "HALTED", "TXFL6"),
        ("event", "ACTIVE", "TXFL6"),
        ("bidask", None, "TXFL6"),
    ]
    assert recs[1]["reason"] == "data: future_timestamp"
    assert _metric(m, 'shijim_md_code_held{code="TXFL6",shard="0"}') == 0
    assert _metric(m, 'shijim_md_code_held{code="2330",shard="0"}') == 0  # exists from start


def test_bad_quotes_are_named_by_number_field_and_reason(
    ring: Ring,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, client, ing, _, _ = _feed(ring, CODES)
    on_bidask = client.callbacks["set_on_bidask_fop_v1_callback"]
    on_tick = client.callbacks["set_on_tick_fop_v1_callback"]
    with caplog.at_level(logging.WARNING):
        on_bidask(_bidasks(1)[0])
        # An empty level in the middle of the bids (before: admitted, uncounted).
        on_bidask(so.bidask_fop("TXFL6", when=WHEN + dt.timedelta(microseconds=1),
                                bid_price=("23000", "0", "22998", "22997", "22996"),
                                bid_volume=(5, 0, 7, 8, 9)))  # fmt: skip
        on_tick(so.tick_fop("TXFL6", volume=2**63))  # beyond int64 (before: field "(ring)")
        on_tick(so.tick_fop("MXFL6"))
        on_tick(so.tick_fop("TXFL6"))
        on_tick(so.tick_fop("TXFL6"))  # the same trade again
    msgs = [r.getMessage() for r in caplog.records]
    assert ing.bad.counts == {"unordered_book": 1, "bad_volume": 1, "duplicate": 1}
    assert any("shioaji bidask #2 TXFL6: field bid_price[2]: price 22998.0 after an empty level"
               in s for s in msgs), msgs  # fmt: skip
    assert any("shioaji tick #1 TXFL6: field volume: volume 9223372036854775808 is beyond int64"
               in s for s in msgs), msgs  # fmt: skip
    assert any("shioaji tick #4 TXFL6: field (content)" in s for s in msgs), msgs
