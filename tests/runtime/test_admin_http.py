"""Admin HTTP kill switch over real HTTP on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from shijim.domain import Instrument, OrderIntent, Side
from shijim.execution.paper import PaperExchange
from shijim.governance.admin import ENV_TOKEN, AdminServer
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.state import KillSwitchSource, TradingState, TradingStateMachine

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def setup() -> Iterator[tuple[AdminServer, TradingStateMachine, RiskAwareGateway]]:
    sm = TradingStateMachine()
    paper = PaperExchange()
    gw = RiskAwareGateway(
        paper, InstrumentTable({"TXFL5": Instrument.future("TXFL5", 200.0)}), state=sm
    )
    server = AdminServer(sm, TOKEN, gw.summary)
    server.start()
    yield server, sm, gw
    server.stop()


def call(
    server: AdminServer, method: str, path: str, token: str | None = TOKEN, body: Any = None
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=5)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    resp = conn.getresponse()
    doc = json.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, doc, resp


def test_binds_loopback_by_default(setup: Any) -> None:
    server, _, _ = setup
    assert server.address[0] == "127.0.0.1"


def test_missing_and_bad_token_are_refused(setup: Any) -> None:
    server, sm, _ = setup
    for token in (None, "wrong", TOKEN + "x", ""):
        status, _, resp = call(server, "POST", "/kill-switch/engage", token=token)
        assert status == 401
        assert resp.getheader("WWW-Authenticate") == "Bearer"
    status, _, _ = call(server, "GET", "/state", token="nope")
    assert status == 401
    assert sm.state is TradingState.ACTIVE


def test_engage_and_resume_with_good_token(setup: Any) -> None:
    server, sm, gw = setup
    gw.on_bidask("TXFL5", 1, [20000.0] * 5, [1] * 5, [20001.0] * 5, [1] * 5)
    gw.place(OrderIntent("TXFL5", Side.BUY, 1, 19995.0))
    assert len(gw.working_orders()) == 1
    status, doc, _ = call(server, "POST", "/kill-switch/engage", body={"reason": "drill"})
    assert status == 200 and doc["state"] == "HALTED"
    assert sm.demands()[KillSwitchSource.ADMIN] == (TradingState.HALTED, "drill")
    assert not gw.working_orders()  # the gateway cancelled on the way to HALTED
    status, doc, _ = call(server, "GET", "/state")
    assert status == 200
    assert doc["state"] == "HALTED" and doc["demands"]["admin"]["reason"] == "drill"
    assert doc["working_orders"] == 0 and "pnl" in doc and "positions" in doc
    status, doc, _ = call(server, "POST", "/kill-switch/resume")
    assert status == 200 and doc["state"] == "ACTIVE"


def test_engage_reducing_and_bad_bodies(setup: Any) -> None:
    server, sm, _ = setup
    status, _, _ = call(server, "POST", "/kill-switch/engage", body={"state": "reducing"})
    assert status == 200 and sm.state is TradingState.REDUCING
    for bad in ({"state": "ACTIVE"}, {"state": "PANIC"}, [1, 2]):
        status, doc, _ = call(server, "POST", "/kill-switch/engage", body=bad)
        assert status == 400 and "engage body" in doc["error"]


def test_resume_releases_only_admin_unless_all(setup: Any) -> None:
    server, sm, _ = setup
    sm.engage(KillSwitchSource.LOSS_LIMIT, "loss")
    call(server, "POST", "/kill-switch/engage")
    status, doc, _ = call(server, "POST", "/kill-switch/resume")
    assert doc["state"] == "HALTED" and doc["demands"] == {"loss_limit": "HALTED"}
    status, doc, _ = call(server, "POST", "/kill-switch/resume?all=1")
    assert status == 200 and doc["state"] == "ACTIVE" and sm.demands() == {}


def test_unknown_path_and_wrong_method(setup: Any) -> None:
    server, _, _ = setup
    assert call(server, "GET", "/nope")[0] == 404
    assert call(server, "GET", "/kill-switch/engage")[0] == 405
    assert call(server, "POST", "/state")[0] == 405


def test_token_never_logged(setup: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, _, _ = setup
    with caplog.at_level(logging.DEBUG):
        call(server, "POST", "/kill-switch/engage")
        call(server, "POST", "/kill-switch/engage", token="guess-" + TOKEN)
    assert caplog.records, "requests are logged"
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_no_token_means_no_server() -> None:
    sm = TradingStateMachine()
    assert AdminServer.from_env(sm, env={}) is None
    assert AdminServer.from_env(sm, env={ENV_TOKEN: ""}) is None
    with pytest.raises(ValueError, match=ENV_TOKEN):
        AdminServer(sm, "")
    server = AdminServer.from_env(sm, port=0, env={ENV_TOKEN: TOKEN})
    assert server is not None
    server.stop()
