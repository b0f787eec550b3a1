"""The operator's side of the recorder (issue 9): `spec.recorder` and `spec.clickhouse` rendered
into the runtime's own config, the DSN only as a Secret reference, the data volume a claim per
pod that survives what a StatefulSet cannot change. Pure parts here; the real Kopf operator
against the emulator at the end (marked slow)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml
from emulator import CRD_PATH, EXAMPLE, ROOT, EmulatorThread, wait_for
from shijim_operator import builders, recording
from shijim_operator.spec import read_spec, secret_problems

OWNER = builders.Owner("sim-demo", "trading", "uid-1")
SPEC_SCHEMA = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0]["schema"][
    "openAPIV3Schema"
]["properties"]["spec"]


def example_spec(**change: Any) -> dict[str, Any]:
    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    spec.update(change)
    return spec


def checked(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    result, problems = read_spec(spec)
    assert result is not None, [str(p) for p in problems]
    return result


def problems_of(spec: dict[str, Any]) -> list[str]:
    result, problems = read_spec(spec)
    assert result is None
    return [str(p) for p in problems]


def runtime_config(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    from shijim.app.config import parse_config

    cm = builders.build_config_map(OWNER, checked(spec))
    return parse_config(yaml.safe_load(cm["data"]["config.yaml"]))


def container(sts: dict[str, Any]) -> dict[str, Any]:
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    return c


def env_of(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(sts)["env"]}


# ---------------------------------------------------------------------------- runtime config
def test_recorder_block_is_rendered_into_the_runtimes_own_config() -> None:
    """The runtime reads the rendered section with its own RecorderConfig (unknown keys and bad
    values are errors there), and gets every value the spec sets."""
    spec = example_spec(
        recorder={
            "enabled": True,
            "rawDir": "/var/lib/shijim/md/raw",
            "fallbackDir": "/var/lib/shijim/md/spill",
            "fsync": "every_batch",
            "fsyncIntervalMs": 50,
        },
        clickhouse={"database": "taifex_md", "dsnSecretRef": {"name": "ch"}},
    )
    rec = runtime_config(spec).recorder
    assert rec.enabled is True
    assert (rec.raw_dir, rec.fallback_dir) == ("/var/lib/shijim/md/raw", "/var/lib/shijim/md/spill")
    assert (rec.fsync, rec.fsync_interval_ms) == ("every_batch", 50)
    assert rec.clickhouse.enabled is True and rec.clickhouse.database == "taifex_md"
    # The example's defaults are the CRD's: recording on, into the data volume, chdb embedded.
    rec = runtime_config(example_spec()).recorder
    assert rec.enabled is True and rec.raw_dir == "/var/lib/shijim/raw"
    assert rec.fallback_dir == "/var/lib/shijim/fallback"
    assert rec.fsync == "interval" and rec.fsync_interval_ms == 200
    assert rec.clickhouse.enabled is True and rec.clickhouse.database == "shijim"
    off = runtime_config(example_spec(recorder={"enabled": False}, clickhouse={"enabled": False}))
    assert off.recorder.enabled is False and off.recorder.clickhouse.enabled is False


def test_crd_defaults_are_the_operators_defaults() -> None:
    """What the API server fills in and what the operator assumes when a field is absent agree,
    so a spec read from an old object renders the same config."""
    rec = SPEC_SCHEMA["properties"]["recorder"]["properties"]
    ch = SPEC_SCHEMA["properties"]["clickhouse"]["properties"]
    defaults = checked(example_spec(recorder={}))
    assert rec["enabled"]["default"] == defaults.recorder_enabled
    assert rec["rawDir"]["default"] == defaults.raw_dir
    assert rec["fallbackDir"]["default"] == defaults.fallback_dir
    assert rec["fsync"]["default"] == defaults.fsync
    assert rec["fsyncIntervalMs"]["default"] == defaults.fsync_interval_ms
    assert ch["enabled"]["default"] == defaults.clickhouse_enabled
    assert ch["database"]["default"] == defaults.clickhouse_database
    assert ch["dsnSecretRef"]["properties"]["key"]["default"] == "dsn"


def test_every_recorder_and_clickhouse_field_is_described() -> None:
    for block in ("recorder", "clickhouse"):
        node = SPEC_SCHEMA["properties"][block]
        assert node.get("description"), block
        for name, sub in node["properties"].items():
            assert sub.get("description"), f"spec.{block}.{name} has no description"
    fsync = SPEC_SCHEMA["properties"]["recorder"]["properties"]["fsync"]["enum"]
    from shijim.recorder.settings import FsyncPolicy

    assert tuple(fsync) == recording.FSYNC_POLICIES == tuple(p.value for p in FsyncPolicy)


def test_recorder_changes_roll_the_pods_and_nothing_else_does() -> None:
    """A changed recorder block changes the ConfigMap and so the pod template's config hash: the
    StatefulSet rolls the pods one at a time onto the new file."""

    def config_hash(spec: dict[str, Any]) -> str:
        sts = builders.build_statefulset(OWNER, checked(spec))
        return sts["spec"]["template"]["metadata"]["annotations"][builders.CONFIG_HASH_ANNOTATION]

    base = config_hash(example_spec())
    changes = [
        {"recorder": {"enabled": False}},
        {"recorder": {"fsync": "off"}},
        {"recorder": {"fsyncIntervalMs": 1000}},
        {"recorder": {"rawDir": "/var/lib/shijim/jsonl"}},
        {"clickhouse": {"enabled": False}},
        {"clickhouse": {"database": "other"}},
    ]
    hashes = {config_hash(example_spec(**c)) for c in changes}
    assert base not in hashes and len(hashes) == len(changes)
    # A Secret reference is no config: it changes the env (which rolls the pods) but not the file.
    assert config_hash(example_spec(clickhouse={"dsnSecretRef": {"name": "ch"}})) == base


# ---------------------------------------------------------------------------- the DSN
def test_dsn_reaches_the_pod_only_as_a_secret_reference() -> None:
    from shijim.recorder.dsn import ENV_DSN

    spec = example_spec(clickhouse={"dsnSecretRef": {"name": "clickhouse-dsn", "key": "url"}})
    kids = {c.plural: c.body for c in builders.build_children(OWNER, checked(spec))}
    env = env_of(kids["statefulsets"])
    assert ENV_DSN == builders.CLICKHOUSE_DSN_ENV == "CLICKHOUSE_DSN"
    assert env[ENV_DSN] == {
        "name": ENV_DSN,
        "valueFrom": {"secretKeyRef": {"name": "clickhouse-dsn", "key": "url"}},
    }
    assert "SHIJIM_CLICKHOUSE_DSN" not in env  # the old name, which nothing reads
    # Nothing about it in the config file the pods (and anyone who can read ConfigMaps) see.
    text = json.dumps(kids["configmaps"])
    assert "clickhouse-dsn" not in text and "dsn" not in text.lower()


REF = {"dsnSecretRef": {"name": "ch"}}


@pytest.mark.parametrize(
    "change",
    [
        {"recorder": {"enabled": False}, "clickhouse": REF},  # nothing records: no Secret needed
        {"clickhouse": {"enabled": False, **REF}},  # JSONL only
        {"clickhouse": {}},  # the embedded engine on the pod's volume
    ],
)
def test_no_dsn_env_when_nothing_sends_to_a_server(change: dict[str, Any]) -> None:
    shard = checked(example_spec(**change))
    assert "CLICKHOUSE_DSN" not in env_of(builders.build_statefulset(OWNER, shard))
    # ... and a missing Secret it names is then nobody's problem.
    pod = {
        "metadata": {"name": "sim-demo-0"},
        "status": {"containerStatuses": [{"state": {"waiting": {
            "reason": "CreateContainerConfigError", "message": 'secret "ch" not found'}}}]},
    }  # fmt: skip
    assert secret_problems(shard, [pod]) == []
    assert shard.secret_names() == set()


def test_a_missing_dsn_secret_is_reported_on_its_field() -> None:
    shard = checked(example_spec(clickhouse={"dsnSecretRef": {"name": "ch", "key": "url"}}))
    pod = {
        "metadata": {"name": "sim-demo-1"},
        "status": {"containerStatuses": [{"state": {"waiting": {
            "reason": "CreateContainerConfigError",
            "message": "couldn't find key url in Secret trading/ch"}}}]},
    }  # fmt: skip
    (problem,) = secret_problems(shard, [pod])
    assert str(problem).startswith("spec.clickhouse.dsnSecretRef.key: key 'url' not found")


def test_the_old_dsn_name_is_gone_from_what_deploys_and_documents() -> None:
    """The runtime reads CLICKHOUSE_DSN; SHIJIM_CLICKHOUSE_DSN was passed by the seed's operator
    and read by nothing. No deployment file, doc or code may use the old name."""
    old = "SHIJIM_" + "CLICKHOUSE_DSN"
    roots = ["operator", "crds", "charts", "docs", "examples", "runtime", "docker", "README.md"]
    roots += ["docker-compose.yml", ".env.example"]
    offenders = []
    for root in roots:
        path = ROOT / root
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.suffix in (".so", ".pyc") or "__pycache__" in f.parts:
                continue
            if old in f.read_text(errors="replace"):
                offenders.append(str(f.relative_to(ROOT)))
    assert offenders == []


# ---------------------------------------------------------------------------- the data volume
def test_recording_gets_a_claim_per_pod_mounted_where_the_recorder_writes() -> None:
    from shijim.recorder.settings import chdb_dir

    spec = example_spec(recorder={"rawDir": "/var/lib/shijim/md/raw"})
    sts = builders.build_statefulset(OWNER, checked(spec))
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == recording.DEFAULT_STORAGE_SIZE
    assert "storageClassName" not in claim["spec"]  # the cluster's default class
    # PVCs carry the TradingShard's labels: `kubectl get pvc -l shijim.io/tradingshard=NAME`.
    assert claim["metadata"]["labels"]["shijim.io/tradingshard"] == "sim-demo"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    pod = sts["spec"]["template"]["spec"]
    assert "data" not in {v["name"] for v in pod["volumes"]}  # the claim, not an emptyDir
    mounts = {m["mountPath"]: m for m in container(sts)["volumeMounts"]}
    data = mounts[recording.DATA_DIR]
    assert data["name"] == "data" and not data.get("readOnly")
    # Everything the recorder writes is on that volume: the log, the spill, the embedded
    # ClickHouse (where the runtime itself puts it).
    cfg = runtime_config(spec).recorder
    assert str(chdb_dir(cfg.raw_dir)) == recording.chdb_dir(cfg.raw_dir)
    for path in (cfg.raw_dir, cfg.fallback_dir, recording.chdb_dir(cfg.raw_dir)):
        assert path.startswith(recording.DATA_DIR + "/"), path
        assert all(not m.startswith(recording.DATA_DIR + "/") for m in mounts)  # no shadowing
    # The pod's group owns what the kubelet mounts (fsGroup), so uid 10001 can write there.
    assert pod["securityContext"]["fsGroup"] == builders.RUNTIME_UID


def test_storage_size_and_class_come_from_the_spec() -> None:
    spec = example_spec(recorder={"storageSize": "200Gi", "storageClassName": "local-nvme"})
    (claim,) = builders.build_statefulset(OWNER, checked(spec))["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["spec"]["storageClassName"] == "local-nvme"
    # A size keeps the volume even with the recorder off (someone asked for it).
    spec = example_spec(recorder={"enabled": False, "storageSize": "5Gi"})
    assert builders.build_statefulset(OWNER, checked(spec))["spec"]["volumeClaimTemplates"]


def test_without_recording_the_data_dir_is_an_empty_dir() -> None:
    sts = builders.build_statefulset(OWNER, checked(example_spec(recorder={"enabled": False})))
    assert "volumeClaimTemplates" not in sts["spec"]
    assert "persistentVolumeClaimRetentionPolicy" not in sts["spec"]
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert vols["data"] == {"name": "data", "emptyDir": {}}


@pytest.mark.parametrize(
    "recorder",
    [
        {},
        {"enabled": False},
        {"enabled": False, "storageSize": "1Ti", "storageClassName": "fast"},
    ],
)
def test_recorder_children_validate_against_the_kubernetes_schemas(
    recorder: dict[str, Any],
) -> None:
    """Strict offline validation (unknown fields are errors), on the oldest Kubernetes the docs
    support for the retention policy's field and the latest."""
    import kubernetes_validate

    spec = example_spec(recorder=recorder, clickhouse={"dsnSecretRef": {"name": "ch"}})
    for child in builders.build_children(OWNER, checked(spec)):
        for version in ("1.28.0", kubernetes_validate.latest_version()):
            kubernetes_validate.validate(child.body, version, strict=True)


# ---------------------------------------------------------------------------- spec checks
@pytest.mark.parametrize(
    ("recorder", "expected"),
    [
        ({"rawDir": "/data/raw"}, "spec.recorder.rawDir: must be inside the pod's data volume"),
        ({"rawDir": "/var/lib/shijim"}, "spec.recorder.rawDir: must be inside"),
        ({"fallbackDir": "relative/dir"}, "spec.recorder.fallbackDir: expected a plain absolute"),
        ({"rawDir": "/var/lib/shijim/../../etc"}, "spec.recorder.rawDir: expected a plain"),
        ({"rawDir": "/var/lib/shijim/raw/"}, "spec.recorder.rawDir: expected a plain"),
        ({"rawDir": ""}, "spec.recorder.rawDir: expected a plain"),
        ({"fallbackDir": "/var/lib/shijim/raw"}, "spec.recorder.fallbackDir: must be apart"),
        ({"fallbackDir": "/var/lib/shijim/raw/spill"}, "spec.recorder.fallbackDir: must be apart"),
        ({"rawDir": "/var/lib/shijim/chdb"}, "spec.recorder.rawDir: '/var/lib/shijim/chdb' overl"),
        ({"fallbackDir": "/var/lib/shijim/chdb"}, "spec.recorder.fallbackDir: '/var/lib/shijim/c"),
        ({"fsync": "always"}, "spec.recorder.fsync: expected one of"),
        ({"fsyncIntervalMs": 0}, "spec.recorder.fsyncIntervalMs: must be in [1, 60000]"),
        ({"storageSize": "0"}, "spec.recorder.storageSize: expected a storage quantity > 0"),
        ({"storageSize": "20GB"}, "spec.recorder.storageSize: expected a storage quantity"),
        ({"enabled": "yes"}, "spec.recorder.enabled: expected true or false"),
    ],
)
def test_recorder_problems_name_the_field(recorder: dict[str, Any], expected: str) -> None:
    problems = problems_of(example_spec(recorder=recorder))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("clickhouse", "expected"),
    [
        ({"database": "md-2026"}, "spec.clickhouse.database: expected a ClickHouse identifier"),
        ({"database": "x" * 65}, "spec.clickhouse.database: expected a ClickHouse identifier"),
        ({"dsnSecretRef": {"key": "dsn"}}, "spec.clickhouse.dsnSecretRef.name: required"),
        ({"dsnSecretRef": {"name": "ch", "key": ""}}, "spec.clickhouse.dsnSecretRef.key: must"),
        ({"enabled": 1}, "spec.clickhouse.enabled: expected true or false"),
    ],
)
def test_clickhouse_problems_name_the_field(clickhouse: dict[str, Any], expected: str) -> None:
    problems = problems_of(example_spec(clickhouse=clickhouse))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_operator_refuses_what_the_runtime_refuses() -> None:
    """Dirs and database the runtime's own recorder rules refuse never reach a pod."""
    from shijim.app.config import parse_config
    from shijim.app.schema import ConfigError

    refused = [
        {"recorder": {"raw_dir": "/var/lib/shijim/raw", "fallback_dir": "/var/lib/shijim/raw"}},
        {"recorder": {"clickhouse": {"database": "md-2026"}}},
    ]
    for cfg in refused:
        with pytest.raises(ConfigError):
            parse_config(cfg)
    assert problems_of(example_spec(recorder={"fallbackDir": "/var/lib/shijim/raw"}))
    assert problems_of(example_spec(clickhouse={"database": "md-2026"}))


def test_crd_patterns_agree_with_the_operators_rules() -> None:
    import jsonschema

    rec = SPEC_SCHEMA["properties"]["recorder"]["properties"]
    assert rec["storageSize"]["pattern"] == recording.QUANTITY_PATTERN
    size = jsonschema.Draft4Validator(rec["storageSize"])
    for ok in ("20Gi", "1.5Ti", "500M", "100k", "1073741824"):
        assert size.is_valid(ok) and (recording.quantity_bytes(ok) or 0) > 0, ok
    for bad in ("20GB", "20K", "-1Gi", "Gi", "1e3"):  # K is not a Kubernetes suffix (k is)
        assert not size.is_valid(bad) and recording.quantity_bytes(bad) is None, bad
    assert recording.quantity_bytes("1.5Gi") == 1610612736
    assert recording.quantity_bytes("20Gi") == recording.quantity_bytes("20480Mi")
    raw = jsonschema.Draft4Validator(rec["rawDir"])
    for path in ("/var/lib/shijim/raw", "/var/lib/shijim/a/b"):
        assert raw.is_valid(path) and not recording.dir_problems(path, "/var/lib/shijim/f")
    for path in ("/data/raw", "/var/lib/shijim", "/var/lib/shijim/", "/var/lib/shijimx/raw"):
        assert not raw.is_valid(path) and recording.dir_problems(path, "/var/lib/shijim/f")
    db = SPEC_SCHEMA["properties"]["clickhouse"]["properties"]["database"]["pattern"]
    from shijim.recorder.settings import DATABASE_PATTERN

    assert db == f"^{DATABASE_PATTERN.pattern}$"


# ---------------------------------------------------------------------------- fixed claims
def sts_with(claim: recording.Claim | None) -> dict[str, Any]:
    spec = example_spec(recorder={"enabled": claim is not None})
    return builders.build_statefulset(OWNER, checked(spec), claim)


BIG = recording.Claim("50Gi", "fast")


@pytest.mark.parametrize(
    ("recorder", "existing", "render", "field"),
    [
        # Not created yet: the spec decides.
        ({"storageSize": "50Gi", "storageClassName": "fast"}, "none", BIG, None),
        # The same claim, even spelt differently: kept.
        ({"storageSize": "51200Mi", "storageClassName": "fast"}, BIG, BIG, None),
        # Size or class unset: whatever the pods have is fine.
        ({}, BIG, BIG, None),
        # Recorder off: the claim stays (no StatefulSet to recreate to stop recording).
        ({"enabled": False}, BIG, BIG, None),
        ({"enabled": False}, None, None, None),
        # What a StatefulSet cannot change: refused, naming the field.
        ({"storageSize": "100Gi"}, BIG, None, "recorder.storageSize"),
        ({"storageClassName": "slow"}, BIG, None, "recorder.storageClassName"),
        ({}, None, None, "recorder.enabled"),
        ({"enabled": False, "storageSize": "5Gi"}, None, None, "recorder.storageSize"),
    ],
)
def test_claims_a_statefulset_cannot_change_are_kept_or_refused(
    recorder: dict[str, Any],
    existing: recording.Claim | str | None,
    render: recording.Claim | None,
    field: str | None,
) -> None:
    shard = checked(example_spec(recorder=recorder))
    sts = None if existing == "none" else sts_with(existing)  # type: ignore[arg-type]
    desired = recording.desired_claim(
        shard.recorder_enabled, shard.storage_size, shard.storage_class
    )
    claim, problems = recording.claim_verdict(
        desired, shard.storage_size is not None, shard.storage_class is not None, sts
    )
    if field is None:
        assert problems == [] and claim == render
    else:
        assert [p[0] for p in problems] == [field]
        assert "docs/kubernetes.md#recorder-storage" in problems[0][1]
        assert "--cascade=orphan" in problems[0][1]


def test_an_existing_claim_is_read_through_server_defaults() -> None:
    """The API server adds volumeMode, status, apiVersion/kind to stored templates."""
    sts = sts_with(recording.Claim("20Gi"))
    tpl = sts["spec"]["volumeClaimTemplates"][0]
    tpl.update(apiVersion="v1", kind="PersistentVolumeClaim", status={"phase": "Pending"})
    tpl["spec"]["volumeMode"] = "Filesystem"
    assert recording.existing_claim(sts) == recording.Claim("20Gi", None)


# ---------------------------------------------------------------------------- real operator
def condition(k8s: EmulatorThread, name: str, ctype: str) -> dict | None:
    obj = k8s.get("tradingshards", name) or {}
    return next(
        (c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == ctype), None
    )


@pytest.mark.slow
def test_operator_renders_claims_and_secret_ref_and_never_applies_a_claim_change(
    k8s: EmulatorThread, operator: Any, tmp_path: pathlib.Path
) -> None:
    """The real Kopf operator: the StatefulSet gets the claim template and the DSN's Secret
    reference, the DSN's value appears nowhere; a storage change is refused (no write to the
    StatefulSet, which a real API server would reject) until the StatefulSet is recreated,
    which the operator then does by itself; the recorder off keeps the claim, rolls the pods."""
    name = "sim-demo"
    dsn = "http://recorder:pw-7f3kq9x@clickhouse.md.svc:8123/shijim"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "clickhouse-dsn", "namespace": "default"},
        "stringData": {"dsn": dsn},
    }
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"]["clickhouse"] = {"dsnSecretRef": {"name": "clickhouse-dsn"}}
    manifest = tmp_path / "shard.yaml"
    manifest.write_text(yaml.safe_dump_all([secret, doc]))
    k8s.kubectl("apply", "-f", str(manifest))

    sts = wait_for(lambda: k8s.get("statefulsets", name), 15)
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == recording.DEFAULT_STORAGE_SIZE
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    env = env_of(sts)
    assert env["CLICKHOUSE_DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": "clickhouse-dsn",
        "key": "dsn",
    }
    cm = wait_for(lambda: k8s.get("configmaps", f"{name}-config"))
    from shijim.app.config import parse_config

    rec = parse_config(yaml.safe_load(cm["data"]["config.yaml"])).recorder
    assert rec.enabled and rec.raw_dir == "/var/lib/shijim/raw"
    wait_for(lambda: (c := condition(k8s, name, "InvalidSpec")) and c["status"] == "False")

    # A new size: refused on its field, and nothing written to the StatefulSet or the config.
    writes_before = len(k8s.writes)
    k8s.merge_patch(name, {"spec": {"recorder": {"storageSize": "50Gi"}}})
    invalid = wait_for(
        lambda: (c := condition(k8s, name, "InvalidSpec")) and c["status"] == "True" and c, 15
    )
    assert invalid["message"].startswith("spec.recorder.storageSize: the pods' claims are 20Gi")
    event = wait_for(
        lambda: next((e for e in k8s.list("events") if "storageSize" in e.get("message", "")), 0)
    )
    assert event["type"] == "Warning"
    children = {"statefulsets", "configmaps", "services", "poddisruptionbudgets"}
    assert not [w for w in k8s.writes[writes_before:] if w[1] in children]
    assert k8s.get("statefulsets", name) == sts

    # The documented way out: delete the StatefulSet leaving the pods (the emulator has none),
    # and the operator's timer recreates it with the new claims, without a spec change.
    k8s.kubectl("delete", "statefulset", name, "--cascade=orphan")
    new = wait_for(lambda: k8s.get("statefulsets", name), 20)
    (claim,) = new["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    wait_for(lambda: (c := condition(k8s, name, "InvalidSpec")) and c["status"] == "False", 10)

    # Recorder off: the claim stays, the config says so, the pods roll, the DSN env goes.
    k8s.merge_patch(name, {"spec": {"recorder": {"enabled": False, "storageSize": None}}})
    off = wait_for(
        lambda: (s := k8s.get("statefulsets", name)) and "CLICKHOUSE_DSN" not in env_of(s) and s
    )
    assert off["spec"]["volumeClaimTemplates"] == new["spec"]["volumeClaimTemplates"]
    key = builders.CONFIG_HASH_ANNOTATION
    assert (
        off["spec"]["template"]["metadata"]["annotations"][key]
        != new["spec"]["template"]["metadata"]["annotations"][key]
    )
    cm = k8s.get("configmaps", f"{name}-config")
    assert yaml.safe_load(cm["data"]["config.yaml"])["recorder"]["enabled"] is False  # type: ignore[index]

    # The DSN's value (and its password) is in no child, status, event or log line.
    seen = json.dumps(
        [k8s.list(p) for p in ("configmaps", "statefulsets", "events", "tradingshards")]
    )
    seen += operator.log()
    for fragment in (dsn, "pw-7f3kq9x", "recorder:pw"):
        assert fragment not in seen
