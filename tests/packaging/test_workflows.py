"""What the workflows promise about packaging and delivery (docs/packaging.md). They cannot run
here (no GitHub runner, no Docker engine, no kind), so the test reads them: the test matrix is the
supported Pythons from requires-python to the newest, the wheel is built once for the stable ABI
whose floor is requires-python's, every interpreter of the matrix installs that wheel, the release
publishes what e2e tested, and e2e runs every phase of .github/scripts/kind_e2e.py. The script's
reading of the runtime's /metrics is checked against the real exposition of shijim.metrics.
(tests/k8s/test_lint.py runs actionlint, the workflow schema and yamllint on the same files.)"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import prometheus_client
import yaml
from shijim.metrics import ShardMetrics

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SUPPORTED = ["3.11", "3.12", "3.13"]


def workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def kind_e2e() -> ModuleType:
    path = ROOT / ".github" / "scripts" / "kind_e2e.py"
    spec = importlib.util.spec_from_file_location("kind_e2e", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_supported_pythons_agree() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    floor = pyproject["project"]["requires-python"]
    assert floor == f">={SUPPORTED[0]}"
    # The stable-ABI floor of the extension is requires-python's (abi3-py311 <-> >=3.11).
    crate = tomllib.loads((ROOT / "shijim_core" / "Cargo.toml").read_text())
    assert "abi3" in pyproject["tool"]["maturin"]["features"]
    assert crate["features"]["abi3"] == ["python", f"pyo3/abi3-py{SUPPORTED[0].replace('.', '')}"]
    test = workflow("ci.yml")["jobs"]["test"]
    assert test["strategy"]["matrix"]["python-version"] == SUPPORTED
    assert test["strategy"]["fail-fast"] is False
    setup = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert "make test" in runs(test)


def test_the_wheel_is_built_once_and_installed_on_every_python() -> None:
    package = workflow("ci.yml")["jobs"]["package"]
    builds = [s for s in package["steps"] if s.get("uses", "").startswith("PyO3/maturin-action@")]
    assert len(builds) == 1
    build = builds[0]["with"]
    assert build["command"] == "build" and build["manylinux"] == "2014"
    assert set(build["args"].split()) >= {"--release", "--locked"}
    assert "--find-interpreter" not in build["args"]  # one abi3 wheel, not one per interpreter
    script = runs(package)
    assert '"dist/shijim-${VERSION}-cp311-abi3-manylinux_2_17_x86_64"*.whl)' in script
    assert f"for v in {' '.join(SUPPORTED)}; do" in script
    assert "-m shijim --version" in script
    assert "maturin sdist" in script and "pip wheel --no-deps --wheel-dir /tmp/from-sdist" in script
    (setup,) = [s for s in package["steps"] if "actions/setup-python" in s.get("uses", "")]
    installed = setup["with"]["python-version"].splitlines()
    env = workflow("ci.yml")["env"]
    assert sorted(
        v.replace("${{ env.PYTHON_VERSION }}", env["PYTHON_VERSION"]) for v in installed
    ) == (SUPPORTED)


def test_release_publishes_what_e2e_tested() -> None:
    ci = workflow("ci.yml")
    release = workflow("release.yml")
    call = ci["jobs"]["release"]
    assert call["uses"] == "./.github/workflows/release.yml" and call["needs"] == "e2e"
    assert "workflow_call" in release[True]  # YAML 1.1 reads the key `on` as True
    # A called workflow does not see its caller's env: the image names are repeated, equal.
    assert {k: ci["env"][k] for k in ("RUNTIME_IMAGE", "OPERATOR_IMAGE")} == release["env"]
    github = release["jobs"]["github"]
    script = runs(github)
    downloads = [
        s["with"]["name"] for s in github["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert downloads == ["dist", "images"]  # this run's artifacts, no rebuild
    assert "docker build" not in script and "maturin" not in script
    assert 'test "v${version}" = "$TAG"' in script
    assert "helm package charts/shijim --destination dist" in script
    assert 'gh release create "$TAG" dist/*' in script
    for image in ("RUNTIME_IMAGE", "OPERATOR_IMAGE"):
        assert f'docker push "${{{image}}}:${{VERSION}}"' in script
    pypi = release["jobs"]["pypi"]
    assert pypi["if"] == "vars.PYPI_PUBLISH == 'true'" and pypi["needs"] == "github"
    assert pypi["permissions"] == {"id-token": "write"}  # trusted publishing, no token
    assert call["permissions"]["id-token"] == "write"  # the caller grants what pypi needs
    # The images e2e ran are tagged with the chart's appVersion, which is the version.
    docker = runs(ci["jobs"]["docker"])
    assert "appVersion" in docker


def test_e2e_runs_every_phase_of_the_kind_script_in_order() -> None:
    script = kind_e2e()
    e2e = runs(workflow("ci.yml")["jobs"]["e2e"])
    ran = re.findall(r"python3 \.github/scripts/kind_e2e\.py ([\w-]+)", e2e)
    assert ran == list(script.PHASES)
    # The phases start where the existing steps leave the cluster: the kill switch engaged.
    assert e2e.index("--for=condition=KillSwitchEngaged") < e2e.index("kind_e2e.py")
    assert script.main([]) == 2 and script.main(["no-such-phase"]) == 2


def test_kind_script_reads_the_runtimes_real_metrics() -> None:
    script = kind_e2e()
    metrics = ShardMetrics(shard=1)
    metrics.code_owned("TXFL6", True)
    metrics.code_owned("2330", True)
    metrics.code_owned("MXFL6", True)
    metrics.code_owned("MXFL6", False)  # released: not owned any more
    text = prometheus_client.generate_latest(metrics.registry).decode()
    assert script.owned_codes(text) == {"TXFL6", "2330"}
    samples = [{"a-0": {"TXFL6"}, "a-1": {"2330"}}, {"a-0": {"TXFL6"}, "a-1": {"TXFL6", "2330"}}]
    assert script.double_owned(samples) == [(1, "TXFL6", ["a-0", "a-1"])]
    assert script.double_owned(samples[:1]) == []


def test_kind_script_runs_the_documented_kill_switch_check() -> None:
    block = kind_e2e().documented_check()
    assert "killSwitchAcknowledged" in block and "kubectl wait" in block
