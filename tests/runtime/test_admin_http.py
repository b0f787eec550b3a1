"""Admin HTTP kill switch over real HTTP on 127.0.0.1 (ephemeral port), including hostile
clients over raw sockets: malformed framing, deep JSON, idle and slow connections."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from engine_market import quote_once
from idle_connections import hold_idle_connections
from shijim.domain import Instrument, KillSwitchSource, OrderIntent, Side, TradingState
from shijim.execution.paper import PaperVenue
from shijim.governance.admin import ENV_TOKEN, AdminServer
from shijim.governance.listener import Bounds
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.state import TradingStateMachine

import shijim_core

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def setup() -> Iterator[tuple[AdminServer, TradingStateMachine, RiskAwareGateway]]:
    sm = TradingStateMachine()
    paper = PaperVenue(shijim_core.Engine(["TXFL5"], latency="zero"))
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
    quote_once(gw, "TXFL5", 20000.0, 20001.0)
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


# -- hostile clients over raw sockets (issue 7) ------------------------------------------------
def raw(server: AdminServer, data: bytes, shut_write: bool = False) -> bytes:
    """Send ``data`` as is and return everything the server answers before it closes."""
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def engage_request(headers: str, body: bytes = b"") -> bytes:
    head = f"POST /kill-switch/engage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    return (head + headers + "\r\n").encode() + body


def engage_body(body: bytes) -> bytes:
    return engage_request(f"Content-Length: {len(body)}\r\n", body)


NESTED = b"[" * 2000 + b"]" * 2000
MALFORMED = {
    "non-numeric length": (engage_request("Content-Length: abc\r\n", b"{}"), "Content-Length"),
    "negative length": (engage_request("Content-Length: -5\r\n"), "Content-Length"),
    "exponent length": (engage_request("Content-Length: 1e1\r\n", b"{}"), "Content-Length"),
    "conflicting lengths": (
        engage_request("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
        "conflicting",
    ),
    "chunked": (
        engage_request("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
        "Transfer-Encoding",
    ),
    "body without length": (engage_request("", b'{"state": "HALTED"}'), "Content-Length"),
    "nested 2000 deep": (engage_body(NESTED), "nested deeper than 4 levels at byte 4"),
    "nested value": (engage_body(b'{"reason": [[[[["x"]]]]]}'), "nested deeper"),
    "non-string reason": (engage_body(b'{"reason": 5}'), "reason: expected a string"),
    "unknown key": (engage_body(b'{"stat": "HALTED"}'), "unknown key 'stat'"),
    "bad json": (engage_body(b'{"reason"'), "line 1 column 10"),
    "not utf-8": (engage_body(b'"\xff\xfe"'), "utf-8"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_get_400_and_change_nothing(
    setup: Any, case: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    server, sm, _ = setup
    request, named = MALFORMED[case]
    with caplog.at_level(logging.DEBUG):
        answer = raw(server, request)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.0 400 "), answer[:200]
    doc = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert named.lower() in doc["error"].lower(), doc
    assert sm.state is TradingState.ACTIVE and sm.demands() == {}
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Traceback" not in caplog.text
    assert TOKEN not in err + caplog.text


def test_a_body_shorter_than_declared_is_400(setup: Any) -> None:
    server, sm, _ = setup
    answer = raw(server, engage_request("Content-Length: 100\r\n", b'{"reason"'), shut_write=True)
    assert answer.startswith(b"HTTP/1.0 400 ") and b"9 of 100 bytes" in answer
    assert sm.demands() == {}


def test_a_body_over_the_limit_is_413(setup: Any) -> None:
    server, sm, _ = setup
    answer = raw(server, engage_request("Content-Length: 5000\r\n", b"x" * 5000))
    assert answer.startswith(b"HTTP/1.0 413 ")
    assert sm.demands() == {}


def test_a_good_engage_still_works_over_a_raw_socket(setup: Any) -> None:
    server, sm, _ = setup
    answer = raw(server, engage_body(b'{"reason": "drill", "state": "REDUCING"}'))
    assert answer.startswith(b"HTTP/1.0 200 ")
    assert sm.demands()[KillSwitchSource.ADMIN] == (TradingState.REDUCING, "drill")
    # No Content-Length and no body (curl -X POST): the default engage.
    sm.release(KillSwitchSource.ADMIN)
    assert raw(server, engage_request("")).startswith(b"HTTP/1.0 200 ")
    assert sm.state is TradingState.HALTED


def small_bounds_admin(sm: TradingStateMachine) -> AdminServer:
    server = AdminServer(
        sm, TOKEN, bounds=Bounds(max_handlers=8, idle_seconds=0.5, deadline_seconds=1.5)
    )
    server.start()
    return server


def test_300_idle_connections_are_bounded_in_threads_and_closed_after_the_timeout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    sm = TradingStateMachine()
    server = small_bounds_admin(sm)
    try:
        hold_idle_connections(server.address, bounds=server._httpd.bounds)
        # Still serving afterwards.
        assert raw(server, engage_request("")).startswith(b"HTTP/1.0 200 ")
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_a_slow_client_is_cut_at_the_deadline() -> None:
    sm = TradingStateMachine()
    server = small_bounds_admin(sm)
    try:
        with socket.create_connection(server.address, timeout=10) as s:
            t0 = time.monotonic()
            request = engage_request("Content-Length: 0\r\n")
            closed = False
            for b in request:  # one byte every 0.2 s: never idle for 0.5 s
                try:
                    s.send(bytes([b]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.2)
                if time.monotonic() - t0 > 4:
                    break
            s.settimeout(5)
            try:
                closed = closed or s.recv(100) == b""
            except OSError:
                closed = True
            assert closed and time.monotonic() - t0 < 3.5
        assert sm.demands() == {}
    finally:
        server.stop()
