"""The operator command exactly as the chart renders it (command, args, literal env) runs: the real
`kopf` starts against the Kubernetes API emulator, answers the liveness probe the Deployment
declares, and reconciles examples/shard.yaml into its StatefulSet. Multi-process (kopf as a
subprocess), a few seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from emulator import ROOT, EmulatorThread, wait_for
from processes import free_port, stop_process

pytestmark = pytest.mark.slow


def rendered_operator_container(values: dict[str, Any]) -> dict[str, Any]:
    rendered = helm_python.Chart.load(ROOT / "charts" / "shijim").render(
        values, name="shijim", namespace="default"
    )
    (deployment,) = [
        doc
        for doc in yaml.safe_load_all(rendered["shijim/templates/operator-deployment.yaml"])
        if doc
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def healthz(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_rendered_operator_command_runs_and_reconciles(k8s: EmulatorThread, tmp_path: Path) -> None:
    port = free_port()
    container = rendered_operator_container({"operator": {"healthPort": port}})
    command = [*container["command"], *container["args"]]
    assert command[0] == "kopf"
    command[0] = str(Path(sys.executable).parent / "kopf")
    # The liveness endpoint binds 0.0.0.0 in the pod; here it must stay on the loopback.
    command = [
        arg.replace("0.0.0.0", "127.0.0.1") if arg.startswith("--liveness=") else arg
        for arg in command
    ]
    env = k8s.env()
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = "default"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "operator"), str(ROOT / "runtime")])
    probe = container["livenessProbe"]["httpGet"]
    assert probe["port"] == "health"
    # Readiness too: the Deployment is Ready only once kopf serves its health endpoint.
    assert container["readinessProbe"]["httpGet"] == probe
    (health_port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "health"]
    assert health_port == port
    url = f"http://127.0.0.1:{port}{probe['path']}"

    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        try:
            assert wait_for(lambda: healthz(url) or proc.poll() is not None, timeout=30)
            assert proc.poll() is None, log_path.read_text(errors="replace")
            assert healthz(url)
            k8s.kubectl("apply", "-f", str(ROOT / "examples" / "shard.yaml"))
            name = yaml.safe_load((ROOT / "examples" / "shard.yaml").read_text())["metadata"][
                "name"
            ]
            sts = wait_for(lambda: k8s.get("statefulsets", name), timeout=30)
            assert sts, log_path.read_text(errors="replace")
            pod = sts["spec"]["template"]["spec"]
            # The pods' own account, created by the operator next to them.
            assert pod["serviceAccountName"] == f"{name}-runtime"
            assert k8s.get("serviceaccounts", f"{name}-runtime")
        finally:
            stop_process(proc)
    # --log-format=json: every operator log line is a JSON object.
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    assert lines and all(line.lstrip().startswith("{") for line in lines), lines[:5]
