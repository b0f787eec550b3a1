"""Pure builders of a TradingShard's children: the pods' ServiceAccount, Role and RoleBinding,
ConfigMap, headless Service, StatefulSet, PDB.

No I/O: each function maps (owner identity, checked spec) to a plain Kubernetes object, so the
whole desired state is testable without a cluster. Every child carries an owner reference to the
TradingShard and the hash of its own desired content (`shijim.io/desired-hash`): the reconciler
writes a child only when that hash changes, so an operator restart or a kill-switch toggle writes
nothing, and server-side defaulting never causes a patch loop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shijim_operator import recording
from shijim_operator.spec import ShardSpec

GROUP = "shijim.io"
VERSION = "v1alpha1"
KIND = "TradingShard"
PLURAL = "tradingshards"

HASH_ANNOTATION = "shijim.io/desired-hash"
CONFIG_HASH_ANNOTATION = "shijim.io/config-hash"
INSTANCE_LABEL = "shijim.io/tradingshard"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/etc/shijim"
DATA_DIR = recording.DATA_DIR
CA_DIR = "/etc/shijim/ca"
CA_FILE = "ca.pfx"
RUNTIME_UID = 10001
CLICKHOUSE_DSN_ENV = "CLICKHOUSE_DSN"  # what the runtime reads (shijim.recorder.dsn.ENV_DSN)
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Owner:
    """Identity of the TradingShard that owns the children."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def content_hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def labels(owner: Owner) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "shijim",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": "runtime",
        "app.kubernetes.io/managed-by": "shijim-operator",
        INSTANCE_LABEL: owner.name,
    }


def selector(owner: Owner) -> dict[str, str]:
    return {INSTANCE_LABEL: owner.name, "app.kubernetes.io/component": "runtime"}


def config_map_name(owner: Owner) -> str:
    return f"{owner.name}-config"


def _finish(obj: dict[str, Any], owner: Owner) -> dict[str, Any]:
    """Add owner reference and the desired-content hash (computed before it is added)."""
    meta = obj["metadata"]
    meta["namespace"] = owner.namespace
    meta["labels"] = labels(owner)
    meta["ownerReferences"] = [owner.reference()]
    meta["annotations"] = {HASH_ANNOTATION: content_hash(obj)}
    return obj


def runtime_config(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    """The runtime's config file (shijim.app.config.RuntimeConfig). Per-pod identity (shard id,
    pod name) comes from the environment; the kill switch is not here: the pods watch it live."""
    return {
        "shard": {"total": spec.shards, "tradingshard": owner.name, "namespace": owner.namespace},
        "universe": {"codes": list(spec.codes)},
        "feed": {
            "kind": spec.feed,
            "simulation": spec.simulation,
            "replay_path": spec.replay_path,
            "pace": spec.replay_pace,
            "seed": spec.seed,
        },
        "strategy": {
            "name": spec.strategy_name,
            "params": dict(spec.strategy_parameters),
            "decision": spec.decision,
        },
        "risk": dict(spec.risk),
        "recorder": recorder_config(spec),
        "metrics": {"port": spec.metrics_port},
        "kubernetes": {
            "grace_seconds": float(spec.grace_seconds),
            "grace_policy": spec.grace_policy,
        },
    }


def recorder_config(spec: ShardSpec) -> dict[str, Any]:
    """The runtime's `recorder` section (shijim.recorder.settings.RecorderConfig). Never the DSN:
    the pod reads it from CLICKHOUSE_DSN (a secretKeyRef, runtime_env). Without one the sink is
    the embedded ClickHouse on the pod's data volume (<parent of raw_dir>/chdb)."""
    return {
        "enabled": spec.recorder_enabled,
        "raw_dir": spec.raw_dir,
        "fallback_dir": spec.fallback_dir,
        "fsync": spec.fsync,
        "fsync_interval_ms": spec.fsync_interval_ms,
        "clickhouse": {
            "enabled": spec.clickhouse_enabled,
            "database": spec.clickhouse_database,
        },
    }


def build_config_map(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    text = yaml.safe_dump(runtime_config(owner, spec), sort_keys=True)
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config_map_name(owner)},
            "data": {CONFIG_KEY: text},
        },
        owner,
    )


def build_service(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": owner.name},
            "spec": {
                "clusterIP": "None",  # headless: stable per-pod DNS for the StatefulSet
                "publishNotReadyAddresses": True,  # scrape metrics of pods that are not ready
                "selector": selector(owner),
                "ports": [
                    {
                        "name": "metrics",
                        "port": spec.metrics_port,
                        "targetPort": "metrics",
                        "protocol": "TCP",
                    }
                ],
            },
        },
        owner,
    )


def runtime_account_name(owner: Owner) -> str:
    """The ServiceAccount, Role and RoleBinding of this TradingShard's pods (one name)."""
    return f"{owner.name}-runtime"


def runtime_rules(owner: Owner) -> list[dict[str, Any]]:
    """What this TradingShard's pods may do: read (GET, and WATCH with the field selector
    metadata.name, which Kubernetes authorizes against resourceNames) their own TradingShard and
    merge-patch its status. Nothing on any other TradingShard, so one compromised pod cannot fake
    another deployment's killSwitchAcknowledged. The operator holds each of these verbs itself
    (RBAC escalation prevention lets it grant only what it has)."""
    names = [owner.name]
    return [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "watch"],
         "resourceNames": names},
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"],
         "resourceNames": names},
    ]  # fmt: skip


def build_service_account(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": runtime_account_name(owner)},
            # Mounted by the pod spec, which needs it; nothing else of this account is used.
            "automountServiceAccountToken": False,
        },
        owner,
    )


def build_role(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    return _finish(
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "Role",
            "metadata": {"name": runtime_account_name(owner)},
            "rules": runtime_rules(owner),
        },
        owner,
    )


def build_role_binding(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    name = runtime_account_name(owner)
    return _finish(
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
        },
        owner,
    )


def build_pdb(owner: Owner, spec: ShardSpec) -> dict[str, Any]:
    # One shard at a time may be evicted voluntarily (node drains): never the whole strategy.
    return _finish(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": owner.name},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(owner)}},
        },
        owner,
    )


def _secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def runtime_env(owner: Owner, spec: ShardSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "SHIJIM_TRADINGSHARD", "value": owner.name},
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("POD_NAME", "metadata.name"),
        # Kubernetes >= 1.28 labels StatefulSet pods with their ordinal; empty on older
        # clusters, where the runtime takes the ordinal from the pod name (docs/kubernetes.md).
        _field_env("SHARD_ID", f"metadata.labels['{POD_INDEX_LABEL}']"),
        {"name": "TOTAL_SHARDS", "value": str(spec.shards)},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        # /metrics, /livez and /readyz listen on the pod IP only (the runtime binds loopback
        # when unset): reachable by the kubelet's probes and Prometheus, not on 0.0.0.0.
        _field_env("SHIJIM_METRICS_BIND", "status.podIP"),
    ]
    if spec.broker is not None:
        b = spec.broker
        env.append(_secret_env("SHIOAJI_API_KEY", b.name, b.api_key_key))
        env.append(_secret_env("SHIOAJI_SECRET_KEY", b.name, b.secret_key_key))
        if b.ca_password_key:
            env.append(_secret_env("SHIOAJI_CA_PASSWORD", b.name, b.ca_password_key))
        if b.person_id_key:
            env.append(_secret_env("SHIOAJI_PERSON_ID", b.name, b.person_id_key))
        if b.ca_file_key:
            env.append({"name": "SHIOAJI_CA_PATH", "value": f"{CA_DIR}/{CA_FILE}"})
    if spec.clickhouse_server is not None:
        # The only way the DSN (with its credentials) reaches the pod: never the ConfigMap.
        d = spec.clickhouse_server
        env.append(_secret_env(CLICKHOUSE_DSN_ENV, d.name, d.key))
    return env


# Seconds a pod may take from start to its first trading-loop heartbeat: the startup jitter
# before the broker login, the login and the contract download (docs/kubernetes.md#probes).
STARTUP_BUDGET_SECONDS = 300
STARTUP_PERIOD_SECONDS = 5


def runtime_probes() -> dict[str, Any]:
    """Kubelet probes on the runtime's metrics listener (no token, no data in the answers).

    liveness: the trading loop's heartbeat is fresh; a stuck trading thread restarts the pod
    (within ~30 s). It starts only after the startup probe passed once, so a slow start (jitter,
    broker login) is never killed. readiness: trading or deliberately halted, with fresh data.
    """

    def get(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "metrics"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    return {
        "startupProbe": get(
            "/livez", STARTUP_PERIOD_SECONDS, STARTUP_BUDGET_SECONDS // STARTUP_PERIOD_SECONDS
        ),
        "livenessProbe": get("/livez", 10, 3),
        "readinessProbe": get("/readyz", 5, 2),
    }


FROM_SPEC = "from-spec"  # build_statefulset's claim: the one the spec alone asks for


def build_statefulset(
    owner: Owner, spec: ShardSpec, claim: recording.Claim | str | None = FROM_SPEC
) -> dict[str, Any]:
    """`claim`: the data volume's claim per pod to render (recording.claim_verdict, which keeps
    an existing StatefulSet's claim); by default the one the spec asks for."""
    if isinstance(claim, str):
        claim = recording.desired_claim(
            spec.recorder_enabled, spec.storage_size, spec.storage_class
        )
    config_hash = content_hash(build_config_map(owner, spec)["data"])
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": config_map_name(owner)}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        # The shared-memory ring lives in /dev/shm: 65536 slots x 256 B = 16 MiB per shard.
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
    ]
    # The recorder's raw log, fallback blocks and embedded ClickHouse tables live on one volume
    # at DATA_DIR (recording.py): a claim per pod, or an emptyDir when nothing is kept.
    if claim is None:
        volumes.append({"name": recording.CLAIM_NAME, "emptyDir": {}})
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        {"name": "shm", "mountPath": "/dev/shm"},  # noqa: S108 - a memory emptyDir
        {"name": recording.CLAIM_NAME, "mountPath": DATA_DIR},
    ]
    if spec.broker is not None and spec.broker.ca_file_key:
        # Only the certificate's key of the broker Secret, owner-read-only. Optional: a missing
        # Secret then fails the container's env (CreateContainerConfigError, which the operator
        # reports as InvalidSpec) instead of hiding in mount events; the runtime refuses
        # production orders without the CA file anyway.
        volumes.append(
            {
                "name": "ca",
                "secret": {
                    "secretName": spec.broker.name,
                    "items": [{"key": spec.broker.ca_file_key, "path": CA_FILE}],
                    "defaultMode": 0o400,
                    "optional": True,
                },
            }
        )
        mounts.append({"name": "ca", "mountPath": CA_DIR, "readOnly": True})
    container = {
        "name": "runtime",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python", "-m", "shijim", "run"],
        "args": ["--config", f"{CONFIG_DIR}/{CONFIG_KEY}", "--tradingshard", owner.name],
        "env": runtime_env(owner, spec),
        "ports": [{"name": "metrics", "containerPort": spec.metrics_port, "protocol": "TCP"}],
        **runtime_probes(),
        "resources": dict(spec.resources),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    sts: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": owner.name},
        "spec": {
            "replicas": spec.shards,
            "serviceName": owner.name,
            # A StatefulSet, not a Deployment: a shard's pod is replaced only after the old one
            # is gone, so two pods never trade the same shard. Parallel: shards are independent.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector(owner)},
            "template": {
                "metadata": {
                    "labels": labels(owner),
                    # A config change rolls the pods (one at a time) so they load the new file.
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash},
                },
                "spec": {
                    "serviceAccountName": runtime_account_name(owner),
                    "automountServiceAccountToken": True,  # the pod watches its TradingShard
                    "terminationGracePeriodSeconds": spec.shutdown_timeout_seconds,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNTIME_UID,
                        "runAsGroup": RUNTIME_UID,
                        "fsGroup": RUNTIME_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    if claim is not None:
        sts["spec"]["volumeClaimTemplates"] = [claim.template(selector(owner))]
        # Recordings outlive the TradingShard and a scale-down (the PVCs stay, a scaled-up
        # shard gets its old volume back); deleting them is a human decision
        # (docs/kubernetes.md#recorder-storage). Retain is Kubernetes' default: said here.
        sts["spec"]["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
    return _finish(sts, owner)


@dataclass(frozen=True)
class Child:
    """One desired child object and where it lives in the API."""

    plural: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def desired_hash(self) -> str:
        return str(self.body["metadata"]["annotations"][HASH_ANNOTATION])


def build_children(
    owner: Owner, spec: ShardSpec, claim: recording.Claim | str | None = FROM_SPEC
) -> list[Child]:
    """Every child, in the order they should be written (the pods' account and config before
    the pods that use them). `claim`: see build_statefulset."""
    return [
        Child("serviceaccounts", build_service_account(owner, spec)),
        Child("roles", build_role(owner, spec)),
        Child("rolebindings", build_role_binding(owner, spec)),
        Child("configmaps", build_config_map(owner, spec)),
        Child("services", build_service(owner, spec)),
        Child("statefulsets", build_statefulset(owner, spec, claim)),
        Child("poddisruptionbudgets", build_pdb(owner, spec)),
    ]
