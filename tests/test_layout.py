"""Repository-level contracts: layout, packaging, and the stdlib `operator` module."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout_as_designed() -> None:
    for path in (
        "Cargo.toml",
        "pyproject.toml",
        "shijim_core/Cargo.toml",
        "shijim_core/schema/shijim.xml",
        "runtime/shijim/__init__.py",
        "operator/shijim_operator/__init__.py",
        "crds",
        "charts/shijim",
        "tests",
        "docs",
        ".github/workflows",
        ".ci/run",
    ):
        assert (ROOT / path).exists(), f"missing {path}"


def test_pyproject_declares_distribution_and_extras() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["build-system"]["build-backend"] == "maturin"
    project = meta["project"]
    assert project["name"] == "shijim"
    assert project["requires-python"] == ">=3.11"
    extras = set(project["optional-dependencies"])
    assert {"clickhouse", "dashboard", "backtest", "operator", "dev"} <= extras


def test_operator_folder_never_shadows_stdlib_operator() -> None:
    # From the repository root (where `operator/` sits on sys.path[0]) and from anywhere else,
    # `import operator` must give the standard library module.
    assert not (ROOT / "operator" / "__init__.py").exists()
    for cwd in (ROOT, ROOT / "runtime", ROOT / "operator"):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import operator, sys; print(operator.__file__); "
                "print(operator.itemgetter.__module__)",
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert "/lib/python3" in out[0] and "site-packages" not in out[0], out
        assert out[1] == "operator"
    import shijim_operator

    assert Path(shijim_operator.__file__).parent.name == "shijim_operator"


def test_core_extension_imports_with_version() -> None:
    import shijim_core

    assert shijim_core.__version__ == "0.1.0"
