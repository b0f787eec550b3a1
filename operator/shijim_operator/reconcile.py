"""The I/O edge of the operator: write children, read the TradingShard and its pods' status.

One idempotent path serves create, update and resume: build the desired children (pure, in
builders.py), then for each child create it if absent, patch it if its `shijim.io/desired-hash`
differs, and otherwise write nothing. An invalid spec writes no child at all, so running pods keep
running as they were. The operator never reads Secrets: a referenced Secret (or key) that does
not exist shows in the pods' status, which `pod_problems` turns into InvalidSpec
(docs/decisions.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from shijim_operator import builders, recording, resharding
from shijim_operator.conditions import HEARTBEAT_STALE_SECONDS
from shijim_operator.sharding import Layout
from shijim_operator.spec import ShardSpec, read_spec, secret_problems

MERGE_PATCH = "application/merge-patch+json"


def make_api_client() -> kubernetes.client.ApiClient:
    """In-cluster service-account credentials, else $KUBECONFIG / ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


class ChildConflict(Exception):
    """A child's name is taken by an object this TradingShard does not control."""


class ClaimsFixed(Exception):
    """The spec asks for volume claims the existing StatefulSet cannot get in place
    (recording.claim_verdict); `problems` name the fields. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ReconcileResult:
    spec: ShardSpec | None
    problems: list[str]
    actions: list[str] = field(default_factory=list)
    plan: resharding.Plan | None = None  # status.sharding to publish (valid specs only)
    # The problems come from the StatefulSet as it is, not the spec alone: they clear without a
    # spec change once it is recreated, so the timer checks again.
    cluster_bound: bool = False


def pod_problems(api: kubernetes.client.ApiClient, body: Mapping[str, Any]) -> list[str]:
    """InvalidSpec reasons the TradingShard's pods show: a referenced Secret or key the kubelet
    could not find. Reads pods (status only matters), never Secrets."""
    spec, problems = read_spec(body.get("spec", {}))
    if spec is None or problems or not spec.secret_names():
        return []
    meta = body.get("metadata", {})
    owner = builders.Owner(str(meta["name"]), str(meta.get("namespace", "default")), "")
    selector = ",".join(f"{k}={v}" for k, v in builders.selector(owner).items())
    # Raw JSON, not the client's models: a pod status the models refuse must not hide the rest.
    resp = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
        owner.namespace, label_selector=selector, _preload_content=False
    )
    try:
        items = json.loads(resp.data).get("items") or []
    finally:
        resp.release_conn()
    pods = [pod for pod in items if isinstance(pod, Mapping)]
    return [str(p) for p in secret_problems(spec, pods)]


def _ops(api: kubernetes.client.ApiClient, plural: str) -> tuple[Any, Any, Any]:
    core = kubernetes.client.CoreV1Api(api)
    apps = kubernetes.client.AppsV1Api(api)
    policy = kubernetes.client.PolicyV1Api(api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    return {
        "serviceaccounts": (
            core.read_namespaced_service_account,
            core.create_namespaced_service_account,
            core.patch_namespaced_service_account,
        ),
        "roles": (
            rbac.read_namespaced_role,
            rbac.create_namespaced_role,
            rbac.patch_namespaced_role,
        ),
        "rolebindings": (
            rbac.read_namespaced_role_binding,
            rbac.create_namespaced_role_binding,
            rbac.patch_namespaced_role_binding,
        ),
        "configmaps": (
            core.read_namespaced_config_map,
            core.create_namespaced_config_map,
            core.patch_namespaced_config_map,
        ),
        "services": (
            core.read_namespaced_service,
            core.create_namespaced_service,
            core.patch_namespaced_service,
        ),
        "statefulsets": (
            apps.read_namespaced_stateful_set,
            apps.create_namespaced_stateful_set,
            apps.patch_namespaced_stateful_set,
        ),
        "poddisruptionbudgets": (
            policy.read_namespaced_pod_disruption_budget,
            policy.create_namespaced_pod_disruption_budget,
            policy.patch_namespaced_pod_disruption_budget,
        ),
    }[plural]


def apply_child(api: kubernetes.client.ApiClient, child: builders.Child, namespace: str) -> str:
    """Create, patch or leave one child; returns what was done."""
    read, create, patch = _ops(api, child.plural)
    try:
        current = read(child.name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        create(namespace, child.body)
        return f"created {child.plural}/{child.name}"
    owners = (current.metadata.owner_references or []) if current.metadata else []
    controller = next((o.uid for o in owners if o.controller), None)
    if controller != child.body["metadata"]["ownerReferences"][0]["uid"]:
        # Not ours (a hand-made object, or the leftover of a deleted TradingShard of the same
        # name that the garbage collector has not removed yet): never take it over.
        raise ChildConflict(f"{child.plural}/{child.name} exists and is not controlled by it")
    annotations = (current.metadata.annotations or {}) if current.metadata else {}
    if annotations.get(builders.HASH_ANNOTATION) == child.desired_hash:
        return f"unchanged {child.plural}/{child.name}"
    # A JSON merge patch replaces lists whole (containers, env): removed entries really go.
    patch(child.name, namespace, child.body, _content_type=MERGE_PATCH)
    return f"patched {child.plural}/{child.name}"


def reconcile(api: kubernetes.client.ApiClient, body: Mapping[str, Any]) -> ReconcileResult:
    spec, problems = read_spec(body.get("spec", {}))
    if spec is None or problems:
        return ReconcileResult(None, [str(p) for p in problems])
    planned = plan_sharding(api, body, spec)
    result = ReconcileResult(spec, [], plan=planned)
    try:
        result.actions = apply_children(api, body, spec, planned.render)
    except ClaimsFixed as exc:
        return ReconcileResult(None, exc.problems, cluster_bound=True)
    return result


def plan_sharding(
    api: kubernetes.client.ApiClient,
    body: Mapping[str, Any],
    spec: ShardSpec,
    now: datetime.datetime | None = None,
) -> resharding.Plan:
    """The resharding decision (resharding.py); reads the StatefulSet only while it rolls."""
    meta = body.get("metadata", {})
    status = body.get("status") or {}
    current = status.get("sharding")
    published = resharding.read_sharding(current)
    sts = None
    if published is not None and published.phase == resharding.ROLLING:
        sts = read_statefulset(api, str(meta.get("namespace", "default")), str(meta["name"]))
    return resharding.plan(
        Layout.of(spec.shards, spec.codes),
        current,
        status.get("shards"),
        sts,
        now or datetime.datetime.now(tz=datetime.UTC),
        HEARTBEAT_STALE_SECONDS,
    )


def apply_children(
    api: kubernetes.client.ApiClient, body: Mapping[str, Any], spec: ShardSpec, layout: Layout
) -> list[str]:
    """Write the children for `spec` rendered at `layout`: shard count and universe come from
    the layout resharding allows to run (the spec's own, except during a transition). The data
    volume's claim is the existing StatefulSet's when the spec allows it; a claim it cannot get
    in place raises ClaimsFixed before anything is written."""
    meta = body.get("metadata", {})
    namespace = str(meta.get("namespace", "default"))
    owner = builders.Owner(str(meta["name"]), namespace, str(meta["uid"]))
    rendered = dataclasses.replace(
        spec, shards=layout.shards, codes=layout.order or tuple(sorted(layout.codes))
    )
    sts = read_statefulset(api, namespace, owner.name)
    controller = [r for r in (sts or {}).get("metadata", {}).get("ownerReferences") or []
                  if r.get("controller")]  # fmt: skip
    if sts is not None and [r.get("uid") for r in controller] != [owner.uid]:
        sts = None  # not ours: apply_child refuses to touch it (ChildConflict)
    claim, problems = recording.claim_verdict(
        recording.desired_claim(spec.recorder_enabled, spec.storage_size, spec.storage_class),
        spec.storage_size is not None,
        spec.storage_class is not None,
        sts,
    )
    if problems:
        raise ClaimsFixed([f"spec.{path}: {message}" for path, message in problems])
    children = builders.build_children(owner, rendered, claim)
    return [apply_child(api, c, namespace) for c in children]


def read_statefulset(
    api: kubernetes.client.ApiClient, namespace: str, name: str
) -> dict[str, Any] | None:
    try:
        sts = kubernetes.client.AppsV1Api(api).read_namespaced_stateful_set(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(api.sanitize_for_serialization(sts))


def read_tradingshard(
    api: kubernetes.client.ApiClient, namespace: str, name: str
) -> dict[str, Any] | None:
    custom = kubernetes.client.CustomObjectsApi(api)
    try:
        return dict(
            custom.get_namespaced_custom_object(
                builders.GROUP, builders.VERSION, namespace, builders.PLURAL, name
            )
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
