"""The real Kopf operator (`kopf run -m shijim_operator`, a subprocess) against the API emulator,
driven by the real kubectl, with in-process runtime watchers standing in for the pods."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import yaml
from emulator import EXAMPLE, ROOT, EmulatorThread, wait_for
from processes import free_port, stop_process
from shijim.domain import TradingState
from shijim.governance.k8s import TradingShardWatcher
from shijim.governance.k8s_api import kubeconfig_endpoint
from shijim.risk.state import TradingStateMachine

if TYPE_CHECKING:
    from conftest import OperatorProcess

pytestmark = pytest.mark.slow  # a Kopf subprocess per test

NAME = "sim-demo"
CHILDREN = (
    ("serviceaccounts", f"{NAME}-runtime"),
    ("roles", f"{NAME}-runtime"),
    ("rolebindings", f"{NAME}-runtime"),
    ("configmaps", f"{NAME}-config"),
    ("services", NAME),
    ("statefulsets", NAME),
    ("poddisruptionbudgets", NAME),
)


def children(k8s: EmulatorThread) -> dict[str, dict | None]:
    return {plural: k8s.get(plural, name) for plural, name in CHILDREN}


def condition(k8s: EmulatorThread, ctype: str) -> dict | None:
    obj = k8s.get("tradingshards", NAME) or {}
    for c in (obj.get("status") or {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def shard_entry(k8s: EmulatorThread, shard_id: int) -> dict | None:
    obj = k8s.get("tradingshards", NAME) or {}
    return (obj.get("status") or {}).get("shards", {}).get(str(shard_id))


@pytest.fixture
def pods(k8s: EmulatorThread) -> Iterator[list[TradingShardWatcher]]:
    started: list[TradingShardWatcher] = []
    yield started
    for w in started:
        w.stop()


def start_pod(k8s: EmulatorThread, pods: list[TradingShardWatcher], shard_id: int) -> None:
    w = TradingShardWatcher(
        TradingStateMachine(),
        NAME,
        "default",
        shard_id,
        f"{NAME}-{shard_id}",
        endpoint=kubeconfig_endpoint(str(k8s.kubeconfig)),
        heartbeat_seconds=1.0,
    )
    w.start()
    pods.append(w)


def apply_and_wait(k8s: EmulatorThread) -> dict[str, dict | None]:
    k8s.kubectl("apply", "-f", str(EXAMPLE))
    return wait_for(lambda: all((c := children(k8s)).values()) and c, 15)


def apply_with_both_pods_reporting(k8s: EmulatorThread, pods: list[TradingShardWatcher]) -> None:
    apply_and_wait(k8s)
    start_pod(k8s, pods, 0)
    start_pod(k8s, pods, 1)
    wait_for(lambda: shard_entry(k8s, 0) and shard_entry(k8s, 1))


def test_apply_creates_children_with_the_right_content(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    made = apply_and_wait(k8s)
    shard = k8s.get("tradingshards", NAME)
    assert shard is not None
    uid = shard["metadata"]["uid"]
    for plural, obj in made.items():
        assert obj is not None
        refs = obj["metadata"]["ownerReferences"]
        assert refs == [
            {
                "apiVersion": "shijim.io/v1alpha1",
                "kind": "TradingShard",
                "name": NAME,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], plural

    sts = made["statefulsets"]
    assert sts is not None
    spec = sts["spec"]
    assert spec["replicas"] == 2
    assert spec["serviceName"] == NAME
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/shijim/shijim:0.1.0"
    assert container["command"] == ["python", "-m", "shijim", "run"]
    assert container["args"] == ["--config", "/etc/shijim/config.yaml", "--tradingshard", NAME]
    env = {e["name"]: e for e in container["env"]}
    assert env["TOTAL_SHARDS"]["value"] == "2"
    assert env["SHIJIM_TRADINGSHARD"]["value"] == NAME
    shard_id_ref = env["SHARD_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert shard_id_ref == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert "SHIOAJI_API_KEY" not in env  # simulated feed: no broker keys at all
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}

    # The ConfigMap is a config file the runtime itself accepts.
    from shijim.app.config import parse_config

    cm = made["configmaps"]
    assert cm is not None
    cfg = parse_config(yaml.safe_load(cm["data"]["config.yaml"]))
    assert cfg.shard.total == 2 and cfg.shard.tradingshard == NAME
    example = yaml.safe_load(EXAMPLE.read_text())
    assert cfg.universe.codes == tuple(example["spec"]["universe"]["codes"])
    assert cfg.feed.kind == "sim" and cfg.risk.max_order_qty == 2

    svc = made["services"]
    assert svc is not None
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"][0]["port"] == 9100
    pdb = made["poddisruptionbudgets"]
    assert pdb is not None
    assert pdb["spec"]["maxUnavailable"] == 1

    # kubectl sees them, and the operator reported a valid spec.
    out = k8s.kubectl_json("get", "statefulset", NAME)
    assert out["spec"]["replicas"] == 2
    invalid = wait_for(lambda: condition(k8s, "InvalidSpec"), 5)
    assert invalid["status"] == "False"
    status = k8s.get("tradingshards", NAME)["status"]  # type: ignore[index]
    assert status["observedGeneration"] == 1
    assert status["phase"] == "Pending"  # no pod has reported yet
    log = operator.log()
    assert "Handler 'reconcile_shard' succeeded" in log
    assert "'refresh_status' succeeded" not in log  # routine refreshes do not flood the log


def test_kill_switch_engaged_only_when_every_shard_acknowledged(
    k8s: EmulatorThread, operator: OperatorProcess, pods: list[TradingShardWatcher]
) -> None:
    before = apply_and_wait(k8s)
    start_pod(k8s, pods, 0)
    start_pod(k8s, pods, 1)
    wait_for(
        lambda: (k8s.get("tradingshards", NAME) or {}).get("status", {}).get("readyShards") == 2
    )
    wait_for(lambda: (c := condition(k8s, "Ready")) and c["status"] == "True")
    wait_for(lambda: k8s.get("tradingshards", NAME)["status"]["phase"] == "Running")  # type: ignore[index]
    # The printer columns point at what the operator writes (the emulator renders them from the
    # CRD as the API server does).
    table = k8s.kubectl("get", "tshard").splitlines()
    assert table[0].split() == ["NAME", "SHARDS", "READY", "KILL", "PHASE", "AGE"]
    assert table[1].split()[:5] == [NAME, "2", "2", "false", "Running"]

    # Shard 1's pod goes away first: the switch must not report engaged for it.
    pods[1].stop()
    t0 = time.monotonic()
    k8s.merge_patch(NAME, '{"spec":{"killSwitch":true}}')
    entry = wait_for(
        lambda: (e := shard_entry(k8s, 0)) and e["killSwitchAcknowledged"] and e, 2, 0.002
    )
    latency = time.monotonic() - t0
    print(f"\nshard 0: kubectl patch -> HALTED+acknowledged in {latency * 1e3:.0f} ms")
    assert latency <= 1.0
    assert entry["tradingState"] == "HALTED"
    waiting = wait_for(
        lambda: (
            (c := condition(k8s, "KillSwitchEngaged"))
            and c["message"] == "not yet acknowledged by shards 1"
            and c
        )
    )
    assert waiting["status"] == "False" and waiting["reason"] == "WaitingForShards"
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/kubectl"), "wait", "--for=condition=KillSwitchEngaged",
         f"tradingshard/{NAME}", "--timeout=1s"],
        env=k8s.env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0  # one shard has not stopped: kubectl wait must not succeed

    # Shard 1 comes back, sees the switch at once, halts and acknowledges.
    start_pod(k8s, pods, 1)
    out = k8s.kubectl(
        "wait", "--for=condition=KillSwitchEngaged", f"tradingshard/{NAME}", "--timeout=10s"
    )
    assert "condition met" in out
    live = [pods[0], pods[2]]  # pods[1] is the stopped one
    assert all(w.state_machine.state is TradingState.HALTED for w in live)
    wait_for(lambda: k8s.get("tradingshards", NAME)["status"]["phase"] == "Halted")  # type: ignore[index]
    assert k8s.kubectl("get", "tradingshard", NAME).splitlines()[1].split()[3:5] == [
        "true",
        "Halted",
    ]

    # The kill switch changes no child (no pod restart, no config change).
    after = children(k8s)
    for plural, obj in before.items():
        assert obj is not None and after[plural] is not None
        rv = after[plural]["metadata"]["resourceVersion"]  # type: ignore[index]
        assert rv == obj["metadata"]["resourceVersion"], plural

    # Back to false: every live pod resumes and the condition drops.
    k8s.merge_patch(NAME, '{"spec":{"killSwitch":false}}')
    wait_for(lambda: all(w.state_machine.state is TradingState.ACTIVE for w in live), 2)
    wait_for(lambda: (c := condition(k8s, "KillSwitchEngaged")) and c["status"] == "False")
    wait_for(lambda: shard_entry(k8s, 0)["tradingState"] == "ACTIVE")  # type: ignore[index]


def test_invalid_spec_reports_and_leaves_children_untouched(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    before = apply_and_wait(k8s)
    wait_for(lambda: (c := condition(k8s, "InvalidSpec")) and c["status"] == "False")

    # Duplicate codes and more shards than codes: the schema cannot reject these.
    patch = {"spec": {"shards": 5, "universe": {"codes": ["TXFL6", "TXFL6", "2330"]}}}
    k8s.merge_patch(NAME, json.dumps(patch))
    invalid = wait_for(lambda: (c := condition(k8s, "InvalidSpec")) and c["status"] == "True" and c)
    assert "spec.universe.codes[1]: duplicate code 'TXFL6'" in invalid["message"]
    assert "spec.shards: 5 shards but only 2 codes" in invalid["message"]
    wait_for(lambda: k8s.get("tradingshards", NAME)["status"]["phase"] == "Invalid")  # type: ignore[index]
    # ... and a Warning event on the TradingShard says why (kubectl describe shows it).
    event = wait_for(
        lambda: next(
            (e for e in k8s.list("events") if "duplicate code" in e.get("message", "")), None
        )
    )
    assert event["type"] == "Warning"
    assert event["involvedObject"]["name"] == NAME

    # A strategy parameter the runtime would refuse: InvalidSpec, not crash-looping pods.
    patch = {"spec": {"strategy": {"parameters": {"quote_qty": 0, "spread": 2}}}}
    k8s.merge_patch(NAME, json.dumps(patch))
    invalid = wait_for(
        lambda: (c := condition(k8s, "InvalidSpec")) and "quote_qty" in c["message"] and c
    )
    assert "spec.strategy.parameters.quote_qty: must be >= 1, got 0" in invalid["message"]
    assert "spec.strategy.parameters.spread: unknown parameter" in invalid["message"]
    for plural, obj in children(k8s).items():
        assert obj == before[plural], plural

    # A code the simulated feed does not know: InvalidSpec naming its position (the runtime's
    # own rule, universe_rules.json), not pods that exit at start in a crash loop.
    patch = {
        "spec": {
            "strategy": {"parameters": {"quote_qty": None, "spread": None}},
            "shards": 2,
            "universe": {"codes": ["TXFL6", "MXFL6", "2330", "2317", "2207"]},
        }
    }
    k8s.merge_patch(NAME, json.dumps(patch))
    invalid = wait_for(
        lambda: (c := condition(k8s, "InvalidSpec")) and "2207" in c["message"] and c
    )
    assert invalid["status"] == "True"
    assert invalid["message"].startswith("spec.universe.codes[4]: '2207' is not simulated")
    for plural, obj in children(k8s).items():
        assert obj == before[plural], plural


def pod_waiting(k8s: EmulatorThread, pod: str, waiting: dict | None) -> None:
    """What the kubelet does (the emulator has none): a runtime pod of the StatefulSet, its
    container waiting (`waiting`) or running (None)."""
    manifest = k8s.workdir / f"{pod}.yaml"
    labels = {"shijim.io/tradingshard": NAME, "app.kubernetes.io/component": "runtime"}
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": "default", "labels": labels},
                "spec": {"containers": [{"name": "runtime", "image": "x"}]},
            }
        )
    )
    k8s.kubectl("apply", "-f", str(manifest))
    state = {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-01-05T01:00:00Z"}}
    status = {
        "phase": "Pending" if waiting else "Running",
        "containerStatuses": [
            {"name": "runtime", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
             "started": not waiting, "state": state}
        ],
    }  # fmt: skip
    k8s.kubectl(
        "patch", "pod", pod, "--subresource", "status", "--type", "merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def test_missing_secret_surfaces_from_the_pods_status(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    """The operator may not read Secrets. A TradingShard referencing one that does not exist
    gets its children; the kubelet cannot start the pods (CreateContainerConfigError) and the
    operator reads that from the pods' status: InvalidSpec naming the field."""
    apply_and_wait(k8s)
    wait_for(lambda: (c := condition(k8s, "InvalidSpec")) and c["status"] == "False")
    patch = {
        "spec": {
            "shards": 2,
            "universe": {"codes": ["TXFL6", "2330"]},
            "feed": "shioaji",
            "brokerSecretRef": {"name": "no-such-secret"},
        }
    }
    k8s.merge_patch(NAME, json.dumps(patch))
    sts = wait_for(
        lambda: (
            (s := k8s.get("statefulsets", NAME))
            and "SHIOAJI_API_KEY" in str(s["spec"]["template"]["spec"]["containers"][0]["env"])
            and s
        )
    )
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SHIOAJI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "no-such-secret",
        "key": "api-key",
    }
    assert not (condition(k8s, "InvalidSpec") or {}).get("status") == "True"
    pod_waiting(k8s, f"{NAME}-1", None)
    pod_waiting(
        k8s,
        f"{NAME}-0",
        {"reason": "CreateContainerConfigError", "message": 'secret "no-such-secret" not found'},
    )
    invalid = wait_for(
        lambda: (c := condition(k8s, "InvalidSpec")) and c["status"] == "True" and c, 15
    )
    assert invalid["message"].startswith(
        "spec.brokerSecretRef.name: Secret 'no-such-secret' not found in the namespace "
        f"(pod {NAME}-0: CreateContainerConfigError"
    )
    wait_for(lambda: k8s.get("tradingshards", NAME)["status"]["phase"] == "Invalid")  # type: ignore[index]
    event = wait_for(
        lambda: next(
            (e for e in k8s.list("events") if "no-such-secret" in e.get("message", "")), None
        )
    )
    assert event["type"] == "Warning" and event["reason"] == "InvalidSpec"

    # The Secret appears (a manifest, as kubectl sends JSON for those); the kubelet starts the
    # container; the condition clears. The operator never read the Secret.
    secret = k8s.workdir / "secret.yaml"
    secret.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "no-such-secret", "namespace": "default"},
                "stringData": {"api-key": "k-123", "secret-key": "s-456"},
            }
        )
    )
    k8s.kubectl("apply", "-f", str(secret))
    pod_waiting(k8s, f"{NAME}-0", None)
    wait_for(lambda: (c := condition(k8s, "InvalidSpec")) and c["status"] == "False", 15)
    everything = json.dumps([k8s.list(p) for p in ("configmaps", "statefulsets", "tradingshards")])
    assert "k-123" not in everything and "s-456" not in everything
    assert "k-123" not in operator.log() and "s-456" not in operator.log()


def test_two_tradingshards_get_accounts_limited_to_themselves(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    """Each TradingShard's pods run as its own ServiceAccount, whose Role names only that
    TradingShard: one compromised pod cannot patch another deployment's status."""
    apply_and_wait(k8s)
    other = yaml.safe_load(EXAMPLE.read_text())
    other["metadata"]["name"] = "sim-other"
    manifest = k8s.workdir / "other.yaml"
    manifest.write_text(yaml.safe_dump(other))
    k8s.kubectl("apply", "-f", str(manifest))
    wait_for(lambda: k8s.get("statefulsets", "sim-other"), 15)
    for name in (NAME, "sim-other"):
        owner_uid = k8s.get("tradingshards", name)["metadata"]["uid"]  # type: ignore[index]
        account = k8s.get("serviceaccounts", f"{name}-runtime")
        role = k8s.get("roles", f"{name}-runtime")
        binding = k8s.get("rolebindings", f"{name}-runtime")
        sts = k8s.get("statefulsets", name)
        assert account and role and binding and sts
        for obj in (account, role, binding):
            assert obj["metadata"]["ownerReferences"][0]["uid"] == owner_uid  # gone with it
        assert {n for rule in role["rules"] for n in rule["resourceNames"]} == {name}
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{name}-runtime", "namespace": "default"}
        ]
        assert binding["roleRef"]["name"] == f"{name}-runtime"
        assert sts["spec"]["template"]["spec"]["serviceAccountName"] == f"{name}-runtime"
    # kubectl sees them as a user would.
    roles = k8s.kubectl_json("get", "roles")["items"]
    assert sorted(r["metadata"]["name"] for r in roles) == [f"{NAME}-runtime", "sim-other-runtime"]


def test_operator_restart_changes_nothing(k8s: EmulatorThread, operator: OperatorProcess) -> None:
    apply_and_wait(k8s)
    wait_for(lambda: "Handler 'reconcile_shard' succeeded" in operator.log())
    wait_for(
        lambda: (k8s.get("tradingshards", NAME) or {}).get("status", {}).get("observedGeneration")
    )
    time.sleep(0.5)  # let the first cycle settle
    operator.stop()
    before = {
        p: k8s.list(p) for p in ("configmaps", "services", "statefulsets", "poddisruptionbudgets")
    }
    shard_before = k8s.get("tradingshards", NAME)
    writes_before = len(k8s.writes)

    operator.start()
    wait_for(lambda: operator.log().count("Handler 'reconcile_shard' succeeded") >= 2, 15)
    time.sleep(0.5)
    after = {p: k8s.list(p) for p in before}
    assert after == before  # same objects, same resourceVersions
    child_writes = [
        w for w in k8s.writes[writes_before:] if w[1] != "events" and w[1] != "tradingshards"
    ]
    assert child_writes == []
    shard_after = k8s.get("tradingshards", NAME)
    assert shard_after["spec"] == shard_before["spec"]  # type: ignore[index]
    assert shard_after["status"]["conditions"] == shard_before["status"]["conditions"]  # type: ignore[index]


def test_delete_halts_every_pod_before_children_go(
    k8s: EmulatorThread, operator: OperatorProcess, pods: list[TradingShardWatcher]
) -> None:
    apply_with_both_pods_reporting(k8s, pods)
    halted_at: dict[int, float] = {}
    for w in pods:
        w.state_machine.subscribe(
            lambda ch, i=w.shard_id: (
                ch.new is TradingState.HALTED and halted_at.setdefault(i, time.monotonic())
            )
        )
    assert k8s.get("tradingshards", NAME)["metadata"]["finalizers"] == ["shijim.io/kill-switch"]  # type: ignore[index]

    t0 = time.monotonic()
    k8s.kubectl("delete", "tradingshard", NAME, "--timeout=20s")  # returns once it is gone
    gone = time.monotonic()
    assert k8s.get("tradingshards", NAME) is None
    assert set(halted_at) == {0, 1}
    assert all(t0 <= t <= gone for t in halted_at.values())
    assert all(c is None for c in children(k8s).values())  # garbage-collected after the finalizer
    assert "all live shards halted" in operator.log()


def test_real_runtime_pods_from_the_rendered_config(
    k8s: EmulatorThread, operator: OperatorProcess, tmp_path: pathlib.Path
) -> None:
    """Two real `python -m shijim run` processes, started as the StatefulSet would start them
    (the operator's ConfigMap as --config, its env), halt on the CRD switch; then kubectl wait
    succeeds; false resumes; deletion halts them before the children go."""
    made = apply_and_wait(k8s)
    cm = made["configmaps"]
    sts = made["statefulsets"]
    assert cm is not None and sts is not None
    config = tmp_path / "config.yaml"
    config.write_text(cm["data"]["config.yaml"])
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env_spec = {e["name"]: e.get("value") for e in container["env"]}
    procs = []
    for shard_id in (0, 1):
        env = k8s.env()
        env.update(
            SHIJIM_TRADINGSHARD=env_spec["SHIJIM_TRADINGSHARD"],
            TOTAL_SHARDS=env_spec["TOTAL_SHARDS"],
            POD_NAMESPACE="default",  # the downward API's values
            POD_NAME=f"{NAME}-{shard_id}",
            SHARD_ID=str(shard_id),
            PYTHONPATH=str(ROOT / "runtime"),
            # Each pod's own data volume (the example records; the config's dirs are the pod's
            # /var/lib/shijim, which the environment overrides here as the runtime allows).
            SHIJIM_RAW_DIR=str(tmp_path / f"data-{shard_id}" / "raw"),
            SHIJIM_FALLBACK_DIR=str(tmp_path / f"data-{shard_id}" / "fallback"),
        )
        args = [str(a) for a in container["args"]]
        args[args.index("/etc/shijim/config.yaml")] = str(config)
        port = free_port()  # two local processes need two metrics ports
        log = (tmp_path / f"runtime-{shard_id}.log").open("wb")
        cmd = [sys.executable, "-m", "shijim", "run", *args, "--duration", "60"]
        cmd += ["--metrics-port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        procs.append((proc, log))

    def logs() -> str:
        return "\n".join((tmp_path / f"runtime-{i}.log").read_text() for i in (0, 1))

    try:

        def running() -> bool:
            for p, _ in procs:
                if p.poll() is not None:
                    raise AssertionError(f"a runtime exited:\n{logs()}")
            return bool((c := condition(k8s, "Ready")) and c["status"] == "True")

        wait_for(running, 30)
        t0 = time.monotonic()
        k8s.merge_patch(NAME, '{"spec":{"killSwitch":true}}')
        latencies = {}
        while len(latencies) < 2 and time.monotonic() - t0 < 3:
            for i in (0, 1):
                e = shard_entry(k8s, i)
                if i not in latencies and e and e["killSwitchAcknowledged"]:
                    latencies[i] = time.monotonic() - t0
            time.sleep(0.002)
        print(f"\nreal runtimes: patch -> HALTED+acknowledged (s): {latencies}")
        assert set(latencies) == {0, 1}, (k8s.get("tradingshards", NAME), logs())
        assert max(latencies.values()) <= 1.0
        out = k8s.kubectl(
            "wait", "--for=condition=KillSwitchEngaged", f"tradingshard/{NAME}", "--timeout=10s"
        )
        assert "condition met" in out

        k8s.merge_patch(NAME, '{"spec":{"killSwitch":false}}')
        wait_for(
            lambda: all(
                (shard_entry(k8s, i) or {}).get("tradingState") == "ACTIVE" for i in (0, 1)
            ),
            5,
        )

        k8s.kubectl("delete", "tradingshard", NAME, "--timeout=20s")
        assert k8s.get("tradingshards", NAME) is None
        assert all(c is None for c in children(k8s).values())
        assert "all live shards halted" in operator.log()
        assert logs().count("by crd: TradingShard sim-demo: being deleted") == 2
    finally:
        for p, log in procs:
            stop_process(p)
            log.close()


def test_a_child_name_taken_by_a_foreign_object_is_never_taken_over(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    foreign = k8s.workdir / "foreign.yaml"
    foreign.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{NAME}-config", "namespace": "default"},
                "data": {"config.yaml": "someone else's"},
            }
        )
    )
    k8s.kubectl("apply", "-f", str(foreign))
    k8s.kubectl("apply", "-f", str(EXAMPLE))
    wait_for(lambda: "is not controlled by it" in operator.log(), 10)
    cm = k8s.get("configmaps", f"{NAME}-config")
    assert cm is not None and cm["data"] == {"config.yaml": "someone else's"}
    assert k8s.get("statefulsets", NAME) is None  # no pods without their config

    # Once the foreign object is gone, the retry creates the real children.
    k8s.kubectl("delete", "configmap", f"{NAME}-config")
    wait_for(lambda: all(children(k8s).values()), 15)


def test_scale_down_waits_for_the_pods_to_release_and_can_be_taken_back(
    k8s: EmulatorThread, operator: OperatorProcess, pods: list[TradingShardWatcher]
) -> None:
    """These stand-in pods never acknowledge a resharding (no CodeOwnership): the transition
    stays in Releasing, names them, and never touches the StatefulSet or the ConfigMap
    (docs/sharding.md; tests/k8s/test_resharding.py runs it to the end with real runtimes)."""
    before = apply_and_wait(k8s)
    start_pod(k8s, pods, 0)
    start_pod(k8s, pods, 1)
    wait_for(lambda: shard_entry(k8s, 0) and shard_entry(k8s, 1))
    k8s.merge_patch(NAME, '{"spec":{"shards":1}}')
    resharding = wait_for(
        lambda: (c := condition(k8s, "Resharding")) and c["status"] == "True" and c
    )
    assert resharding["reason"] == "Releasing"
    assert resharding["message"] == "2 -> 1: releasing (shards 0,1 pending)"
    time.sleep(1.5)  # heartbeats and timer refreshes come and go
    assert condition(k8s, "Resharding")["reason"] == "Releasing"  # type: ignore[index]
    for plural in ("statefulsets", "configmaps"):
        obj = before[plural]
        assert obj is not None and k8s.get(plural, obj["metadata"]["name"]) == obj, plural
    assert shard_entry(k8s, 1) is not None  # shard 1 still runs: its report stays
    # The kill switch works in the middle of it, and waits for both running shards.
    k8s.merge_patch(NAME, '{"spec":{"killSwitch":true}}')
    out = k8s.kubectl(
        "wait", "--for=condition=KillSwitchEngaged", f"tradingshard/{NAME}", "--timeout=10s"
    )
    assert "condition met" in out
    assert all(w.state_machine.state is TradingState.HALTED for w in pods)
    assert shard_entry(k8s, 1)["killSwitchAcknowledged"] is True  # type: ignore[index]
    k8s.merge_patch(NAME, '{"spec":{"killSwitch":false}}')
    # Back to 2 before anything rolled: the transition is cancelled.
    k8s.merge_patch(NAME, '{"spec":{"shards":2}}')
    wait_for(lambda: (c := condition(k8s, "Resharding")) and c["status"] == "False")
    sharding = k8s.get("tradingshards", NAME)["status"]["sharding"]  # type: ignore[index]
    assert sharding["phase"] == "Stable" and [x["shards"] for x in sharding["layouts"]] == [2]


def test_delete_is_bounded_when_a_pod_never_acknowledges(
    k8s: EmulatorThread, operator: OperatorProcess
) -> None:
    apply_and_wait(k8s)
    k8s.merge_patch(NAME, '{"spec":{"shutdownTimeoutSeconds":1}}')
    # A stuck pod: heartbeating, never halting.
    beat = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stuck = {"pod": f"{NAME}-0", "tradingState": "ACTIVE", "killSwitchAcknowledged": False,
             "observedGeneration": 2, "lastHeartbeat": beat}  # fmt: skip
    k8s.kubectl(
        "patch", "tradingshard", NAME, "--subresource", "status", "--type", "merge",
        "-p", json.dumps({"status": {"shards": {"0": stuck}}}),
    )  # fmt: skip
    t0 = time.monotonic()
    k8s.kubectl("delete", "tradingshard", NAME, "--timeout=20s")
    took = time.monotonic() - t0
    assert 1.0 <= took < 10.0, took
    assert k8s.get("tradingshards", NAME) is None
    event = next(e for e in k8s.list("events") if e.get("reason") == "DrainTimeout")
    assert event["type"] == "Warning"
    assert event["message"].startswith("shards 0 did not acknowledge the kill switch within 1s")
