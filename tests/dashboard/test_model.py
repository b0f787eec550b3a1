"""The dashboard's decisions as pure functions: when a runtime is live, stale or disconnected,
and when a kill-switch command counts as acknowledged."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from dashboard_fixtures import T0, fixed_snapshot
from shijim.dashboard.links import read_tradingshard
from shijim.dashboard.model import (
    Action,
    Command,
    Link,
    Reading,
    admin_ack,
    command_line,
    flows,
    link_status,
    spark,
    tradingshard_ack,
)
from shijim.dashboard.wire import Publication
from shijim.domain import TradingState
from shijim.strategy.snapshot import Demand


def publication(age_s: float, **changes) -> Publication:
    snap = dataclasses.replace(fixed_snapshot(T0), **changes)
    return Publication(T0 + int(age_s * 1e9), {"id": 1, "total": 4}, {}, snap)


def test_a_runtime_goes_live_stale_disconnected_and_back() -> None:
    r = Reading("127.0.0.1:1", "127.0.0.1:1")
    assert link_status(r, 0.0).link is Link.DOWN and link_status(r, 0.0).text == "connecting"
    assert r.received(publication(0.05), 10.0)
    assert r.label == "local s1/4"
    assert link_status(r, 10.5) == link_status(r, 10.0)
    assert link_status(r, 10.5).link is Link.LIVE
    # No newer snapshot reached the dashboard: the values it shows age on its own clock.
    stale = link_status(r, 11.2)
    assert (stale.link, stale.text) == (Link.STALE, "stale 1.2 s")
    # The runtime answers, but its snapshot is old (a stuck trading thread): stale too.
    assert not r.received(publication(4.0), 12.0)  # the same snapshot again: nothing new
    assert link_status(r, 12.0).text == "stale 4.0 s"
    r.failed("connection refused", 13.0)
    r.failed("connection refused", 14.0)
    down = link_status(r, 20.5)
    assert (down.link, down.text) == (Link.DOWN, "disconnected 7.5 s")  # since the first failure
    assert r.snapshot is not None  # the last values stay, greyed
    r.received(publication(0.0, ts_ns=T0 + 1), 21.0)
    assert link_status(r, 21.0).link is Link.LIVE and r.snapshots == 2


def test_waiting_for_a_first_snapshot_turns_stale() -> None:
    r = Reading("a", "a")
    r.received(Publication(T0, {"id": 0, "total": 1}, {}, None), 5.0)
    assert link_status(r, 5.5).link is Link.WAITING
    assert link_status(r, 7.0).text == "no snapshot for 2.0 s"


def test_engage_is_acknowledged_once_halted_with_no_working_order() -> None:
    cmd = Command(Action.ENGAGE, "s0", 1.0, T0, reply="runtime answered HALTED")
    snap = fixed_snapshot()
    assert admin_ack(cmd, snap) == (False, "waiting: runtime ACTIVE")
    halted = dataclasses.replace(
        snap, state=TradingState.HALTED, demands={"dashboard": Demand("HALTED", "dashboard K")}
    )
    assert admin_ack(cmd, halted) == (False, "HALTED, cancelling 4 working order(s)")
    done = dataclasses.replace(halted, working_orders=())
    assert admin_ack(cmd, done) == (True, "HALTED, 0 working orders")
    # Halted by someone else only: not this command's acknowledgement.
    other = dataclasses.replace(done, demands={"file": Demand("HALTED", "")})
    assert admin_ack(cmd, other)[0] is False


def test_resume_is_acknowledged_when_the_dashboards_demand_is_gone() -> None:
    cmd = Command(Action.RESUME, "s0", 1.0, T0, reply="runtime answered HALTED")
    held = dataclasses.replace(
        fixed_snapshot(),
        state=TradingState.HALTED,
        demands={"dashboard": Demand("HALTED", ""), "loss_limit": Demand("HALTED", "")},
    )
    assert admin_ack(cmd, held)[0] is False
    still = dataclasses.replace(held, demands={"loss_limit": Demand("HALTED", "")})
    assert admin_ack(cmd, still) == (True, "HALTED: still held by loss_limit HALTED")
    assert admin_ack(cmd, fixed_snapshot()) == (True, "ACTIVE")
    cmd.acknowledged_at, cmd.outcome = 1.25, "ACTIVE"
    assert command_line(cmd, 9.0) == "R resume -> s0: acknowledged: ACTIVE (250 ms)"


NOW = datetime.datetime(2026, 1, 5, 1, 0, 10, tzinfo=datetime.UTC)


def tradingshard(generation: int, entries: dict) -> dict:
    status = {"phase": "Running", "shards": entries,
              "conditions": [{"type": "KillSwitchEngaged", "status": "False"}]}  # fmt: skip
    return {"metadata": {"name": "sim-demo", "namespace": "default", "generation": generation},
            "spec": {"shards": 2, "killSwitch": True}, "status": status}  # fmt: skip


def entry(state: str, ack: bool, gen: int) -> dict:
    return {"pod": "p", "tradingState": state, "killSwitchAcknowledged": ack,
            "observedGeneration": gen, "lastHeartbeat": "2026-01-05T01:00:07Z"}  # fmt: skip


def test_the_tradingshard_is_stopped_when_every_shard_acknowledged_the_generation() -> None:
    cmd = Command(Action.ENGAGE, "tradingshard default/sim-demo", 1.0, T0, reply="x", generation=3)
    view = read_tradingshard(tradingshard(3, {"0": entry("HALTED", True, 3)}), NOW)
    assert view.entries[0].heartbeat_age_s == pytest.approx(3.0)
    assert tradingshard_ack(cmd, view) == (False, "waiting for shard(s) 1")
    # Shard 1 acknowledged an older generation (a switch before the last spec change).
    view = read_tradingshard(
        tradingshard(3, {"0": entry("HALTED", True, 3), "1": entry("HALTED", True, 2)}), NOW
    )
    assert tradingshard_ack(cmd, view)[0] is False
    view = read_tradingshard(
        tradingshard(3, {"0": entry("HALTED", True, 3), "1": entry("HALTED", True, 4)}), NOW
    )
    assert tradingshard_ack(cmd, view) == (True, "all 2 shard(s) HALTED and acknowledged")
    with pytest.raises(ValueError, match=r"metadata\.generation"):
        read_tradingshard({"metadata": {}, "spec": {}}, NOW)


def test_sparklines_and_flows() -> None:
    assert spark([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert spark([5.0, 5.0, float("nan")]) == "▄▄"
    assert spark([]) == ""
    r = Reading("a", "a")
    for i in range(15):
        snap = fixed_snapshot(T0 + i)
        top = snap.books["TXFL6"]._replace(ofi=2.0 * i, ofi_best=float(i))
        r.received(Publication(T0 + i, {}, {}, dataclasses.replace(snap, books={"TXFL6": top})), i)
    assert flows(r.history["TXFL6"]) == (10.0, 20.0)  # the last 10 readings (~1 s at 10 Hz)
