"""One version everywhere (docs/packaging.md#version). The source is pyproject.toml's
[project].version, the version pip, PyPI and the release tag (v<version>) see. Every other copy
must equal it: the Rust crate and Cargo.lock (the compiled core's `__version__`; `--locked`
builds fail on a stale lock), `shijim.__version__`, the operator package, the chart's `version`
and `appVersion` (the default tag of the operator image), and every `ghcr.io/shijim/...:<tag>`
written in the examples, the chart, the Dockerfiles and the docs (examples/shard.yaml's runtime
image must be the one the release pushes, or the e2e pods cannot pull it)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# `ghcr.io/shijim/<image>:<tag>` with a release-like tag (placeholders such as :TAG are not
# versions). Tests are not scanned: they pin other tags on purpose (chart overrides).
IMAGE_TAG = re.compile(r"ghcr\.io/shijim/(shijim(?:-operator)?):(\d+\.\d+\.\d+[\w.+-]*)")
SCANNED = ("README.md", "docs", "docker", "examples", "charts", "operator/shijim_operator")
SCANNED_SUFFIXES = {".md", ".yaml", ".yml", ".tpl", ".txt", ".json", ".py", ".Dockerfile"}


@dataclass(frozen=True)
class Field:
    """One place that carries the version: where (file and what) and the value found there."""

    place: str
    value: str


def source_version(root: Path) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def version_fields(root: Path) -> list[Field]:
    """Every copy of the version in the repository at `root` (the source excluded)."""
    fields: list[Field] = []
    crate = tomllib.loads((root / "shijim_core" / "Cargo.toml").read_text())["package"]
    fields.append(Field("shijim_core/Cargo.toml [package].version", crate["version"]))
    lock = tomllib.loads((root / "Cargo.lock").read_text())
    for package in lock["package"]:
        if package["name"] == crate["name"]:
            fields.append(Field(f"Cargo.lock [[package]] {crate['name']}", package["version"]))
    init = ast.parse((root / "runtime" / "shijim" / "__init__.py").read_text())
    for node in init.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            fields.append(
                Field("runtime/shijim/__init__.py __version__", ast.literal_eval(node.value))
            )
    operator = tomllib.loads((root / "operator" / "pyproject.toml").read_text())["project"]
    fields.append(Field("operator/pyproject.toml [project].version", operator["version"]))
    chart = yaml.safe_load((root / "charts" / "shijim" / "Chart.yaml").read_text())
    fields.append(Field("charts/shijim/Chart.yaml version", str(chart["version"])))
    fields.append(Field("charts/shijim/Chart.yaml appVersion", str(chart["appVersion"])))
    values = yaml.safe_load((root / "charts" / "shijim" / "values.yaml").read_text())
    for path, tag in image_tags(values):
        # Empty means the chart's appVersion (checked above); anything else must be the version.
        if tag:
            fields.append(Field(f"charts/shijim/values.yaml {path}", tag))
    for top in SCANNED:
        base = root / top
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in files:
            if not path.is_file() or not (
                path.suffix in SCANNED_SUFFIXES or path.name.endswith(".Dockerfile")
            ):
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                for image, tag in IMAGE_TAG.findall(line):
                    place = f"{path.relative_to(root)}:{n} ghcr.io/shijim/{image}"
                    fields.append(Field(place, tag))
    return fields


def image_tags(node: object, path: str = "") -> list[tuple[str, str]]:
    """(dotted path, tag) of every `image: {tag: ...}` in a values tree."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(value, dict) and "tag" in value:
                found.append((f"{here}.tag", str(value["tag"] or "")))
            found += image_tags(value, here)
    return found


def disagreements(root: Path) -> list[str]:
    version = source_version(root)
    return [f"{f.place}: {f.value!r}" for f in version_fields(root) if f.value != version]


def test_every_copy_of_the_version_matches_pyproject() -> None:
    version = source_version(ROOT)
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?(a|b|rc|dev|post)\d+)?", version), version
    fields = version_fields(ROOT)
    places = {f.place.split(":")[0].split(" ")[0] for f in fields}
    # The scan found what it is for (a refactor of the scan cannot silently check nothing).
    assert {
        "shijim_core/Cargo.toml",
        "Cargo.lock",
        "runtime/shijim/__init__.py",
        "operator/pyproject.toml",
        "charts/shijim/Chart.yaml",
        "examples/shard.yaml",
    } <= places, places
    wrong = disagreements(ROOT)
    assert not wrong, f"pyproject.toml says {version}; these differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("file", "old", "new", "place"),
    [
        ("examples/shard.yaml", "ghcr.io/shijim/shijim:{v}", "ghcr.io/shijim/shijim:9.9.9",
         "examples/shard.yaml:"),
        ("charts/shijim/Chart.yaml", 'appVersion: "{v}"', 'appVersion: "9.9.9"',
         "charts/shijim/Chart.yaml appVersion"),
        ("shijim_core/Cargo.toml", 'version = "{v}"', 'version = "9.9.9"',
         "shijim_core/Cargo.toml"),
        ("runtime/shijim/__init__.py", '__version__ = "{v}"', '__version__ = "9.9.9"',
         "runtime/shijim/__init__.py"),
        ("docs/deployment.md", "shijim-operator:{v}", "shijim-operator:9.9.9",
         "docs/deployment.md:"),
        ("charts/shijim/values.yaml", 'tag: ""', 'tag: "9.9.9"',
         "charts/shijim/values.yaml operator.image.tag"),
    ],
)  # fmt: skip
def test_a_copy_that_drifts_is_named(
    tmp_path: Path, file: str, old: str, new: str, place: str
) -> None:
    version = source_version(ROOT)
    copy = tmp_path / "repo"
    for top in (*SCANNED, "pyproject.toml", "Cargo.lock", "shijim_core/Cargo.toml",
                "runtime/shijim/__init__.py", "operator/pyproject.toml"):  # fmt: skip
        src, dst = ROOT / top, copy / top
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(
                src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.egg-info")
            )
        else:
            shutil.copy2(src, dst)
    assert disagreements(copy) == []
    target = copy / file
    text = target.read_text()
    assert old.format(v=version) in text, (file, old)
    target.write_text(text.replace(old.format(v=version), new, 1))
    wrong = disagreements(copy)
    assert len(wrong) == 1 and wrong[0].startswith(place) and "9.9.9" in wrong[0], wrong


def test_rendered_chart_pulls_the_operator_image_of_this_version() -> None:
    version = source_version(ROOT)
    rendered = helm_python.Chart.load(ROOT / "charts" / "shijim").render(
        {}, name="shijim", namespace="shijim-system"
    )
    images = [
        container["image"]
        for file, text in rendered.items()
        if file.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict) and doc.get("kind") == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert images == [f"ghcr.io/shijim/shijim-operator:{version}"]


def test_built_core_and_cli_report_the_version() -> None:
    import shijim

    import shijim_core

    version = source_version(ROOT)
    # A stale build of the core (an old extension left in runtime/shijim_core) shows here.
    assert shijim_core.__version__ == version
    assert shijim.__version__ == version
    out = subprocess.run(
        [sys.executable, "-m", "shijim", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"shijim {version} (shijim_core {version})"
