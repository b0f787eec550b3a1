"""Resharding never double-trades (docs/sharding.md).

Pure parts: the ownership rule (runtime and operator agree, and no code ever has two trading
ordinals), the operator's transition state machine, the Resharding condition, and the runtime's
CodeOwnership on a real risk gateway and paper venue.

End to end: the real Kopf operator against the API emulator, real `python -m shijim run`
processes on the sim feed started per ordinal the way a StatefulSet controller would (the
emulator has none, so the test is that controller: it reads replicas, template and ConfigMap
from what the operator rendered, replaces pods highest ordinal first, one at a time, only after
the old one exited, and writes the StatefulSet's status). `kubectl patch` changes spec.shards
2 -> 3 and back 3 -> 2; throughout, every live process's /metrics is sampled and no code may be
owned (`shijim_code_owned` 1) by two processes in any sample.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import pathlib
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import pytest
import yaml
from emulator import EXAMPLE, EmulatorThread, wait_for
from processes import free_port, stop_process
from shijim import universe
from shijim.domain import Instrument, OrderIntent, Side
from shijim.execution.paper import PaperVenue
from shijim.governance.ownership import CodeOwnership, read_sharding
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.risk.state import TradingStateMachine
from shijim_operator import conditions, resharding, sharding
from shijim_operator.sharding import Layout

import shijim_core

if TYPE_CHECKING:
    from conftest import OperatorProcess

NAME = "sim-demo"
# Sim-feed codes that split over 2 and over 3 shards with no shard empty; 2 -> 3 moves MXFL6
# away from shard 0 and MXFA7 and 1301 away from shard 1 (all to the new shard 2).
CODES = ["MXFL6", "MXFA7", "1301", "MXFB7", "2412", "2308"]
NOW = datetime.datetime(2026, 1, 5, 1, 0, tzinfo=datetime.UTC)
STALE = conditions.HEARTBEAT_STALE_SECONDS


# ---------------------------------------------------------------------------- the rule
def test_ownership_rule_is_the_same_in_operator_and_runtime() -> None:
    rng = random.Random(7)
    pool = [f"{rng.randrange(1000, 9999)}" for _ in range(300)] + CODES
    for _ in range(200):
        old = rng.sample(pool, rng.randrange(1, 40))
        new = old if rng.random() < 0.5 else rng.sample(pool, rng.randrange(1, 40))
        n, m = rng.randrange(1, 7), rng.randrange(1, 7)
        op = [Layout.of(n, old), Layout.of(m, new)]
        rt = [universe.Layout(n, frozenset(old)), universe.Layout(m, frozenset(new))]
        assert op[0].universe == rt[0].universe == universe.universe_digest(reversed(old))
        for code in set(old) | set(new):
            for k in range(max(n, m)):
                for own in (0, 1):
                    assert sharding.may_trade(code, k, op[own], op) == universe.may_trade(
                        code, k, rt[own], rt
                    )
                    assert sharding.may_trade(code, k, op[own], op[:1]) == universe.may_trade(
                        code, k, rt[own], rt[:1]
                    )


def test_no_code_ever_has_two_trading_ordinals() -> None:
    """Whatever mix of old-layout and new-layout pods runs (at most one per ordinal), and
    whichever layouts are published, at most one ordinal may trade a code."""
    rng = random.Random(11)
    for _ in range(300):
        codes = [f"C{rng.randrange(10**6)}" for _ in range(rng.randrange(1, 30))]
        old = universe.Layout(rng.randrange(1, 6), frozenset(codes))
        new_codes = codes if rng.random() < 0.5 else rng.sample(codes, len(codes) // 2 + 1)
        new = universe.Layout(rng.randrange(1, 6), frozenset([*new_codes, "EXTRA"]))
        for published in ([old], [old, new], [new]):
            for code in set(codes) | new.codes:
                owners = {
                    k
                    for k in range(max(old.shards, new.shards))
                    for own in (old, new)
                    if k < own.shards and universe.may_trade(code, k, own, published)
                }
                assert len(owners) <= 1, (code, published, owners)
        # A code that moves is nobody's while both layouts run; one that stays keeps its owner.
        for code in set(codes) & new.codes:
            a, b = universe.shard_of(code, old.shards), universe.shard_of(code, new.shards)
            both = [old, new]
            assert universe.may_trade(code, a, old, both) == (a == b)
            assert universe.may_trade(code, b, new, both) == (a == b)


# ---------------------------------------------------------------------------- state machine
def stamp(age: float = 1.0) -> str:
    return conditions.format_time(NOW - datetime.timedelta(seconds=age))


def pod_report(
    layout: Layout, applied: list[Layout], released: dict[str, int] | None = None, age: float = 1.0
) -> dict[str, Any]:
    """A pod's entry; `released`: code -> working orders."""
    return {
        "lastHeartbeat": stamp(age),
        "layout": layout.key(),
        "layouts": [lay.key() for lay in applied],
        "released": [
            {"code": c, "position": 1, "avgPrice": 100.0, "workingOrders": w}
            for c, w in (released or {}).items()
        ],
    }


TWO, THREE = Layout.of(2, CODES), Layout.of(3, CODES)


def acks(old: Layout, new: Layout, working: int = 0) -> dict[str, Any]:
    return {
        str(k): pod_report(
            old, [old, new], dict.fromkeys(sorted(resharding.moving_away(k, old, new)), working)
        )
        for k in range(old.shards)
    }


def rolled_sts(replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"generation": 4},
        "status": {
            "observedGeneration": 4,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "currentRevision": "r2",
            "updateRevision": "r2",
        },
    }


def test_moving_away_is_what_the_issue_saw() -> None:
    assert resharding.moving_away(0, TWO, THREE) == {"MXFL6"}
    assert resharding.moving_away(1, TWO, THREE) == {"MXFA7", "1301"}
    assert resharding.moving_away(2, THREE, TWO) == {"MXFL6", "MXFA7", "1301"}
    assert resharding.moving_away(0, THREE, TWO) == set()


def test_transition_state_machine_two_to_three() -> None:
    first = resharding.plan(TWO, None, None, None, NOW, STALE)
    assert (first.phase, first.layouts, first.render) == ("Stable", (TWO,), TWO)
    stable = first.status()
    assert stable["from"] is None and stable["message"] == "2 shards"

    # spec.shards 2 -> 3: publish [2, 3], keep rendering 2 (the StatefulSet does not change).
    releasing = resharding.plan(THREE, stable, acks(TWO, TWO), None, NOW, STALE)
    assert releasing.phase == "Releasing" and releasing.render == TWO
    assert releasing.status()["layouts"] == [TWO.to_status(), THREE.to_status()]
    published = releasing.status()
    assert published["message"] == "2 -> 3: releasing (shards 0,1 pending)"

    # Shard 1 acknowledged, shard 0 not yet: still Releasing, shard 0 named.
    partial = acks(TWO, THREE)
    partial["0"] = pod_report(TWO, [TWO], {})
    step = resharding.plan(THREE, published, partial, None, NOW, STALE)
    assert step.phase == "Releasing" and step.pending == (0,) and step.render == TWO
    assert step.message() == "2 -> 3: releasing (shard 0 pending)"
    assert step.since == published["since"]  # the transition's start, not this step's

    # Every pod acknowledged but a moved code still has a working order: not yet.
    step = resharding.plan(THREE, published, acks(TWO, THREE, working=1), None, NOW, STALE)
    assert step.phase == "Releasing" and step.pending == (0, 1)
    # A pod that released less than what moves away from it (a wrong rule) never counts.
    short = acks(TWO, THREE)
    short["1"]["released"] = short["1"]["released"][:1]
    assert resharding.plan(THREE, published, short, None, NOW, STALE).pending == (1,)
    # A stale acknowledgement (a dead pod) does not count.
    dead = acks(TWO, THREE)
    dead["0"]["lastHeartbeat"] = stamp(STALE + 1)
    assert resharding.plan(THREE, published, dead, None, NOW, STALE).pending == (0,)

    # All released with no working order: Rolling, rendered at 3, handover recorded.
    rolling = resharding.plan(THREE, published, acks(TWO, THREE), None, NOW, STALE)
    assert rolling.phase == "Rolling" and rolling.render == THREE
    handover = rolling.status()["handover"]
    assert [(h["code"], h["fromShard"]) for h in handover] == [
        ("1301", 1),
        ("MXFA7", 1),
        ("MXFL6", 0),
    ]
    published = rolling.status()

    # Rolling: pods of 3 report, but the StatefulSet has not finished: stays Rolling.
    new_pods = {str(k): pod_report(THREE, [TWO, THREE]) for k in range(3)}
    step = resharding.plan(THREE, published, new_pods, None, NOW, STALE)
    assert step.phase == "Rolling" and "StatefulSet" in step.message()
    half = {**new_pods, "0": pod_report(TWO, [TWO, THREE])}
    step = resharding.plan(THREE, published, half, rolled_sts(3), NOW, STALE)
    assert step.phase == "Rolling" and step.pending == (0,)
    unfinished = rolled_sts(3)
    unfinished["status"]["currentRevision"] = "r1"
    assert resharding.plan(THREE, published, new_pods, unfinished, NOW, STALE).phase == "Rolling"
    # A spec change while rolling waits for Stable.
    assert resharding.plan(TWO, published, new_pods, None, NOW, STALE).layouts == (TWO, THREE)

    done = resharding.plan(THREE, published, new_pods, rolled_sts(3), NOW, STALE)
    assert done.phase == "Stable" and done.layouts == (THREE,) and done.render == THREE
    assert done.status()["handover"] == handover  # the new owner reads it at adoption
    assert done.status()["from"] is None and done.status()["to"] is None


def test_releasing_can_be_cancelled_or_retargeted_and_rolling_cannot() -> None:
    published = resharding.plan(THREE, resharding.plan(TWO, None, None, None, NOW, STALE).status(),
                                None, None, NOW, STALE).status()  # fmt: skip
    back = resharding.plan(TWO, published, acks(TWO, THREE), None, NOW, STALE)
    assert back.phase == "Stable" and back.layouts == (TWO,)  # only 2-pods ever ran
    four = Layout.of(4, [*CODES, "2330", "2317"])
    retarget = resharding.plan(four, published, acks(TWO, THREE), None, NOW, STALE)
    assert retarget.phase == "Releasing" and retarget.layouts == (TWO, four)
    assert retarget.pending == (0, 1)  # acknowledgements of [2, 3] do not count for [2, 4]
    assert "(universe " in retarget.message()


def test_malformed_published_sharding_is_taken_as_never_published() -> None:
    broken = resharding.plan(TWO, None, None, None, NOW, STALE).status()
    broken["layouts"][0]["universe"] = "0000"
    assert resharding.read_sharding(broken) is None
    assert resharding.read_sharding({"phase": "Rolling", "layouts": [TWO.to_status()]}) is None


def test_resharding_condition_and_the_shards_that_must_halt() -> None:
    published = resharding.plan(TWO, resharding.plan(THREE, None, None, None, NOW, STALE).status(),
                                None, None, NOW, STALE).status()  # fmt: skip
    assert published["phase"] == "Releasing"  # 3 -> 2
    halted = {
        str(k): {
            "tradingState": "HALTED",
            "killSwitchAcknowledged": True,
            "observedGeneration": 3,
            "lastHeartbeat": stamp(),
        }
        for k in (0, 1)
    }
    status = {"shards": halted, "sharding": published}
    spec = {"shards": 2, "killSwitch": True}
    running = resharding.running_shards(published, 2)
    assert running == 3  # shard 2's pod still runs until the StatefulSet rolls
    out = conditions.compute_status(spec, {"generation": 3}, status, [], NOW, running=running)
    by_type = {c["type"]: c for c in out["conditions"]}
    # Shard 2 is still running: the kill switch is not engaged before it halted too.
    assert by_type["KillSwitchEngaged"]["status"] == "False"
    assert by_type["KillSwitchEngaged"]["message"] == "not yet acknowledged by shards 2"
    assert by_type["Resharding"]["status"] == "True"
    assert by_type["Resharding"]["reason"] == "Releasing"
    assert by_type["Resharding"]["message"] == "3 -> 2: releasing (shards 0,1,2 pending)"
    assert conditions.departed_shards(spec, {"shards": {"2": {}}}, keep=3) == []
    assert conditions.departed_shards(spec, {"shards": {"2": {}}}) == ["2"]


# ---------------------------------------------------------------------------- runtime side
class OwnedGauge:
    def __init__(self) -> None:
        self.owned: dict[str, bool] = {}

    def code_owned(self, code: str, owned: bool) -> None:
        self.owned[code] = owned


def paper_gateway(codes: list[str]) -> RiskAwareGateway:
    table = InstrumentTable({c: Instrument.future(c, 10.0) for c in codes})
    limits = RiskLimits(max_price_deviation_ticks=1000, max_price_deviation_pct=50.0)
    venue = PaperVenue(shijim_core.Engine(codes, latency="zero"))
    return RiskAwareGateway(venue, table, limits, TradingStateMachine())


def book(gw: RiskAwareGateway, code: str) -> None:
    """A 99/101 book into the gateway's engine (an SBE frame; the engine feeds its venue)."""
    record = {
        "type": "bidask", "code": code, "exch_ts": 1, "local_ts": 1, "seq": 0,
        "bid_price": [99.0 - i for i in range(5)], "bid_volume": [5] * 5,
        "ask_price": [101.0 + i for i in range(5)], "ask_volume": [5] * 5, "simtrade": False,
    }  # fmt: skip
    frames = shijim_core.SbeFrames(shijim_core.sbe_encode_stream([record]))
    while gw.engine.next_due_frames(frames) is not None:
        gw.after_event()


def op_status(plan: resharding.Plan) -> dict[str, Any]:
    return {"sharding": plan.status()}


def test_old_owner_cancels_and_reports_then_new_owner_takes_over() -> None:
    """Shard 0 of 2 holds MXFL6 when [2, 3] is published (its working order is cancelled), the
    report shows it; shard 2 of 3 takes MXFL6's reported position over only at Stable [3]."""
    rt2 = universe.Layout(2, frozenset(CODES))
    rt3 = universe.Layout(3, frozenset(CODES))
    mine = universe.ShardSpec(0, 2).select(CODES)
    gw = paper_gateway(mine)
    gauge = OwnedGauge()
    old = CodeOwnership(gw, 0, rt2, mine, broker_positions=False, metrics=gauge)
    old.hold_all("not read yet")
    assert gauge.owned == dict.fromkeys(mine, False)
    stable2 = resharding.plan(TWO, None, None, None, NOW, STALE)
    assert old.apply(op_status(stable2)) is True
    assert gauge.owned == dict.fromkeys(mine, True)
    for code in mine:
        book(gw, code)
    order = gw.place(OrderIntent("MXFL6", Side.BUY, 1, 100.0))
    assert order.code == "MXFL6"  # type: ignore[union-attr]
    gw.place(OrderIntent("MXFL6", Side.BUY, 1, 101.0))  # crosses: a fill, position 1
    assert gw.positions.net("MXFL6") == 1
    assert old.apply(op_status(stable2)) is False  # nothing changed: nothing done

    releasing = resharding.plan(THREE, stable2.status(), None, None, NOW, STALE)
    old.apply(op_status(releasing))
    assert gauge.owned["MXFL6"] is False and gauge.owned["2412"] is True
    assert not [o for o in gw.working_orders().values() if o.code == "MXFL6"]
    refused = gw.place(OrderIntent("MXFL6", Side.BUY, 1, 100.0))
    assert not hasattr(refused, "order_id")  # held: refused by the risk gateway
    report = old.report()
    assert report["layouts"] == [TWO.key(), THREE.key()]
    assert report["layout"] == TWO.key()
    assert report["released"] == [
        {"code": "MXFL6", "position": 1, "avgPrice": 101.0, "workingOrders": 0}
    ]
    assert not old.settling()

    # The operator acknowledges and rolls; shard 2 of 3 starts during Rolling.
    shards = acks(TWO, THREE)
    shards["0"] = {"lastHeartbeat": stamp(), **report}
    rolling = resharding.plan(THREE, releasing.status(), shards, None, NOW, STALE)
    assert rolling.phase == "Rolling"
    theirs = universe.ShardSpec(2, 3).select(CODES)
    gw2 = paper_gateway(theirs)
    gauge2 = OwnedGauge()
    new = CodeOwnership(gw2, 2, rt3, theirs, broker_positions=False, metrics=gauge2)
    new.hold_all("not read yet")
    new.apply(op_status(rolling))
    assert gauge2.owned == dict.fromkeys(theirs, False)  # every code of shard 2 moves: none yet
    assert gw2.positions.net("MXFL6") == 0
    stable3 = resharding.plan(
        THREE,
        rolling.status(),
        {str(k): pod_report(THREE, [TWO, THREE]) for k in range(3)},
        rolled_sts(3),
        NOW,
        STALE,
    )
    assert stable3.phase == "Stable"
    new.apply(op_status(stable3))
    assert gauge2.owned == dict.fromkeys(theirs, True)
    assert gw2.positions.net("MXFL6") == 1  # taken over before the hold was released
    assert gw2.positions.position("MXFL6").avg_price == 101.0
    assert new.adopted["MXFL6"] == 1
    # A pod that merely restarts at Stable takes nothing over (paper positions are per process).
    gw3 = paper_gateway(theirs)
    again = CodeOwnership(gw3, 2, rt3, theirs, broker_positions=False)
    again.hold_all("not read yet")
    again.apply(op_status(stable3))
    assert gw3.positions.net("MXFL6") == 0 and again.adopted == {}


def test_runtime_reading_of_sharding_fails_safe() -> None:
    own = universe.Layout(2, frozenset(CODES))
    assert read_sharding({}, own).layouts == (own,)  # legacy: never published
    view = read_sharding({"sharding": {"layouts": "x"}}, own)
    assert view.layouts == () and view.problems
    tampered = TWO.to_status()
    tampered["codes"] = CODES[:-1]
    view = read_sharding({"sharding": {"layouts": [tampered]}}, own)
    assert view.layouts == ()
    assert "status.sharding.layouts[0].universe" in view.problems[0]
    mine = universe.ShardSpec(0, 2).select(CODES)
    gauge = OwnedGauge()
    o = CodeOwnership(paper_gateway(mine), 0, own, mine, broker_positions=False, metrics=gauge)
    o.hold_all("start")
    o.apply({"sharding": {"layouts": [tampered]}})
    assert not any(gauge.owned.values()) and o.bad_input_total == 1
    assert o.report()["layouts"] == []  # never an acknowledgement of anything


# ---------------------------------------------------------------------------- end to end
OWNED = re.compile(r"^shijim_code_owned\{([^}]*)\} (\S+)$", re.M)


@dataclasses.dataclass
class Pod:
    ordinal: int
    revision: str
    total: int
    proc: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]
    log_path: pathlib.Path
    stopping: bool = False

    def scrape(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    def orders(self) -> float:
        m = re.search(r"^shijim_orders_total\{[^}]*\} (\S+)$", self.scrape() or "", re.M)
        return float(m.group(1)) if m else 0.0

    def owned(self) -> set[str] | None:
        text = self.scrape()
        if text is None:
            return None
        out = set()
        for labels, value in OWNED.findall(text):
            if float(value) == 1.0:
                out.add(re.search(r'code="([^"]+)"', labels).group(1))  # type: ignore[union-attr]
        return out


def template_revision(sts: dict[str, Any]) -> str:
    text = json.dumps(sts["spec"]["template"], sort_keys=True)
    return f"{NAME}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


class StatefulSetController:
    """The StatefulSet controller for the operator's StatefulSet, with local processes for pods:
    Parallel pod management (missing ordinals start at once, surplus ones stop at once), and
    RollingUpdate: when every pod is ready, the highest-ordinal pod of an old revision is stopped
    and, only after it exited, started again from the current template and ConfigMap."""

    def __init__(self, k8s: EmulatorThread, workdir: pathlib.Path) -> None:
        self.k8s = k8s
        self.workdir = workdir
        self.pods: dict[int, Pod] = {}
        self.lock = threading.Lock()
        self.started: list[tuple[int, int]] = []  # (ordinal, TOTAL_SHARDS)
        self.current_revision = ""
        self._status: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.error: BaseException | None = None

    def live(self) -> list[Pod]:
        with self.lock:
            return list(self.pods.values())

    def start(self) -> StatefulSetController:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        for pod in self.live():
            self._kill(pod)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except BaseException as exc:  # surfaced by the test
                self.error = exc
                return
            self._stop.wait(0.1)

    def _ready(self, pod: Pod) -> bool:
        if pod.proc.poll() is not None:
            raise AssertionError(f"pod {pod.ordinal} exited:\n{pod.log_path.read_text()}")
        obj = self.k8s.get("tradingshards", NAME) or {}
        entry = (obj.get("status") or {}).get("shards", {}).get(str(pod.ordinal)) or {}
        layout = entry.get("layout") or {}
        return layout.get("shards") == pod.total and bool(entry.get("layouts"))

    def _launch(self, ordinal: int, sts: dict[str, Any], revision: str) -> None:
        container = sts["spec"]["template"]["spec"]["containers"][0]
        cm = self.k8s.get("configmaps", f"{NAME}-config")
        assert cm is not None
        config = self.workdir / f"config-{ordinal}-{len(self.started)}.yaml"
        config.write_text(cm["data"]["config.yaml"])
        env = self.k8s.env()
        fields = {
            "metadata.namespace": "default",
            "metadata.name": f"{NAME}-{ordinal}",
            "metadata.labels['apps.kubernetes.io/pod-index']": str(ordinal),
            "status.podIP": "127.0.0.1",
        }
        for e in container["env"]:
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "fieldRef" in e.get("valueFrom", {}):
                env[e["name"]] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        env["PYTHONPATH"] = str(pathlib.Path(__file__).resolve().parents[2] / "runtime")
        # The ordinal's own data volume (a StatefulSet's claim outlives its pods), not the
        # machine's /var/lib/shijim that the config names.
        env["SHIJIM_RAW_DIR"] = str(self.workdir / f"data-{ordinal}" / "raw")
        env["SHIJIM_FALLBACK_DIR"] = str(self.workdir / f"data-{ordinal}" / "fallback")
        args = [str(a) for a in container["args"]]
        args[args.index("/etc/shijim/config.yaml")] = str(config)
        port = free_port()  # pods have their own network; local processes need their own ports
        log_path = self.workdir / f"pod-{ordinal}-{len(self.started)}.log"
        log = log_path.open("wb")
        cmd = [sys.executable, "-m", "shijim", "run", *args, "--metrics-port", str(port)]
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        total = int(env["TOTAL_SHARDS"])
        with self.lock:
            self.pods[ordinal] = Pod(ordinal, revision, total, proc, port, log, log_path)
        self.started.append((ordinal, total))

    def _kill(self, pod: Pod) -> None:
        pod.stopping = True
        stop_process(pod.proc)  # SIGTERM: the runtime halts, cancels, exits
        pod.log.close()
        with self.lock:
            if self.pods.get(pod.ordinal) is pod:
                del self.pods[pod.ordinal]

    def step(self) -> None:
        sts = self.k8s.get("statefulsets", NAME)
        if sts is None:
            return
        replicas = sts["spec"]["replicas"]
        revision = template_revision(sts)
        surplus = [p for p in self.live() if p.ordinal >= replicas]
        for pod in surplus:
            pod.stopping = True
            pod.proc.terminate()
        for pod in surplus:
            self._kill(pod)
        for ordinal in range(replicas):
            if ordinal not in self.pods:
                self._launch(ordinal, sts, revision)
        pods = self.live()
        if all(self._ready(p) for p in pods):
            old = sorted((p for p in pods if p.revision != revision), key=lambda p: -p.ordinal)
            if old:
                self._kill(old[0])
                self._launch(old[0].ordinal, sts, revision)
        pods = self.live()
        updated = sum(p.revision == revision for p in pods)
        if updated == len(pods) == replicas:
            self.current_revision = revision
        status = {
            "observedGeneration": sts["metadata"]["generation"],
            "replicas": len(pods),
            "readyReplicas": sum(self._ready(p) for p in pods),
            "updatedReplicas": updated,
            "currentRevision": self.current_revision,
            "updateRevision": revision,
        }
        if status != self._status:
            self._patch_status(status)
            self._status = status

    def _patch_status(self, status: dict[str, Any]) -> None:
        url = (
            f"http://127.0.0.1:{self.k8s.port}/apis/apps/v1/namespaces/default/"
            f"statefulsets/{NAME}/status"
        )
        req = urllib.request.Request(
            url,
            data=json.dumps({"status": status}).encode(),
            method="PATCH",
            headers={"Content-Type": "application/merge-patch+json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200


class Recorder:
    """Every live process's owned codes, sampled continuously, and every TradingShard version
    the API server stored (an emulator observer, so no short phase is missed)."""

    def __init__(self, k8s: EmulatorThread, controller: StatefulSetController) -> None:
        self.controller = controller
        self.samples: list[tuple[float, dict[tuple[int, int, int], set[str]]]] = []
        self.versions: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        assert k8s.emulator is not None
        k8s.emulator.observers.append(self._observe)

    def _observe(self, plural: str, obj: dict[str, Any]) -> None:
        if plural == "tradingshards":
            self.versions.append((time.monotonic(), copy.deepcopy(obj.get("status") or {})))

    def _loop(self) -> None:
        while not self._stop.is_set():
            sample: dict[tuple[int, int, int], set[str]] = {}
            t = time.monotonic()
            for pod in self.controller.live():
                owned = pod.owned()
                if owned is not None:  # not serving yet, or gone
                    sample[(pod.ordinal, pod.total, pod.proc.pid)] = owned
            self.samples.append((t, sample))
            self._stop.wait(0.02)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def phases(self, since: float = 0.0) -> list[str]:
        out: list[str] = []
        for t, status in self.versions:
            phase = (status.get("sharding") or {}).get("phase")
            if t >= since and phase and (not out or out[-1] != phase):
                out.append(phase)
        return out

    def double_owned(self) -> list[tuple[float, str, list[tuple[int, int, int]]]]:
        bad = []
        for t, sample in self.samples:
            owners: dict[str, list[tuple[int, int, int]]] = {}
            for pod, codes in sample.items():
                for code in codes:
                    owners.setdefault(code, []).append(pod)
            bad += [(t, c, o) for c, o in owners.items() if len(o) > 1]
        return bad

    def first_owned(self, code: str, ordinal: int, total: int, since: float) -> float:
        """When the pod `ordinal` of layout `total` first owned `code`."""
        return next(
            t
            for t, sample in self.samples
            if t >= since
            and any(code in c and p[:2] == (ordinal, total) for p, c in sample.items())
        )

    def released_clean(self, code: str, shard: int, since: float) -> float:
        """When the old owner first reported `code` released with no working order."""
        for t, status in self.versions:
            entry = (status.get("shards") or {}).get(str(shard)) or {}
            if t < since or len(entry.get("layouts") or []) != 2:
                continue
            for r in entry.get("released") or []:
                if r["code"] == code and r["workingOrders"] == 0:
                    return t
        raise AssertionError(f"{code}: shard {shard} never reported it released and clean")


@pytest.fixture
def controller(k8s: EmulatorThread, tmp_path: pathlib.Path) -> Iterator[StatefulSetController]:
    ctl = StatefulSetController(k8s, tmp_path)
    yield ctl
    ctl.stop()


def sharding_of(k8s: EmulatorThread) -> dict[str, Any]:
    return ((k8s.get("tradingshards", NAME) or {}).get("status") or {}).get("sharding") or {}


def expected_owners(total: int) -> dict[str, int]:
    return {code: universe.shard_of(code, total) for code in CODES}


def owned_now(controller: StatefulSetController) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for pod in controller.live():
        for code in pod.owned() or ():
            out.setdefault(code, []).append(pod.ordinal)
    return out


def settle(k8s: EmulatorThread, controller: StatefulSetController, total: int) -> None:
    def stable() -> bool:
        if controller.error is not None:
            raise controller.error
        s = sharding_of(k8s)
        return (
            s.get("phase") == "Stable"
            and [lay["shards"] for lay in s["layouts"]] == [total]
            and sorted(p.ordinal for p in controller.live()) == list(range(total))
            and owned_now(controller) == {c: [k] for c, k in expected_owners(total).items()}
        )

    wait_for(stable, 40, 0.1)


def reshard(
    k8s: EmulatorThread, controller: StatefulSetController, recorder: Recorder, n: int, m: int
) -> float:
    t0 = time.monotonic()
    k8s.merge_patch(NAME, {"spec": {"shards": m}})  # the real kubectl
    cond = wait_for(
        lambda: next(
            (
                c
                for c in (k8s.get("tradingshards", NAME) or {})
                .get("status", {})
                .get("conditions", [])
                if c["type"] == "Resharding" and c["status"] == "True"
            ),
            None,
        ),
        10,
        0.01,
    )
    assert cond["message"].startswith(f"{n} -> {m}: ")
    settle(k8s, controller, m)
    settled = time.monotonic()
    wait_for(lambda: recorder.samples[-1][0] > settled)  # the recorder saw the end state too
    return t0


def test_resharding_2_to_3_and_back_never_double_trades(
    k8s: EmulatorThread,
    operator: OperatorProcess,
    controller: StatefulSetController,
    tmp_path: pathlib.Path,
) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"]["shards"] = 2
    doc["spec"]["universe"]["codes"] = CODES
    doc["spec"]["risk"]["maxPositionPerCode"] = {"MXFL6": 2}
    manifest = tmp_path / "shard.yaml"
    manifest.write_text(yaml.safe_dump(doc))
    recorder = Recorder(k8s, controller)
    k8s.kubectl("apply", "-f", str(manifest))
    controller.start()
    recorder.start()
    try:
        settle(k8s, controller, 2)
        assert controller.started == [(0, 2), (1, 2)]
        # Both pods trade before the change (orders working, positions taken).
        wait_for(lambda: all(p.orders() >= 3 for p in controller.live()), 20, 0.1)

        # ---- 2 -> 3
        t0 = reshard(k8s, controller, recorder, 2, 3)
        assert recorder.phases(t0) == ["Stable", "Releasing", "Rolling", "Stable"]
        # The StatefulSet pods of 3 started only after the 2-pods had released (Rolling), pod 2
        # first (scale-up), then 1 and 0 rolled one at a time.
        assert controller.started[2:] == [(2, 3), (1, 3), (0, 3)]
        moved = {"MXFL6": 0, "MXFA7": 1, "1301": 1}
        for code, old_owner in moved.items():
            clean = recorder.released_clean(code, old_owner, t0)
            taken = recorder.first_owned(code, 2, 3, t0)
            assert clean < taken, code  # cancelled and reported before the new owner traded
            # ... and the old owner never owned it again after reporting the release.
            for t, sample in recorder.samples:
                if t > clean:
                    assert all(
                        code not in owned
                        for (ordinal, total, _), owned in sample.items()
                        if total == 2
                    ), (code, t)
        handover = {h["code"]: h for h in sharding_of(k8s)["handover"]}
        assert {c: h["fromShard"] for c, h in handover.items()} == moved
        new_log = next(p.log_path.read_text() for p in controller.live() if p.ordinal == 2)
        for code, h in handover.items():
            assert f"takes over {code} from shard {h['fromShard']}: position {h['position']}" in (
                new_log
            )
        status = k8s.get("tradingshards", NAME)["status"]  # type: ignore[index]
        assert sorted(status["shards"]) == ["0", "1", "2"]
        wait_for(lambda: all(p.orders() >= 3 for p in controller.live()), 20, 0.1)
        resharding_cond = next(c for c in status["conditions"] if c["type"] == "Resharding")
        assert resharding_cond["status"] == "False" and resharding_cond["reason"] == "Stable"

        # ---- 3 -> 2
        t1 = reshard(k8s, controller, recorder, 3, 2)
        assert recorder.phases(t1) == ["Stable", "Releasing", "Rolling", "Stable"]
        for code, new_owner in moved.items():
            clean = recorder.released_clean(code, 2, t1)
            assert clean < recorder.first_owned(code, new_owner, 2, t1), code
        wait_for(lambda: sorted(k8s.get("tradingshards", NAME)["status"]["shards"]) == ["0", "1"])  # type: ignore[index]
    finally:
        recorder.stop()

    doubles = recorder.double_owned()
    assert not doubles, doubles[:5]
    assert len(recorder.samples) > 100
    print(
        f"\n{len(recorder.samples)} samples of every live pod's owned codes, no code owned twice;"
        f" 2->3 and 3->2 took {t1 - t0:.1f} s and {time.monotonic() - t1:.1f} s"
    )


def test_crd_status_schema_keeps_every_resharding_field() -> None:
    """A real API server prunes status fields its schema does not list."""
    crd = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "crds/tradingshard.yaml")
                         .read_text())  # fmt: skip
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    published = status["properties"]["sharding"]["properties"]
    plan = resharding.plan(THREE, resharding.plan(TWO, None, None, None, NOW, STALE).status(),
                           None, None, NOW, STALE)  # fmt: skip
    assert set(plan.status()) == set(published)
    assert set(published["layouts"]["items"]["properties"]) == set(TWO.to_status())
    assert set(published["handover"]["items"]["properties"]) == {
        "code", "fromShard", "position", "avgPrice"
    }  # fmt: skip
    entry = status["properties"]["shards"]["additionalProperties"]["properties"]
    mine = universe.ShardSpec(0, 2).select(CODES)
    o = CodeOwnership(paper_gateway(mine), 0, universe.Layout(2, frozenset(CODES)), mine,
                      broker_positions=False)  # fmt: skip
    o.hold_all("start")
    report = o.report()
    assert set(report) <= set(entry)
    assert set(report["released"][0]) == set(entry["released"]["items"]["properties"])
