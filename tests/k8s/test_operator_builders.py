"""The operator's pure parts: spec checks, child builders, status conditions (no I/O)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import yaml
from emulator import EXAMPLE, ROOT
from shijim_operator import builders, conditions
from shijim_operator.spec import read_spec, secret_problems

OWNER = builders.Owner("sim-demo", "trading", "uid-1")
NOW = datetime.datetime(2026, 11, 24, 1, 0, 0, tzinfo=datetime.UTC)


def example_spec() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())["spec"]  # a fresh object per call


def checked(spec: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    result, problems = read_spec(spec if spec is not None else example_spec())
    assert result is not None, problems
    return result


# ---------------------------------------------------------------------------- spec checks
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"universe": {"codes": ["TXFL6", "2330", "TXFL6"]}}, "spec.universe.codes[2]: duplicate"),
        ({"shards": 23}, "spec.shards: 23 shards but only 22 codes"),
        (
            {"universe": {"codes": ["TXFL6", "2330", "txf l6"]}},
            "spec.universe.codes[2]: 'txf l6' is not an instrument code",
        ),
        ({"shards": 0}, "spec.shards: must be in [1, 64], got 0"),
        ({"shards": "2"}, "spec.shards: expected an integer"),
        ({"feed": "tcp"}, "spec.feed: expected one of ['sim', 'shioaji', 'replay']"),
        ({"feed": "replay"}, "spec.replay.path: required when feed is replay"),
        ({"feed": "shioaji"}, "spec.brokerSecretRef: required when feed is shioaji"),
        ({"simulation": False}, "spec.brokerSecretRef: required when simulation is false"),
        (
            {"simulation": False, "feed": "shioaji", "brokerSecretRef": {"name": "broker"}},
            "spec.brokerSecretRef.caFileKey: required for production orders (CA)",
        ),
        ({"image": ""}, "spec.image: expected a non-empty string"),
        ({"killSwitch": "yes"}, "spec.killSwitch: expected true or false"),
        ({"risk": {"maxOrderQty": 0}}, "spec.risk.maxOrderQty: must be >= 1, got 0"),
        ({"risk": {"maxDailyLoss": -1}}, "spec.risk.maxDailyLoss: must be > 0, got -1"),
        (
            {"risk": {"maxPositionPerCode": {"TXFL6": -1}}},
            "spec.risk.maxPositionPerCode.TXFL6: must be >= 0, got -1",
        ),
        # A renamed (or misspelt) limit is refused, never dropped for its default.
        ({"risk": {"dailyLossLimit": 1000}}, "spec.risk.dailyLossLimit: unknown limit (known: "),
        (
            {"strategy": {"name": "market_making", "decision": "sometimes"}},
            "spec.strategy.decision: expected every_event, on_touch_change or interval_ms:N",
        ),
        (
            {"strategy": {"name": "market_making", "decision": "interval_ms:90000000"}},
            "spec.strategy.decision: interval_ms: N must be in [1, 86400000]",
        ),
        ({"apiServer": {"policy": "ACTIVE"}}, "spec.apiServer.policy: expected one of"),
        ({"clickhouse": {"dsnSecretRef": {}}}, "spec.clickhouse.dsnSecretRef.name: required"),
        ({"universe": {"codes": []}}, "spec.universe.codes: expected a non-empty list"),
        ({"strategy": {}}, "spec.strategy.name: required field is missing"),
    ],
)
def test_spec_problems_name_the_field(change: dict[str, Any], expected: str) -> None:
    spec = example_spec()
    spec.update(change)
    result, problems = read_spec(spec)
    assert result is None
    assert any(str(p).startswith(expected) for p in problems), [str(p) for p in problems]


def waiting_pod(name: str, reason: str, message: str) -> dict[str, Any]:
    """A Pod as the kubelet leaves it when it cannot start the container."""
    waiting = {"reason": reason, "message": message}
    return {
        "metadata": {"name": name},
        "status": {"containerStatuses": [{"name": "runtime", "state": {"waiting": waiting}}]},
    }


def test_missing_secret_or_key_is_read_from_the_pods_status() -> None:
    spec = example_spec()
    spec.update(
        feed="shioaji",
        brokerSecretRef={"name": "broker", "caPasswordKey": "ca-pass"},
        clickhouse={"enabled": True, "dsnSecretRef": {"name": "ch", "key": "url"}},
    )
    shard_spec = checked(spec)  # a Secret is never looked up while checking the spec
    error = "CreateContainerConfigError"
    pods = [
        waiting_pod("sim-demo-0", error, 'secret "broker" not found'),
        waiting_pod("sim-demo-1", error, 'secret "broker" not found'),
        waiting_pod("sim-demo-1", error, "couldn't find key url in Secret trading/ch"),
        # Not this spec's: another Secret, another reason, a running container.
        waiting_pod("sim-demo-1", error, 'secret "someone-else" not found'),
        waiting_pod("sim-demo-1", "ImagePullBackOff", 'secret "broker" not found'),
        {"metadata": {"name": "x"}, "status": {"containerStatuses": [{"state": {"running": {}}}]}},
        {"metadata": {"name": "y"}},  # no status yet
    ]
    assert [str(p) for p in secret_problems(shard_spec, pods)] == [
        "spec.brokerSecretRef.name: Secret 'broker' not found in the namespace (pod sim-demo-0: "
        'CreateContainerConfigError: secret "broker" not found)',
        "spec.clickhouse.dsnSecretRef.key: key 'url' not found in Secret 'ch' (pod sim-demo-1: "
        "CreateContainerConfigError: couldn't find key url in Secret trading/ch)",
    ]
    key_pod = waiting_pod("p", error, "couldn't find key ca-pass in Secret trading/broker")
    (problem,) = secret_problems(shard_spec, [key_pod])
    assert problem.field == "brokerSecretRef.caPasswordKey"
    assert secret_problems(shard_spec, pods[3:]) == []


def test_garbage_spec_never_raises() -> None:
    for garbage in (None, [], "x", {"universe": "TXFL6"}, {"resources": {"limits": 3}}):
        result, problems = read_spec(garbage)
        assert result is None and problems


# ---------------------------------------------------------------------------- builders
def test_children_are_owned_labelled_and_hashed() -> None:
    kids = builders.build_children(OWNER, checked())
    assert [c.plural for c in kids] == [
        "serviceaccounts",
        "roles",
        "rolebindings",
        "configmaps",
        "services",
        "statefulsets",
        "poddisruptionbudgets",
    ]
    for child in kids:
        meta = child.body["metadata"]
        assert meta["namespace"] == "trading"
        assert meta["ownerReferences"][0]["uid"] == "uid-1"
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["shijim.io/tradingshard"] == "sim-demo"
        assert len(child.desired_hash) == 16
    # Deterministic: the same spec gives the same objects and hashes.
    again = builders.build_children(OWNER, checked())
    assert [c.body for c in again] == [c.body for c in kids]


def test_kill_switch_is_not_part_of_any_child() -> None:
    spec = example_spec()
    off = builders.build_children(OWNER, checked(spec))
    spec["killSwitch"] = True
    on = builders.build_children(OWNER, checked(spec))
    assert [c.body for c in on] == [c.body for c in off]  # toggling it never rolls the pods


def test_config_change_rolls_the_pods_via_the_template_hash() -> None:
    spec = example_spec()
    before = builders.build_statefulset(OWNER, checked(spec))
    spec["risk"]["maxOrderQty"] = 1
    after = builders.build_statefulset(OWNER, checked(spec))
    key = builders.CONFIG_HASH_ANNOTATION
    old = before["spec"]["template"]["metadata"]["annotations"][key]
    assert after["spec"]["template"]["metadata"]["annotations"][key] != old


def test_pod_security_and_volumes() -> None:
    sts = builders.build_statefulset(OWNER, checked())
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "sim-demo-runtime"
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts == {
        "/etc/shijim": "config",
        "/tmp": "tmp",
        "/dev/shm": "shm",
        "/var/lib/shijim": "data",
    }
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["shm"]["emptyDir"]["medium"] == "Memory"
    # The example records: /var/lib/shijim is a claim per pod (tests/k8s/test_operator_recorder).
    assert "data" not in vols and sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == (
        "data"
    )


def test_runtime_probes_use_the_trading_loop_endpoints() -> None:
    sts = builders.build_statefulset(OWNER, checked())
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    # Liveness: the trading loop's heartbeat; readiness: trading or deliberately halted with
    # fresh data (no longer just "the TCP port is open").
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert "tcpSocket" not in c["readinessProbe"]
    startup = c["startupProbe"]
    assert startup["httpGet"] == {"path": "/livez", "port": "metrics"}
    # The startup probe covers the broker login and its jitter before liveness can kill a pod.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] <= 60  # a stuck loop restarts soon
    assert {p["name"] for p in c["ports"]} == {"metrics"}
    env = {e["name"]: e for e in c["env"]}
    # /metrics, /livez and /readyz on the pod IP only (the runtime binds loopback without it).
    assert env["SHIJIM_METRICS_BIND"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_each_tradingshard_gets_its_own_account_limited_to_itself() -> None:
    kids = {c.plural: c.body for c in builders.build_children(OWNER, checked())}
    account, role, binding = kids["serviceaccounts"], kids["roles"], kids["rolebindings"]
    name = "sim-demo-runtime"
    assert account["metadata"]["name"] == role["metadata"]["name"] == name
    assert kids["statefulsets"]["spec"]["template"]["spec"]["serviceAccountName"] == name
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "trading"}]
    # Only its own TradingShard: every rule names it, nothing lists, nothing else is granted.
    assert role["rules"] == [
        {"apiGroups": ["shijim.io"], "resources": ["tradingshards"], "verbs": ["get", "watch"],
         "resourceNames": ["sim-demo"]},
        {"apiGroups": ["shijim.io"], "resources": ["tradingshards/status"], "verbs": ["patch"],
         "resourceNames": ["sim-demo"]},
    ]  # fmt: skip
    other = builders.build_role(builders.Owner("other", "trading", "uid-2"), checked())
    assert {n for r in other["rules"] for n in r["resourceNames"]} == {"other"}
    # operator/rbac/runtime-role.yaml documents the same rules.
    documented = yaml.safe_load((ROOT / "operator" / "rbac" / "runtime-role.yaml").read_text())
    text = json.dumps(documented["rules"]).replace("<tradingshard>", "sim-demo")
    assert json.loads(text) == role["rules"]


def test_storage_size_gives_a_claim_per_pod() -> None:
    spec = example_spec()
    spec["recorder"] = {"storageSize": "20Gi", "storageClassName": "fast"}
    sts = builders.build_statefulset(OWNER, checked(spec))
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert "data" not in {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}


def test_secrets_only_as_references() -> None:
    spec = example_spec()
    spec.update(
        feed="shioaji",
        simulation=False,
        brokerSecretRef={"name": "broker", "caPasswordKey": "ca-pass", "caFileKey": "ca.pfx"},
        clickhouse={"enabled": True, "dsnSecretRef": {"name": "ch"}},
    )
    sts = builders.build_statefulset(OWNER, checked(spec))
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SHIOAJI_API_KEY"] == {
        "name": "SHIOAJI_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "broker", "key": "api-key"}},
    }
    assert env["SHIOAJI_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secret-key"
    assert env["SHIOAJI_CA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "ca-pass"
    # The certificate is a read-only file from the Secret, never an env value.
    assert env["SHIOAJI_CA_PATH"] == {"name": "SHIOAJI_CA_PATH", "value": "/etc/shijim/ca/ca.pfx"}
    pod = sts["spec"]["template"]["spec"]
    ca = next(v for v in pod["volumes"] if v["name"] == "ca")
    assert ca["secret"] == {
        "secretName": "broker",
        "items": [{"key": "ca.pfx", "path": "ca.pfx"}],
        "defaultMode": 0o400,
        "optional": True,  # a missing Secret fails the env instead (CreateContainerConfigError)
    }
    assert {"name": "ca", "mountPath": "/etc/shijim/ca", "readOnly": True} in (
        pod["containers"][0]["volumeMounts"]
    )
    assert env["CLICKHOUSE_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "ch", "key": "dsn"}
    secrets = {n: e for n, e in env.items() if n.startswith(("SHIOAJI", "CLICKHOUSE"))}
    del secrets["SHIOAJI_CA_PATH"]  # a file path inside the pod, not a secret
    assert secrets and all("value" not in e for e in secrets.values())
    cm = builders.build_config_map(OWNER, checked(spec))
    assert "broker" not in json.dumps(cm) and "dsn" not in json.dumps(cm)


def test_rendered_config_is_accepted_by_the_runtime() -> None:
    from shijim.app.config import parse_config

    spec = example_spec()
    spec.update(feed="replay", replay={"path": "/data/raw", "pace": "fast"})
    spec["apiServer"] = {"gracePeriodSeconds": 10, "policy": "REDUCING"}
    cm = builders.build_config_map(OWNER, checked(spec))
    cfg = parse_config(yaml.safe_load(cm["data"]["config.yaml"]))
    assert cfg.feed.kind == "replay" and cfg.feed.replay_path == "/data/raw"
    assert cfg.feed.pace == "fast"
    assert cfg.kubernetes.grace_seconds == 10.0 and cfg.kubernetes.grace_policy == "REDUCING"
    assert cfg.risk.max_position_per_code == {"TXFL6": 2} and cfg.risk.max_order_qty == 2
    assert cfg.risk.max_daily_loss == 50_000.0 and cfg.risk.order_actions_per_10s == 100
    assert cfg.strategy.decision == "on_touch_change"  # the CRD's default, rendered
    spec["strategy"]["decision"] = "interval_ms:5"
    cm = builders.build_config_map(OWNER, checked(spec))
    assert parse_config(yaml.safe_load(cm["data"]["config.yaml"])).strategy.decision == (
        "interval_ms:5"
    )
    assert cfg.shard.namespace == "trading" and cfg.shard.total == 2


# ---------------------------------------------------------------------------- conditions
def report(state: str, ack: bool, gen: int, age: float = 1.0) -> dict[str, Any]:
    beat = NOW - datetime.timedelta(seconds=age)
    return {
        "pod": "p",
        "tradingState": state,
        "killSwitchAcknowledged": ack,
        "observedGeneration": gen,
        "lastHeartbeat": conditions.format_time(beat),
    }


def cond(result: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in result["conditions"] if c["type"] == ctype)


def test_kill_switch_engaged_needs_every_shard_at_this_generation() -> None:
    spec, meta = {"shards": 2, "killSwitch": True}, {"generation": 3}
    one = {"shards": {"0": report("HALTED", True, 3)}}
    r = conditions.compute_status(spec, meta, one, [], NOW)
    assert cond(r, "KillSwitchEngaged")["status"] == "False"
    assert cond(r, "KillSwitchEngaged")["message"].endswith("shards 1")
    stale_gen = {"shards": {"0": report("HALTED", True, 3), "1": report("HALTED", True, 2)}}
    r = conditions.compute_status(spec, meta, stale_gen, [], NOW)
    assert cond(r, "KillSwitchEngaged")["status"] == "False"  # an old acknowledgement
    not_halted = {"shards": {"0": report("HALTED", True, 3), "1": report("REDUCING", True, 3)}}
    assert (
        cond(conditions.compute_status(spec, meta, not_halted, [], NOW), "KillSwitchEngaged")[
            "status"
        ]
        == "False"
    )
    both = {"shards": {"0": report("HALTED", True, 3), "1": report("HALTED", True, 3)}}
    r = conditions.compute_status(spec, meta, both, [], NOW)
    assert cond(r, "KillSwitchEngaged")["status"] == "True"
    assert r["phase"] == "Halted"
    off = conditions.compute_status({"shards": 2}, meta, both, [], NOW)
    assert cond(off, "KillSwitchEngaged")["status"] == "False"


def test_ready_degraded_and_phases() -> None:
    spec, meta = {"shards": 2}, {"generation": 1}
    r = conditions.compute_status(spec, meta, {}, [], NOW)
    assert (r["phase"], r["readyShards"]) == ("Pending", 0)
    healthy = {"shards": {"0": report("ACTIVE", False, 1), "1": report("ACTIVE", False, 1)}}
    r = conditions.compute_status(spec, meta, healthy, [], NOW)
    assert (r["phase"], r["readyShards"], cond(r, "Ready")["status"]) == ("Running", 2, "True")
    stale = {"shards": {"0": report("ACTIVE", False, 1), "1": report("ACTIVE", False, 1, 60)}}
    r = conditions.compute_status(spec, meta, stale, [], NOW)
    assert (r["phase"], cond(r, "Degraded")["reason"]) == ("Degraded", "HeartbeatStale")
    reducing = {"shards": {"0": report("ACTIVE", False, 1), "1": report("REDUCING", False, 1)}}
    r = conditions.compute_status(spec, meta, reducing, [], NOW)
    assert cond(r, "Degraded")["reason"] == "ShardNotActive"
    r = conditions.compute_status(spec, meta, healthy, ["spec.shards: bad"], NOW)
    assert r["phase"] == "Invalid" and cond(r, "InvalidSpec")["message"] == "spec.shards: bad"
    r = conditions.compute_status(spec, {**meta, "deletionTimestamp": "x"}, healthy, [], NOW)
    assert r["phase"] == "Terminating"


def test_transition_time_moves_only_on_status_change() -> None:
    spec, meta = {"shards": 1}, {"generation": 1}
    first = conditions.compute_status(spec, meta, {}, [], NOW)
    later = NOW + datetime.timedelta(minutes=5)
    again = conditions.compute_status(spec, meta, first, [], later)
    assert again["conditions"] == first["conditions"]
    assert not conditions.status_changed(first, again)
    flipped = conditions.compute_status({**spec, "killSwitch": True}, meta, first, [], later)
    ready = cond(flipped, "Ready")
    assert ready["lastTransitionTime"] == conditions.format_time(NOW)


def test_malformed_reports_count_as_missing() -> None:
    status = {"shards": {"0": "garbage", "x": {}, "1": {"lastHeartbeat": "not-a-time"}}}
    r = conditions.compute_status(
        {"shards": 2, "killSwitch": True}, {"generation": 1}, status, [], NOW
    )
    assert r["readyShards"] == 0
    assert cond(r, "KillSwitchEngaged")["message"].endswith("shards 0,1")


# ---------------------------------------------------------------------------- sharding
def test_operator_sharding_matches_the_runtime() -> None:
    from shijim.universe import assign
    from shijim_operator.sharding import shard_of

    codes = [f"C{i:04d}" for i in range(300)] + ["TXFL6", "MXFL6", "2330", "2317"]
    for total in (1, 2, 3, 5, 8, 64):
        assert {c: shard_of(c, total) for c in codes} == assign(codes, total)


def test_a_shard_without_codes_is_invalid() -> None:
    from shijim_operator.sharding import empty_shards

    spec = example_spec()
    codes = spec["universe"]["codes"]
    total = next(n for n in range(2, len(codes) + 1) if empty_shards(codes, n))
    spec["shards"] = total
    result, problems = read_spec(spec)
    assert result is None
    assert any("would own no code" in str(p) for p in problems), problems


@pytest.mark.parametrize("storage", [None, "20Gi"])
def test_children_validate_against_the_kubernetes_schemas(storage: str | None) -> None:
    """Offline validation (kubernetes-validate, strict: unknown fields are errors) catches what
    the emulator cannot: a misspelt field or a wrong type in a child."""
    import kubernetes_validate

    spec = example_spec()
    spec.update(feed="shioaji", brokerSecretRef={"name": "broker", "personIdKey": "pid"})
    spec["clickhouse"] = {"enabled": True, "dsnSecretRef": {"name": "ch"}}
    if storage:
        spec["recorder"] = {"storageSize": storage}
    for child in builders.build_children(OWNER, checked(spec)):
        for version in ("1.28.0", kubernetes_validate.latest_version()):
            kubernetes_validate.validate(child.body, version, strict=True)


def test_departed_shards_after_scale_down() -> None:
    status = {"shards": {"0": {}, "1": {}, "2": {}, "junk": {}}}
    assert conditions.departed_shards({"shards": 2}, status) == ["2", "junk"]
    assert conditions.departed_shards({"shards": 3}, {"shards": {"0": {}}}) == []
    assert conditions.departed_shards({"shards": "x"}, status) == []  # invalid: keep everything


def test_deletion_waits_only_for_live_unacknowledged_shards() -> None:
    status = {
        "shards": {
            "0": report("HALTED", True, 4),
            "1": report("ACTIVE", False, 4),
            "2": report("ACTIVE", False, 4, age=60),  # pod gone: nothing to wait for
            "3": report("HALTED", True, 3),  # acknowledged an older generation
        }
    }
    assert conditions.live_unacknowledged(status, 4, NOW) == [1, 3]
    assert conditions.live_unacknowledged({}, 4, NOW) == []
