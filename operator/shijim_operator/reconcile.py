"""The I/O edge of the operator: read Secrets' existence, write children, read the TradingShard.

One idempotent path serves create, update and resume: build the desired children (pure, in
builders.py), then for each child create it if absent, patch it if its `shijim.io/desired-hash`
differs, and otherwise write nothing. An invalid spec writes no child at all, so running pods keep
running as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from shijim_operator import builders
from shijim_operator.spec import ShardSpec, read_spec, secret_problems

MERGE_PATCH = "application/merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def make_api_client() -> kubernetes.client.ApiClient:
    """In-cluster service-account credentials, else $KUBECONFIG / ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


class ChildConflict(Exception):
    """A child's name is taken by an object this TradingShard does not control."""


@dataclass
class ReconcileResult:
    spec: ShardSpec | None
    problems: list[str]
    actions: list[str] = field(default_factory=list)


def existing_secrets(
    api: kubernetes.client.ApiClient, namespace: str, names: Iterable[str]
) -> set[str] | None:
    """Which of `names` exist. None if the operator may not read Secrets (then not checked)."""
    core = kubernetes.client.CoreV1Api(api)
    found: set[str] = set()
    for name in names:
        try:
            # Metadata only: the API server sends no secret values to the operator at all.
            core.read_namespaced_secret(
                name, namespace, _preload_content=False, _headers={"Accept": METADATA_ONLY}
            ).release_conn()
            found.add(name)
        except ApiException as exc:
            if exc.status == 404:
                continue
            if exc.status == 403:
                return None
            raise
    return found


def _ops(api: kubernetes.client.ApiClient, plural: str) -> tuple[Any, Any, Any]:
    core = kubernetes.client.CoreV1Api(api)
    apps = kubernetes.client.AppsV1Api(api)
    policy = kubernetes.client.PolicyV1Api(api)
    return {
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
    meta = body.get("metadata", {})
    namespace = str(meta.get("namespace", "default"))
    spec, problems = read_spec(body.get("spec", {}))
    if spec is not None and spec.secret_names():
        found = existing_secrets(api, namespace, spec.secret_names())
        if found is not None:  # None: the operator may not read Secrets, so they go unchecked
            problems = secret_problems(spec, found)
    if spec is None or problems:
        return ReconcileResult(None, [str(p) for p in problems])
    owner = builders.Owner(str(meta["name"]), namespace, str(meta["uid"]))
    service_account = os.environ.get(
        "SHIJIM_RUNTIME_SERVICE_ACCOUNT", builders.DEFAULT_SERVICE_ACCOUNT
    )
    result = ReconcileResult(spec, [])
    for child in builders.build_children(owner, spec, service_account):
        result.actions.append(apply_child(api, child, namespace))
    return result


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
