"""The runtime's side of the dashboard on the real trading path: StrategyRunner.snapshot() over a
real ring, engine, risk gateway and paper venue; the SnapshotChannel switching the runner's
publishing on and off; the admin listener's /snapshot route and the DASHBOARD kill-switch source.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_fixtures import TOKEN, start_runtime
from shijim.dashboard.channel import SnapshotChannel
from shijim.dashboard.wire import decode_publication
from shijim.domain import Instrument, KillSwitchSource, OrderIntent, Side, TradingState
from shijim.execution.paper import PaperVenue
from shijim.governance.admin import AdminServer
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine
from shijim.strategy.base import Place
from shijim.strategy.runner import StrategyRunner

import shijim_core

CODE = "TXFL6"
T0 = 1_767_000_000_000_000_000


class Quoting:
    """Places one bid per decision at the best bid (a working order to show), and describes
    itself; ``broken`` makes describe() raise."""

    name = "quoting"

    def __init__(self) -> None:
        self.broken = False
        self.placed = 0

    def on_market(self, view: Any, ctx: Any) -> list[Place]:
        if self.placed >= 3:
            return []
        self.placed += 1
        return [Place(OrderIntent(view.code, Side.BUY, 1, view.best_bid - self.placed))]

    def on_placed(self, tag: str, order: Any) -> None:
        pass

    def on_order(self, update: Any, ctx: Any) -> list[Any]:
        return []

    def on_fill(self, fill: Any, ctx: Any) -> list[Any]:
        return []

    def describe(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("describe bug")
        return {"placed": self.placed, "edge": 0.5, "nested": {"a": 1}, "nan": float("nan")}


@pytest.fixture
def shard(request: pytest.FixtureRequest) -> Iterator[tuple[Any, StrategyRunner, Any]]:
    name = f"t-dash-{os.getpid()}-{request.node.name}"[:60]
    writer = shijim_core.RingWriter(name, slots=1024)
    reader = shijim_core.RingReader(name)
    engine = shijim_core.Engine([CODE], "every_event", latency="zero")
    metrics = ShardMetrics("0")
    metrics.watch_publications(writer)  # as ingestion has the shard's metrics do
    gw = RiskAwareGateway(
        PaperVenue(engine),
        InstrumentTable({CODE: Instrument.future(CODE, 200.0)}),
        RiskLimits(max_order_qty=2, max_position=3),
        TradingStateMachine(),
        metrics,
        engine=engine,
    )
    runner = StrategyRunner(engine, reader, Quoting(), gw, metrics, snapshot_interval_s=0.0)
    yield writer, runner, gw
    writer.close()
    shijim_core.ring_unlink(name)


def book(writer: Any, i: int, bid: float) -> None:
    writer.publish_bidask(CODE, T0 + i * 10**6, T0 + i, [bid - k for k in range(5)], [5] * 5,
                          [bid + 1 + k for k in range(5)], [5] * 5, False)  # fmt: skip


def test_the_runners_snapshot_carries_what_the_panels_show(shard) -> None:
    writer, runner, gw = shard
    for i in range(4):
        book(writer, i, 20000.0)
        runner.step()
    assert gw.place(OrderIntent(CODE, Side.BUY, 9, 20000.0)).reason.value == "fat_finger_qty"
    book(writer, 4, 20000.0)  # two books the runner has not read yet: the ring lag
    book(writer, 5, 20000.0)
    snap = runner.snapshot()
    top = snap.books[CODE]
    assert (top.bid, top.ask, top.spread) == (20000.0, 20001.0, 1.0)
    assert [o.price for o in snap.working_orders] == [19999.0, 19998.0, 19997.0]
    assert {o.side for o in snap.working_orders} == {Side.BUY}
    assert snap.rejects == {"fat_finger_qty": 1}
    (rej,) = snap.recent_rejects
    assert (rej.reason, rej.subject) == ("fat_finger_qty", CODE) and "9" in rej.detail
    assert snap.demands == {} and snap.state is TradingState.ACTIVE
    assert snap.strategy.name == "quoting" and snap.strategy.decision == "every_event"
    assert snap.strategy.fields["placed"] == 3 and snap.strategy.fields["nested"] == "{'a': 1}"
    assert snap.strategy.fields["nan"] == "nan"  # not a finite number: shown as text
    assert snap.ring.lag == 2 and snap.last_event_ns == T0 + 5
    assert snap.counters["orders"] == 3 and snap.counters["rejects"] == 1
    # Copies: the venue's later changes do not reach a snapshot already taken.
    gw.state_machine.demand(KillSwitchSource.DASHBOARD, TradingState.HALTED, "drill")
    runner.step()
    assert gw.working_orders() == {} and len(snap.working_orders) == 3
    halted = runner.snapshot()
    assert halted.working_orders == () and halted.state is TradingState.HALTED
    assert halted.demands["dashboard"].state == "HALTED" and halted.demands["dashboard"].reason


def test_a_failing_describe_is_counted_not_raised(shard) -> None:
    writer, runner, _ = shard
    runner.strategy.broken = True
    book(writer, 0, 20000.0)
    runner.step()
    snap = runner.snapshot()
    assert snap.strategy.fields == {"describe": "raised: see the runtime's log"}
    assert runner.counters.strategy_errors == 1


def test_snapshots_are_built_only_while_someone_reads(shard) -> None:
    writer, runner, _ = shard
    now = [0.0]
    channel = SnapshotChannel(runner, {"id": 0}, clock=lambda: now[0], idle_s=5.0)
    book(writer, 0, 20000.0)
    runner.step()
    assert runner.on_snapshot is None  # nobody asked: the trading thread builds nothing
    first = decode_publication(json.loads(channel.payload()))
    assert first.snapshot is None  # publishing starts with this request
    assert runner.on_snapshot == channel.publish
    book(writer, 1, 20001.0)
    runner.step()  # the runner publishes by reference
    views = [decode_publication(json.loads(channel.payload())) for _ in range(3)]
    assert channel.encodings == 1  # three viewers, one encoding
    assert {v.snapshot.books[CODE].bid for v in views} == {20001.0}
    now[0] = 5.1  # no reader for longer than idle_s: the next publication stops publishing
    book(writer, 2, 20002.0)
    runner.step()
    assert runner.on_snapshot is None
    # A viewer coming back never sees the snapshot of the last watch as current.
    assert decode_publication(json.loads(channel.payload())).snapshot is None


def call(server: AdminServer, method: str, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    host, port = server.address
    req = urllib.request.Request(f"http://{host}:{port}{path}", method=method, data=b"")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_snapshot_route_needs_the_token_and_a_source(runtimes) -> None:
    rt = start_runtime(None)
    runtimes.append(rt)
    assert call(rt.server, "GET", "/snapshot", token=None)[0] == 401
    assert call(rt.server, "GET", "/snapshot", token="wrong")[0] == 401
    status, doc = call(rt.server, "GET", "/snapshot")
    assert status == 200 and doc["version"] == 1 and doc["snapshot"] is None
    bare = AdminServer(TradingStateMachine(), TOKEN)  # a runtime without a snapshot source
    bare.start()
    try:
        assert call(bare, "GET", "/snapshot")[0] == 404
    finally:
        bare.stop()


def test_the_dashboard_is_its_own_kill_switch_source(runtimes) -> None:
    rt = start_runtime(None)
    runtimes.append(rt)
    status, doc = call(rt.server, "POST", "/kill-switch/engage?source=dashboard")
    assert (status, doc["state"]) == (200, "HALTED")
    assert set(rt.state.demands()) == {KillSwitchSource.DASHBOARD}
    call(rt.server, "POST", "/kill-switch/engage")  # an admin halt on top
    status, doc = call(rt.server, "POST", "/kill-switch/resume?source=dashboard")
    assert doc == {"state": "HALTED", "demands": {"admin": "HALTED"}}  # admin's demand stays
    assert call(rt.server, "POST", "/kill-switch/resume")[1]["state"] == "ACTIVE"
    status, doc = call(rt.server, "POST", "/kill-switch/engage?source=crd")
    assert status == 400 and "source: expected admin or dashboard, got 'crd'" in doc["error"]
    assert rt.state.demands() == {}


def test_a_watching_dashboard_does_not_flood_the_log(runtimes, caplog) -> None:
    rt = start_runtime(None)
    runtimes.append(rt)
    with caplog.at_level("INFO", logger="shijim.governance.admin"):
        for _ in range(5):
            assert call(rt.server, "GET", "/snapshot")[0] == 200
        call(rt.server, "POST", "/kill-switch/engage?source=dashboard")
        call(rt.server, "GET", "/snapshot", token="wrong")
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert not [ln for ln in lines if "GET /snapshot" in ln and ln.endswith("200")]
    assert any("POST /kill-switch/engage" in ln for ln in lines)
    assert any("GET /snapshot" in ln and ln.endswith("401") for ln in lines)
    assert TOKEN not in caplog.text


def test_the_runtime_does_not_need_textual() -> None:
    """The runtime image may be built without the dashboard extra: its side of the channel
    (shijim.dashboard.channel, .wire) imports no Textual."""
    import subprocess
    import sys

    code = (
        "import sys, shijim.app.runtime, shijim.dashboard.channel; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- GET /snapshot/stream ------------------------------------------------------------------------
def open_stream(server: AdminServer, token: str = TOKEN, timeout: float = 5.0) -> Any:
    """A raw HTTP/1.0 stream request; returns (status line, headers, the socket's file, the
    socket)."""
    return open_stream_path(server, "/snapshot/stream", token, timeout)


def open_stream_path(
    server: AdminServer, path: str, token: str = TOKEN, timeout: float = 5.0
) -> Any:
    import socket

    sock = socket.create_connection(server.address, timeout=timeout)
    sock.sendall(f"GET {path} HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    f = sock.makefile("rb")
    status = f.readline()
    headers = []
    while (line := f.readline()) not in (b"\r\n", b""):
        headers.append(line)
    return status, headers, f, sock


def test_the_stream_sends_the_snapshot_every_interval_on_one_connection(runtimes) -> None:
    import time

    from dashboard_fixtures import fixed_snapshot

    rt = start_runtime(fixed_snapshot(T0))
    runtimes.append(rt)
    rt.channel.interval_s = 0.05
    status, headers, f, sock = open_stream(rt.server)
    try:
        assert status.split()[1] == b"200"
        assert b"content-type: application/x-ndjson\r\n" in [h.lower() for h in headers]
        t0 = time.monotonic()
        docs = [decode_publication(json.loads(f.readline())) for _ in range(6)]
        took = time.monotonic() - t0
    finally:
        sock.close()
    assert all(d.snapshot is not None and d.snapshot.ts_ns == T0 for d in docs)
    assert [d.shard["id"] for d in docs] == [0] * 6
    assert 0.2 <= took < 2.0  # five intervals of 0.05 s between six documents, not a burst
    assert rt.channel.encodings == 1  # the same snapshot: encoded once, sent six times


def test_a_stream_outlives_the_listeners_deadline_and_ends_with_the_server() -> None:
    from dashboard_fixtures import FixedTradingThread
    from shijim.governance.listener import Bounds

    state = TradingStateMachine()
    channel = SnapshotChannel(FixedTradingThread(None), {"id": 0}, dict, interval_s=0.05)
    server = AdminServer(
        state, TOKEN, snapshot=channel, bounds=Bounds(idle_seconds=0.3, deadline_seconds=0.3)
    )
    server.start()
    stopped = False
    try:
        _, _, f, sock = open_stream(server)
        try:
            import time

            end = time.monotonic() + 1.0  # over three deadlines
            n = 0
            while time.monotonic() < end:
                assert f.readline().endswith(b"\n")
                n += 1
            assert n >= 10
            server.stop()
            stopped = True
            rest = f.read()  # the stream ends: end of file, no more than one more document
            assert rest.count(b"\n") <= 1
        finally:
            sock.close()
    finally:
        if not stopped:
            server.stop()


def test_streams_are_bounded_and_the_kill_switch_still_answers(runtimes) -> None:
    rt = start_runtime(None)
    runtimes.append(rt)
    assert open_stream(rt.server, token="wrong")[0].split()[1] == b"401"
    assert rt.server.max_streams == 4  # half of the listener's 8 handlers
    held = [open_stream(rt.server) for _ in range(rt.server.max_streams)]
    try:
        assert all(s[0].split()[1] == b"200" for s in held)
        status, _, f, sock = open_stream(rt.server)
        f.close()
        sock.close()
        assert status.split()[1] == b"503"
        # Every stream slot taken: the kill switch still has its handlers.
        status, doc = call(rt.server, "POST", "/kill-switch/engage?source=dashboard")
        assert (status, doc["state"]) == (200, "HALTED")
    finally:
        for _, _, f, sock in held:
            f.close()  # (the socket stays open while its file is)
            sock.close()
    # A closed stream's slot is free again once its next send fails.
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, _, f, sock = open_stream(rt.server)
        f.close()
        sock.close()
        if status.split()[1] == b"200":
            break
        time.sleep(0.1)
    assert status.split()[1] == b"200"


def test_a_runtime_that_stops_sending_is_a_lost_link() -> None:
    """A stream that opens and then goes quiet (a stuck listener) ends in LinkError within the
    link's timeout, as does one the runtime closes: the dashboard never shows it as alive."""
    import asyncio
    import socket
    import threading

    from shijim.dashboard.links import AdminAddress, AdminLink, LinkError

    listener = socket.create_server(("127.0.0.1", 0))
    replies = [b"HTTP/1.0 200 OK\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n{bad json\n"]

    def answer(conn: socket.socket, reply: bytes) -> None:
        conn.recv(4096)
        conn.sendall(reply)
        if reply.endswith(b"\r\n\r\n"):
            threading.Event().wait(1.0)  # quiet, connection open
        conn.close()

    def serve() -> None:
        for reply in replies:
            conn, _ = listener.accept()
            threading.Thread(target=answer, args=(conn, reply), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    link = AdminLink(AdminAddress("127.0.0.1", listener.getsockname()[1]), TOKEN, timeout=0.3)

    async def first_document() -> str:
        try:
            async for _ in link.publications():
                return "a document"
        except LinkError as exc:
            return str(exc)
        return "ended"

    try:
        assert asyncio.run(first_document()) == "no answer within 0.3 s"
        assert "bad document" in asyncio.run(first_document())
    finally:
        listener.close()


def test_a_cancel_that_comes_with_the_document_still_ends_the_reader() -> None:
    """The app's cancel at exit ends a stream's reader even when it arrives in the same loop turn
    as the read's result. asyncio.wait_for on 3.11 returns the result instead (CPython
    gh-86296): the reader ran on and held the dashboard open at exit, once in a full suite."""
    import asyncio

    from shijim.dashboard.links import within

    async def race() -> str:
        line = asyncio.get_running_loop().create_future()
        reader = asyncio.create_task(within(line, 10.0))
        await asyncio.sleep(0)  # the reader waits for its line
        line.set_result(b"{}\n")
        reader.cancel()  # in the same loop turn as the line
        try:
            await reader
        except asyncio.CancelledError:
            return "cancelled"
        return "the line"

    assert asyncio.run(race()) == "cancelled"


def test_a_viewer_may_ask_for_fewer_documents_never_more(runtimes) -> None:
    import time

    rt = start_runtime(None)
    runtimes.append(rt)
    rt.channel.interval_s = 0.05
    for bad in ("20", "x", "10001", "-5"):
        assert call(rt.server, "GET", f"/snapshot/stream?interval_ms={bad}")[0] == 400
    status, _, f, sock = open_stream_path(rt.server, "/snapshot/stream?interval_ms=200")
    try:
        assert status.split()[1] == b"200"
        f.readline()
        t0 = time.monotonic()
        for _ in range(3):
            f.readline()
        assert 0.5 <= time.monotonic() - t0 < 2.0  # 3 x 200 ms, not 3 x 50
    finally:
        f.close()
        sock.close()
