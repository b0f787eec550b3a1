"""Offline linting of what can't run here (no Docker engine, no GitHub runner): the Dockerfiles with
hadolint, the GitHub workflows with actionlint plus check-jsonschema's bundled workflow schema, and
the YAML files with yamllint. The linters are real binaries from the dev extra; a missing one fails
the test instead of skipping it."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Long lines are allowed up to 170: alert annotations are single strings that the promtool unit
# tests compare verbatim, and folding them would only hide that.
YAMLLINT_CONFIG = (
    "{extends: default, rules: {line-length: {max: 170}, document-start: disable,"
    " truthy: {check-keys: false}}}"
)
COMPILERS = ("gcc", "g++", "clang", "build-essential", "rustc", "cargo", "rustup", "maturin")


def tool(name: str) -> str:
    """A linter installed with the dev extra, next to the interpreter running the tests."""
    candidate = Path(sys.executable).parent / name
    path = str(candidate) if candidate.exists() else shutil.which(name)
    assert path, f"{name} not found: install the dev extra (scripts/setup.sh)"
    return path


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def stages(dockerfile: Path) -> list[list[str]]:
    """Instructions per build stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


# -- Dockerfiles ---
def test_dockerfiles_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["operator.Dockerfile", "runtime.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    # Every rule at every level (style and up) fails the test; ignores are inline and explained.
    result = run(tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text(
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y gcc\nUSER root\n"
    )
    result = run(tool("hadolint"), "--no-color", "--failure-threshold", "style", str(bad))
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # last USER root


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_ignores_are_explained(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], (
                f"{dockerfile.name}:{i + 1}: explain the ignore in the comment line above it"
            )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_is_slim_non_root_and_compiler_free(dockerfile: Path) -> None:
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "multi-stage: a builder and a final stage"
    final = all_stages[-1]
    base = final[0].split()[1]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile.read_text(), flags=re.MULTILINE))
    base = args.get(base.strip("${}"), base)
    assert base.startswith("python:3.11-slim"), base
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"USER {users[-1]}: numeric and non-root"
    runs = " ".join(line for line in final if line.upper().startswith("RUN "))
    for compiler in COMPILERS:
        assert not re.search(rf"\b{re.escape(compiler)}\b", runs), f"{compiler} in the final stage"
    copies = [line for line in final if line.upper().startswith("COPY ")]
    assert copies and all("--from=builder" in line for line in copies), (
        "the final stage copies only the built wheel from the builder"
    )
    assert re.search(r"pip install --no-cache-dir /tmp/wheels/\S+\.whl", runs)


def test_runtime_builder_uses_maturin_with_the_lockfile() -> None:
    builder = " ".join(stages(ROOT / "docker" / "runtime.Dockerfile")[1])
    assert "maturin build --release --locked" in builder
    assert "COPY --from=rust /usr/local/cargo" in builder


def test_dockerignore_keeps_local_state_out() -> None:
    entries = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "target", "**/*.so", "**/__pycache__"} <= entries


# -- GitHub workflows ---
def test_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "release.yml"]


def test_actionlint_clean() -> None:
    # shellcheck/pyflakes integrations off: they are not installed on every machine, and the
    # result must not depend on what happens to be on PATH.
    result = run(
        tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, WORKFLOWS)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_bad_workflow(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-24.04\n"
        '    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = run(
        tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes=", str(workflows / "bad.yml")
    )
    assert result.returncode == 1
    assert "job-needs" in result.stdout and "untrusted" in result.stdout


def test_workflows_match_the_github_schema() -> None:
    result = run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, WORKFLOWS),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_pipeline_shape() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = ci["jobs"]
    assert list(jobs) == ["lint", "test", "package", "docker", "e2e", "release"]
    order = list(jobs)
    for previous, job in itertools.pairwise(order):
        assert jobs[job]["needs"] == previous, f"{job} must run after {previous}"
    assert "startsWith(github.ref, 'refs/tags/v')" in jobs["release"]["if"]
    assert ci["permissions"] == {"contents": "read"}
    # The release job calls release.yml (tests/packaging/test_workflows.py); its jobs are
    # checked here like ci.yml's own.
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert jobs["release"]["uses"] == "./.github/workflows/release.yml"
    assert release["permissions"] == {"contents": "read"}
    for name, job in [*jobs.items(), *release["jobs"].items()]:
        if "uses" in job:
            continue
        assert job.get("timeout-minutes"), f"{name}: no timeout"
        for step in job["steps"]:
            uses = step.get("uses")
            if uses:
                # Pinned: an exact release (vX.Y.Z) or a commit, never a moving major tag.
                assert re.search(r"@(v\d+\.\d+\.\d+|[0-9a-f]{40})$", uses), f"{name}: {uses}"
    test_steps = " ".join(step.get("run", "") for step in jobs["test"]["steps"])
    assert "make test" in test_steps
    uses_by_job = {n: [s.get("uses", "") for s in j.get("steps", [])] for n, j in jobs.items()}
    assert any(u.startswith("Swatinem/rust-cache@") for u in uses_by_job["test"])
    assert any(
        s.get("with", {}).get("cache") == "pip"
        for s in jobs["test"]["steps"]
        if s.get("uses", "").startswith("actions/setup-python@")
    )
    assert any(u.startswith("helm/kind-action@") for u in uses_by_job["e2e"])
    e2e = " ".join(step.get("run", "") for step in jobs["e2e"]["steps"])
    for command in (
        "kind load image-archive",
        "helm install shijim charts/shijim",
        "kubectl apply -f examples/shard.yaml",
        "kubectl rollout status",
        """--type merge -p '{"spec":{"killSwitch":true}}'""",
        "kubectl wait --for=condition=KillSwitchEngaged",
    ):
        assert command in e2e, command
    dump = [s for s in jobs["e2e"]["steps"] if s.get("if") == "failure()"]
    assert dump and "kubectl logs" in dump[0]["run"]


# -- YAML ---
def test_yamllint_clean() -> None:
    files = [
        *WORKFLOWS,
        ROOT / "charts" / "shijim" / "Chart.yaml",
        ROOT / "charts" / "shijim" / "values.yaml",
        *sorted((ROOT / "charts" / "shijim" / "files").glob("*.yaml")),
        *sorted((ROOT / "tests" / "k8s" / "promtool").glob("*.yaml")),
    ]
    result = run(tool("yamllint"), "-s", "-f", "parsable", "-d", YAMLLINT_CONFIG, *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
