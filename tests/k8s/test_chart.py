"""The Helm chart charts/shijim, rendered by the real Helm engine (helm-python-sdk wraps Helm's Go
SDK) and checked offline: Kubernetes schemas (kubernetes-validate), prometheus-operator kinds
against their known fields, helm lint, values.schema.json, security settings, RBAC scope, no
secret values, and the CRD copy being identical to crds/tradingshard.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Dev-extra tools, imported (not skipped) so a missing install fails loudly.
import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shijim"
RULES_FILE = CHART / "files" / "shijim-alerts.rules.yaml"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas shipped.
KUBE_VERSIONS = ("1.27", kubernetes_validate.latest_version())
PROMETHEUS_OPERATOR_KINDS = {"PrometheusRule", "PodMonitor", "ServiceMonitor"}
KINDS = {"ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"}

ALL_MONITORING = {
    "monitoring": {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "podMonitor": {"enabled": True},
    }
}
# The ServiceMonitor instead of the PodMonitor: the two are exclusive (values.schema.json).
SERVICE_MONITORING = {"monitoring": {"serviceMonitor": {"enabled": True}}}
NAMESPACED = {"operator": {"watchNamespaces": ["desk-a", "desk-b"]}}
CUSTOMISED = {
    "fullnameOverride": "alpha",
    "operator": {
        "image": {
            "repository": "registry.example/shijim-operator",
            "digest": "sha256:" + "a" * 64,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "regcred"}],
        "logFormat": "plain",
        "verbose": True,
        "extraEnv": [
            {"name": "LOG_LEVEL", "value": "debug"},
            {
                "name": "WEBHOOK_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "alerting", "key": "token"}},
            },
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "trading", "operator": "Exists", "effect": "NoSchedule"}],
        "podAnnotations": {"example.com/team": "desk"},
        "serviceAccount": {"name": "ops", "annotations": {"example.com/role": "x"}},
    },
    "runtime": {"namespaces": ["live"]},
}
VALUE_SETS = {
    "default": {},
    "namespaced": NAMESPACED,
    "monitoring": ALL_MONITORING,
    "service-monitoring": SERVICE_MONITORING,
    "namespaced+monitoring": {**NAMESPACED, **ALL_MONITORING},
    "customised": CUSTOMISED,
}


@pytest.fixture(scope="module")
def chart() -> Any:
    return helm_python.Chart.load(CHART)


def render(chart: Any, values: dict[str, Any], namespace: str = "trading") -> dict[str, str]:
    return chart.render(values, name="shijim", namespace=namespace)


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict), f"{path}: not a mapping"
                docs.append(doc)
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def operator_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = of_kind(docs, "Deployment")
    return deployment


# -- structural schemas of the prometheus-operator kinds (the fields this chart uses) ---
_META = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "targetLabel": {"type": "string"},
        "replacement": {"type": "string"},
        "regex": {"type": "string"},
        "action": {"type": "string"},
    },
}
_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string"},
        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
        "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
        "honorLabels": {"type": "boolean"},
        "relabelings": {"type": "array", "items": _RELABEL},
    },
}
_NAMESPACE_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "any": {"type": "boolean"},
        "matchNames": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
}
_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["matchLabels"],
    "properties": {
        "matchLabels": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "string"},
        }
    },
}


def _kind_schema(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _META,
            "spec": spec,
        },
    }


MONITORING_SCHEMAS = {
    "PrometheusRule": _kind_schema(
        "PrometheusRule",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "interval": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": "string"},
                                        "for": {"type": "string"},
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "annotations": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
    "PodMonitor": _kind_schema(
        "PodMonitor",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
        },
    ),
    "ServiceMonitor": _kind_schema(
        "ServiceMonitor",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
        },
    ),
}


# -- rendering and schemas ---
def test_default_render_installs_operator_and_rbac_only(chart: Any) -> None:
    docs = manifests(render(chart, {}))
    kinds = sorted(d["kind"] for d in docs)
    # No runtime account: the operator creates one per TradingShard (test_rbac_is_least_privilege).
    assert kinds == sorted(["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"])
    assert not PROMETHEUS_OPERATOR_KINDS & set(kinds), "monitoring must be off by default"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_manifest_matches_its_schema(chart: Any, name: str) -> None:
    docs = manifests(render(chart, VALUE_SETS[name]))
    assert docs
    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata'].get('name')}"
        if doc["kind"] in PROMETHEUS_OPERATOR_KINDS:
            jsonschema.validate(doc, MONITORING_SCHEMAS[doc["kind"]])
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where} invalid for Kubernetes {version}: {exc.message}")


def test_schema_validation_catches_a_broken_manifest() -> None:
    # Guard against a validator that accepts anything: the same checks must reject these.
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}},
            KUBE_VERSIONS[0],
            strict=True,
        )
    bad_monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "podMetricsEndpoints": [{"prt": "m"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_monitor, MONITORING_SCHEMAS["PodMonitor"])


def test_monitoring_kinds_render_when_enabled(chart: Any) -> None:
    docs = manifests(render(chart, ALL_MONITORING))
    assert {d["kind"] for d in docs} == {*PROMETHEUS_OPERATOR_KINDS, *KINDS} - {"ServiceMonitor"}
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    with_service_monitor = manifests(render(chart, SERVICE_MONITORING))
    assert not of_kind(with_service_monitor, "PodMonitor")
    for kind in ("PodMonitor", "ServiceMonitor"):
        (monitor,) = of_kind(docs + with_service_monitor, kind)
        endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
        (endpoint,) = endpoints
        assert endpoint["port"] == "metrics"
        # The alerts select up{job="shijim-runtime"}: the monitors must set exactly that job.
        assert {"targetLabel": "job", "replacement": "shijim-runtime"} in endpoint["relabelings"]
        # ShijimOrderActionRateNearBrokerLimit sums per TradingShard over this label.
        assert {
            "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
            "targetLabel": "tradingshard",
        } in endpoint["relabelings"]
        assert monitor["spec"]["namespaceSelector"] == {"any": True}
    namespaced = manifests(render(chart, {**NAMESPACED, **ALL_MONITORING}))
    (monitor,) = of_kind(namespaced, "PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["desk-a", "desk-b"]}


def test_prometheus_rule_is_the_unit_tested_rule_file(chart: Any) -> None:
    (rule,) = of_kind(manifests(render(chart, ALL_MONITORING)), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES_FILE.read_text())


# -- image, operator command, RBAC ---
def test_image_tag_defaults_to_app_version_and_digest_wins(chart: Any) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    (container,) = operator_deployment(manifests(render(chart, {})))["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == f"ghcr.io/shijim/shijim-operator:{app_version}"
    tagged = manifests(render(chart, {"operator": {"image": {"tag": "1.2.3"}}}))
    (container,) = operator_deployment(tagged)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/shijim/shijim-operator:1.2.3"
    (container,) = operator_deployment(manifests(render(chart, CUSTOMISED)))["spec"]["template"][
        "spec"
    ]["containers"]
    assert container["image"] == "registry.example/shijim-operator@sha256:" + "a" * 64


def test_operator_watches_all_namespaces_with_a_cluster_role(chart: Any) -> None:
    docs = manifests(render(chart, {}))
    (container,) = operator_deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["kopf"]
    assert container["args"][:3] == ["run", "--module=shijim_operator", "--standalone"]
    assert "--all-namespaces" in container["args"]
    assert not [a for a in container["args"] if a.startswith("--namespace")]
    names = {d["metadata"]["name"] for d in of_kind(docs, "ClusterRole")}
    assert names == {"trading-shijim-operator"}
    assert not of_kind(docs, "Role")  # the runtime's Roles are the operator's, per TradingShard


def test_operator_watches_listed_namespaces_with_roles(chart: Any) -> None:
    docs = manifests(render(chart, NAMESPACED))
    (container,) = operator_deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert "--all-namespaces" not in container["args"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=desk-a",
        "--namespace=desk-b",
    ]
    # Nothing cluster-wide when the operator is namespaced.
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in of_kind(docs, "Role")}
    assert roles == {("desk-a", "shijim-operator"), ("desk-b", "shijim-operator")}
    for binding in of_kind(docs, "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"
        (subject,) = binding["subjects"]
        assert subject == {
            "kind": "ServiceAccount",
            "name": "shijim-operator",
            "namespace": "trading",
        }


def _rules_by_resource(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    return granted


def test_rbac_is_least_privilege(chart: Any) -> None:
    for name in ("default", "namespaced"):
        docs = manifests(render(chart, VALUE_SETS[name]))
        for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
            granted = _rules_by_resource(role["rules"])
            for resource, verbs in granted.items():
                assert "*" not in resource and "*" not in verbs, f"wildcard in {resource}"
                assert not verbs & {"escalate", "bind", "impersonate"}, resource
            # No Secret access at all: a missing Secret shows in the pods' status instead.
            assert "/secrets" not in granted, role["metadata"]["name"]
            assert "/pods/exec" not in granted and "/pods/log" not in granted
            assert granted["/pods"] == {"list"}
    # Cluster-wide (the default) the operator's rules are the documented ones.
    (cluster_role,) = of_kind(manifests(render(chart, {})), "ClusterRole")
    documented = yaml.safe_load((ROOT / "operator" / "rbac" / "operator-role.yaml").read_text())
    assert _rules_by_resource(cluster_role["rules"]) == _rules_by_resource(documented["rules"])


@pytest.mark.parametrize("name", ["default", "namespaced"])
def test_operator_holds_every_permission_it_grants_the_runtime(chart: Any, name: str) -> None:
    """RBAC escalation prevention: creating the per-TradingShard Role and binding it is allowed
    only if the operator holds each of its rules itself (it has no `bind` or `escalate`)."""
    from shijim_operator import builders

    owner = builders.Owner("sim-demo", "desk-a", "uid-1")
    docs = manifests(render(chart, VALUE_SETS[name]))
    (role,) = of_kind(docs, "ClusterRole") or of_kind(docs, "Role")[:1]
    granted = _rules_by_resource(role["rules"])
    for rule in builders.runtime_rules(owner):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert set(rule["verbs"]) <= granted.get(f"{group}/{resource}", set()), resource
    for resource in ("/serviceaccounts", "rbac.authorization.k8s.io/roles",
                     "rbac.authorization.k8s.io/rolebindings"):  # fmt: skip
        assert granted[resource] == {"get", "create", "patch"}


def test_operator_is_no_longer_told_a_shared_runtime_account(chart: Any) -> None:
    docs = manifests(render(chart, CUSTOMISED))
    (container,) = operator_deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert "SHIJIM_RUNTIME_SERVICE_ACCOUNT" not in {e["name"] for e in container["env"]}
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"])
        for a in docs
        if a["kind"] == "ServiceAccount"
    }
    assert accounts == {("trading", "ops")}  # the operator's; runtime accounts are per TradingShard


# -- security ---
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_spec_is_locked_down(chart: Any, name: str) -> None:
    workloads = [
        d
        for d in manifests(render(chart, VALUE_SETS[name]))
        if d["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
    ]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        for container in pod["containers"] + pod.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, container["name"]
            assert ctx["allowPrivilegeEscalation"] is False, container["name"]
            assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]
            assert not ctx.get("privileged"), container["name"]
            assert "add" not in ctx["capabilities"], container["name"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["livenessProbe"] and container["readinessProbe"]


SECRETISH = ("key", "secret", "token", "password", "passwd", "dsn", "credential")


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_secret_values_in_rendered_output(chart: Any, name: str) -> None:
    rendered = render(chart, VALUE_SETS[name])
    docs = manifests(rendered)
    assert not of_kind(docs, "Secret"), "the chart never carries secrets"
    for doc in docs:
        assert "data" not in doc and "stringData" not in doc, doc["kind"]
    for workload in of_kind(docs, "Deployment"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if any(word in env["name"].lower() for word in SECRETISH):
                    assert "value" not in env, f"{env['name']} has a literal value"
                    assert "secretKeyRef" in env["valueFrom"], env["name"]
    text = "\n".join(rendered.values())
    for marker in ("BEGIN PRIVATE KEY", "BEGIN RSA", "password:", "api-key:", "secret-key:"):
        assert marker not in text


# -- values.schema.json ---
BAD_VALUES = {
    "unknown top-level key": {"replicas": 2},
    "unknown operator key": {"operator": {"replicaCount": 3}},
    "pull policy": {"operator": {"image": {"pullPolicy": "Sometimes"}}},
    "digest format": {"operator": {"image": {"digest": "latest"}}},
    "namespace glob": {"operator": {"watchNamespaces": ["desk-*"]}},
    "log format": {"operator": {"logFormat": "xml"}},
    "root user": {"operator": {"runAsUser": 0}},
    "health port": {"operator": {"healthPort": 80}},
    "resources quantity": {"operator": {"resources": {"limits": {"memory": "lots"}}}},
    "literal secret env": {"operator": {"extraEnv": [{"name": "API_KEY", "value": "hunter2"}]}},
    "monitor flag type": {"monitoring": {"podMonitor": {"enabled": "yes"}}},
    "scrape interval": {"monitoring": {"interval": "15 seconds"}},
    "runtime SA (now per TradingShard)": {"runtime": {"serviceAccount": {"name": "x"}}},
    # Exclusive: both would scrape every runtime pod twice.
    "both monitors": {
        "monitoring": {"podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True}}
    },
    "selector removed": {"monitoring": {"runtimeSelector": None}},
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_values_schema_rejects_bad_values(chart: Any, case: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as err:
        render(chart, BAD_VALUES[case])
    assert "schema" in str(err.value)


def test_values_schema_accepts_the_documented_combinations(chart: Any) -> None:
    for values in VALUE_SETS.values():
        render(chart, values)


# -- lint, NOTES, CRD copy ---
@pytest.mark.parametrize("name", ["default", "namespaced+monitoring", "customised"])
def test_helm_lint_is_clean(name: str) -> None:
    report = helm_python.lint(CHART, VALUE_SETS[name], strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_notes_explain_the_kill_switch_and_secrets(chart: Any) -> None:
    notes = render(chart, {})["shijim/templates/NOTES.txt"]
    assert "kubectl patch tradingshard" in notes
    assert "kubectl wait --for=condition=KillSwitchEngaged" in notes
    # ... and a check that holds with the operator down (run with the real kubectl in
    # tests/k8s/test_kill_switch_check.py).
    assert (
        "kubectl wait tradingshard/<name> --for=jsonpath="
        "'{.status.shards.0.killSwitchAcknowledged}'=true" in notes
    )
    assert "shared" not in notes and "shijim-runtime" not in notes  # no shared runtime account
    assert "create secret generic shioaji-keys" in notes and "$SHIOAJI_API_KEY" in notes
    assert "Monitoring is off" in notes
    assert "Monitoring is off" not in render(chart, ALL_MONITORING)["shijim/templates/NOTES.txt"]


def test_chart_crd_is_identical_to_the_source_of_truth() -> None:
    source = ROOT / "crds" / "tradingshard.yaml"
    copy = CHART / "crds" / "tradingshard.yaml"
    assert copy.read_bytes() == source.read_bytes(), (
        "charts/shijim/crds/tradingshard.yaml differs from crds/tradingshard.yaml: "
        "cp crds/tradingshard.yaml charts/shijim/crds/"
    )
    assert [p.name for p in (CHART / "crds").iterdir()] == ["tradingshard.yaml"]
    crd = yaml.safe_load(copy.read_text())
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(crd, version, strict=True)


# Kubernetes client method -> (RBAC "group/resource", verb), for the calls the operator makes.
CLIENT_VERBS = {
    "read": "get",
    "get": "get",
    "list": "list",
    "create": "create",
    "patch": "patch",
    "replace": "update",
    "delete": "delete",
}
CLIENT_RESOURCES = {
    "config_map": "/configmaps",
    "service": "/services",
    "secret": "/secrets",
    "pod": "/pods",
    "event": "/events",
    "stateful_set": "apps/statefulsets",
    "pod_disruption_budget": "policy/poddisruptionbudgets",
    "custom_object": "shijim.io/tradingshards",
    "custom_object_status": "shijim.io/tradingshards/status",
    "service_account": "/serviceaccounts",
    "role": "rbac.authorization.k8s.io/roles",
    "role_binding": "rbac.authorization.k8s.io/rolebindings",
}


def test_operator_role_covers_every_api_call_the_operator_makes(chart: Any) -> None:
    """Scan the operator's source for Kubernetes client calls; each needs its RBAC rule."""
    sources = sorted((ROOT / "operator" / "shijim_operator").glob("*.py"))
    assert sources, "operator package not found"
    calls = set()
    for source in sources:
        calls |= set(
            re.findall(
                r"\.(read|get|list|create|patch|replace|delete)_namespaced_(\w+?)\b\s*[,(]",
                source.read_text(),
            )
        )
    assert calls, "no Kubernetes client calls found in the operator: update this scan"
    # The operator never touches a Secret (a missing one shows in the pods' status).
    assert not [c for c in calls if c[1] == "secret"], calls
    (cluster_role,) = of_kind(manifests(render(chart, {})), "ClusterRole")
    granted = _rules_by_resource(cluster_role["rules"])
    # Kopf itself: list/watch the resource, patch annotations/finalizers/status, post events.
    needed = {
        ("shijim.io/tradingshards", "list"),
        ("shijim.io/tradingshards", "watch"),
        ("shijim.io/tradingshards", "patch"),
        ("shijim.io/tradingshards/status", "patch"),
        ("/events", "create"),
    }
    for verb, resource in calls:
        assert resource in CLIENT_RESOURCES, f"unmapped client resource {resource}: map it"
        needed.add((CLIENT_RESOURCES[resource], CLIENT_VERBS[verb]))
    missing = sorted(f"{r}:{v}" for r, v in needed if v not in granted.get(r, set()))
    assert missing == [], f"operator RBAC lacks {missing}"


def test_monitors_match_what_the_operator_builds(chart: Any) -> None:
    """Contract with the operator's pure builders: the monitors select the labels and port the
    operator puts on runtime pods and Services."""
    from shijim_operator import builders
    from shijim_operator.spec import read_spec

    example = yaml.safe_load((ROOT / "examples" / "shard.yaml").read_text())
    shard_spec, problems = read_spec(example["spec"])
    assert shard_spec is not None, problems
    owner = builders.Owner(name=example["metadata"]["name"], namespace="trading", uid="uid-1")
    docs = manifests(render(chart, ALL_MONITORING))
    children = {c.body["kind"]: c.body for c in builders.build_children(owner, shard_spec)}
    pod = children["StatefulSet"]["spec"]["template"]
    service = children["Service"]
    (pod_monitor,) = of_kind(docs, "PodMonitor")
    (service_monitor,) = of_kind(manifests(render(chart, SERVICE_MONITORING)), "ServiceMonitor")
    wanted = pod_monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= pod["metadata"]["labels"].items()
    # The monitors relabel this pod label to `tradingshard` (the broker-rate alert's grouping).
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == owner.name
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    port = pod_monitor["spec"]["podMetricsEndpoints"][0]["port"]
    (runtime_container,) = pod["spec"]["containers"]
    assert port in {p["name"] for p in runtime_container["ports"]}
    assert port in {p["name"] for p in service["spec"]["ports"]}


def test_values_schema_is_valid_and_accepts_the_defaults() -> None:
    """Independent of Helm's validator: the schema is a valid draft-07 schema and values.yaml,
    as shipped, satisfies it."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))
